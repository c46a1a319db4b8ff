/*
 * progs.h - the built-in guest programs (private), and helpers they share.
 *
 * Each lib/prog_*.c defines one apic_prog_def. Programs keep their shared
 * memory in one allocation per instance, write it through apic_cpu_store /
 * atomics (so spinning cores wake, docs/ENGINE.md), and record what their
 * correctness check needs.
 */
#ifndef APICSIM_PROGS_H
#define APICSIM_PROGS_H

#include <stdio.h>
#include "apicsim/guest.h"
#include "apicsim/programs.h"

extern const apic_prog_def apic__prog_idle;
extern const apic_prog_def apic__prog_linux_send_ipi_mask;
extern const apic_prog_def apic__prog_linux_send_ipi_allbutself;
extern const apic_prog_def apic__prog_nt_hal_request_ipi;
extern const apic_prog_def apic__prog_debugger_freeze;
extern const apic_prog_def apic__prog_device_irq;
extern const apic_prog_def apic__prog_timer_tick;
extern const apic_prog_def apic__prog_mailbox_call_function;
extern const apic_prog_def apic__prog_tlb_shootdown_scoreboard;
extern const apic_prog_def apic__prog_ipi_generic_call_barrier;

/* While a scenario installs its programs[tag - 1] (tag 0: done), a handler
   it sets on a vector another program already handles on that core is
   refused (apic_sim_set_handler fails with APIC_E_STATE). */
void apic__sim_install_tag(apic_sim *s, uint32_t tag);

/* Starts the idle loop on a core (used for cores a scenario leaves free). */
int apic__prog_start_idle(apic_sim *s, uint32_t cpu);

/* Counts deliveries a program cares about: per (target core, vector), how
   many messages were set in IRR, merged into a pending bit, or dropped by
   the receiver. Installed as a hook, so that a check can tell "handled" and
   "coalesced" from "still on its way" and "lost". */
typedef struct apic__irr_count {
  uint32_t ncpus;
  uint8_t vector;
  uint32_t *set, *coalesced, *dropped;   /* ncpus entries each */
} apic__irr_count;
int apic__irr_count_init(apic__irr_count *c, apic_sim *s, uint8_t vector);
void apic__irr_count_free(apic__irr_count *c, apic_sim *s);

/* Is a message of vector still in the interconnect: a fixed or lowest-
   priority interrupt not yet at every receiver, or an EOI on its way to
   the I/O APICs? */
int apic__prog_msg_in_flight(const apic_sim *s, uint8_t vector);

/* Where vector stands on cpu. */
enum {
  APIC__VEC_IDLE,   /* not pending, not in service, no handler for it running */
  APIC__VEC_LIVE,   /* pending in IRR, or accepted and its handler not returned yet
                       (from IRR->ISR to the IRET): the handler may run (again) */
  APIC__VEC_STUCK   /* in ISR with no handler for it on the core: its EOI never
                       came, PPR keeps its class, and what waits in IRR behind it
                       is never taken */
};
int apic__prog_vector_state(apic_sim *s, uint32_t cpu, uint8_t vector);

/* Will cpu never run its handler for c->vector again? The vector idle or
   stuck there, and nothing still on the way: every IPI sent to it (sent)
   set in IRR, coalesced or dropped, or no message of the vector left in
   the interconnect (one that matched no APIC). A program counts an IPI as
   sent in the step that writes the ICR, so that no check sees one without
   the other. */
int apic__prog_quiescent(apic_sim *s, const apic__irr_count *c, uint32_t cpu, uint32_t sent);

/* Of the IPIs sent to cpu, those that neither ran the handler (handled)
   nor merged into a pending one: lost if dropped, else in flight while cpu
   is not quiescent (on their way, pending in IRR, in service, their
   handler running), lost once it is. Returns how many are in flight. */
uint32_t apic__prog_in_flight(apic_sim *s, const apic__irr_count *c, uint32_t cpu,
                              uint32_t sent, uint32_t handled);

/* The messages of a check that counts IPIs per target (linux, nt): the
   first core whose IPIs do not add up, and why; or the totals, what else
   held (also, e.g. ", no ICR write while busy") and a note (tail). */
void apic__prog_ipi_violation(apic_sim *s, const apic__irr_count *c, uint32_t cpu,
                              uint32_t sent, uint32_t handled, uint32_t in_flight, char *msg,
                              size_t n);
void apic__prog_ipi_summary(uint64_t total, uint64_t in_flight, uint8_t vector,
                            const char *also, const char *tail, char *msg, size_t n);

/* The tail of every install that failed: the reason into why, the code back. */
int apic__prog_install_failed(apic_sim *s, int rc, char *why, size_t why_size);

/* The guest side of enabling the local APIC: SVR = enable | spurious 0xFF. */
#define APIC__PROG_SVR (APIC_SVR_ENABLE | 0xFFu)

#endif
