/*
 * queue.c - the engine's event queue: a small sorted array of the next
 * near events, and lanes (each a sorted FIFO plus a binary min-heap) for
 * the rest, keyed by (t, ord) (queue.h says why). The fast paths are
 * inline in queue.h.
 */
#include <string.h>
#include "queue.h"

static inline int heap_push(apic__lane *l, const apic__qent *e, apic__grow_fn grow, void *ud) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    apic__qent *h = grow(ud, l->h, cap * sizeof *h);
    if (!h) return -1;
    l->h = h;
    l->cap = cap;
  }
  size_t i = l->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!apic__qless(e, &l->h[p])) break;
    l->h[i] = l->h[p];
    i = p;
  }
  l->h[i] = *e;
  return 0;
}

static inline void heap_pop(apic__lane *l) {
  apic__qent last = l->h[--l->n];
  size_t i = 0, n = l->n;
  for (;;) {
    size_t c = 2 * i + 1, m = i;
    const apic__qent *best = &last;
    if (c < n && apic__qless(&l->h[c], best)) { m = c; best = &l->h[c]; }
    if (c + 1 < n && apic__qless(&l->h[c + 1], best)) m = c + 1;
    if (m == i) break;
    l->h[i] = l->h[m];
    i = m;
  }
  if (n) l->h[i] = last;
}

static inline int fifo_push(apic__lane *l, const apic__qent *e, apic__grow_fn grow, void *ud) {
  if (l->fn == l->fcap) {
    size_t cap = l->fcap ? l->fcap * 2 : 64;
    apic__qent *v = grow(ud, l->fifo, cap * sizeof *v);
    if (!v) return -1;
    /* unwrap: the entries that wrapped to the front move after the old end */
    size_t wrapped = l->fhead + l->fn > l->fcap ? l->fhead + l->fn - l->fcap : 0;
    memcpy(v + l->fcap, v, wrapped * sizeof *v);
    l->fifo = v;
    l->fcap = cap;
  }
  l->fifo[(l->fhead + l->fn++) & (l->fcap - 1)] = *e;
  return 0;
}

/* e comes after the FIFO's last entry (or the FIFO is empty). */
static inline int fifo_takes(const apic__lane *l, const apic__qent *e) {
  return l->fn == 0 || !apic__qless(e, &l->fifo[(l->fhead + l->fn - 1) & (l->fcap - 1)]);
}

int apic__queue_push_far(apic__queue *q, const apic__qent *e, apic__grow_fn grow, void *ud) {
  int rc = apic__lane_push(&q->far, e, grow, ud);
  q->ftop = apic__lane_top(&q->far);  /* e, or the old least, which may have moved */
  return rc;
}

void apic__queue_pop_far(apic__queue *q) {
  apic__lane_pop(&q->far);
  q->ftop = apic__lane_top(&q->far);
}

static int push_behind(apic__queue *q, const apic__qent *e, apic__grow_fn grow, void *ud) {
  if (apic__lane_push(&q->over, e, grow, ud)) return -1;
  q->room = 0;
  return 0;
}

int apic__queue_push_over(apic__queue *q, const apic__qent *e, apic__grow_fn grow, void *ud) {
  if (q->nn == APIC__QNEAR) {
    /* full: e goes behind, or the array's greatest does to make room */
    if (!apic__qless(e, &q->near[0])) return push_behind(q, e, grow, ud);
    if (push_behind(q, &q->near[0], grow, ud)) return -1;
    memmove(q->near, q->near + 1, --q->nn * sizeof q->near[0]);
  } else if (!q->room && apic__qless(apic__lane_top(&q->over), e)) {
    return push_behind(q, e, grow, ud);
  }
  apic__queue_insert(q, e);
  return 0;
}

/* The array is empty: it takes the least entries of `over`, which come
   out least first and go in greatest first. */
void apic__queue_refill(apic__queue *q) {
  const apic__qent *e;
  uint32_t n = 0;
  while (n < APIC__QNEAR && (e = apic__lane_top(&q->over)) != NULL) {
    q->near[APIC__QNEAR - 1 - n++] = *e;
    apic__lane_pop(&q->over);
  }
  memmove(q->near, q->near + APIC__QNEAR - n, n * sizeof q->near[0]);
  q->nn = n;
  if (apic__lane_empty(&q->over)) q->room = APIC__QNEAR;
}

int apic__lane_push(apic__lane *l, const apic__qent *e, apic__grow_fn grow, void *ud) {
  return fifo_takes(l, e) ? fifo_push(l, e, grow, ud) : heap_push(l, e, grow, ud);
}

void apic__lane_pop(apic__lane *l) {
  if (l->n && (!l->fn || apic__qless(&l->h[0], &l->fifo[l->fhead]))) {
    heap_pop(l);
  } else if (l->fn) {
    l->fhead = (l->fhead + 1) & (l->fcap - 1);
    l->fn--;
  }
}

void apic__lane_free(apic__lane *l, apic__grow_fn grow, void *ud) {
  if (l->h) grow(ud, l->h, 0);
  if (l->fifo) grow(ud, l->fifo, 0);
  memset(l, 0, sizeof *l);
}

void apic__queue_init(apic__queue *q) {
  memset(q, 0, sizeof *q);
  q->room = APIC__QNEAR;
}

void apic__queue_free(apic__queue *q, apic__grow_fn grow, void *ud) {
  apic__lane_free(&q->over, grow, ud);
  apic__lane_free(&q->far, grow, ud);
  apic__queue_init(q);
}
