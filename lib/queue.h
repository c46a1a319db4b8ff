/*
 * queue.h - the engine's event queue (private).
 *
 * Entries are ordered by (t, ord) where ord packs the tie-break rule of
 * docs/ENGINE.md: event kind, then core index, then a sequence number. Keys
 * are unique, so equal inputs always pop in the same order, whatever shape
 * the structures below have. Stale entries (a rescheduled step or timer)
 * are not removed; they carry a generation number and are skipped when
 * popped.
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
 * A lane: a FIFO of entries pushed in increasing order, and a binary
 * min-heap for the rest. Events mostly arrive in order - a broadcast
 * waking a thousand cores one after the other, periodic timers re-armed in
 * the order they fired - and those cost O(1) in the FIFO; only
 * out-of-order ones pay log(n) in the heap.
 * Invariants: the FIFO is sorted; h[i] <= h[2i+1], h[2i+2].
 */
typedef struct apic__lane {
  apic__qent *fifo;   /* ring of fcap entries (a power of two) */
  size_t fhead, fn, fcap;
  apic__qent *h;
  size_t n, cap;
} apic__lane;

/*
 * Two lanes: `near` for short-lived events (steps, messages), `far` for
 * the long-lived ones there is one of per core or pin (timers, scheduled
 * pin changes). A machine with thousands of armed timers keeps them in the
 * far lane, so steps and messages never sift past them.
 *
 * In front, a one-entry cache: an event that is the new minimum - usually
 * the next step of the core just stepped - waits in `first` and is popped
 * without touching either lane. Invariant: if has_first, first is no
 * greater than every entry of the lanes.
 */
typedef struct apic__queue {
  apic__qent first;
  int has_first;
  int first_far;   /* the lane first goes to if a smaller entry displaces it */
  const apic__qent *lmin;  /* the lanes' least entry, NULL if they are empty */
  apic__lane *lmin_lane;   /* ...its lane */
  int lmin_heap;           /* ...1: the heap's root, 0: the FIFO's head */
  apic__lane near, far;
} apic__queue;

#define APIC__ORD(kind, cpu, seq) \
  (((uint64_t)(kind) << 56) | ((uint64_t)((cpu) & 0xFFFFFFu) << 32) | ((seq) & 0xFFFFFFFFu))
#define APIC__ORD_KIND(o) ((uint32_t)((o) >> 56))
#define APIC__ORD_CPU(o)  ((uint32_t)(((o) >> 32) & 0xFFFFFFu))

typedef void *(*apic__grow_fn)(void *ud, void *p, size_t n);

static inline int apic__qless(const apic__qent *x, const apic__qent *y) {
  return x->t < y->t || (x->t == y->t && x->ord < y->ord);
}

/* The smallest entry, or NULL. */
static inline const apic__qent *apic__queue_top(const apic__queue *q) {
  return q->has_first ? &q->first : q->lmin;
}

/* The slow paths of the two below (queue.c). */
int apic__queue_push_lane(apic__queue *q, const apic__qent *e, int far,
                          apic__grow_fn grow, void *ud);
int apic__queue_pop_lane(apic__queue *q, apic__qent *out);

/* Adds e (to the far lane if far, unless it is the new minimum); grows
   with realloc-like fn; returns 0, or -1 on no memory. */
static inline int apic__queue_push(apic__queue *q, const apic__qent *e, int far,
                                   apic__grow_fn grow, void *ud) {
  if (q->has_first || (q->lmin && !apic__qless(e, q->lmin)))
    return apic__queue_push_lane(q, e, far, grow, ud);
  q->first = *e;
  q->first_far = far;
  q->has_first = 1;
  return 0;
}

/* Removes the smallest entry into *out; returns 0, or -1 if empty. */
static inline int apic__queue_pop(apic__queue *q, apic__qent *out) {
  if (!q->has_first) return apic__queue_pop_lane(q, out);
  *out = q->first;
  q->has_first = 0;
  return 0;
}

/* Frees the queue's arrays with the same realloc-like fn. */
void apic__queue_free(apic__queue *q, apic__grow_fn grow, void *ud);

/* A lane on its own, for a list that is merged with the queue by hand. */
int apic__lane_push(apic__lane *l, const apic__qent *e, apic__grow_fn grow, void *ud);
void apic__lane_pop(apic__lane *l);  /* removes apic__lane_top */
void apic__lane_free(apic__lane *l, apic__grow_fn grow, void *ud);

static inline int apic__lane_empty(const apic__lane *l) { return !(l->fn | l->n); }

/* The lane's least entry, or NULL. */
static inline const apic__qent *apic__lane_top(const apic__lane *l) {
  const apic__qent *f = l->fn ? &l->fifo[l->fhead] : NULL;
  if (!l->n) return f;
  return f && !apic__qless(&l->h[0], f) ? f : &l->h[0];
}

#endif
