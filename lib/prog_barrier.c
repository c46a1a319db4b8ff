/*
 * prog_barrier.c - "ipi_generic_call_barrier": a function run on every
 * core from an IPI, with a rendezvous inside it: one core does phase 1,
 * all meet at a barrier, then all do phase 2.
 *
 * The call is Linux on_each_cpu(func, info, wait=1) ->
 * smp_call_function_many_cond(): publish the call data, IPI the other CPUs
 * (native_send_call_func_ipi: the all-but-self shorthand when every other
 * CPU is in the mask, else send_IPI_mask), run func() locally with
 * interrupts off (SCF_RUN_LOCAL), then csd_lock_wait() until every CPU has
 * run it. ipi=all sends the all-including-self shorthand instead, so the
 * initiator runs func() from its own IPI like the others.
 *
 * func() is the rendezvous of kernel/stop_machine.c multi_cpu_stop(), of
 * the old MTRR update (arch/x86/kernel/cpu/mtrr/main.c set_mtrr() /
 * ipi_handler(): atomic_dec(&data->count), spin on data->gate) and of
 * Windows' KeIpiGenericCall (KiIpiGenericCallTarget in ReactOS
 * ntoskrnl/ke/ipi.c: InterlockedDecrement(Count); while (*Count != 0)
 * YieldProcessor(); then the broadcast function):
 *   phase 1 - exactly one CPU does the work (multi_cpu_stop's is_active
 *             CPU); here the first to arrive, by an atomic test-and-set;
 *   barrier - each CPU counts itself in (ack_state()) and spins until all
 *             n have arrived, interrupts off;
 *   phase 2 - every CPU does its part, then leaves.
 * Each call has its own rendezvous words, as each stop_machine() call has
 * its own struct multi_stop_data. Markers "phase1", "barrier" and "phase2"
 * label the phases in traces.
 *
 * Check, per call: phase 1 ran on exactly one core; no core entered phase 2
 * before phase 1 had ended and before every core had reached the barrier;
 * every core ran phase 2. *done when the initiator finished all rounds.
 *
 * bug=no_barrier: cores count themselves in but do not wait, so a core
 * enters phase 2 while phase 1 still runs or others have not arrived.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

enum { IPI_ALLBUTSELF, IPI_ALL, IPI_MASK };
enum { BUG_NONE, BUG_NO_BARRIER };

typedef struct bar {
  apic_sim *s;
  uint32_t ncpus;
  uint8_t vector;
  uint32_t rounds, interval, work1, work2;
  int ipi, bug;
  uint32_t *cpus, n;            /* the program's cores; cpus[0] initiates */
  uint32_t *apic_id;            /* per core: physical destination */
  volatile uint32_t call;       /* the call in progress (its info pointer) */
  volatile uint32_t *owner;     /* per call: phase-1 test-and-set */
  volatile uint32_t *arrived;   /* per call: the barrier count */
  volatile uint32_t *left;      /* per call: cores that finished func() */
  /* what the check needs */
  uint32_t *phase1_runs, *phase1_cpu, *phase2_runs;  /* per call */
  uint64_t *phase1_end;         /* per call: cycle phase 1 ended, 0 = not yet */
  uint64_t *t_enter, *t_barrier, *t_phase2, *t_leave;  /* per core, its latest call */
  uint64_t max_wait;            /* longest barrier wait */
  uint32_t started, finished;   /* calls */
  unsigned violations;
  char first[200];
} bar;

/* Counts a violation; true for the first, whose message goes in p->first. */
static int first_violation(bar *p) { return p->violations++ == 0; }

/* ---- func(): the rendezvous, on every core ---- */

static void phase1_begin(bar *p, apic_cpu *c, uint32_t r) {
  if (p->phase1_runs[r]++ == 0) p->phase1_cpu[r] = apic_cpu_index(c);
  else if (first_violation(p))
    snprintf(p->first, sizeof p->first, "call %u: phase 1 ran again on cpu %u (first on "
             "cpu %u)", r, apic_cpu_index(c), p->phase1_cpu[r]);
}

/* ack_state(): count this core in at the barrier. */
static void arrive(bar *p, apic_cpu *c, uint32_t r) {
  apic_cpu_fetch_add(c, &p->arrived[r], 1);
  p->t_barrier[apic_cpu_index(c)] = apic_cpu_now(c);
}

/* Entering phase 2: phase 1 over, every core at the barrier. */
static void phase2_begin(bar *p, apic_cpu *c, uint32_t r) {
  uint32_t me = apic_cpu_index(c);
  p->t_phase2[me] = apic_cpu_now(c);
  if (p->t_phase2[me] - p->t_barrier[me] > p->max_wait)
    p->max_wait = p->t_phase2[me] - p->t_barrier[me];
  p->phase2_runs[r]++;
  if (!p->phase1_end[r] && first_violation(p))
    snprintf(p->first, sizeof p->first, "call %u: cpu %u entered phase 2 while phase 1 "
             "still ran (on cpu %u)", r, me, p->phase1_cpu[r]);
  else if (p->phase1_end[r] && p->arrived[r] < p->n && first_violation(p))
    snprintf(p->first, sizeof p->first, "call %u: cpu %u entered phase 2 with %u of %u "
             "cores at the barrier", r, me, p->arrived[r], p->n);
}

static void leave(bar *p, apic_cpu *c, uint32_t r) {
  apic_cpu_fetch_add(c, &p->left[r], 1);  /* csd_unlock() */
  p->t_leave[apic_cpu_index(c)] = apic_cpu_now(c);
}

/*
 * The IPI handler, and on_each_cpu()'s local call on the initiator (then
 * run from the program's frame: it uses only the frame's locals 2 and 3).
 */
static int call_function(apic_cpu *c, void *arg) {
  bar *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  if (apic_cpu_vector(c)) APIC_EOI(c);  /* from the IPI: ack_APIC_irq() first */
  APIC_DO(c, APIC_L(c, 2) = apic_cpu_load(c, &p->call));
  p->t_enter[me] = apic_cpu_now(c);
  /* phase 1: the first CPU in wins (is_active / the MTRR master) */
  APIC_DO(c, APIC_L(c, 3) = apic_cpu_fetch_or(c, &p->owner[APIC_L(c, 2)], 1));
  if (!APIC_L(c, 3)) {
    APIC_MARK(c, "phase1");
    phase1_begin(p, c, (uint32_t)APIC_L(c, 2));
    APIC_WORK(c, p->work1);
    p->phase1_end[APIC_L(c, 2)] = apic_cpu_now(c);
  }
  /* the barrier: count in, spin until all n are in */
  APIC_MARK(c, "barrier");
  APIC_DO(c, arrive(p, c, (uint32_t)APIC_L(c, 2)));
  if (p->bug != BUG_NO_BARRIER)
    APIC_SPIN_UNTIL(c, &p->arrived[APIC_L(c, 2)],
                    apic_cpu_load(c, &p->arrived[APIC_L(c, 2)]) == p->n);
  /* phase 2: everyone */
  APIC_MARK(c, "phase2");
  phase2_begin(p, c, (uint32_t)APIC_L(c, 2));
  APIC_WORK(c, p->work2);
  APIC_DO(c, leave(p, c, (uint32_t)APIC_L(c, 2)));
  APIC_END(c);
}

/* ---- the initiator: on_each_cpu() ---- */

static void send_call_ipi(bar *p, apic_cpu *c, uint32_t target) {
  apic_cpu_send_ipi(c, p->apic_id[target], APIC_ICR_LO(p->vector, APIC_DM_FIXED, 0));
}

static void start_call(bar *p, apic_cpu *c, uint32_t r) {
  apic_cpu_store(c, &p->call, r);
  p->started = r + 1;
}

static int initiator(apic_cpu *c, void *arg) {
  bar *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < p->rounds; APIC_L(c, 0)++) {
    APIC_WORK(c, p->interval);
    APIC_DO(c, start_call(p, c, (uint32_t)APIC_L(c, 0)));  /* csd->func, csd->info */
    if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
    if (p->ipi == IPI_ALL) {                                /* __apic_send_IPI_all() */
      APIC_WRITE(c, APIC_REG_ICR_LO,
                 APIC_ICR_LO(p->vector, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_ALL)));
    } else if (p->ipi == IPI_ALLBUTSELF) {                  /* __apic_send_IPI_allbutself() */
      APIC_WRITE(c, APIC_REG_ICR_LO,
                 APIC_ICR_LO(p->vector, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
    } else {                                                /* __apic_send_IPI_mask() */
      for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->n; APIC_L(c, 1)++) {
        if (p->cpus[APIC_L(c, 1)] == me) continue;
        if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
        APIC_DO(c, send_call_ipi(p, c, p->cpus[APIC_L(c, 1)]));
      }
    }
    if (p->ipi != IPI_ALL) {                                /* SCF_RUN_LOCAL */
      APIC_CLI(c);                                          /* local_irq_save() */
      APIC_CALL(c, call_function, p);                       /* func(info) */
      APIC_STI(c);                                          /* local_irq_restore() */
    }
    /* csd_lock_wait() for every CPU */
    APIC_SPIN_UNTIL(c, &p->left[APIC_L(c, 0)],
                    apic_cpu_load(c, &p->left[APIC_L(c, 0)]) == p->n);
    p->finished++;
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"rounds", APIC_ARG_INT, 1, 100000, NULL, "3", 3, "calls the initiator makes"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xfb", 0xFB,
   "IPI vector (CALL_FUNCTION_VECTOR = 0xfb)"},
  {"work1", APIC_ARG_INT, 0, 100000000, NULL, "2000", 2000,
   "cycles of phase 1 (one core)"},
  {"work2", APIC_ARG_INT, 0, 100000000, NULL, "300", 300, "cycles of phase 2 (every core)"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "500", 500, "cycles before each call"},
  {"ipi", APIC_ARG_STRING, 0, 0, "allbutself|all|mask", "allbutself", 0,
   "allbutself: shorthand + local call; all: all-including-self shorthand; mask: one "
   "physical IPI per other core + local call (shorthands need the program on every core)"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_barrier", "none", 0,
   "no_barrier: count in at the barrier but do not wait"},
};

static void destroy(void *state) {
  bar *p = state;
  if (!p) return;
  free(p->cpus);
  free(p->apic_id);
  free((void *)(uintptr_t)p->owner);
  free((void *)(uintptr_t)p->arrived);
  free((void *)(uintptr_t)p->left);
  free(p->phase1_runs);
  free(p->phase1_cpu);
  free(p->phase2_runs);
  free(p->phase1_end);
  free(p->t_enter);
  free(p->t_barrier);
  free(p->t_phase2);
  free(p->t_leave);
  free(p);
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  const char *ipi = apic_args_str(a, "ipi");
  int mode = !strcmp(ipi, "all") ? IPI_ALL : !strcmp(ipi, "mask") ? IPI_MASK : IPI_ALLBUTSELF;
  if (mode != IPI_MASK && n != apic_sim_ncpus(s)) {
    snprintf(why, why_size, "ipi %s: the shorthand reaches all %u cores, but the program "
             "runs on %u (use ipi mask)", ipi, apic_sim_ncpus(s), n);
    return APIC_E_ARG;
  }
  bar *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->work1 = (uint32_t)apic_args_int(a, "work1");
  p->work2 = (uint32_t)apic_args_int(a, "work2");
  p->ipi = mode;
  p->bug = strcmp(apic_args_str(a, "bug"), "no_barrier") ? BUG_NONE : BUG_NO_BARRIER;
  p->n = n;
  p->cpus = malloc(n * sizeof *p->cpus);
  p->apic_id = calloc(p->ncpus, sizeof *p->apic_id);
  p->owner = calloc(p->rounds, sizeof *p->owner);
  p->arrived = calloc(p->rounds, sizeof *p->arrived);
  p->left = calloc(p->rounds, sizeof *p->left);
  p->phase1_runs = calloc(p->rounds, sizeof *p->phase1_runs);
  p->phase1_cpu = calloc(p->rounds, sizeof *p->phase1_cpu);
  p->phase2_runs = calloc(p->rounds, sizeof *p->phase2_runs);
  p->phase1_end = calloc(p->rounds, sizeof *p->phase1_end);
  p->t_enter = calloc(p->ncpus, sizeof *p->t_enter);
  p->t_barrier = calloc(p->ncpus, sizeof *p->t_barrier);
  p->t_phase2 = calloc(p->ncpus, sizeof *p->t_phase2);
  p->t_leave = calloc(p->ncpus, sizeof *p->t_leave);
  int rc = !p->cpus || !p->apic_id || !p->owner || !p->arrived || !p->left ||
           !p->phase1_runs || !p->phase1_cpu || !p->phase2_runs || !p->phase1_end ||
           !p->t_enter || !p->t_barrier || !p->t_phase2 || !p->t_leave ? APIC_E_NOMEM
                                                                       : APIC_OK;
  if (!rc) {
    memcpy(p->cpus, cpus, n * sizeof *cpus);
    for (uint32_t i = 0; i < p->ncpus; i++) {
      apic_lapic_state st;
      apic_lapic_state_get(s, i, &st);
      p->apic_id[i] = st.id;
    }
  }
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = apic_sim_set_handler(s, cpus[i], p->vector, call_function, p);
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = i == 0 ? apic_sim_set_program(s, cpus[0], initiator, p)
                : apic__prog_start_idle(s, cpus[i]);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

/* Found while running: phase 2 early, phase 1 twice. Here, per finished
   call: phase 1 once, phase 2 on every core. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  bar *p = state;
  unsigned bad = p->violations;
  if (bad) snprintf(msg, n, "%s", p->first);
  for (uint32_t r = 0; r < p->started; r++) {
    if (p->left[r] < p->n) continue;  /* still running */
    if (p->phase1_runs[r] != 1 && bad++ == 0)
      snprintf(msg, n, "call %u: phase 1 ran %u times", r, p->phase1_runs[r]);
    if (p->phase2_runs[r] != p->n && bad++ == 0)
      snprintf(msg, n, "call %u: phase 2 ran on %u of %u cores", r, p->phase2_runs[r], p->n);
  }
  *done = p->finished == p->rounds;
  if (!bad)
    snprintf(msg, n, "%u of %u calls on %u cores: phase 1 on one core, phase 2 on all, none "
             "before phase 1 ended and all had reached the barrier (longest barrier wait "
             "%llu cycles)", p->finished, p->rounds, p->n, (unsigned long long)p->max_wait);
  return bad;
}

const apic_prog_def apic__prog_ipi_generic_call_barrier = {
  "ipi_generic_call_barrier",
  "on_each_cpu() of a rendezvous: one core runs phase 1, all meet at a barrier, all run "
  "phase 2",
  "Linux on_each_cpu / smp_call_function_many_cond with the stop_machine multi_cpu_stop "
  "and mtrr set_mtrr / ipi_handler rendezvous; Windows KeIpiGenericCall",
  args, sizeof args / sizeof args[0], install, check, destroy};
