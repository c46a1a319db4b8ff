/*
 * prog_debugger.c - "debugger_freeze": a kernel debugger stopping every
 * other processor, inspecting, and letting them go.
 *
 * Follows Linux kernel/debug/debug_core.c kgdb_cpu_enter() with
 * arch/x86/kernel/kgdb.c kgdb_roundup_cpus(), and Windows
 * KeFreezeExecution / KiFreezeTargetExecution / KeThawExecution:
 *   the master takes dbg_slave_lock, sends an all-excluding-self IPI
 *   (apic->send_IPI_allbutself(NMI_VECTOR); Windows: the IPI_FREEZE request
 *   on its IPI vector), and waits until every other CPU counted itself into
 *   slaves_in_kgdb; it works on the stopped machine (`hold` cycles), drops
 *   dbg_slave_lock, and waits until slaves_in_kgdb is back to 0 (every CPU
 *   left the handler) before it goes on. `rounds` times.
 *   Each other CPU, in kgdb_nmicallback(): counts itself in, spins
 *   (cpu_relax) until the lock is released, counts itself out, returns.
 *
 * mode nmi is kgdb's choice: an NMI stops a CPU even with interrupts off.
 * mode fixed sends a maskable vector (Windows: its IPI vector; default
 * 0xf8, the REBOOT_VECTOR Linux's stop_other_cpus parks CPUs with, so as
 * not to share nt_hal_request_ipi's 0xe1); its handler EOIs first, before the
 * spin: the spin may last long, and a vector left in service would hold
 * PPR at its class for the whole freeze, blocking that class and below
 * even where a handler re-enables interrupts (NT's freeze spins at
 * IPI_LEVEL, Linux acks its IPIs first).
 *
 * The program's other cpus run a background loop (APIC_WORK steps, each
 * adding one to the core's progress counter). Cores of the machine outside
 * the program are frozen too (the IPI reaches them): they must run
 * something that takes the freeze (a scenario idles free cores), or the
 * debugger waits for ever (apic_sim_run says APIC_RUN_STUCK).
 *
 * The check: each round, the debugger started its session and released
 * only after every other core froze; no frozen core's background progress
 * moved between "all frozen" and the release (a frozen core executes
 * nothing but the spin); every
 * other core froze exactly once per round and resumed every time.
 *
 * Bug "release_early": the debugger does not wait for the roundup (it
 * inspects and releases right after the IPI), which the check catches.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

typedef struct dbg {
  apic_sim *s;
  uint32_t ncpus, debugger, nothers;
  int nmi, release_early;
  uint8_t vector;
  uint32_t rounds, hold, interval, work, icr_lo;
  /* shared memory, written with apic_cpu_store / atomics */
  uint32_t round;          /* round in progress, from 1 */
  uint32_t slaves_in;      /* slaves_in_kgdb */
  uint32_t released;       /* last round released: dbg_slave_lock is free when == round */
  uint32_t finished;       /* the debugger is done: background loops stop */
  uint32_t *progress;      /* per core: background loop iterations */
  /* what the check needs */
  uint32_t *snap;          /* progress when the debugger saw all frozen */
  uint32_t *froze, *resumed, *last_round;  /* per core */
  uint32_t rounds_done, early, moved, twice;
  char first[160];         /* the first violation seen while running */
} dbg;

static void violation(dbg *p, const char *what, uint32_t cpu, uint32_t round) {
  if (!p->first[0])
    snprintf(p->first, sizeof p->first, "round %u, cpu %u: %s", round, cpu, what);
}

/* Instrumentation at "all frozen": the session starts here, so every other
   core must have counted itself in (a release check alone misses a session
   that began early but lasted until all froze); remember their progress. */
static void all_frozen(dbg *p, uint32_t round) {
  if (p->slaves_in != p->nothers) {
    p->early++;
    violation(p, "inspected before every other core froze", p->debugger, round);
  }
  memcpy(p->snap, p->progress, p->ncpus * sizeof *p->snap);
}

/* Instrumentation at the release: was everyone frozen, did anyone move? */
static void releasing(dbg *p, uint32_t round) {
  if (p->slaves_in != p->nothers) {
    p->early++;
    violation(p, "released before every other core froze", p->debugger, round);
  }
  for (uint32_t i = 0; i < p->ncpus; i++)
    if (p->progress[i] != p->snap[i]) {
      p->moved++;
      violation(p, "background work ran while the machine was frozen", i, round);
    }
}

/* kgdb_nmicallback() -> kgdb_cpu_enter() as a slave (KiFreezeTargetExecution). */
static int freeze_handler(apic_cpu *c, void *arg) {
  dbg *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  if (!p->nmi) APIC_EOI(c);  /* fixed: EOI before the long spin (see above) */
  APIC_L(c, 0) = apic_cpu_load(c, &p->round);
  if (p->last_round[me] == APIC_L(c, 0)) {
    p->twice++;
    violation(p, "froze twice in one round", me, (uint32_t)APIC_L(c, 0));
  }
  p->last_round[me] = (uint32_t)APIC_L(c, 0);
  p->froze[me]++;
  APIC_DO(c, apic_cpu_fetch_add(c, &p->slaves_in, 1));          /* atomic_inc */
  APIC_SPIN_UNTIL(c, &p->released,                               /* cpu_relax() */
                  apic_cpu_load(c, &p->released) >= APIC_L(c, 0));
  p->resumed[me]++;
  APIC_DO(c, apic_cpu_fetch_add(c, &p->slaves_in, (uint32_t)-1)); /* atomic_dec */
  APIC_END(c);
}

/* kgdb_cpu_enter() as the master, `rounds` times. */
static int debugger(apic_cpu *c, void *arg) {
  dbg *p = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  for (APIC_L(c, 0) = 1; APIC_L(c, 0) <= p->rounds; APIC_L(c, 0)++) {
    APIC_WORK(c, p->interval);                     /* running, until a breakpoint */
    APIC_STORE(c, &p->round, (uint32_t)APIC_L(c, 0));  /* raw_spin_lock(&dbg_slave_lock) */
    if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
    APIC_WRITE(c, APIC_REG_ICR_LO, p->icr_lo);     /* kgdb_roundup_cpus() */
    if (!p->release_early)                         /* wait for slaves_in_kgdb */
      APIC_SPIN_UNTIL(c, &p->slaves_in, apic_cpu_load(c, &p->slaves_in) == p->nothers);
    all_frozen(p, (uint32_t)APIC_L(c, 0));
    APIC_MARK(c, "all frozen");
    APIC_WORK(c, p->hold);                         /* the debugger session */
    releasing(p, (uint32_t)APIC_L(c, 0));
    APIC_STORE(c, &p->released, (uint32_t)APIC_L(c, 0));  /* raw_spin_unlock */
    APIC_SPIN_UNTIL(c, &p->slaves_in, apic_cpu_load(c, &p->slaves_in) == 0);
    APIC_MARK(c, "thawed");
    p->rounds_done++;
  }
  APIC_STORE(c, &p->finished, 1);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* What the other CPUs were doing: work, with a progress counter. */
static int background(apic_cpu *c, void *arg) {
  dbg *p = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);
  while (!apic_cpu_load(c, &p->finished)) {
    APIC_WORK(c, p->work);
    APIC_DO(c, apic_cpu_fetch_add(c, &p->progress[apic_cpu_index(c)], 1));
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"debugger", APIC_ARG_INT, -1, APIC_MAX_CPUS - 1, NULL, "-1", -1,
   "core that runs the debugger (-1: the first of the program's cpus)"},
  {"mode", APIC_ARG_STRING, 0, 0, "nmi|fixed", "nmi", 0,
   "freeze IPI: nmi (kgdb_roundup_cpus) or a fixed vector (KeFreezeExecution)"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xf8", 0xF8,
   "vector for mode fixed (Linux REBOOT_VECTOR, which stop_other_cpus sends)"},
  {"rounds", APIC_ARG_INT, 1, 100000, NULL, "1", 1, "freeze/thaw cycles"},
  {"hold", APIC_ARG_INT, 0, 100000000, NULL, "5000", 5000,
   "cycles the debugger works on the frozen machine"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "2000", 2000,
   "cycles the machine runs before each freeze"},
  {"work", APIC_ARG_INT, 1, 100000000, NULL, "100", 100,
   "cycles of one background step on the other cpus"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|release_early", "none", 0,
   "release_early: the debugger does not wait until every core froze"},
};

static void destroy(void *state) {
  dbg *p = state;
  if (!p) return;
  free(p->progress);
  free(p->snap);
  free(p->froze);
  free(p->resumed);
  free(p->last_round);
  free(p);
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  int64_t d = apic_args_int(a, "debugger");
  uint32_t ncpus = apic_sim_ncpus(s), k = 0;
  if (!n) { snprintf(why, why_size, "no cpus to run on"); return APIC_E_ARG; }
  if (ncpus < 2) {
    snprintf(why, why_size, "freezing the other processors needs at least 2 cores");
    return APIC_E_ARG;
  }
  while (d >= 0 && k < n && cpus[k] != (uint32_t)d) k++;
  if (k == n) {
    snprintf(why, why_size, "debugger %lld is not one of the program's cpus", (long long)d);
    return APIC_E_ARG;
  }
  dbg *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = ncpus;
  p->debugger = d < 0 ? cpus[0] : (uint32_t)d;
  p->nothers = ncpus - 1;
  p->nmi = !strcmp(apic_args_str(a, "mode"), "nmi");
  p->release_early = !strcmp(apic_args_str(a, "bug"), "release_early");
  p->vector = p->nmi ? 2 : (uint8_t)apic_args_int(a, "vector");
  p->icr_lo = APIC_ICR_LO(p->nmi ? 0 : p->vector, p->nmi ? APIC_DM_NMI : APIC_DM_FIXED,
                          APIC_ICR_SH(APIC_SH_OTHERS));
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->hold = (uint32_t)apic_args_int(a, "hold");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->work = (uint32_t)apic_args_int(a, "work");
  p->progress = calloc(ncpus, sizeof *p->progress);
  p->snap = calloc(ncpus, sizeof *p->snap);
  p->froze = calloc(ncpus, sizeof *p->froze);
  p->resumed = calloc(ncpus, sizeof *p->resumed);
  p->last_round = calloc(ncpus, sizeof *p->last_round);
  int rc = !p->progress || !p->snap || !p->froze || !p->resumed || !p->last_round
               ? APIC_E_NOMEM : APIC_OK;
  for (uint32_t i = 0; !rc && i < ncpus; i++)  /* every other core takes the freeze */
    if (i != p->debugger) rc = apic_sim_set_handler(s, i, p->vector, freeze_handler, p);
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = apic_sim_set_program(s, cpus[i], cpus[i] == p->debugger ? debugger : background, p);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

/* Released only when all froze, nothing moved while frozen, once per round. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  dbg *p = state;
  *done = p->rounds_done == p->rounds;
  unsigned bad = p->early + p->moved + p->twice;
  for (uint32_t i = 0; *done && i < p->ncpus; i++) {
    if (i == p->debugger) continue;
    if (p->froze[i] != p->rounds || p->resumed[i] != p->froze[i]) {
      char what[96];
      snprintf(what, sizeof what, "froze %u times in %u rounds, resumed %u times",
               p->froze[i], p->rounds, p->resumed[i]);
      violation(p, what, i, p->rounds);
      bad++;
    }
  }
  if (bad)
    snprintf(msg, n, "%u violations (%u early sessions or releases; a core ran while "
             "frozen %u times over %u rounds); first: %s",
             bad, p->early, p->moved, p->rounds, p->first);
  else
    snprintf(msg, n, "%u of %u rounds: %u cores frozen (%s) before each release, none ran "
             "while frozen, all resumed", p->rounds_done, p->rounds, p->nothers,
             p->nmi ? "NMI" : "fixed IPI");
  return bad;
}

const apic_prog_def apic__prog_debugger_freeze = {
  "debugger_freeze",
  "a debugger freezes every other core with an all-but-self IPI, inspects, thaws",
  "Linux kgdb_cpu_enter / kgdb_roundup_cpus / kgdb_nmicallback; Windows KeFreezeExecution",
  args, sizeof args / sizeof args[0], install, check, destroy};
