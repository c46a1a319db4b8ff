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
 * The queue: short-lived events (steps, messages) are `near`, long-lived
 * ones there is one of per core or pin (timers, scheduled pin changes) go
 * to the `far` lane, so a machine with thousands of armed timers never
 * sifts steps past them.
 *
 * The near events that come first sit in a small array sorted greatest
 * first, near[0..nn): a machine has only a few cores in flight at once,
 * inserting among a handful of entries costs less than any heap, and the
 * usual new entry - the next step of the core just stepped - is the new
 * least, which goes at the end. The rest wait in the `over` lane.
 * Invariants: every array entry is less than every `over` entry, and the
 * array is empty only if `over` is (a pop that empties it refills it).
 */
#define APIC__QNEAR 16

typedef struct apic__queue {
  apic__qent near[APIC__QNEAR];
  uint32_t nn;
  uint32_t room;             /* APIC__QNEAR while `over` is empty, else 0 */
  const apic__qent *ftop;    /* the far lane's least entry, or NULL */
  apic__lane over, far;
} apic__queue;

#define APIC__ORD(kind, cpu, seq) \
  (((uint64_t)(kind) << 56) | ((uint64_t)((cpu) & 0xFFFFFFu) << 32) | ((seq) & 0xFFFFFFFFu))
#define APIC__ORD_KIND(o) ((uint32_t)((o) >> 56))
#define APIC__ORD_CPU(o)  ((uint32_t)(((o) >> 32) & 0xFFFFFFu))

typedef void *(*apic__grow_fn)(void *ud, void *p, size_t n);

static inline int apic__qless(const apic__qent *x, const apic__qent *y) {
  return x->t < y->t || (x->t == y->t && x->ord < y->ord);
}

/* An empty queue. */
void apic__queue_init(apic__queue *q);

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

/* The smallest entry, or NULL. */
static inline const apic__qent *apic__queue_top(const apic__queue *q) {
  const apic__qent *f = q->ftop;
  if (q->nn && (!f || apic__qless(&q->near[q->nn - 1], f))) return &q->near[q->nn - 1];
  return f;
}

/* The slow paths (queue.c). */
int apic__queue_push_far(apic__queue *q, const apic__qent *e, apic__grow_fn grow, void *ud);
void apic__queue_pop_far(apic__queue *q);
int apic__queue_push_over(apic__queue *q, const apic__qent *e, apic__grow_fn grow, void *ud);
void apic__queue_refill(apic__queue *q);

/* Puts e in the array, which has room, in order; e is seldom more than
   one or two places from the end. */
static inline void apic__queue_insert(apic__queue *q, const apic__qent *e) {
  uint32_t i = q->nn++;
  while (i > 0 && apic__qless(&q->near[i - 1], e)) {
    q->near[i] = q->near[i - 1];
    i--;
  }
  q->near[i] = *e;
}

/* Adds e (to the far lane if far); grows with realloc-like fn; returns 0,
   or -1 on no memory. */
static inline int apic__queue_push(apic__queue *q, const apic__qent *e, int far,
                                   apic__grow_fn grow, void *ud) {
  if (far) return apic__queue_push_far(q, e, grow, ud);
  if (q->nn < q->room) {  /* the usual case: a few entries, nothing in `over` */
    apic__queue_insert(q, e);
    return 0;
  }
  return apic__queue_push_over(q, e, grow, ud);
}

/* Removes top, which apic__queue_top has just returned. */
static inline void apic__queue_remove(apic__queue *q, const apic__qent *top) {
  if (top == q->ftop) apic__queue_pop_far(q);
  else if (--q->nn == 0 && !q->room) apic__queue_refill(q);
}

/* Removes the smallest entry into *out; returns 0, or -1 if empty. */
static inline int apic__queue_pop(apic__queue *q, apic__qent *out) {
  const apic__qent *top = apic__queue_top(q);
  if (!top) return -1;
  *out = *top;
  apic__queue_remove(q, top);
  return 0;
}

#endif
