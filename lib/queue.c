/*
 * queue.c - the engine's event queue: two binary min-heaps keyed by
 * (t, ord) behind a one-entry cache (queue.h says why two).
 * Heap invariant: h[i] <= h[2i+1] and h[i] <= h[2i+2] for every i < n.
 */
#include "queue.h"

static int heap_push(apic__heap *hp, const apic__qent *e,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud) {
  if (hp->n == hp->cap) {
    size_t cap = hp->cap ? hp->cap * 2 : 64;
    apic__qent *h = grow(ud, hp->h, cap * sizeof *h);
    if (!h) return -1;
    hp->h = h;
    hp->cap = cap;
  }
  size_t i = hp->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!apic__qless(e, &hp->h[p])) break;
    hp->h[i] = hp->h[p];
    i = p;
  }
  hp->h[i] = *e;
  return 0;
}

static void heap_pop(apic__heap *hp, apic__qent *out) {
  *out = hp->h[0];
  apic__qent last = hp->h[--hp->n];
  size_t i = 0, n = hp->n;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const apic__qent *best = &last;
    if (l < n && apic__qless(&hp->h[l], best)) { m = l; best = &hp->h[l]; }
    if (r < n && apic__qless(&hp->h[r], best)) { m = r; }
    if (m == i) break;
    hp->h[i] = hp->h[m];
    i = m;
  }
  if (n) hp->h[i] = last;
}

int apic__queue_push(apic__queue *q, const apic__qent *e, int far,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud) {
  apic__heap *dst = far ? &q->far : &q->near;
  if (q->has_first) {
    if (!apic__qless(e, &q->first)) return heap_push(dst, e, grow, ud);
    if (heap_push(q->first_far ? &q->far : &q->near, &q->first, grow, ud)) return -1;
  } else {
    const apic__qent *top = apic__queue_top(q);
    if (top && apic__qless(top, e)) return heap_push(dst, e, grow, ud);
  }
  q->first = *e;
  q->first_far = far;
  q->has_first = 1;
  return 0;
}

int apic__queue_pop(apic__queue *q, apic__qent *out) {
  if (q->has_first) {
    *out = q->first;
    q->has_first = 0;
    return 0;
  }
  const apic__qent *top = apic__queue_top(q);
  if (!top) return -1;
  heap_pop(top == &q->far.h[0] ? &q->far : &q->near, out);
  return 0;
}

void apic__queue_free(apic__queue *q, void *(*grow)(void *ud, void *p, size_t n), void *ud) {
  if (q->near.h) grow(ud, q->near.h, 0);
  if (q->far.h) grow(ud, q->far.h, 0);
  q->near.h = q->far.h = NULL;
  q->near.n = q->near.cap = q->far.n = q->far.cap = 0;
}
