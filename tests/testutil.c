/* testutil.c - see testutil.h */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

void tu_record(void *ud, const apic_event *ev) {
  tu_log *log = ud;
  if (log->n == log->cap) {
    log->cap = log->cap ? log->cap * 2 : 256;
    log->ev = realloc(log->ev, log->cap * sizeof *log->ev);
    ck_assert_ptr_nonnull(log->ev);
  }
  log->ev[log->n] = *ev;
  log->ev[log->n].text = NULL;  /* only valid during the hook call */
  log->n++;
}

void tu_log_free(tu_log *log) {
  free(log->ev);
  memset(log, 0, sizeof *log);
}

static int match(const apic_event *e, uint32_t kind, uint32_t cpu, int vector) {
  return e->kind == kind && (cpu == APIC_NONE || e->cpu == cpu) &&
         (vector < 0 || e->vector == (uint8_t)vector);
}

size_t tu_count(const tu_log *log, uint32_t kind, uint32_t cpu, int vector) {
  size_t n = 0;
  for (size_t i = 0; i < log->n; i++) n += (size_t)match(&log->ev[i], kind, cpu, vector);
  return n;
}

const apic_event *tu_find(const tu_log *log, uint32_t kind, uint32_t cpu, int vector,
                          size_t from) {
  for (size_t i = from; i < log->n; i++)
    if (match(&log->ev[i], kind, cpu, vector)) return &log->ev[i];
  return NULL;
}

apic_config tu_config(uint32_t ncpus, apic_bus_kind bus, apic_model model) {
  apic_config cfg;
  apic_config_default(&cfg, ncpus);
  cfg.bus = bus;
  cfg.model = model;
  if (model == APIC_MODEL_P6) cfg.x2apic = 0;
  return cfg;
}

apic_sim *tu_sim(const apic_config *cfg, tu_log *log) {
  apic_sim *s = NULL;
  char why[256];
  int rc = apic_sim_create(&s, cfg, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "apic_sim_create: %s (%s)", apic_err_name(rc), why);
  if (log) apic_sim_set_hook(s, tu_record, log);
  return s;
}

uint32_t tu_rd(apic_sim *s, uint32_t cpu, uint32_t off) {
  uint32_t v = 0;
  int rc = apic_lapic_read(s, cpu, off, &v);
  ck_assert_msg(rc == APIC_OK, "read 0x%x: %s", off, apic_sim_errmsg(s));
  return v;
}

void tu_wr(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t val) {
  int rc = apic_lapic_write(s, cpu, off, val);
  ck_assert_msg(rc == APIC_OK, "write 0x%x: %s", off, apic_sim_errmsg(s));
}

void tu_enable_all(apic_sim *s) {
  for (uint32_t i = 0; i < apic_sim_ncpus(s); i++) {
    apic_lapic_state st;
    apic_lapic_state_get(s, i, &st);
    if (st.x2apic)
      ck_assert_int_eq(apic_lapic_wrmsr(s, i, APIC_MSR_X2APIC(APIC_REG_SVR),
                                        APIC_SVR_ENABLE | 0xFF), APIC_OK);
    else
      tu_wr(s, i, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  }
}

int tu_vec(const uint32_t r[8], uint8_t v) { return (r[v >> 5] >> (v & 31)) & 1; }

int tu_prog_idle(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

int tu_handler_count(apic_cpu *c, void *arg) {
  int *counts = arg;
  APIC_BEGIN(c);
  counts[apic_cpu_index(c) * 256 + apic_cpu_vector(c)]++;
  APIC_EOI(c);
  APIC_END(c);
}

int tu_run(Suite *s) {
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_ENV);  /* CK_VERBOSITY=verbose lists every test */
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
