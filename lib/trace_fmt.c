/*
 * trace_fmt.c - varints, records and the header body of the trace format
 * (traces/FORMAT.md).
 * Decoding never trusts its input: every read is bounds checked and a bad
 * varint or overrun marks the reader bad instead of reading past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "trace_fmt.h"

/* ---- writing ---- */

void apic__buf_put(apic__buf *b, const void *src, size_t n) {
  if (b->oom || n == 0) return;
  if (b->n + n > b->cap && apic__buf_reserve(b, n)) return;
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

void apic__buf_uv(apic__buf *b, uint64_t v) {
  uint8_t t[10];
  apic__buf_put(b, t, (size_t)(apic__put_uv(t, v) - t));
}

void apic__buf_u32(apic__buf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  apic__buf_put(b, t, 4);
}

void apic__buf_u64(apic__buf *b, uint64_t v) {
  apic__buf_u32(b, (uint32_t)v);
  apic__buf_u32(b, (uint32_t)(v >> 32));
}

int apic__buf_reserve(apic__buf *b, size_t need) {
  if (b->oom) return -1;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + need) cap *= 2;
  uint8_t *np = realloc(b->p, cap);
  if (!np) { b->oom = 1; return -1; }
  b->p = np;
  b->cap = cap;
  return 0;
}

void apic__buf_free(apic__buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- reading ---- */

uint64_t apic__rd_uv(apic__rd *r) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (r->pos >= r->n) { r->bad = 1; return 0; }
    uint8_t byte = r->p[r->pos++];
    if (shift == 63 && (byte & 0x7E)) { r->bad = 1; return 0; }  /* over 64 bits */
    v |= (uint64_t)(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return v;
  }
  r->bad = 1;  /* more than 10 bytes */
  return 0;
}

const uint8_t *apic__rd_bytes(apic__rd *r, size_t n) {
  if (r->bad || n > r->n - r->pos) { r->bad = 1; return NULL; }
  const uint8_t *p = r->p + r->pos;
  r->pos += n;
  return p;
}

uint16_t apic__rd_u16(apic__rd *r) {
  const uint8_t *p = apic__rd_bytes(r, 2);
  return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t apic__rd_u32(apic__rd *r) {
  const uint8_t *p = apic__rd_bytes(r, 4);
  return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
           : 0;
}

uint64_t apic__rd_u64(apic__rd *r) {
  uint64_t lo = apic__rd_u32(r);
  return lo | (uint64_t)apic__rd_u32(r) << 32;
}

/* ---- records ---- */

/* A field that must fit in 32 (or 8) bits. */
static uint32_t get32(apic__rd *r, uint64_t limit) {
  uint64_t v = apic__rd_uv(r);
  if (v > limit) r->bad = 1;
  return (uint32_t)v;
}

int apic__rec_get(apic__rd *r, apic_event *ev, uint64_t *prev_cycle, uint64_t *prev_msg,
                  const uint8_t **text, size_t *text_len) {
  memset(ev, 0, sizeof *ev);
  *text = NULL;
  *text_len = 0;
  const uint8_t *h = apic__rd_bytes(r, 1);
  if (!h) return -1;
  ev->kind = *h & ~APIC__TRC_KIND_DELTA;
  if (ev->kind >= APIC_EV__COUNT) { r->bad = 1; return -1; }
  uint64_t delta = (*h & APIC__TRC_KIND_DELTA) ? apic__rd_uv(r) : 0;
  if (delta > UINT64_MAX - *prev_cycle) { r->bad = 1; return -1; }
  ev->cycle = *prev_cycle + delta;
  *prev_cycle = ev->cycle;
  uint64_t mask = apic__rd_uv(r);
  if (mask & ~(uint64_t)APIC__F_ALL) { r->bad = 1; return -1; }
  ev->cpu = (mask & APIC__F_CPU) ? get32(r, UINT32_MAX) : APIC_NONE;
  if (mask & APIC__F_VECTOR) ev->vector = (uint8_t)get32(r, UINT8_MAX);
  if (mask & APIC__F_A) ev->a = get32(r, UINT32_MAX);
  if (mask & APIC__F_MSG) {
    *prev_msg += (uint64_t)apic__unzigzag(apic__rd_uv(r));
    ev->msg = *prev_msg;
  }
  if (mask & APIC__F_B) ev->b = get32(r, UINT32_MAX);
  ev->src = (mask & APIC__F_SRC) ? get32(r, UINT32_MAX) : ev->cpu;
  if (mask & APIC__F_MODE) ev->mode = (uint8_t)get32(r, UINT8_MAX);
  if (mask & APIC__F_DEST) ev->dest = get32(r, UINT32_MAX);
  if (mask & APIC__F_FLAGS) ev->flags = get32(r, UINT32_MAX);
  if (mask & APIC__F_X) ev->x = apic__rd_uv(r);
  if (mask & APIC__F_TEXT) {
    uint64_t n = apic__rd_uv(r);
    if (n > APIC__TRC_MAX_TEXT) { r->bad = 1; return -1; }
    *text = apic__rd_bytes(r, (size_t)n);
    *text_len = (size_t)n;
  }
  return r->bad ? -1 : 0;
}

/* ---- header body ---- */

void apic__hdr_put(apic__buf *b, const apic_config *c, const char *name, uint32_t chunk_records) {
  apic__buf_uv(b, c->ncpus);
  apic__buf_uv(b, (uint64_t)c->model);
  apic__buf_uv(b, c->x2apic);
  apic__buf_uv(b, (uint64_t)c->bus);
  apic__buf_uv(b, c->sockets);
  apic__buf_uv(b, c->threads_per_core);
  apic__buf_uv(b, c->nioapics);
  for (uint32_t i = 0; i < c->nioapics; i++) {
    apic__buf_uv(b, c->ioapic_pins[i]);
    apic__buf_uv(b, c->ioapic_version[i]);
    apic__buf_uv(b, c->ioapic_id[i]);
  }
  apic__buf_uv(b, c->extint_vector);
  uint64_t fbits;
  memcpy(&fbits, &c->freq_ghz, sizeof fbits);
  apic__buf_u64(b, fbits);
  apic__buf_uv(b, c->seed);
  const uint32_t *t = (const uint32_t *)&c->timing;
  size_t nt = sizeof c->timing / sizeof(uint32_t);
  apic__buf_uv(b, nt);
  for (size_t i = 0; i < nt; i++) apic__buf_uv(b, t[i]);
  const uint8_t *q = (const uint8_t *)&c->quirks;
  apic__buf_uv(b, sizeof c->quirks);
  for (size_t i = 0; i < sizeof c->quirks; i++) apic__buf_uv(b, q[i]);
  size_t n = name ? strlen(name) : 0;
  if (n > APIC__TRC_MAX_TEXT) n = APIC__TRC_MAX_TEXT;
  apic__buf_uv(b, n);
  apic__buf_put(b, name ? name : "", n);
  apic__buf_uv(b, chunk_records);
}

#define HDR_BAD(...) do { snprintf(why, why_size, __VA_ARGS__); return -1; } while (0)

int apic__hdr_get(apic__rd *r, apic_config *c, char *name, size_t name_size, char *why,
                  size_t why_size) {
  _Static_assert(sizeof(apic_timing) % sizeof(uint32_t) == 0, "timing is all uint32_t");
  uint64_t v;
  c->ncpus = get32(r, UINT32_MAX);
  if (r->bad || c->ncpus == 0 || c->ncpus > APIC_MAX_CPUS)
    HDR_BAD("header: ncpus %u is outside 1..%u", c->ncpus, APIC_MAX_CPUS);
  v = apic__rd_uv(r);
  if (v > APIC_MODEL_XAPIC) HDR_BAD("header: unknown APIC model %llu", (unsigned long long)v);
  c->model = (apic_model)v;
  c->x2apic = (uint8_t)get32(r, 1);
  v = apic__rd_uv(r);
  if (v > APIC_BUS_MESH) HDR_BAD("header: unknown interconnect %llu", (unsigned long long)v);
  c->bus = (apic_bus_kind)v;
  c->sockets = get32(r, APIC_MAX_CPUS);
  c->threads_per_core = get32(r, APIC_MAX_CPUS);
  c->nioapics = get32(r, UINT32_MAX);
  if (r->bad || c->nioapics > APIC_MAX_IOAPICS)
    HDR_BAD("header: %u I/O APICs (at most %d)", c->nioapics, APIC_MAX_IOAPICS);
  for (uint32_t i = 0; i < c->nioapics; i++) {
    c->ioapic_pins[i] = get32(r, UINT32_MAX);
    c->ioapic_version[i] = (uint8_t)get32(r, UINT8_MAX);
    c->ioapic_id[i] = (uint8_t)get32(r, 0xF);
    if (r->bad || c->ioapic_pins[i] < 1 || c->ioapic_pins[i] > APIC_IOAPIC_MAX_PINS)
      HDR_BAD("header: I/O APIC %u has %u pins (1..%u)", i, c->ioapic_pins[i],
              APIC_IOAPIC_MAX_PINS);
  }
  c->extint_vector = (uint8_t)get32(r, UINT8_MAX);
  uint64_t fbits = apic__rd_u64(r);
  memcpy(&c->freq_ghz, &fbits, sizeof fbits);
  if (!(c->freq_ghz > 0 && c->freq_ghz < 1000)) HDR_BAD("header: frequency is not in (0, 1000) GHz");
  c->seed = apic__rd_uv(r);
  uint64_t nt = apic__rd_uv(r);
  if (nt > 1024) HDR_BAD("header: %llu timing fields", (unsigned long long)nt);
  uint32_t *t = (uint32_t *)&c->timing;
  size_t known = sizeof c->timing / sizeof(uint32_t);
  c->timing.timer_div = c->timing.p6_clock_div = 1;  /* if an older writer had no such field */
  for (uint64_t i = 0; i < nt; i++) {
    uint32_t x = get32(r, UINT32_MAX);
    if (i < known) t[i] = x;  /* fields a newer writer added are skipped */
  }
  /* the readers divide by these (the timer's current count) */
  if (!r->bad && c->timing.timer_div == 0) HDR_BAD("header: timing.timer_div is 0 (at least 1)");
  if (!r->bad && c->timing.p6_clock_div == 0)
    HDR_BAD("header: timing.p6_clock_div is 0 (at least 1)");
  uint64_t nq = apic__rd_uv(r);
  if (nq > 1024) HDR_BAD("header: %llu quirk fields", (unsigned long long)nq);
  uint8_t *q = (uint8_t *)&c->quirks;
  for (uint64_t i = 0; i < nq; i++) {
    uint8_t x = (uint8_t)get32(r, UINT8_MAX);
    if (i < sizeof c->quirks) q[i] = x;
  }
  uint64_t n = apic__rd_uv(r);
  if (n > APIC__TRC_MAX_TEXT) HDR_BAD("header: name of %llu bytes", (unsigned long long)n);
  const uint8_t *p = apic__rd_bytes(r, (size_t)n);
  if (p && name_size) {
    size_t k = n < name_size - 1 ? (size_t)n : name_size - 1;
    memcpy(name, p, k);
    name[k] = 0;
  }
  apic__rd_uv(r);  /* chunk_records: informational */
  if (r->bad) HDR_BAD("header: body ends early or holds a bad number");
  return 0;
}
