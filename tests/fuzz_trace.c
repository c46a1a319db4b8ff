/*
 * fuzz_trace.c - libFuzzer harness for the trace reader (lib/trace_read.c,
 * lib/trace_fmt.c): whatever the bytes, apic_trace_open and everything after
 * it must return an error or work, never crash, leak or read out of bounds,
 * and what it reports must be a state the model can be in (check_core):
 * a damaged file must not pass for a valid one.
 *
 * Random bytes rarely get past the crcs, so the first input byte picks how
 * the rest is used:
 *   0  the file as is;
 *   1  the file with every crc (header, chunk headers, payloads, index)
 *      recomputed where the lengths allow, so that damage reaches the
 *      decoders;
 *   2  raw chunk payloads: u16 length, u16 records, u8 cycle span, bytes;
 *      repeated. The harness compresses each one and frames it after the
 *      header of a small real trace, so the snapshot and record decoders
 *      see arbitrary bytes.
 *
 * Not built by CMake (CTest runs the libcheck suites); build and run by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DAPICSIM_BUILDING \
 *     -Iinclude -Ilib tests/fuzz_trace.c lib/api.c lib/bus.c lib/bus_p6.c \
 *     lib/cpu.c lib/deflate.c lib/dest.c lib/error.c lib/ioapic.c lib/lapic.c \
 *     lib/queue.c lib/sim.c lib/trace_fmt.c lib/trace_read.c lib/trace_write.c \
 *     -lz -lpthread -o fuzz_trace
 *   ./fuzz_trace -max_total_time=300
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "apicsim/trace.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[256];
static uint8_t *g_header;  /* header of a small real trace (magic .. header crc) */
static size_t g_header_n;

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}
static uint32_t crc(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("TMPDIR");
  snprintf(g_path, sizeof g_path, "%s/apicsim-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(g_path);
  if (fd < 0) abort();
  close(fd);
  /* a 2-core machine with one I/O APIC: its header frames mode 2 inputs */
  apic_config cfg;
  apic_config_default(&cfg, 2);
  apic_sim *s;
  char why[256];
  if (apic_sim_create(&s, &cfg, why, sizeof why)) abort();
  apic_trace_writer *w;
  if (apic_trace_writer_open(&w, s, g_path, NULL, why, sizeof why)) abort();
  apic_trace_writer_close(w);
  apic_sim_destroy(s);
  FILE *f = fopen(g_path, "rb");
  uint8_t fixed[16];
  if (!f || fread(fixed, 1, 16, f) != 16) abort();
  g_header_n = 16 + get32(fixed + 12) + 4;
  g_header = malloc(g_header_n);
  fseek(f, 0, SEEK_SET);
  if (fread(g_header, 1, g_header_n, f) != g_header_n) abort();
  fclose(f);
  return 0;
}

/* Mode 1: recomputes every crc the lengths let us find. */
static void fix_crcs(uint8_t *p, size_t n) {
  if (n < 20) return;
  uint64_t hn = 16 + (uint64_t)get32(p + 12) + 4;
  if (hn > n) return;
  put32(p + hn - 4, crc(p, hn - 4));
  size_t off = (size_t)hn;
  while (off + 40 <= n && !memcmp(p + off, "CHNK", 4)) {
    uint32_t clen = get32(p + off + 4);
    if (clen > n - off - 40) break;
    put32(p + off + 32, crc(p + off + 40, clen));
    put32(p + off + 36, crc(p + off, 36));
    off += 40 + clen;
  }
  if (off + 8 <= n && !memcmp(p + off, "INDX", 4)) {
    size_t count = get32(p + off + 4), end = off + 8 + 28 * count;
    if (count < n && end + 4 <= n) put32(p + end, crc(p + off, end - off));
  }
}

/* Mode 2: frames raw payloads as chunks after the real header. */
static uint8_t *frame_payloads(const uint8_t *d, size_t n, size_t *out_n) {
  size_t cap = g_header_n + 64, len = g_header_n;
  uint8_t *f = malloc(cap);
  memcpy(f, g_header, g_header_n);
  while (n >= 5) {
    size_t rawn = (size_t)(d[0] | d[1] << 8) % 4096;
    uint32_t records = (uint32_t)(d[2] | d[3] << 8);
    uint8_t span = d[4];
    d += 5;
    n -= 5;
    if (rawn > n) rawn = n;
    /* the snapshot cycle is the payload's first varint */
    uint64_t first = 0;
    for (size_t i = 0, sh = 0; i < rawn && i < 10; i++, sh += 7) {
      first |= (uint64_t)(d[i] & 0x7F) << sh;
      if (!(d[i] & 0x80)) break;
    }
    uLongf zn = compressBound((uLong)rawn);
    if (len + 40 + zn > cap) {
      cap = (len + 40 + zn) * 2;
      f = realloc(f, cap);
    }
    uint8_t *h = f + len;
    if (compress2(h + 40, &zn, d, (uLong)rawn, 1) != Z_OK) break;
    memcpy(h, "CHNK", 4);
    put32(h + 4, (uint32_t)zn);
    put32(h + 8, (uint32_t)rawn);
    put32(h + 12, records);
    put64(h + 16, first);
    put64(h + 24, first + span);
    put32(h + 32, crc(h + 40, zn));
    put32(h + 36, crc(h, 36));
    len += 40 + zn;
    d += rawn;
    n -= rawn;
  }
  *out_n = len;
  return f;
}

/* What a reader reports is a state the model can be in, and records come in
   cycle order: anything else is a damaged file read as if it were whole. */
static void check_core(apic_trace *t, uint32_t cpu) {
  apic_core_state c;
  if (apic_trace_core_state(t, cpu, &c) != APIC_OK) return;
  if (c.run > APIC_CORE_WAIT_SIPI || c.if_flag > 1 || c.nmi_blocked > 1 ||
      c.in_smm > APIC_SMM_AFTER_IRET)
    abort();
  for (uint32_t k = 0; k < c.nest && k < APIC_CORE_MAX_NEST; k++)
    if (c.vectors[k] > APIC_VECTOR_SMI) abort();
}

static void exercise(void) {
  apic_trace *t = NULL;
  char why[512];
  if (apic_trace_open(&t, g_path, why, sizeof why) != APIC_OK) return;
  const apic_trace_info *info = apic_trace_info_get(t);
  uint32_t ncpus = info->config.ncpus < 8 ? info->config.ncpus : 8;
  apic_event ev;
  uint64_t prev = 0;
  for (int i = 0; i < 100000 && apic_trace_next(t, &ev) == APIC_OK; i++) {
    if (ev.cycle < prev || apic_trace_now(t) != ev.cycle) abort();
    prev = ev.cycle;
    apic_lapic_state l;
    apic_trace_lapic_state(t, ev.cpu < ncpus ? ev.cpu : 0, &l);
    check_core(t, ev.cpu < ncpus ? ev.cpu : 0);
  }
  uint64_t span = info->last_cycle - info->first_cycle;
  for (int k = 0; k < 4; k++) {
    uint64_t at = info->first_cycle + span / 4 * (uint64_t)(3 - k);
    if (apic_trace_seek(t, at) == APIC_OK && apic_trace_now(t) != at) abort();
    for (uint32_t cpu = 0; cpu < ncpus; cpu++) {
      apic_lapic_state l;
      apic_trace_lapic_state(t, cpu, &l);
      check_core(t, cpu);
    }
    for (uint32_t io = 0; io < info->config.nioapics; io++) {
      uint64_t rte;
      int level;
      if (apic_trace_ioapic_pin(t, io, 0, &rte, &level) == APIC_OK && (level & ~1)) abort();
    }
  }
  apic_trace_rewind(t);
  apic_trace_close(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0] % 3;
  data++;
  size--;
  uint8_t *f;
  size_t n;
  if (mode == 2) {
    f = frame_payloads(data, size, &n);
  } else {
    n = size;
    f = malloc(n ? n : 1);
    memcpy(f, data, n);
    if (mode == 1) fix_crcs(f, n);
  }
  FILE *out = fopen(g_path, "wb");
  if (!out) abort();
  if (n && fwrite(f, 1, n, out) != n) abort();
  fclose(out);
  free(f);
  exercise();
  return 0;
}
