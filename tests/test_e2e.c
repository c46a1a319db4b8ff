/*
 * test_e2e.c - end-to-end scenarios: guest programs on several cores, the
 * interconnect, the I/O APIC and the local APICs together, as an operating
 * system drives them (Linux send_IPI_mask, broadcast shorthands, a
 * level-triggered device, lowest-priority routing, x2APIC cluster
 * addressing), plus run-to-run determinism and the timing calibration point
 * of docs/TIMING.md.
 */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* ---- helpers ---- */

static int ev_match(const apic_event *e, uint32_t kind, uint32_t cpu, int vector) {
  return e->kind == kind && (cpu == APIC_NONE || e->cpu == cpu) &&
         (vector < 0 || e->vector == (uint8_t)vector);
}

static const apic_event *nth(const tu_log *log, uint32_t kind, uint32_t cpu, int vector,
                             size_t n) {
  for (size_t i = 0; i < log->n; i++)
    if (ev_match(&log->ev[i], kind, cpu, vector) && n-- == 0) return &log->ev[i];
  ck_abort_msg("no event %s #%zu on cpu %u vector %d", apic_event_name(kind), n, cpu, vector);
  return NULL;
}

static size_t pos(const tu_log *log, const apic_event *e) { return (size_t)(e - log->ev); }

/* A machine of n cores on a bus; the p6 bus needs the P6 model. */
static apic_config bus_config(uint32_t n, apic_bus_kind bus) {
  apic_config cfg = tu_config(n, bus, bus == APIC_BUS_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (bus == APIC_BUS_MESH) cfg.sockets = n % 2 ? 1 : 2;
  return cfg;
}

static const char *bus_name(apic_bus_kind b) {
  return b == APIC_BUS_P6 ? "p6" : b == APIC_BUS_MESH ? "mesh" : "xapic";
}

static int run_all(apic_sim *s) {
  int rc = apic_sim_run(s, UINT64_MAX);
  ck_assert_msg(rc >= 0, "apic_sim_run: %s (%s)", apic_err_name(rc), apic_sim_errmsg(s));
  return rc;
}

static void host_ipi(apic_sim *s, uint32_t from, uint32_t dest, uint32_t lo) {
  tu_wr(s, from, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
  tu_wr(s, from, APIC_REG_ICR_LO, lo);
}

static int *new_counts(uint32_t ncpus) {
  int *c = calloc((size_t)ncpus * 256, sizeof *c);
  ck_assert_ptr_nonnull(c);
  return c;
}

/* ---- (a) Linux send_IPI_mask ---- */

typedef struct mask_arg {
  uint32_t targets[8];
  uint32_t n;
  uint8_t vector;
  uint64_t done_at;
} mask_arg;

/* arch/x86/kernel/apic/ipi.c __default_send_IPI_dest_field for each target:
   wait for ICR idle, ICR2 = dest << 24, ICR = vector (fixed, physical). */
static int prog_send_ipi_mask(apic_cpu *c, void *arg) {
  mask_arg *m = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < m->n; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);
    APIC_WRITE(c, APIC_REG_ICR_HI, m->targets[APIC_L(c, 0)] << APIC_ICR_DEST_SHIFT);
    APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(m->vector, APIC_DM_FIXED, 0));
  }
  APIC_SPIN_ICR_IDLE(c);
  m->done_at = apic_cpu_now(c);
  APIC_END(c);
}

/* SDM 10.6.1 (ICR, delivery status) and 10.6.2.1 (physical destination):
   core 0 sends vector 0xFB to cores 1, 2, 3 one after another; each handler
   runs exactly once, and each ICR write waits for the previous message to
   have left (delivery status idle). */
START_TEST(linux_send_ipi_mask) {
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
  for (int b = 0; b < 3; b++) {
    apic_config cfg = bus_config(4, buses[b]);
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    int *counts = new_counts(4);
    apic_sim_set_handler(s, APIC_NONE, 0xFB, tu_handler_count, counts);
    mask_arg m = {{1, 2, 3}, 3, 0xFB, 0};
    apic_sim_set_program(s, 0, prog_send_ipi_mask, &m);
    for (uint32_t i = 1; i < 4; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
    ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
    for (uint32_t i = 0; i < 4; i++)
      ck_assert_msg(counts[i * 256 + 0xFB] == (i ? 1 : 0), "%s: cpu %u ran %d times",
                    bus_name(buses[b]), i, counts[i * 256 + 0xFB]);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_ICR_WRITE, 0, 0xFB), 3);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_DONE, 0, 0xFB), 3);
    for (size_t k = 0; k < 3; k++) {
      const apic_event *w = nth(&log, APIC_EV_ICR_WRITE, 0, 0xFB, k);
      ck_assert_uint_eq(w->dest, k + 1);
      if (k) ck_assert_uint_gt(w->cycle, nth(&log, APIC_EV_MSG_DONE, 0, 0xFB, k - 1)->cycle);
      ck_assert_uint_gt(pos(&log, nth(&log, APIC_EV_IRR_SET, (uint32_t)k + 1, 0xFB, 0)),
                        pos(&log, w));
    }
    /* the final wait returns after the last message left */
    ck_assert_uint_ge(m.done_at, nth(&log, APIC_EV_MSG_DONE, 0, 0xFB, 2)->cycle);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_PROGRAM_DONE, 0, -1), 1);
    apic_lapic_state st;
    apic_lapic_state_get(s, 0, &st);
    ck_assert_uint_eq(st.icr_lo & APIC_ICR_DS, 0);
    free(counts);
    apic_sim_destroy(s);
    tu_log_free(&log);
  }
}
END_TEST

/* ---- (b) all-excluding-self ---- */

typedef struct bcast_arg { uint32_t lo; } bcast_arg;

static int prog_send_shorthand(apic_cpu *c, void *arg) {
  bcast_arg *a = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_WORK(c, 100);
  APIC_WRITE(c, APIC_REG_ICR_LO, a->lo);
  APIC_SPIN_ICR_IDLE(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* SDM 10.6.1 destination shorthand 11 "All Excluding Self": one ICR write
   reaches every other APIC on 8 cores; the sender's own handler never runs. */
START_TEST(all_excluding_self_broadcast) {
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
  for (int b = 0; b < 3; b++) {
    apic_config cfg = bus_config(8, buses[b]);
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    int *counts = new_counts(8);
    apic_sim_set_handler(s, APIC_NONE, 0xFC, tu_handler_count, counts);
    bcast_arg a = {APIC_ICR_LO(0xFC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS))};
    for (uint32_t i = 0; i < 8; i++)
      apic_sim_set_program(s, i, i == 3 ? prog_send_shorthand : tu_prog_idle, &a);
    ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
    for (uint32_t i = 0; i < 8; i++)
      ck_assert_msg(counts[i * 256 + 0xFC] == (i == 3 ? 0 : 1), "%s: cpu %u ran %d times",
                    bus_name(buses[b]), i, counts[i * 256 + 0xFC]);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, 0xFC), 1);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, 0xFC), 7);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 3, 0xFC), 0);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_ENTER, APIC_NONE, 0xFC), 7);
    free(counts);
    apic_sim_destroy(s);
    tu_log_free(&log);
  }
}
END_TEST

/* ---- (c) level-triggered device on the I/O APIC ---- */

typedef struct device {
  uint32_t pin;
  int deassert_on_run;  /* the run of the handler that acknowledges the device */
  int runs;
  int rirr_in_handler;  /* remote IRR seen set while the handler ran */
  int tmr_in_handler;   /* TMR bit seen set (level) while the handler ran */
} device;

/* The driver's handler: reads the device status (it is still asserting),
   acknowledges the device on the run given (the line drops), then EOI. */
static int h_level_device(apic_cpu *c, void *arg) {
  device *d = arg;
  APIC_BEGIN(c);
  d->runs++;
  {
    apic_sim *s = apic_cpu_sim(c);
    uint64_t rte = 0;
    apic_lapic_state st;
    ck_assert_int_eq(apic_ioapic_rte_get(s, 0, d->pin, &rte), APIC_OK);
    ck_assert_int_eq(apic_lapic_state_get(s, apic_cpu_index(c), &st), APIC_OK);
    d->rirr_in_handler += (rte & APIC_RTE_REMOTE_IRR) != 0;
    d->tmr_in_handler += tu_vec(st.tmr, apic_cpu_vector(c));
    if (d->runs == d->deassert_on_run)
      ck_assert_int_eq(apic_ioapic_set_pin(s, 0, d->pin, 0), APIC_OK);
  }
  APIC_WORK(c, 50);  /* the device register access */
  APIC_EOI(c);
  APIC_END(c);
}

static void level_device_run(apic_bus_kind bus, int runs) {
  apic_config cfg = bus_config(4, bus);
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  device d = {9, runs, 0, 0, 0};
  apic_sim_set_handler(s, 1, 0x61, h_level_device, &d);
  for (uint32_t i = 0; i < 4; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  uint64_t rte = 0x61 | ((uint64_t)APIC_DM_FIXED << APIC_RTE_DM_SHIFT) | APIC_RTE_TRIGGER |
                 ((uint64_t)1 << APIC_RTE_DEST_SHIFT);  /* level, active high, physical 1 */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 9, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 9, 1, 1000), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const char *bn = bus_name(bus);
  ck_assert_msg(d.runs == runs, "%s: handler ran %d times, want %d", bn, d.runs, runs);
  ck_assert_int_eq(d.rirr_in_handler, runs);
  ck_assert_int_eq(d.tmr_in_handler, runs);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, 0x61), (size_t)runs);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, -1), (size_t)runs);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, -1), (size_t)runs);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI_MSG, 1, 0x61), (size_t)runs);
  for (size_t k = 0; k < (size_t)runs; k++) {
    const apic_event *set = nth(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, -1, k);
    const apic_event *irr = nth(&log, APIC_EV_IRR_SET, 1, 0x61, k);
    const apic_event *ent = nth(&log, APIC_EV_HANDLER_ENTER, 1, 0x61, k);
    const apic_event *eoi = nth(&log, APIC_EV_EOI_MSG, 1, 0x61, k);
    const apic_event *clr = nth(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, -1, k);
    ck_assert_uint_eq(set->a, 9);
    ck_assert_uint_eq(clr->a, 9);
    ck_assert_uint_eq(irr->a, 1);  /* TMR: level */
    ck_assert_uint_lt(pos(&log, set), pos(&log, ent));
    ck_assert_uint_lt(pos(&log, ent), pos(&log, eoi));
    ck_assert_uint_lt(pos(&log, eoi), pos(&log, clr));
    if (k + 1 < (size_t)runs)  /* still asserted: re-sent after the EOI */
      ck_assert_uint_gt(pos(&log, nth(&log, APIC_EV_IRR_SET, 1, 0x61, k + 1)), pos(&log, clr));
  }
  uint64_t now_rte = 0;
  apic_ioapic_rte_get(s, 0, 9, &now_rte);
  ck_assert_uint_eq(now_rte & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), 0);
  apic_lapic_state st;
  apic_lapic_state_get(s, 1, &st);
  ck_assert_int_eq(tu_vec(st.isr, 0x61) | tu_vec(st.irr, 0x61), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}

/* 82093AA 3.2.4 remote IRR + SDM 10.8.5 EOI: a level interrupt sets remote
   IRR when accepted, the handler quiets the device, the EOI message clears
   remote IRR; exactly one delivery. */
START_TEST(level_ioapic_line_acked_in_handler_delivers_once) {
  level_device_run(APIC_BUS_XAPIC, 1);
  level_device_run(APIC_BUS_P6, 1);
  level_device_run(APIC_BUS_MESH, 1);
}
END_TEST

/* 82093AA 3.2.4: a line still asserted when the EOI clears remote IRR is
   sent again; here the device needs two handler runs. */
START_TEST(level_ioapic_line_still_asserted_is_resent_after_eoi) {
  level_device_run(APIC_BUS_XAPIC, 2);
  level_device_run(APIC_BUS_P6, 2);
  level_device_run(APIC_BUS_MESH, 2);
}
END_TEST

/* ---- (d) lowest priority ---- */

static void lowest_priority_run(apic_bus_kind bus, const uint32_t tpr[4], uint32_t want) {
  apic_config cfg = bus_config(6, bus);
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int *counts = new_counts(6);
  apic_sim_set_handler(s, APIC_NONE, 0x70, tu_handler_count, counts);
  apic_sim_set_handler(s, APIC_NONE, 0x71, tu_handler_count, counts);
  for (uint32_t i = 0; i < 5; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  for (uint32_t i = 0; i < 4; i++) {  /* flat logical model, LDR bit i */
    tu_wr(s, i, APIC_REG_DFR, APIC_DFR_FLAT);
    tu_wr(s, i, APIC_REG_LDR, 1u << (24 + i));
    tu_wr(s, i, APIC_REG_TPR, tpr[i]);
  }
  tu_wr(s, 4, APIC_REG_LDR, 1u << 28);  /* not in the set */
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  /* an IPI from core 5 ... */
  host_ipi(s, 5, 0x0F, APIC_ICR_LO(0x70, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  /* ... and an I/O APIC line routed lowest priority to the same set */
  uint64_t rte = 0x71 | ((uint64_t)APIC_DM_LOWEST << APIC_RTE_DM_SHIFT) | APIC_RTE_DESTMODE |
                 ((uint64_t)0x0F << APIC_RTE_DEST_SHIFT);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 4, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 4, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  for (uint32_t i = 0; i < 6; i++) {
    ck_assert_msg(counts[i * 256 + 0x70] == (i == want), "%s: IPI cpu %u ran %d times",
                  bus_name(bus), i, counts[i * 256 + 0x70]);
    ck_assert_msg(counts[i * 256 + 0x71] == (i == want), "%s: I/O APIC cpu %u ran %d times",
                  bus_name(bus), i, counts[i * 256 + 0x71]);
  }
  free(counts);
  apic_sim_destroy(s);
  tu_log_free(&log);
}

/* SDM 10.6.2.4: lowest-priority delivery to the logical set {0,1,2,3} goes to
   the APIC with the lowest arbitration priority - here the lowest TPR. */
START_TEST(lowest_priority_goes_to_lowest_tpr) {
  static const uint32_t core2_low[4] = {0x40, 0x30, 0x10, 0x50};
  static const uint32_t core0_low[4] = {0x20, 0x60, 0x30, 0x50};
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
  for (int b = 0; b < 3; b++) {
    lowest_priority_run(buses[b], core2_low, 2);
    lowest_priority_run(buses[b], core0_low, 0);
  }
}
END_TEST

/* ---- logical destinations on the P6 bus ---- */

typedef struct logical_arg { uint32_t dest; uint8_t vector; } logical_arg;

static int prog_logical_send(apic_cpu *c, void *arg) {
  logical_arg *a = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_WORK(c, 100);
  apic_cpu_send_ipi(c, a->dest, APIC_ICR_LO(a->vector, APIC_DM_FIXED, APIC_ICR_DESTMODE));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* SDM 10.6.1 Destination Field: on P6 only a *physical* destination is 4 bits
   (56-59); a logical one is the full 8-bit MDA matched against the LDR
   (10.6.2.2), so logical 0xF0 reaches the flat-model APICs with LDR bits 4-7
   and cluster 0x21 reaches member 0 of cluster 2. */
START_TEST(p6_logical_destination_is_8_bits) {
  for (int cluster = 0; cluster < 2; cluster++) {
    apic_config cfg = bus_config(8, APIC_BUS_P6);
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    int *counts = new_counts(8);
    apic_sim_set_handler(s, APIC_NONE, 0x81, tu_handler_count, counts);
    logical_arg a = {cluster ? 0x21u : 0xF0u, 0x81};
    for (uint32_t i = 0; i < 8; i++) {
      apic_sim_set_program(s, i, i == 0 ? prog_logical_send : tu_prog_idle, &a);
      /* flat: LDR bit i; cluster: cluster i / 4 + 1, member bit i % 4 */
      uint32_t ldr = cluster ? (((i / 4 + 1) << 4) | (1u << (i % 4))) : 1u << i;
      tu_wr(s, i, APIC_REG_DFR, cluster ? APIC_DFR_CLUSTER : APIC_DFR_FLAT);
      tu_wr(s, i, APIC_REG_LDR, ldr << 24);
    }
    ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
    ck_assert_uint_eq(nth(&log, APIC_EV_ICR_WRITE, 0, 0x81, 0)->dest, a.dest);
    for (uint32_t i = 0; i < 8; i++) {
      int want = cluster ? i == 4 : i >= 4;
      ck_assert_msg(counts[i * 256 + 0x81] == want, "%s: cpu %u ran %d times",
                    cluster ? "cluster" : "flat", i, counts[i * 256 + 0x81]);
    }
    ck_assert_uint_eq(tu_count(&log, APIC_EV_ESR_ERROR, APIC_NONE, -1), 0);
    free(counts);
    apic_sim_destroy(s);
    tu_log_free(&log);
  }
}
END_TEST

/* ---- (e) x2APIC cluster addressing ---- */

typedef struct x2_arg { uint32_t dest; } x2_arg;

static int prog_x2_send(apic_cpu *c, void *arg) {
  x2_arg *a = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  apic_cpu_send_ipi(c, a->dest, APIC_ICR_LO(0xFB, APIC_DM_FIXED, APIC_ICR_DESTMODE));
  APIC_YIELD(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* SDM 10.12.10.2: in x2APIC logical mode LDR = cluster (ID[19:4]) << 16 |
   1 << ID[3:0]; a destination of cluster 2, members {0,3,5} reaches exactly
   x2APIC IDs 32, 35 and 37 on a 96-core machine. */
START_TEST(x2apic_cluster_addressing_96_cores) {
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_MESH};
  for (int b = 0; b < 2; b++) {
    apic_config cfg = bus_config(96, buses[b]);
    cfg.x2apic = 1;
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    int *counts = new_counts(96);
    apic_sim_set_handler(s, APIC_NONE, 0xFB, tu_handler_count, counts);
    x2_arg a = {(2u << 16) | (1u << 0) | (1u << 3) | (1u << 5)};
    for (uint32_t i = 0; i < 96; i++)
      apic_sim_set_program(s, i, i == 90 ? prog_x2_send : tu_prog_idle, &a);
    ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
    for (uint32_t i = 0; i < 96; i++) {
      int want = i == 32 || i == 35 || i == 37;
      ck_assert_msg(counts[i * 256 + 0xFB] == want, "%s: cpu %u ran %d times",
                    bus_name(buses[b]), i, counts[i * 256 + 0xFB]);
    }
    apic_lapic_state st;
    apic_lapic_state_get(s, 35, &st);
    ck_assert_uint_eq(st.x2apic, 1);
    ck_assert_uint_eq(st.id, 35);
    ck_assert_uint_eq(st.ldr, (2u << 16) | (1u << 3));
    ck_assert_uint_eq(nth(&log, APIC_EV_ICR_WRITE, 90, 0xFB, 0)->dest, a.dest);
    ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, 0xFB), 3);
    free(counts);
    apic_sim_destroy(s);
    tu_log_free(&log);
  }
}
END_TEST

/* ---- (f) determinism ---- */

typedef struct chatter { uint32_t ncpus; uint32_t logical_all; } chatter;

/* Each core pings its neighbour five times, with work between, then sends a
   lowest-priority interrupt to every core and halts. */
static int prog_chatter(apic_cpu *c, void *arg) {
  chatter *ch = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WRITE(c, APIC_REG_LDR, 1u << (24 + me));
  APIC_WRITE(c, APIC_REG_TPR, (me * 0x10) & 0x30);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 5; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);
    apic_cpu_send_ipi(c, (me + 1) % ch->ncpus,
                      APIC_ICR_LO(0x40 + 0x10 * (me % 4), APIC_DM_FIXED, 0));
    APIC_YIELD(c);
    APIC_WORK(c, 13 + 37 * me + 11 * (uint32_t)APIC_L(c, 0));
  }
  APIC_SPIN_ICR_IDLE(c);
  apic_cpu_send_ipi(c, ch->logical_all,
                    APIC_ICR_LO(0x90, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  APIC_YIELD(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* Handler with work between STI and EOI, so that nesting happens. */
static int h_nest_count(apic_cpu *c, void *arg) {
  int *counts = arg;
  APIC_BEGIN(c);
  counts[apic_cpu_index(c) * 256 + apic_cpu_vector(c)]++;
  APIC_STI(c);
  APIC_WORK(c, 300);
  APIC_EOI(c);
  APIC_END(c);
}

typedef struct outcome {
  tu_log log;
  apic_lapic_state st[8];
  apic_stats stats;
  uint64_t rte[24];
  uint64_t now;
  int counts[8 * 256];
} outcome;

static void scenario(apic_bus_kind bus, outcome *o) {
  const uint32_t n = 6;
  apic_config cfg = bus_config(n, bus);
  apic_sim *s = tu_sim(&cfg, &o->log);
  chatter ch = {n, 0xFF};
  for (uint32_t v = 0x40; v <= 0x90; v += 0x10)
    apic_sim_set_handler(s, APIC_NONE, (uint8_t)v, h_nest_count, o->counts);
  apic_sim_set_handler(s, APIC_NONE, 0xA0, tu_handler_count, o->counts);
  apic_sim_set_handler(s, APIC_NONE, 0xB0, tu_handler_count, o->counts);
  for (uint32_t i = 0; i < n; i++) apic_sim_set_program(s, i, prog_chatter, &ch);
  /* an edge line to core 2 toggling, and a level line lowest priority */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 1, 0xA0 | ((uint64_t)2 << APIC_RTE_DEST_SHIFT)),
                   APIC_OK);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 2, 0xB0 | ((uint64_t)APIC_DM_LOWEST <<
                   APIC_RTE_DM_SHIFT) | APIC_RTE_DESTMODE | APIC_RTE_TRIGGER |
                   ((uint64_t)0xFF << APIC_RTE_DEST_SHIFT)), APIC_OK);
  for (uint64_t k = 0; k < 10; k++) {
    ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 1, (int)(k & 1), 500 + 700 * k), APIC_OK);
  }
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 2, 1, 900), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 2, 0, 4000), APIC_OK);
  /* a periodic timer on core 1 */
  tu_wr(s, 1, APIC_REG_TIMER_DCR, 0xB);  /* divide by 1 */
  ck_assert_int_eq(apic_sim_run(s, 50), APIC_RUN_LIMIT);
  tu_wr(s, 1, APIC_REG_LVT_TIMER, 0xA0 | (APIC_TIMER_PERIODIC << APIC_LVT_TIMER_SHIFT));
  tu_wr(s, 1, APIC_REG_TIMER_ICR, 2500);
  ck_assert_int_eq(apic_sim_run(s, 40000), APIC_RUN_LIMIT);
  for (uint32_t i = 0; i < n; i++) ck_assert_int_eq(apic_lapic_state_get(s, i, &o->st[i]), 0);
  for (uint32_t p = 0; p < 24; p++) apic_ioapic_rte_get(s, 0, p, &o->rte[p]);
  apic_sim_stats(s, &o->stats);
  o->now = apic_sim_now(s);
  apic_sim_destroy(s);
}

static int same_event(const apic_event *a, const apic_event *b) {
  return a->cycle == b->cycle && a->msg == b->msg && a->kind == b->kind && a->cpu == b->cpu &&
         a->src == b->src && a->dest == b->dest && a->flags == b->flags &&
         a->vector == b->vector && a->mode == b->mode && a->a == b->a && a->b == b->b &&
         a->x == b->x;
}

/* docs/ENGINE.md "Tie-break rule": the same configuration, programs and
   stimulus give the same event sequence and the same final state. */
START_TEST(same_run_twice_is_identical) {
  static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
  for (int b = 0; b < 3; b++) {
    outcome *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    scenario(buses[b], x);
    scenario(buses[b], y);
    const char *bn = bus_name(buses[b]);
    /* the scenario did something worth comparing */
    ck_assert_msg(x->log.n > 500, "%s: only %zu events", bn, x->log.n);
    ck_assert_uint_ge(tu_count(&x->log, APIC_EV_TIMER_FIRE, 1, -1), 10);
    ck_assert_uint_gt(tu_count(&x->log, APIC_EV_HANDLER_ENTER, APIC_NONE, 0x90), 0);
    ck_assert_uint_gt(tu_count(&x->log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, -1), 0);
    size_t nested = 0;
    for (size_t i = 0; i < x->log.n; i++)
      nested += x->log.ev[i].kind == APIC_EV_HANDLER_ENTER && x->log.ev[i].a > 0;
    ck_assert_msg(nested > 0, "%s: no nested handler", bn);
    ck_assert_uint_eq(x->log.n, y->log.n);
    for (size_t i = 0; i < x->log.n; i++)
      ck_assert_msg(same_event(&x->log.ev[i], &y->log.ev[i]), "%s: event %zu differs: %s@%llu "
                    "vs %s@%llu", bn, i, apic_event_name(x->log.ev[i].kind),
                    (unsigned long long)x->log.ev[i].cycle, apic_event_name(y->log.ev[i].kind),
                    (unsigned long long)y->log.ev[i].cycle);
    for (int i = 0; i < 6; i++)
      ck_assert_msg(memcmp(&x->st[i], &y->st[i], sizeof x->st[i]) == 0, "%s: cpu %d state", bn, i);
    ck_assert_int_eq(memcmp(x->rte, y->rte, sizeof x->rte), 0);
    ck_assert_int_eq(memcmp(&x->stats, &y->stats, sizeof x->stats), 0);
    ck_assert_int_eq(memcmp(x->counts, y->counts, sizeof x->counts), 0);
    ck_assert_uint_eq(x->now, y->now);
    tu_log_free(&x->log);
    tu_log_free(&y->log);
    free(x);
    free(y);
  }
}
END_TEST

/* ---- (g) calibration (docs/TIMING.md) ---- */

typedef struct calib_arg { uint32_t first, second; } calib_arg;

static int prog_calib_send(apic_cpu *c, void *arg) {
  calib_arg *a = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 1000);
  apic_cpu_send_ipi(c, a->first, APIC_ICR_LO(0xEC, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  APIC_WORK(c, 5000);
  apic_cpu_send_ipi(c, a->second, APIC_ICR_LO(0xEC, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

/* A receiver busy running with IF = 1: a loop of short steps. */
static int prog_busy(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (;;) APIC_WORK(c, 7);
  APIC_END(c);
}

/* ICR write -> handler's first step, for the two IPIs core 0 sends. */
static void calib_latency(apic_config *cfg, uint32_t first, uint32_t second, uint64_t lat[2]) {
  tu_log log = {0};
  apic_sim *s = tu_sim(cfg, &log);
  int *counts = new_counts(cfg->ncpus);
  apic_sim_set_handler(s, APIC_NONE, 0xEC, tu_handler_count, counts);
  calib_arg a = {first, second};
  apic_sim_set_program(s, 0, prog_calib_send, &a);
  apic_sim_set_program(s, first, prog_busy, NULL);
  apic_sim_set_program(s, second, prog_busy, NULL);
  ck_assert_int_eq(apic_sim_run(s, 30000), APIC_RUN_LIMIT);
  ck_assert_int_eq(counts[first * 256 + 0xEC], 1);
  ck_assert_int_eq(counts[second * 256 + 0xEC], 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WAKE, APIC_NONE, -1), 0);  /* never halted */
  lat[0] = nth(&log, APIC_EV_HANDLER_ENTER, first, 0xEC, 0)->cycle -
           nth(&log, APIC_EV_ICR_WRITE, 0, 0xEC, 0)->cycle;
  lat[1] = nth(&log, APIC_EV_HANDLER_ENTER, second, 0xEC, 0)->cycle -
           nth(&log, APIC_EV_ICR_WRITE, 0, 0xEC, 1)->cycle;
  free(counts);
  apic_sim_destroy(s);
  tu_log_free(&log);
}

/* docs/TIMING.md calibration point: mesh bus, default timings, 2 sockets of 4
   cores; ICR write to the first handler step on a running core of the same
   socket is ~935 cycles (sgx-step), in [880, 990]; cross-socket 2x-3x. */
START_TEST(calibration_mesh_same_socket) {
  apic_config cfg = tu_config(8, APIC_BUS_MESH, APIC_MODEL_XAPIC);
  cfg.sockets = 2;
  uint64_t lat[2];
  calib_latency(&cfg, 1, 5, lat);  /* core 1: socket 0; core 5: socket 1 */
  ck_assert_uint_ge(lat[0], 880);
  ck_assert_uint_le(lat[0], 990);
  ck_assert_uint_ge(lat[1], 2 * lat[0]);
  ck_assert_uint_le(lat[1], 3 * lat[0]);
  /* the same from the other socket's point of view */
  calib_latency(&cfg, 6, 2, lat);  /* sender core 0 -> 6 is cross, -> 2 same */
  ck_assert_uint_ge(lat[1], 880);
  ck_assert_uint_le(lat[1], 990);
  ck_assert_uint_ge(lat[0], 2 * lat[1]);
  ck_assert_uint_le(lat[0], 3 * lat[1]);
}
END_TEST

/* docs/TIMING.md: xapic_latency is chosen so that the xapic bus matches the
   same-socket calibration point. */
START_TEST(calibration_xapic_matches_same_socket) {
  apic_config cfg = tu_config(8, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  uint64_t lat[2];
  calib_latency(&cfg, 1, 5, lat);
  for (int i = 0; i < 2; i++) {
    ck_assert_uint_ge(lat[i], 880);
    ck_assert_uint_le(lat[i], 990);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e");
  TCase *tc = tcase_create("ipi");
  tcase_add_test(tc, linux_send_ipi_mask);
  tcase_add_test(tc, all_excluding_self_broadcast);
  tcase_add_test(tc, lowest_priority_goes_to_lowest_tpr);
  tcase_add_test(tc, x2apic_cluster_addressing_96_cores);
  tcase_add_test(tc, p6_logical_destination_is_8_bits);
  suite_add_tcase(s, tc);
  tc = tcase_create("ioapic");
  tcase_add_test(tc, level_ioapic_line_acked_in_handler_delivers_once);
  tcase_add_test(tc, level_ioapic_line_still_asserted_is_resent_after_eoi);
  suite_add_tcase(s, tc);
  tc = tcase_create("determinism");
  tcase_add_test(tc, same_run_twice_is_identical);
  suite_add_tcase(s, tc);
  tc = tcase_create("calibration");
  tcase_add_test(tc, calibration_mesh_same_socket);
  tcase_add_test(tc, calibration_xapic_matches_same_socket);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
