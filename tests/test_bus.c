/*
 * test_bus.c - interconnect timing (lib/bus.c, lib/bus_p6.c, the delivery
 * half of lib/sim.c): when a message leaves its sender (ICR delivery
 * status, SDM 10.6.1), when it reaches the receivers on the xapic, mesh
 * and p6 models, the serial P6 APIC bus (SDM 10.7 arbitration, 10.13 /
 * Appendix F message lengths, retry, accept errors), and determinism.
 *
 * Every expected cycle is computed from the simulation's own config
 * (apic_sim_config()->timing), never from the documented defaults.
 * "item n" is a row of docs/SDM-CHOICES.md.
 */
#include <string.h>
#include "testutil.h"

#define VEC  0x61
#define VEC2 0x72
#define VEC3 0x83

/* P6 APIC bus message lengths in bus cycles (SDM 10.13.2 / Appendix F). */
#define P6_EOI_CYCLES    14u
#define P6_SHORT_CYCLES  21u
#define P6_LOWEST_CYCLES 34u

/* ---- helpers ---- */

static const apic_timing *timing(const apic_sim *s) { return &apic_sim_config(s)->timing; }

static apic_lapic_state lstate(apic_sim *s, uint32_t cpu) {
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, cpu, &st), APIC_OK);
  return st;
}

static int irr_has(apic_sim *s, uint32_t cpu, uint8_t v) {
  apic_lapic_state st = lstate(s, cpu);
  return tu_vec(st.irr, v);
}

static int ds_pending(apic_sim *s, uint32_t cpu) {
  return (tu_rd(s, cpu, APIC_REG_ICR_LO) & APIC_ICR_DS) != 0;
}

/* Writes the ICR of core `from` now (xAPIC MMIO); does not run. */
static void icr(apic_sim *s, uint32_t from, uint32_t dest, uint32_t lo) {
  tu_wr(s, from, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
  tu_wr(s, from, APIC_REG_ICR_LO, lo);
}

static uint32_t fixed(uint8_t v) { return APIC_ICR_LO(v, APIC_DM_FIXED, 0); }

static void run_to(apic_sim *s, uint64_t t) {
  int rc = apic_sim_run(s, t);
  ck_assert(rc == APIC_RUN_IDLE || rc == APIC_RUN_LIMIT);
  ck_assert_uint_eq(apic_sim_now(s), t);
}

static void run_idle(apic_sim *s) {
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
}

/* I/O APIC 0's ARB register (82093AA 3.2.3), through IOREGSEL/IOWIN. */
static uint32_t ioapic0_arb(apic_sim *s) {
  uint32_t arb = 0;
  ck_assert_int_eq(apic_ioapic_write(s, 0, APIC_IOAPIC_IOREGSEL, APIC_IOAPIC_ARB), APIC_OK);
  ck_assert_int_eq(apic_ioapic_read(s, 0, APIC_IOAPIC_IOWIN, &arb), APIC_OK);
  return arb;
}

static apic_stats stats(const apic_sim *s) {
  apic_stats st;
  apic_sim_stats(s, &st);
  return st;
}

/* Cycle of the first event of a kind on cpu with vector (fails if none). */
static uint64_t cycle_of(const tu_log *log, uint32_t kind, uint32_t cpu, int vector) {
  const apic_event *e = tu_find(log, kind, cpu, vector, 0);
  ck_assert_msg(e != NULL, "no %s event (cpu %u, vector %d)", apic_event_name(kind), cpu, vector);
  return e->cycle;
}

/* Events of a kind from index `from` on. */
static size_t count_kind(const tu_log *log, uint32_t kind, size_t from) {
  size_t n = 0;
  for (size_t i = from; i < log->n; i++) n += log->ev[i].kind == kind;
  return n;
}

/* The i-th event of a kind (any cpu), or NULL. */
static const apic_event *nth(const tu_log *log, uint32_t kind, size_t i) {
  for (size_t k = 0; k < log->n; k++)
    if (log->ev[k].kind == kind && i-- == 0) return &log->ev[k];
  return NULL;
}

static apic_sim *machine(apic_config *cfg, tu_log *log) {
  apic_sim *s = tu_sim(cfg, log);
  tu_enable_all(s);
  return s;
}

/* xapic machine with non-default post/latency so the test proves it reads them. */
static apic_config xapic_cfg(uint32_t n) {
  apic_config cfg = tu_config(n, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.timing.post = 37;
  cfg.timing.xapic_latency = 411;
  return cfg;
}

/* 2 sockets x 4 cores mesh with distinct latencies. */
static apic_config mesh_cfg(uint32_t threads) {
  apic_config cfg = tu_config(8, APIC_BUS_MESH, APIC_MODEL_XAPIC);
  cfg.sockets = 2;
  cfg.threads_per_core = threads;
  cfg.timing.post = 23;
  cfg.timing.mesh_same_core = 111;
  cfg.timing.mesh_same_socket = 444;
  cfg.timing.mesh_cross_socket = 1234;
  return cfg;
}

static apic_config p6_cfg(uint32_t n) {
  apic_config cfg = tu_config(n, APIC_BUS_P6, APIC_MODEL_P6);
  cfg.timing.p6_clock_div = 7;
  return cfg;
}

/* Core cycles a p6 message of `bus_cycles` occupies the bus. */
static uint64_t p6_len(const apic_sim *s, uint32_t bus_cycles) {
  return (uint64_t)bus_cycles * timing(s)->p6_clock_div;
}

/* ---- xapic (SDM 10.6.1 delivery status; docs/TIMING.md) ---- */

/* SDM 10.6.1: ICR write at t: the message leaves at t + post (delivery
   status idle then, MSG_DONE) and reaches the IRR at t + post + xapic_latency. */
START_TEST(xapic_icr_to_irr_latency) {
  tu_log log = {0};
  apic_config cfg = xapic_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  ck_assert_uint_eq(t->post, 37);
  run_to(s, 1000);
  icr(s, 0, 2, fixed(VEC));
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_ICR_WRITE, 0, VEC), 1000);
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 0, VEC), 1000 + t->post);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 2, VEC), 1000 + t->post + t->xapic_latency);
  ck_assert(irr_has(s, 2, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* Same rule with the documented defaults, whatever their values are. */
START_TEST(xapic_latency_default_config) {
  tu_log log = {0};
  apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 50);
  icr(s, 1, 0, fixed(VEC));
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 0, VEC), 50 + t->post + t->xapic_latency);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.6.1 (delivery status bit 12): "send pending" from the ICR write
   until the message has left, t + post, then idle. */
START_TEST(xapic_delivery_status_clears_at_post) {
  apic_config cfg = xapic_cfg(4);
  apic_sim *s = machine(&cfg, NULL);
  uint32_t post = timing(s)->post;
  run_to(s, 500);
  ck_assert(!ds_pending(s, 0));
  icr(s, 0, 3, fixed(VEC));
  ck_assert(ds_pending(s, 0));
  ck_assert_uint_eq(lstate(s, 0).icr_lo & APIC_ICR_DS, APIC_ICR_DS);
  run_to(s, 500 + post - 1);
  ck_assert(ds_pending(s, 0));
  run_to(s, 500 + post);
  ck_assert(!ds_pending(s, 0));
  ck_assert(!irr_has(s, 3, VEC));  /* left, not yet arrived */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO), fixed(VEC));
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.1 / docs/TIMING.md: one sender's messages leave one after
   another, post apart, and arrive in the order they were written. */
START_TEST(xapic_per_sender_order) {
  tu_log log = {0};
  apic_config cfg = xapic_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 100);
  static const uint8_t v[3] = {0x90, 0x50, 0x70};
  static const uint32_t to[3] = {1, 2, 1};
  for (int i = 0; i < 3; i++) icr(s, 0, to[i], fixed(v[i]));
  run_idle(s);
  for (int i = 0; i < 3; i++) {
    const apic_event *e = nth(&log, APIC_EV_IRR_SET, (size_t)i);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->vector, v[i]);
    ck_assert_uint_eq(e->cpu, to[i]);
    ck_assert_uint_eq(e->cycle, 100 + (uint64_t)(i + 1) * t->post + t->xapic_latency);
    const apic_event *d = nth(&log, APIC_EV_MSG_DONE, (size_t)i);
    ck_assert_uint_eq(d->vector, v[i]);
    ck_assert_uint_eq(d->cycle, 100 + (uint64_t)(i + 1) * t->post);
  }
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 11 / SDM 10.6.1: an ICR write while the previous IPI is pending
   queues behind it; delivery status stays pending until the last has left. */
START_TEST(icr_write_while_pending_queues) {
  tu_log log = {0};
  apic_config cfg = xapic_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 1000);
  icr(s, 1, 2, fixed(VEC));
  run_to(s, 1010);
  ck_assert(ds_pending(s, 1));
  icr(s, 1, 3, fixed(VEC2));
  run_to(s, 1000 + t->post);  /* first has left, second not */
  ck_assert(ds_pending(s, 1));
  run_to(s, 1000 + 2 * (uint64_t)t->post - 1);
  ck_assert(ds_pending(s, 1));
  run_to(s, 1000 + 2 * (uint64_t)t->post);
  ck_assert(!ds_pending(s, 1));
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 2, VEC), 1000 + t->post + t->xapic_latency);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC2),
                    1000 + 2 * (uint64_t)t->post + t->xapic_latency);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_DONE, 1, -1), 2);
  ck_assert_uint_eq(stats(s).messages, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (xapic): different senders travel in parallel. */
START_TEST(xapic_senders_in_parallel) {
  tu_log log = {0};
  apic_config cfg = xapic_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 200);
  icr(s, 0, 3, fixed(VEC));
  icr(s, 1, 3, fixed(VEC2));
  icr(s, 2, 3, fixed(VEC3));
  run_idle(s);
  uint64_t want = 200 + t->post + t->xapic_latency;
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC), want);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC2), want);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC3), want);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, 0);  /* only the p6 bus counts it */
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md: I/O APIC messages and EOI messages take ioapic_latency. */
START_TEST(xapic_ioapic_and_eoi_latency) {
  tu_log log = {0};
  apic_config cfg = xapic_cfg(4);
  cfg.timing.ioapic_latency = 321;
  apic_sim *s = machine(&cfg, &log);
  uint32_t lat = timing(s)->ioapic_latency;
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 2, VEC | APIC_RTE_TRIGGER |
                                       (1ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 2, 1, 700), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 1, VEC), 700 + lat);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 2, 0), APIC_OK);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_FIXED, &v), APIC_OK);
  run_to(s, 5000);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC), 5000 + lat);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- mesh ---- */

/* docs/TIMING.md (mesh): same socket vs another socket, per timing.mesh_*. */
START_TEST(mesh_same_vs_cross_socket) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(1);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 1000);
  icr(s, 0, 1, fixed(VEC));   /* socket 0 -> socket 0 */
  icr(s, 2, 5, fixed(VEC2));  /* socket 0 -> socket 1 */
  icr(s, 7, 4, fixed(VEC3));  /* socket 1 -> socket 1 */
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 1, VEC), 1000 + t->post + t->mesh_same_socket);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 5, VEC2), 1000 + t->post + t->mesh_cross_socket);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 4, VEC3), 1000 + t->post + t->mesh_same_socket);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 2, VEC2), 1000 + t->post);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (mesh): a self IPI (shorthand or own ID) uses mesh_same_core. */
START_TEST(mesh_self_uses_same_core) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(1);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 300);
  icr(s, 6, 0, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  icr(s, 3, 3, fixed(VEC2));
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 6, VEC), 300 + t->post + t->mesh_same_core);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC2), 300 + t->post + t->mesh_same_core);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (mesh): SMT siblings of one core (threads_per_core 2). */
START_TEST(mesh_smt_sibling_same_core) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(2);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 100);
  icr(s, 4, 5, fixed(VEC));   /* core 2 of socket 1: threads 4 and 5 */
  icr(s, 4, 6, fixed(VEC2));  /* another core of socket 1 */
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 5, VEC), 100 + t->post + t->mesh_same_core);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 6, VEC2),
                    100 + 2 * (uint64_t)t->post + t->mesh_same_socket);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (mesh): a broadcast arrives in waves, nearest first. */
START_TEST(mesh_broadcast_waves) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(1);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 2000);
  icr(s, 2, 0, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_ALL)));
  run_idle(s);
  uint64_t leave = 2000 + t->post;
  for (uint32_t c = 0; c < 8; c++) {
    uint64_t want = leave + (c == 2 ? t->mesh_same_core
                            : c < 4 ? t->mesh_same_socket : t->mesh_cross_socket);
    ck_assert_msg(cycle_of(&log, APIC_EV_IRR_SET, c, VEC) == want, "core %u", c);
  }
  /* IRR_SET events come out in arrival order */
  uint64_t prev = 0;
  for (size_t i = 0; i < 8; i++) {
    const apic_event *e = nth(&log, APIC_EV_IRR_SET, i);
    ck_assert_uint_ge(e->cycle, prev);
    prev = e->cycle;
  }
  ck_assert_uint_eq(nth(&log, APIC_EV_IRR_SET, 0)->cpu, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (mesh): physical broadcast 0xFF and all-excluding-self
   travel in the same waves; the excluded sender gets nothing. */
START_TEST(mesh_broadcast_all_but_self) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(1);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  run_to(s, 100);
  icr(s, 5, 0, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 7);
  ck_assert(!irr_has(s, 5, VEC));
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 4, VEC), 100 + t->post + t->mesh_same_socket);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 0, VEC), 100 + t->post + t->mesh_cross_socket);
  run_to(s, 10000);
  icr(s, 0, 0xFF, fixed(VEC2));
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 0, VEC2), 10000 + t->post + t->mesh_same_core);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC2), 10000 + t->post + t->mesh_same_socket);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 7, VEC2), 10000 + t->post + t->mesh_cross_socket);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/TIMING.md (mesh) + SDM 10.6.2.4: a lowest-priority message is routed
   when it is sent and travels at the chosen core's distance. */
START_TEST(mesh_lowest_priority_travels_to_winner) {
  tu_log log = {0};
  apic_config cfg = mesh_cfg(1);
  apic_sim *s = machine(&cfg, &log);
  const apic_timing *t = timing(s);
  for (uint32_t c = 0; c < 8; c++) {
    tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
    tu_wr(s, c, APIC_REG_TPR, c == 6 ? 0x10 : 0x50);
  }
  run_to(s, 100);
  icr(s, 1, 0xFE, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 6, VEC), 100 + t->post + t->mesh_cross_socket);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- p6 serial bus (SDM 10.7, 10.13, Appendix F) ---- */

/* SDM 10.13 (short message, 21 bus cycles): MSG_SEND a = 21; the message
   holds the bus 21 x p6_clock_div core cycles, then is delivered and the
   sender's delivery status goes idle. */
START_TEST(p6_fixed_message_21_cycles) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  ck_assert_uint_eq(timing(s)->p6_clock_div, 7);
  run_to(s, 1000);
  icr(s, 0, 2, fixed(VEC));
  const apic_event *send = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, 0);
  ck_assert_ptr_nonnull(send);
  ck_assert_uint_eq(send->a, P6_SHORT_CYCLES);
  ck_assert_uint_eq(send->cycle, 1000);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_ARB, APIC_NONE, VEC), 1000);
  run_to(s, 1000 + len - 1);
  ck_assert(ds_pending(s, 0));
  ck_assert(!irr_has(s, 2, VEC));
  run_idle(s);
  ck_assert(!ds_pending(s, 0));
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 0, VEC), 1000 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 2, VEC), 1000 + len);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.13 (Appendix F.2.2, non-focused lowest priority, 34 bus cycles). */
START_TEST(p6_lowest_priority_34_cycles) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_LOWEST_CYCLES);
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
  tu_wr(s, 1, APIC_REG_TPR, 0x10);
  tu_wr(s, 2, APIC_REG_TPR, 0x30);
  tu_wr(s, 3, APIC_REG_TPR, 0x30);
  tu_wr(s, 0, APIC_REG_TPR, 0x30);
  run_to(s, 400);
  icr(s, 3, 0x0F, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  ck_assert_uint_eq(tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, 0)->a, P6_LOWEST_CYCLES);
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 3, VEC), 400 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 1, VEC), 400 + len);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.10: "All 8 bits of the APR are used for the lowest priority
   arbitration" (Table 10-3 cycles 21-28 carry P7-P0): TPR 0x21 beats TPR
   0x22 although both are class 2 and the 0x22 core has the higher
   arbitration ID, which would decide a tie. */
START_TEST(p6_lowest_priority_compares_all_apr_bits) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
  tu_wr(s, 0, APIC_REG_TPR, 0x30);
  tu_wr(s, 1, APIC_REG_TPR, 0x21);
  tu_wr(s, 2, APIC_REG_TPR, 0x22);
  tu_wr(s, 3, APIC_REG_TPR, 0x30);
  ck_assert_uint_eq(lstate(s, 1).apr, 0x21);
  ck_assert_uint_eq(lstate(s, 2).apr, 0x22);
  icr(s, 0, 0x0F, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  ck_assert(irr_has(s, 1, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM Appendix F.2.1: lowest priority with a focus processor is a short
   (21-cycle) message; no priority arbitration cycles are needed. */
START_TEST(p6_focused_lowest_priority_21_cycles) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
  icr(s, 0, 2, fixed(VEC));
  run_idle(s);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 2, APIC_INTR_FIXED, &v), APIC_OK);  /* VEC in service */
  tu_wr(s, 2, APIC_REG_TPR, 0xC0);
  run_to(s, 2000);
  size_t mark = log.n;
  icr(s, 1, 0x0F, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  const apic_event *send = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(send);
  ck_assert_uint_eq(send->a, P6_SHORT_CYCLES);
  run_idle(s);
  const apic_event *irr = tu_find(&log, APIC_EV_IRR_SET, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(irr);
  ck_assert_uint_eq(irr->cpu, 2);
  ck_assert_uint_eq(irr->cycle, 2000 + p6_len(s, P6_SHORT_CYCLES));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.13 (Appendix F.1, EOI message, 14 bus cycles): the EOI of a level
   vector reaches the I/O APIC 14 x p6_clock_div cycles later; the I/O APIC's
   own message is a 21-cycle short message on the same bus. */
START_TEST(p6_eoi_message_14_cycles) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 1, VEC | APIC_RTE_TRIGGER |
                                       (3ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  run_to(s, 100);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 1, 1), APIC_OK);
  run_idle(s);
  const apic_event *io = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, 0);
  ck_assert_uint_eq(io->a, P6_SHORT_CYCLES);
  ck_assert_uint_eq(io->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC), 100 + p6_len(s, P6_SHORT_CYCLES));
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 1, 0), APIC_OK);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 3, APIC_INTR_FIXED, &v), APIC_OK);
  run_to(s, 3000);
  size_t mark = log.n;
  tu_wr(s, 3, APIC_REG_EOI, 0);
  const apic_event *eoi = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(eoi);
  ck_assert_uint_eq(eoi->a, P6_EOI_CYCLES);
  run_idle(s);
  ck_assert_uint_eq(tu_find(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC, mark)->cycle,
                    3000 + p6_len(s, P6_EOI_CYCLES));
  ck_assert_uint_eq(stats(s).bus_busy_cycles,
                    p6_len(s, P6_SHORT_CYCLES) + p6_len(s, P6_EOI_CYCLES));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.7: one message at a time: a second sender waits for the bus. */
START_TEST(p6_one_message_at_a_time) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  run_to(s, 500);
  icr(s, 0, 3, fixed(VEC));
  icr(s, 1, 3, fixed(VEC2));
  run_to(s, 500 + len);
  ck_assert(!ds_pending(s, 0));
  ck_assert(ds_pending(s, 1));
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_ARB, APIC_NONE, VEC), 500);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_ARB, APIC_NONE, VEC2), 500 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC), 500 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 3, VEC2), 500 + 2 * len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 1, VEC2), 500 + 2 * len);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, 2 * len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.10: the winner's arbitration ID drops to 0, every other agent
   moves up one. Initial IDs = APIC IDs 0..3 (I/O APIC 4). Core 1 takes the
   idle bus (old ID 1; 0 -> 1, 2 -> 3, 3 -> 4). Cores 3, 0, 2 queue: core 3
   wins with 4 (0 -> 2, 2 -> 4), then core 2 with 4 (0 -> 3), then core 0
   with 3. MSG_ARB a = the winner's old ID, b = agents still waiting. */
START_TEST(p6_arbitration_rotates) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  run_to(s, 100);
  icr(s, 1, 0, fixed(0x41));
  icr(s, 3, 0, fixed(0x43));
  icr(s, 0, 1, fixed(0x40));
  icr(s, 2, 0, fixed(0x42));
  run_idle(s);
  static const uint32_t src[4] = {1, 3, 2, 0}, a[4] = {1, 4, 4, 3}, b[4] = {0, 2, 1, 0};
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_ARB, APIC_NONE, -1), 4);
  for (size_t i = 0; i < 4; i++) {
    const apic_event *e = nth(&log, APIC_EV_MSG_ARB, i);
    ck_assert_msg(e->src == src[i], "arbitration %zu won by %u, expected %u", i, e->src, src[i]);
    ck_assert_uint_eq(e->a, a[i]);
    ck_assert_uint_eq(e->b, b[i]);
    ck_assert_uint_eq(e->cycle, 100 + i * len);
    ck_assert_uint_eq(e->vector, 0x40 + src[i]);
  }
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.3 + SDM 10.10: the I/O APIC is a bus agent too; its ARB
   register shows the rotation (0 after it wins, +1 when another agent wins). */
START_TEST(p6_ioapic_arbitration_id_rotates) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  cfg.ioapic_id[0] = 4;
  apic_sim *s = machine(&cfg, &log);
  ck_assert_uint_eq(ioapic0_arb(s), 4u << 24);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 0, VEC | (1ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 0, 1), APIC_OK);
  run_idle(s);
  const apic_event *e = nth(&log, APIC_EV_MSG_ARB, 0);
  ck_assert_uint_eq(e->a, 4);
  ck_assert_uint_eq(e->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  ck_assert_uint_eq(ioapic0_arb(s), 0);
  icr(s, 3, 0, fixed(VEC2));  /* core 3 moved 3 -> 4, wins with 4: I/O APIC 0 -> 1 */
  run_idle(s);
  ck_assert_uint_eq(nth(&log, APIC_EV_MSG_ARB, 1)->a, 4);
  ck_assert_uint_eq(ioapic0_arb(s), 1u << 24);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.10: "An agent whose arbitration priority was 15 (highest) during
   arbitration, but did not send a message, adopts the previous winner's
   arbitration priority, increments by 1." With the I/O APIC at 15, core 1
   wins with 1: the I/O APIC goes to 2 and cores 2 and 3 to 3 and 4, so
   core 3 now goes before the I/O APIC. */
START_TEST(p6_arbitration_id_15_takes_winner_plus_one) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  cfg.ioapic_id[0] = 15;
  apic_sim *s = machine(&cfg, &log);
  ck_assert_uint_eq(ioapic0_arb(s), 15u << 24);
  icr(s, 1, 0, fixed(VEC));
  run_idle(s);
  ck_assert_uint_eq(ioapic0_arb(s), 2u << 24);
  run_to(s, 1000);
  icr(s, 0, 1, fixed(VEC2));  /* takes the idle bus: core 3 -> 5, I/O APIC -> 3 */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 0, VEC3 | (2ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 0, 1), APIC_OK);
  icr(s, 3, 2, fixed(0x94));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_ARB, APIC_NONE, -1), 4);
  const apic_event *third = nth(&log, APIC_EV_MSG_ARB, 2), *fourth = nth(&log, APIC_EV_MSG_ARB, 3);
  ck_assert_uint_eq(third->src, 3);
  ck_assert_uint_eq(third->a, 5);
  ck_assert_uint_eq(fourth->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  ck_assert_uint_eq(fourth->a, 4);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.10: an EOI message "is granted the bus regardless of its sender's
   arbitration priority". The I/O APIC's message to core 0 rotates the IDs
   (cores 0..3 -> 1..4); core 3 then takes the idle bus (core 0 -> 2, core
   2 -> 4); when it is done core 0's EOI goes before core 2's fixed IPI,
   although core 2's arbitration ID is higher. */
START_TEST(p6_eoi_message_wins_arbitration) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 1, VEC | APIC_RTE_TRIGGER), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 1, 1), APIC_OK);
  run_idle(s);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 0, APIC_INTR_FIXED, &v), APIC_OK);
  ck_assert_uint_eq(v, VEC);
  run_to(s, 1000);
  size_t mark = log.n;
  icr(s, 3, 1, fixed(VEC3));    /* takes the idle bus */
  icr(s, 2, 1, fixed(VEC2));    /* waits, arbitration ID 4 */
  tu_wr(s, 0, APIC_REG_EOI, 0); /* waits, arbitration ID 2: the EOI message */
  run_to(s, 1000 + len + 1);
  const apic_event *second = NULL;
  for (size_t i = mark, k = 0; i < log.n; i++)
    if (log.ev[i].kind == APIC_EV_MSG_ARB && k++ == 1) second = &log.ev[i];
  ck_assert_ptr_nonnull(second);
  ck_assert_uint_eq(second->cycle, 1000 + len);
  ck_assert_uint_eq(second->src, 0);
  ck_assert_uint_eq(second->vector, VEC);
  ck_assert_uint_eq(second->a, 2);
  run_idle(s);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 1, VEC2),
                    1000 + len + p6_len(s, P6_EOI_CYCLES) + len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.4 + Appendix F (status cycles): a P6 receiver with the vector
   already in IRR has no free slot and rejects: the sender retries
   (MSG_RETRY a = retry count, stats.retries), delivery status stays pending;
   once INTA moves the vector to ISR the retry is accepted. */
START_TEST(p6_retry_while_irr_holds_vector) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  icr(s, 0, 1, fixed(VEC));
  run_idle(s);
  ck_assert(irr_has(s, 1, VEC));
  run_to(s, 1000);
  size_t mark = log.n;
  icr(s, 0, 1, fixed(VEC));
  ck_assert_int_eq(apic_sim_run(s, 1000 + 5 * len), APIC_RUN_LIMIT);
  ck_assert_uint_eq(count_kind(&log, APIC_EV_MSG_RETRY, mark), 5);
  for (size_t i = 0; i < 5; i++) {
    const apic_event *r = nth(&log, APIC_EV_MSG_RETRY, i);
    ck_assert_uint_eq(r->a, i + 1);
    ck_assert_uint_eq(r->cycle, 1000 + (i + 1) * len);
    ck_assert_uint_eq(r->src, 0);
  }
  ck_assert_uint_eq(stats(s).retries, 5);
  ck_assert(ds_pending(s, 0));
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_FIXED, &v), APIC_OK);
  ck_assert_uint_eq(v, VEC);
  run_idle(s);
  const apic_event *irr = tu_find(&log, APIC_EV_IRR_SET, 1, VEC, mark);
  ck_assert_ptr_nonnull(irr);
  ck_assert_uint_eq(irr->cycle, 1000 + 6 * len);
  const apic_event *done = tu_find(&log, APIC_EV_MSG_DONE, 0, VEC, mark);
  ck_assert_uint_eq(done->cycle, 1000 + 6 * len);
  ck_assert_uint_eq(done->a, 5);
  ck_assert(!ds_pending(s, 0));
  ck_assert_uint_eq(stats(s).retries, 5);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, 7 * len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.4: P6 queues at most two per vector (IRR and ISR). A third is
   retried; EOI alone does not free the IRR slot, the next INTA does. */
START_TEST(p6_retry_irr_and_isr_until_ack) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  uint8_t v;
  icr(s, 2, 1, fixed(VEC));
  run_idle(s);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_FIXED, &v), APIC_OK);
  icr(s, 2, 1, fixed(VEC));  /* second one: IRR slot free */
  run_idle(s);
  ck_assert_uint_eq(stats(s).retries, 0);
  apic_lapic_state st = lstate(s, 1);
  ck_assert(tu_vec(st.irr, VEC) && tu_vec(st.isr, VEC));
  run_to(s, 2000);
  icr(s, 2, 1, fixed(VEC));  /* third: rejected */
  run_to(s, 2000 + 3 * len);
  ck_assert_uint_eq(stats(s).retries, 3);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_to(s, 2000 + 5 * len);
  ck_assert_uint_eq(stats(s).retries, 5);  /* still rejected after the EOI */
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_FIXED, &v), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(stats(s).retries, 5);
  ck_assert(irr_has(s, 1, VEC));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 1, VEC), 3);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM Appendix F.2.2: "Only the local APICs having free interrupt slots
   participate in the lowest priority arbitration. If no such APIC exists,
   the message will be rejected" and retried. */
START_TEST(p6_lowest_priority_without_free_slot_retries) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_LOWEST_CYCLES);
  tu_wr(s, 1, APIC_REG_LDR, 0x02u << 24);
  tu_wr(s, 2, APIC_REG_LDR, 0x04u << 24);
  icr(s, 0, 0x06, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_DESTMODE));
  run_idle(s);
  ck_assert(irr_has(s, 1, VEC) && irr_has(s, 2, VEC));
  run_to(s, 5000);
  icr(s, 0, 0x06, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));
  run_to(s, 5000 + 2 * len);
  ck_assert_uint_eq(stats(s).retries, 2);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 2, APIC_INTR_FIXED, &v), APIC_OK);  /* core 2 frees a slot */
  run_idle(s);
  ck_assert_uint_eq(stats(s).retries, 2);
  const apic_event *e = nth(&log, APIC_EV_IRR_SET, 2);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->cpu, 2);
  ck_assert_uint_eq(e->cycle, 5000 + 3 * len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 17 / SDM 10.5.3: on the P6 bus a message no APIC accepts sets Send
   Accept Error (ESR bit 2) on the sender; it is not retried. */
START_TEST(p6_no_target_send_accept_error) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  run_to(s, 100);
  icr(s, 1, 9, fixed(VEC));
  run_idle(s);
  const apic_event *err = tu_find(&log, APIC_EV_ESR_ERROR, 1, -1, 0);
  ck_assert_ptr_nonnull(err);
  ck_assert_uint_eq(err->a, APIC_ESR_SEND_ACCEPT);
  ck_assert_uint_eq(err->cycle, 100 + len);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(stats(s).retries, 0);
  ck_assert_uint_eq(stats(s).esr_errors, 1);
  ck_assert(!ds_pending(s, 1));
  tu_wr(s, 1, APIC_REG_ESR, 0);  /* latch (SDM 10.5.3) */
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ESR), APIC_ESR_SEND_ACCEPT);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.13.2.3 Table 10-4: an accept error ("0X" in status cycle 1)
   updates no arbitration ID. Core 1's message to APIC 9 finds nobody: core 1
   keeps ID 1, the I/O APIC keeps 4, and core 1 still beats core 0 (ID 0). */
START_TEST(p6_accept_error_keeps_arbitration_ids) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  icr(s, 1, 9, fixed(VEC));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(ioapic0_arb(s), 4u << 24);
  run_to(s, 1000);
  icr(s, 2, 3, fixed(VEC2));  /* takes the idle bus: core 0 -> 1, core 1 -> 2 */
  icr(s, 0, 3, fixed(VEC3));
  icr(s, 1, 3, fixed(0x94));
  run_idle(s);
  const apic_event *e = nth(&log, APIC_EV_MSG_ARB, 2);
  ck_assert_uint_eq(e->cycle, 1000 + len);
  ck_assert_uint_eq(e->src, 1);
  ck_assert_uint_eq(e->a, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 17 / SDM Appendix F.2.2: a lowest-priority message whose destination
   matches no APIC sets Send Accept Error too. */
START_TEST(p6_lowest_priority_no_target_send_accept_error) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  icr(s, 2, 0x80, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));  /* no LDR has bit 7 */
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(stats(s).retries, 0);
  tu_wr(s, 2, APIC_REG_ESR, 0);
  ck_assert_uint_eq(tu_rd(s, 2, APIC_REG_ESR), APIC_ESR_SEND_ACCEPT);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.13.2.1: "except for the EOI message, messages generating a
   checksum or an acceptance error terminate after cycle 21". A
   lowest-priority message that matches no APIC has no focus processor, but
   it ends at the accept error of status cycle 1: 21 bus cycles, not the 34
   of a non-focused arbitration. */
START_TEST(p6_lowest_priority_accept_error_ends_after_cycle_21) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  run_to(s, 100);
  icr(s, 2, 0x80, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));  /* no LDR has bit 7 */
  const apic_event *send = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC, 0);
  ck_assert_ptr_nonnull(send);
  ck_assert_uint_eq(send->a, P6_SHORT_CYCLES);
  run_idle(s);
  const apic_event *err = tu_find(&log, APIC_EV_ESR_ERROR, 2, -1, 0);
  ck_assert_ptr_nonnull(err);
  ck_assert_uint_eq(err->cycle, 100 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_MSG_DONE, 2, VEC), 100 + len);
  ck_assert_uint_eq(stats(s).bus_busy_cycles, len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.3: "Arbitration IDs are changed (incremented or assumed) only
   for messages that are transmitted successfully (except, in the case of low
   priority messages where Arbitration ID is changed even if message was not
   successfully transmitted)"; SDM 10.13.2.2: the update "is performed in
   cycle 20". Core 1's lowest-priority message to nobody still rotates: core
   1 -> 0, the I/O APIC 4 -> 5, core 0 -> 1, so core 0 now beats core 1. */
START_TEST(p6_lowest_priority_accept_error_rotates_arbitration_ids) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  icr(s, 1, 0x80, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_DESTMODE));  /* no LDR has bit 7 */
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(ioapic0_arb(s), 5u << 24);
  run_to(s, 1000);
  icr(s, 3, 2, fixed(VEC2));  /* takes the idle bus: core 0 -> 2, core 1 -> 1 */
  icr(s, 1, 2, fixed(VEC3));
  icr(s, 0, 2, fixed(0x94));
  run_idle(s);
  const apic_event *e = nth(&log, APIC_EV_MSG_ARB, 2);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->src, 0);
  ck_assert_uint_eq(e->a, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.4.7.4 / 10.6.1: an INIT level de-assert reloads every arbitration
   ID from the APIC ID; the I/O APIC is a bus agent with an arbitration ID
   too, and its ARB register "is always loaded with APIC ID during a 'level
   triggered INIT with deassert' message" (Intel I/O(x)APIC ARB register,
   as in the 82870P2 datasheet 3.4.3.3; 82093AA 3.2.3 describes the same
   register). After core 0's message rotated the I/O APIC from 4 to 5, the
   de-assert puts it back to 4. */
START_TEST(p6_init_deassert_reloads_ioapic_arbitration_id) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  icr(s, 0, 1, fixed(VEC));
  run_idle(s);
  ck_assert_uint_eq(ioapic0_arb(s), 5u << 24);
  icr(s, 0, 0, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_TRIGGER));  /* level, de-assert */
  run_idle(s);
  ck_assert_uint_eq(ioapic0_arb(s), 4u << 24);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.7: a retried message re-arbitrates; the sender's ID is 0 after its
   win, so another waiting agent goes first. */
START_TEST(p6_retry_lets_others_go_first) {
  tu_log log = {0};
  apic_config cfg = p6_cfg(4);
  apic_sim *s = machine(&cfg, &log);
  uint64_t len = p6_len(s, P6_SHORT_CYCLES);
  icr(s, 0, 1, fixed(VEC));
  run_idle(s);  /* VEC now pending on core 1 */
  run_to(s, 1000);
  size_t mark = log.n;
  icr(s, 0, 1, fixed(VEC));   /* will be rejected */
  icr(s, 3, 2, fixed(VEC2));  /* waits behind it */
  run_to(s, 1000 + 2 * len);
  const apic_event *r = tu_find(&log, APIC_EV_MSG_RETRY, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(r->cycle, 1000 + len);
  ck_assert_uint_eq(cycle_of(&log, APIC_EV_IRR_SET, 2, VEC2), 1000 + 2 * len);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- determinism (docs/ENGINE.md) ---- */

#define DET_CPUS 4

typedef struct det_run {
  int counts[DET_CPUS * 256];
} det_run;

/* Each core enables its APIC, sets a flat LDR, then sends a ring of fixed
   IPIs and lowest-priority IPIs to all, working between them. */
static int det_prog(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WRITE(c, APIC_REG_LDR, (1u << apic_cpu_index(c)) << 24);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 4; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);
    APIC_DO(c, apic_cpu_send_ipi(c, (apic_cpu_index(c) + 1) % DET_CPUS,
                                 APIC_ICR_LO(0x40 + APIC_L(c, 0), APIC_DM_FIXED, 0)));
    APIC_SPIN_ICR_IDLE(c);
    APIC_DO(c, apic_cpu_send_ipi(c, 0x0F, APIC_ICR_LO(0x80, APIC_DM_LOWEST, APIC_ICR_DESTMODE)));
    APIC_WORK(c, 37 * (apic_cpu_index(c) + 1));
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static void det_scenario(apic_bus_kind bus, tu_log *log, det_run *r, uint64_t slice) {
  apic_config cfg = tu_config(DET_CPUS, bus, bus == APIC_BUS_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (bus == APIC_BUS_MESH) cfg.sockets = 2;
  apic_sim *s = tu_sim(&cfg, log);
  memset(r, 0, sizeof *r);
  for (uint32_t c = 0; c < DET_CPUS; c++)
    ck_assert_int_eq(apic_sim_set_program(s, c, det_prog, NULL), APIC_OK);
  for (int v = 0x40; v < 0x44; v++)
    ck_assert_int_eq(apic_sim_set_handler(s, APIC_NONE, (uint8_t)v, tu_handler_count, r->counts),
                     APIC_OK);
  ck_assert_int_eq(apic_sim_set_handler(s, APIC_NONE, 0x80, tu_handler_count, r->counts), APIC_OK);
  ck_assert_int_eq(apic_sim_set_handler(s, APIC_NONE, 0x90, tu_handler_count, r->counts), APIC_OK);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, 0x90 | ((uint64_t)APIC_DM_LOWEST << APIC_RTE_DM_SHIFT) |
                                       APIC_RTE_DESTMODE | (0x0Full << APIC_RTE_DEST_SHIFT)),
                   APIC_OK);
  for (uint64_t t = 1000; t < 20000; t += 1500)
    ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, (int)((t / 1500) & 1), t), APIC_OK);
  int rc;
  if (slice == 0) {
    rc = apic_sim_run(s, 2000000);
  } else {
    uint64_t t = 0;
    do { t += slice; rc = apic_sim_run(s, t); } while (rc == APIC_RUN_LIMIT && t < 2000000);
  }
  ck_assert_int_eq(rc, APIC_RUN_IDLE);
  apic_sim_destroy(s);
}

static void assert_same_logs(const tu_log *x, const tu_log *y) {
  ck_assert_uint_eq(x->n, y->n);
  for (size_t i = 0; i < x->n; i++) {
    const apic_event *a = &x->ev[i], *b = &y->ev[i];
    int same = a->cycle == b->cycle && a->msg == b->msg && a->kind == b->kind &&
               a->cpu == b->cpu && a->src == b->src && a->dest == b->dest &&
               a->flags == b->flags && a->vector == b->vector && a->mode == b->mode &&
               a->a == b->a && a->b == b->b && a->x == b->x;
    ck_assert_msg(same, "event %zu differs: %s@%llu vs %s@%llu", i, apic_event_name(a->kind),
                  (unsigned long long)a->cycle, apic_event_name(b->kind),
                  (unsigned long long)b->cycle);
  }
}

static const apic_bus_kind det_buses[3] = {APIC_BUS_XAPIC, APIC_BUS_MESH, APIC_BUS_P6};

/* docs/ENGINE.md: the same machine and program give the identical event
   sequence, field for field, on every interconnect model. */
START_TEST(determinism_same_run_twice) {
  tu_log l1 = {0}, l2 = {0};
  det_run r1, r2;
  det_scenario(det_buses[_i], &l1, &r1, 0);
  det_scenario(det_buses[_i], &l2, &r2, 0);
  ck_assert_uint_gt(l1.n, 200);
  ck_assert_uint_gt(tu_count(&l1, APIC_EV_HANDLER_ENTER, APIC_NONE, -1), 10);
  ck_assert_uint_gt(tu_count(&l1, APIC_EV_IRR_SET, APIC_NONE, 0x90), 0);
  assert_same_logs(&l1, &l2);
  ck_assert_int_eq(memcmp(r1.counts, r2.counts, sizeof r1.counts), 0);
  tu_log_free(&l1);
  tu_log_free(&l2);
}
END_TEST

/* docs/ENGINE.md: running in slices (apic_sim_run to successive limits)
   gives the same events as one run. */
START_TEST(determinism_sliced_run_matches) {
  tu_log l1 = {0}, l2 = {0};
  det_run r1, r2;
  det_scenario(det_buses[_i], &l1, &r1, 0);
  det_scenario(det_buses[_i], &l2, &r2, 777);
  assert_same_logs(&l1, &l2);
  ck_assert_int_eq(memcmp(r1.counts, r2.counts, sizeof r1.counts), 0);
  tu_log_free(&l1);
  tu_log_free(&l2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("bus");
  TCase *xa = tcase_create("xapic");
  tcase_add_test(xa, xapic_icr_to_irr_latency);
  tcase_add_test(xa, xapic_latency_default_config);
  tcase_add_test(xa, xapic_delivery_status_clears_at_post);
  tcase_add_test(xa, xapic_per_sender_order);
  tcase_add_test(xa, icr_write_while_pending_queues);
  tcase_add_test(xa, xapic_senders_in_parallel);
  tcase_add_test(xa, xapic_ioapic_and_eoi_latency);
  suite_add_tcase(s, xa);

  TCase *me = tcase_create("mesh");
  tcase_add_test(me, mesh_same_vs_cross_socket);
  tcase_add_test(me, mesh_self_uses_same_core);
  tcase_add_test(me, mesh_smt_sibling_same_core);
  tcase_add_test(me, mesh_broadcast_waves);
  tcase_add_test(me, mesh_broadcast_all_but_self);
  tcase_add_test(me, mesh_lowest_priority_travels_to_winner);
  suite_add_tcase(s, me);

  TCase *p6 = tcase_create("p6");
  tcase_add_test(p6, p6_fixed_message_21_cycles);
  tcase_add_test(p6, p6_lowest_priority_34_cycles);
  tcase_add_test(p6, p6_focused_lowest_priority_21_cycles);
  tcase_add_test(p6, p6_lowest_priority_compares_all_apr_bits);
  tcase_add_test(p6, p6_eoi_message_14_cycles);
  tcase_add_test(p6, p6_one_message_at_a_time);
  tcase_add_test(p6, p6_arbitration_rotates);
  tcase_add_test(p6, p6_ioapic_arbitration_id_rotates);
  tcase_add_test(p6, p6_arbitration_id_15_takes_winner_plus_one);
  tcase_add_test(p6, p6_eoi_message_wins_arbitration);
  tcase_add_test(p6, p6_retry_while_irr_holds_vector);
  tcase_add_test(p6, p6_retry_irr_and_isr_until_ack);
  tcase_add_test(p6, p6_lowest_priority_without_free_slot_retries);
  tcase_add_test(p6, p6_no_target_send_accept_error);
  tcase_add_test(p6, p6_accept_error_keeps_arbitration_ids);
  tcase_add_test(p6, p6_lowest_priority_no_target_send_accept_error);
  tcase_add_test(p6, p6_retry_lets_others_go_first);
  tcase_add_test(p6, p6_lowest_priority_accept_error_ends_after_cycle_21);
  tcase_add_test(p6, p6_lowest_priority_accept_error_rotates_arbitration_ids);
  tcase_add_test(p6, p6_init_deassert_reloads_ioapic_arbitration_id);
  suite_add_tcase(s, p6);

  TCase *det = tcase_create("determinism");
  tcase_add_loop_test(det, determinism_same_run_twice, 0, 3);
  tcase_add_loop_test(det, determinism_sliced_run_matches, 0, 3);
  suite_add_tcase(s, det);

  return tu_run(s);
}
