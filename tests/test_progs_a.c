/*
 * test_progs_a.c - the built-in programs nt_hal_request_ipi, debugger_freeze,
 * device_irq and timer_tick (lib/prog_nt.c, prog_debugger.c, prog_device.c,
 * prog_timer.c). Each is installed through the registry (apic_prog_find,
 * apic_args_*, install) on xapic, p6, mesh and, where the mode exists,
 * x2APIC machines; its check holds and its work finishes; its `bug`
 * argument makes the check fail; bad arguments are refused with a reason.
 */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "apicsim/programs.h"

/* ---- helpers ---- */

typedef enum kind { K_XAPIC, K_P6, K_MESH, K_X2APIC } kind;
static const char *const kind_name[] = {"xapic", "p6", "mesh", "x2apic"};

#define RUN_CAP 50000000ull  /* cycles: every finishing run here ends far earlier */

static apic_sim *machine(kind k, uint32_t n) {
  apic_config cfg = tu_config(n, k == K_P6 ? APIC_BUS_P6 : k == K_MESH ? APIC_BUS_MESH
                                                                         : APIC_BUS_XAPIC,
                              k == K_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (k == K_MESH) cfg.sockets = n % 2 ? 1 : 2;
  if (k == K_X2APIC) cfg.x2apic = 1;
  return tu_sim(&cfg, NULL);
}

/* One program instance: definition, arguments, state, last error. */
typedef struct inst {
  const apic_prog_def *def;
  apic_args a;
  void *state;
  char why[256];
  char msg[512];
  int done;
} inst;

static void begin(inst *p, const char *name) {
  memset(p, 0, sizeof *p);
  p->def = apic_prog_find(name);
  ck_assert_msg(p->def != NULL, "program %s is not registered", name);
  apic_args_init(&p->a, p->def);
}

static void set_i(inst *p, const char *name, int64_t v) {
  int rc = apic_args_set_int(&p->a, name, v, p->why, sizeof p->why);
  ck_assert_msg(rc == APIC_OK, "%s %s=%lld: %s", p->def->name, name, (long long)v, p->why);
}

static void set_s(inst *p, const char *name, const char *v) {
  int rc = apic_args_set_str(&p->a, name, v, p->why, sizeof p->why);
  ck_assert_msg(rc == APIC_OK, "%s %s=%s: %s", p->def->name, name, v, p->why);
}

static void set_c(inst *p, apic_sim *s, const char *name, const uint32_t *c, uint32_t n) {
  int rc = apic_args_set_cpus(&p->a, name, c, n, apic_sim_ncpus(s), p->why, sizeof p->why);
  ck_assert_msg(rc == APIC_OK, "%s %s: %s", p->def->name, name, p->why);
}

static int try_install(inst *p, apic_sim *s, const uint32_t *cpus, uint32_t n) {
  int rc = apic_args_complete(&p->a, p->why, sizeof p->why);
  if (rc == APIC_OK) rc = p->def->install(s, cpus, n, &p->a, &p->state, p->why, sizeof p->why);
  return rc;
}

static void install(inst *p, apic_sim *s, const uint32_t *cpus, uint32_t n) {
  int rc = try_install(p, s, cpus, n);
  ck_assert_msg(rc == APIC_OK, "install %s: %s (%s)", p->def->name, apic_err_name(rc), p->why);
}

/* Install must fail with APIC_E_ARG and a reason containing `word`. */
static void install_fails(inst *p, apic_sim *s, const uint32_t *cpus, uint32_t n,
                          const char *word) {
  int rc = try_install(p, s, cpus, n);
  ck_assert_msg(rc == APIC_E_ARG, "install %s should fail (%s), got %s", p->def->name, word,
                apic_err_name(rc));
  ck_assert_msg(strstr(p->why, word) != NULL, "reason \"%s\" lacks \"%s\"", p->why, word);
  ck_assert_ptr_null(p->state);
}

/* Runs to `until` (RUN_CAP: must go idle), then the program's check. */
static unsigned run_check(inst *p, apic_sim *s, uint64_t until) {
  int rc = apic_sim_run(s, until);
  ck_assert_msg(rc >= 0, "run: %s (%s)", apic_err_name(rc), apic_sim_errmsg(s));
  if (until == RUN_CAP)
    ck_assert_msg(rc == APIC_RUN_IDLE, "%s: run ended with status %d at cycle %llu",
                  p->def->name, rc, (unsigned long long)apic_sim_now(s));
  return p->def->check(p->state, &p->done, p->msg, sizeof p->msg);
}

static void expect_held(inst *p, apic_sim *s, const char *what) {
  unsigned bad = run_check(p, s, RUN_CAP);
  ck_assert_msg(bad == 0 && p->done, "%s: %u violations, done %d: %s", what, bad, p->done,
                p->msg);
}

/* Runs to `until` and expects the check to fail with `word` in its message. */
static void expect_bites(inst *p, apic_sim *s, uint64_t until, const char *word,
                         const char *what) {
  unsigned bad = run_check(p, s, until);
  ck_assert_msg(bad > 0, "%s: the check should fail, says: %s", what, p->msg);
  ck_assert_msg(strstr(p->msg, word) != NULL, "%s: message \"%s\" lacks \"%s\"", what, p->msg,
                word);
}

/* What stop_everywhere saw. */
typedef struct stops {
  uint32_t in_flight;      /* stops whose check said work was in flight */
  uint32_t flying_after;   /* ... with the program's own part finished ("not finished" absent) */
  uint32_t lost;           /* stops after the loss, each a violation */
} stops;

/* Stops the run at every cycle where something happens, and at the cycle
   before it (up to `cap`), and runs the check there, as a run cut by its
   cycle limit would. Until lost(s) holds (NULL: never), the
   check must find no violation, and work in flight leaves it not done;
   from then on it must report a violation naming `needle`. */
static stops stop_everywhere(inst *p, apic_sim *s, uint64_t cap, int (*lost)(apic_sim *),
                             const char *needle) {
  stops st = {0, 0, 0};
  uint64_t t = 0;
  for (int before = 1; (t = apic_sim_next_event(s)) != UINT64_MAX && t <= cap;
       before = !before) {
    if (before && t == apic_sim_now(s)) continue;
    t -= (uint64_t)before;  /* the cycle before the event, then its own */
    unsigned bad = run_check(p, s, t);
    if (lost && lost(s)) {
      ck_assert_msg(bad > 0 && strstr(p->msg, needle) != NULL, "%s at cycle %llu, after "
                    "the loss: %u violations, '%s' (want '%s')", p->def->name,
                    (unsigned long long)t, bad, p->msg, needle);
      st.lost++;
      continue;
    }
    ck_assert_msg(bad == 0, "%s stopped at cycle %llu: %s", p->def->name,
                  (unsigned long long)t, p->msg);
    if (!strstr(p->msg, "in flight")) continue;
    ck_assert_msg(!p->done, "%s done at cycle %llu with work in flight: %s", p->def->name,
                  (unsigned long long)t, p->msg);
    st.in_flight++;
    st.flying_after += strstr(p->msg, "not finished") == NULL;
  }
  return st;
}

/* A receiver dropped a message (its APIC software-disabled). */
static int dropped_any(apic_sim *s) {
  apic_stats st;
  apic_sim_stats(s, &st);
  return st.dropped > 0;
}

/* Runs to the end; the check held, all done, nothing left in flight. */
static void expect_settled(inst *p, apic_sim *s, const char *what) {
  expect_held(p, s, what);
  ck_assert_msg(strstr(p->msg, "in flight") == NULL, "%s: %s", what, p->msg);
}

static void finish(inst *p, apic_sim *s) {
  if (p->state) p->def->destroy(p->state);
  apic_args_free(&p->a);
  apic_sim_destroy(s);
}

/* A setter must refuse: APIC_E_ARG and a reason naming the argument. */
static void setter_refuses(inst *p, int rc, const char *name) {
  ck_assert_int_eq(rc, APIC_E_ARG);
  ck_assert_msg(strstr(p->why, name) != NULL, "reason \"%s\" lacks \"%s\"", p->why, name);
}

static const uint32_t cpus4[] = {0, 1, 2, 3};

/* prog on cores 0..ncpus-1 (xapic) with its argument `key` set to each of
   vals in turn, `count_key` = count and a period: stopped everywhere, some
   stops find work in flight, none a loss, and the run settles. */
static void in_flight_everywhere(const char *prog, uint32_t ncpus, const char *key,
                                 const char *const *vals, int nvals, const char *count_key,
                                 int64_t count, int64_t period) {
  for (int i = 0; i < nvals; i++) {
    apic_sim *s = machine(K_XAPIC, ncpus);
    inst p;
    begin(&p, prog);
    set_s(&p, key, vals[i]);
    set_i(&p, count_key, count);
    set_i(&p, "period", period);
    install(&p, s, cpus4, ncpus);
    stops st = stop_everywhere(&p, s, RUN_CAP, NULL, NULL);
    ck_assert_msg(st.in_flight > 0, "%s %s: no stop in flight", prog, vals[i]);
    expect_settled(&p, s, vals[i]);
    finish(&p, s);
  }
}

/* Idles the cores a program leaves free, as a scenario does: the registry's
   "idle" program. */
static void idle_on(apic_sim *s, const uint32_t *cpus, uint32_t n) {
  const apic_prog_def *d = apic_prog_find("idle");
  apic_args a;
  void *st = NULL;
  char why[256];
  ck_assert_ptr_nonnull(d);
  apic_args_init(&a, d);
  ck_assert_msg(d->install(s, cpus, n, &a, &st, why, sizeof why) == APIC_OK, "idle: %s", why);
  d->destroy(st);
  apic_args_free(&a);
}

/* ---- the registry ---- */

/* programs.h: the four programs are in the table, with a `bug` argument
   ("none" by default) and argument tables that fit apic_args. */
START_TEST(registry_lists_the_programs) {
  static const char *const names[] = {"nt_hal_request_ipi", "debugger_freeze", "device_irq",
                                      "timer_tick"};
  unsigned n = 0;
  const apic_prog_def *const *all = apic_prog_all(&n);
  for (int i = 0; i < 4; i++) {
    const apic_prog_def *d = apic_prog_find(names[i]);
    ck_assert_ptr_nonnull(d);
    int listed = 0;
    for (unsigned k = 0; k < n; k++) listed |= all[k] == d;
    ck_assert_msg(listed, "%s missing from apic_prog_all", names[i]);
    ck_assert_uint_le(d->nargs, APIC_ARGS_MAX);
    int b = apic_args_index(d, "bug");
    ck_assert_int_ge(b, 0);
    ck_assert_str_eq(d->args[b].deflt, "none");
    ck_assert_ptr_nonnull(d->summary);
    ck_assert_ptr_nonnull(d->models);
  }
}
END_TEST

/* ---- nt_hal_request_ipi ---- */

/* HalInitializeProcessor (SDM 10.6.2.2 flat model: LDR = 1 << processor,
   DFR flat) and HalRequestIpi (SDM 10.6.1: one logical IPI to the mask,
   the ICR written only while delivery status is idle), on every bus. */
START_TEST(nt_request_ipi_flat_logical_every_bus) {
  for (kind k = K_XAPIC; k <= K_MESH; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "nt_hal_request_ipi");
    static const uint32_t sender[] = {0}, targets[] = {1, 2, 3};
    set_c(&p, s, "targets", targets, 3);
    set_i(&p, "rounds", 5);
    install(&p, s, sender, 1);
    idle_on(s, targets, 3);
    for (uint32_t c = 0; c < 4; c++) {  /* what HalpInitializeLocalUnit wrote */
      apic_lapic_state st;
      apic_lapic_state_get(s, c, &st);
      ck_assert_uint_eq(st.ldr, (1u << c) << 24);
      ck_assert_uint_eq(st.dfr, APIC_DFR_FLAT);
    }
    expect_held(&p, s, kind_name[k]);
    ck_assert_msg(strstr(p.msg, "15 IPIs") != NULL, "%s: %s", kind_name[k], p.msg);
    finish(&p, s);
  }
}
END_TEST

/* Two processors calling HalRequestIpi back to back (interval 0) to masks
   that include themselves: the stalls keep every ICR write idle, and IPIs
   that meet one already pending merge in IRR (SDM 10.8.4) - none lost. */
START_TEST(nt_two_senders_back_to_back_stall_keeps_icr_idle) {
  static const kind kinds[] = {K_XAPIC, K_P6};
  for (int i = 0; i < 2; i++) {
    apic_sim *s = machine(kinds[i], 4);
    inst p;
    begin(&p, "nt_hal_request_ipi");
    static const uint32_t senders[] = {0, 1};
    set_c(&p, s, "targets", cpus4, 4);
    set_i(&p, "rounds", 20);
    set_i(&p, "interval", 0);
    set_i(&p, "work", 50);
    install(&p, s, senders, 2);
    idle_on(s, cpus4 + 2, 2);
    expect_held(&p, s, kind_name[kinds[i]]);
    finish(&p, s);
  }
}
END_TEST

/* Bug no_stall: without STALL_WHILE_APIC_BUSY, back-to-back calls write the
   ICR while the previous IPI is still pending (SDM 10.6.1 delivery status). */
START_TEST(nt_no_stall_writes_icr_while_busy) {
  static const kind kinds[] = {K_XAPIC, K_P6, K_MESH};
  for (int i = 0; i < 3; i++) {
    apic_sim *s = machine(kinds[i], 4);
    inst p;
    begin(&p, "nt_hal_request_ipi");
    static const uint32_t sender[] = {0}, targets[] = {1, 2};
    set_c(&p, s, "targets", targets, 2);
    set_i(&p, "rounds", 20);
    set_i(&p, "interval", 0);
    set_s(&p, "bug", "no_stall");
    install(&p, s, sender, 1);
    idle_on(s, targets, 2);
    expect_bites(&p, s, RUN_CAP, "delivery status was pending", kind_name[kinds[i]]);
    finish(&p, s);
  }
}
END_TEST

/* Flat mode reaches processors 0..7 only and does not exist in x2APIC mode
   (SDM 10.12.10); the setters refuse bad values. */
START_TEST(nt_bad_arguments) {
  inst p;
  apic_sim *s = machine(K_X2APIC, 4);
  begin(&p, "nt_hal_request_ipi");
  set_c(&p, s, "targets", cpus4 + 1, 3);
  install_fails(&p, s, cpus4, 1, "x2APIC");
  finish(&p, s);

  s = machine(K_XAPIC, 10);
  begin(&p, "nt_hal_request_ipi");
  static const uint32_t far_[] = {8}, nine[] = {9};
  set_c(&p, s, "targets", far_, 1);
  install_fails(&p, s, cpus4, 1, "flat logical mode");
  set_c(&p, s, "targets", cpus4 + 1, 2);
  install_fails(&p, s, nine, 1, "cpu 9");
  set_c(&p, s, "targets", cpus4, 0);
  install_fails(&p, s, cpus4, 1, "targets is empty");
  setter_refuses(&p, apic_args_set_int(&p.a, "vector", 300, p.why, sizeof p.why), "vector");
  setter_refuses(&p, apic_args_set_str(&p.a, "bug", "no_eoi", p.why, sizeof p.why), "bug");
  static const uint32_t twelve[] = {12};
  setter_refuses(&p, apic_args_set_cpus(&p.a, "targets", twelve, 1, 10, p.why, sizeof p.why),
                 "targets");
  finish(&p, s);

  s = machine(K_XAPIC, 4);
  begin(&p, "nt_hal_request_ipi");  /* targets is required */
  install_fails(&p, s, cpus4, 1, "targets");
  finish(&p, s);
}
END_TEST

/* HalRequestIpi stopped anywhere: an IPI written to the ICR and not yet
   counted by KiIpiServiceRoutine - on the bus, retried (p6), in IRR, in
   service - is in flight, not lost, and the check is not done. With
   interval 0 the senders finish while their last IPIs travel. */
START_TEST(nt_stopped_in_flight_is_not_a_loss) {
  for (kind k = K_XAPIC; k <= K_MESH; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "nt_hal_request_ipi");
    static const uint32_t sender[] = {0}, targets[] = {1, 2, 3};
    set_c(&p, s, "targets", targets, 3);
    set_i(&p, "rounds", 3);
    set_i(&p, "interval", 0);
    install(&p, s, sender, 1);
    idle_on(s, targets, 3);
    stops st = stop_everywhere(&p, s, RUN_CAP, NULL, NULL);
    ck_assert_msg(st.in_flight > 0 && st.flying_after > 0, "%s: %u stops in flight, %u after "
                  "the senders finished", kind_name[k], st.in_flight, st.flying_after);
    expect_settled(&p, s, kind_name[k]);
    finish(&p, s);
  }
}
END_TEST

/* A processor whose APIC is software-disabled drops the IPI (SDM
   10.4.7.2): lost from that drop on - not while the IPI travels. */
START_TEST(nt_dropped_ipi_is_a_loss) {
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "nt_hal_request_ipi");
  static const uint32_t sender[] = {0}, targets[] = {1, 2, 3};
  set_c(&p, s, "targets", targets, 3);
  set_i(&p, "rounds", 2);
  install(&p, s, sender, 1);
  idle_on(s, targets, 2);  /* cpu 3's APIC stays disabled */
  stops st = stop_everywhere(&p, s, RUN_CAP, dropped_any, "dropped by the receiving APIC");
  ck_assert_uint_gt(st.in_flight, 0);
  ck_assert_uint_gt(st.lost, 0);
  ck_assert_uint_gt(run_check(&p, s, RUN_CAP), 0);
  ck_assert_msg(strstr(p.msg, "cpu 3: 2 IPIs of vector 0xe1 sent, 0 handled + 0 coalesced; "
                       "2 lost: 2 dropped by the receiving APIC") != NULL, "%s", p.msg);
  finish(&p, s);
}
END_TEST

/* ---- debugger_freeze ---- */

/* kgdb_roundup_cpus(): an all-excluding-self NMI (SDM 10.6.1 shorthand 11,
   delivery mode NMI) stops every other core, even with interrupts off; the
   slaves spin in the NMI handler (blocked for further NMIs, SDM 6.7.1) until
   released; three rounds on every bus and in x2APIC mode. */
START_TEST(debugger_freeze_nmi_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "debugger_freeze");
    set_i(&p, "rounds", 3);
    install(&p, s, cpus4, 4);
    expect_held(&p, s, kind_name[k]);
    ck_assert_msg(strstr(p.msg, "3 of 3 rounds") != NULL, "%s", p.msg);
    finish(&p, s);
  }
}
END_TEST

/* KeFreezeExecution with a fixed IPI (SDM 10.6.1, fixed, all excluding
   self): the handler EOIs, then spins with IF = 0; a debugger other than
   the first core. */
START_TEST(debugger_freeze_fixed_vector_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "debugger_freeze");
    set_s(&p, "mode", "fixed");
    set_i(&p, "debugger", 2);
    set_i(&p, "rounds", 2);
    install(&p, s, cpus4, 4);
    expect_held(&p, s, kind_name[k]);
    apic_lapic_state st;  /* EOI'd: nothing left in service anywhere */
    for (uint32_t c = 0; c < 4; c++) {
      apic_lapic_state_get(s, c, &st);
      ck_assert_int_eq(tu_vec(st.isr, 0xF8), 0);
    }
    finish(&p, s);
  }
}
END_TEST

/* The shorthand reaches every core of the machine, not only the program's:
   the cores outside it (here 2 and 3, idling as a scenario leaves free
   cores) freeze too. */
START_TEST(debugger_freeze_reaches_cores_outside_the_program) {
  static const char *const modes[] = {"nmi", "fixed"};
  for (int m = 0; m < 2; m++) {
    apic_sim *s = machine(K_XAPIC, 4);
    inst p;
    begin(&p, "debugger_freeze");
    set_s(&p, "mode", modes[m]);
    set_i(&p, "rounds", 2);
    install(&p, s, cpus4, 2);
    idle_on(s, cpus4 + 2, 2);
    expect_held(&p, s, modes[m]);
    ck_assert_msg(strstr(p.msg, "3 cores frozen") != NULL, "%s", p.msg);
    finish(&p, s);
  }
}
END_TEST

/* Bug release_early: the debugger does not wait for slaves_in_kgdb; its
   session starts while the other cores still run (kgdb_cpu_enter waits for
   every CPU before it inspects), and with hold 0 they are not even frozen
   when it releases. */
START_TEST(debugger_release_early_is_caught) {
  static const char *const modes[] = {"nmi", "fixed"};
  for (int m = 0; m < 2; m++)
    for (kind k = K_XAPIC; k <= K_MESH; k++) {
      apic_sim *s = machine(k, 4);
      inst p;
      begin(&p, "debugger_freeze");
      set_s(&p, "mode", modes[m]);
      set_s(&p, "bug", "release_early");
      install(&p, s, cpus4, 4);
      expect_bites(&p, s, RUN_CAP, "inspected before every other core froze", kind_name[k]);
      finish(&p, s);
    }
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "debugger_freeze");
  set_s(&p, "bug", "release_early");
  set_i(&p, "hold", 0);
  install(&p, s, cpus4, 4);
  /* one round: its session and its release both came before the freeze */
  expect_bites(&p, s, RUN_CAP, "2 early sessions or releases", "hold 0");
  finish(&p, s);
}
END_TEST

/* Bug release_early with long background steps and a long session: the
   NMI is taken at the end of each step (an instruction boundary), so no
   background counter moves between the IPI and the freeze, and every core
   has frozen by the release. The debugger still inspected a machine that
   was running (kgdb_cpu_enter: the master waits for slaves_in_kgdb before
   it goes on): the check must see that, not only an early release. */
START_TEST(debugger_release_early_long_hold_is_caught) {
  enum { LONG_STEP = 50000, LONG_HOLD = 200000 };  /* step >> NMI latency; hold > step */
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "debugger_freeze");
  set_s(&p, "bug", "release_early");
  set_i(&p, "work", LONG_STEP);
  set_i(&p, "hold", LONG_HOLD);
  install(&p, s, cpus4, 4);
  expect_bites(&p, s, RUN_CAP, "inspected before every other core froze", "long hold");
  finish(&p, s);
}
END_TEST

/* The debugger must be one of the program's cpus, and freezing "the
   others" needs others; the setters refuse bad values. */
START_TEST(debugger_bad_arguments) {
  inst p;
  apic_sim *s = machine(K_XAPIC, 4);
  begin(&p, "debugger_freeze");
  set_i(&p, "debugger", 3);
  install_fails(&p, s, cpus4, 3, "debugger 3 is not one of the program's cpus");
  setter_refuses(&p, apic_args_set_str(&p.a, "mode", "int3", p.why, sizeof p.why), "mode");
  setter_refuses(&p, apic_args_set_int(&p.a, "debugger", -2, p.why, sizeof p.why), "debugger");
  setter_refuses(&p, apic_args_set_int(&p.a, "rounds", 0, p.why, sizeof p.why), "rounds");
  finish(&p, s);

  s = machine(K_XAPIC, 1);
  begin(&p, "debugger_freeze");
  install_fails(&p, s, cpus4, 1, "at least 2 cores");
  finish(&p, s);
}
END_TEST

/* ---- device_irq ---- */

static void expect_rte_clean(apic_sim *s, uint32_t pin, int idle_level) {
  uint64_t rte = 0;
  int level = -1;
  apic_ioapic_rte_get(s, 0, pin, &rte);
  apic_ioapic_get_pin(s, 0, pin, &level);
  ck_assert_uint_eq(rte & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), 0);
  ck_assert_int_eq(level, idle_level);
}

/* A PCI INTx line (level, active low) to one core: 82093AA 3.2.4 remote
   IRR holds the line between the message and the EOI, the handler
   deasserts the device first (handle_fasteoi_irq), so each assertion is
   handled exactly once, on every bus. */
START_TEST(device_level_low_physical_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "device_irq");
    install(&p, s, cpus4, 4);
    expect_held(&p, s, kind_name[k]);
    ck_assert_msg(strstr(p.msg, "10 of 10") != NULL, "%s", p.msg);
    expect_rte_clean(s, 16, 1);
    uint64_t rte = 0;  /* what __ioapic_write_entry wrote */
    apic_ioapic_rte_get(s, 0, 16, &rte);
    ck_assert_uint_eq(rte & 0xFF, 0x41);
    ck_assert_uint_eq(rte & (APIC_RTE_TRIGGER | APIC_RTE_POLARITY | APIC_RTE_MASKED),
                      APIC_RTE_TRIGGER | APIC_RTE_POLARITY);
    finish(&p, s);
  }
}
END_TEST

/* An ISA-style edge line (active high) to one core named in dest (82093AA
   3.2.4 bit 15 = 0: one message per inactive -> active transition). */
START_TEST(device_edge_high_physical_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "device_irq");
    static const uint32_t cpus[] = {1, 2, 3}, dest[] = {2};
    set_s(&p, "trigger", "edge");
    set_s(&p, "polarity", "high");
    set_c(&p, s, "dest", dest, 1);
    set_i(&p, "pin", 4);
    set_i(&p, "count", 6);
    install(&p, s, cpus, 3);
    expect_held(&p, s, kind_name[k]);
    expect_rte_clean(s, 4, 0);
    uint64_t rte = 0;
    apic_ioapic_rte_get(s, 0, 4, &rte);
    ck_assert_uint_eq(rte >> APIC_RTE_DEST_SHIFT, 2);  /* cpu 2's APIC ID */
    finish(&p, s);
  }
}
END_TEST

/* Where the driver's handler EOIs: Linux handle_edge_irq() acks the local
   APIC (irq_ack -> apic_eoi) before the ISR runs, handle_fasteoi_irq()
   after it (irq_eoi). With a long ISR, an edge handler's EOI comes right at
   entry, a level handler's only after the ISR's work, and after the device
   deasserted its line (so the EOI message does not resend it, 82093AA
   3.2.4 bit 14). */
START_TEST(device_edge_eoi_before_isr_level_after) {
  enum { PIN = 4, COUNT = 3, ISR_WORK = 5000, DEVICE_VECTOR = 0x41 /* the default */ };
  static const char *const trig[] = {"edge", "level"};
  for (int t = 0; t < 2; t++) {
    apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
    tu_log log = {0};
    apic_sim *s = tu_sim(&cfg, &log);
    inst p;
    begin(&p, "device_irq");
    set_s(&p, "trigger", trig[t]);
    set_i(&p, "pin", PIN);
    set_i(&p, "count", COUNT);
    set_i(&p, "work", ISR_WORK);
    install(&p, s, cpus4, 2);
    expect_held(&p, s, trig[t]);
    const apic_event *in = NULL, *eoi = NULL;
    for (size_t k = 0; k < COUNT; k++) {  /* the k-th entry, then its EOI */
      in = tu_find(&log, APIC_EV_HANDLER_ENTER, 0, DEVICE_VECTOR,
                   in ? (size_t)(in - log.ev) + 1 : 0);
      ck_assert_ptr_nonnull(in);
      eoi = tu_find(&log, APIC_EV_EOI, 0, DEVICE_VECTOR, (size_t)(in - log.ev));
      ck_assert_ptr_nonnull(eoi);
      if (t == 0)
        ck_assert_msg(eoi->cycle - in->cycle < ISR_WORK, "edge: EOI %llu cycles after entry",
                      (unsigned long long)(eoi->cycle - in->cycle));
      else
        ck_assert_msg(eoi->cycle - in->cycle >= ISR_WORK, "level: EOI %llu cycles after entry",
                      (unsigned long long)(eoi->cycle - in->cycle));
    }
    finish(&p, s);
    tu_log_free(&log);
  }
}
END_TEST

/* Lowest priority to a flat logical set (SDM 10.6.2.4, 10.6.2.2): one of
   the cores takes each interrupt; level and edge; x2APIC: an 8-bit logical
   destination reaches cluster 0 (SDM 10.12.10.2). */
START_TEST(device_lowest_priority_logical_set) {
  static const char *const trig[] = {"level", "edge"};
  for (int t = 0; t < 2; t++)
    for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
      apic_sim *s = machine(k, 4);
      inst p;
      begin(&p, "device_irq");
      set_s(&p, "trigger", trig[t]);
      set_s(&p, "dest_mode", "logical");
      set_s(&p, "delivery", "lowest");
      set_i(&p, "count", 12);
      set_i(&p, "period", 5000);
      static const uint32_t dest[] = {1, 2, 3};
      set_c(&p, s, "dest", dest, 3);
      install(&p, s, cpus4, 4);
      if (k != K_X2APIC)
        for (uint32_t c = 1; c < 4; c++) {
          apic_lapic_state st;
          apic_lapic_state_get(s, c, &st);
          ck_assert_uint_eq(st.ldr, (1u << c) << 24);
        }
      expect_held(&p, s, kind_name[k]);
      finish(&p, s);
    }
}
END_TEST

/* Fixed delivery to a logical set of two cores reaches both (SDM 10.6.2.2):
   the second handler finds the device idle - the check calls it handling
   one interrupt twice. */
START_TEST(device_fixed_to_two_cores_handles_twice) {
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "device_irq");
  set_s(&p, "dest_mode", "logical");
  static const uint32_t dest[] = {1, 2};
  set_c(&p, s, "dest", dest, 2);
  install(&p, s, cpus4, 4);
  expect_bites(&p, s, RUN_CAP, "handled twice", "fixed logical to two");
  finish(&p, s);
}
END_TEST

/* Bug no_ack on a level line: the EOI clears remote IRR while the device
   still asserts, the I/O APIC sends again at once (82093AA 3.2.4): an
   interrupt storm the check reports; bounded by the cycle limit. On an edge
   line the unacknowledged interrupts are reported instead. */
START_TEST(device_no_ack_storm_is_caught) {
  for (kind k = K_XAPIC; k <= K_MESH; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "device_irq");
    set_s(&p, "bug", "no_ack");
    install(&p, s, cpus4, 4);
    expect_bites(&p, s, 300000, "interrupt storm", kind_name[k]);
    ck_assert_int_eq(p.done, 0);
    finish(&p, s);
  }
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "device_irq");
  set_s(&p, "bug", "no_ack");
  set_s(&p, "trigger", "edge");
  install(&p, s, cpus4, 4);
  expect_bites(&p, s, RUN_CAP, "lost", "edge");
  finish(&p, s);
}
END_TEST

/* device_irq stopped anywhere: an interrupt raised and not yet
   acknowledged - its message on the way (delivery status), in IRR, its
   handler before the device read - or its EOI on the way back to the I/O
   APIC (remote IRR still set) is in flight, not lost; level and edge. */
START_TEST(device_stopped_in_flight_is_not_a_loss) {
  static const char *const trig[] = {"level", "edge"};
  in_flight_everywhere("device_irq", 4, "trigger", trig, 2, "count", 3, 3000);
}
END_TEST

/* The destination core's APIC software-disabled drops the I/O APIC's
   message (SDM 10.4.7.2): the interrupt is lost from that drop on, not
   while the message travels. */
START_TEST(device_dropped_interrupt_is_a_loss) {
  apic_sim *s = machine(K_XAPIC, 4);
  inst p;
  begin(&p, "device_irq");
  static const uint32_t dest[] = {1};
  set_c(&p, s, "dest", dest, 1);
  set_i(&p, "count", 2);
  set_i(&p, "period", 3000);
  install(&p, s, cpus4, 4);
  ck_assert_int_ge(apic_sim_run(s, 100), 0);  /* the idle loop enabled it */
  tu_wr(s, 1, APIC_REG_SVR, 0xFF);
  stops st = stop_everywhere(&p, s, RUN_CAP, dropped_any, "lost or never acknowledged");
  ck_assert_uint_gt(st.in_flight, 0);
  ck_assert_uint_gt(st.lost, 0);
  finish(&p, s);
}
END_TEST

/* 82093AA 3.2.4: the pin must exist and an 8-bit destination must name the
   cores (one APIC ID; flat logical IDs of cpus 0..7; x2APIC cluster 0); the
   destination must be among the cores running the driver. */
START_TEST(device_bad_arguments) {
  inst p;
  apic_sim *s = machine(K_XAPIC, 10);
  begin(&p, "device_irq");
  set_i(&p, "pin", 30);
  install_fails(&p, s, cpus4, 4, "pin 30");
  set_i(&p, "pin", 2);
  set_i(&p, "ioapic", 1);
  install_fails(&p, s, cpus4, 4, "ioapic 1");
  set_i(&p, "ioapic", 0);
  static const uint32_t two[] = {1, 2}, five[] = {5}, nine[] = {0, 9};
  set_c(&p, s, "dest", two, 2);
  install_fails(&p, s, cpus4, 4, "physical names one core");
  set_c(&p, s, "dest", five, 1);
  install_fails(&p, s, cpus4, 4, "dest cpu 5 is not one of the program's cpus");
  set_s(&p, "dest_mode", "logical");
  set_c(&p, s, "dest", nine, 2);
  install_fails(&p, s, nine, 2, "flat logical mode");
  setter_refuses(&p, apic_args_set_str(&p.a, "trigger", "both", p.why, sizeof p.why),
                 "trigger");
  setter_refuses(&p, apic_args_set_int(&p.a, "period", 10, p.why, sizeof p.why), "period");
  finish(&p, s);

  s = machine(K_X2APIC, 20);  /* x2APIC ID 17: cluster 1, out of an 8-bit reach */
  begin(&p, "device_irq");
  static const uint32_t far_[] = {17};
  set_s(&p, "dest_mode", "logical");
  set_c(&p, s, "dest", far_, 1);
  install_fails(&p, s, far_, 1, "cluster 0");
  finish(&p, s);
}
END_TEST

/* ---- timer_tick ---- */

/* setup_APIC_timer() periodic (SDM 10.5.4: the count reloads at 0): ticks
   land at arm + k * period plus the entry latency, no drift; two cores,
   each with its own timer, several dividers (SDM Figure 10-10). */
START_TEST(timer_periodic_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    static const uint32_t div[] = {16, 1, 128};
    for (int d = 0; d < 3; d++) {
      apic_sim *s = machine(k, 4);
      inst p;
      begin(&p, "timer_tick");
      set_i(&p, "divide", div[d]);
      set_i(&p, "period", div[d] * 1000);
      install(&p, s, cpus4 + 1, 2);
      expect_held(&p, s, kind_name[k]);
      finish(&p, s);
    }
  }
}
END_TEST

/* clockevents oneshot (lapic_next_event: TMICT from the handler, SDM
   10.5.4 one-shot mode): each tick one period after the re-arm. */
START_TEST(timer_oneshot_every_bus) {
  for (kind k = K_XAPIC; k <= K_X2APIC; k++) {
    apic_sim *s = machine(k, 4);
    inst p;
    begin(&p, "timer_tick");
    set_s(&p, "mode", "oneshot");
    set_i(&p, "ticks", 20);
    install(&p, s, cpus4, 4);
    expect_held(&p, s, kind_name[k]);
    finish(&p, s);
  }
}
END_TEST

/* TSC-deadline mode (SDM 10.5.4.1, lapic_next_deadline): the handler writes
   IA32_TSC_DEADLINE = now + period; xAPIC and x2APIC. */
START_TEST(timer_tsc_deadline) {
  static const kind kinds[] = {K_XAPIC, K_MESH, K_X2APIC};
  for (int i = 0; i < 3; i++) {
    apic_sim *s = machine(kinds[i], 2);
    inst p;
    begin(&p, "timer_tick");
    set_s(&p, "mode", "deadline");
    set_i(&p, "period", 7777);
    install(&p, s, cpus4, 2);
    expect_held(&p, s, kind_name[kinds[i]]);
    apic_lapic_state st;  /* lapic_timer_shutdown(): masked, nothing armed */
    apic_lapic_state_get(s, 0, &st);
    ck_assert_uint_ne(st.lvt_timer & APIC_LVT_MASKED, 0);
    ck_assert_uint_eq(st.timer_next, 0);
    finish(&p, s);
  }
}
END_TEST

/* Bug no_eoi: the tick vector stays in ISR, PPR keeps its class, later
   ticks wait in IRR (SDM 10.8.3.1): the check counts the missing ticks. */
START_TEST(timer_no_eoi_blocks_later_ticks) {
  static const char *const modes[] = {"periodic", "oneshot", "deadline"};
  for (int m = 0; m < 3; m++)
    for (kind k = K_XAPIC; k <= K_MESH; k++) {
      if (k == K_P6 && m == 2) continue;
      apic_sim *s = machine(k, 2);
      inst p;
      begin(&p, "timer_tick");
      set_s(&p, "mode", modes[m]);
      set_s(&p, "bug", "no_eoi");
      install(&p, s, cpus4, 2);
      expect_bites(&p, s, 400000, "missing ticks", modes[m]);
      ck_assert_int_eq(p.done, 0);
      finish(&p, s);
    }
}
END_TEST

/* A run stopped before the ticks are due is unfinished, not failed. */
START_TEST(timer_short_run_is_not_a_violation) {
  apic_sim *s = machine(K_XAPIC, 1);
  inst p;
  begin(&p, "timer_tick");
  install(&p, s, cpus4, 1);
  ck_assert_uint_eq(run_check(&p, s, 50000), 0);
  ck_assert_int_eq(p.done, 0);
  ck_assert_msg(strstr(p.msg, "not finished") != NULL, "%s", p.msg);
  finish(&p, s);
}
END_TEST

/* timer_tick stopped anywhere: a tick pending or being handled is in
   flight and the core not finished. Oneshot and deadline arm the next
   expiry from the handler: a stop before that is no missing tick. */
START_TEST(timer_stopped_in_flight_is_not_a_loss) {
  static const char *const modes[] = {"oneshot", "deadline", "periodic"};
  in_flight_everywhere("timer_tick", 2, "mode", modes, 3, "ticks", 5, 4000);
}
END_TEST

/* A tick whose LVT entry is masked never comes (SDM 10.5.1): the core is
   reported missing it once it is overdue, as before; the stops before the
   mask found nothing wrong. */
START_TEST(timer_masked_tick_is_still_missing) {
  apic_sim *s = machine(K_XAPIC, 1);
  inst p;
  begin(&p, "timer_tick");
  set_s(&p, "mode", "oneshot");
  set_i(&p, "ticks", 5);
  set_i(&p, "period", 4000);
  install(&p, s, cpus4, 1);
  stops st = stop_everywhere(&p, s, 10000, NULL, NULL);  /* two ticks */
  ck_assert_uint_gt(st.in_flight, 0);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, tu_rd(s, 0, APIC_REG_LVT_TIMER) | APIC_LVT_MASKED);
  expect_bites(&p, s, 100000, "missing ticks", "masked");
  ck_assert_int_eq(p.done, 0);
  finish(&p, s);
}
END_TEST

/* SDM 10.5.4: the divider is a power of two up to 128 (Figure 10-10), the
   period a whole number of timer ticks; P6 has no TSC-deadline mode
   (SDM 10.5.4.1). */
START_TEST(timer_bad_arguments) {
  inst p;
  apic_sim *s = machine(K_P6, 2);
  begin(&p, "timer_tick");
  set_s(&p, "mode", "deadline");
  install_fails(&p, s, cpus4, 1, "no TSC-deadline mode");
  finish(&p, s);

  s = machine(K_XAPIC, 2);
  begin(&p, "timer_tick");
  set_i(&p, "divide", 3);
  install_fails(&p, s, cpus4, 1, "divide 3");
  set_i(&p, "divide", 16);
  set_i(&p, "period", 16001);
  install_fails(&p, s, cpus4, 1, "period 16001");
  setter_refuses(&p, apic_args_set_str(&p.a, "mode", "tickless", p.why, sizeof p.why), "mode");
  setter_refuses(&p, apic_args_set_int(&p.a, "ticks", 0, p.why, sizeof p.why), "ticks");
  setter_refuses(&p, apic_args_set_int(&p.a, "divide", 256, p.why, sizeof p.why), "divide");
  finish(&p, s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("progs_a");
  TCase *tc = tcase_create("registry");
  tcase_add_test(tc, registry_lists_the_programs);
  suite_add_tcase(s, tc);
  tc = tcase_create("nt_hal_request_ipi");
  tcase_add_test(tc, nt_request_ipi_flat_logical_every_bus);
  tcase_add_test(tc, nt_two_senders_back_to_back_stall_keeps_icr_idle);
  tcase_add_test(tc, nt_no_stall_writes_icr_while_busy);
  tcase_add_test(tc, nt_bad_arguments);
  tcase_add_test(tc, nt_stopped_in_flight_is_not_a_loss);
  tcase_add_test(tc, nt_dropped_ipi_is_a_loss);
  suite_add_tcase(s, tc);
  tc = tcase_create("debugger_freeze");
  tcase_add_test(tc, debugger_freeze_nmi_every_bus);
  tcase_add_test(tc, debugger_freeze_fixed_vector_every_bus);
  tcase_add_test(tc, debugger_freeze_reaches_cores_outside_the_program);
  tcase_add_test(tc, debugger_release_early_is_caught);
  tcase_add_test(tc, debugger_release_early_long_hold_is_caught);
  tcase_add_test(tc, debugger_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("device_irq");
  tcase_add_test(tc, device_level_low_physical_every_bus);
  tcase_add_test(tc, device_edge_high_physical_every_bus);
  tcase_add_test(tc, device_edge_eoi_before_isr_level_after);
  tcase_add_test(tc, device_lowest_priority_logical_set);
  tcase_add_test(tc, device_fixed_to_two_cores_handles_twice);
  tcase_add_test(tc, device_no_ack_storm_is_caught);
  tcase_add_test(tc, device_bad_arguments);
  tcase_add_test(tc, device_stopped_in_flight_is_not_a_loss);
  tcase_add_test(tc, device_dropped_interrupt_is_a_loss);
  suite_add_tcase(s, tc);
  tc = tcase_create("timer_tick");
  tcase_add_test(tc, timer_periodic_every_bus);
  tcase_add_test(tc, timer_oneshot_every_bus);
  tcase_add_test(tc, timer_tsc_deadline);
  tcase_add_test(tc, timer_no_eoi_blocks_later_ticks);
  tcase_add_test(tc, timer_short_run_is_not_a_violation);
  tcase_add_test(tc, timer_bad_arguments);
  tcase_add_test(tc, timer_stopped_in_flight_is_not_a_loss);
  tcase_add_test(tc, timer_masked_tick_is_still_missing);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
