/*
 * prog_mailbox.c - "mailbox_call_function": cross-CPU requests posted as
 * bits in a per-CPU mailbox, all carried by one IPI vector.
 *
 * This is the IPI scheme of Linux before the lockless call-function lists,
 * still that of arch/alpha/kernel/smp.c, and of Windows' KiIpiSend (in
 * ReactOS ntoskrnl/ke/ipi.c: InterlockedBitTestAndSet on the target PRCB's
 * RequestSummary, then HalRequestIpi):
 *   send_ipi_message():  set_bit(which, &ipi_data[cpu].bits); wripir(cpu);
 *     - here one locked OR of the action's bit into the target's mailbox
 *       (apic_cpu_fetch_or), then one fixed, physical IPI (the same vector
 *       for every action, as smp_call_function_many() sends
 *       CALL_FUNCTION_VECTOR through send_IPI_mask).
 *   handle_ipi():  while ((ops = xchg(pending_ipis, 0)) != 0) { for each bit
 *     in ops: IPI_RESCHEDULE -> scheduler_ipi(), IPI_CALL_FUNC ->
 *     generic_smp_call_function_interrupt(), ... }
 *     - here after ack_APIC_irq() (EOI first, as the x86 sysvec handlers do);
 *       the third action is IRQ_WORK (arm64's IPI_IRQ_WORK -> irq_work_run()).
 *
 * Invariant: the mailbox, not the IPI, carries the request. IPIs may merge
 * in the target's IRR (one handler run for several sends) and two posts of
 * one bit before the handler reads it merge into one run - that is the
 * semantics of a bit mailbox - but no post is lost: every OR that found its
 * bit clear (a "set transition") is consumed by exactly one read-and-clear.
 * So, per (target, action): (bits read-and-cleared) + (bit still set) ==
 * set transitions at every point of a run; each bit read is run once; and a
 * bit left set on a target that will never run the handler again (not in
 * it, vector not pending or in service, every IPI sent to it delivered,
 * merged or dropped - a software-disabled APIC drops them) is a lost
 * wakeup. Until then, a run that stopped first has work in flight.
 *
 * bug=clear_before_read: the handler reads the mailbox with a plain load and
 * clears it with a separate store (ops = ipi->bits; ipi->bits = 0;) - an OR
 * that lands between the two is wiped out and its action never runs.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

/* The actions (bit numbers in a mailbox), as in enum ipi_message_type. */
enum { IPI_RESCHEDULE, IPI_CALL_FUNC, IPI_IRQ_WORK, NACTIONS };
static const char *const action_name[NACTIONS] = {"reschedule", "call_function", "irq_work"};

enum { BUG_NONE, BUG_CLEAR_BEFORE_READ };

typedef struct mbox {
  apic_sim *s;
  uint32_t ncpus;
  uint8_t vector;
  uint32_t rounds, interval, work;
  int bug;
  volatile uint32_t *pending;  /* per core: its mailbox (ipi_data[cpu].bits) */
  uint32_t *targets;           /* cores posts go to */
  uint32_t ntargets;
  uint32_t *apic_id;           /* per core: physical destination */
  uint64_t *rng;               /* per core: PRNG state, from the machine seed */
  /* per (core, action), index core * NACTIONS + action */
  uint32_t *posted;            /* set transitions: the OR found the bit clear */
  uint32_t *merged;            /* posts onto a bit already set (no run of their own) */
  uint32_t *taken;             /* read-and-cleared by a handler (committed to run) */
  uint32_t *ran;               /* handler runs of the action */
  uint32_t *sent;              /* per core: IPIs sent to it */
  uint8_t *in_handler;         /* per core: its handler is running */
  uint32_t senders, senders_done;
  apic__irr_count irr;
} mbox;

/* splitmix64: a small deterministic PRNG, one stream per core. */
static uint32_t rnd(mbox *p, uint32_t cpu, uint32_t below) {
  uint64_t z = (p->rng[cpu] += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return below ? (uint32_t)(z % below) : 0;
}

/* A random target other than the sender (smp_call_function_many() never
   IPIs the calling CPU); install guarantees there is one. */
static uint32_t pick_target(mbox *p, uint32_t me) {
  uint32_t others = 0;
  for (uint32_t i = 0; i < p->ntargets; i++) others += p->targets[i] != me;
  uint32_t k = rnd(p, me, others);
  for (uint32_t i = 0;; i++)
    if (p->targets[i] != me && k-- == 0) return p->targets[i];
}

/* set_bit(which, &ipi_data[cpu].bits): one locked OR, and the bookkeeping
   of whether it set the bit or found it set. */
static void post(mbox *p, apic_cpu *c, uint32_t target, uint32_t ops) {
  uint32_t old = apic_cpu_fetch_or(c, &p->pending[target], ops);
  for (uint32_t a = 0; a < NACTIONS; a++) {
    if (!(ops >> a & 1)) continue;
    if (old >> a & 1) p->merged[target * NACTIONS + a]++;
    else p->posted[target * NACTIONS + a]++;
  }
}

/* The handler has read and cleared ops: each action in it is taken. */
static void took(mbox *p, uint32_t cpu, uint32_t ops) {
  for (uint32_t a = 0; a < NACTIONS; a++) p->taken[cpu * NACTIONS + a] += ops >> a & 1;
}

/* ops = xchg(pending_ipis, 0) */
static uint32_t take(mbox *p, apic_cpu *c) {
  uint32_t ops = apic_cpu_xchg(c, &p->pending[apic_cpu_index(c)], 0);
  took(p, apic_cpu_index(c), ops);
  return ops;
}

/* bug: ipi->bits = 0 after reading ops with a separate load */
static void clear(mbox *p, apic_cpu *c, uint32_t ops) {
  apic_cpu_store(c, &p->pending[apic_cpu_index(c)], 0);  /* wipes any OR since the load */
  took(p, apic_cpu_index(c), ops);
}

/* wripir(cpu) / send_IPI_mask(cpumask_of(cpu), CALL_FUNCTION_VECTOR). */
static void send_ipi(mbox *p, apic_cpu *c, uint32_t target) {
  apic_cpu_send_ipi(c, p->apic_id[target], APIC_ICR_LO(p->vector, APIC_DM_FIXED, 0));
  p->sent[target]++;
}

static int handle_ipi(apic_cpu *c, void *arg) {
  mbox *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  p->in_handler[me] = 1;
  APIC_EOI(c);                                        /* ack_APIC_irq() */
  for (;;) {
    if (p->bug == BUG_CLEAR_BEFORE_READ) {            /* ops = ipi->bits; ipi->bits = 0; */
      APIC_DO(c, APIC_L(c, 0) = apic_cpu_load(c, &p->pending[me]));
      if (!APIC_L(c, 0)) break;
      APIC_DO(c, clear(p, c, (uint32_t)APIC_L(c, 0)));
    } else {                                          /* ops = xchg(pending_ipis, 0) */
      APIC_DO(c, APIC_L(c, 0) = take(p, c));
      if (!APIC_L(c, 0)) break;
    }
    for (APIC_L(c, 1) = 0; APIC_L(c, 1) < NACTIONS; APIC_L(c, 1)++) {
      if (!(APIC_L(c, 0) >> APIC_L(c, 1) & 1)) continue;
      p->ran[me * NACTIONS + APIC_L(c, 1)]++;
      APIC_MARK(c, action_name[APIC_L(c, 1)]);
      APIC_WORK(c, p->work);  /* scheduler_ipi() / generic_smp_call_function_interrupt() /
                                 irq_work_run() */
    }
  }
  p->in_handler[me] = 0;
  APIC_END(c);
}

static int sender(apic_cpu *c, void *arg) {
  mbox *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < p->rounds; APIC_L(c, 0)++) {
    APIC_WORK(c, 1 + rnd(p, me, p->interval + 1));  /* whatever the kernel did meanwhile */
    APIC_L(c, 1) = pick_target(p, me);
    APIC_L(c, 2) = 1u << rnd(p, me, NACTIONS);          /* which = one action */
    APIC_DO(c, post(p, c, (uint32_t)APIC_L(c, 1), (uint32_t)APIC_L(c, 2)));
    if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);  /* __xapic_wait_icr_idle() */
    APIC_DO(c, send_ipi(p, c, (uint32_t)APIC_L(c, 1)));
  }
  if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
  p->senders_done++;
  for (;;) APIC_HLT(c);  /* stay available for IPIs */
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"targets", APIC_ARG_CPUS, 0, 0, NULL, "all", 0,
   "cores posts go to, each running this program (empty/all: every core of the program)"},
  {"senders", APIC_ARG_INT, 0, APIC_MAX_CPUS, NULL, "0", 0,
   "the first N cores of the program post (0: all); the others only receive"},
  {"rounds", APIC_ARG_INT, 1, 1000000, NULL, "20", 20, "posts each sender makes"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "300", 300,
   "random 1..interval+1 cycles between a sender's posts"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xfb", 0xFB,
   "the one IPI vector for every action (CALL_FUNCTION_VECTOR = 0xfb)"},
  {"work", APIC_ARG_INT, 0, 100000000, NULL, "100", 100, "cycles each action runs"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|clear_before_read", "none", 0,
   "clear_before_read: the handler loads the mailbox, then stores 0 (not one xchg)"},
};

static void destroy(void *state) {
  mbox *p = state;
  if (!p) return;
  apic__irr_count_free(&p->irr, p->s);
  free((void *)(uintptr_t)p->pending);
  free(p->targets);
  free(p->apic_id);
  free(p->rng);
  free(p->posted);
  free(p->merged);
  free(p->taken);
  free(p->ran);
  free(p->sent);
  free(p->in_handler);
  free(p);
}

static int is_in(const uint32_t *v, uint32_t n, uint32_t x) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == x) return 1;
  return 0;
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  uint32_t nt;
  const uint32_t *t = apic_args_cpus(a, "targets", &nt);
  if (!nt) t = cpus, nt = n;  /* default: every core of the program */
  uint32_t senders = (uint32_t)apic_args_int(a, "senders");
  if (!senders) senders = n;
  if (senders > n) {
    snprintf(why, why_size, "senders is %u but the program runs on %u cores", senders, n);
    return APIC_E_ARG;
  }
  for (uint32_t i = 0; i < nt; i++)
    if (!is_in(cpus, n, t[i])) {
      snprintf(why, why_size, "targets names cpu %u, which does not run mailbox_call_function "
               "(its handler and APIC setup come with the program)", t[i]);
      return APIC_E_ARG;
    }
  for (uint32_t i = 0; i < senders; i++)
    if (nt == 1 && t[0] == cpus[i]) {
      snprintf(why, why_size, "sender cpu %u has no target but itself (targets = {%u}); "
               "a CPU does not IPI itself for a call function", cpus[i], t[0]);
      return APIC_E_ARG;
    }

  mbox *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->work = (uint32_t)apic_args_int(a, "work");
  p->bug = strcmp(apic_args_str(a, "bug"), "clear_before_read") ? BUG_NONE
                                                                 : BUG_CLEAR_BEFORE_READ;
  p->senders = senders;
  size_t per = (size_t)p->ncpus * NACTIONS;
  p->pending = calloc(p->ncpus, sizeof *p->pending);
  p->targets = malloc(nt * sizeof *p->targets);
  p->apic_id = calloc(p->ncpus, sizeof *p->apic_id);
  p->rng = calloc(p->ncpus, sizeof *p->rng);
  p->posted = calloc(per, sizeof *p->posted);
  p->merged = calloc(per, sizeof *p->merged);
  p->taken = calloc(per, sizeof *p->taken);
  p->ran = calloc(per, sizeof *p->ran);
  p->sent = calloc(p->ncpus, sizeof *p->sent);
  p->in_handler = calloc(p->ncpus, 1);
  int rc = !p->pending || !p->targets || !p->apic_id || !p->rng || !p->posted || !p->merged ||
           !p->taken || !p->ran || !p->sent || !p->in_handler ? APIC_E_NOMEM : APIC_OK;
  if (!rc) {
    memcpy(p->targets, t, nt * sizeof *t);
    p->ntargets = nt;
    uint64_t seed = apic_sim_config(s)->seed;
    for (uint32_t i = 0; i < p->ncpus; i++) {
      apic_lapic_state st;
      apic_lapic_state_get(s, i, &st);
      p->apic_id[i] = st.id;
      p->rng[i] = seed ^ (0x6D61696C626F78ull /* "mailbox" */ + i * 0xD1B54A32D192ED03ull);
    }
    rc = apic__irr_count_init(&p->irr, s, p->vector);
  }
  for (uint32_t i = 0; !rc && i < n; i++) rc = apic_sim_set_handler(s, cpus[i], p->vector,
                                                                     handle_ipi, p);
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = i < senders ? apic_sim_set_program(s, cpus[i], sender, p)
                     : apic__prog_start_idle(s, cpus[i]);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

static int quiescent(mbox *p, uint32_t cpu) {
  return apic__prog_quiescent(p->s, &p->irr, cpu, p->sent[cpu]);
}

/*
 * Per (target, action), at any point of a run: taken + pending == set
 * transitions (each bit an OR set is read-and-cleared once, or is still
 * there), and a core outside its handler has run every action it took.
 * With the senders finished, a bit pending on a core that will never run
 * its handler again is a lost wakeup. After the run, then, every set
 * transition ran exactly once.
 */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  mbox *p = state;
  unsigned bad = 0;
  uint64_t posted = 0, merged = 0, ran = 0, left = 0, busy = 0, coalesced = 0;
  for (uint32_t t = 0; t < p->ncpus; t++) {
    coalesced += p->irr.coalesced[t];
    for (uint32_t a = 0; a < NACTIONS; a++) {
      uint32_t k = t * NACTIONS + a, pend = p->pending[t] >> a & 1;
      uint32_t got = p->taken[k] + pend;
      posted += p->posted[k];
      merged += p->merged[k];
      ran += p->ran[k];
      left += pend;
      busy += p->ran[k] != p->taken[k];
      if (got != p->posted[k]) {  /* one violation per post lost (or taken twice) */
        if (!bad)
          snprintf(msg, n, "cpu %u: action %s set %u times in its mailbox, taken %u times, "
                   "%u pending: %s", t, action_name[a], p->posted[k], p->taken[k], pend,
                   got < p->posted[k] ? "posts lost" : "taken more often than posted");
        bad += got < p->posted[k] ? p->posted[k] - got : got - p->posted[k];
      } else if (!p->in_handler[t] && p->ran[k] != p->taken[k] && bad++ == 0) {
        snprintf(msg, n, "cpu %u: action %s taken %u times but ran %u times", t,
                 action_name[a], p->taken[k], p->ran[k]);
      } else if (pend && p->senders_done == p->senders && quiescent(p, t) && bad++ == 0) {
        snprintf(msg, n, "cpu %u: action %s left pending in its mailbox with no handler "
                 "run to come (no IPI pending or in flight)", t, action_name[a]);
      }
    }
  }
  *done = p->senders_done == p->senders && left == 0 && busy == 0;
  if (!bad) {
    char tail[80] = "";
    if (!*done)
      snprintf(tail, sizeof tail, left + busy ? " (work not finished: %llu actions in flight "
               "when the run stopped)" : " (work not finished)", (unsigned long long)(left + busy));
    snprintf(msg, n, "%llu actions posted onto clear bits (+%llu merged into pending ones), "
             "%llu ran, %llu pending; %llu IPIs coalesced in IRR; none lost%s",
             (unsigned long long)posted, (unsigned long long)merged, (unsigned long long)ran,
             (unsigned long long)left, (unsigned long long)coalesced, tail);
  }
  return bad;
}

const apic_prog_def apic__prog_mailbox_call_function = {
  "mailbox_call_function",
  "post an action bit (reschedule, call function, irq work) to a core's mailbox with a "
  "locked OR, then one IPI; the handler xchg's the mailbox to 0 and runs each bit",
  "Linux arch/alpha/kernel/smp.c send_ipi_message / handle_ipi, smp_call_function_many; "
  "Windows KiIpiSend / PRCB RequestSummary (ReactOS ntoskrnl/ke/ipi.c)",
  args, sizeof args / sizeof args[0], install, check, destroy};
