/*
 * trace_fmt.h - the byte-level pieces of the trace format shared by the
 * writer and the reader (private). traces/FORMAT.md is the specification;
 * every constant here is named there.
 */
#ifndef APICSIM_TRACE_FMT_H
#define APICSIM_TRACE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "apicsim/apicsim.h"

#define APIC__TRC_MAGIC       "APICTRC\x1a"
#define APIC__TRC_MAGIC_LEN   8
#define APIC__TRC_CHUNK_MAGIC "CHNK"
#define APIC__TRC_INDEX_MAGIC "INDX"
#define APIC__TRC_END_MAGIC   "APICEND"   /* 7 bytes + NUL = 8 */
#define APIC__TRC_HDR_FIXED   16u         /* magic, version, flags, body length */
#define APIC__TRC_CHUNK_HDR   40u         /* chunk header incl. both crcs */
#define APIC__TRC_TRAILER     16u
#define APIC__TRC_INDEX_ENTRY 28u
#define APIC__TRC_MAX_BODY    (1u << 20)
#define APIC__TRC_MAX_CLEN    (64u << 20)
#define APIC__TRC_MAX_RAW     (256u << 20)
#define APIC__TRC_MAX_TEXT    65535u
#define APIC__TRC_KIND_DELTA  0x80u       /* head bit: a cycle delta follows */
#define APIC__TRC_MAX_NEST    1024u       /* handlers a snapshot lists per core */

/* Record field mask bits, in the order they are written. */
enum {
  APIC__F_CPU = 1u << 0, APIC__F_VECTOR = 1u << 1, APIC__F_A = 1u << 2,
  APIC__F_MSG = 1u << 3, APIC__F_B = 1u << 4, APIC__F_SRC = 1u << 5,
  APIC__F_MODE = 1u << 6, APIC__F_DEST = 1u << 7, APIC__F_FLAGS = 1u << 8,
  APIC__F_X = 1u << 9, APIC__F_TEXT = 1u << 10, APIC__F_ALL = (1u << 11) - 1
};

/* Snapshot "pending" bits. */
enum {
  APIC__P_NMI = 1, APIC__P_SMI = 2, APIC__P_INIT = 4, APIC__P_SIPI = 8,
  APIC__P_EXTINT = 16, APIC__P_WAIT_SIPI = 32,
  /* where the outermost handler returns when it is a finished program's
     (DONE): listed in the snapshot, or taken but not yet entered (unlisted) */
  APIC__P_IDLE_BELOW = 64, APIC__P_IDLE_BELOW_UNLISTED = 128
};

/* A growable byte buffer (writer side). */
typedef struct apic__buf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} apic__buf;

void apic__buf_put(apic__buf *b, const void *src, size_t n);
/* Grows b so that need more bytes fit after n: 0, or -1 with oom set. */
int apic__buf_reserve(apic__buf *b, size_t need);
void apic__buf_uv(apic__buf *b, uint64_t v);
void apic__buf_u32(apic__buf *b, uint32_t v);
void apic__buf_u64(apic__buf *b, uint64_t v);
void apic__buf_free(apic__buf *b);

/* A bounded reader over bytes; any overrun or bad varint sets bad. */
typedef struct apic__rd {
  const uint8_t *p;
  size_t n, pos;
  int bad;
} apic__rd;

uint64_t apic__rd_uv(apic__rd *r);
uint32_t apic__rd_u32(apic__rd *r);
uint64_t apic__rd_u64(apic__rd *r);
uint16_t apic__rd_u16(apic__rd *r);
const uint8_t *apic__rd_bytes(apic__rd *r, size_t n);

static inline uint64_t apic__zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t apic__unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Appends a varint of any length at p; returns the new end. */
uint8_t *apic__put_uv_long(uint8_t *p, uint64_t v);

/* Appends a varint at p; returns the new end. Most record fields and cycle
   deltas take one or two bytes, so those cases stay inline. */
static inline uint8_t *apic__put_uv(uint8_t *p, uint64_t v) {
  if (v < 0x80) {
    *p = (uint8_t)v;
    return p + 1;
  }
  if (v < 0x4000) {
    p[0] = (uint8_t)(v | 0x80);
    p[1] = (uint8_t)(v >> 7);
    return p + 2;
  }
  return apic__put_uv_long(p, v);
}

/* Largest record without text: head, delta, mask, ten fields of 10 bytes. */
#define APIC__TRC_REC_MAX 128u

/*
 * Record codec: prev_cycle and prev_msg are the running values of a chunk.
 *
 * apic__rec_encode writes one record at p, where the caller made room for
 * it (APIC__TRC_REC_MAX bytes and the text), and returns the end. It makes
 * one pass over the fields: the mask's length (1 or 2 bytes) depends only
 * on the fields from bit 7 up, so they are looked at first, the other
 * fields are written after the mask's room, and the mask goes in last.
 * text is the event's text (its first text_n bytes) or NULL.
 */
static inline uint8_t *apic__rec_encode(uint8_t *p, const apic_event *ev, const char *text,
                                        size_t text_n, uint64_t *prev_cycle,
                                        uint64_t *prev_msg) {
  uint64_t delta = ev->cycle - *prev_cycle;
  *prev_cycle = ev->cycle;
  if (delta) {
    *p++ = (uint8_t)(ev->kind | APIC__TRC_KIND_DELTA);
    p = apic__put_uv(p, delta);
  } else {
    *p++ = (uint8_t)ev->kind;
  }
  uint32_t mask = (ev->dest ? APIC__F_DEST : 0u) | (ev->flags ? APIC__F_FLAGS : 0u) |
                  (ev->x ? APIC__F_X : 0u) | (text ? APIC__F_TEXT : 0u);
  uint8_t *m = p;
  p += mask ? 2 : 1;
  if (ev->cpu != APIC_NONE) { mask |= APIC__F_CPU; p = apic__put_uv(p, ev->cpu); }
  if (ev->vector) { mask |= APIC__F_VECTOR; p = apic__put_uv(p, ev->vector); }
  if (ev->a) { mask |= APIC__F_A; p = apic__put_uv(p, ev->a); }
  if (ev->msg) {
    mask |= APIC__F_MSG;
    p = apic__put_uv(p, apic__zigzag((int64_t)(ev->msg - *prev_msg)));
    *prev_msg = ev->msg;
  }
  if (ev->b) { mask |= APIC__F_B; p = apic__put_uv(p, ev->b); }
  if (ev->src != ev->cpu) { mask |= APIC__F_SRC; p = apic__put_uv(p, ev->src); }
  if (ev->mode) { mask |= APIC__F_MODE; p = apic__put_uv(p, ev->mode); }
  if (mask >= 0x80) {  /* the rarer fields, and a mask of two bytes */
    if (ev->dest) p = apic__put_uv(p, ev->dest);
    if (ev->flags) p = apic__put_uv(p, ev->flags);
    if (ev->x) p = apic__put_uv(p, ev->x);
    if (text) {
      p = apic__put_uv(p, text_n);
      memcpy(p, text, text_n);
      p += text_n;
    }
    m[0] = (uint8_t)(mask | 0x80);
    m[1] = (uint8_t)(mask >> 7);
  } else {
    m[0] = (uint8_t)mask;
  }
  return p;
}

/* Appends a record to b, growing it; one with text too. */
void apic__rec_put_any(apic__buf *b, const apic_event *ev, uint64_t *prev_cycle,
                       uint64_t *prev_msg);

/* Appends a record to b. It runs once per event on the simulation's thread,
   so the common case is inline: no text, and room for the largest record
   (text_n is then 0 and the text branches fold away). */
static inline void apic__rec_put(apic__buf *b, const apic_event *ev, uint64_t *prev_cycle,
                                 uint64_t *prev_msg) {
  if (ev->text || b->cap - b->n < APIC__TRC_REC_MAX) {
    apic__rec_put_any(b, ev, prev_cycle, prev_msg);
    return;
  }
  b->n = (size_t)(apic__rec_encode(b->p + b->n, ev, NULL, 0, prev_cycle, prev_msg) - b->p);
}

/* Decodes one record; text points into the reader's bytes. 0 or -1 if bad. */
int apic__rec_get(apic__rd *r, apic_event *ev, uint64_t *prev_cycle, uint64_t *prev_msg,
                  const uint8_t **text, size_t *text_len);

/* Header body (the machine) codec. */
void apic__hdr_put(apic__buf *b, const apic_config *cfg, const char *name, uint32_t chunk_records);
/* Returns 0 or -1 with a reason in why. */
int apic__hdr_get(apic__rd *r, apic_config *cfg, char *name, size_t name_size, char *why,
                  size_t why_size);

#endif
