/*
 * prog_timer.c - "timer_tick": the local APIC timer as the kernel's tick
 * source (Linux arch/x86/kernel/apic/apic.c, SDM 10.5.4).
 *
 *   periodic: setup_APIC_timer() -> __setup_APIC_LVTT(): LVTT = periodic |
 *     LOCAL_TIMER_VECTOR, TDCR = the divider, TMICT = period / divide. The
 *     timer reloads itself (SDM 10.5.4: "the current count is reloaded").
 *   oneshot: lapic_timer_set_oneshot() sets LVTT, then clockevents programs
 *     each tick with lapic_next_event(): TMICT = delta, from the handler.
 *   deadline: LVTT = TSC-deadline mode (SDM 10.5.4.1); lapic_next_deadline()
 *     writes IA32_TSC_DEADLINE = rdtsc() + delta, from the handler.
 * The handler (sysvec_apic_timer_interrupt -> local_apic_timer_interrupt)
 * acks (EOI) first, counts the tick and programs the next one; after `ticks`
 * ticks it shuts the timer down as lapic_timer_shutdown() does (LVTT
 * masked, TMICT = 0). Every program cpu runs its own timer.
 *
 * The check, per core: exactly `ticks` ticks, each on time. A tick is due
 * at its expiry: periodic, the k-th at arm + k * period (the timer does not
 * drift, whatever the handler's latency); oneshot and deadline, one period
 * after the handler re-armed, right after its EOI, so the tick-to-tick
 * interval is the period plus one entry latency and the EOI. The handler
 * must start within `slack` cycles after the expiry: waking from HLT
 * (timing.wake) or finishing the step in flight (at most one register
 * write plus an IRET), then accepting the vector (timing.accept). A run
 * that stopped first is short, not wrong: a tick is missing only once it
 * is overdue; one pending or being handled is in flight, its core not
 * finished, and until a oneshot or deadline handler re-arms, the next
 * expiry is unknown and cannot be overdue.
 *
 * Bug "no_eoi": the handler forgets the EOI. The tick vector stays in ISR,
 * PPR stays at its class, and later ticks wait in IRR for ever (SDM
 * 10.8.3.1): the check reports the missing ticks.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

typedef struct tick_core {
  uint32_t taken;
  uint64_t armed;        /* periodic: first arm; else: the last (re)arm */
  uint64_t last;         /* cycle of the last tick's handler entry (or setup) */
  uint8_t rearming;      /* oneshot, deadline: a tick taken, the next not armed yet */
} tick_core;

typedef struct tm {
  apic_sim *s;
  uint32_t ncpus, n, *cpus, ticks, mode, no_eoi;
  uint8_t vector;
  uint64_t period, slack;
  uint32_t count, dcr;   /* TMICT and TDCR (periodic, oneshot) */
  tick_core *core;       /* per core index */
  uint32_t late, extra;  /* ticks off time; ticks after the last */
  char first[160];
} tm;

/* TDCR for a power-of-two divider (SDM Figure 10-10: bits 3, 1, 0). */
static uint32_t dcr_of(uint32_t divide) {
  if (divide == 1) return 0xB;
  uint32_t code = (uint32_t)__builtin_ctz(divide) - 1;  /* 2 -> 0 ... 128 -> 6 */
  return ((code & 4u) << 1) | (code & 3u);
}

/* Expiry of the core's next tick: periodic never drifts from the first arm. */
static uint64_t next_due(const tm *p, const tick_core *k) {
  return p->mode == APIC_TIMER_PERIODIC ? k->armed + (k->taken + 1) * p->period
                                        : k->armed + p->period;
}

/* Instrumentation: the tick's time against its expiry. */
static void tick_seen(tm *p, uint32_t cpu, uint64_t now) {
  tick_core *k = &p->core[cpu];
  uint64_t due = next_due(p, k);
  k->taken++;
  k->rearming = p->mode != APIC_TIMER_PERIODIC && k->taken < p->ticks;
  if (k->taken > p->ticks) {
    if (p->extra++ == 0 && p->late == 0)
      snprintf(p->first, sizeof p->first, "cpu %u: tick %u after the last of %u", cpu,
               k->taken, p->ticks);
  } else if (now < due || now > due + p->slack) {
    if (p->late++ == 0 && p->extra == 0)
      snprintf(p->first, sizeof p->first, "cpu %u: tick %u at cycle %llu (%llu after the "
               "previous), due %llu (+0..%llu)", cpu, k->taken, (unsigned long long)now,
               (unsigned long long)(now - k->last), (unsigned long long)due,
               (unsigned long long)p->slack);
  }
  k->last = now;
}

/* sysvec_apic_timer_interrupt(): ack first, then the tick programs the next event. */
static int timer_interrupt(apic_cpu *c, void *arg) {
  tm *p = arg;
  tick_core *k = &p->core[apic_cpu_index(c)];
  APIC_BEGIN(c);
  tick_seen(p, apic_cpu_index(c), apic_cpu_now(c));
  if (!p->no_eoi) APIC_EOI(c);                    /* apic_eoi() */
  if (k->taken >= p->ticks) {                     /* lapic_timer_shutdown() */
    APIC_WRITE(c, APIC_REG_LVT_TIMER, apic_cpu_read(c, APIC_REG_LVT_TIMER) | APIC_LVT_MASKED);
    APIC_WRITE(c, APIC_REG_TIMER_ICR, 0);
  } else if (p->mode == APIC_TIMER_ONESHOT) {     /* lapic_next_event() */
    k->armed = apic_cpu_now(c);
    k->rearming = 0;
    APIC_WRITE(c, APIC_REG_TIMER_ICR, p->count);
  } else if (p->mode == APIC_TIMER_TSCDEADLINE) { /* lapic_next_deadline() */
    k->armed = apic_cpu_now(c);
    k->rearming = 0;
    APIC_DO(c, apic_cpu_wrmsr(c, APIC_MSR_TSC_DEADLINE, apic_cpu_now(c) + p->period));
  }
  APIC_END(c);
}

/* setup_APIC_timer(), then the idle loop the ticks interrupt. */
static int timer_setup(apic_cpu *c, void *arg) {
  tm *p = arg;
  tick_core *k = &p->core[apic_cpu_index(c)];
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_WRITE(c, APIC_REG_LVT_TIMER, p->vector | p->mode << APIC_LVT_TIMER_SHIFT);
  if (p->mode == APIC_TIMER_TSCDEADLINE) {
    k->armed = k->last = apic_cpu_now(c);
    APIC_DO(c, apic_cpu_wrmsr(c, APIC_MSR_TSC_DEADLINE, apic_cpu_now(c) + p->period));
  } else {
    APIC_WRITE(c, APIC_REG_TIMER_DCR, p->dcr);
    k->armed = k->last = apic_cpu_now(c);
    APIC_WRITE(c, APIC_REG_TIMER_ICR, p->count);
  }
  for (;;) {  /* default_idle(): safe_halt() */
    APIC_STI(c);
    APIC_HLT(c);
  }
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"period", APIC_ARG_INT, 100, 1000000000, NULL, "16000", 16000,
   "cycles between ticks (periodic, oneshot: a multiple of divide * timing.timer_div)"},
  {"ticks", APIC_ARG_INT, 1, 1000000, NULL, "10", 10, "ticks to take, then shut down"},
  {"mode", APIC_ARG_STRING, 0, 0, "periodic|oneshot|deadline", "periodic", 0,
   "LVT timer mode (deadline: IA32_TSC_DEADLINE, not on p6)"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xec", 0xEC, "vector (LOCAL_TIMER_VECTOR = 0xec)"},
  {"divide", APIC_ARG_INT, 1, 128, NULL, "16", 16,
   "timer divider: 1, 2, 4 .. 128 (Linux APIC_DIVISOR = 16)"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_eoi", "none", 0,
   "no_eoi: the handler never EOIs, later ticks stay blocked by PPR"},
};

static void destroy(void *state) {
  tm *p = state;
  if (!p) return;
  free(p->core);
  free(p->cpus);
  free(p);
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  const apic_config *cfg = apic_sim_config(s);
  const char *mode = apic_args_str(a, "mode");
  uint32_t divide = (uint32_t)apic_args_int(a, "divide");
  uint64_t period = (uint64_t)apic_args_int(a, "period");
  uint64_t tick = (uint64_t)divide * cfg->timing.timer_div;
  int deadline = !strcmp(mode, "deadline");
  if (!n) { snprintf(why, why_size, "no cpus to run on"); return APIC_E_ARG; }
  if (divide & (divide - 1)) {
    snprintf(why, why_size, "divide %u: must be 1, 2, 4, 8, 16, 32, 64 or 128", divide);
    return APIC_E_ARG;
  }
  if (deadline && cfg->model == APIC_MODEL_P6) {
    snprintf(why, why_size, "mode deadline: the P6 APIC timer has no TSC-deadline mode");
    return APIC_E_ARG;
  }
  if (!deadline && (period % tick || period / tick > UINT32_MAX)) {
    snprintf(why, why_size, "period %llu: the timer counts in steps of divide * timer_div = "
             "%llu cycles, up to 2^32 - 1 of them", (unsigned long long)period,
             (unsigned long long)tick);
    return APIC_E_ARG;
  }
  tm *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  const apic_timing *t = &cfg->timing;
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->n = n;
  p->ticks = (uint32_t)apic_args_int(a, "ticks");
  p->mode = deadline ? APIC_TIMER_TSCDEADLINE
          : !strcmp(mode, "oneshot") ? APIC_TIMER_ONESHOT : APIC_TIMER_PERIODIC;
  p->no_eoi = !strcmp(apic_args_str(a, "bug"), "no_eoi");
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->period = period;
  p->count = (uint32_t)(period / tick);
  p->dcr = dcr_of(divide);
  p->slack = (t->wake > t->mmio_write + t->msr_write + t->iret
                  ? t->wake : t->mmio_write + t->msr_write + t->iret) + t->accept;
  p->core = calloc(p->ncpus, sizeof *p->core);
  p->cpus = malloc(n * sizeof *p->cpus);
  int rc = !p->core || !p->cpus ? APIC_E_NOMEM : APIC_OK;
  if (!rc) memcpy(p->cpus, cpus, n * sizeof *cpus);
  for (uint32_t i = 0; !rc && i < n; i++) {
    rc = apic_sim_set_handler(s, cpus[i], p->vector, timer_interrupt, p);
    if (!rc) rc = apic_sim_set_program(s, cpus[i], timer_setup, p);
  }
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

/* Exactly `ticks` ticks per core, each within slack of its expiry. A tick
   pending or being handled when the run stopped is in flight: the core is
   not finished, and a tick that re-arms the next (oneshot, deadline) leaves
   that one's expiry unknown, so it cannot be overdue yet. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  tm *p = state;
  uint64_t now = apic_sim_now(p->s);
  unsigned bad = p->late + p->extra, missing = 0, flying = 0;
  *done = 1;
  for (uint32_t i = 0; i < p->n; i++) {
    uint32_t cpu = p->cpus[i];
    tick_core *k = &p->core[cpu];
    int live = k->rearming || apic__prog_vector_state(p->s, cpu, p->vector) == APIC__VEC_LIVE;
    flying += (unsigned)live;
    if (k->taken >= p->ticks && !live) continue;
    *done = 0;
    if (k->taken >= p->ticks || k->rearming) continue;
    /* missing only once the next tick is overdue; otherwise the run was short */
    uint64_t due = next_due(p, k);
    if (k->armed && now > due + p->slack && missing++ == 0 && !bad)
      snprintf(p->first, sizeof p->first, "cpu %u: %u of %u ticks, tick %u overdue since "
               "cycle %llu", cpu, k->taken, p->ticks, k->taken + 1, (unsigned long long)due);
  }
  bad += missing;
  char tail[80] = "";
  if (!*done)
    snprintf(tail, sizeof tail, flying ? " (not finished: %u ticks in flight when the run "
             "stopped)" : " (not finished)", flying);
  if (bad)
    snprintf(msg, n, "%u violations (%u late, %u extra, %u cores missing ticks); first: %s",
             bad, p->late, p->extra, missing, p->first);
  else
    snprintf(msg, n, "%u cores x %u ticks of vector 0x%02x every %llu cycles, each within "
             "+%llu of its expiry%s", p->n, p->ticks, p->vector, (unsigned long long)p->period,
             (unsigned long long)p->slack, tail);
  return bad;
}

const apic_prog_def apic__prog_timer_tick = {
  "timer_tick",
  "the local APIC timer drives a tick handler: periodic, oneshot or TSC-deadline",
  "Linux apic.c setup_APIC_timer / __setup_APIC_LVTT, lapic_next_event, "
  "lapic_next_deadline, lapic_timer_shutdown",
  args, sizeof args / sizeof args[0], install, check, destroy};
