/*
 * test_cpu.c - the guest core (lib/cpu.c): a program runs step by step at the
 * cost of its operations; interrupts are taken only at instruction
 * boundaries, with IF = 1 and outside the STI shadow; HLT, nesting by
 * priority class, NMI blocking, INIT/SIPI, SMI, ExtINT, the default handler,
 * spin waits and the status apic_sim_run returns.
 *
 * Expected cycles are computed from the timing fields of the configuration
 * the test built, never from the library defaults, so that retuning
 * docs/TIMING.md does not break these rules.
 */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* ---- helpers ---- */

static int ev_match(const apic_event *e, uint32_t kind, uint32_t cpu, int vector) {
  return e->kind == kind && (cpu == APIC_NONE || e->cpu == cpu) &&
         (vector < 0 || e->vector == (uint8_t)vector);
}

/* The n-th (0-based) event of a kind on cpu with vector; fails if missing. */
static const apic_event *nth(const tu_log *log, uint32_t kind, uint32_t cpu, int vector,
                             size_t n) {
  for (size_t i = 0; i < log->n; i++)
    if (ev_match(&log->ev[i], kind, cpu, vector) && n-- == 0) return &log->ev[i];
  ck_abort_msg("no event %s #%zu on cpu %u vector %d", apic_event_name(kind), n, cpu, vector);
  return NULL;
}

static size_t pos(const tu_log *log, const apic_event *e) { return (size_t)(e - log->ev); }

/* The host writes ICR_HI then ICR_LO of core `from` (a core without program). */
static void host_ipi(apic_sim *s, uint32_t from, uint32_t dest, uint32_t lo) {
  tu_wr(s, from, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
  tu_wr(s, from, APIC_REG_ICR_LO, lo);
}

/* Cycle at which an IPI the host writes now reaches its receiver (xapic bus,
   sender with nothing else queued). */
static uint64_t arrival(const apic_sim *s) {
  const apic_timing *t = &apic_sim_config(s)->timing;
  return apic_sim_now(s) + t->post + t->xapic_latency;
}

static void run_to(apic_sim *s, uint64_t until) {
  int rc = apic_sim_run(s, until);
  ck_assert_msg(rc >= 0, "apic_sim_run: %s", apic_err_name(rc));
  ck_assert_uint_eq(apic_sim_now(s), until);
}

static int run_all(apic_sim *s) {
  int rc = apic_sim_run(s, UINT64_MAX);
  ck_assert_msg(rc >= 0, "apic_sim_run: %s", apic_err_name(rc));
  return rc;
}

/* Core 0 idles until cycle 100, then the host sends it `lo` from core 1;
   runs until `into` cycles after the handler was entered. Returns the
   cycle it was entered (xapic bus: arrival, wake from HLT, accept). */
static uint64_t start_handler(apic_sim *s, uint32_t lo, uint64_t into) {
  const apic_timing *t = &apic_sim_config(s)->timing;
  run_to(s, 100);
  uint64_t entered = arrival(s) + t->wake + t->accept;
  host_ipi(s, 1, 0, lo);
  run_to(s, entered + into);
  return entered;
}

static apic_config cfg4(void) { return tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC); }

#define FIXED(v) APIC_ICR_LO((v), APIC_DM_FIXED, 0)
#define NMI_VECTOR 2u  /* SDM 6.3.1: the NMI handler is vector 2 */

/* What test programs record. */
typedef struct rec {
  uint64_t t[16];
  int n;
  volatile uint32_t mem;
  volatile uint32_t flag;
  uint64_t resumed;
  uint32_t cpu;
  uint8_t vector;
  int count;
} rec;

/* ---- programs and handlers ---- */

/* One operation per step, recording the cycle each step starts at. */
static int prog_costs(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_write(c, APIC_REG_TPR, 0x20); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  (void)apic_cpu_read(c, APIC_REG_TPR); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  (void)apic_cpu_load(c, &r->mem); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_store(c, &r->mem, 5); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  (void)apic_cpu_fetch_add(c, &r->mem, 3); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_work(c, 100); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_pause(c); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_cli(c); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  APIC_YIELD(c);                                   /* a step with no operation */
  r->t[r->n++] = apic_cpu_now(c);
  apic_cpu_write(c, APIC_REG_TPR, 0x30);           /* two operations, one step */
  (void)apic_cpu_read(c, APIC_REG_PPR); APIC_YIELD(c);
  r->t[r->n++] = apic_cpu_now(c);
  APIC_END(c);
}

/* SVR enable, STI, one long step of work, then HLT forever. */
static int prog_work_then_idle(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_WORK(c, 1000);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* SVR, STI, CLI, work with IF=0, STI, a 10-cycle step, then HLT forever. */
static int prog_cli_window(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_CLI(c);
  APIC_WORK(c, 2000);
  APIC_STI(c);
  APIC_WORK(c, 10);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* Linux safe_halt(): work with IF=0 while an interrupt becomes pending, then
   "sti; hlt"; records when the code after the HLT runs. */
static int prog_safe_halt(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 2000);
  APIC_STI(c);
  APIC_HLT(c);
  r->resumed = apic_cpu_now(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* SVR, STI (if r->flag), one HLT, record the resume cycle, finish. */
static int prog_halt_once(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  if (r->flag) APIC_STI(c);
  APIC_HLT(c);
  r->resumed = apic_cpu_now(c);
  APIC_END(c);
}

/* Counts, then 10 cycles of work; no EOI (NMI, SMI, ExtINT handlers). */
static int h_count_noeoi(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->count++;
  r->cpu = apic_cpu_index(c);
  r->vector = apic_cpu_vector(c);
  APIC_WORK(c, 10);
  APIC_END(c);
}

/* Counts and snapshots the core state from inside the handler, then EOI. */
typedef struct snap_arg { int count; apic_core_state cs; } snap_arg;
static int h_snapshot(apic_cpu *c, void *arg) {
  snap_arg *a = arg;
  APIC_BEGIN(c);
  a->count++;
  ck_assert_int_eq(apic_core_state_get(apic_cpu_sim(c), apic_cpu_index(c), &a->cs), APIC_OK);
  APIC_EOI(c);
  APIC_END(c);
}

/* STI first (so a higher class may nest), 200 short steps of work, EOI. */
static int h_sti_long(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 200; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_EOI(c);
  APIC_END(c);
}

/* Runs with IF=0 throughout: 100 short steps of work, then EOI. */
static int h_cli_long(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 100; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_EOI(c);
  APIC_END(c);
}

/* NMI handler that runs 200 short steps (no EOI: NMI is not in the ISR). */
static int h_nmi_long(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->count++;
  {
    apic_core_state cs;
    apic_core_state_get(apic_cpu_sim(c), apic_cpu_index(c), &cs);
    r->flag += cs.nmi_blocked;
  }
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 200; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_END(c);
}

/* Records the handler's core into a bit mask, then EOI. */
typedef struct who { uint32_t mask; int n; } who;
static int h_who(apic_cpu *c, void *arg) {
  who *w = arg;
  APIC_BEGIN(c);
  w->mask |= 1u << apic_cpu_index(c);
  w->n++;
  APIC_EOI(c);
  APIC_END(c);
}

/* ---- steps and costs ---- */

/* ENGINE.md "Guest cores" step 2: operations add their timing fields; a step
   with none costs timing.insn; the next step starts that much later. */
START_TEST(steps_cost_their_timing) {
  apic_config cfg = cfg4();
  apic_timing *t = &cfg.timing;
  t->mmio_write = 7; t->mmio_read = 5; t->mem = 11; t->atomic = 17; t->pause = 13;
  t->insn = 3;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec r = {0};
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_costs, &r), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const uint64_t want[] = {0, 7, 12, 23, 34, 51, 151, 164, 167, 170, 182};
  ck_assert_int_eq(r.n, 11);
  for (int i = 0; i < 11; i++) ck_assert_uint_eq(r.t[i], want[i]);
  ck_assert_uint_eq(r.mem, 8);                          /* store 5, fetch_add 3 */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0x30);
  ck_assert_uint_eq(nth(&log, APIC_EV_PROGRAM_DONE, 0, -1, 0)->cycle, 182);
  ck_assert_uint_eq(apic_sim_now(s), 182);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- instruction boundaries, IF, STI shadow, HLT ---- */

/* SDM 6.6: an interrupt that arrives while an instruction executes is taken
   at the next instruction boundary (here: after a 1000-cycle step). */
START_TEST(interrupt_taken_at_instruction_boundary) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  apic_sim_set_program(s, 0, prog_work_then_idle, NULL);
  uint64_t boundary = t->mmio_write + t->insn + 1000;
  run_to(s, 100);
  uint64_t arrive = arrival(s);
  ck_assert_uint_lt(arrive, boundary);
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_IRR_SET, 0, 0x40, 0)->cycle, arrive);
  ck_assert_uint_eq(nth(&log, APIC_EV_ACCEPT, 0, 0x40, 0)->cycle, boundary);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x40, 0)->cycle, boundary + t->accept);
  ck_assert_int_eq(counts[0x40], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.8.1 CLI masks maskable interrupts; SDM 6.8.3 STI shadow: after STI
   they are recognised only after the next instruction. */
START_TEST(cli_blocks_sti_opens_after_next_instruction) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  apic_sim_set_program(s, 0, prog_cli_window, NULL);
  uint64_t sti1 = t->mmio_write, cli = sti1 + t->insn, sti2 = cli + t->insn + 2000;
  run_to(s, 100);
  uint64_t arrive = arrival(s);
  host_ipi(s, 1, 0, FIXED(0x40));
  run_to(s, sti2);  /* pending in IRR the whole CLI window, not taken */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 0, 0x40), 1);
  ck_assert_uint_eq(nth(&log, APIC_EV_IRR_SET, 0, 0x40, 0)->cycle, arrive);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_ACCEPT, 0, -1), 0);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *e = nth(&log, APIC_EV_IF_CHANGE, 0, -1, 0);
  ck_assert_uint_eq(e->cycle, sti1); ck_assert_uint_eq(e->a, 1);
  e = nth(&log, APIC_EV_IF_CHANGE, 0, -1, 1);
  ck_assert_uint_eq(e->cycle, cli); ck_assert_uint_eq(e->a, 0);
  e = nth(&log, APIC_EV_IF_CHANGE, 0, -1, 2);
  ck_assert_uint_eq(e->cycle, sti2); ck_assert_uint_eq(e->a, 1);
  /* not at sti2 + insn (shadow), but after the 10-cycle step that follows */
  ck_assert_uint_eq(nth(&log, APIC_EV_ACCEPT, 0, 0x40, 0)->cycle, sti2 + t->insn + 10);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_ACCEPT, 0, -1), 1);
  ck_assert_int_eq(counts[0x40], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.8.3 STI shadow: "sti; hlt" with an interrupt already pending must not
   take it before the HLT (it would then halt with nothing to wake it - the
   safe_halt race), and must wake from that HLT at once, without the C1 exit
   latency; the code after the HLT runs after the handler's IRET. */
START_TEST(sti_hlt_takes_pending_interrupt_after_hlt) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  rec r = {0};
  apic_sim_set_program(s, 0, prog_safe_halt, &r);
  uint64_t sti = t->mmio_write + 2000, hlt = sti + t->insn;
  run_to(s, 100);
  ck_assert_uint_lt(arrival(s), sti);
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *halt = nth(&log, APIC_EV_HALT, 0, -1, 0);
  const apic_event *acc = nth(&log, APIC_EV_ACCEPT, 0, 0x40, 0);
  const apic_event *wake = nth(&log, APIC_EV_WAKE, 0, -1, 0);
  ck_assert_uint_eq(halt->cycle, hlt);
  ck_assert_uint_eq(halt->a, 1);                   /* halted with IF = 1 */
  ck_assert_uint_lt(pos(&log, halt), pos(&log, acc));
  ck_assert_uint_eq(wake->cycle, hlt + t->insn);   /* no timing.wake */
  ck_assert_uint_eq(acc->cycle, hlt + t->insn);
  const apic_event *exit = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x40, 0);
  ck_assert_uint_eq(r.resumed, exit->cycle + t->insn + t->iret);
  ck_assert_int_eq(counts[0x40], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.8 / HLT: a halted core with IF=1 wakes on a maskable interrupt after
   timing.wake (C1 exit), runs the handler and continues after the HLT. */
START_TEST(hlt_wakes_after_wake_latency_and_resumes_after_hlt) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  rec r = {.flag = 1};
  apic_sim_set_program(s, 0, prog_halt_once, &r);
  run_to(s, 100);
  ck_assert_uint_eq(nth(&log, APIC_EV_HALT, 0, -1, 0)->cycle, t->mmio_write + t->insn);
  uint64_t arrive = arrival(s);
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  uint64_t woke = arrive + t->wake, entered = woke + t->accept;
  ck_assert_uint_eq(nth(&log, APIC_EV_WAKE, 0, -1, 0)->cycle, woke);
  ck_assert_uint_eq(nth(&log, APIC_EV_ACCEPT, 0, 0x40, 0)->cycle, woke);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x40, 0)->cycle, entered);
  /* handler: EOI step, then the IRET step */
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x40, 0)->cycle, entered + t->mmio_write);
  ck_assert_uint_eq(r.resumed, entered + t->mmio_write + t->insn + t->iret);
  ck_assert_uint_eq(nth(&log, APIC_EV_PROGRAM_DONE, 0, -1, 0)->cycle, r.resumed);
  ck_assert_int_eq(counts[0x40], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.7 / 6.8.1: with IF=0 a maskable interrupt does not end HLT (it stays
   in IRR); an NMI does, and the code after the HLT runs after its IRET. */
START_TEST(hlt_with_if0_wakes_only_on_nmi) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  rec nmi = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  apic_sim_set_handler(s, APIC_NONE, NMI_VECTOR, h_count_noeoi, &nmi);
  rec r = {.flag = 0};
  apic_sim_set_program(s, 0, prog_halt_once, &r);
  run_to(s, 100);
  host_ipi(s, 1, 0, FIXED(0x40));
  run_to(s, 20000);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 0, 0x40), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WAKE, 0, -1), 0);
  ck_assert_uint_eq(r.resumed, 0);
  uint64_t arrive = arrival(s);
  host_ipi(s, 2, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  uint64_t woke = arrive + t->wake, entered = woke + t->accept;
  ck_assert_uint_eq(nth(&log, APIC_EV_WAKE, 0, -1, 0)->cycle, woke);
  ck_assert_uint_eq(nth(&log, APIC_EV_NMI, 0, -1, 0)->cycle, woke);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 0)->cycle, entered);
  ck_assert_int_eq(nmi.count, 1);
  ck_assert_uint_eq(r.resumed, entered + 10 + t->insn + t->iret);
  /* IF is still 0: the fixed vector was never taken */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_ACCEPT, 0, -1), 0);
  ck_assert_int_eq(counts[0x40], 0);
  apic_lapic_state st;
  apic_lapic_state_get(s, 0, &st);
  ck_assert_int_eq(tu_vec(st.irr, 0x40), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

static int prog_sti_and_finish(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_END(c);
}

/* ENGINE.md "Guest cores" step 3: a finished program idles like HLT and still
   takes interrupts with the IF it left (wake latency, nesting depth 0). */
START_TEST(finished_program_still_takes_interrupts) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  apic_sim_set_program(s, 0, prog_sti_and_finish, NULL);
  run_to(s, 100);
  ck_assert_uint_eq(nth(&log, APIC_EV_PROGRAM_DONE, 0, -1, 0)->cycle, t->mmio_write + t->insn);
  uint64_t arrive = arrival(s);
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *e = nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x40, 0);
  ck_assert_uint_eq(e->cycle, arrive + t->wake + t->accept);
  ck_assert_uint_eq(e->a, 0);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x40, 0)->a, 0);
  ck_assert_int_eq(counts[0x40], 1);
  /* and again: the core went back to idling after the IRET */
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(counts[0x40], 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.3.1: a vector whose class is not above PPR is not delivered to
   the core, so it does not end HLT; lowering TPR makes it deliverable and
   wakes the core (after timing.wake). */
START_TEST(tpr_holds_halted_core_until_lowered) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x45, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  run_to(s, 100);
  tu_wr(s, 0, APIC_REG_TPR, 0x50);
  host_ipi(s, 1, 0, FIXED(0x45));
  run_to(s, 10000);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 0, 0x45), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WAKE, 0, -1), 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_PPR), 0x50);
  tu_wr(s, 0, APIC_REG_TPR, 0x40);  /* class 4 is not above class 4: still held */
  run_to(s, 20000);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WAKE, 0, -1), 0);
  tu_wr(s, 0, APIC_REG_TPR, 0x30);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_WAKE, 0, -1, 0)->cycle, 20000 + t->wake);
  ck_assert_uint_eq(nth(&log, APIC_EV_ACCEPT, 0, 0x45, 0)->cycle, 20000 + t->wake);
  ck_assert_int_eq(counts[0x45], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- nesting by priority class (SDM 10.8.3.1, 6.8.1) ---- */

/* A handler that executed STI is interrupted by a higher class (nested, depth
   1); a vector of the same class waits until the EOI lowers PPR, and a lower
   class waits behind both. */
START_TEST(handler_with_sti_nests_higher_class_same_or_lower_waits_for_eoi) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  snap_arg in80 = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, h_sti_long, NULL);
  apic_sim_set_handler(s, APIC_NONE, 0x80, h_snapshot, &in80);
  apic_sim_set_handler(s, APIC_NONE, 0x45, tu_handler_count, counts);
  apic_sim_set_handler(s, APIC_NONE, 0x35, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  start_handler(s, FIXED(0x40), 500);  /* the 0x40 handler is running with IF = 1 */
  uint64_t arrive2 = arrival(s);
  host_ipi(s, 2, 0, FIXED(0x80));
  host_ipi(s, 3, 0, FIXED(0x45));
  host_ipi(s, 3, 0, FIXED(0x35));  /* lower class, leaves timing.post later */
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *e80 = nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x80, 0);
  const apic_event *eoi40 = nth(&log, APIC_EV_EOI, 0, 0x40, 0);
  const apic_event *acc80 = nth(&log, APIC_EV_ACCEPT, 0, 0x80, 0);
  const apic_event *acc45 = nth(&log, APIC_EV_ACCEPT, 0, 0x45, 0);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x40, 0)->a, 0);
  ck_assert_uint_eq(e80->a, 1);                          /* nested in 0x40 */
  ck_assert_uint_ge(acc80->cycle, arrive2);
  ck_assert_uint_le(acc80->cycle, arrive2 + 10);         /* next 10-cycle boundary */
  ck_assert_uint_lt(e80->cycle, eoi40->cycle);
  /* 0x45 (class 4) waits for the EOI of 0x40 (class 4), then nests in the
     still-running 0x40 handler, which has IF = 1 */
  ck_assert_uint_eq(acc45->cycle, eoi40->cycle + t->mmio_write);
  ck_assert_uint_gt(pos(&log, acc45), pos(&log, eoi40));
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x45, 0)->a, 1);
  ck_assert_int_eq(in80.count, 1);
  ck_assert_uint_eq(in80.cs.run, APIC_CORE_RUNNING);
  ck_assert_uint_eq(in80.cs.nest, 2);                    /* 0x40, then 0x80 inside it */
  ck_assert_uint_eq(in80.cs.vectors[0], 0x40);
  ck_assert_uint_eq(in80.cs.vectors[1], 0x80);
  ck_assert_uint_eq(in80.cs.if_flag, 0);                 /* interrupt gate */
  ck_assert_int_eq(counts[0x45], 1);
  /* 0x35 (class 3) waited through both; taken after the 0x45 handler's IRET */
  const apic_event *acc35 = nth(&log, APIC_EV_ACCEPT, 0, 0x35, 0);
  ck_assert_uint_lt(nth(&log, APIC_EV_IRR_SET, 0, 0x35, 0)->cycle, eoi40->cycle);
  ck_assert_uint_eq(acc35->cycle, nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x45, 0)->cycle +
                    t->insn + t->iret);
  ck_assert_int_eq(counts[0x35], 1);
  apic_lapic_state st;
  apic_lapic_state_get(s, 0, &st);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(st.isr[i] | st.irr[i], 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.8.1 / 6.12.1.2: an interrupt gate clears IF; a handler that does not
   STI is not interrupted even by a higher class: it is taken after IRET. */
START_TEST(handler_without_sti_defers_higher_class_to_iret) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x50, h_cli_long, NULL);
  apic_sim_set_handler(s, APIC_NONE, 0x90, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  uint64_t entered = start_handler(s, FIXED(0x50), 100);
  host_ipi(s, 2, 0, FIXED(0x90));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *exit50 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x50, 0);
  const apic_event *acc90 = nth(&log, APIC_EV_ACCEPT, 0, 0x90, 0);
  ck_assert_uint_eq(nth(&log, APIC_EV_IRR_SET, 0, 0x90, 0)->cycle, entered + 100 + t->post +
                    t->xapic_latency);
  ck_assert_uint_lt(nth(&log, APIC_EV_IRR_SET, 0, 0x90, 0)->cycle, exit50->cycle);
  ck_assert_uint_eq(acc90->cycle, exit50->cycle + t->insn + t->iret);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x90, 0)->a, 0);  /* not nested */
  ck_assert_int_eq(counts[0x90], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.7.1: while an NMI handler runs, further NMIs are blocked until its
   IRET; one is held pending (two more arriving merge into it). */
START_TEST(nmi_blocked_until_handler_iret) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec nmi = {0};
  apic_sim_set_handler(s, APIC_NONE, 2, h_nmi_long, &nmi);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  start_handler(s, APIC_ICR_LO(0, APIC_DM_NMI, 0), 100);
  uint64_t arrive2 = arrival(s);
  host_ipi(s, 2, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  host_ipi(s, 3, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *exit1 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 2, 0);
  const apic_event *nmi2 = nth(&log, APIC_EV_NMI, 0, -1, 1);
  ck_assert_uint_lt(arrive2, exit1->cycle);              /* arrived inside handler 1 */
  ck_assert_uint_eq(nmi2->cycle, exit1->cycle + t->insn + t->iret);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 1)->a, 0);  /* not nested */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_NMI, 0, -1), 2);
  ck_assert_int_eq(nmi.count, 2);
  ck_assert_uint_eq(nmi.flag, 2);                        /* blocked inside, both times */
  apic_core_state cs;
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.nmi_blocked, 0);                  /* unblocked by the last IRET */
  ck_assert_uint_eq(cs.run, APIC_CORE_HALTED);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- INIT, SIPI, SMI, ExtINT ---- */

typedef struct bsp_arg { uint8_t page; uint32_t ap; } bsp_arg;

/* The BSP's INIT-SIPI sequence (SDM 8.4.4.1), waiting for delivery status. */
static int prog_bsp_wakeup(apic_cpu *c, void *arg) {
  bsp_arg *b = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  apic_cpu_send_ipi(c, b->ap, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  APIC_WORK(c, 10000);
  apic_cpu_send_ipi(c, b->ap, APIC_ICR_LO(b->page, APIC_DM_STARTUP, 0));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

static int prog_ap_main(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->count++;
  r->cpu = apic_cpu_index(c);
  r->t[0] = apic_cpu_now(c);
  r->flag = (uint32_t)apic_cpu_if(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_END(c);
}

/* SDM 8.4 / 10.4.7.3 and docs/SDM-CHOICES.md item 13: INIT resets the APIC
   (ID kept) and the core waits for SIPI; the SIPI starts the program
   installed for its page. */
START_TEST(init_sipi_starts_program_at_page) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  bsp_arg b = {0x9A, 1};
  rec ap = {0}, other = {0};
  apic_sim_set_startup(s, 0x9A, prog_ap_main, &ap);
  apic_sim_set_startup(s, 0x9B, prog_ap_main, &other);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  apic_sim_set_program(s, 0, prog_bsp_wakeup, &b);
  tu_wr(s, 1, APIC_REG_TPR, 0x30);
  run_to(s, 5000);  /* INIT taken, SIPI not yet sent */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_INIT, 1, -1), 1);
  uint64_t init_at = nth(&log, APIC_EV_INIT, 1, -1, 0)->cycle;
  /* the AP was halted: INIT wakes it after timing.wake */
  ck_assert_uint_eq(init_at, t->mmio_write + t->post + t->xapic_latency + t->wake);
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, 1, &st), APIC_OK);
  ck_assert_uint_eq(st.wait_sipi, 1);
  ck_assert_uint_eq(st.id, 1);            /* INIT keeps the APIC ID */
  ck_assert_uint_eq(st.tpr, 0);
  ck_assert_uint_eq(st.svr, 0xFF);        /* software-disabled again */
  ck_assert_int_eq(ap.count, 0);
  apic_core_state cs;
  ck_assert_int_eq(apic_core_state_get(s, 1, &cs), APIC_OK);
  ck_assert_uint_eq(cs.run, APIC_CORE_WAIT_SIPI);
  ck_assert_uint_eq(cs.nest, 0);
  ck_assert_uint_eq(cs.if_flag, 0);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *sipi = nth(&log, APIC_EV_SIPI, 1, 0x9A, 0);
  ck_assert_uint_eq(sipi->a, 1);                      /* a program started */
  ck_assert_int_eq(ap.count, 1);
  ck_assert_int_eq(other.count, 0);
  ck_assert_uint_eq(ap.cpu, 1);
  ck_assert_uint_eq(ap.t[0], sipi->cycle + t->insn);  /* no wake latency */
  ck_assert_uint_eq(ap.flag, 0);                      /* starts with IF = 0 */
  ck_assert_int_eq(apic_lapic_state_get(s, 1, &st), APIC_OK);
  ck_assert_uint_eq(st.wait_sipi, 0);
  ck_assert_uint_eq(st.svr, APIC_SVR_ENABLE | 0xFF);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_PROGRAM_DONE, 1, -1), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_INIT, 0, -1), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 8.4.4 / 10.4.7.3: a start-up IPI to a core that is not waiting for
   SIPI is ignored (APIC_DROP_NOT_WAITING). */
START_TEST(sipi_to_core_not_waiting_is_dropped) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec ap = {0};
  apic_sim_set_startup(s, 0x9A, prog_ap_main, &ap);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  run_to(s, 100);
  host_ipi(s, 0, 1, APIC_ICR_LO(0x9A, APIC_DM_STARTUP, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *d = nth(&log, APIC_EV_MSG_DROPPED, 1, 0x9A, 0);
  ck_assert_uint_eq(d->a, APIC_DROP_NOT_WAITING);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_SIPI, APIC_NONE, -1), 0);
  ck_assert_int_eq(ap.count, 0);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_eq(st.dropped, 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* apicsim.h APIC_EV_SIPI (a = 0): a start-up for a page with no program
   leaves the core idle (done), no longer waiting for SIPI. */
START_TEST(sipi_to_page_without_program_idles) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, 100), APIC_RUN_IDLE);
  host_ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  host_ipi(s, 0, 1, APIC_ICR_LO(0x22, APIC_DM_STARTUP, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_SIPI, 1, 0x22, 0)->a, 0);
  apic_core_state cs;
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_DONE);
  apic_lapic_state st;
  apic_lapic_state_get(s, 1, &st);
  ck_assert_uint_eq(st.wait_sipi, 0);
  /* a second SIPI is now dropped: the core no longer waits */
  host_ipi(s, 0, 1, APIC_ICR_LO(0x22, APIC_DM_STARTUP, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_MSG_DROPPED, 1, 0x22, 0)->a, APIC_DROP_NOT_WAITING);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_SIPI, 1, -1), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 6.9 / 34.2: SMI is taken whatever IF is and wakes a halted core to
   run the SMM handler (apic_sim_set_smi_handler); its RSM returns to the
   HLT (SDM 34.10, smi_in_hlt_returns_to_halt_34_10). */
START_TEST(smi_runs_smm_handler) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec smm = {0}, r = {.flag = 0};
  apic_sim_set_smi_handler(s, h_count_noeoi, &smm);
  apic_sim_set_program(s, 1, prog_halt_once, &r);  /* halted with IF = 0 */
  run_to(s, 100);
  uint64_t woke = arrival(s) + t->wake;
  host_ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_SMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_SMI, 1, -1, 0)->cycle, woke);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_SMI, APIC_NONE, -1), 1);
  ck_assert_int_eq(smm.count, 1);
  ck_assert_uint_eq(smm.cpu, 1);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 1, -1, 0)->cycle, woke + t->accept);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_EXIT, 1, -1, 0)->cycle, woke + t->accept + 10);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 34.10 "Auto HALT Restart": an SMI taken while the processor is in the
   HALT state sets the auto HALT restart flag, and leaving it set "instructs
   the RSM instruction to return program control to the HLT instruction ...
   (This is the default operation.)" The core halts again after RSM (a HALT
   event says so) and the code after its HLT runs only once something else
   wakes it: here an NMI, whose IRET returns after the HLT. */
START_TEST(smi_in_hlt_returns_to_halt_34_10) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec smm = {0}, nmi = {0}, r = {.flag = 0};
  apic_sim_set_smi_handler(s, h_count_noeoi, &smm);
  apic_sim_set_handler(s, APIC_NONE, NMI_VECTOR, h_count_noeoi, &nmi);
  apic_sim_set_program(s, 1, prog_halt_once, &r);  /* halted with IF = 0 */
  run_to(s, 100);
  host_ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_SMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(smm.count, 1);
  ck_assert_uint_eq(r.resumed, 0);                        /* not past the HLT */
  apic_core_state cs;
  ck_assert_int_eq(apic_core_state_get(s, 1, &cs), APIC_OK);
  ck_assert_uint_eq(cs.run, APIC_CORE_HALTED);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_OFF);
  const apic_event *rsm = nth(&log, APIC_EV_HANDLER_EXIT, 1, -1, 0);
  ck_assert_uint_eq(rsm->b, APIC_INTR_SMI);
  const apic_event *halt = nth(&log, APIC_EV_HALT, 1, -1, 1);  /* the restarted HLT */
  ck_assert_uint_gt(pos(&log, halt), pos(&log, rsm));
  ck_assert_uint_eq(halt->cycle, rsm->cycle);
  ck_assert_uint_eq(halt->a, 0);                          /* IF as before the SMI */
  uint64_t woke = arrival(s) + t->wake;
  host_ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(nmi.count, 1);
  ck_assert_uint_eq(r.resumed, woke + t->accept + 10 + t->insn + t->iret);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SMM handler that runs 200 short steps (the RSM at its end leaves SMM). */
static int h_smm_long(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->count++;
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 200; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_END(c);
}

/* SDM 34.5.1 "Entering SMM": "NMI, SMI, and A20M interrupts are blocked by
   internal SMM logic" (34.8: an NMI that arrives in SMM is latched and taken
   after RSM). An NMI sent while the SMM handler runs waits for its end. */
START_TEST(nmi_blocked_in_smm_34_5_1) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec smm = {0}, nmi = {0};
  apic_sim_set_smi_handler(s, h_smm_long, &smm);
  apic_sim_set_handler(s, APIC_NONE, NMI_VECTOR, h_count_noeoi, &nmi);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  start_handler(s, APIC_ICR_LO(0, APIC_DM_SMI, 0), 100);
  uint64_t arrive_nmi = arrival(s);
  host_ipi(s, 2, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(smm.count, 1);
  ck_assert_int_eq(nmi.count, 1);
  const apic_event *rsm = NULL;
  for (size_t i = 0; i < log.n && !rsm; i++)
    if (log.ev[i].kind == APIC_EV_HANDLER_EXIT && log.ev[i].cpu == 0 &&
        log.ev[i].b == APIC_INTR_SMI)
      rsm = &log.ev[i];
  ck_assert_ptr_nonnull(rsm);
  ck_assert_uint_lt(arrive_nmi, rsm->cycle);             /* arrived inside SMM */
  const apic_event *taken = nth(&log, APIC_EV_NMI, 0, -1, 0);
  ck_assert_uint_gt(pos(&log, taken), pos(&log, rsm));   /* taken after RSM, */
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 0)->a, 0);  /* not nested */
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 34.5 (25.5 in older editions) "SMI Handler Execution Environment":
   "Maskable hardware interrupts, exceptions, NMI interrupts, SMI interrupts,
   A20M interrupts, single-step traps, breakpoint traps, and INIT operations
   are inhibited when the processor enters SMM." An INIT that arrives while
   the SMM handler runs stays pending: the handler finishes (RSM) and the
   INIT is taken after it. */
START_TEST(init_held_in_smm_34_5) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec smm = {0};
  apic_sim_set_smi_handler(s, h_smm_long, &smm);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  start_handler(s, APIC_ICR_LO(0, APIC_DM_SMI, 0), 100);
  uint64_t arrive_init = arrival(s);
  host_ipi(s, 2, 0, APIC_ICR_LO(0, APIC_DM_INIT, 0));
  run_to(s, arrive_init + 10);
  apic_lapic_state ls;
  ck_assert_int_eq(apic_lapic_state_get(s, 0, &ls), APIC_OK);
  ck_assert_uint_eq(ls.init_pending, 1);                  /* latched, not taken */
  apic_core_state cs;
  ck_assert_int_eq(apic_core_state_get(s, 0, &cs), APIC_OK);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_NMI_BLOCKED);     /* still in SMM */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_INIT, 0, -1), 0);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *rsm = NULL;
  for (size_t i = 0; i < log.n && !rsm; i++)
    if (log.ev[i].kind == APIC_EV_HANDLER_EXIT && log.ev[i].cpu == 0 &&
        log.ev[i].b == APIC_INTR_SMI)
      rsm = &log.ev[i];
  ck_assert_ptr_nonnull(rsm);                             /* the handler ran to RSM */
  ck_assert_uint_lt(arrive_init, rsm->cycle);             /* INIT arrived inside SMM */
  const apic_event *init = nth(&log, APIC_EV_INIT, 0, -1, 0);
  ck_assert_uint_gt(pos(&log, init), pos(&log, rsm));     /* taken after RSM */
  ck_assert_int_eq(apic_core_state_get(s, 0, &cs), APIC_OK);
  ck_assert_uint_eq(cs.run, APIC_CORE_WAIT_SIPI);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_OFF);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* A fixed interrupt and an NMI arrive while an NMI (smm = 0) or SMM
   handler (smm = 1) that ran STI (h_sti_long) is busy; returns the sim
   with its log. */
static apic_sim *nest_in_sti_handler(int smm, tu_log *log, int *counts) {
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, log);
  if (smm) apic_sim_set_smi_handler(s, h_sti_long, NULL);
  rec nmi = {0};  /* h_count_noeoi's: not looked at */
  apic_sim_set_handler(s, APIC_NONE, 2, smm ? h_count_noeoi : h_sti_long, &nmi);
  apic_sim_set_handler(s, APIC_NONE, 0x50, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  start_handler(s, APIC_ICR_LO(0, smm ? APIC_DM_SMI : APIC_DM_NMI, 0), 100);
  host_ipi(s, 2, 0, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  host_ipi(s, 3, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  return s;
}

/* The exit of the first handler of that kind on core 0. */
static const apic_event *first_exit(const tu_log *log, uint32_t intr_kind) {
  for (size_t i = 0; i < log->n; i++)
    if (log->ev[i].kind == APIC_EV_HANDLER_EXIT && log->ev[i].cpu == 0 &&
        log->ev[i].b == intr_kind)
      return &log->ev[i];
  ck_abort_msg("no handler exit of kind %u", intr_kind);
  return NULL;
}

/* SDM 6.7.1: NMIs are blocked "until the next execution of the IRET
   instruction" - any IRET, not only the NMI handler's. An NMI handler runs
   STI, a fixed interrupt nests in it, and that handler's IRET lets the
   next NMI in, nested inside the first NMI handler. */
START_TEST(nmi_unblocked_by_any_iret_6_7_1) {
  tu_log log = {0};
  int counts[4 * 256] = {0};
  apic_sim *s = nest_in_sti_handler(0, &log, counts);
  const apic_event *exit50 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x50, 0);
  const apic_event *nmi2 = nth(&log, APIC_EV_NMI, 0, -1, 1);
  const apic_event *exit1 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 2, 0);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x50, 0)->a, 1);  /* nested */
  ck_assert_uint_gt(pos(&log, nmi2), pos(&log, exit50));  /* after the nested IRET */
  ck_assert_uint_lt(pos(&log, nmi2), pos(&log, exit1));   /* inside the first NMI handler */
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 1)->a, 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_ENTER, 0, 2), 2);
  ck_assert_int_eq(counts[0x50], 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 34.8: NMIs blocked on entry to SMM "may be enabled through software
   by executing an IRET instruction". The SMM handler runs STI, a fixed
   interrupt nests, and after its IRET an NMI is taken inside SMM, before
   RSM; the core state says so (apic_smm). */
START_TEST(iret_in_smm_unblocks_nmi_34_8) {
  tu_log log = {0};
  int counts[4 * 256] = {0};
  apic_sim *s = nest_in_sti_handler(1, &log, counts);
  const apic_event *exit50 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x50, 0);
  const apic_event *taken = nth(&log, APIC_EV_NMI, 0, -1, 0);
  const apic_event *rsm = first_exit(&log, APIC_INTR_SMI);
  ck_assert_uint_gt(pos(&log, taken), pos(&log, exit50));
  ck_assert_uint_lt(pos(&log, taken), pos(&log, rsm));
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 0)->a, 1);  /* nested in SMM */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_SMI, 0, -1), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_NMI, 0, -1), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
  /* the state in between: SMM after an IRET, then out of SMM after RSM */
  apic_config cfg = cfg4();
  s = tu_sim(&cfg, NULL);
  apic_sim_set_smi_handler(s, h_sti_long, NULL);
  apic_sim_set_handler(s, APIC_NONE, 0x50, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  run_to(s, 100);
  host_ipi(s, 1, 0, APIC_ICR_LO(0, APIC_DM_SMI, 0));
  uint64_t entered = arrival(s) + cfg.timing.wake + cfg.timing.accept;
  run_to(s, entered + 50);
  apic_core_state cs;
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_NMI_BLOCKED);
  host_ipi(s, 2, 0, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  run_to(s, entered + 1500);  /* 0x50 done, the SMM handler still busy */
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_AFTER_IRET);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_OFF);
  apic_sim_destroy(s);
}
END_TEST

/* NMI handler that runs 600 short steps with IF = 0 (no IRET of its own
   for a while). */
static int h_nmi_600(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->count++;
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 600; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_END(c);
}

/* SDM 34.8: "If NMIs were blocked before the SMI occurred, they are
   blocked after execution of RSM", even when an IRET inside SMM unblocked
   them there. An SMI arrives in an NMI handler; the SMM handler runs STI, a
   fixed interrupt nests and IRETs; after RSM the NMI handler runs on with
   NMIs blocked, and the next NMI waits for its IRET. */
START_TEST(rsm_restores_nmi_blocking_34_8) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec nmi = {0};
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 2, h_nmi_600, &nmi);
  apic_sim_set_smi_handler(s, h_sti_long, NULL);
  apic_sim_set_handler(s, APIC_NONE, 0x50, tu_handler_count, counts);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  uint64_t entered = start_handler(s, APIC_ICR_LO(0, APIC_DM_NMI, 0), 50);
  host_ipi(s, 2, 0, APIC_ICR_LO(0, APIC_DM_SMI, 0));
  host_ipi(s, 3, 0, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  run_to(s, entered + 4000);  /* RSM done, the NMI handler still busy */
  apic_core_state cs;
  apic_core_state_get(s, 0, &cs);
  ck_assert_uint_eq(cs.in_smm, APIC_SMM_OFF);
  ck_assert_uint_eq(cs.nest, 1);
  ck_assert_uint_eq(cs.vectors[0], 2);
  ck_assert_uint_eq(cs.nmi_blocked, 1);
  ck_assert_int_eq(counts[0x50], 1);
  host_ipi(s, 1, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(nmi.count, 2);
  const apic_event *exit1 = nth(&log, APIC_EV_HANDLER_EXIT, 0, 2, 0);
  ck_assert_uint_gt(pos(&log, nth(&log, APIC_EV_NMI, 0, -1, 1)), pos(&log, exit1));
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 2, 1)->a, 0);  /* not nested */
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.5.1 / 82093AA 3.2.4 ExtINT: the vector comes from the 8259A
   stand-in (config.extint_vector), not from the message; no IRR/ISR. */
START_TEST(extint_from_ioapic_uses_config_vector) {
  apic_config cfg = cfg4();
  cfg.extint_vector = 0x30;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec h = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x30, h_count_noeoi, &h);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, ((uint64_t)APIC_DM_EXTINT << APIC_RTE_DM_SHIFT) |
                                       ((uint64_t)0 << APIC_RTE_DEST_SHIFT)), APIC_OK);
  run_to(s, 100);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *e = nth(&log, APIC_EV_EXTINT, 0, 0x30, 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EXTINT, APIC_NONE, -1), 1);
  ck_assert_uint_eq(nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x30, 0)->cycle,
                    e->cycle + cfg.timing.accept);
  ck_assert_int_eq(h.count, 1);
  ck_assert_uint_eq(h.vector, 0x30);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_ACCEPT, APIC_NONE, -1), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, -1), 0);
  apic_lapic_state st;
  apic_lapic_state_get(s, 0, &st);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(st.isr[i] | st.irr[i], 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* docs/SDM-CHOICES.md item 10 (SDM 10.4.7.2): a software-disabled APIC drops
   an ExtINT message (msg_dropped, reason disabled); once enabled it takes it. */
START_TEST(extint_message_dropped_while_software_disabled) {
  apic_config cfg = cfg4();
  cfg.extint_vector = 0x30;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  rec h = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x30, h_count_noeoi, &h);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, (uint64_t)APIC_DM_EXTINT << APIC_RTE_DM_SHIFT),
                   APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 1), APIC_OK);  /* SVR still 0xFF */
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_MSG_DROPPED, 0, -1, 0)->a, APIC_DROP_DISABLED);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_PENDING, 0, -1), 0);
  apic_intr_kind k;
  uint8_t v;
  ck_assert_int_eq(apic_sim_pending(s, 0, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  /* enabled, with a program that takes it */
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, apic_sim_now(s) + 100), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 0), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(h.count, 1);
  ck_assert_uint_eq(h.vector, 0x30);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.5.1: LINT0 programmed ExtINT (virtual wire) and LINT1 programmed NMI
   (the classic LINT setup) drive the core through apic_lapic_set_lint. */
/* Four cores, the 8259A stand-in answering vector `extint`; ext and nmi count
   the ExtINT and NMI handlers; core 1 idles (APIC on, STI, HLT) from cycle 100. */
static apic_sim *lint_machine(uint8_t extint, rec *ext, rec *nmi, tu_log *log) {
  apic_config cfg = cfg4();
  cfg.extint_vector = extint;
  apic_sim *s = tu_sim(&cfg, log);
  apic_sim_set_handler(s, APIC_NONE, extint, h_count_noeoi, ext);
  apic_sim_set_handler(s, APIC_NONE, NMI_VECTOR, h_count_noeoi, nmi);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  run_to(s, 100);
  return s;
}

START_TEST(lint0_extint_and_lint1_nmi) {
  tu_log log = {0};
  rec ext = {0}, nmi = {0};
  apic_sim *s = lint_machine(0x31, &ext, &nmi, &log);  /* LVT writes may unmask now */
  tu_wr(s, 1, APIC_REG_LVT_LINT0, APIC_DM_EXTINT << APIC_LVT_DM_SHIFT);
  tu_wr(s, 1, APIC_REG_LVT_LINT1, APIC_DM_NMI << APIC_LVT_DM_SHIFT);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(ext.count, 1);
  ck_assert_uint_eq(ext.vector, 0x31);
  ck_assert_uint_eq(ext.cpu, 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EXTINT, 1, 0x31), 1);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 1, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(nmi.count, 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_NMI, 1, -1), 1);
  /* NMI is edge-triggered: holding LINT1 high sends nothing more. The
     8259A stand-in dropped INTR at the INTA, so raising LINT0 again is a
     new request. */
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 1, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(ext.count, 2);
  ck_assert_int_eq(nmi.count, 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.4.3: with IA32_APIC_BASE[11] clear the processor "is functionally
   equivalent to an IA-32 processor without an on-chip APIC", whose LINT0
   and LINT1 pins are its INTR and NMI inputs: whatever the (reset, masked)
   LVT says, LINT0 raises an ExtINT the 8259A stand-in answers, LINT1 an
   NMI. A LINT0 already high when the APIC is disabled is INTR at once. */
START_TEST(globally_disabled_apic_lint_pins_are_intr_and_nmi_10_4_3) {
  tu_log log = {0};
  rec ext = {0}, nmi = {0};
  apic_sim *s = lint_machine(0x32, &ext, &nmi, &log);
  uint64_t base = 0;
  ck_assert_int_eq(apic_lapic_rdmsr(s, 1, APIC_MSR_APIC_BASE, &base), APIC_OK);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 1, APIC_MSR_APIC_BASE, base & ~(uint64_t)APIC_BASE_EN),
                   APIC_OK);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(ext.count, 1);
  ck_assert_uint_eq(ext.vector, 0x32);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 1, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(nmi.count, 1);
  /* core 2: LINT0 held high while its APIC is enabled (LVT masked), then disabled */
  apic_sim_set_program(s, 2, tu_prog_idle, NULL);
  run_to(s, apic_sim_now(s) + 100);
  ck_assert_int_eq(apic_lapic_set_lint(s, 2, 0, 1), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(ext.count, 1);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 2, APIC_MSR_APIC_BASE, base & ~(uint64_t)APIC_BASE_EN &
                                    ~(uint64_t)APIC_BASE_BSP), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_int_eq(ext.count, 2);
  ck_assert_uint_eq(ext.cpu, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.5.1 Trigger Mode: "When the delivery mode is ExtINT, the trigger
   mode is always level sensitive". An ExtINT on LINT0 is pending while the
   line is asserted (a line that goes away before the INTA takes the request
   with it); the INTA (apic_sim_ack, here in embedded mode) is answered by
   the 8259A stand-in, which drops INTR like an 8259A with one request. */
START_TEST(lint_extint_is_level_sensitive_10_5_1) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  apic_intr_kind k;
  uint8_t v;
  tu_wr(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  tu_wr(s, 1, APIC_REG_LVT_LINT0, APIC_DM_EXTINT << APIC_LVT_DM_SHIFT);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_EXTINT);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 0), APIC_OK);  /* withdrawn */
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WITHDRAWN, 1, -1), 1);
  ck_assert_uint_eq(nth(&log, APIC_EV_WITHDRAWN, 1, -1, 0)->a, APIC_INTR_EXTINT);
  /* held through the INTA: taken once, then INTR is down */
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_EXTINT, &v), APIC_OK);
  ck_assert_uint_eq(v, cfg.extint_vector);
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 0), APIC_OK);  /* no request left to withdraw */
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WITHDRAWN, 1, -1), 1);
  /* masked while asserted: nothing; unmasking lets the level through */
  tu_wr(s, 1, APIC_REG_LVT_LINT0, APIC_LVT_MASKED | (APIC_DM_EXTINT << APIC_LVT_DM_SHIFT));
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  tu_wr(s, 1, APIC_REG_LVT_LINT0, APIC_DM_EXTINT << APIC_LVT_DM_SHIFT);
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_EXTINT);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* apicsim.h apic_sim_ack: an INTA for an ExtINT that is not pending (taken
   back, or never there) gets the stand-in's vector and changes nothing: the
   8259A drops INTR only for a request it has, so a LINT pin stays as the
   host drove it. Here LINT0 is an NMI line held high: setting it high again
   is no new edge. */
START_TEST(extint_ack_without_request_leaves_lint_pins) {
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_intr_kind k;
  uint8_t v;
  tu_wr(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  tu_wr(s, 1, APIC_REG_LVT_LINT0, APIC_DM_NMI << APIC_LVT_DM_SHIFT);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_NMI, &v), APIC_OK);
  ck_assert_int_eq(apic_sim_nmi_return(s, 1), APIC_OK);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_EXTINT, &v), APIC_OK);
  ck_assert_uint_eq(v, cfg.extint_vector);
  ck_assert_int_eq(apic_lapic_set_lint(s, 1, 0, 1), APIC_OK);  /* still high: no edge */
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h APIC_EV_UNHANDLED: a vector with no handler runs the default
   handler, which EOIs the in-service vector and IRETs. */
START_TEST(unhandled_vector_runs_default_handler) {
  apic_config cfg = cfg4();
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  apic_sim_set_program(s, 0, tu_prog_idle, NULL);
  run_to(s, 100);
  host_ipi(s, 1, 0, FIXED(0x77));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  const apic_event *u = nth(&log, APIC_EV_UNHANDLED, 0, 0x77, 0);
  const apic_event *eoi = nth(&log, APIC_EV_EOI, 0, 0x77, 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_UNHANDLED, APIC_NONE, -1), 1);
  ck_assert_uint_eq(u->cycle, nth(&log, APIC_EV_ACCEPT, 0, 0x77, 0)->cycle);
  ck_assert_uint_gt(pos(&log, eoi), pos(&log, u));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_EXIT, 0, 0x77), 1);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_eq(st.unhandled, 1);
  ck_assert_uint_eq(st.handlers, 1);
  apic_lapic_state ls;
  apic_lapic_state_get(s, 0, &ls);
  ck_assert_int_eq(tu_vec(ls.isr, 0x77), 0);
  ck_assert_uint_eq(ls.ppr, 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- spin waits and run status (docs/ENGINE.md "Shared memory") ---- */

typedef struct spin { volatile uint32_t flag; uint64_t woke; int rounds; } spin;

static int prog_store_at_5000(apic_cpu *c, void *arg) {
  spin *sp = arg;
  APIC_BEGIN(c);
  APIC_WORK(c, 5000);
  APIC_STORE(c, &sp->flag, 1);
  APIC_END(c);
}

static int prog_spin(apic_cpu *c, void *arg) {
  spin *sp = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  sp->rounds++;
  APIC_SPIN_UNTIL(c, &sp->flag, sp->flag == 1);
  sp->woke = apic_cpu_now(c);
  APIC_END(c);
}

/* ENGINE.md: a spinning core parks on the address and sees a store to it
   timing.pause cycles later; meanwhile it costs no events. */
START_TEST(spin_until_woken_by_store_from_other_core) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  apic_sim *s = tu_sim(&cfg, NULL);
  spin sp = {0};
  apic_sim_set_program(s, 0, prog_store_at_5000, &sp);
  apic_sim_set_program(s, 1, prog_spin, &sp);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(sp.flag, 1);
  ck_assert_uint_eq(sp.woke, 5000 + t->pause);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_le(st.events, 10);  /* no polling during the 5000 cycles */
  apic_sim_destroy(s);
}
END_TEST

/* ENGINE.md: an interrupt wakes a spinning core at once (no HLT exit); after
   the handler it checks the condition again and parks again. */
START_TEST(spin_woken_by_interrupt_then_rechecks) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  spin sp = {0};
  apic_sim_set_program(s, 0, prog_store_at_5000, &sp);
  apic_sim_set_program(s, 1, prog_spin, &sp);
  run_to(s, 100);
  uint64_t arrive = arrival(s);
  host_ipi(s, 2, 1, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(nth(&log, APIC_EV_ACCEPT, 1, 0x40, 0)->cycle, arrive);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_WAKE, 1, -1), 0);
  ck_assert_int_eq(counts[1 * 256 + 0x40], 1);
  ck_assert_uint_lt(nth(&log, APIC_EV_HANDLER_EXIT, 1, 0x40, 0)->cycle, 5000);
  ck_assert_uint_eq(sp.woke, 5000 + t->pause);
  ck_assert_int_eq(sp.rounds, 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

static int prog_forever(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  for (;;) APIC_WORK(c, 100);
  APIC_END(c);
}

/* apicsim.h apic_run_status: STUCK when only spinners are left, IDLE when
   every core halted or finished, LIMIT at the cycle limit. */
START_TEST(run_status_stuck_idle_limit) {
  apic_config cfg = cfg4();
  /* STUCK: core 1 spins on a flag nobody will ever store */
  apic_sim *s = tu_sim(&cfg, NULL);
  spin sp = {0};
  apic_sim_set_program(s, 1, prog_spin, &sp);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_STUCK);
  ck_assert_int_eq(apic_sim_run(s, 1000000), APIC_RUN_STUCK);
  ck_assert_uint_eq(apic_sim_now(s), 1000000);
  ck_assert_uint_eq(sp.woke, 0);
  apic_core_state cs;
  apic_core_state_get(s, 1, &cs);
  ck_assert_uint_eq(cs.run, APIC_CORE_RUNNING);  /* spinning counts as running */
  apic_sim_destroy(s);
  /* IDLE: everything halted */
  s = tu_sim(&cfg, NULL);
  for (uint32_t i = 0; i < 4; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
  ck_assert_uint_eq(apic_sim_next_event(s), UINT64_MAX);
  apic_sim_destroy(s);
  /* LIMIT: a core that never stops */
  s = tu_sim(&cfg, NULL);
  apic_sim_set_program(s, 2, prog_forever, NULL);
  ck_assert_int_eq(apic_sim_run(s, 10000), APIC_RUN_LIMIT);
  ck_assert_uint_eq(apic_sim_now(s), 10000);
  ck_assert_uint_eq(apic_sim_next_event(s), 10100);
  ck_assert_int_eq(apic_sim_run(s, 20050), APIC_RUN_LIMIT);
  ck_assert_uint_eq(apic_sim_now(s), 20050);
  apic_sim_destroy(s);
}
END_TEST

/* ENGINE.md "Idle costs nothing": 1e9 cycles of a halted machine cost only
   the steps before the HLTs; an IPI afterwards costs a handful more. */
START_TEST(halted_machine_costs_no_events) {
  apic_config cfg = tu_config(8, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = tu_sim(&cfg, NULL);
  int counts[8 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x40, tu_handler_count, counts);
  for (uint32_t i = 0; i < 8; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  ck_assert_int_eq(apic_sim_run(s, 1000000000ull), APIC_RUN_IDLE);
  ck_assert_uint_eq(apic_sim_now(s), 1000000000ull);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_le(st.events, 8 * 3);  /* SVR, STI, HLT per core, nothing after */
  host_ipi(s, 0, 5, FIXED(0x40));
  ck_assert_int_eq(apic_sim_run(s, 2000000000ull), APIC_RUN_IDLE);
  ck_assert_int_eq(counts[5 * 256 + 0x40], 1);
  apic_sim_stats(s, &st);
  ck_assert_uint_le(st.events, 8 * 3 + 10);
  apic_sim_destroy(s);
}
END_TEST

/* ---- handler tables and sending ---- */

/* apicsim.h apic_sim_set_handler: a per-core entry overrides the machine-wide
   table for that core only; clearing it falls back to the table. */
START_TEST(per_core_handler_overrides_machine_table) {
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, NULL);
  who a = {0}, b = {0};
  ck_assert_int_eq(apic_sim_set_handler(s, APIC_NONE, 0x50, h_who, &a), APIC_OK);
  ck_assert_int_eq(apic_sim_set_handler(s, 1, 0x50, h_who, &b), APIC_OK);
  for (uint32_t i = 0; i < 3; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  run_to(s, 100);
  host_ipi(s, 3, 0, APIC_ICR_LO(0x50, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(a.mask, (1u << 0) | (1u << 2));
  ck_assert_uint_eq(b.mask, 1u << 1);
  ck_assert_int_eq(a.n, 2);
  ck_assert_int_eq(b.n, 1);
  ck_assert_int_eq(apic_sim_set_handler(s, 1, 0x50, NULL, NULL), APIC_OK);
  a.mask = b.mask = 0;
  host_ipi(s, 3, 1, FIXED(0x50));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(a.mask, 1u << 1);
  ck_assert_uint_eq(b.mask, 0);
  apic_sim_destroy(s);
}
END_TEST

typedef struct send_arg { uint32_t dest; uint64_t t0, t1; } send_arg;

static int prog_send(apic_cpu *c, void *arg) {
  send_arg *a = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  a->t0 = apic_cpu_now(c);
  apic_cpu_send_ipi(c, a->dest, FIXED(0x60));
  APIC_YIELD(c);
  a->t1 = apic_cpu_now(c);
  APIC_END(c);
}

/* SDM 10.6.1: in xAPIC mode an IPI is two MMIO writes (ICR_HI with the
   destination in bits 31:24, then ICR_LO, which sends). */
START_TEST(send_ipi_xapic_is_two_mmio_writes) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x60, tu_handler_count, counts);
  send_arg a = {2, 0, 0};
  apic_sim_set_program(s, 0, prog_send, &a);
  apic_sim_set_program(s, 2, tu_prog_idle, NULL);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(a.t0, t->mmio_write);
  ck_assert_uint_eq(a.t1 - a.t0, 2 * t->mmio_write);
  const apic_event *w = nth(&log, APIC_EV_ICR_WRITE, 0, 0x60, 0);
  ck_assert_uint_eq(w->cycle, a.t0);
  ck_assert_uint_eq(w->dest, 2);
  ck_assert_uint_eq(w->a, 0x60);
  ck_assert_uint_eq(w->b, 2u << APIC_ICR_DEST_SHIFT);
  ck_assert_int_eq(counts[2 * 256 + 0x60], 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_ENTER, APIC_NONE, 0x60), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.12.9: in x2APIC mode the ICR is one 64-bit MSR write with a 32-bit
   destination in bits 63:32 (here x2APIC ID 70000). */
START_TEST(send_ipi_x2apic_is_one_wrmsr) {
  apic_config cfg = cfg4();
  const apic_timing *t = &cfg.timing;
  static const uint32_t ids[4] = {0, 1000, 70000, 5};
  cfg.x2apic = 1;
  cfg.apic_ids = ids;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  int counts[4 * 256] = {0};
  apic_sim_set_handler(s, APIC_NONE, 0x60, tu_handler_count, counts);
  send_arg a = {70000, 0, 0};
  apic_sim_set_program(s, 0, prog_send, &a);
  apic_sim_set_program(s, 2, tu_prog_idle, NULL);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  ck_assert_uint_eq(a.t0, t->msr_write);            /* SVR went through WRMSR */
  ck_assert_uint_eq(a.t1 - a.t0, t->msr_write);
  const apic_event *w = nth(&log, APIC_EV_ICR_WRITE, 0, 0x60, 0);
  ck_assert_uint_eq(w->dest, 70000);
  ck_assert_uint_eq(w->b, 70000);
  ck_assert_int_eq(counts[2 * 256 + 0x60], 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_ENTER, APIC_NONE, 0x60), 1);
  apic_lapic_state st;
  apic_lapic_state_get(s, 2, &st);
  ck_assert_uint_eq(st.x2apic, 1);
  ck_assert_uint_eq(st.id, 70000);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- guest calls (apic_cpu_call, APIC_CALL) ---- */

/* A callee: its own locals; two TPR writes; records when it starts. */
static int callee_tpr(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->t[r->n++] = apic_cpu_now(c);
  APIC_L(c, 0) = 99;
  APIC_WRITE(c, APIC_REG_TPR, 0x20);
  APIC_WRITE(c, APIC_REG_TPR, (uint32_t)APIC_L(c, 0) == 99 ? 0x30u : 0x10u);
  APIC_END(c);
}

static int prog_calls(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  APIC_L(c, 0) = 7;
  APIC_CALL(c, callee_tpr, r);
  r->t[r->n++] = apic_cpu_now(c);
  r->mem = (uint32_t)APIC_L(c, 0);  /* the caller's local, untouched by the callee's */
  APIC_CALL(c, callee_tpr, r);
  r->t[r->n++] = apic_cpu_now(c);
  APIC_END(c);
}

/* ENGINE.md "Guest cores": APIC_CALL costs timing.insn, runs the callee in a
   frame of its own from the next step, and the caller resumes after the
   callee's last step plus timing.insn for the return. */
START_TEST(call_runs_callee_in_own_frame_then_resumes_caller) {
  apic_config cfg = cfg4();
  apic_timing *t = &cfg.timing;
  t->insn = 3;
  t->mmio_write = 7;
  apic_sim *s = tu_sim(&cfg, NULL);
  rec r = {0};
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_calls, &r), APIC_OK);
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  /* CALL at 0; callee at 3: writes at 3 and 10, returns at 17 (a step
     with no operation, then RET); the caller resumes at 23 */
  uint64_t callee = t->insn, ret = callee + 2 * t->mmio_write + 2 * t->insn;
  ck_assert_int_eq(r.n, 4);
  ck_assert_uint_eq(r.t[0], callee);
  ck_assert_uint_eq(r.t[1], ret);
  ck_assert_uint_eq(r.t[2], ret + t->insn);  /* the second call, same again */
  ck_assert_uint_eq(r.t[3], r.t[2] + (ret - callee));
  ck_assert_uint_eq(r.mem, 7);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0x30);
  apic_sim_destroy(s);
}
END_TEST

static int callee_sti_work(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  APIC_STI(c);
  APIC_WORK(c, 2000);
  r->resumed = apic_cpu_now(c);
  APIC_END(c);
}

static int prog_calls_sti_work(apic_cpu *c, void *arg) {
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_CALL(c, callee_sti_work, arg);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static int eoi_helper(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  r->cpu = apic_cpu_vector(c);  /* the handler's vector, seen from its callee */
  APIC_EOI(c);
  APIC_END(c);
}

static int handler_calls_eoi(apic_cpu *c, void *arg) {
  rec *r = arg;
  APIC_BEGIN(c);
  APIC_CALL(c, eoi_helper, r);
  r->count++;
  APIC_END(c);
}

/* SDM 6.12.1: an interrupt taken while a called function runs is a handler
   nested in nothing (HANDLER_ENTER a = 0, apic_core_state nest 1): calls are
   not interrupt frames; the IRET returns into the callee, which finishes. A
   handler's callee sees the handler's vector and its EOI ends the ISR bit. */
/* Core 0 runs prog with handler for 0x40 (both get r); at cycle `at` core 1
   sends it 0x40; runs until idle. */
static apic_sim *ipi_at(tu_log *log, apic_guest_fn prog, apic_guest_fn handler, rec *r,
                        uint64_t at) {
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, log);
  apic_sim_set_handler(s, APIC_NONE, 0x40, handler, r);
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog, r), APIC_OK);
  run_to(s, at);
  host_ipi(s, 1, 0, FIXED(0x40));
  ck_assert_int_eq(run_all(s), APIC_RUN_IDLE);
  return s;
}

START_TEST(interrupt_nests_over_callee_and_handler_calls_helper) {
  tu_log log = {0};
  rec r = {0};
  /* the IPI comes during the callee's 2000-cycle step */
  apic_sim *s = ipi_at(&log, prog_calls_sti_work, handler_calls_eoi, &r, 200);
  const apic_event *enter = nth(&log, APIC_EV_HANDLER_ENTER, 0, 0x40, 0);
  ck_assert_uint_eq(enter->a, 0);
  const apic_event *exit = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x40, 0);
  ck_assert_uint_eq(exit->a, 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_uint_eq(r.cpu, 0x40);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI, 0, 0x40), 1);
  ck_assert_uint_gt(r.resumed, exit->cycle);  /* the callee finished after the IRET */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ISR0 + 0x40 / 32 * 0x10), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* A handler that calls a helper and returns APIC_DONE in the same step
   (apic_cpu_call without APIC_CALL's yield): the helper runs, then the IRET. */
static int handler_tail_calls(apic_cpu *c, void *arg) {
  apic_cpu_call(c, eoi_helper, arg);
  return APIC_DONE;
}

/* ENGINE.md "Guest cores": a function that returns APIC_DONE in the step
   that made a call finishes when the callee returns. */
START_TEST(done_in_the_calling_step_finishes_after_the_callee) {
  tu_log log = {0};
  rec r = {0};
  apic_sim *s = ipi_at(&log, tu_prog_idle, handler_tail_calls, &r, 100);
  const apic_event *eoi = nth(&log, APIC_EV_EOI, 0, 0x40, 0);
  const apic_event *exit = nth(&log, APIC_EV_HANDLER_EXIT, 0, 0x40, 0);
  ck_assert_uint_lt(pos(&log, eoi), pos(&log, exit));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_HANDLER_EXIT, 0, 0x40), 1);
  apic_core_state cs;
  ck_assert_int_eq(apic_core_state_get(s, 0, &cs), APIC_OK);
  ck_assert_uint_eq(cs.nest, 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

static int recurse(apic_cpu *c, void *arg) {
  APIC_BEGIN(c);
  APIC_CALL(c, recurse, arg);
  APIC_END(c);
}

static int call_null(apic_cpu *c, void *arg) {
  APIC_BEGIN(c);
  APIC_CALL(c, NULL, arg);
  APIC_END(c);
}

/* A NULL call in the step that finishes the program. */
static int call_null_then_done(apic_cpu *c, void *arg) {
  apic_cpu_call(c, NULL, arg);
  return APIC_DONE;
}

static void count_done(void *ud, const apic_event *ev) {
  if (ev->kind == APIC_EV_PROGRAM_DONE) ++*(int *)ud;
}

static int call_twice(apic_cpu *c, void *arg) {
  APIC_BEGIN(c);
  apic_cpu_call(c, recurse, arg);
  apic_cpu_call(c, recurse, arg);
  APIC_YIELD(c);
  APIC_END(c);
}

static int prog_extint_lint0(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WRITE(c, APIC_REG_LVT_LINT0, APIC_DM_EXTINT << APIC_LVT_DM_SHIFT);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static int handler_sti_forever(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_STI(c);
  for (;;) APIC_WORK(c, 10);
  APIC_END(c);
}

/* ENGINE.md "Guest cores": ExtINT puts nothing in ISR, so a handler that
   sets IF takes the next ExtINT nested, without end; past 1024 frames the
   run stops with APIC_E_STATE and a message, the state stays readable and
   the machine is destroyed cleanly (the frame array used to wrap). */
START_TEST(unbounded_extint_nesting_stops_the_run) {
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_sim_set_handler(s, APIC_NONE, cfg.extint_vector, handler_sti_forever, NULL);
  ck_assert_int_eq(apic_sim_set_program(s, 0, prog_extint_lint0, NULL), APIC_OK);
  run_to(s, 1000);
  int rc = APIC_OK;
  for (int i = 0; i < 1100 && rc >= 0; i++) {
    ck_assert_int_eq(apic_lapic_set_lint(s, 0, 0, 1), APIC_OK);
    rc = apic_sim_run(s, apic_sim_now(s) + 400);
    if (rc >= 0) ck_assert_int_eq(apic_lapic_set_lint(s, 0, 0, 0), APIC_OK);
  }
  ck_assert_int_eq(rc, APIC_E_STATE);
  ck_assert_msg(strstr(apic_sim_errmsg(s), "deeper than 1024"), "%s", apic_sim_errmsg(s));
  apic_core_state cs;
  ck_assert_int_eq(apic_core_state_get(s, 0, &cs), APIC_OK);
  ck_assert_uint_ge(cs.nest, 1000);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h apic_cpu_call: a NULL function, two calls in one step and
   unbounded recursion stop the run with APIC_E_STATE and a message, at the
   step that made them; the machine then refuses to run. */
START_TEST(bad_calls_stop_the_run_with_a_message) {
  static const struct { apic_guest_fn fn; const char *says; } cases[] = {
    {call_null, "NULL function"}, {call_twice, "two apic_cpu_call"}, {recurse, "deeper than 1024"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    apic_config cfg = cfg4();
    apic_sim *s = tu_sim(&cfg, NULL);
    ck_assert_int_eq(apic_sim_set_program(s, 0, cases[i].fn, NULL), APIC_OK);
    ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_E_STATE);
    ck_assert_msg(strstr(apic_sim_errmsg(s), cases[i].says), "%s", apic_sim_errmsg(s));
    ck_assert_msg(strstr(apic_sim_errmsg(s), "cpu 0"), "%s", apic_sim_errmsg(s));
    ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_E_STATE);
    ck_assert_msg(strstr(apic_sim_errmsg(s), "guest fault"), "%s", apic_sim_errmsg(s));
    apic_sim_destroy(s);
  }
  /* the faulting step does not go on to finish its frame: no PROGRAM_DONE */
  apic_config cfg = cfg4();
  apic_sim *s = tu_sim(&cfg, NULL);
  int done = 0;
  ck_assert_int_eq(apic_sim_set_hook(s, count_done, &done), APIC_OK);
  ck_assert_int_eq(apic_sim_set_program(s, 0, call_null_then_done, NULL), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_E_STATE);
  ck_assert_msg(strstr(apic_sim_errmsg(s), "NULL function"), "%s", apic_sim_errmsg(s));
  ck_assert_int_eq(done, 0);
  apic_sim_destroy(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cpu");
  TCase *tc = tcase_create("steps");
  tcase_add_test(tc, steps_cost_their_timing);
  suite_add_tcase(s, tc);
  tc = tcase_create("boundaries");
  tcase_add_test(tc, interrupt_taken_at_instruction_boundary);
  tcase_add_test(tc, cli_blocks_sti_opens_after_next_instruction);
  tcase_add_test(tc, sti_hlt_takes_pending_interrupt_after_hlt);
  tcase_add_test(tc, hlt_wakes_after_wake_latency_and_resumes_after_hlt);
  tcase_add_test(tc, hlt_with_if0_wakes_only_on_nmi);
  tcase_add_test(tc, finished_program_still_takes_interrupts);
  tcase_add_test(tc, tpr_holds_halted_core_until_lowered);
  suite_add_tcase(s, tc);
  tc = tcase_create("nesting");
  tcase_add_test(tc, handler_with_sti_nests_higher_class_same_or_lower_waits_for_eoi);
  tcase_add_test(tc, handler_without_sti_defers_higher_class_to_iret);
  tcase_add_test(tc, nmi_blocked_until_handler_iret);
  tcase_add_test(tc, nmi_unblocked_by_any_iret_6_7_1);
  tcase_add_test(tc, iret_in_smm_unblocks_nmi_34_8);
  tcase_add_test(tc, rsm_restores_nmi_blocking_34_8);
  suite_add_tcase(s, tc);
  tc = tcase_create("special");
  tcase_add_test(tc, init_sipi_starts_program_at_page);
  tcase_add_test(tc, sipi_to_core_not_waiting_is_dropped);
  tcase_add_test(tc, sipi_to_page_without_program_idles);
  tcase_add_test(tc, smi_runs_smm_handler);
  tcase_add_test(tc, smi_in_hlt_returns_to_halt_34_10);
  tcase_add_test(tc, nmi_blocked_in_smm_34_5_1);
  tcase_add_test(tc, init_held_in_smm_34_5);
  tcase_add_test(tc, extint_from_ioapic_uses_config_vector);
  tcase_add_test(tc, extint_message_dropped_while_software_disabled);
  tcase_add_test(tc, lint0_extint_and_lint1_nmi);
  tcase_add_test(tc, globally_disabled_apic_lint_pins_are_intr_and_nmi_10_4_3);
  tcase_add_test(tc, lint_extint_is_level_sensitive_10_5_1);
  tcase_add_test(tc, extint_ack_without_request_leaves_lint_pins);
  tcase_add_test(tc, unhandled_vector_runs_default_handler);
  suite_add_tcase(s, tc);
  tc = tcase_create("engine");
  tcase_add_test(tc, spin_until_woken_by_store_from_other_core);
  tcase_add_test(tc, spin_woken_by_interrupt_then_rechecks);
  tcase_add_test(tc, run_status_stuck_idle_limit);
  tcase_add_test(tc, halted_machine_costs_no_events);
  suite_add_tcase(s, tc);
  tc = tcase_create("handlers");
  tcase_add_test(tc, per_core_handler_overrides_machine_table);
  tcase_add_test(tc, send_ipi_xapic_is_two_mmio_writes);
  tcase_add_test(tc, send_ipi_x2apic_is_one_wrmsr);
  suite_add_tcase(s, tc);
  tc = tcase_create("calls");
  tcase_add_test(tc, call_runs_callee_in_own_frame_then_resumes_caller);
  tcase_add_test(tc, interrupt_nests_over_callee_and_handler_calls_helper);
  tcase_add_test(tc, done_in_the_calling_step_finishes_after_the_callee);
  tcase_add_test(tc, bad_calls_stop_the_run_with_a_message);
  tcase_add_test(tc, unbounded_extint_nesting_stops_the_run);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
