/*
 * prog_nt.c - "nt_hal_request_ipi": the Windows HAL's IPI path on a local
 * APIC (the MPS / ACPI HALs, halmps and halmacpi, mpipi.asm).
 *
 *   HalInitializeProcessor -> HalpInitializeLocalUnit: every processor gets
 *     DFR = flat and LDR = 1 << its processor number, so that a KAFFINITY
 *     mask is itself a logical destination (SDM 10.6.2.2, flat model: up to
 *     8 processors).
 *   KiIpiSend hands HalRequestIpi the target set without the current
 *     processor (the kernel never IPIs itself).
 *   HalRequestIpi(mask): with interrupts off (pushfd; cli), stall while the
 *     APIC is busy (STALL_WHILE_APIC_BUSY: poll ICR delivery status, with a
 *     short KeStallExecutionProcessor-like pause between polls), write ICR
 *     high = mask << 24, write ICR low = fixed | logical | APIC_IPI_VECTOR
 *     (0xE1), stall again until the command has left, popfd.
 *   The target's IPI interrupt runs KiIpiServiceRoutine, then
 *   HalEndSystemInterrupt writes the EOI: NT EOIs at the end of the
 *   interrupt, where Linux acks first.
 *
 * The check: every IPI sent to a target was handled or merged into one
 * already pending in its IRR (coalesced) - none lost - and no sender wrote
 * ICR high or low while its delivery status read "send pending" (SDM 10.6.1:
 * the bit says the previous IPI has not left; the HAL's stall exists to wait
 * for it). A host-side read of ICR low at each write records the second
 * rule; the read costs the guest nothing. In a run that stopped first, an
 * IPI its target may still take (on its way, retried, pending, in service,
 * its handler running) is in flight, not lost, and the work not done; it
 * is lost once dropped, or once the target can take nothing more of it.
 *
 * On the p6 bus a receiver whose IRR already holds the vector makes the
 * sender retry (SDM 10.8.4): senders that stall with interrupts off for
 * IPIs to each other can then wait for ever. The stall is bounded
 * (STALL_POLLS_MAX); a stall that gives up writes the ICR while busy, and
 * the check reports it.
 *
 * Bug "no_stall" drops both stalls (a HAL without STALL_WHILE_APIC_BUSY):
 * back-to-back calls (interval 0) then write the ICR while the previous IPI
 * is still pending. Dropping only the first stall would not show it: the
 * second stall already leaves the APIC idle for the next call.
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

#define STALL_CYCLES    20u      /* KeStallExecutionProcessor-like pause per poll */
#define STALL_POLLS_MAX 100000u  /* bound of one stall; then the HAL writes anyway */
#define FLAT_MAX_CPUS   8u       /* flat model: one LDR bit per processor */

typedef struct nt {
  apic_sim *s;
  uint32_t ncpus;
  uint8_t vector;
  uint32_t rounds, interval, work;
  int no_stall;
  uint32_t mask;          /* logical destination: OR of 1 << target */
  uint32_t *sent;         /* per core: IPIs addressed to it */
  uint32_t *handled;      /* per core: interrupt runs */
  uint32_t senders, senders_done;
  uint32_t busy_writes;   /* IPIs whose ICR writes found delivery status pending */
  uint32_t busy_cpu;      /* the first of them */
  uint64_t busy_cycle;
  uint32_t stall_timeouts;
  apic__irr_count irr;
} nt;

/* Instrumentation, not guest code: is this core's ICR busy right now? */
static int icr_busy(apic_cpu *c) {
  uint32_t lo = 0;
  apic_lapic_read(apic_cpu_sim(c), apic_cpu_index(c), APIC_REG_ICR_LO, &lo);
  return (lo & APIC_ICR_DS) != 0;
}

/* Records an ICR write made while busy; APIC_L(c, 3) marks the IPI counted. */
static void note_icr_write(nt *p, apic_cpu *c) {
  if (APIC_L(c, 3) || !icr_busy(c)) return;
  APIC_L(c, 3) = 1;
  if (p->busy_writes++ == 0) {
    p->busy_cpu = apic_cpu_index(c);
    p->busy_cycle = apic_cpu_now(c);
  }
}

/* STALL_WHILE_APIC_BUSY: poll delivery status, stall between polls, bounded. */
#define STALL_WHILE_APIC_BUSY(c, p)                                            \
  do {                                                                         \
    for (APIC_L(c, 2) = 0; apic_cpu_read(c, APIC_REG_ICR_LO) & APIC_ICR_DS;    \
         APIC_L(c, 2)++) {                                                     \
      if (APIC_L(c, 2) == STALL_POLLS_MAX) { (p)->stall_timeouts++; break; }   \
      APIC_WORK(c, STALL_CYCLES);                                              \
    }                                                                          \
  } while (0)

/* KiIpiSend's target set: the mask without the current processor, which
   the kernel serves itself rather than interrupt (it never IPIs itself). */
static uint32_t target_set(const nt *p, apic_cpu *c) {
  return p->mask & ~(1u << apic_cpu_index(c));
}

/* KiIpiServiceRoutine, then HalEndSystemInterrupt's EOI. */
static int ipi_interrupt(apic_cpu *c, void *arg) {
  nt *p = arg;
  APIC_BEGIN(c);
  p->handled[apic_cpu_index(c)]++;
  APIC_WORK(c, p->work);
  APIC_EOI(c);
  APIC_END(c);
}

static int sender(apic_cpu *c, void *arg) {
  nt *p = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  APIC_STI(c);
  APIC_WORK(c, p->interval);  /* let the targets boot */
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < p->rounds; APIC_L(c, 0)++) {
    if (!target_set(p, c)) continue;                    /* nobody else to interrupt */
    /* HalRequestIpi(mask) */
    APIC_CLI(c);                                        /* pushfd; cli */
    if (!p->no_stall) STALL_WHILE_APIC_BUSY(c, p);
    APIC_L(c, 3) = 0;
    note_icr_write(p, c);
    APIC_WRITE(c, APIC_REG_ICR_HI, target_set(p, c) << APIC_ICR_DEST_SHIFT);
    note_icr_write(p, c);
    for (uint32_t i = 0; i < p->ncpus && i < FLAT_MAX_CPUS; i++)  /* in the step that sends */
      p->sent[i] += target_set(p, c) >> i & 1u;
    APIC_WRITE(c, APIC_REG_ICR_LO,
               APIC_ICR_LO(p->vector, APIC_DM_FIXED, APIC_ICR_DESTMODE));
    if (!p->no_stall) STALL_WHILE_APIC_BUSY(c, p);
    APIC_STI(c);                                        /* popfd */
    APIC_WORK(c, p->interval);
  }
  p->senders_done++;
  for (;;) APIC_HLT(c);  /* stay available for interrupts */
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"targets", APIC_ARG_CPUS, 0, 0, NULL, NULL, 0,
   "processors in the KAFFINITY mask (cpus 0..7, flat mode); a sender leaves itself out"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0xe1", 0xE1, "vector (APIC_IPI_VECTOR = 0xe1)"},
  {"rounds", APIC_ARG_INT, 1, 1000000, NULL, "1", 1, "HalRequestIpi calls per sender"},
  {"interval", APIC_ARG_INT, 0, 100000000, NULL, "1000", 1000, "cycles between calls"},
  {"work", APIC_ARG_INT, 0, 100000000, NULL, "200", 200,
   "cycles KiIpiServiceRoutine works before the EOI"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_stall", "none", 0,
   "no_stall: no STALL_WHILE_APIC_BUSY, the ICR is written while busy"},
};

static void destroy(void *state) {
  nt *p = state;
  if (!p) return;
  apic__irr_count_free(&p->irr, p->s);
  free(p->sent);
  free(p->handled);
  free(p);
}

/* Checks the machine and the cpus against the flat model; 0 if they fit. */
static int flat_fits(apic_sim *s, const uint32_t *cpus, uint32_t n, const uint32_t *t,
                     uint32_t nt_, char *why, size_t why_size) {
  apic_lapic_state st;
  apic_lapic_state_get(s, cpus[0], &st);
  if (st.x2apic) {
    snprintf(why, why_size, "the HAL's flat logical mode does not exist in x2APIC mode "
             "(SDM 10.12.10: logical destinations are clustered); use an xAPIC machine");
    return APIC_E_ARG;
  }
  if (!nt_) {
    snprintf(why, why_size, "targets is empty: HalRequestIpi needs at least one processor");
    return APIC_E_ARG;
  }
  for (uint32_t i = 0; i < n + nt_; i++) {
    uint32_t cpu = i < n ? cpus[i] : t[i - n];
    if (cpu >= FLAT_MAX_CPUS) {
      snprintf(why, why_size, "flat logical mode gives processors 0..%u a logical ID "
               "(LDR = 1 << number); %s has cpu %u", FLAT_MAX_CPUS - 1,
               i < n ? "the program's cpus" : "targets", cpu);
      return APIC_E_ARG;
    }
  }
  return APIC_OK;
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  uint32_t nt_;
  const uint32_t *t = apic_args_cpus(a, "targets", &nt_);
  if (!n) { snprintf(why, why_size, "no cpus to send from"); return APIC_E_ARG; }
  int rc = flat_fits(s, cpus, n, t, nt_, why, why_size);
  if (rc) return rc;
  nt *p = calloc(1, sizeof *p);
  if (!p) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  p->s = s;
  p->ncpus = apic_sim_ncpus(s);
  p->vector = (uint8_t)apic_args_int(a, "vector");
  p->rounds = (uint32_t)apic_args_int(a, "rounds");
  p->interval = (uint32_t)apic_args_int(a, "interval");
  p->work = (uint32_t)apic_args_int(a, "work");
  p->no_stall = !strcmp(apic_args_str(a, "bug"), "no_stall");
  p->senders = n;
  p->sent = calloc(p->ncpus, sizeof *p->sent);
  p->handled = calloc(p->ncpus, sizeof *p->handled);
  rc = !p->sent || !p->handled ? APIC_E_NOMEM : APIC_OK;
  if (!rc) {
    for (uint32_t i = 0; i < nt_; i++) p->mask |= 1u << t[i];
    rc = apic__irr_count_init(&p->irr, s, p->vector);
  }
  /* HalpInitializeLocalUnit on every processor involved: flat, 1 << number */
  for (uint32_t i = 0; !rc && i < n + nt_; i++) {
    uint32_t cpu = i < n ? cpus[i] : t[i - n];
    apic_lapic_write(s, cpu, APIC_REG_DFR, APIC_DFR_FLAT);
    rc = apic_lapic_write(s, cpu, APIC_REG_LDR, (1u << cpu) << APIC_ICR_DEST_SHIFT);
  }
  for (uint32_t i = 0; !rc && i < nt_; i++)
    rc = apic_sim_set_handler(s, t[i], p->vector, ipi_interrupt, p);
  for (uint32_t i = 0; !rc && i < n; i++) rc = apic_sim_set_program(s, cpus[i], sender, p);
  if (rc) {
    rc = apic__prog_install_failed(s, rc, why, why_size);  /* before destroy: it resets errmsg */
    destroy(p);
    return rc;
  }
  *state = p;
  return APIC_OK;
}

/* Every IPI handled or coalesced, or still in flight on a target that may
   take it yet; and no ICR write while delivery was pending. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  nt *p = state;
  unsigned bad = p->busy_writes;
  if (bad)
    snprintf(msg, n, "%u IPIs written to the ICR while its delivery status was pending "
             "(first: cpu %u at cycle %llu): %s", p->busy_writes, p->busy_cpu,
             (unsigned long long)p->busy_cycle, p->stall_timeouts
             ? "a stall gave up waiting (p6: senders with interrupts off retry each other)"
             : "no stall while the APIC is busy");
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
    apic__prog_ipi_summary(total, flying, p->vector, ", no ICR write while busy",
                           p->senders_done == p->senders ? "" : " (senders not finished)",
                           msg, n);
  return bad;
}

const apic_prog_def apic__prog_nt_hal_request_ipi = {
  "nt_hal_request_ipi",
  "Windows HAL IPI: flat logical IDs, stall while the APIC is busy, write ICR high, ICR low",
  "Windows HAL (halmps/halmacpi mpipi.asm) HalInitializeProcessor, HalRequestIpi, "
  "STALL_WHILE_APIC_BUSY",
  args, sizeof args / sizeof args[0], install, check, destroy};
