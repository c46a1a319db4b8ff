/*
 * test_api.c - the public API never crashes on bad input (lib/api.c,
 * lib/sim.c apic_sim_create, lib/error.c): every misuse returns its APIC_E_*
 * code with a message that names the culprit, changes nothing and fires no
 * event; names exist for every error code and event kind; 200000 random
 * register accesses do not crash or hang; an allocator that fails at any
 * point makes apic_sim_create fail cleanly (no leak under ASan).
 *
 * Conventions checked (apicsim.h header comment, docs/STYLE "Errors"):
 * "Calls return 0 (APIC_OK) or a negative APIC_E_* code; a failed call
 * changes nothing, and apic_sim_errmsg() says what was wrong."
 */
#define _POSIX_C_SOURCE 200809L  /* mkstemp, unlink */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "apicsim/programs.h"
#include "apicsim/stats.h"
#include "apicsim/trace.h"

/* ---- helpers ---- */

/* A why buffer exactly why_size bytes long, so ASan sees any overrun. */
static void expect_create_fails(const apic_config *cfg, int want, const char *label) {
  char *why = malloc(128);
  ck_assert_ptr_nonnull(why);
  memset(why, 'X', 128);
  apic_sim *s = (apic_sim *)why;  /* any non-NULL value: must become NULL */
  int rc = apic_sim_create(&s, cfg, why, 128);
  ck_assert_msg(rc == want, "%s: got %s, want %s", label, apic_err_name(rc), apic_err_name(want));
  ck_assert_msg(s == NULL, "%s: *out not NULL", label);
  ck_assert_msg(memchr(why, 0, 128) != NULL, "%s: why not terminated", label);
  ck_assert_msg(why[0] != 0 && why[0] != 'X', "%s: empty why", label);
  /* no why buffer at all, and a one-byte one */
  s = (apic_sim *)why;
  ck_assert_int_eq(apic_sim_create(&s, cfg, NULL, 0), want);
  ck_assert_ptr_null(s);
  char *one = malloc(1);
  ck_assert_ptr_nonnull(one);
  one[0] = 'X';
  ck_assert_int_eq(apic_sim_create(&s, cfg, one, 1), want);
  ck_assert_int_eq(one[0], 0);
  free(one);
  free(why);
}

static void expect_create_ok(const apic_config *cfg, const char *label) {
  char why[128] = "";
  apic_sim *s = NULL;
  int rc = apic_sim_create(&s, cfg, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "%s: %s (%s)", label, apic_err_name(rc), why);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(apic_sim_ncpus(s), cfg->ncpus);
  apic_sim_destroy(s);
}

static apic_config xcfg(uint32_t n) { return tu_config(n, APIC_BUS_XAPIC, APIC_MODEL_XAPIC); }

/* ---- apic_sim_create ---- */

/* apicsim.h apic_sim_create: NULL out or cfg is APIC_E_ARG. */
START_TEST(create_null_arguments) {
  apic_config cfg = xcfg(2);
  char why[64] = "";
  ck_assert_int_eq(apic_sim_create(NULL, &cfg, why, sizeof why), APIC_E_ARG);
  ck_assert_str_ne(why, "");
  why[0] = 0;
  apic_sim *s = (apic_sim *)why;
  ck_assert_int_eq(apic_sim_create(&s, NULL, why, sizeof why), APIC_E_ARG);
  ck_assert_ptr_null(s);
  ck_assert_str_ne(why, "");
  ck_assert_int_eq(apic_sim_create(NULL, NULL, NULL, 0), APIC_E_ARG);
  apic_sim_destroy(NULL);  /* no-op */
  ck_assert_str_ne(apic_sim_errmsg(NULL), "");
}
END_TEST

/* zlib-style version check (STYLE.md): a caller built against another header
   or config layout gets APIC_E_VERSION, not memory corruption. */
START_TEST(create_version_mismatch) {
  apic_config cfg = xcfg(2);
  cfg.api_version = APICSIM_VERSION_NUM + 1;
  expect_create_fails(&cfg, APIC_E_VERSION, "api_version + 1");
  cfg = xcfg(2);
  cfg.api_version = 0;
  expect_create_fails(&cfg, APIC_E_VERSION, "api_version 0");
  cfg = xcfg(2);
  cfg.struct_size = (uint32_t)sizeof cfg - 8;
  expect_create_fails(&cfg, APIC_E_VERSION, "struct_size - 8");
  cfg = xcfg(2);
  cfg.struct_size = 0;
  expect_create_fails(&cfg, APIC_E_VERSION, "struct_size 0");
}
END_TEST

/* apicsim.h apic_config.ncpus: 1..65536 (x2APIC), 15 (P6, SDM 10.4.6: 4-bit
   IDs, 0xF broadcast), 255 (xAPIC: 8-bit IDs, 0xFF broadcast). */
START_TEST(create_core_counts) {
  apic_config cfg = xcfg(0);
  expect_create_fails(&cfg, APIC_E_CONFIG, "0 cores");
  cfg = xcfg(256);
  cfg.x2apic = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "256 cores xAPIC");
  cfg = xcfg(255);
  cfg.x2apic = 0;
  expect_create_ok(&cfg, "255 cores xAPIC");
  cfg = tu_config(16, APIC_BUS_P6, APIC_MODEL_P6);
  expect_create_fails(&cfg, APIC_E_CONFIG, "16 cores P6");
  cfg = tu_config(16, APIC_BUS_XAPIC, APIC_MODEL_P6);
  expect_create_fails(&cfg, APIC_E_CONFIG, "16 cores P6 model, xapic bus");
  cfg = tu_config(15, APIC_BUS_P6, APIC_MODEL_P6);
  expect_create_ok(&cfg, "15 cores P6");
  cfg = xcfg(70000);
  expect_create_fails(&cfg, APIC_E_CONFIG, "70000 cores");
  cfg = xcfg(APIC_MAX_CPUS + 1);
  expect_create_fails(&cfg, APIC_E_CONFIG, "APIC_MAX_CPUS + 1");
  cfg = xcfg(UINT32_MAX);
  expect_create_fails(&cfg, APIC_E_CONFIG, "UINT32_MAX cores");
  /* explicit APIC IDs above the mode's limit */
  static const uint32_t ids_xapic[2] = {0, 0xFF};
  cfg = xcfg(2);
  cfg.apic_ids = ids_xapic;
  expect_create_fails(&cfg, APIC_E_CONFIG, "xAPIC ID 0xFF");
  static const uint32_t ids_p6[2] = {0, 0xF};
  cfg = tu_config(2, APIC_BUS_P6, APIC_MODEL_P6);
  cfg.apic_ids = ids_p6;
  expect_create_fails(&cfg, APIC_E_CONFIG, "P6 ID 0xF");
  static const uint32_t ids_x2[2] = {0, 0xFFFFFFFFu};
  cfg = xcfg(2);
  cfg.x2apic = 1;
  cfg.apic_ids = ids_x2;
  expect_create_fails(&cfg, APIC_E_CONFIG, "x2APIC ID 0xFFFFFFFF");
}
END_TEST

/* The largest machine: 65536 cores in x2APIC mode (SDM 10.12: 32-bit IDs). */
START_TEST(create_max_cores_x2apic) {
  apic_config cfg = xcfg(APIC_MAX_CPUS);
  ck_assert_uint_eq(cfg.x2apic, 1);
  expect_create_ok(&cfg, "65536 cores x2APIC");
}
END_TEST

/* 82093AA 3.2.2 (max redirection entry), 3.2.1 (4-bit ID), versions 0x11
   and 0x20; apicsim.h APIC_MAX_IOAPICS, APIC_IOAPIC_MAX_PINS. */
START_TEST(create_bad_ioapics) {
  apic_config cfg = xcfg(2);
  cfg.ioapic_pins[0] = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "0 pins");
  cfg = xcfg(2);
  cfg.ioapic_pins[0] = APIC_IOAPIC_MAX_PINS + 1;
  expect_create_fails(&cfg, APIC_E_CONFIG, "121 pins");
  cfg = xcfg(2);
  cfg.nioapics = 3;
  cfg.ioapic_pins[2] = 500;
  expect_create_fails(&cfg, APIC_E_CONFIG, "third I/O APIC 500 pins");
  cfg = xcfg(2);
  cfg.ioapic_pins[0] = APIC_IOAPIC_MAX_PINS;
  expect_create_ok(&cfg, "120 pins");
  cfg = xcfg(2);
  cfg.ioapic_version[0] = 0x12;
  expect_create_fails(&cfg, APIC_E_CONFIG, "version 0x12");
  cfg = xcfg(2);
  cfg.ioapic_version[0] = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "version 0");
  cfg = xcfg(2);
  cfg.ioapic_id[0] = 16;
  expect_create_fails(&cfg, APIC_E_CONFIG, "id 16");
  cfg = xcfg(2);
  cfg.nioapics = APIC_MAX_IOAPICS + 1;
  expect_create_fails(&cfg, APIC_E_CONFIG, "9 I/O APICs");
  cfg = xcfg(2);
  cfg.nioapics = 0;
  expect_create_ok(&cfg, "no I/O APIC");
  /* entries beyond nioapics are not looked at */
  cfg = xcfg(2);
  cfg.nioapics = 1;
  cfg.ioapic_pins[1] = 0;
  cfg.ioapic_version[1] = 0x99;
  expect_create_ok(&cfg, "unused I/O APIC slots");
}
END_TEST

/* SDM 10.1 / apicsim.h: the p6 bus carries only P6 APICs; x2APIC needs the
   xAPIC model; the mesh topology must divide; enums in range; timing
   divisors nonzero. */
START_TEST(create_bad_bus_model_topology) {
  apic_config cfg = tu_config(4, APIC_BUS_P6, APIC_MODEL_XAPIC);
  expect_create_fails(&cfg, APIC_E_CONFIG, "p6 bus, xapic model");
  cfg = tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_P6);
  cfg.x2apic = 1;
  expect_create_fails(&cfg, APIC_E_CONFIG, "x2APIC on P6");
  cfg = tu_config(6, APIC_BUS_MESH, APIC_MODEL_XAPIC);
  cfg.sockets = 4;
  expect_create_fails(&cfg, APIC_E_CONFIG, "6 cores in 4 sockets");
  cfg = tu_config(8, APIC_BUS_MESH, APIC_MODEL_XAPIC);
  cfg.sockets = 2;
  cfg.threads_per_core = 3;
  expect_create_fails(&cfg, APIC_E_CONFIG, "4 cores per socket, 3 threads");
  cfg.threads_per_core = 2;
  expect_create_ok(&cfg, "2 sockets x 2 cores x 2 threads");
  cfg = xcfg(4);
  cfg.model = (apic_model)7;
  expect_create_fails(&cfg, APIC_E_CONFIG, "model 7");
  cfg = xcfg(4);
  cfg.bus = (apic_bus_kind)9;
  expect_create_fails(&cfg, APIC_E_CONFIG, "bus 9");
  cfg = xcfg(4);
  cfg.timing.timer_div = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "timer_div 0");
  cfg = xcfg(4);
  cfg.timing.p6_clock_div = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "p6_clock_div 0");
  cfg = xcfg(4);
  cfg.freq_ghz = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "freq 0");
  cfg.freq_ghz = NAN;
  expect_create_fails(&cfg, APIC_E_CONFIG, "freq NaN");
}
END_TEST

/* ---- per-call argument checks ---- */

static int prog_nop(apic_cpu *c, void *arg) { (void)c; (void)arg; return APIC_DONE; }

/* Snapshot of everything a failed call must not change. */
typedef struct snap { apic_lapic_state l[4]; apic_core_state c[4]; uint64_t rte[24], now; } snap;

static void take(apic_sim *s, snap *o) {
  memset(o, 0, sizeof *o);
  for (uint32_t i = 0; i < 4; i++) {
    ck_assert_int_eq(apic_lapic_state_get(s, i, &o->l[i]), APIC_OK);
    ck_assert_int_eq(apic_core_state_get(s, i, &o->c[i]), APIC_OK);
  }
  for (uint32_t p = 0; p < 24; p++) ck_assert_int_eq(apic_ioapic_rte_get(s, 0, p, &o->rte[p]), 0);
  o->now = apic_sim_now(s);
}

static void expect_err(apic_sim *s, int rc, int want, const char *needle, const char *call) {
  ck_assert_msg(rc == want, "%s: got %s, want %s", call, apic_err_name(rc), apic_err_name(want));
  if (needle)
    ck_assert_msg(strstr(apic_sim_errmsg(s), needle) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  call, apic_sim_errmsg(s), needle);
}

/* lib/api.c check_cpu: every per-cpu call rejects a bad index with
   APIC_E_CPU and a message naming the index; nothing changes. */
START_TEST(bad_cpu_on_every_per_cpu_call) {
  apic_config cfg = xcfg(4);
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  snap before, after;
  take(s, &before);
  size_t nev = log.n;
  static const uint32_t bad[] = {4, 5, 1000, APIC_NONE - 1, APIC_NONE};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t c = bad[i];
    char name[32];
    snprintf(name, sizeof name, "cpu %u", c);
    uint32_t v32;
    uint64_t v64;
    uint8_t v8;
    apic_intr_kind k;
    apic_lapic_state ls;
    apic_core_state cs;
    expect_err(s, apic_lapic_read(s, c, APIC_REG_ID, &v32), APIC_E_CPU, name, "lapic_read");
    expect_err(s, apic_lapic_write(s, c, APIC_REG_TPR, 0x20), APIC_E_CPU, name, "lapic_write");
    expect_err(s, apic_lapic_rdmsr(s, c, APIC_MSR_APIC_BASE, &v64), APIC_E_CPU, name, "rdmsr");
    expect_err(s, apic_lapic_wrmsr(s, c, APIC_MSR_APIC_BASE, 0), APIC_E_CPU, name, "wrmsr");
    expect_err(s, apic_lapic_set_lint(s, c, 0, 1), APIC_E_CPU, name, "set_lint");
    expect_err(s, apic_lapic_state_get(s, c, &ls), APIC_E_CPU, name, "lapic_state_get");
    expect_err(s, apic_core_state_get(s, c, &cs), APIC_E_CPU, name, "core_state_get");
    expect_err(s, apic_sim_pending(s, c, 1, &k, &v8), APIC_E_CPU, name, "pending");
    expect_err(s, apic_sim_ack(s, c, APIC_INTR_NMI, &v8), APIC_E_CPU, name, "ack");
    expect_err(s, apic_sim_nmi_return(s, c), APIC_E_CPU, name, "nmi_return");
    expect_err(s, apic_sim_set_program(s, c, prog_nop, NULL), APIC_E_CPU, name, "set_program");
    if (c != APIC_NONE)  /* APIC_NONE means the machine-wide table */
      expect_err(s, apic_sim_set_handler(s, c, 0x40, prog_nop, NULL), APIC_E_CPU, name,
                 "set_handler");
  }
  take(s, &after);
  ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
  ck_assert_uint_eq(log.n, nev);
  ck_assert_int_eq(apic_sim_run(s, 2000), APIC_RUN_IDLE);  /* still works */
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* apicsim.h conventions: NULL handle or NULL out pointer is APIC_E_ARG. */
START_TEST(null_pointers_are_arg_errors) {
  apic_config cfg = xcfg(4);
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t v32;
  uint64_t v64;
  uint8_t v8;
  apic_intr_kind k;
  apic_lapic_state ls;
  apic_core_state cs;
  expect_err(s, apic_lapic_read(s, 0, APIC_REG_ID, NULL), APIC_E_ARG, "NULL", "lapic_read");
  expect_err(s, apic_lapic_rdmsr(s, 0, APIC_MSR_APIC_BASE, NULL), APIC_E_ARG, "NULL", "rdmsr");
  expect_err(s, apic_lapic_state_get(s, 0, NULL), APIC_E_ARG, "NULL", "lapic_state_get");
  expect_err(s, apic_core_state_get(s, 0, NULL), APIC_E_ARG, "NULL", "core_state_get");
  expect_err(s, apic_ioapic_read(s, 0, APIC_IOAPIC_IOWIN, NULL), APIC_E_ARG, "NULL", "io_read");
  expect_err(s, apic_ioapic_rte_get(s, 0, 0, NULL), APIC_E_ARG, "NULL", "rte_get");
  expect_err(s, apic_sim_pending(s, 0, 1, NULL, &v8), APIC_E_ARG, "NULL", "pending kind");
  expect_err(s, apic_sim_pending(s, 0, 1, &k, NULL), APIC_E_ARG, "NULL", "pending vector");
  expect_err(s, apic_sim_ack(s, 0, APIC_INTR_FIXED, NULL), APIC_E_ARG, "NULL", "ack");
  expect_err(s, apic_sim_set_program(s, 0, NULL, NULL), APIC_E_ARG, "NULL", "set_program");
  /* a NULL handle */
  ck_assert_int_eq(apic_lapic_read(NULL, 0, APIC_REG_ID, &v32), APIC_E_ARG);
  ck_assert_int_eq(apic_lapic_write(NULL, 0, APIC_REG_TPR, 0), APIC_E_ARG);
  ck_assert_int_eq(apic_lapic_rdmsr(NULL, 0, APIC_MSR_APIC_BASE, &v64), APIC_E_ARG);
  ck_assert_int_eq(apic_lapic_wrmsr(NULL, 0, APIC_MSR_APIC_BASE, 0), APIC_E_ARG);
  ck_assert_int_eq(apic_lapic_set_lint(NULL, 0, 0, 1), APIC_E_ARG);
  ck_assert_int_eq(apic_lapic_state_get(NULL, 0, &ls), APIC_E_ARG);
  ck_assert_int_eq(apic_core_state_get(NULL, 0, &cs), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_read(NULL, 0, 0, &v32), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_write(NULL, 0, 0, 0), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_rte_get(NULL, 0, 0, &v64), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_rte_set(NULL, 0, 0, 0), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_set_pin(NULL, 0, 0, 1), APIC_E_ARG);
  ck_assert_int_eq(apic_ioapic_set_pin_at(NULL, 0, 0, 1, 10), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_pending(NULL, 0, 1, &k, &v8), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_ack(NULL, 0, APIC_INTR_FIXED, &v8), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_nmi_return(NULL, 0), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_set_program(NULL, 0, prog_nop, NULL), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_set_handler(NULL, 0, 0x40, prog_nop, NULL), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_set_startup(NULL, 0x10, prog_nop, NULL), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_set_smi_handler(NULL, prog_nop, NULL), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_run(NULL, 100), APIC_E_ARG);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.4.1: registers are 16-byte aligned in a 4 KiB page; a host access
   off that grid is an API error (APIC_E_ALIGN / APIC_E_REG), not a guest
   access, so no ESR bit is set. */
START_TEST(misaligned_and_out_of_page_offsets) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t v = 0x1234;
  static const uint32_t misaligned[] = {0x021, 0x084, 0x0B8, 0x30C, 0xFFF};
  for (size_t i = 0; i < sizeof misaligned / sizeof misaligned[0]; i++) {
    char off[16];
    snprintf(off, sizeof off, "0x%x", misaligned[i]);
    expect_err(s, apic_lapic_read(s, 0, misaligned[i], &v), APIC_E_ALIGN, off, "read");
    expect_err(s, apic_lapic_write(s, 0, misaligned[i], 0x20), APIC_E_ALIGN, off, "write");
  }
  expect_err(s, apic_lapic_read(s, 0, APIC_REG_PAGE, &v), APIC_E_REG, "0x1000", "read");
  expect_err(s, apic_lapic_write(s, 0, 0x10000, 0), APIC_E_REG, "0x10000", "write");
  expect_err(s, apic_lapic_write(s, 0, UINT32_MAX, 0), APIC_E_REG, NULL, "write");
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), 0);
  apic_lapic_state st;
  apic_lapic_state_get(s, 0, &st);
  ck_assert_uint_eq(st.esr, 0);
  apic_sim_destroy(s);
}
END_TEST

/* lib/api.c check_io: I/O APIC index, pin, direct register offset; a pin
   change cannot be scheduled in the past (APIC_E_TIME); LINT pins 0-1. */
START_TEST(ioapic_and_pin_checks) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t v;
  uint64_t r;
  expect_err(s, apic_ioapic_read(s, 1, APIC_IOAPIC_IOWIN, &v), APIC_E_IOAPIC, "1", "read");
  expect_err(s, apic_ioapic_write(s, 8, APIC_IOAPIC_IOWIN, 0), APIC_E_IOAPIC, "8", "write");
  expect_err(s, apic_ioapic_rte_get(s, 0, 24, &r), APIC_E_PIN, "24", "rte_get");
  expect_err(s, apic_ioapic_rte_set(s, 0, 24, 0), APIC_E_PIN, "24", "rte_set");
  expect_err(s, apic_ioapic_set_pin(s, 0, 1000, 1), APIC_E_PIN, "1000", "set_pin");
  expect_err(s, apic_ioapic_set_pin(s, 3, 0, 1), APIC_E_IOAPIC, NULL, "set_pin");
  expect_err(s, apic_ioapic_read(s, 0, 0x20, &v), APIC_E_REG, "0x20", "read 0x20");
  expect_err(s, apic_lapic_set_lint(s, 0, 2, 1), APIC_E_PIN, NULL, "set_lint pin 2");
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  ck_assert_uint_eq(apic_sim_now(s), 1000);
  expect_err(s, apic_ioapic_set_pin_at(s, 0, 2, 1, 999), APIC_E_TIME, "999", "set_pin_at");
  expect_err(s, apic_ioapic_set_pin_at(s, 0, 2, 1, 0), APIC_E_TIME, NULL, "set_pin_at 0");
  expect_err(s, apic_ioapic_set_pin_at(s, 0, 99, 1, 5000), APIC_E_PIN, NULL, "set_pin_at pin");
  ck_assert_uint_eq(apic_sim_next_event(s), UINT64_MAX);  /* nothing was scheduled */
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 2, 1, 1000), APIC_OK);  /* now is fine */
  ck_assert_uint_eq(apic_sim_next_event(s), 1000);
  /* the 82093AA version 0x11 has no EOIR */
  cfg.ioapic_version[0] = APIC_IOAPIC_VERSION_82093AA;
  apic_sim *s2 = tu_sim(&cfg, NULL);
  expect_err(s2, apic_ioapic_write(s2, 0, APIC_IOAPIC_EOIR, 0x40), APIC_E_REG, NULL, "EOIR");
  apic_sim_destroy(s2);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h apic_sim_set_program: a core that already runs a program, or
   waits for SIPI after INIT, is APIC_E_STATE (nothing changes); a core whose
   program finished takes a new one. */
START_TEST(set_program_twice_is_state_error) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_set_program(s, 1, tu_prog_idle, NULL), APIC_OK);
  expect_err(s, apic_sim_set_program(s, 1, prog_nop, NULL), APIC_E_STATE, "cpu 1",
             "set_program twice");
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  apic_core_state cs;
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_HALTED);  /* tu_prog_idle, not prog_nop */
  /* still running (halted in it): still refused */
  expect_err(s, apic_sim_set_program(s, 1, prog_nop, NULL), APIC_E_STATE, NULL, "again");
  /* SDM 8.4: after INIT only a start-up IPI starts the core */
  tu_wr(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_WAIT_SIPI);
  expect_err(s, apic_sim_set_program(s, 1, prog_nop, NULL), APIC_E_STATE, "start-up",
             "set_program while waiting for SIPI");
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_WAIT_SIPI);
  /* a finished program may be replaced */
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_nop, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_DONE);
  ck_assert_int_eq(apic_sim_set_program(s, 0, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_HALTED);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h apic_sim_ack: consuming an NMI/SMI/INIT/SIPI that is not pending
   is APIC_E_STATE; an unknown kind is APIC_E_ARG; nothing changes. */
START_TEST(ack_of_nothing_pending_is_state_error) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  uint8_t v = 0x77;
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_NMI, &v), APIC_E_STATE, "NMI", "ack NMI");
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_SMI, &v), APIC_E_STATE, "SMI", "ack SMI");
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_INIT, &v), APIC_E_STATE, "INIT", "ack INIT");
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_SIPI, &v), APIC_E_STATE, "SIPI", "ack SIPI");
  expect_err(s, apic_sim_ack(s, 1, (apic_intr_kind)99, &v), APIC_E_ARG, "99", "ack 99");
  ck_assert_uint_eq(v, 0x77);
  apic_core_state cs;
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.nmi_blocked, 0);
  /* and once an NMI is pending, the same call succeeds */
  tu_wr(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_NMI, &v), APIC_OK);
  ck_assert_uint_eq(v, 2);
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_NMI, &v), APIC_E_STATE, NULL, "ack NMI again");
  apic_sim_destroy(s);
}
END_TEST

/* ---- hooks ---- */

typedef struct hook_rec { size_t n; uint64_t sum; int quiet; int asked; } hook_rec;

static void hook_count(void *ud, const apic_event *ev) {
  hook_rec *h = ud;
  h->n++;
  h->sum = h->sum * 31 + ev->kind * 7 + ev->cycle;
}

static void hook_asks_quiet(void *ud, const apic_event *ev) {
  (void)ev;
  hook_rec *h = ud;
  h->n++;
  h->asked = 1;
}

static void on_quiet(void *ud, apic_sim *s) {
  hook_rec *h = ud;
  ck_assert_ptr_nonnull(s);
  h->quiet++;
}

/* apicsim.h apic_sim_add_hook: at most APIC_MAX_HOOKS (then APIC_E_STATE),
   NULL arguments are APIC_E_ARG, removing a hook that is not installed is
   APIC_E_ARG; every hook sees the same events; quiet points come after a
   request. */
START_TEST(hook_limits_and_misuse) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  hook_rec h[APIC_MAX_HOOKS + 1];
  memset(h, 0, sizeof h);
  ck_assert_int_eq(apic_sim_add_hook(NULL, hook_count, NULL, &h[0]), APIC_E_ARG);
  ck_assert_int_eq(apic_sim_add_hook(s, NULL, NULL, &h[0]), APIC_E_ARG);
  for (int i = 0; i < APIC_MAX_HOOKS; i++)
    ck_assert_int_eq(apic_sim_add_hook(s, hook_count, NULL, &h[i]), APIC_OK);
  expect_err(s, apic_sim_add_hook(s, hook_count, NULL, &h[APIC_MAX_HOOKS]), APIC_E_STATE,
             NULL, "add_hook when full");
  ck_assert_int_eq(apic_sim_remove_hook(NULL, hook_count, &h[0]), APIC_E_ARG);
  expect_err(s, apic_sim_remove_hook(s, hook_count, &h[APIC_MAX_HOOKS]), APIC_E_ARG, NULL,
             "remove_hook not installed");
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_gt(h[0].n, 0);
  for (int i = 1; i < APIC_MAX_HOOKS; i++) {
    ck_assert_uint_eq(h[i].n, h[0].n);
    ck_assert_uint_eq(h[i].sum, h[0].sum);
  }
  ck_assert_uint_eq(h[APIC_MAX_HOOKS].n, 0);
  /* remove one: the freed slot takes a hook that asks for quiet points */
  ck_assert_int_eq(apic_sim_remove_hook(s, hook_count, &h[1]), APIC_OK);
  ck_assert_int_eq(apic_sim_add_hook(s, hook_asks_quiet, on_quiet, &h[APIC_MAX_HOOKS]),
                   APIC_OK);
  apic_sim_request_quiet(NULL);  /* no-op */
  apic_sim_request_quiet(s);
  size_t before = h[1].n;
  tu_wr(s, 1, APIC_REG_ICR_HI, 0);
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(h[1].n, before);  /* removed: sees nothing more */
  ck_assert_uint_gt(h[APIC_MAX_HOOKS].n, 0);
  ck_assert_int_ge(h[APIC_MAX_HOOKS].quiet, 1);
  /* set_hook(NULL) removes no hook added with add_hook */
  ck_assert_int_eq(apic_sim_set_hook(s, NULL, NULL), APIC_OK);
  size_t n0 = h[0].n;
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_gt(h[0].n, n0);
  /* full: set_hook says so */
  hook_rec extra = {0};
  expect_err(s, apic_sim_set_hook(s, hook_count, &extra), APIC_E_STATE, NULL, "set_hook when full");
  ck_assert_int_eq(apic_sim_set_hook(NULL, hook_count, &extra), APIC_E_ARG);
  apic_sim_destroy(s);
}
END_TEST

/* A hook that asks for a quiet point at every message sent, and whose
   quiet callback, the first few times, has every core send an IPI. */
typedef struct sender {
  apic_sim *s;
  uint32_t ncpus, bursts, sent, done;
  uint64_t last_done;
  int out_of_order;
} sender;

static void sender_hook(void *ud, const apic_event *ev) {
  sender *x = ud;
  if (ev->kind == APIC_EV_MSG_SEND) {
    x->sent++;
    apic_sim_request_quiet(x->s);
  }
  if (ev->kind == APIC_EV_MSG_DONE) {
    x->done++;
    if (ev->cycle < x->last_done) x->out_of_order = 1;
    x->last_done = ev->cycle;
  }
}

static void sender_quiet(void *ud, apic_sim *s) {
  sender *x = ud;
  if (x->bursts == 0) return;
  x->bursts--;
  for (uint32_t c = 1; c < x->ncpus; c++) {
    tu_wr(s, c, APIC_REG_ICR_HI, 0);
    tu_wr(s, c, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  }
}

/* apicsim.h apic_sim_add_hook: a quiet callback may write registers, and
   so send IPIs, while other messages are still leaving their senders
   (MSG_DONE pending): each message is done once, in cycle order. */
START_TEST(quiet_callback_may_send_ipis) {
  apic_config cfg = xcfg(48);
  apic_sim *s = tu_sim(&cfg, NULL);
  sender x = {s, cfg.ncpus, 6, 0, 0, 0, 0};
  ck_assert_int_eq(apic_sim_add_hook(s, sender_hook, sender_quiet, &x), APIC_OK);
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  tu_wr(s, 1, APIC_REG_ICR_HI, 0);
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_ge(apic_sim_run(s, UINT64_MAX), 0);
  ck_assert_uint_eq(x.bursts, 0);
  ck_assert_uint_eq(x.sent, 1 + 6 * (cfg.ncpus - 1));
  ck_assert_uint_eq(x.done, x.sent);
  ck_assert_int_eq(x.out_of_order, 0);
  apic_sim_destroy(s);
}
END_TEST

/* A hook that tries to change the hook list while hooks are being called. */
typedef struct meddler { apic_sim *s; hook_rec other; int tried, rc[3]; } meddler;

static void hook_meddles(void *ud, const apic_event *ev) {
  meddler *m = ud;
  hook_count(&m->other, ev);  /* counts like the others */
  if (m->tried++) return;
  m->rc[0] = apic_sim_set_hook(m->s, hook_count, &m->other);
  m->rc[1] = apic_sim_add_hook(m->s, hook_count, NULL, &m->other);
  m->rc[2] = apic_sim_remove_hook(m->s, hook_count, &m->other);
}

/* apicsim.h apic_sim_set_hook: the hook list stays fixed while hooks are
   called - a change from inside one is APIC_E_STATE, and every hook hears
   every event (one removed halfway used to make the next one miss it). */
START_TEST(hooks_cannot_change_the_list_from_inside_a_hook) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  meddler m;
  memset(&m, 0, sizeof m);
  m.s = s;
  hook_rec after = {0};
  ck_assert_int_eq(apic_sim_set_hook(s, hook_meddles, &m), APIC_OK);
  ck_assert_int_eq(apic_sim_add_hook(s, hook_count, NULL, &after), APIC_OK);
  tu_wr(s, 0, APIC_REG_TPR, 0x20);
  tu_wr(s, 0, APIC_REG_TPR, 0x30);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(m.rc[i], APIC_E_STATE);
  ck_assert_msg(strstr(apic_sim_errmsg(s), "inside a hook"), "%s", apic_sim_errmsg(s));
  ck_assert_uint_gt(after.n, 0);
  ck_assert_uint_eq(after.n, m.other.n);
  ck_assert_uint_eq(after.sum, m.other.sum);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h apic_sim_set_hook: each call replaces the hook of the previous
   one and no other; the hooks added with add_hook (here a trace writer's
   stand-in) keep every event. apic_sim_remove_hook never takes set_hook's. */
START_TEST(set_hook_replaces_only_its_own) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  hook_rec added = {0}, first = {0}, second = {0};
  ck_assert_int_eq(apic_sim_add_hook(s, hook_count, NULL, &added), APIC_OK);
  ck_assert_int_eq(apic_sim_set_hook(s, hook_count, &first), APIC_OK);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_gt(first.n, 0);
  ck_assert_uint_eq(first.n, added.n);
  ck_assert_int_eq(apic_sim_set_hook(s, hook_count, &second), APIC_OK);
  size_t f0 = first.n, a0 = added.n;
  tu_wr(s, 1, APIC_REG_ICR_HI, 0);
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(first.n, f0);           /* replaced */
  ck_assert_uint_gt(second.n, 0);
  ck_assert_uint_eq(added.n - a0, second.n); /* kept, sees the same events */
  /* remove_hook takes only a hook added with add_hook, even when set_hook
     installed the same fn and ud first */
  hook_rec both = {0};
  ck_assert_int_eq(apic_sim_set_hook(s, hook_count, &both), APIC_OK);
  ck_assert_int_eq(apic_sim_add_hook(s, hook_count, NULL, &both), APIC_OK);
  ck_assert_int_eq(apic_sim_remove_hook(s, hook_count, &both), APIC_OK);
  expect_err(s, apic_sim_remove_hook(s, hook_count, &both), APIC_E_ARG, NULL,
             "remove_hook of the set_hook one");
  size_t a2 = added.n;
  tu_wr(s, 1, APIC_REG_TPR, 0x10);
  ck_assert_uint_gt(both.n, 0);
  ck_assert_uint_eq(both.n, added.n - a2);  /* the set_hook one still hears, once */
  ck_assert_int_eq(apic_sim_set_hook(s, hook_count, &second), APIC_OK);
  ck_assert_int_eq(apic_sim_set_hook(s, NULL, NULL), APIC_OK);
  size_t s0 = second.n, a1 = added.n;
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(second.n, s0);
  ck_assert_uint_gt(added.n, a1);
  apic_sim_destroy(s);
}
END_TEST

/* ---- names ---- */

/* STYLE.md "Errors": one X-macro list builds the codes, apic_strerror and
   apic_err_name, so every code has both and they cannot disagree. */
START_TEST(strerror_and_err_name_for_every_code) {
#define ROW(name, code, msg) {APIC_E_##name, code, "APIC_E_" #name, msg},
  static const struct { int val, code; const char *name, *msg; } rows[] = {
    APIC_ERRNO_MAP(ROW)
  };
#undef ROW
  size_t n = sizeof rows / sizeof rows[0];
  ck_assert_uint_ge(n, 11);
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(rows[i].val, rows[i].code);
    ck_assert_int_eq(rows[i].val, -1 - (int)i);  /* small, dense, negative */
    ck_assert_str_eq(apic_strerror(rows[i].val), rows[i].msg);
    ck_assert_str_eq(apic_err_name(rows[i].val), rows[i].name);
    ck_assert_uint_gt(strlen(rows[i].msg), 0);
    for (size_t j = 0; j < i; j++) {
      ck_assert_int_ne(rows[i].val, rows[j].val);
      ck_assert_str_ne(apic_strerror(rows[i].val), apic_strerror(rows[j].val));
    }
  }
  ck_assert_str_eq(apic_err_name(APIC_OK), "APIC_OK");
  ck_assert_str_eq(apic_err_name(APIC_GP), "APIC_GP");
  ck_assert_str_eq(apic_err_name(APIC_E_TIME), "APIC_E_TIME");
  ck_assert_str_eq(apic_strerror(APIC_E_NOMEM), "out of memory");
  ck_assert_str_ne(apic_strerror(APIC_OK), "");
  ck_assert_str_ne(apic_strerror(APIC_GP), "");
  const int unknown[] = {-1 - (int)n, -100, 2, 42, -2147483647 - 1, 2147483647};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    ck_assert_str_eq(apic_strerror(unknown[i]), "unknown error");
    ck_assert_str_eq(apic_err_name(unknown[i]), "APIC_E_UNKNOWN");
  }
  ck_assert_str_eq(apic_version(), APICSIM_VERSION);
}
END_TEST

/* apicsim.h APIC_EVENT_MAP: every kind has its name; out of range is
   "unknown". */
START_TEST(event_name_for_every_kind) {
#define ROW(name, str, doc) {APIC_EV_##name, str},
  static const struct { uint32_t kind; const char *str; } rows[] = {APIC_EVENT_MAP(ROW)};
#undef ROW
  size_t n = sizeof rows / sizeof rows[0];
  ck_assert_uint_eq(n, APIC_EV__COUNT);
  for (size_t i = 0; i < n; i++) {
    ck_assert_uint_eq(rows[i].kind, i);
    ck_assert_str_eq(apic_event_name(rows[i].kind), rows[i].str);
    ck_assert_uint_gt(strlen(rows[i].str), 0);
    for (size_t j = 0; j < i; j++) ck_assert_str_ne(rows[i].str, rows[j].str);
  }
  ck_assert_str_eq(apic_event_name(APIC_EV_ICR_WRITE), "icr_write");
  ck_assert_str_eq(apic_event_name(APIC_EV_HANDLER_ENTER), "handler_enter");
  ck_assert_str_eq(apic_event_name(APIC_EV__COUNT), "unknown");
  ck_assert_str_eq(apic_event_name(APIC_EV__COUNT + 1), "unknown");
  ck_assert_str_eq(apic_event_name(1000), "unknown");
  ck_assert_str_eq(apic_event_name(UINT32_MAX), "unknown");
}
END_TEST

/* ---- fuzz ---- */

typedef struct fz { uint64_t x; } fz;
static uint64_t fz_next(fz *f) {  /* xorshift64* */
  f->x ^= f->x >> 12;
  f->x ^= f->x << 25;
  f->x ^= f->x >> 27;
  return f->x * 0x2545F4914F6CDD1Dull;
}

static int h_fuzz(apic_cpu *c, void *arg) {
  int *counts = arg;
  APIC_BEGIN(c);
  counts[apic_cpu_index(c) * 256 + apic_cpu_vector(c)]++;
  if (counts[apic_cpu_index(c) * 256 + apic_cpu_vector(c)] & 1) APIC_STI(c);
  APIC_WORK(c, 20);
  APIC_EOI(c);
  APIC_END(c);
}

static int ok_or(int rc, int a, int b) { return rc == APIC_OK || rc == a || rc == b; }

/* Random host accesses of every kind on an 8-core machine running guest
   programs: every call returns a documented code, nothing crashes (ASan,
   UBSan) and every bounded run returns. */
static void fuzz(apic_bus_kind bus, apic_model model, int x2apic, uint64_t seed, long iters) {
  apic_config cfg = tu_config(8, bus, model);
  cfg.x2apic = (uint8_t)x2apic;
  cfg.nioapics = 2;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int *counts = calloc(8 * 256, sizeof *counts);
  ck_assert_ptr_nonnull(counts);
  for (uint32_t v = 0; v < 256; v++) {
    apic_sim_set_handler(s, APIC_NONE, (uint8_t)v, h_fuzz, counts);
    apic_sim_set_startup(s, (uint8_t)v, tu_prog_idle, NULL);
  }
  apic_sim_set_smi_handler(s, h_fuzz, counts);
  for (uint32_t i = 0; i < 7; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  /* core 7 is host-driven (embedded mode) */
  fz f = {seed};
  uint64_t last = 0;
  for (long it = 0; it < iters; it++) {
    uint64_t r = fz_next(&f), q = fz_next(&f);
    uint32_t cpu = (uint32_t)(r >> 8) % 10;  /* 8, 9 invalid */
    uint32_t off = (uint32_t)((r >> 16) & 0xFF) << 4;
    uint32_t val = (uint32_t)q;
    if ((r >> 40) % 4 == 0) val &= 0x000FFFFF;  /* plausible ICR/LVT values */
    int rc;
    switch ((r >> 4) % 16) {
    case 0: case 1: case 2: case 3: case 4: case 5:
      rc = apic_lapic_write(s, cpu, off, val);
      ck_assert_msg(ok_or(rc, APIC_E_CPU, APIC_E_CPU), "write: %s", apic_err_name(rc));
      break;
    case 6: {
      uint32_t v;
      rc = apic_lapic_read(s, cpu, off, &v);
      ck_assert_msg(ok_or(rc, APIC_E_CPU, APIC_E_CPU), "read: %s", apic_err_name(rc));
      break;
    }
    case 7: case 8:
      rc = apic_lapic_wrmsr(s, cpu, APIC_MSR_X2APIC_BASE + (uint32_t)(q >> 56),
                            (r >> 62) ? (uint64_t)val : q);
      ck_assert_msg(ok_or(rc, APIC_GP, APIC_E_CPU), "wrmsr: %s", apic_err_name(rc));
      break;
    case 9: {
      static const uint64_t bases[] = {
        APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN, APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN |
        APIC_BASE_EXTD, APIC_BASE_ADDR_DEFAULT, 0, APIC_BASE_EXTD, APIC_BASE_EN | APIC_BASE_BSP};
      uint64_t b = (q & 7) < 6 ? bases[q & 7] : q;
      uint32_t msr = (r >> 50) & 1 ? APIC_MSR_APIC_BASE : APIC_MSR_TSC_DEADLINE;
      if (msr == APIC_MSR_TSC_DEADLINE) b = apic_sim_now(s) + (q & 0xFFFF);
      rc = apic_lapic_wrmsr(s, cpu, msr, b);
      ck_assert_msg(ok_or(rc, APIC_GP, APIC_E_CPU), "wrmsr base: %s", apic_err_name(rc));
      break;
    }
    case 10: {
      uint64_t v;
      rc = apic_lapic_rdmsr(s, cpu, (uint32_t)(q & 0xFFF), &v);
      ck_assert_msg(ok_or(rc, APIC_GP, APIC_E_CPU), "rdmsr: %s", apic_err_name(rc));
      break;
    }
    case 11: {
      uint32_t io = (uint32_t)(q >> 60) % 3, pin = (uint32_t)(q >> 32) % 26;
      rc = (r >> 52) & 1 ? apic_ioapic_rte_set(s, io, pin, ((uint64_t)val << 32) | (q & 0x1FFFF))
                         : apic_ioapic_set_pin(s, io, pin, (int)(q & 1));
      ck_assert_msg(ok_or(rc, APIC_E_IOAPIC, APIC_E_PIN), "ioapic: %s", apic_err_name(rc));
      break;
    }
    case 12: {
      uint32_t io = (uint32_t)(q >> 60) % 3;
      rc = apic_ioapic_write(s, io, (uint32_t)(q >> 8) % 0x50, val);
      ck_assert_msg(ok_or(rc, APIC_E_IOAPIC, APIC_E_REG) , "io write: %s", apic_err_name(rc));
      break;
    }
    case 13:
      rc = apic_lapic_set_lint(s, cpu, (uint32_t)(q % 3), (int)((q >> 3) & 1));
      ck_assert_msg(ok_or(rc, APIC_E_CPU, APIC_E_PIN), "lint: %s", apic_err_name(rc));
      break;
    case 14: {
      apic_intr_kind k;
      uint8_t v;
      rc = apic_sim_pending(s, cpu, (int)(q & 1), &k, &v);
      ck_assert_msg(ok_or(rc, APIC_E_CPU, APIC_E_CPU), "pending: %s", apic_err_name(rc));
      if (rc == APIC_OK && k != APIC_INTR_NONE && cpu == 7) {
        rc = apic_sim_ack(s, cpu, k, &v);
        ck_assert_msg(rc == APIC_OK, "ack: %s", apic_err_name(rc));
        if (k == APIC_INTR_NMI) apic_sim_nmi_return(s, cpu);
        if (k == APIC_INTR_FIXED) apic_lapic_write(s, cpu, APIC_REG_EOI, 0);
      }
      break;
    }
    default:
      rc = apic_sim_run(s, apic_sim_now(s) + (q % 300));
      ck_assert_msg(rc >= 0, "run: %s (%s)", apic_err_name(rc), apic_sim_errmsg(s));
      break;
    }
    if (log.n > 100000) log.n = 0;  /* keep the hook busy, not the memory */
    ck_assert_uint_ge(apic_sim_now(s), last);
    last = apic_sim_now(s);
  }
  int rc = apic_sim_run(s, apic_sim_now(s) + 100000);
  ck_assert_msg(rc >= 0, "final run: %s", apic_err_name(rc));
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_gt(st.messages, 0);  /* the fuzz did reach the machinery */
  /* A P6 APIC that a random IA32_APIC_BASE write disables stays disabled
     (SDM 10.4.3), so there the fuzz may leave no handler running. */
  if (model != APIC_MODEL_P6) ck_assert_uint_gt(st.handlers, 0);
  free(counts);
  apic_sim_destroy(s);
  tu_log_free(&log);
}

START_TEST(fuzz_register_writes_xapic) {
  fuzz(APIC_BUS_XAPIC, APIC_MODEL_XAPIC, 0, 0x9E3779B97F4A7C15ull, 200000);
}
END_TEST

START_TEST(fuzz_register_writes_x2apic_mesh) {
  fuzz(APIC_BUS_MESH, APIC_MODEL_XAPIC, 1, 0xD1B54A32D192ED03ull, 100000);
}
END_TEST

START_TEST(fuzz_register_writes_p6) {
  fuzz(APIC_BUS_P6, APIC_MODEL_P6, 0, 0xA0761D6478BD642Full, 100000);
}
END_TEST

/* ---- allocation failure ---- */

typedef struct failing {
  long budget;   /* allocations left; -1 = unlimited */
  long live;     /* blocks currently allocated */
  long allocs;   /* successful non-free calls */
} failing;

static void *failing_alloc(void *ud, void *p, size_t n) {
  failing *f = ud;
  if (n == 0) {
    if (p) { f->live--; free(p); }
    return NULL;
  }
  if (f->budget == 0) return NULL;
  if (f->budget > 0) f->budget--;
  void *q = realloc(p, n);
  if (q) {
    f->allocs++;
    if (!p) f->live++;
  }
  return q;
}

/* apicsim.h apic_config.alloc: with an allocator that fails after N
   allocations, apic_sim_create returns APIC_E_NOMEM with *out NULL and
   frees everything it took, for every N until it succeeds. */
START_TEST(create_fails_cleanly_at_every_allocation) {
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
  for (int b = 0; b < 3; b++) {
    apic_config cfg = tu_config(4, buses[b], buses[b] == APIC_BUS_P6 ? APIC_MODEL_P6
                                                                    : APIC_MODEL_XAPIC);
    cfg.nioapics = 3;
    failing f = {0, 0, 0};
    cfg.alloc = failing_alloc;
    cfg.alloc_ud = &f;
    long n;
    for (n = 0; n < 1000; n++) {
      f.budget = n;
      f.allocs = 0;
      char why[128] = "";
      apic_sim *s = (apic_sim *)why;
      int rc = apic_sim_create(&s, &cfg, why, sizeof why);
      if (rc == APIC_OK) {
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(f.allocs, n);  /* it needed exactly n */
        apic_sim_destroy(s);
        break;
      }
      ck_assert_msg(rc == APIC_E_NOMEM, "budget %ld: %s", n, apic_err_name(rc));
      ck_assert_ptr_null(s);
      ck_assert_str_ne(why, "");
      ck_assert_msg(f.live == 0, "budget %ld: %ld blocks leaked", n, f.live);
    }
    ck_assert_int_lt(n, 1000);
    ck_assert_int_ge(n, 4);  /* the handle, cores, and the I/O APIC tables at least */
    ck_assert_int_eq(f.live, 0);
  }
}
END_TEST

/* One step that writes the ICR 200 times: more messages in flight than the
   message pool holds at first, so the engine must allocate mid-run. */
static int prog_burst(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (int i = 0; i < 200; i++)
    apic_cpu_send_ipi(c, (apic_cpu_index(c) + 1) % 4, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* sim.c: an allocation that fails inside the event loop stops the run with
   APIC_E_NOMEM and a message; the machine is destroyed without leaks. Host
   calls that cannot allocate fail
   with APIC_E_NOMEM and change nothing. */
START_TEST(nomem_during_run_is_reported) {
  apic_config cfg = xcfg(4);
  failing f = {-1, 0, 0};
  cfg.alloc = failing_alloc;
  cfg.alloc_ud = &f;
  apic_sim *s = tu_sim(&cfg, NULL);
  int *counts = calloc(4 * 256, sizeof *counts);
  ck_assert_ptr_nonnull(counts);
  f.budget = 0;  /* the first frame stack cannot be allocated */
  expect_err(s, apic_sim_set_program(s, 0, prog_burst, NULL), APIC_E_NOMEM, "memory",
             "set_program");
  expect_err(s, apic_sim_set_handler(s, 1, 0x50, tu_handler_count, counts), APIC_E_NOMEM,
             "memory", "set_handler");
  apic_core_state cs;
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_NOPROG);  /* the failed call changed nothing */
  f.budget = -1;
  apic_sim_set_handler(s, APIC_NONE, 0x50, tu_handler_count, counts);
  for (uint32_t i = 1; i < 4; i++)
    ck_assert_int_eq(apic_sim_set_program(s, i, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_burst, NULL), APIC_OK);
  f.budget = 1;  /* the message pool, then nothing: the event queue cannot grow */
  int rc = apic_sim_run(s, UINT64_MAX);
  ck_assert_int_eq(rc, APIC_E_NOMEM);
  ck_assert_ptr_nonnull(strstr(apic_sim_errmsg(s), "out of memory"));
  ck_assert_uint_eq(apic_sim_now(s), 36);  /* stopped at the step that failed */
  /* The machine is not promised to be usable after that (events were lost,
     see the report); it must still be destroyed cleanly. */
  f.budget = -1;
  apic_sim_destroy(s);
  ck_assert_int_eq(f.live, 0);
  free(counts);
}
END_TEST


/* ---- time: the clock only goes forward (apicsim.h APIC_CYCLE_MAX) ---- */

/* Records the cycle of every event and whether one went back in time. */
typedef struct mono { uint64_t last; int back; uint64_t n; } mono;
static void mono_hook(void *ud, const apic_event *ev) {
  mono *m = ud;
  if (ev->cycle < m->last) m->back = 1;
  m->last = ev->cycle;
  m->n++;
}

/* sim.c apic_sim_run: an `until` past the last cycle the clock can reach is
   APIC_E_TIME with a message, and the clock does not move; UINT64_MAX
   still means "until nothing is left". */
START_TEST(run_until_past_cycle_max_is_time_error) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  expect_err(s, apic_sim_run(s, APIC_CYCLE_MAX + 1), APIC_E_TIME, "APIC_CYCLE_MAX", "run");
  expect_err(s, apic_sim_run(s, UINT64_MAX - 1), APIC_E_TIME, "18446744073709551614", "run");
  ck_assert_uint_eq(apic_sim_now(s), 1000);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_sim_run(s, APIC_CYCLE_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(apic_sim_now(s), APIC_CYCLE_MAX);
  apic_sim_destroy(s);
}
END_TEST

/* bus.c: a pin raised at the last cycle the clock reaches sends its message
   after it, never into the past (it used to wrap to a small cycle when the
   clock had been run to near UINT64_MAX). */
START_TEST(message_at_end_of_time_does_not_wrap) {
  apic_config cfg = xcfg(2);
  mono m = {0, 0, 0};
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_add_hook(s, mono_hook, NULL, &m), APIC_OK);
  tu_enable_all(s);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, 0x41), APIC_OK);  /* edge, fixed, cpu 0 */
  ck_assert_int_eq(apic_sim_run(s, APIC_CYCLE_MAX), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 1), APIC_OK);
  uint64_t before = apic_sim_now(s);
  int rc = apic_sim_run(s, UINT64_MAX);
  ck_assert_int_ge(rc, 0);
  ck_assert_uint_ge(apic_sim_now(s), before);
  ck_assert_int_eq(m.back, 0);
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, 0, &st), APIC_OK);
  /* the message arrives after APIC_CYCLE_MAX: past the end, still in flight */
  ck_assert_int_eq(tu_vec(st.irr, 0x41), 0);
  ck_assert_uint_eq(apic_sim_next_event(s), APIC_CYCLE_MAX + cfg.timing.ioapic_latency);
  apic_sim_destroy(s);
}
END_TEST

/* api.c apic_ioapic_set_pin_at: a cycle the clock can never reach is
   APIC_E_TIME, and nothing is scheduled. */
START_TEST(pin_change_past_cycle_max_is_time_error) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  expect_err(s, apic_ioapic_set_pin_at(s, 0, 1, 1, APIC_CYCLE_MAX + 1), APIC_E_TIME,
             "APIC_CYCLE_MAX", "set_pin_at");
  expect_err(s, apic_ioapic_set_pin_at(s, 0, 1, 1, UINT64_MAX), APIC_E_TIME, "pin 1",
             "set_pin_at");
  ck_assert_uint_eq(apic_sim_next_event(s), UINT64_MAX);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 1, 1, APIC_CYCLE_MAX), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  int lvl = 0;
  ck_assert_int_eq(apic_ioapic_get_pin(s, 0, 1, &lvl), APIC_OK);
  ck_assert_int_eq(lvl, 1);
  ck_assert_uint_eq(apic_sim_now(s), APIC_CYCLE_MAX);
  apic_sim_destroy(s);
}
END_TEST

/* lapic.c wr_tsc_deadline (SDM 10.5.4.1): a deadline of UINT64_MAX is never
   reached; a run to the end returns, and the clock stays at APIC_CYCLE_MAX. */
START_TEST(tsc_deadline_at_uint64_max_never_fires) {
  apic_config cfg = xcfg(1);
  mono m = {0, 0, 0};
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_add_hook(s, mono_hook, NULL, &m), APIC_OK);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, (APIC_TIMER_TSCDEADLINE << APIC_LVT_TIMER_SHIFT) | 0x40);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, UINT64_MAX), APIC_OK);
  int rc = apic_sim_run(s, UINT64_MAX);
  ck_assert_int_eq(rc, APIC_RUN_LIMIT);
  ck_assert_uint_eq(apic_sim_now(s), APIC_CYCLE_MAX);
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, 0, &st), APIC_OK);
  ck_assert_int_eq(tu_vec(st.irr, 0x40), 0);
  ck_assert_int_eq(m.back, 0);
  apic_sim_destroy(s);
}
END_TEST

/* lapic.c timer_start (SDM 10.5.4): the longest period (initial count
   0xFFFFFFFF, divide by 128, the largest timer_div) is exact - the expiry
   does not wrap - and a timer_div above APIC_TIMER_DIV_MAX is refused. */
START_TEST(longest_timer_period_is_exact) {
  apic_config cfg = xcfg(1);
  cfg.timing.timer_div = APIC_TIMER_DIV_MAX + 1;
  expect_create_fails(&cfg, APIC_E_CONFIG, "timer_div too large");
  cfg.timing.timer_div = UINT32_MAX;
  expect_create_fails(&cfg, APIC_E_CONFIG, "timer_div UINT32_MAX");
  cfg.timing.timer_div = APIC_TIMER_DIV_MAX;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  ck_assert_int_eq(apic_sim_run(s, 5000), APIC_RUN_IDLE);
  tu_wr(s, 0, APIC_REG_TIMER_DCR, 0xA);  /* divide by 128 */
  tu_wr(s, 0, APIC_REG_LVT_TIMER, 0x40);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 0xFFFFFFFFu);
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, 0, &st), APIC_OK);
  uint64_t want = 5000 + 0xFFFFFFFFull * 128 * APIC_TIMER_DIV_MAX;
  ck_assert_uint_eq(st.timer_next, want);
  ck_assert_uint_eq(st.timer_ccr, 0xFFFFFFFFu);
  ck_assert_uint_lt(want, APIC_CYCLE_MAX);
  apic_sim_destroy(s);
}
END_TEST

/* cpu.c: a step's cost is not cut short by wrapping 32 bits (work of
   0xFFFFFFFF cycles and a PAUSE used to cost 39 cycles). */
static int prog_long_step(apic_cpu *c, void *arg) {
  uint64_t *at = arg;
  APIC_BEGIN(c);
  apic_cpu_work(c, UINT32_MAX);
  apic_cpu_pause(c);
  APIC_YIELD(c);
  *at = apic_cpu_now(c);
  APIC_END(c);
}

START_TEST(step_cost_does_not_wrap) {
  apic_config cfg = xcfg(1);
  apic_sim *s = tu_sim(&cfg, NULL);
  uint64_t at = 0;
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_long_step, &at), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(at, (uint64_t)UINT32_MAX + cfg.timing.pause);
  apic_sim_destroy(s);
}
END_TEST

/* sim.c check_config: timing.insn 0 would let a step cost nothing, and a
   spinning program would run forever at one cycle (a hang): refused. */
START_TEST(zero_insn_time_is_config_error) {
  apic_config cfg = xcfg(1);
  cfg.timing.insn = 0;
  expect_create_fails(&cfg, APIC_E_CONFIG, "insn 0");
  char why[128] = "";
  apic_sim *s = NULL;
  apic_sim_create(&s, &cfg, why, sizeof why);
  ck_assert_ptr_nonnull(strstr(why, "timing.insn"));
}
END_TEST

/* apic_config_default with a NULL config does nothing (no crash). */
START_TEST(config_default_null_is_harmless) {
  apic_config_default(NULL, 4);
}
END_TEST

/* api.c apic_sim_pending/ack/nmi_return are the embedded host's calls: on
   a core that runs a guest program they would take interrupts from under
   the core model (an ISR bit no handler ends), so they are APIC_E_STATE. */
START_TEST(embedded_calls_on_a_program_core_are_state_errors) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_set_program(s, 1, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_lapic_write(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF), APIC_OK);
  apic_lapic_state before, after;
  ck_assert_int_eq(apic_lapic_state_get(s, 1, &before), APIC_OK);
  apic_intr_kind k;
  uint8_t v;
  expect_err(s, apic_sim_ack(s, 1, APIC_INTR_FIXED, &v), APIC_E_STATE, "cpu 1 runs a guest program",
             "ack");
  expect_err(s, apic_sim_nmi_return(s, 1), APIC_E_STATE, "cpu 1", "nmi_return");
  ck_assert_int_eq(apic_lapic_state_get(s, 1, &after), APIC_OK);
  ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
  /* pending only reads: allowed on any core */
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(apic_sim_ack(s, 0, APIC_INTR_FIXED, &v), APIC_OK);  /* embedded core */
  apic_sim_destroy(s);
}
END_TEST

/* ---- the tool-side objects: NULL and out-of-range arguments ---- */

/* trace.h, stats.h, programs.h: a NULL object or out pointer, a cpu past
   the collector's cores, a stage or vector that does not exist are errors
   or no-ops, never a crash. These used to crash: apic_trace_now(NULL),
   apic_latency_event(l, NULL), apic_latency_summary(NULL, ...) and with a
   NULL out, apic_latency_bus_busy(NULL), apic_args_init/free(NULL),
   apic_args_set_int(NULL, ...), apic_args_set_cpus with a NULL list,
   apic_args_complete(NULL), apic_trace_writer_error/stats_get(NULL);
   apic_trace_info_get(NULL) returned a pointer near 0. */
START_TEST(tool_calls_refuse_null_and_range) {
  ck_assert_ptr_null(apic_trace_info_get(NULL));
  ck_assert_uint_eq(apic_trace_now(NULL), 0);
  /* latency */
  apic_latency *l = apic_latency_new(2);
  ck_assert_ptr_nonnull(l);
  apic_event ev = {0};
  ev.kind = APIC_EV_IRR_SET;
  ev.cpu = 7;
  apic_latency_event(l, NULL);
  apic_latency_event(NULL, &ev);
  apic_latency_event(l, &ev);  /* a cpu it does not count: ignored */
  apic_lat_summary m = {1, 2, 3, 4, 5}, keep = m;
  ck_assert_int_eq(apic_latency_summary(NULL, APIC_LAT_IRR, APIC_NONE, -1, &m), APIC_E_ARG);
  ck_assert_int_eq(apic_latency_summary(l, APIC_LAT_IRR, APIC_NONE, -1, NULL), APIC_E_ARG);
  ck_assert_int_eq(apic_latency_summary(l, (apic_lat_stage)9, APIC_NONE, -1, &m), APIC_E_ARG);
  ck_assert_int_eq(apic_latency_summary(l, APIC_LAT_IRR, APIC_NONE, 256, &m), APIC_E_ARG);
  ck_assert_int_eq(apic_latency_summary(l, APIC_LAT_IRR, 2, -1, &m), APIC_E_CPU);
  ck_assert_int_eq(memcmp(&m, &keep, sizeof m), 0);
  ck_assert_int_eq(apic_latency_summary(l, APIC_LAT_HANDLER, 1, 0xFB, &m), APIC_OK);
  ck_assert_uint_eq(m.count, 0);
  ck_assert_uint_eq(apic_latency_bus_busy(NULL), 0);
  apic_latency_free(l);
  /* program arguments */
  char why[256] = "";
  apic_args_init(NULL, apic_prog_find("idle"));
  apic_args_free(NULL);
  apic_args a;
  apic_args_init(&a, NULL);
  ck_assert_int_eq(apic_args_set_int(&a, "vector", 1, why, sizeof why), APIC_E_ARG);
  ck_assert_ptr_nonnull(strstr(why, "not set up"));
  ck_assert_int_eq(apic_args_set_int(NULL, "vector", 1, why, sizeof why), APIC_E_ARG);
  ck_assert_ptr_nonnull(strstr(why, "NULL"));
  ck_assert_int_eq(apic_args_complete(NULL, why, sizeof why), APIC_E_ARG);
  ck_assert_int_eq(apic_args_complete(&a, why, sizeof why), APIC_E_ARG);
  ck_assert_int_eq(apic_args_int(NULL, "vector"), 0);
  apic_args_free(&a);
  unsigned np = 0;
  const apic_prog_def *const *all = apic_prog_all(&np);
  for (unsigned p = 0; p < np; p++)
    for (unsigned i = 0; i < all[p]->nargs; i++) {
      apic_args_init(&a, all[p]);
      const char *name = all[p]->args[i].name;
      if (all[p]->args[i].type == APIC_ARG_CPUS) {
        ck_assert_int_eq(apic_args_set_cpus(&a, name, NULL, 3, 4, why, sizeof why), APIC_E_ARG);
        ck_assert_msg(strstr(why, name) && strstr(why, "NULL"), "%s", why);
      }
      if (all[p]->args[i].type == APIC_ARG_STRING) {
        ck_assert_int_eq(apic_args_set_str(&a, name, NULL, why, sizeof why), APIC_E_ARG);
        ck_assert_msg(strstr(why, name) && strstr(why, "NULL"), "%s", why);
      }
      apic_args_free(&a);
    }
  /* trace writer */
  const char *msg = NULL;
  ck_assert_int_eq(apic_trace_writer_error(NULL, &msg), APIC_E_ARG);
  ck_assert_str_eq(msg, "writer is NULL");
  apic_trace_writer_stats ws;
  memset(&ws, 0xAA, sizeof ws);
  apic_trace_writer_stats_get(NULL, &ws);
  ck_assert_uint_eq(ws.records, 0);
  ck_assert_int_eq(apic_trace_writer_close(NULL), APIC_E_ARG);
}
END_TEST

/* sim.c apic_sim_destroy before apic_trace_writer_close: the close used to
   reach into the freed machine (use after free under ASan); it now
   finishes the file, which a reader opens whole. */
START_TEST(writer_closed_after_its_machine_is_destroyed) {
  char path[] = "/tmp/apicsim-test-orphan-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_trace_writer *w = NULL;
  char why[256] = "";
  ck_assert_msg(apic_trace_writer_open(&w, s, path, NULL, why, sizeof why) == APIC_OK, "%s", why);
  ck_assert_int_eq(apic_sim_set_program(s, 0, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  apic_sim_destroy(s);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_trace *t = NULL;
  ck_assert_msg(apic_trace_open(&t, path, why, sizeof why) == APIC_OK, "%s", why);
  ck_assert_int_eq(apic_trace_info_get(t)->cut, 0);
  ck_assert_uint_gt(apic_trace_info_get(t)->records, 0);
  apic_trace_close(t);
  unlink(path);
}
END_TEST

/* A hook that destroys its own machine: refused, the run goes on. */
static void destroying_hook(void *ud, const apic_event *ev) {
  (void)ev;
  apic_sim_destroy(ud);
}

START_TEST(destroy_from_inside_a_hook_is_ignored) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_add_hook(s, destroying_hook, NULL, s), APIC_OK);
  ck_assert_int_eq(apic_sim_set_program(s, 0, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  ck_assert_ptr_nonnull(strstr(apic_sim_errmsg(s), "apic_sim_destroy called from inside"));
  ck_assert_int_eq(apic_sim_remove_hook(s, destroying_hook, s), APIC_OK);
  apic_sim_destroy(s);
}
END_TEST

/* sim.c run_loop: a quiet callback that asks for the next quiet point
   (apic_sim_request_quiet from inside it) used to be called again at once,
   for ever, with no event in between: apic_sim_run hung. The request now
   waits for the next event. */
typedef struct requeue { uint64_t quiet, events; } requeue;
static void requeue_hook(void *ud, const apic_event *ev) {
  (void)ev;
  ((requeue *)ud)->events++;
}
static void requeue_quiet(void *ud, apic_sim *s) {
  ((requeue *)ud)->quiet++;
  apic_sim_request_quiet(s);
}

START_TEST(quiet_callback_asking_again_does_not_hang) {
  apic_config cfg = xcfg(2);
  apic_sim *s = tu_sim(&cfg, NULL);
  requeue r = {0, 0};
  ck_assert_int_eq(apic_sim_add_hook(s, requeue_hook, requeue_quiet, &r), APIC_OK);
  apic_sim_request_quiet(s);
  ck_assert_int_eq(apic_sim_set_program(s, 0, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_set_program(s, 1, tu_prog_idle, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, 100000), APIC_RUN_IDLE);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_gt(r.quiet, 1);
  ck_assert_uint_le(r.quiet, st.events + 1);  /* at most one per event, and the start */
  apic_sim_destroy(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("create");
  tcase_add_test(tc, create_null_arguments);
  tcase_add_test(tc, create_version_mismatch);
  tcase_add_test(tc, create_core_counts);
  tcase_add_test(tc, create_max_cores_x2apic);
  tcase_add_test(tc, create_bad_ioapics);
  tcase_add_test(tc, create_bad_bus_model_topology);
  suite_add_tcase(s, tc);
  tc = tcase_create("calls");
  tcase_add_test(tc, bad_cpu_on_every_per_cpu_call);
  tcase_add_test(tc, null_pointers_are_arg_errors);
  tcase_add_test(tc, misaligned_and_out_of_page_offsets);
  tcase_add_test(tc, ioapic_and_pin_checks);
  tcase_add_test(tc, set_program_twice_is_state_error);
  tcase_add_test(tc, ack_of_nothing_pending_is_state_error);
  tcase_add_test(tc, hook_limits_and_misuse);
  tcase_add_test(tc, quiet_callback_may_send_ipis);
  tcase_add_test(tc, set_hook_replaces_only_its_own);
  tcase_add_test(tc, hooks_cannot_change_the_list_from_inside_a_hook);
  tcase_add_test(tc, quiet_callback_asking_again_does_not_hang);
  tcase_add_test(tc, config_default_null_is_harmless);
  tcase_add_test(tc, tool_calls_refuse_null_and_range);
  tcase_add_test(tc, writer_closed_after_its_machine_is_destroyed);
  tcase_add_test(tc, destroy_from_inside_a_hook_is_ignored);
  tcase_add_test(tc, embedded_calls_on_a_program_core_are_state_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("time");
  tcase_add_test(tc, run_until_past_cycle_max_is_time_error);
  tcase_add_test(tc, message_at_end_of_time_does_not_wrap);
  tcase_add_test(tc, pin_change_past_cycle_max_is_time_error);
  tcase_add_test(tc, tsc_deadline_at_uint64_max_never_fires);
  tcase_add_test(tc, longest_timer_period_is_exact);
  tcase_add_test(tc, step_cost_does_not_wrap);
  tcase_add_test(tc, zero_insn_time_is_config_error);
  suite_add_tcase(s, tc);
  tc = tcase_create("names");
  tcase_add_test(tc, strerror_and_err_name_for_every_code);
  tcase_add_test(tc, event_name_for_every_kind);
  suite_add_tcase(s, tc);
  tc = tcase_create("fuzz");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, fuzz_register_writes_xapic);
  tcase_add_test(tc, fuzz_register_writes_x2apic_mesh);
  tcase_add_test(tc, fuzz_register_writes_p6);
  suite_add_tcase(s, tc);
  tc = tcase_create("alloc");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, create_fails_cleanly_at_every_allocation);
  tcase_add_test(tc, nomem_during_run_is_reported);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
