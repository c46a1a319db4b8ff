/* test_queue.c - the event queue pops in (cycle, kind, core, sequence) order
   (docs/ENGINE.md), whatever order entries were pushed in. */
#include <stdlib.h>
#include "testutil.h"
#include "../lib/queue.h"

static void *grow(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n); }

START_TEST(pops_in_total_order) {
  apic__queue q = {0};
  uint64_t x = 12345;
  for (uint32_t i = 0; i < 5000; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    apic__qent e = {(x >> 33) % 200, APIC__ORD((x >> 20) % 6, (x >> 8) % 64, i), i, 0};
    ck_assert_int_eq(apic__queue_push(&q, &e, grow, NULL), 0);
  }
  apic__qent prev = {0, 0, 0, 0}, e;
  size_t n = 0;
  while (apic__queue_pop(&q, &e) == 0) {
    ck_assert(e.t > prev.t || (e.t == prev.t && e.ord > prev.ord) || n == 0);
    prev = e;
    n++;
  }
  ck_assert_uint_eq(n, 5000);
  free(q.h);
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
  tcase_add_test(tc, ord_packs_kind_before_cpu_before_seq);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
