/*
 * queue.c - binary min-heap of engine events, keyed by (t, ord).
 * Invariant: h[i] <= h[2i+1] and h[i] <= h[2i+2] for every i < n, and a
 * cached first entry (queue.h) is no greater than h[0].
 */
#include "queue.h"

static int less(const apic__qent *x, const apic__qent *y) {
  return x->t < y->t || (x->t == y->t && x->ord < y->ord);
}

static int heap_push(apic__queue *q, const apic__qent *e,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    apic__qent *h = grow(ud, q->h, cap * sizeof *h);
    if (!h) return -1;
    q->h = h;
    q->cap = cap;
  }
  size_t i = q->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!less(e, &q->h[p])) break;
    q->h[i] = q->h[p];
    i = p;
  }
  q->h[i] = *e;
  return 0;
}

int apic__queue_push(apic__queue *q, const apic__qent *e,
                     void *(*grow)(void *ud, void *p, size_t n), void *ud) {
  if (q->has_first && !less(e, &q->first)) return heap_push(q, e, grow, ud);
  if (q->has_first && heap_push(q, &q->first, grow, ud)) return -1;
  if (!q->has_first && q->n && less(&q->h[0], e)) return heap_push(q, e, grow, ud);
  q->first = *e;
  q->has_first = 1;
  return 0;
}

int apic__queue_pop(apic__queue *q, apic__qent *out) {
  if (q->has_first) {
    *out = q->first;
    q->has_first = 0;
    return 0;
  }
  if (q->n == 0) return -1;
  *out = q->h[0];
  apic__qent last = q->h[--q->n];
  size_t i = 0, n = q->n;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const apic__qent *best = &last;
    if (l < n && less(&q->h[l], best)) { m = l; best = &q->h[l]; }
    if (r < n && less(&q->h[r], best)) { m = r; }
    if (m == i) break;
    q->h[i] = q->h[m];
    i = m;
  }
  if (n) q->h[i] = last;
  return 0;
}
