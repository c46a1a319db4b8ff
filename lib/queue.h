/*
 * queue.h - the engine's event queue: a binary min-heap (private).
 *
 * Entries are ordered by (t, ord) where ord packs the tie-break rule of
 * docs/ENGINE.md: event kind, then core index, then a sequence number. Equal
 * inputs therefore always pop in the same order, whatever the heap's shape.
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

/*
 * A heap with a one-entry cache in front: most events schedule the next
 * event of the same core, which is usually the new minimum; it then waits
 * in `first` and never touches the heap. Invariant: if has_first, first is
 * no greater than every heap entry.
 */
typedef struct apic__queue {
  apic__qent *h;
  size_t n, cap;
  apic__qent first;
  int has_first;
} apic__queue;

#define APIC__ORD(kind, cpu, seq) \
  (((uint64_t)(kind) << 56) | ((uint64_t)((cpu) & 0xFFFFFFu) << 32) | ((seq) & 0xFFFFFFFFu))
#define APIC__ORD_KIND(o) ((uint32_t)((o) >> 56))
#define APIC__ORD_CPU(o)  ((uint32_t)(((o) >> 32) & 0xFFFFFFu))

/* Grows the heap with realloc-like fn; returns 0 or -1 on no memory. */
int apic__queue_push(apic__queue *q, const apic__qent *e,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud);
/* Removes the smallest entry into *out; returns 0, or -1 if empty. */
int apic__queue_pop(apic__queue *q, apic__qent *out);

static inline const apic__qent *apic__queue_top(const apic__queue *q) {
  return q->has_first ? &q->first : q->n ? &q->h[0] : NULL;
}

#endif
