/*
 * export_perfetto.c - the timeline model (export.c) as a Perfetto native
 * protobuf trace (.pftrace), written by a small hand-made encoder.
 *
 * A Perfetto trace is a Trace message: a sequence of TracePacket fields,
 * each length-delimited. Every packet is built in memory (nested messages
 * get their length by moving their bytes up once the length is known) and
 * then written as one `packet` field, so the file is a valid Trace after
 * every packet and a cut file loses only its last one.
 *
 * No interning and no packet defaults: every TrackEvent names its track by
 * uuid and carries its own name and category, so no packet depends on
 * incremental state. All packets use one trusted_packet_sequence_id; the
 * first says the sequence's incremental state is cleared.
 *
 * Field numbers are those of the Perfetto protos (protos/perfetto/trace/
 * trace.proto, trace_packet.proto, track_event/track_descriptor.proto,
 * process_descriptor.proto, thread_descriptor.proto,
 * counter_descriptor.proto, track_event.proto, debug_annotation.proto),
 * named below after their fields. tests/data/perfetto_subset.proto
 * declares the same subset so that protoc can decode what we write.
 */
#include <string.h>
#include "export.h"
#include "trace_fmt.h"

/* protobuf wire types */
enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2 };

/* Trace */
#define TRACE_PACKET 1
/* TracePacket */
#define PACKET_TIMESTAMP 8
#define PACKET_TRUSTED_PACKET_SEQUENCE_ID 10
#define PACKET_TRACK_EVENT 11
#define PACKET_SEQUENCE_FLAGS 13
#define PACKET_TRACK_DESCRIPTOR 60
#define SEQ_INCREMENTAL_STATE_CLEARED 1  /* TracePacket.SequenceFlags */
/* TrackDescriptor */
#define TRACK_UUID 1
#define TRACK_NAME 2
#define TRACK_PROCESS 3
#define TRACK_THREAD 4
#define TRACK_PARENT_UUID 5
#define TRACK_COUNTER 8
/* ProcessDescriptor */
#define PROCESS_PID 1
#define PROCESS_CMDLINE 2
#define PROCESS_PROCESS_NAME 6
/* ThreadDescriptor */
#define THREAD_PID 1
#define THREAD_TID 2
#define THREAD_THREAD_NAME 5
/* CounterDescriptor */
#define COUNTER_UNIT 3
#define UNIT_COUNT 2  /* CounterDescriptor.Unit */
/* TrackEvent */
#define EVENT_DEBUG_ANNOTATIONS 4
#define EVENT_TYPE 9
#define EVENT_TRACK_UUID 11
#define EVENT_CATEGORIES 22
#define EVENT_NAME 23
#define EVENT_COUNTER_VALUE 30
#define EVENT_FLOW_IDS 47              /* fixed64 */
#define EVENT_TERMINATING_FLOW_IDS 48  /* fixed64 */
#define TYPE_SLICE_BEGIN 1             /* TrackEvent.Type */
#define TYPE_SLICE_END 2
#define TYPE_INSTANT 3
#define TYPE_COUNTER 4
/* DebugAnnotation */
#define ANNOTATION_INT_VALUE 4
#define ANNOTATION_STRING_VALUE 6
#define ANNOTATION_NAME 10

#define SEQUENCE_ID 1  /* our one packet sequence */
#define VARINT_MAX 10

typedef struct pf {
  FILE *f;
  apic__buf b;     /* the packet being built */
  int first;       /* no packet written yet */
} pf;

static size_t varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static void tag(apic__buf *b, uint32_t field, uint32_t wt) {
  apic__buf_uv(b, ((uint64_t)field << 3) | wt);
}

static void put_uint(apic__buf *b, uint32_t field, uint64_t v) {
  tag(b, field, WT_VARINT);
  apic__buf_uv(b, v);
}

static void put_fixed64(apic__buf *b, uint32_t field, uint64_t v) {
  tag(b, field, WT_FIXED64);
  apic__buf_u64(b, v);  /* little-endian, as protobuf's fixed64 */
}

static void put_str(apic__buf *b, uint32_t field, const char *s) {
  size_t n = strlen(s);
  tag(b, field, WT_LEN);
  apic__buf_uv(b, n);
  apic__buf_put(b, s, n);
}

/* A nested message: open returns where its bytes start; close inserts
   their length in front of them. */
static size_t open_msg(apic__buf *b, uint32_t field) {
  tag(b, field, WT_LEN);
  return b->n;
}

static void close_msg(apic__buf *b, size_t start) {
  uint8_t len[VARINT_MAX];
  size_t body = b->n - start, k = varint(len, body);
  apic__buf_put(b, len, k);  /* room for the length */
  if (b->oom) return;
  memmove(b->p + start + k, b->p + start, body);
  memcpy(b->p + start, len, k);
}

static void packet_begin(pf *p) {
  p->b.n = 0;
  put_uint(&p->b, PACKET_TRUSTED_PACKET_SEQUENCE_ID, SEQUENCE_ID);
  if (p->first) put_uint(&p->b, PACKET_SEQUENCE_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED);
  p->first = 0;
}

static int packet_end(pf *p) {
  if (p->b.oom) return APIC_E_NOMEM;
  uint8_t head[1 + VARINT_MAX];
  size_t k = varint(head, ((uint64_t)TRACE_PACKET << 3) | WT_LEN);
  k += varint(head + k, p->b.n);
  if (fwrite(head, 1, k, p->f) != k || fwrite(p->b.p, 1, p->b.n, p->f) != p->b.n)
    return APIC_E_IO;
  return APIC_OK;
}

static int pf_track(void *ud, const apic__xtrack *t) {
  pf *p = ud;
  apic__buf *b = &p->b;
  packet_begin(p);
  size_t td = open_msg(b, PACKET_TRACK_DESCRIPTOR);
  put_uint(b, TRACK_UUID, t->uuid);
  if (t->parent) put_uint(b, TRACK_PARENT_UUID, t->parent);
  put_str(b, TRACK_NAME, t->name);
  size_t sub;
  switch (t->kind) {
  case APIC__XT_PROCESS:
    sub = open_msg(b, TRACK_PROCESS);
    put_uint(b, PROCESS_PID, APIC__XPID);
    put_str(b, PROCESS_CMDLINE, t->name);
    if (t->info) put_str(b, PROCESS_CMDLINE, t->info);
    put_str(b, PROCESS_PROCESS_NAME, t->name);
    close_msg(b, sub);
    break;
  case APIC__XT_THREAD:
    sub = open_msg(b, TRACK_THREAD);
    put_uint(b, THREAD_PID, APIC__XPID);
    put_uint(b, THREAD_TID, t->tid);
    put_str(b, THREAD_THREAD_NAME, t->name);
    close_msg(b, sub);
    break;
  case APIC__XT_COUNTER:
    sub = open_msg(b, TRACK_COUNTER);
    put_uint(b, COUNTER_UNIT, UNIT_COUNT);
    close_msg(b, sub);
    break;
  default: break;
  }
  close_msg(b, td);
  return packet_end(p);
}

/* Starts a TrackEvent packet at ps (in whole ns: Perfetto's clock has no
   finer unit); returns where the TrackEvent starts. */
static size_t event_begin(pf *p, uint64_t ps, uint32_t type, uint64_t track) {
  packet_begin(p);
  put_uint(&p->b, PACKET_TIMESTAMP, ps / APIC__PS_PER_NS + (ps % APIC__PS_PER_NS >= APIC__PS_PER_NS / 2));
  size_t te = open_msg(&p->b, PACKET_TRACK_EVENT);
  put_uint(&p->b, EVENT_TYPE, type);
  put_uint(&p->b, EVENT_TRACK_UUID, track);
  return te;
}

static int event(pf *p, const apic__xevent *e, uint32_t type) {
  apic__buf *b = &p->b;
  size_t te = event_begin(p, e->ps, type, e->track->uuid);
  put_str(b, EVENT_NAME, e->name);
  if (e->cat) put_str(b, EVENT_CATEGORIES, e->cat);
  for (size_t i = 0; i < e->nargs; i++) {
    size_t da = open_msg(b, EVENT_DEBUG_ANNOTATIONS);
    put_str(b, ANNOTATION_NAME, e->args[i].key);
    if (e->args[i].str) put_str(b, ANNOTATION_STRING_VALUE, e->args[i].str);
    else put_uint(b, ANNOTATION_INT_VALUE, (uint64_t)e->args[i].num);
    close_msg(b, da);
  }
  for (size_t i = 0; i < e->nout; i++) put_fixed64(b, EVENT_FLOW_IDS, e->flow_out[i]);
  for (size_t i = 0; i < e->nin; i++) put_fixed64(b, EVENT_TERMINATING_FLOW_IDS, e->flow_in[i]);
  close_msg(b, te);
  return packet_end(p);
}

static int pf_begin(void *ud, const apic__xevent *e) { return event(ud, e, TYPE_SLICE_BEGIN); }
static int pf_instant(void *ud, const apic__xevent *e) { return event(ud, e, TYPE_INSTANT); }

static int pf_end(void *ud, const apic__xtrack *t, uint64_t ps) {
  pf *p = ud;
  size_t te = event_begin(p, ps, TYPE_SLICE_END, t->uuid);
  close_msg(&p->b, te);
  return packet_end(p);
}

static int pf_counter(void *ud, const apic__xtrack *t, uint64_t ps, int64_t value) {
  pf *p = ud;
  size_t te = event_begin(p, ps, TYPE_COUNTER, t->uuid);
  put_uint(&p->b, EVENT_COUNTER_VALUE, (uint64_t)value);  /* int64: two's complement */
  close_msg(&p->b, te);
  return packet_end(p);
}

int apic__export_perfetto(apic_trace *t, FILE *f, char *why, size_t why_size) {
  pf p;
  memset(&p, 0, sizeof p);
  p.f = f;
  p.first = 1;
  apic__xsink sink = {&p, pf_track, pf_begin, pf_end, pf_instant, pf_counter};
  int rc = apic__xmodel_run(t, &sink, why, why_size);
  apic__buf_free(&p.b);
  return rc;
}
