/*
 * queue.c - the engine's event queue: a one-entry cache in front of two
 * lanes, each a sorted FIFO plus a binary min-heap, keyed by (t, ord)
 * (queue.h says why). The fast paths are inline in queue.h.
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

static void set_lmin(apic__queue *q, apic__lane *l, int heap) {
  q->lmin = heap ? &l->h[0] : &l->fifo[l->fhead];
  q->lmin_lane = l;
  q->lmin_heap = heap;
}

/* Finds the least head of the four sources. */
static void find_lmin(apic__queue *q) {
  apic__lane *lanes[2] = {&q->near, &q->far};
  q->lmin = NULL;
  for (int i = 0; i < 2; i++) {
    apic__lane *l = lanes[i];
    if (l->fn && (!q->lmin || apic__qless(&l->fifo[l->fhead], q->lmin))) set_lmin(q, l, 0);
    if (l->n && (!q->lmin || apic__qless(&l->h[0], q->lmin))) set_lmin(q, l, 1);
  }
}

static inline int lane_push(apic__queue *q, const apic__qent *e, int far,
                     apic__grow_fn grow, void *ud) {
  apic__lane *l = far ? &q->far : &q->near;
  int to_fifo = fifo_takes(l, e);
  int smaller = !q->lmin || apic__qless(e, q->lmin);
  const apic__qent *fifo = l->fifo, *h = l->h;
  if (to_fifo ? fifo_push(l, e, grow, ud) : heap_push(l, e, grow, ud)) return -1;
  /* A smaller entry is now the head of where it went. Otherwise the heads
     are unchanged, but a grown array may have moved the one lmin points to. */
  if (smaller) set_lmin(q, l, !to_fifo);
  else if (l->fifo != fifo || l->h != h) set_lmin(q, q->lmin_lane, q->lmin_heap);
  return 0;
}

int apic__queue_push_lane(apic__queue *q, const apic__qent *e, int far,
                          apic__grow_fn grow, void *ud) {
  if (!q->has_first || !apic__qless(e, &q->first)) return lane_push(q, e, far, grow, ud);
  /* e is the new minimum: first makes way for it */
  if (lane_push(q, &q->first, q->first_far, grow, ud)) return -1;
  q->first = *e;
  q->first_far = far;
  return 0;
}

int apic__queue_pop_lane(apic__queue *q, apic__qent *out) {
  if (!q->lmin) return -1;
  *out = *q->lmin;
  apic__lane *l = q->lmin_lane;
  if (q->lmin_heap) {
    heap_pop(l);
  } else {
    l->fhead = (l->fhead + 1) & (l->fcap - 1);
    l->fn--;
  }
  find_lmin(q);
  return 0;
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

void apic__queue_free(apic__queue *q, apic__grow_fn grow, void *ud) {
  apic__lane_free(&q->near, grow, ud);
  apic__lane_free(&q->far, grow, ud);
  q->has_first = 0;
  q->lmin = NULL;
}
