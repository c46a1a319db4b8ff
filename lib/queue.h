/*
 * queue.h - the engine's event queue (private).
 *
 * Entries are ordered by (t, ord) where ord packs the tie-break rule of
 * docs/ENGINE.md: event kind, then core index, then a sequence number. Equal
 * inputs therefore always pop in the same order, whatever the heaps' shapes.
 * Stale entries (a rescheduled step or timer) are not removed; they carry a
 * generation number and are skipped when popped.
 */
#ifndef APICSIM_QUEUE_H
#define APICSIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct apic__qent {
  uint64_t t;
  uint64_t ord;   /* kind << 56 | cpu << 32 | seq (low 32 bits) */
  uint32_t a, b;
} apic__qent;

typedef struct apic__heap {
  apic__qent *h;
  size_t n, cap;
} apic__heap;

/*
 * Two binary min-heaps with a one-entry cache in front.
 *
 * `near` holds short-lived events (steps, messages); `far` holds the
 * long-lived ones there is one of per core or pin (timers, scheduled pin
 * changes). A machine with thousands of armed timers keeps a deep far heap,
 * but its steps and messages only pay for the few other short-lived events:
 * the cost of an event does not depend on how many timers wait behind it.
 *
 * Most events schedule the next event of the same core, which is usually
 * the new minimum; it then waits in `first` and touches no heap.
 * Invariant: if has_first, first is no greater than every heap entry.
 */
typedef struct apic__queue {
  apic__heap near, far;
  apic__qent first;
  int first_far;  /* which heap first goes back to if displaced */
  int has_first;
} apic__queue;

#define APIC__ORD(kind, cpu, seq) \
  (((uint64_t)(kind) << 56) | ((uint64_t)((cpu) & 0xFFFFFFu) << 32) | ((seq) & 0xFFFFFFFFu))
#define APIC__ORD_KIND(o) ((uint32_t)((o) >> 56))
#define APIC__ORD_CPU(o)  ((uint32_t)(((o) >> 32) & 0xFFFFFFu))

static inline int apic__qless(const apic__qent *x, const apic__qent *y) {
  return x->t < y->t || (x->t == y->t && x->ord < y->ord);
}

/* Adds e (to the far heap if far); grows a heap with realloc-like fn;
   returns 0 or -1 on no memory. */
int apic__queue_push(apic__queue *q, const apic__qent *e, int far,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud);
/* Removes the smallest entry into *out; returns 0, or -1 if empty. */
int apic__queue_pop(apic__queue *q, apic__qent *out);
/* Frees both heaps with the same realloc-like fn. */
void apic__queue_free(apic__queue *q, void *(*grow)(void *ud, void *p, size_t n), void *ud);

static inline const apic__qent *apic__queue_top(const apic__queue *q) {
  if (q->has_first) return &q->first;
  const apic__qent *a = q->near.n ? &q->near.h[0] : NULL;
  const apic__qent *b = q->far.n ? &q->far.h[0] : NULL;
  if (!a) return b;
  return b && apic__qless(b, a) ? b : a;
}

#endif
