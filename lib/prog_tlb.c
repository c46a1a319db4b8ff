/*
 * prog_tlb.c - "tlb_shootdown_scoreboard": several CPUs shoot down TLB
 * entries on all the others at once, each target acknowledging each
 * initiator in its own word of a generation scoreboard.
 *
 * FreeBSD sys/x86/x86/mp_x86.c, almost line for line:
 *   smp_targeted_tlb_shootdown():  fill this CPU's request (pc_smp_tlb_addr1,
 *     generation = ++pc_smp_tlb_gen, never 0); for each target:
 *     *invl_scoreboard_slot(cpu) = 0; ipi_all_but_self(IPI_INVLOP) when the
 *     mask is every other CPU, else ipi_selected(); curcpu_cb() locally; then
 *     for each target: while (atomic_load_int(slot) != generation) pause.
 *     Interrupts stay enabled while it waits, or two initiators deadlock.
 *   invlop_handler():  for (;;) { find the first zero word in this CPU's
 *     scoreboard row; none -> return; read that initiator's request; write
 *     its generation into the word; invalidate }.
 * Linux's native_flush_tlb_multi() -> on_each_cpu_cond_mask(flush_tlb_func,
 * wait=true) is the same protocol with a csd lock per target instead of a
 * scoreboard word, and native_send_call_func_ipi() picks the all-but-self
 * shorthand the same way. As in Linux, the target here acknowledges after
 * invalidating (FreeBSD acknowledges first, safe there because the target
 * cannot return to user space before its handler ends), so the check can
 * demand that no initiator goes on before every target has flushed.
 *
 * One IPI vector serves every initiator, so IPIs from several initiators
 * merge in a target's IRR; the scoreboard, not the IPI count, says what to
 * do, so nothing is lost.
 *
 * Check: every target flushed exactly once per (initiator, generation) it
 * was asked, no initiator went on before every target had flushed, and no
 * request is left unanswered on a target that will never run its handler
 * again (a lost shootdown: that initiator waits forever; e.g. its APIC,
 * software-disabled, dropped the IPI). A request still to be answered on a
 * target that may yet run it is in flight. *done when every initiator
 * finished its rounds.
 *
 * bug=one_per_ipi: the handler serves the first zero word and returns, as
 *   if each IPI carried one request (true of the older handlers, when
 *   smp_ipi_mtx let one shootdown run at a time); when IPIs from two
 *   initiators merge in IRR, one request is never served and its initiator
 *   hangs.
 * bug=forget_generation: the handler flushes but does not write the
 *   generation back; the initiator never sees its acknowledgement (and the
 *   handler's own loop keeps finding the zero word and flushing again).
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

enum { BUG_NONE, BUG_ONE_PER_IPI, BUG_FORGET_GENERATION };

/* Scoreboard slots (cores x initiators), each with 28 bytes of bookkeeping:
   448 MiB at most, so that "initiators" on a 65536-core machine cannot ask
   for 112 GiB (256 initiators there still fit, or every core of 4096). */
#define MAX_SLOTS (1u << 24)

/* An initiator's request: its pc_smp_tlb_addr1 and pc_smp_tlb_gen. */
typedef struct tlb_req { volatile uint32_t addr, gen; } tlb_req;

typedef struct tlb {
  apic_sim *s;
  uint32_t ncpus;
  uint8_t vector;
  uint32_t rounds, interval, flush_cost;
  int shorthand, bug;
  uint32_t *cpus, n;           /* the program's cores; the first ninit initiate */
  uint32_t ninit;
  tlb_req *req;                /* per initiator */
  volatile uint32_t *board;    /* invl_scoreboard: a row per core, a slot per initiator */
  uint32_t *apic_id;           /* per core: physical destination */
  uint64_t *rng;               /* per core: PRNG state, from the machine seed */
  /* per scoreboard slot (core, initiator) */
  uint32_t *asked_gen;         /* generation last asked (0 = never) */
  uint32_t *asked;             /* generations asked */
  uint64_t *asked_at;          /* cycle it was asked */
  uint32_t *flushed_gen;       /* generation last flushed */
  uint32_t *flushes;           /* flushes done (each generation once) */
  uint8_t *waiting;            /* per initiator: IPIs sent, waiting for the acks */
  uint32_t *sent;              /* per core: IPIs sent to it */
  uint8_t *in_handler;         /* per core */
  uint32_t initiators_done;
  unsigned violations;         /* found while running (twice, unasked, early) */
  char first[200];             /* the first of them */
  apic__irr_count irr;
} tlb;

static uint32_t rnd(tlb *p, uint32_t cpu, uint32_t below) {  /* splitmix64 */
  uint64_t z = (p->rng[cpu] += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return below ? (uint32_t)(z % below) : 0;
}

/* Index of the slot where core t acknowledges initiator i. */
static size_t slot_of(const tlb *p, uint32_t t, uint32_t i) { return (size_t)t * p->ninit + i; }

/* invl_scoreboard_getcpu(t) + i */
static volatile uint32_t *slot(tlb *p, uint32_t t, uint32_t i) {
  return &p->board[slot_of(p, t, i)];
}

/* Counts a violation; true for the first, whose message goes in p->first. */
static int first_violation(tlb *p) { return p->violations++ == 0; }

/* ---- the initiator: smp_targeted_tlb_shootdown() ---- */

/* *invl_scoreboard_slot(t) = 0: t must flush for this request. */
static void ask(tlb *p, apic_cpu *c, uint32_t i, uint32_t t, uint32_t gen) {
  apic_cpu_store(c, slot(p, t, i), 0);
  p->asked_gen[slot_of(p, t, i)] = gen;
  p->asked[slot_of(p, t, i)]++;
  p->asked_at[slot_of(p, t, i)] = apic_cpu_now(c);
}

/* ipi_selected(): one physical fixed IPI per target. */
static void send_one(tlb *p, apic_cpu *c, uint32_t t) {
  apic_cpu_send_ipi(c, p->apic_id[t], APIC_ICR_LO(p->vector, APIC_DM_FIXED, 0));
  p->sent[t]++;
}

/* ipi_all_but_self(): one ICR write with the all-excluding-self shorthand. */
static void send_allbutself(tlb *p, apic_cpu *c) {
  apic_cpu_write(c, APIC_REG_ICR_LO,
                 APIC_ICR_LO(p->vector, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  for (uint32_t t = 0; t < p->ncpus; t++) p->sent[t] += t != apic_cpu_index(c);
}

/* The initiator saw t's acknowledgement: t must have flushed by now. */
static void acked(tlb *p, uint32_t i, uint32_t t) {
  size_t k = slot_of(p, t, i);
  if (p->flushed_gen[k] != p->asked_gen[k] && first_violation(p))
    snprintf(p->first, sizeof p->first, "initiator cpu %u went on past generation %u while "
             "target cpu %u had flushed only generation %u", p->cpus[i], p->asked_gen[k], t,
             p->flushed_gen[k]);
}

static int initiator(apic_cpu *c, void *arg) {
  tlb *p = arg;
  uint32_t me = apic_cpu_index(c), i = 0;
  while (p->cpus[i] != me) i++;  /* this initiator's slot in every row */
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);  /* "Initiator must have interrupts enabled" */
  for (APIC_L(c, 0) = 1; APIC_L(c, 0) <= p->rounds; APIC_L(c, 0)++) {  /* L0: generation */
    APIC_WORK(c, 1 + rnd(p, me, p->interval + 1));  /* the unmap that needs a shootdown */
    APIC_STORE(c, &p->req[i].addr, rnd(p, me, 1u << 20) << 12);  /* PCPU_SET(smp_tlb_addr1) */
    APIC_STORE(c, &p->req[i].gen, (uint32_t)APIC_L(c, 0));       /* PCPU_SET(smp_tlb_gen) */
    for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->n; APIC_L(c, 1)++)  /* CPU_FOREACH_ISSET(mask) */
      if (p->cpus[APIC_L(c, 1)] != me)
        APIC_DO(c, ask(p, c, i, p->cpus[APIC_L(c, 1)], (uint32_t)APIC_L(c, 0)));
    APIC_MARK(c, "shootdown");
    if (p->shorthand) {                               /* is_all: ipi_all_but_self() */
      if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
      APIC_DO(c, send_allbutself(p, c));
    } else {                                          /* ipi_selected(mask) */
      for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->n; APIC_L(c, 1)++) {
        if (p->cpus[APIC_L(c, 1)] == me) continue;
        if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);  /* __xapic_wait_icr_idle() */
        APIC_DO(c, send_one(p, c, p->cpus[APIC_L(c, 1)]));
      }
    }
    p->waiting[i] = 1;
    APIC_WORK(c, p->flush_cost);                      /* curcpu_cb(): the local flush */
    for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->n; APIC_L(c, 1)++) {
      if (p->cpus[APIC_L(c, 1)] == me) continue;
      /* while (atomic_load_int(p_cpudone) != generation) ia32_pause(); */
      APIC_SPIN_UNTIL(c, slot(p, p->cpus[APIC_L(c, 1)], i),
                      apic_cpu_load(c, slot(p, p->cpus[APIC_L(c, 1)], i)) == APIC_L(c, 0));
      acked(p, i, p->cpus[APIC_L(c, 1)]);
    }
    p->waiting[i] = 0;
  }
  if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
  p->initiators_done++;
  for (;;) APIC_HLT(c);  /* stay a target for the others */
  APIC_END(c);
}

/* ---- the target: invlop_handler() ---- */

/* invlop_handler_one_req() -> invlpg_handler(): recorded for the check. */
static void flush(tlb *p, apic_cpu *c, uint32_t i, uint32_t gen) {
  uint32_t t = apic_cpu_index(c);
  size_t k = slot_of(p, t, i);
  apic_cpu_work(c, p->flush_cost);
  if (gen == p->flushed_gen[k]) {
    if (first_violation(p))
      snprintf(p->first, sizeof p->first, "cpu %u flushed initiator cpu %u's generation %u "
               "twice", t, p->cpus[i], gen);
  } else if (gen != p->asked_gen[k]) {
    if (first_violation(p))
      snprintf(p->first, sizeof p->first, "cpu %u flushed initiator cpu %u's generation %u, "
               "but was asked for %u", t, p->cpus[i], gen, p->asked_gen[k]);
  } else {
    p->flushes[k]++;
  }
  p->flushed_gen[k] = gen;
}

static int invlop_handler(apic_cpu *c, void *arg) {
  tlb *p = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  p->in_handler[me] = 1;
  APIC_EOI(c);  /* lapic_eoi(), first as Linux does (FreeBSD's IDTVEC(invlop) EOIs after
                   invlop_handler(); the same here, as an IPI arriving meanwhile sets IRR) */
  for (;;) {
    /* the first initiator whose word in this core's row is zero (L1) */
    for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->ninit; APIC_L(c, 1)++) {
      if (p->cpus[APIC_L(c, 1)] == me) continue;      /* never its own initiator */
      APIC_DO(c, APIC_L(c, 2) = apic_cpu_load(c, slot(p, me, (uint32_t)APIC_L(c, 1))));
      if (APIC_L(c, 2) == 0) break;
    }
    if (APIC_L(c, 1) == p->ninit) break;              /* none: done */
    APIC_DO(c, APIC_L(c, 2) = apic_cpu_load(c, &p->req[APIC_L(c, 1)].gen));
    APIC_DO(c, (void)apic_cpu_load(c, &p->req[APIC_L(c, 1)].addr));
    APIC_DO(c, flush(p, c, (uint32_t)APIC_L(c, 1), (uint32_t)APIC_L(c, 2)));
    if (p->bug != BUG_FORGET_GENERATION)              /* the acknowledgement */
      APIC_STORE(c, slot(p, me, (uint32_t)APIC_L(c, 1)), (uint32_t)APIC_L(c, 2));
    if (p->bug == BUG_ONE_PER_IPI) break;             /* "one IPI, one request" */
  }
  p->in_handler[me] = 0;
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"initiators", APIC_ARG_INT, 1, APIC_MAX_CPUS, NULL, "2", 2,
   "the first N cores of the program shoot down at the same time (every core is a target)"},
  {"rounds", APIC_ARG_INT, 1, 1000000, NULL, "4", 4, "shootdowns each initiator makes"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "200", 200,
   "random 1..interval+1 cycles before each shootdown"},
  {"flush", APIC_ARG_INT, 0, 100000000, NULL, "100", 100, "cycles one invalidation takes"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xfb", 0xFB,
   "IPI vector shared by all initiators (CALL_FUNCTION_VECTOR = 0xfb)"},
  {"shorthand", APIC_ARG_BOOL, 0, 1, NULL, "0", 0,
   "send one all-but-self IPI instead of one per target (needs the program on every core)"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|one_per_ipi|forget_generation", "none", 0,
   "one_per_ipi: serve one request per handler run; forget_generation: flush, no ack"},
};

static void destroy(void *state) {
  tlb *p = state;
  if (!p) return;
  apic__irr_count_free(&p->irr, p->s);
  free(p->cpus);
  free(p->req);
  free((void *)(uintptr_t)p->board);
  free(p->apic_id);
  free(p->rng);
  free(p->asked_gen);
  free(p->asked);
  free(p->asked_at);
  free(p->flushed_gen);
  free(p->flushes);
  free(p->waiting);
  free(p->sent);
  free(p->in_handler);
  free(p);
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  uint32_t ninit = (uint32_t)apic_args_int(a, "initiators");
  int shorthand = apic_args_int(a, "shorthand") != 0;
  if (ninit > n) {
    snprintf(why, why_size, "initiators is %u but the program runs on %u cores", ninit, n);
    return APIC_E_ARG;
  }
  if (n < 2) {
    snprintf(why, why_size, "a shootdown needs at least 2 cores (the program runs on %u)", n);
    return APIC_E_ARG;
  }
  if (shorthand && n != apic_sim_ncpus(s)) {
    snprintf(why, why_size, "shorthand: the all-but-self IPI reaches all %u cores, but the "
             "program runs on %u", apic_sim_ncpus(s), n);
    return APIC_E_ARG;
  }
  if ((uint64_t)apic_sim_ncpus(s) * ninit > MAX_SLOTS) {
    snprintf(why, why_size, "initiators is %u: the scoreboard would have %llu slots (%u cores x "
             "%u initiators); at most %u", ninit,
             (unsigned long long)apic_sim_ncpus(s) * ninit, apic_sim_ncpus(s), ninit, MAX_SLOTS);
    return APIC_E_ARG;
  }
  tlb *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->flush_cost = (uint32_t)apic_args_int(a, "flush");
  p->shorthand = shorthand;
  const char *bug = apic_args_str(a, "bug");
  p->bug = !strcmp(bug, "one_per_ipi") ? BUG_ONE_PER_IPI
         : !strcmp(bug, "forget_generation") ? BUG_FORGET_GENERATION : BUG_NONE;
  p->n = n;
  p->ninit = ninit;
  size_t rows = (size_t)p->ncpus * ninit;
  p->cpus = malloc(n * sizeof *p->cpus);
  p->req = calloc(ninit, sizeof *p->req);
  p->board = calloc(rows, sizeof *p->board);
  p->apic_id = calloc(p->ncpus, sizeof *p->apic_id);
  p->rng = calloc(p->ncpus, sizeof *p->rng);
  p->asked_gen = calloc(rows, sizeof *p->asked_gen);
  p->asked = calloc(rows, sizeof *p->asked);
  p->asked_at = calloc(rows, sizeof *p->asked_at);
  p->flushed_gen = calloc(rows, sizeof *p->flushed_gen);
  p->flushes = calloc(rows, sizeof *p->flushes);
  p->waiting = calloc(ninit, 1);
  p->sent = calloc(p->ncpus, sizeof *p->sent);
  p->in_handler = calloc(p->ncpus, 1);
  int rc = !p->cpus || !p->req || !p->board || !p->apic_id || !p->rng || !p->asked_gen ||
           !p->asked || !p->asked_at || !p->flushed_gen || !p->flushes || !p->waiting ||
           !p->sent || !p->in_handler ? APIC_E_NOMEM : APIC_OK;
  if (!rc) {
    memcpy(p->cpus, cpus, n * sizeof *cpus);
    for (size_t k = 0; k < rows; k++) p->board[k] = 1;  /* "acknowledged", nothing asked */
    uint64_t seed = apic_sim_config(s)->seed;
    for (uint32_t i = 0; i < p->ncpus; i++) {
      apic_lapic_state st;
      apic_lapic_state_get(s, i, &st);
      p->apic_id[i] = st.id;
      p->rng[i] = seed ^ (0x746C62ull /* "tlb" */ + i * 0xD1B54A32D192ED03ull);
    }
    rc = apic__irr_count_init(&p->irr, s, p->vector);
  }
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = apic_sim_set_handler(s, cpus[i], p->vector, invlop_handler, p);
  for (uint32_t i = 0; !rc && i < n; i++)
    rc = i < ninit ? apic_sim_set_program(s, cpus[i], initiator, p)
                   : apic__prog_start_idle(s, cpus[i]);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

static int quiescent(tlb *p, uint32_t cpu) {
  return apic__prog_quiescent(p->s, &p->irr, cpu, p->sent[cpu]);
}

/*
 * Found while running: a flush repeated or not asked for, an initiator going
 * on before a target flushed. Here, per scoreboard slot: every generation
 * asked was flushed once (but the one still outstanding), and an outstanding
 * request on a core that will never run its handler again is a lost
 * shootdown.
 */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  tlb *p = state;
  unsigned bad = p->violations;
  if (bad) snprintf(msg, n, "%s", p->first);
  uint64_t flushes = 0, coalesced = 0;
  uint32_t waits = 0, wi = 0, wt = 0;
  for (uint32_t t = 0; t < p->ncpus; t++) coalesced += p->irr.coalesced[t];
  for (uint32_t j = 0; j < p->n; j++)
    for (uint32_t i = 0; i < p->ninit; i++) {
      uint32_t t = p->cpus[j];
      size_t k = slot_of(p, t, i);
      int outstanding = p->flushed_gen[k] != p->asked_gen[k];
      flushes += p->flushes[k];
      if (p->flushes[k] + (uint32_t)outstanding != p->asked[k] && bad++ == 0)
        snprintf(msg, n, "cpu %u flushed %u of the %u generations initiator cpu %u asked",
                 t, p->flushes[k], p->asked[k], p->cpus[i]);
      if (t == p->cpus[i] || !p->asked[k] || p->board[k] == p->asked_gen[k]) continue;
      /* not acknowledged: in progress, or lost */
      if (waits++ == 0) wi = i, wt = t;
      if (p->waiting[i] && quiescent(p, t) && bad++ == 0)
        snprintf(msg, n, "lost shootdown: cpu %u never acknowledged initiator cpu %u's "
                 "generation %u (asked at cycle %llu; %s) and has no IPI pending or on the way",
                 t, p->cpus[i], p->asked_gen[k], (unsigned long long)p->asked_at[k],
                 outstanding ? "never flushed" : "flushed, not acknowledged");
    }
  *done = p->initiators_done == p->ninit;
  if (!bad) {
    int w = 0;
    if (waits)
      w = snprintf(msg, n, "in flight when the run stopped: cpu %u has not acknowledged "
                   "initiator cpu %u yet (%u acknowledgements outstanding); ", wt, p->cpus[wi],
                   waits);
    if (w < 0 || (size_t)w >= n) w = 0;
    snprintf(msg + w, n - (size_t)w, "%llu flushes, each asked (initiator, generation) once "
             "per target; %llu IPIs coalesced in IRR; no initiator went on early",
             (unsigned long long)flushes, (unsigned long long)coalesced);
  }
  return bad;
}

const apic_prog_def apic__prog_tlb_shootdown_scoreboard = {
  "tlb_shootdown_scoreboard",
  "several initiators shoot down TLB entries on every other core at once, each waiting for "
  "its generation in every target's scoreboard row; handlers serve zero words until none",
  "FreeBSD sys/x86/x86/mp_x86.c smp_targeted_tlb_shootdown / invlop_handler; Linux "
  "native_flush_tlb_multi / flush_tlb_func",
  args, sizeof args / sizeof args[0], install, check, destroy};
