/*
 * test_progs_b.c - the built-in programs that coordinate several cores
 * through shared memory and one IPI vector (lib/prog_mailbox.c,
 * lib/prog_tlb.c, lib/prog_barrier.c): each installed through the registry
 * on the machines it must work on, its check holding on a correct run and
 * catching the classic bug its `bug` argument injects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "apicsim/programs.h"

/* ---- helpers ---- */

typedef struct prog {
  const apic_prog_def *def;
  apic_args args;
  void *state;
  int rc;           /* install's return */
  char why[256];    /* install's reason */
} prog;

/* Sets "name=value ..." on a: ints (any base), strings, cpu lists "0,1,2". */
static int set_args(apic_args *a, const char *spec, uint32_t ncpus, char *why, size_t n) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec ? spec : "");
  for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
    char *eq = strchr(tok, '=');
    ck_assert_msg(eq != NULL, "bad test spec '%s'", tok);
    *eq = 0;
    int k = apic_args_index(a->def, tok);
    int rc;
    if (k >= 0 && a->def->args[k].type == APIC_ARG_CPUS) {
      uint32_t cpus[APIC_ARGS_MAX * 8], nc = 0;
      for (char *c = eq + 1; *c; c += *c == ',') cpus[nc++] = (uint32_t)strtoul(c, &c, 0);
      rc = apic_args_set_cpus(a, tok, cpus, nc, ncpus, why, n);
    } else if (k >= 0 && a->def->args[k].type == APIC_ARG_STRING) {
      rc = apic_args_set_str(a, tok, eq + 1, why, n);
    } else {
      rc = apic_args_set_int(a, tok, strtoll(eq + 1, NULL, 0), why, n);
    }
    if (rc) return rc;
  }
  return apic_args_complete(a, why, n);
}

/* Installs program `name` on cores first..first+n-1 with the given args;
   the result (and reason) is left in the returned prog. */
static prog *install_on(apic_sim *s, const char *name, uint32_t first, uint32_t n,
                        const char *spec) {
  prog *p = calloc(1, sizeof *p);
  ck_assert_ptr_nonnull(p);
  p->def = apic_prog_find(name);
  ck_assert_msg(p->def != NULL, "program %s is not in the registry", name);
  apic_args_init(&p->args, p->def);
  p->rc = set_args(&p->args, spec, apic_sim_ncpus(s), p->why, sizeof p->why);
  if (p->rc) return p;
  uint32_t *cpus = malloc(n * sizeof *cpus);
  ck_assert_ptr_nonnull(cpus);
  for (uint32_t i = 0; i < n; i++) cpus[i] = first + i;
  p->rc = p->def->install(s, cpus, n, &p->args, &p->state, p->why, sizeof p->why);
  free(cpus);
  return p;
}

static prog *install_ok(apic_sim *s, const char *name, uint32_t n, const char *spec) {
  prog *p = install_on(s, name, 0, n, spec);
  ck_assert_msg(p->rc == APIC_OK, "install %s: %s (%s)", name, apic_err_name(p->rc), p->why);
  return p;
}

static void prog_free(prog *p) {
  if (p->state) p->def->destroy(p->state);
  apic_args_free(&p->args);
  free(p);
}

/* Runs to idle (or until cycle `until`), then the program's check. */
static unsigned run_check(apic_sim *s, prog *p, uint64_t until, int *run, int *done,
                          char *msg, size_t n) {
  int rc = apic_sim_run(s, until);
  ck_assert_msg(rc >= 0, "apic_sim_run: %s (%s)", apic_err_name(rc), apic_sim_errmsg(s));
  if (run) *run = rc;
  *done = -1;
  msg[0] = 0;
  unsigned bad = p->def->check(p->state, done, msg, n);
  ck_assert_msg(*done == 0 || *done == 1, "check left *done unset");
  ck_assert_msg(msg[0] != 0, "check wrote no message");
  return bad;
}

static apic_config machine(uint32_t n, apic_bus_kind bus, int x2apic, uint64_t seed) {
  apic_config cfg = tu_config(n, bus, bus == APIC_BUS_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (bus == APIC_BUS_MESH) cfg.sockets = 2;
  cfg.x2apic = (uint8_t)x2apic;
  cfg.seed = seed;
  return cfg;
}

/* A correct run: check() == 0 and done. Returns the IPIs coalesced. */
static uint64_t expect_ok(const apic_config *cfg, const char *name, uint32_t n,
                          const char *spec) {
  apic_sim *s = tu_sim(cfg, NULL);
  prog *p = install_ok(s, name, n, spec);
  char msg[512];
  int run, done;
  unsigned bad = run_check(s, p, 50000000, &run, &done, msg, sizeof msg);
  ck_assert_msg(bad == 0, "%s (%s) on %u cores, bus %d: %u violations: %s", name, spec, n,
                cfg->bus, bad, msg);
  ck_assert_msg(run == APIC_RUN_IDLE, "%s: run ended %d, not idle: %s", name, run, msg);
  ck_assert_msg(done, "%s: not done: %s", name, msg);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_eq(st.unhandled, 0);
  prog_free(p);
  apic_sim_destroy(s);
  return st.coalesced;
}

/* A run with a bug: check() > 0 within `until` cycles, the run ending as
   `want_run` (-1: any) rather than hanging. */
static unsigned expect_caught(const apic_config *cfg, const char *name, uint32_t n,
                              const char *spec, uint64_t until, int want_run,
                              const char *needle) {
  apic_sim *s = tu_sim(cfg, NULL);
  prog *p = install_ok(s, name, n, spec);
  char msg[512];
  int run, done;
  unsigned bad = run_check(s, p, until, &run, &done, msg, sizeof msg);
  ck_assert_msg(bad > 0, "%s (%s): the bug went unnoticed: %s", name, spec, msg);
  ck_assert_msg(want_run < 0 || run == want_run, "%s (%s): run ended %d, not %d", name, spec,
                run, want_run);
  ck_assert_msg(strstr(msg, needle) != NULL, "%s (%s): message '%s' lacks '%s'", name, spec,
                msg, needle);
  prog_free(p);
  apic_sim_destroy(s);
  return bad;
}

/* Install fails with APIC_E_ARG and a reason naming `needle`. */
static void expect_refused(const apic_config *cfg, const char *name, uint32_t first,
                           uint32_t n, const char *spec, const char *needle) {
  apic_sim *s = tu_sim(cfg, NULL);
  prog *p = install_on(s, name, first, n, spec);
  ck_assert_msg(p->rc == APIC_E_ARG, "%s (%s): install gave %s, not ARG", name, spec,
                apic_err_name(p->rc));
  ck_assert_msg(strstr(p->why, needle) != NULL, "%s (%s): reason '%s' lacks '%s'", name,
                spec, p->why, needle);
  ck_assert_ptr_null(p->state);
  prog_free(p);
  apic_sim_destroy(s);
}

/* What stop_everywhere saw. */
typedef struct stops {
  uint32_t n;              /* stops */
  uint32_t in_flight;      /* stops whose check said work was in flight */
  uint32_t flying_after;   /* ... with the program's own part finished ("not finished" absent) */
  uint32_t lost;           /* stops after the loss, each a violation */
} stops;

/* Stops the run at every cycle where something happens, and at the cycle
   before it (up to `cap`; to the end: UINT64_MAX), and runs the check
   there, as a run cut by its cycle limit would. Until lost(s) holds (NULL:
   never), the check must find no violation, and work in flight leaves it
   not done; from then on it must report a violation naming `needle`. */
static stops stop_everywhere(apic_sim *s, prog *p, uint64_t cap, int (*lost)(apic_sim *),
                             const char *needle) {
  stops st = {0, 0, 0, 0};
  uint64_t t = 0;
  for (int before = 1; (t = apic_sim_next_event(s)) != UINT64_MAX && t <= cap;
       before = !before) {
    if (before && t == apic_sim_now(s)) continue;
    t -= (uint64_t)before;  /* the cycle before the event, then its own */
    char msg[512];
    int run, done;
    unsigned bad = run_check(s, p, t, &run, &done, msg, sizeof msg);
    st.n++;
    if (lost && lost(s)) {
      ck_assert_msg(bad > 0 && strstr(msg, needle) != NULL, "%s at cycle %llu, after the "
                    "loss: %u violations, '%s' (want '%s')", p->def->name,
                    (unsigned long long)t, bad, msg, needle);
      st.lost++;
      continue;
    }
    ck_assert_msg(bad == 0, "%s stopped at cycle %llu: %s", p->def->name,
                  (unsigned long long)t, msg);
    if (!strstr(msg, "in flight")) continue;
    ck_assert_msg(!done, "%s done at cycle %llu with work in flight: %s", p->def->name,
                  (unsigned long long)t, msg);
    st.in_flight++;
    st.flying_after += strstr(msg, "not finished") == NULL;
  }
  return st;
}

/* A receiver dropped a message (its APIC software-disabled). */
static int dropped_any(apic_sim *s) {
  apic_stats st;
  apic_sim_stats(s, &st);
  return st.dropped > 0;
}

/* Software-disables cpu's APIC at cycle t (after its program enabled it):
   from then on it drops fixed interrupts (SDM 10.4.7.2). */
static void disable_apic_at(apic_sim *s, uint32_t cpu, uint64_t t) {
  ck_assert_int_ge(apic_sim_run(s, t), 0);
  tu_wr(s, cpu, APIC_REG_SVR, 0xFF);
}

/* ---- registry ---- */

/* The three programs are in the registry, every argument has a default,
   and each takes a `bug` whose default is "none". */
START_TEST(registry_lists_the_programs) {
  static const char *const names[] = {"mailbox_call_function", "tlb_shootdown_scoreboard",
                                      "ipi_generic_call_barrier"};
  for (int i = 0; i < 3; i++) {
    const apic_prog_def *d = apic_prog_find(names[i]);
    ck_assert_msg(d != NULL, "%s missing", names[i]);
    ck_assert(d->summary && d->models && d->nargs <= APIC_ARGS_MAX);
    apic_args a;
    char why[256];
    apic_args_init(&a, d);
    ck_assert_msg(apic_args_complete(&a, why, sizeof why) == APIC_OK, "%s: %s", names[i], why);
    ck_assert_str_eq(apic_args_str(&a, "bug"), "none");
    ck_assert_int_eq(apic_args_set_str(&a, "bug", "sometimes", why, sizeof why), APIC_E_ARG);
    ck_assert_msg(strstr(why, "expected one of none|") != NULL, "%s", why);
    apic_args_free(&a);
  }
}
END_TEST

/* ---- mailbox_call_function: smp_call_function_many over bit mailboxes ---- */

/* alpha send_ipi_message / handle_ipi on xAPIC: 8 senders post random
   actions to random targets; IPIs merge, posts merge, none is lost. */
START_TEST(mailbox_xapic) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_ok(&cfg, "mailbox_call_function", 8, "rounds=30 interval=100");
}
END_TEST

/* The same on the P6 serial bus, the mesh, and 64 x2APIC cores (one WRMSR
   per IPI); receive-only cores (senders=2) run the idle loop. */
START_TEST(mailbox_p6_mesh_x2apic) {
  apic_config p6 = machine(8, APIC_BUS_P6, 0, 2);
  expect_ok(&p6, "mailbox_call_function", 8, "rounds=15");
  apic_config mesh = machine(8, APIC_BUS_MESH, 0, 3);
  expect_ok(&mesh, "mailbox_call_function", 8, "rounds=15 senders=2 targets=2,3,4,5,6,7");
  apic_config x2 = machine(64, APIC_BUS_XAPIC, 1, 4);
  expect_ok(&x2, "mailbox_call_function", 64, "rounds=5 interval=50");
}
END_TEST

/* handle_ipi's xchg loop under load: seven senders on one target, posts
   merge into pending bits (one run for several posts) and IPIs coalesce in
   IRR, yet every set transition runs exactly once. */
START_TEST(mailbox_merges_without_loss) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 5);
  uint64_t coalesced = expect_ok(&cfg, "mailbox_call_function", 8,
                                 "targets=7 senders=7 rounds=40 interval=20 work=200");
  ck_assert_uint_gt(coalesced, 0);
}
END_TEST

/* bug=clear_before_read ("ops = ipi->bits; ipi->bits = 0;"): an OR that
   sets a new bit between the load and the store is wiped. Seven senders
   on one target, short actions so the mailbox is often partly empty: the
   5-cycle window is hit on every seed (1..8 tried: 3 to 10 posts lost). */
START_TEST(mailbox_clear_before_read_is_caught) {
  for (uint64_t seed = 1; seed <= 4; seed++) {
    apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, seed);
    expect_caught(&cfg, "mailbox_call_function", 8,
                  "targets=7 senders=7 rounds=40 interval=100 work=30 "
                  "bug=clear_before_read", 50000000,
                  APIC_RUN_IDLE, "posts lost");
  }
}
END_TEST

/* Arguments smp_call_function_many could not honour are refused, saying why. */
START_TEST(mailbox_bad_args) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_refused(&cfg, "mailbox_call_function", 0, 4, "senders=5", "senders is 5");
  expect_refused(&cfg, "mailbox_call_function", 0, 4, "targets=1,6",
                 "targets names cpu 6");
  expect_refused(&cfg, "mailbox_call_function", 0, 4, "targets=0", "no target but itself");
  expect_refused(&cfg, "mailbox_call_function", 0, 4, "rounds=0", "outside 1..");
  expect_refused(&cfg, "mailbox_call_function", 0, 4, "targets=0,9", "machine has 8 cores");
}
END_TEST

/* Program name on 8 xapic cores with args, stopped at every event and the
   cycle before it: somewhere in flight, never a violation (stop_everywhere),
   and once run to the end done, with no "in flight" in its message. */
static void stops_in_flight_say_so(const char *name, const char *args) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  apic_sim *s = tu_sim(&cfg, NULL);
  prog *p = install_ok(s, name, 8, args);
  stops st = stop_everywhere(s, p, UINT64_MAX, NULL, NULL);
  ck_assert_uint_gt(st.in_flight, 0);
  char msg[512];
  int run, done;
  ck_assert_uint_eq(run_check(s, p, UINT64_MAX, &run, &done, msg, sizeof msg), 0);
  ck_assert_msg(done && !strstr(msg, "in flight"), "%s", msg);
  prog_free(p);
  apic_sim_destroy(s);
}

/* A run stopped while an action is posted and its IPI travels, waits in
   IRR or is being run is work in flight: no violation, not done, and the
   check says "in flight" (a scenario cut by its cycle limit prints it). */
START_TEST(mailbox_stopped_in_flight_says_so) {
  stops_in_flight_say_so("mailbox_call_function", "rounds=10 interval=100");
}
END_TEST

/* An IPI that a software-disabled target drops (SDM 10.4.7.2) is settled
   as surely as one set in IRR: the action it carried stays pending with no
   handler run to come - a lost wakeup, not work in flight. */
START_TEST(mailbox_dropped_ipi_is_a_lost_wakeup) {
  apic_config cfg = machine(4, APIC_BUS_XAPIC, 0, 1);
  apic_sim *s = tu_sim(&cfg, NULL);
  prog *p = install_ok(s, "mailbox_call_function", 4,
                       "senders=1 targets=1,2,3 rounds=20 interval=100");
  disable_apic_at(s, 3, 100);
  char msg[512];
  int run, done;
  unsigned bad = run_check(s, p, UINT64_MAX, &run, &done, msg, sizeof msg);
  ck_assert_msg(bad > 0 && strstr(msg, "cpu 3") && strstr(msg, "left pending"), "%u: %s",
                bad, msg);
  prog_free(p);
  apic_sim_destroy(s);
}
END_TEST

/* ---- tlb_shootdown_scoreboard: smp_targeted_tlb_shootdown / invlop_handler ---- */

/* Four initiators on 8 xAPIC cores shoot down at once with one vector:
   IPIs coalesce in the targets' IRR, and the scoreboard still gets every
   (initiator, generation) flushed exactly once on every target. */
START_TEST(tlb_xapic_coalesces_without_loss) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  uint64_t coalesced = expect_ok(&cfg, "tlb_shootdown_scoreboard", 8,
                                 "initiators=4 rounds=6 interval=50");
  ck_assert_uint_gt(coalesced, 0);
  coalesced = expect_ok(&cfg, "tlb_shootdown_scoreboard", 8,
                        "initiators=8 rounds=4 interval=50 shorthand=1");
  ck_assert_uint_gt(coalesced, 0);
}
END_TEST

/* smp_targeted_tlb_shootdown on the P6 bus (serial, retries) and the
   mesh (coalescing there too). */
START_TEST(tlb_p6_mesh) {
  apic_config p6 = machine(8, APIC_BUS_P6, 0, 2);
  expect_ok(&p6, "tlb_shootdown_scoreboard", 8, "initiators=3 rounds=4");
  apic_config mesh = machine(8, APIC_BUS_MESH, 0, 3);
  ck_assert_uint_gt(expect_ok(&mesh, "tlb_shootdown_scoreboard", 8,
                              "initiators=4 rounds=4 interval=20"), 0);
}
END_TEST

/* 64 x2APIC cores, 8 initiators, physical WRMSR per target and the
   all-but-self shorthand (native_send_call_func_ipi's choice). */
START_TEST(tlb_x2apic_64) {
  apic_config cfg = machine(64, APIC_BUS_XAPIC, 1, 7);
  ck_assert_uint_gt(expect_ok(&cfg, "tlb_shootdown_scoreboard", 64,
                              "initiators=8 rounds=3 interval=20"), 0);
  ck_assert_uint_gt(expect_ok(&cfg, "tlb_shootdown_scoreboard", 64,
                              "initiators=8 rounds=3 interval=20 shorthand=1"), 0);
}
END_TEST

/* bug=one_per_ipi: when two initiators' IPIs merge in IRR, one request is
   never served; its initiator spins forever and the run stops as stuck
   (no hang); the check names the target that never acknowledged. */
START_TEST(tlb_one_per_ipi_is_caught) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_caught(&cfg, "tlb_shootdown_scoreboard", 8,
                "initiators=4 rounds=6 interval=50 bug=one_per_ipi", 5000000,
                APIC_RUN_STUCK, "lost shootdown");
  apic_config x2 = machine(64, APIC_BUS_XAPIC, 1, 7);
  expect_caught(&x2, "tlb_shootdown_scoreboard", 64,
                "initiators=8 rounds=3 interval=20 bug=one_per_ipi", 5000000,
                APIC_RUN_STUCK, "lost shootdown");
}
END_TEST

/* bug=forget_generation: flushes but never acknowledges; the initiator
   waits and the handler's loop flushes the same generation again and
   again, until the cycle bound. */
START_TEST(tlb_forget_generation_is_caught) {
  apic_config cfg = machine(4, APIC_BUS_XAPIC, 0, 1);
  expect_caught(&cfg, "tlb_shootdown_scoreboard", 4, "initiators=1 bug=forget_generation",
                200000, APIC_RUN_LIMIT, "twice");
}
END_TEST

/* A shootdown needs other cores; the shorthand needs every core. */
START_TEST(tlb_bad_args) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_refused(&cfg, "tlb_shootdown_scoreboard", 0, 4, "initiators=5", "initiators is 5");
  expect_refused(&cfg, "tlb_shootdown_scoreboard", 0, 1, "initiators=1", "at least 2 cores");
  expect_refused(&cfg, "tlb_shootdown_scoreboard", 0, 4, "shorthand=1",
                 "reaches all 8 cores");
  expect_refused(&cfg, "tlb_shootdown_scoreboard", 0, 4, "shorthand=2", "outside 0..1");
}
END_TEST

/* A run stopped while a shootdown's IPIs travel or its targets flush is
   in flight: no violation, not done, and the check says so. */
START_TEST(tlb_stopped_in_flight_says_so) {
  stops_in_flight_say_so("tlb_shootdown_scoreboard", "initiators=4 rounds=3 interval=50");
}
END_TEST

/* A target whose APIC is software-disabled drops the shootdown IPI (SDM
   10.4.7.2): nothing is on its way any more, the initiator waits for ever
   (the run ends stuck), and the check names the lost shootdown. */
START_TEST(tlb_dropped_ipi_is_a_lost_shootdown) {
  apic_config cfg = machine(4, APIC_BUS_XAPIC, 0, 1);
  apic_sim *s = tu_sim(&cfg, NULL);
  prog *p = install_ok(s, "tlb_shootdown_scoreboard", 4, "initiators=1 rounds=3");
  disable_apic_at(s, 3, 100);
  char msg[512];
  int run, done;
  unsigned bad = run_check(s, p, 5000000, &run, &done, msg, sizeof msg);
  ck_assert_int_eq(run, APIC_RUN_STUCK);
  ck_assert_msg(bad > 0 && strstr(msg, "lost shootdown: cpu 3"), "%u: %s", bad, msg);
  prog_free(p);
  apic_sim_destroy(s);
}
END_TEST

/* ---- ipi_generic_call_barrier: on_each_cpu of a stop_machine rendezvous ---- */

typedef struct marks { uint32_t phase1, barrier, phase2; } marks;

static void count_marks(void *ud, const apic_event *ev) {
  marks *m = ud;
  if (ev->kind != APIC_EV_MARKER || !ev->text) return;
  m->phase1 += !strcmp(ev->text, "phase1");
  m->barrier += !strcmp(ev->text, "barrier");
  m->phase2 += !strcmp(ev->text, "phase2");
}

/* on_each_cpu(): all-but-self shorthand plus the local call, the
   all-including-self shorthand, and physical IPIs to a subset of cores;
   phase 1 once per call, everyone meets, everyone runs phase 2. */
START_TEST(barrier_xapic_all_modes) {
  static const char *const modes[] = {"ipi=allbutself", "ipi=all"};
  for (int m = 0; m < 2; m++) {
    apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
    apic_sim *s = tu_sim(&cfg, NULL);
    marks mk = {0, 0, 0};
    ck_assert_int_eq(apic_sim_add_hook(s, count_marks, NULL, &mk), APIC_OK);
    char spec[64];
    snprintf(spec, sizeof spec, "rounds=4 %s", modes[m]);
    prog *p = install_ok(s, "ipi_generic_call_barrier", 8, spec);
    char msg[512];
    int run, done;
    ck_assert_msg(run_check(s, p, UINT64_MAX, &run, &done, msg, sizeof msg) == 0, "%s: %s",
                  spec, msg);
    ck_assert_int_eq(run, APIC_RUN_IDLE);
    ck_assert_msg(done, "%s: %s", spec, msg);
    ck_assert_uint_eq(mk.phase1, 4);
    ck_assert_uint_eq(mk.barrier, 4 * 8);
    ck_assert_uint_eq(mk.phase2, 4 * 8);
    prog_free(p);
    apic_sim_destroy(s);
  }
  /* ipi=mask: the program on cores 2..5 only; the others stay out of it */
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  apic_sim *s = tu_sim(&cfg, NULL);
  prog *p = install_on(s, "ipi_generic_call_barrier", 2, 4, "rounds=3 ipi=mask");
  ck_assert_msg(p->rc == APIC_OK, "%s", p->why);
  char msg[512];
  int run, done;
  ck_assert_msg(run_check(s, p, UINT64_MAX, &run, &done, msg, sizeof msg) == 0, "%s", msg);
  ck_assert(done);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_eq(st.handlers, 3 * 3);  /* the initiator calls locally */
  prog_free(p);
  apic_sim_destroy(s);
}
END_TEST

/* on_each_cpu() rendezvous on the P6 bus, the mesh and 64 x2APIC cores. */
START_TEST(barrier_p6_mesh_x2apic) {
  apic_config p6 = machine(8, APIC_BUS_P6, 0, 1);
  expect_ok(&p6, "ipi_generic_call_barrier", 8, "rounds=3");
  apic_config mesh = machine(8, APIC_BUS_MESH, 0, 1);
  expect_ok(&mesh, "ipi_generic_call_barrier", 8, "rounds=3 ipi=mask");
  apic_config x2 = machine(64, APIC_BUS_XAPIC, 1, 1);
  expect_ok(&x2, "ipi_generic_call_barrier", 64, "rounds=2 ipi=all");
}
END_TEST

/* bug=no_barrier: cores enter phase 2 while phase 1 still runs. */
START_TEST(barrier_no_barrier_is_caught) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_caught(&cfg, "ipi_generic_call_barrier", 8, "rounds=2 bug=no_barrier", UINT64_MAX,
                APIC_RUN_IDLE, "entered phase 2");
  /* even with no phase-1 work, a core arrives before the others */
  expect_caught(&cfg, "ipi_generic_call_barrier", 8,
                "rounds=2 work1=0 ipi=mask bug=no_barrier", UINT64_MAX, APIC_RUN_IDLE,
                "at the barrier");
}
END_TEST

/* native_send_call_func_ipi uses a shorthand only when the mask is every
   CPU; so does the program, and it says so. */
START_TEST(barrier_bad_args) {
  apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
  expect_refused(&cfg, "ipi_generic_call_barrier", 0, 4, "ipi=all", "use ipi mask");
  expect_refused(&cfg, "ipi_generic_call_barrier", 0, 8, "ipi=some", "allbutself|all|mask");
  expect_refused(&cfg, "ipi_generic_call_barrier", 0, 8, "work2=-1", "outside 0..");
}
END_TEST

/* ---- all three ---- */

/* A run stopped anywhere - a post taken but not yet run, a shootdown asked
   but not yet flushed, a call between its phases - is work in progress:
   check() == 0 with done == 0, never a false violation. */
START_TEST(in_progress_is_not_a_violation) {
  static const struct { const char *name, *spec; } progs[] = {
    {"mailbox_call_function", "rounds=30 interval=100"},
    {"tlb_shootdown_scoreboard", "initiators=4 rounds=6 interval=50"},
    {"ipi_generic_call_barrier", "rounds=4 ipi=all"},
  };
  for (int k = 0; k < 3; k++)
    for (uint64_t until = 900; until < 6000; until += 701) {
      apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, 1);
      apic_sim *s = tu_sim(&cfg, NULL);
      prog *p = install_ok(s, progs[k].name, 8, progs[k].spec);
      char msg[512];
      int run, done;
      unsigned bad = run_check(s, p, until, &run, &done, msg, sizeof msg);
      ck_assert_msg(bad == 0, "%s stopped at %llu: %s", progs[k].name,
                    (unsigned long long)until, msg);
      ck_assert_int_eq(run, APIC_RUN_LIMIT);
      ck_assert_msg(!done, "%s done at cycle %llu: %s", progs[k].name,
                    (unsigned long long)until, msg);
      prog_free(p);
      apic_sim_destroy(s);
    }
}
END_TEST

/* The senders' choices come from the machine seed: the same seed gives the
   same run, another seed another one. */
START_TEST(randomness_follows_the_seed) {
  char msg[3][512];
  static const uint64_t seeds[3] = {11, 11, 12};
  for (int k = 0; k < 3; k++) {
    apic_config cfg = machine(8, APIC_BUS_XAPIC, 0, seeds[k]);
    apic_sim *s = tu_sim(&cfg, NULL);
    prog *p = install_ok(s, "mailbox_call_function", 8, "rounds=30 interval=100");
    int run, done;
    ck_assert_uint_eq(run_check(s, p, UINT64_MAX, &run, &done, msg[k], sizeof msg[k]), 0);
    prog_free(p);
    apic_sim_destroy(s);
  }
  ck_assert_str_eq(msg[0], msg[1]);
  ck_assert_str_ne(msg[0], msg[2]);
}
END_TEST

/* ---- linux_send_ipi_mask ---- */

/* Linux default_send_IPI_mask_sequence_phys(), default_send_IPI_mask_logical()
   and x2apic_send_IPI_mask() write the ICR with interrupts off
   (local_irq_save): with every core sending to every core, a sender's IF is
   0 at each of its ICR writes, so no handler runs between ICR2 and ICR;
   the one-write all-but-self shorthand (__default_send_IPI_shortcut) keeps
   IF = 1. Checked on xAPIC (physical and flat logical) and x2APIC. */
START_TEST(linux_mask_sends_with_interrupts_off) {
  enum { NCORES = 4, ROUNDS = 6, INTERVAL = 50 };  /* short: IPIs land mid-round */
  static const struct { int x2apic; const char *name, *spec; } runs[] = {
    {0, "linux_send_ipi_mask", "targets=0,1,2,3 dest_mode=physical"},
    {0, "linux_send_ipi_mask", "targets=0,1,2,3 dest_mode=logical"},
    {1, "linux_send_ipi_mask", "targets=0,1,2,3"},
    {0, "linux_send_ipi_allbutself", ""},
  };
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    apic_config cfg = machine(NCORES, APIC_BUS_XAPIC, runs[r].x2apic, 1);
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    char spec[128];
    snprintf(spec, sizeof spec, "%s rounds=%d interval=%d", runs[r].spec, ROUNDS, INTERVAL);
    prog *p = install_ok(s, runs[r].name, NCORES, spec);
    char msg[512];
    int run, done;
    ck_assert_msg(run_check(s, p, 50000000, &run, &done, msg, sizeof msg) == 0 && done,
                  "%s (%s): %s", runs[r].name, spec, msg);
    int if_flag[NCORES] = {0}, shorthand = r == 3;
    size_t writes = 0, handlers = 0;
    for (size_t i = 0; i < log.n; i++) {
      const apic_event *e = &log.ev[i];
      if (e->cpu >= NCORES) continue;
      if (e->kind == APIC_EV_IF_CHANGE) if_flag[e->cpu] = e->a != 0;
      if (e->kind == APIC_EV_HANDLER_ENTER) handlers++;
      if (e->kind != APIC_EV_ICR_WRITE) continue;
      writes++;
      ck_assert_msg(if_flag[e->cpu] == shorthand, "%s (%s): cpu %u wrote the ICR at cycle "
                    "%llu with IF = %d", runs[r].name, spec, e->cpu,
                    (unsigned long long)e->cycle, if_flag[e->cpu]);
    }
    ck_assert_uint_gt(writes, 0);
    ck_assert_uint_gt(handlers, 0);
    prog_free(p);
    apic_sim_destroy(s);
    tu_log_free(&log);
  }
}
END_TEST

/* The cpu list "first,...,last" for a spec. */
static void cpu_list(char *out, size_t n, uint32_t first, uint32_t last) {
  size_t w = 0;
  for (uint32_t c = first; c <= last && w < n; c++)
    w += (size_t)snprintf(out + w, n - w, c == first ? "%u" : ",%u", c);
}

/* linux_send_ipi_mask and _allbutself stopped anywhere: an IPI written to
   the ICR and not yet handled - on the bus, in IRR, its handler not past
   ack_APIC_irq() - is in flight, not lost, and leaves the check not done.
   With interval 0 the senders finish while their last IPIs travel (such a
   stop was a loss, and "done"). Physical, flat logical, 63 x2APIC targets
   (the first handled before the last is written) and the shorthand. */
START_TEST(linux_stopped_in_flight_is_not_a_loss) {
  static const struct { uint32_t ncpus; int x2apic; const char *name, *spec; } runs[] = {
    {4, 0, "linux_send_ipi_mask", "targets=1,2,3 dest_mode=physical"},
    {4, 0, "linux_send_ipi_mask", "targets=1,2,3 dest_mode=logical"},
    {64, 1, "linux_send_ipi_mask", NULL},  /* targets 1..63 */
    {4, 0, "linux_send_ipi_allbutself", ""},
  };
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    apic_config cfg = machine(runs[r].ncpus, APIC_BUS_XAPIC, runs[r].x2apic, 1);
    apic_sim *s = tu_sim(&cfg, NULL);
    char spec[256], list[200];
    cpu_list(list, sizeof list, 1, runs[r].ncpus - 1);
    if (runs[r].spec) snprintf(spec, sizeof spec, "%s rounds=2 interval=0", runs[r].spec);
    else snprintf(spec, sizeof spec, "targets=%s rounds=2 interval=0", list);
    int abs = runs[r].spec && !runs[r].spec[0];  /* allbutself: every core sends */
    prog *p = install_on(s, runs[r].name, 0, abs ? runs[r].ncpus : 1, spec);
    ck_assert_msg(p->rc == APIC_OK, "%s: %s", spec, p->why);
    prog *idle = abs ? NULL : install_on(s, "idle", 1, runs[r].ncpus - 1, "");
    stops st = stop_everywhere(s, p, UINT64_MAX, NULL, NULL);
    ck_assert_msg(st.in_flight > 0 && st.flying_after > 0, "%s (%s): %u stops in flight, %u "
                  "after the senders finished", runs[r].name, spec, st.in_flight,
                  st.flying_after);
    char msg[512];
    int run, done;
    ck_assert_uint_eq(run_check(s, p, UINT64_MAX, &run, &done, msg, sizeof msg), 0);
    ck_assert_msg(done && !strstr(msg, "in flight"), "%s", msg);
    prog_free(p);
    if (idle) prog_free(idle);
    apic_sim_destroy(s);
  }
}
END_TEST

/* A real loss stays a violation: a target whose APIC is software-disabled
   drops its IPIs (SDM 10.4.7.2) - reported from that drop on, not while
   the IPI travels - and a handler without EOI leaves the vector in service,
   so the next IPI is never taken (SDM 10.8.3.1). */
START_TEST(linux_loss_is_still_a_violation) {
  apic_config cfg = machine(4, APIC_BUS_XAPIC, 0, 1);
  apic_sim *s = tu_sim(&cfg, NULL);
  prog *p = install_on(s, "linux_send_ipi_mask", 0, 1, "targets=1,2 rounds=2 interval=500");
  ck_assert_int_eq(p->rc, APIC_OK);
  prog *idle = install_on(s, "idle", 2, 1, "");  /* cpu 1's APIC stays disabled */
  stops st = stop_everywhere(s, p, UINT64_MAX, dropped_any, "dropped by the receiving APIC");
  ck_assert_uint_gt(st.in_flight, 0);
  ck_assert_uint_gt(st.lost, 0);
  prog_free(p);
  prog_free(idle);
  apic_sim_destroy(s);

  s = tu_sim(&cfg, NULL);  /* the shorthand reaches cpu 3, outside the program */
  p = install_on(s, "linux_send_ipi_allbutself", 0, 3, "rounds=2 interval=500");
  ck_assert_int_eq(p->rc, APIC_OK);
  st = stop_everywhere(s, p, UINT64_MAX, dropped_any, "cpu 3");
  ck_assert_uint_gt(st.lost, 0);
  prog_free(p);
  apic_sim_destroy(s);

  expect_caught(&cfg, "linux_send_ipi_mask", 4, "targets=0,1,2,3 rounds=3 bug=no_eoi",
                50000000, APIC_RUN_IDLE, "stays in service");
}
END_TEST

int main(void) {
  Suite *s = suite_create("progs_b");
  TCase *tc = tcase_create("registry");
  tcase_add_test(tc, registry_lists_the_programs);
  suite_add_tcase(s, tc);
  tc = tcase_create("mailbox");
  tcase_add_test(tc, mailbox_xapic);
  tcase_add_test(tc, mailbox_p6_mesh_x2apic);
  tcase_add_test(tc, mailbox_merges_without_loss);
  tcase_add_test(tc, mailbox_clear_before_read_is_caught);
  tcase_add_test(tc, mailbox_bad_args);
  tcase_add_test(tc, mailbox_stopped_in_flight_says_so);
  tcase_add_test(tc, mailbox_dropped_ipi_is_a_lost_wakeup);
  suite_add_tcase(s, tc);
  tc = tcase_create("tlb");
  tcase_add_test(tc, tlb_xapic_coalesces_without_loss);
  tcase_add_test(tc, tlb_p6_mesh);
  tcase_add_test(tc, tlb_x2apic_64);
  tcase_add_test(tc, tlb_one_per_ipi_is_caught);
  tcase_add_test(tc, tlb_forget_generation_is_caught);
  tcase_add_test(tc, tlb_bad_args);
  tcase_add_test(tc, tlb_stopped_in_flight_says_so);
  tcase_add_test(tc, tlb_dropped_ipi_is_a_lost_shootdown);
  suite_add_tcase(s, tc);
  tc = tcase_create("barrier");
  tcase_add_test(tc, barrier_xapic_all_modes);
  tcase_add_test(tc, barrier_p6_mesh_x2apic);
  tcase_add_test(tc, barrier_no_barrier_is_caught);
  tcase_add_test(tc, barrier_bad_args);
  suite_add_tcase(s, tc);
  tc = tcase_create("linux");
  tcase_add_test(tc, linux_mask_sends_with_interrupts_off);
  tcase_add_test(tc, linux_stopped_in_flight_is_not_a_loss);
  tcase_add_test(tc, linux_loss_is_still_a_violation);
  suite_add_tcase(s, tc);
  tc = tcase_create("all");
  tcase_add_test(tc, in_progress_is_not_a_violation);
  tcase_add_test(tc, randomness_follows_the_seed);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
