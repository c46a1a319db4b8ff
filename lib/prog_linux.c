/*
 * prog_linux.c - Linux's x86 IPI senders, as guest programs.
 *
 * linux_send_ipi_mask follows arch/x86/kernel/apic/ipi.c:
 *   xAPIC, physical:  default_send_IPI_mask_sequence_phys() - with
 *     interrupts off (local_irq_save), one IPI per target:
 *     __xapic_wait_icr_idle() polls ICR delivery status, then
 *     __default_send_IPI_dest_field() writes ICR2 (destination) then ICR.
 *   xAPIC, logical (flat): default_send_IPI_mask_logical() - one IPI whose
 *     destination is the OR of the targets' logical IDs (1 << cpu, as
 *     Linux's flat mode programs the LDR).
 *   x2APIC: x2apic_send_IPI_mask() - one WRMSR of the 64-bit ICR per target,
 *     no delivery-status poll (the bit does not exist, SDM 10.12.9).
 *   All three save and disable interrupts around their ICR writes.
 * linux_send_ipi_allbutself follows default_send_IPI_allbutself() /
 *   __default_send_IPI_shortcut(): wait for ICR idle, one write of ICR with
 *   the all-excluding-self shorthand.
 *
 * Targets run the handler smp_call_function_interrupt() would: ack_APIC_irq
 * (EOI) then the work. The check: every IPI sent to a target was either
 * handled or merged into one already pending in its IRR (coalesced) - none
 * lost - and the senders finished all their rounds. In a run that stopped
 * first, an IPI its target may still take (on its way, pending in IRR, in
 * service, its handler running) is in flight, not lost, and the work not
 * done; it is lost once dropped, or once the target can take nothing more
 * of the vector (e.g. bug no_eoi: the vector stays in service). A sender
 * counts an IPI in the step that writes the ICR, so that no check sees it
 * on its way, or handled, uncounted.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

/* One ICR command of a round: destination field, ICR low, and the cores
   it reaches: reach[first .. first + n). */
typedef struct ipi { uint32_t dest, icr_lo, first, n; } ipi;

typedef struct lx {
  apic_sim *s;
  uint32_t ncpus;
  uint8_t vector;
  uint32_t rounds, interval, work;
  ipi *round;            /* what every sender sends each round */
  uint32_t nround;
  uint32_t *reach;       /* cores that receive, grouped by command (one entry per
                            target; allbutself: every core, the sender skipped) */
  uint32_t *sent;        /* per target core: IPIs addressed to it */
  uint32_t *handled;     /* per core: handler runs */
  uint32_t senders, senders_done;
  int no_eoi;            /* bug "no_eoi": the handler never acks the APIC */
  int irq_save;          /* send_IPI_mask: local_irq_save() around the ICR writes */
  apic__irr_count irr;
} lx;

static int handler(apic_cpu *c, void *arg) {
  lx *p = arg;
  APIC_BEGIN(c);
  if (!p->no_eoi) APIC_EOI(c);              /* ack_APIC_irq() first, as Linux does */
  p->handled[apic_cpu_index(c)]++;
  APIC_WORK(c, p->work);                    /* generic_smp_call_function_interrupt() */
  APIC_END(c);
}

/* The targets of cmd count its IPI in the step that writes the ICR: no
   check sees the IPI on its way, or handled, before it was counted. */
static void count_sent(lx *p, apic_cpu *c, const ipi *cmd) {
  int others = (cmd->icr_lo & APIC_ICR_SH_MASK) != 0;  /* never the sender */
  for (uint32_t i = cmd->first; i < cmd->first + cmd->n; i++)
    if (!others || p->reach[i] != apic_cpu_index(c)) p->sent[p->reach[i]]++;
}

static int sender(apic_cpu *c, void *arg) {
  lx *p = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);
  APIC_WORK(c, p->interval);  /* let the targets boot */
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < p->rounds; APIC_L(c, 0)++) {
    /* the mask senders write ICR2 and ICR per target with interrupts off, so
       that no handler runs (and sends) between the two writes */
    if (p->irq_save) APIC_CLI(c);           /* local_irq_save() */
    for (APIC_L(c, 1) = 0; APIC_L(c, 1) < p->nround; APIC_L(c, 1)++) {
      if (apic_cpu_x2apic(c)) {             /* native_x2apic_icr_write(): one WRMSR */
        count_sent(p, c, &p->round[APIC_L(c, 1)]);
        APIC_DO(c, apic_cpu_wrmsr(c, APIC_MSR_X2APIC(APIC_REG_ICR_LO),
                                  ((uint64_t)p->round[APIC_L(c, 1)].dest << 32) |
                                      p->round[APIC_L(c, 1)].icr_lo));
      } else {
        APIC_SPIN_ICR_IDLE(c);              /* __xapic_wait_icr_idle() */
        APIC_WRITE(c, APIC_REG_ICR_HI, p->round[APIC_L(c, 1)].dest << APIC_ICR_DEST_SHIFT);
        count_sent(p, c, &p->round[APIC_L(c, 1)]);
        APIC_WRITE(c, APIC_REG_ICR_LO, p->round[APIC_L(c, 1)].icr_lo);
      }
    }
    if (p->irq_save) APIC_STI(c);           /* local_irq_restore() */
    APIC_WORK(c, p->interval);
  }
  if (!apic_cpu_x2apic(c)) APIC_SPIN_ICR_IDLE(c);
  p->senders_done++;
  for (;;) APIC_HLT(c);  /* stay available for interrupts, like a kernel would */
  APIC_END(c);
}

static const apic_arg_spec mask_args[] = {
  {"targets", APIC_ARG_CPUS, 0, 0, NULL, NULL, 0, "cores the IPI goes to (the cpumask)"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xfb", 0xFB, "vector (CALL_FUNCTION_VECTOR = 0xfb)"},
  {"rounds", APIC_ARG_INT, 1, 1000000, NULL, "1", 1, "times each sender sends to the mask"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "1000", 1000, "cycles between rounds"},
  {"dest_mode", APIC_ARG_STRING, 0, 0, "physical|logical", "physical", 0,
   "physical: one IPI per target; logical: one IPI to the flat logical mask"},
  {"work", APIC_ARG_INT, 0, 100000000, NULL, "200", 200, "cycles the handler works after EOI"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_eoi", "none", 0,
   "no_eoi: the handler forgets ack_APIC_irq(); the vector stays in service and later IPIs "
   "are never handled"},
};

static const apic_arg_spec allbutself_args[] = {
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xfd", 0xFD, "vector (RESCHEDULE_VECTOR = 0xfd)"},
  {"rounds", APIC_ARG_INT, 1, 1000000, NULL, "1", 1, "broadcasts each sender sends"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "1000", 1000, "cycles between rounds"},
  {"work", APIC_ARG_INT, 0, 100000000, NULL, "200", 200, "cycles the handler works after EOI"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_eoi", "none", 0,
   "no_eoi: the handler forgets ack_APIC_irq(); the vector stays in service and later IPIs "
   "are never handled"},
};

static void destroy(void *state) {
  lx *p = state;
  if (!p) return;
  apic__irr_count_free(&p->irr, p->s);
  free(p->sent);
  free(p->handled);
  free(p->reach);
  free(p->round);
  free(p);
}

/* Flat logical ID of a core, as Linux's init_apic_ldr() gives it: 1 << cpu. */
static uint32_t flat_id(uint32_t cpu) { return 1u << cpu; }

/* Builds a round: the ICR commands one send_IPI_mask call issues, and the
   targets each reaches. */
static int plan(lx *p, apic_sim *s, const uint32_t *t, uint32_t nt, int logical, int x2apic,
                char *why, size_t why_size) {
  p->round = calloc(nt ? nt : 1, sizeof *p->round);
  p->reach = malloc((nt ? nt : 1) * sizeof *p->reach);
  uint32_t *cmd = malloc((nt ? nt : 1) * sizeof *cmd);  /* the command of each target */
  if (!p->round || !p->reach || !cmd) { free(cmd); return APIC_E_NOMEM; }
  uint32_t lo = APIC_ICR_LO(p->vector, APIC_DM_FIXED, logical ? APIC_ICR_DESTMODE : 0);
  for (uint32_t i = 0; i < nt; i++) {
    apic_lapic_state st;
    apic_lapic_state_get(s, t[i], &st);
    uint32_t k = 0;
    if (logical && !x2apic) {               /* one IPI to the OR of the flat IDs */
      if (t[i] > 7) {
        snprintf(why, why_size, "dest_mode logical (flat) reaches cpus 0..7 only; targets "
                 "has %u", t[i]);
        free(cmd);
        return APIC_E_ARG;
      }
      p->nround = 1;
      p->round[0].dest |= flat_id(t[i]);
      p->round[0].icr_lo = lo;
      /* what the target's own boot code wrote (SDM 10.6.2.2) */
      apic_lapic_write(s, t[i], APIC_REG_DFR, APIC_DFR_FLAT);
      apic_lapic_write(s, t[i], APIC_REG_LDR, flat_id(t[i]) << APIC_ICR_DEST_SHIFT);
    } else if (logical) {                   /* x2APIC cluster: one IPI per cluster */
      while (k < p->nround && p->round[k].dest >> 16 != st.ldr >> 16) k++;
      if (k == p->nround) p->nround++;
      p->round[k].dest |= st.ldr;
      p->round[k].icr_lo = lo;
    } else {                                /* physical: one IPI per target */
      k = p->nround++;
      p->round[k].dest = st.id;
      p->round[k].icr_lo = lo;
    }
    cmd[i] = k;
    p->round[k].n++;
  }
  for (uint32_t k = 0, at = 0; k < p->nround; k++) {  /* reach, grouped by command */
    p->round[k].first = at;
    at += p->round[k].n;
    p->round[k].n = 0;
  }
  for (uint32_t i = 0; i < nt; i++) {
    ipi *r = &p->round[cmd[i]];
    p->reach[r->first + r->n++] = t[i];
  }
  free(cmd);
  return APIC_OK;
}

static int install_common(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                          int allbutself, void **state, char *why, size_t why_size) {
  lx *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->work = (uint32_t)apic_args_int(a, "work");
  p->senders = n;
  const char *bug = apic_args_str(a, "bug");
  p->no_eoi = bug && !strcmp(bug, "no_eoi");
  p->irq_save = !allbutself;  /* __default_send_IPI_shortcut() is one write, no irq save */
  p->sent = calloc(p->ncpus, sizeof *p->sent);
  p->handled = calloc(p->ncpus, sizeof *p->handled);
  int rc = !p->sent || !p->handled ? APIC_E_NOMEM : APIC_OK;
  if (!rc && allbutself) {
    p->reach = calloc(p->ncpus, sizeof *p->reach);
    p->round = calloc(1, sizeof *p->round);
    if (!p->reach || !p->round) rc = APIC_E_NOMEM;
    for (uint32_t i = 0; !rc && i < p->ncpus; i++) p->reach[i] = i;
    if (!rc) {
      p->nround = 1;
      p->round[0].icr_lo = APIC_ICR_LO(p->vector, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS));
      p->round[0].n = p->ncpus;
    }
  } else if (!rc) {
    uint32_t nt;
    const uint32_t *t = apic_args_cpus(a, "targets", &nt);
    apic_lapic_state st0;
    apic_lapic_state_get(s, cpus[0], &st0);
    const char *dm = apic_args_str(a, "dest_mode");
    rc = plan(p, s, t, nt, dm && !strcmp(dm, "logical"), st0.x2apic, why, why_size);
    if (rc == APIC_E_ARG) { destroy(p); return rc; }
  }
  if (!rc) rc = apic__irr_count_init(&p->irr, s, p->vector);
  for (uint32_t i = 0; !rc && i < p->ncpus; i++)
    rc = apic_sim_set_handler(s, i, p->vector, handler, p);
  for (uint32_t i = 0; !rc && i < n; i++) rc = apic_sim_set_program(s, cpus[i], sender, p);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

static int install_mask(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                        void **state, char *why, size_t why_size) {
  return install_common(s, cpus, n, a, 0, state, why, why_size);
}

static int install_abs(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                       void **state, char *why, size_t why_size) {
  return install_common(s, cpus, n, a, 1, state, why, why_size);
}

/* Every IPI sent is handled or coalesced (handled + coalesced == sent), or
   still in flight on a target that may take it yet. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  lx *p = state;
  unsigned bad = 0;
  uint64_t total = 0, flying = 0;
  for (uint32_t i = 0; i < p->ncpus; i++) {
    total += p->sent[i];
    uint32_t got = p->handled[i] + p->irr.coalesced[i];
    uint32_t fly = apic__prog_in_flight(p->s, &p->irr, i, p->sent[i], p->handled[i]);
    flying += fly;
    if (got + fly != p->sent[i] && bad++ == 0)
      apic__prog_ipi_violation(p->s, &p->irr, i, p->sent[i], p->handled[i], fly, msg, n);
  }
  *done = p->senders_done == p->senders && flying == 0;
  if (!bad)
    apic__prog_ipi_summary(total, flying, p->vector, "",
                           p->senders_done == p->senders ? "" : " (senders not finished)",
                           msg, n);
  return bad;
}

const apic_prog_def apic__prog_linux_send_ipi_mask = {
  "linux_send_ipi_mask",
  "send a fixed IPI to a set of cores: wait for ICR idle, write ICR2, write ICR",
  "Linux arch/x86/kernel/apic/ipi.c default_send_IPI_mask_sequence_phys / _logical, "
  "x2apic_send_IPI_mask",
  mask_args, sizeof mask_args / sizeof mask_args[0], install_mask, check, destroy};

const apic_prog_def apic__prog_linux_send_ipi_allbutself = {
  "linux_send_ipi_allbutself",
  "broadcast a fixed IPI to every other core with the all-excluding-self shorthand",
  "Linux arch/x86/kernel/apic/ipi.c default_send_IPI_allbutself",
  allbutself_args, sizeof allbutself_args / sizeof allbutself_args[0], install_abs, check,
  destroy};
