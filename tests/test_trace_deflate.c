/* test_trace_deflate.c - the trace writer's deflate encoder (lib/trace_fmt.c,
   apic__zdef): every stream it makes inflates with zlib to its input, for
   inputs that push each part (matches at the window's edge, long runs,
   incompressible bytes in stored blocks, skewed symbol counts that need
   length-limited codes, bytes of 0xFF that fill the Adler-32 sum's lanes
   the most), within apic__zdef_bound, and the same input gives the same
   bytes whatever was compressed before, even once the state's positions
   have wrapped around. And the varints every record is made of. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "testutil.h"
#include "../lib/deflate.h"
#include "../lib/trace_fmt.h"

#define BIG (1u << 20)   /* spans blocks, stored-block pieces and the window */

static uint64_t next(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}

/* FORMAT.md "Varints": 7 bits a byte, low first, the high bit set on all
   but the last; every value from 0 to UINT64_MAX takes ceil(bits / 7)
   bytes (1 for 0), here at each length's edges, and reads back. */
START_TEST(varints_take_their_length_and_read_back) {
  for (unsigned bits = 0; bits <= 64; bits++) {
    uint64_t top = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    const uint64_t vals[] = {top, (top >> 1) + 1, top & 0x5555555555555555ull};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
      uint64_t v = vals[k] & top;
      unsigned need = 1;
      for (uint64_t x = v >> 7; x; x >>= 7) need++;
      uint8_t buf[16];
      uint8_t *end = apic__put_uv(buf, v);
      ck_assert_uint_eq((size_t)(end - buf), need);
      for (unsigned b = 0; b + 1 < need; b++) ck_assert(buf[b] & 0x80);
      ck_assert(!(buf[need - 1] & 0x80));
      apic__rd r = {buf, (size_t)(end - buf), 0, 0};
      ck_assert_uint_eq(apic__rd_uv(&r), v);
      ck_assert_int_eq(r.bad, 0);
      ck_assert_uint_eq(r.pos, need);
    }
  }
}
END_TEST

/* Compresses src into a buffer of exactly the bound (the sanitizer build
   catches a write past it), inflates it back, and returns the size. */
static size_t round_trip(apic__zdef *z, const uint8_t *src, size_t n, const char *what) {
  size_t bound = apic__zdef_bound(n);
  uint8_t *out = malloc(bound), *back = malloc(n + 1);
  ck_assert(out && back);
  size_t zn = apic__zdef_compress(z, out, src, n);
  ck_assert_msg(zn <= bound, "%s: %zu bytes, bound %zu", what, zn, bound);
  uLongf dn = (uLongf)n + 1;
  int rc = uncompress(back, &dn, out, (uLong)zn);
  ck_assert_msg(rc == Z_OK, "%s (%zu bytes): inflate says %d", what, n, rc);
  ck_assert_msg(dn == n && memcmp(back, src, n) == 0, "%s (%zu bytes): inflates to other bytes",
                what, n);
  free(out);
  free(back);
  return zn;
}

START_TEST(every_stream_inflates_to_its_input) {
  apic__zdef *z = apic__zdef_new();
  uint8_t *b = malloc(BIG);
  ck_assert(z && b);
  uint64_t x = 7;
  round_trip(z, b, 0, "empty");
  for (size_t n = 1; n < 300; n++) {  /* shorter than a match, then a few */
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(next(&x) % 3);
    round_trip(z, b, n, "small");
  }
  for (size_t i = 0; i < BIG; i++) b[i] = (uint8_t)next(&x);
  size_t zn = round_trip(z, b, BIG, "random bytes");
  ck_assert_uint_le(zn, BIG + BIG / 1000);  /* stored, not expanded by codes */
  memset(b, 0xAB, BIG);
  ck_assert_uint_lt(round_trip(z, b, BIG, "one byte repeated"), BIG / 100);
  memset(b, 0xFF, BIG);
  round_trip(z, b, BIG, "0xFF repeated");  /* inflate checks the Adler-32 */
  for (size_t n = 1; n < 1000; n += 7) round_trip(z, b, n, "0xFF, short");
  for (size_t i = 0; i < BIG; i++) b[i] = (uint8_t)(i % 251);
  round_trip(z, b, BIG, "period 251");
  /* a random 32 KiB block repeated: its copy lies just at deflate's
     farthest distance, 32768 */
  for (size_t i = 0; i < BIG; i++) b[i] = i < 32768 ? (uint8_t)next(&x) : b[i - 32768];
  round_trip(z, b, BIG, "period 32768");
  for (size_t i = 0; i < BIG; i++) b[i] = i < 32767 ? (uint8_t)next(&x) : b[i - 32767];
  ck_assert_uint_lt(round_trip(z, b, BIG, "period 32767"), BIG / 4);
  /* runs of Fibonacci lengths: long matches that overlap themselves */
  uint32_t f0 = 1, f1 = 1;
  for (size_t i = 0; i < BIG;) {
    for (size_t k = 0; k < f0 % 5000 + 1 && i < BIG; k++) b[i++] = (uint8_t)f0;
    uint32_t f2 = f0 + f1;
    f0 = f1;
    f1 = f2;
  }
  round_trip(z, b, BIG, "fibonacci runs");
  /* byte v with probability 2^-(v+1): skewed codes */
  for (size_t i = 0; i < BIG; i++) {
    uint64_t r = next(&x) | next(&x) << 31;
    b[i] = (uint8_t)__builtin_ctzll(~r);
  }
  round_trip(z, b, BIG, "geometric bytes");
  /* copies from random distances and lengths, with random bytes between */
  for (int t = 0; t < 40; t++) {
    size_t n = next(&x) % 200000;
    for (size_t i = 0; i < n; i++)
      b[i] = i > 300 && next(&x) % 8 ? b[i - 1 - next(&x) % 300] : (uint8_t)next(&x);
    round_trip(z, b, n, "mixed");
  }
  free(b);
  apic__zdef_free(z);
}
END_TEST

/* Two compressors, an input and their two outputs: frees them all. */
static void free_pair(apic__zdef *z1, apic__zdef *z2, uint8_t *b, uint8_t *o1, uint8_t *o2) {
  free(b);
  free(o1);
  free(o2);
  apic__zdef_free(z1);
  apic__zdef_free(z2);
}

/* FORMAT.md "Determinism": the bytes depend on the input only, not on what
   the same state compressed before. */
START_TEST(same_input_same_bytes) {
  apic__zdef *z1 = apic__zdef_new(), *z2 = apic__zdef_new();
  uint8_t *b = malloc(BIG), *o1 = malloc(apic__zdef_bound(BIG)), *o2 = malloc(apic__zdef_bound(BIG));
  ck_assert(z1 && z2 && b && o1 && o2);
  uint64_t x = 99;
  for (size_t i = 0; i < BIG; i++) b[i] = (uint8_t)(next(&x) % 7);
  apic__zdef_compress(z2, o2, b, BIG);  /* z2 has seen other data */
  for (size_t i = 0; i < BIG; i++) b[i] = i > 100 && next(&x) % 4 ? b[i - 100] : (uint8_t)next(&x);
  size_t n1 = apic__zdef_compress(z1, o1, b, BIG), n2 = apic__zdef_compress(z2, o2, b, BIG);
  ck_assert_uint_eq(n1, n2);
  ck_assert(memcmp(o1, o2, n1) == 0);
  free_pair(z1, z2, b, o1, o2);
}
END_TEST

/* The state numbers positions on from one input to the next (past a
   window between them) and starts again from a clear table before they
   would wrap around 2^32: some 2^17 small inputs get there. Whatever came
   before, an input gives the bytes it gives a fresh state. */
START_TEST(same_bytes_after_positions_wrap) {
  enum { N = 100000, SMALL = 64, ROUNDS = (1 << 17) + 100 };
  apic__zdef *z1 = apic__zdef_new(), *z2 = apic__zdef_new();
  uint8_t *b = malloc(N), *o1 = malloc(apic__zdef_bound(N)), *o2 = malloc(apic__zdef_bound(N));
  ck_assert(z1 && z2 && b && o1 && o2);
  uint64_t x = 5;
  for (size_t i = 0; i < N; i++)
    b[i] = i > 50 && next(&x) % 3 ? b[i - 1 - next(&x) % 50] : (uint8_t)next(&x);
  size_t n1 = apic__zdef_compress(z1, o1, b, N);
  for (int r = 0; r < ROUNDS; r++) {
    apic__zdef_compress(z2, o2, b + r % (N - SMALL), SMALL);
    if (r % 8192 == 0 || r > ROUNDS - 8) {  /* every so often, and past the wrap */
      size_t n2 = apic__zdef_compress(z2, o2, b, N);
      ck_assert_msg(n2 == n1 && memcmp(o1, o2, n1) == 0, "after %d inputs: other bytes", r);
    }
  }
  free_pair(z1, z2, b, o1, o2);
}
END_TEST

/* RFC 1951 3.2.2, 3.2.7: code lengths make a complete prefix code (Kraft
   sum exactly 1, which zlib's inflate requires), none longer than the
   limit (15, or 7 for the code-length code), and every symbol used has a
   code; counts like Fibonacci numbers make the unlimited tree deepest. */
START_TEST(huffman_lengths_are_complete_and_limited) {
  static const unsigned sizes[] = {19, 30, 286, 288};
  uint64_t x = 3;
  for (int t = 0; t < 4000; t++) {
    unsigned n = sizes[t % 4], maxbits = n == 19 ? 7 : 15;
    uint32_t freq[288];
    uint8_t len[288];
    uint32_t a = 1, b = 1;
    for (unsigned i = 0; i < n; i++) {
      switch (t / 4 % 5) {
      case 0: freq[i] = next(&x) % 3 ? 0 : (uint32_t)(next(&x) % 1000); break;
      case 1: {  /* Fibonacci, some left out */
        freq[i] = next(&x) % 4 ? a : 0;
        uint32_t c = a + b;
        a = b;
        b = c > 100000000u ? 1 : c;
        break;
      }
      case 2: freq[i] = (uint32_t)(next(&x) % 2) << (next(&x) % 24); break;
      case 3: freq[i] = i < (unsigned)(t % 3) ? 1 : 0; break;  /* no symbol, or one, or two */
      default: freq[i] = (uint32_t)(next(&x) % 16384); break;
      }
    }
    apic__huff_lengths(freq, n, maxbits, len);
    uint64_t kraft = 0;
    unsigned used = 0;
    for (unsigned i = 0; i < n; i++) {
      ck_assert_uint_le(len[i], maxbits);
      ck_assert_msg(!freq[i] || len[i], "symbol %u counted but without a code", i);
      if (len[i]) {
        kraft += 1ull << (32 - len[i]);
        used++;
      }
    }
    ck_assert_msg(kraft == 1ull << 32, "try %d: Kraft sum %llx", t, (unsigned long long)kraft);
    ck_assert_uint_ge(used, 2);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("trace_deflate");
  TCase *tc = tcase_create("deflate");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, varints_take_their_length_and_read_back);
  tcase_add_test(tc, every_stream_inflates_to_its_input);
  tcase_add_test(tc, same_input_same_bytes);
  tcase_add_test(tc, same_bytes_after_positions_wrap);
  tcase_add_test(tc, huffman_lengths_are_complete_and_limited);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
