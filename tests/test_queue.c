/* test_queue.c - the event queue pops in (cycle, kind, core, sequence) order
   (docs/ENGINE.md), whatever order entries were pushed in. */
#include <stdlib.h>
#include "testutil.h"
#include "../lib/queue.h"

static void *grow(void *ud, void *p, size_t n) {
  (void)ud;
  if (n == 0) { free(p); return NULL; }
  return realloc(p, n);
}

START_TEST(pops_in_total_order) {
  apic__queue q;
  apic__queue_init(&q);
  uint64_t x = 12345;
  for (uint32_t i = 0; i < 5000; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    apic__qent e = {(x >> 33) % 200, APIC__ORD((x >> 20) % 6, (x >> 8) % 64, i), i, 0};
    ck_assert_int_eq(apic__queue_push(&q, &e, (int)(i % 3 == 0), grow, NULL), 0);
  }
  apic__qent prev = {0, 0, 0, 0}, e;
  size_t n = 0;
  while (apic__queue_pop(&q, &e) == 0) {
    ck_assert(e.t > prev.t || (e.t == prev.t && e.ord > prev.ord) || n == 0);
    prev = e;
    n++;
  }
  ck_assert_uint_eq(n, 5000);
  apic__queue_free(&q, grow, NULL);
}
END_TEST

/* Pushes and pops interleaved, as the engine does, into every part of the
   queue: each pop returns the least entry still queued (checked against a
   plain scan). Loop 0: near events soon, at random (mostly the heap);
   loop 1: near events in increasing order (the FIFO, which wraps and
   grows); loop 2: near events up to 40000 cycles ahead; loop 3: bursts of
   24 pushes then 24 pops, near events only, so entries keep crossing
   between the array of the next 16 and the `over` lane behind it. Far
   events (timers) come 1000-6000 cycles ahead. */
START_TEST(interleaved_matches_scan) {
  enum { N = 4000 };
  int spilled = 0, refilled = 0;
  static apic__qent ref[N];
  size_t nref = 0;
  apic__queue q;
  apic__queue_init(&q);
  uint64_t x = 99, now = 0;
  for (uint32_t i = 0; i < 3 * N; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int push = _i == 3 ? (i / 24) % 2 == 0 : nref < N && ((x >> 40) % 3 != 0 || nref == 0);
    if (push || nref == 0) {
      int far = _i != 3 && ((x >> 13) & 1);
      uint64_t r = x >> 30;
      uint64_t t = far ? now + 1000 + r % 5000
                 : _i == 0 || _i == 3 ? now + r % 50 : _i == 1 ? now + i / 4 : now + r % 40000;
      apic__qent e = {t, APIC__ORD((x >> 20) % 6, (x >> 8) % 64, i), i, 0};
      ck_assert_int_eq(apic__queue_push(&q, &e, far, grow, NULL), 0);
      ref[nref++] = e;
      spilled |= !apic__lane_empty(&q.over);
    } else {
      size_t m = 0;
      for (size_t k = 1; k < nref; k++)
        if (apic__qless(&ref[k], &ref[m])) m = k;
      apic__qent e;
      ck_assert_ptr_nonnull(apic__queue_top(&q));
      ck_assert_uint_eq(apic__queue_top(&q)->ord, ref[m].ord);
      int last = q.nn == 1 && apic__queue_top(&q) == &q.near[0];
      ck_assert_int_eq(apic__queue_pop(&q, &e), 0);
      refilled |= last && q.nn > 0;
      ck_assert_uint_eq(e.t, ref[m].t);
      ck_assert_uint_eq(e.ord, ref[m].ord);
      now = e.t;
      ref[m] = ref[--nref];
    }
  }
  if (_i == 1) ck_assert_uint_gt(q.over.fcap, 64);  /* the FIFO grew while wrapped */
  if (_i == 3) ck_assert(spilled && refilled);
  while (nref) {
    size_t m = 0;
    for (size_t k = 1; k < nref; k++)
      if (apic__qless(&ref[k], &ref[m])) m = k;
    apic__qent e;
    ck_assert_int_eq(apic__queue_pop(&q, &e), 0);
    ck_assert_uint_eq(e.ord, ref[m].ord);
    ref[m] = ref[--nref];
  }
  apic__qent e;
  ck_assert_int_eq(apic__queue_pop(&q, &e), -1);
  ck_assert_ptr_null(apic__queue_top(&q));
  apic__queue_free(&q, grow, NULL);
}
END_TEST

START_TEST(ord_packs_kind_before_cpu_before_seq) {
  ck_assert(APIC__ORD(0, 100, 5) < APIC__ORD(1, 0, 0));
  ck_assert(APIC__ORD(2, 3, 9) < APIC__ORD(2, 4, 0));
  ck_assert_uint_eq(APIC__ORD_KIND(APIC__ORD(5, 77, 1)), 5);
  ck_assert_uint_eq(APIC__ORD_CPU(APIC__ORD(5, 77, 1)), 77);
}
END_TEST

int main(void) {
  Suite *s = suite_create("queue");
  TCase *tc = tcase_create("heap");
  tcase_add_test(tc, pops_in_total_order);
  tcase_add_loop_test(tc, interleaved_matches_scan, 0, 4);
  tcase_add_test(tc, ord_packs_kind_before_cpu_before_seq);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
