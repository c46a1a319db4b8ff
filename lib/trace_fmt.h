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

/* For the encoder's few functions that run per record: inlined where an
   event is built, the compiler drops the tests of fields it knows are 0. */
#if defined(__GNUC__)
#define APIC__HOT_INLINE static inline __attribute__((always_inline))
#else
#define APIC__HOT_INLINE static inline
#endif

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

/* Appends a varint at p; returns the new end. Most record fields and cycle
   deltas take one or two bytes, so those cases come first; the longer ones
   stay inline too, as a call would make the record encoders keep their
   callers' registers. */
APIC__HOT_INLINE uint8_t *apic__put_uv(uint8_t *p, uint64_t v) {
  if (v < 0x80) {
    *p = (uint8_t)v;
    return p + 1;
  }
  p[0] = (uint8_t)(v | 0x80);
  if (v < 0x4000) {
    p[1] = (uint8_t)(v >> 7);
    return p + 2;
  }
  p[1] = (uint8_t)(v >> 7 | 0x80);
  p += 2;
  v >>= 14;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p = (uint8_t)v;
  return p + 1;
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
 * text is the event's text (its first text_n bytes) or NULL. f comes by
 * value: where an event is built and encoded at once, the compiler sees
 * which fields are 0 and drops their tests (a struct whose address is
 * taken keeps its fields in memory).
 */
APIC__HOT_INLINE uint8_t *apic__rec_encode(uint8_t *p, const apic_event f, const char *text,
                                           size_t text_n, uint64_t *prev_cycle,
                                           uint64_t *prev_msg) {
  const uint64_t delta = f.cycle - *prev_cycle;
  *prev_cycle = f.cycle;
  if (delta) {
    *p++ = (uint8_t)(f.kind | APIC__TRC_KIND_DELTA);
    p = apic__put_uv(p, delta);
  } else {
    *p++ = (uint8_t)f.kind;
  }
  uint32_t mask = (f.dest ? APIC__F_DEST : 0u) | (f.flags ? APIC__F_FLAGS : 0u) |
                  (f.x ? APIC__F_X : 0u) | (text ? APIC__F_TEXT : 0u);
  uint8_t *m = p;
  p += mask ? 2 : 1;
  if (f.cpu != APIC_NONE) { mask |= APIC__F_CPU; p = apic__put_uv(p, f.cpu); }
  if (f.vector) { mask |= APIC__F_VECTOR; p = apic__put_uv(p, f.vector); }
  if (f.a) { mask |= APIC__F_A; p = apic__put_uv(p, f.a); }
  if (f.msg) {
    mask |= APIC__F_MSG;
    p = apic__put_uv(p, apic__zigzag((int64_t)(f.msg - *prev_msg)));
    *prev_msg = f.msg;
  }
  if (f.b) { mask |= APIC__F_B; p = apic__put_uv(p, f.b); }
  if (f.src != f.cpu) { mask |= APIC__F_SRC; p = apic__put_uv(p, f.src); }
  if (f.mode) { mask |= APIC__F_MODE; p = apic__put_uv(p, f.mode); }
  if (mask >= 0x80) {  /* the rarer fields, and a mask of two bytes */
    if (f.dest) p = apic__put_uv(p, f.dest);
    if (f.flags) p = apic__put_uv(p, f.flags);
    if (f.x) p = apic__put_uv(p, f.x);
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

/* Decodes one record; text points into the reader's bytes. 0 or -1 if bad. */
int apic__rec_get(apic__rd *r, apic_event *ev, uint64_t *prev_cycle, uint64_t *prev_msg,
                  const uint8_t **text, size_t *text_len);

/* Header body (the machine) codec. */
void apic__hdr_put(apic__buf *b, const apic_config *cfg, const char *name, uint32_t chunk_records);
/* Returns 0 or -1 with a reason in why. */
int apic__hdr_get(apic__rd *r, apic_config *cfg, char *name, size_t name_size, char *why,
                  size_t why_size);

#endif
