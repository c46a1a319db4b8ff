/*
 * trace_rec.h - the trace writer's record buffer (private).
 *
 * The first trace writer of a machine is fed by the engine directly
 * (apic__emit_inline and apic__event_inline below, the rest in sim.c):
 * every event still becomes the same record, in the same place among the
 * hooks, but without an apic_event handed through a hook call, which cost
 * the run about as much as encoding it. Other writers get their events
 * through a hook like any listener, and end up here too.
 */
#ifndef APICSIM_TRACE_REC_H
#define APICSIM_TRACE_REC_H
#include "trace_fmt.h"
#include "sim.h"

typedef struct apic__recorder {
  apic__buf raw;          /* the current chunk: snapshot, then records */
  uint32_t nrec;          /* records in it */
  uint32_t limit;         /* chunk_records: then a cut is asked for */
  int cut_asked;
  uint64_t first;         /* the cycle its snapshot holds from */
  uint64_t prev_cycle, prev_msg;  /* running values of the chunk (FORMAT.md) */
  apic_sim *s;
} apic__recorder;

#if defined(__GNUC__)
#define APIC__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define APIC__NOINLINE __attribute__((noinline))
#else
#define APIC__UNLIKELY(x) (x)
#define APIC__NOINLINE
#endif

/* Records an event, whatever the case: a record of a cycle before `first`
   (trace_write.c says when), a buffer to grow, a chunk that is full, text. */
void apic__recorder_add(apic__recorder *r, const apic_event *ev);

/* The common case, inline: r takes one more record of `cycle` without a
   relabel, a bigger buffer or a cut. The fast paths below make no call
   but a last one, so they keep no registers of their callers. */
APIC__HOT_INLINE int apic__recorder_ready(const apic__recorder *r, uint64_t cycle) {
  return (cycle >= r->first) & (r->raw.cap - r->raw.n >= APIC__TRC_REC_MAX) &
         (r->nrec + 1 < r->limit);
}

APIC__HOT_INLINE void apic__recorder_fast(apic__recorder *r, const apic_event f) {
  apic__buf *b = &r->raw;
  b->n = (size_t)(apic__rec_encode(b->p + b->n, f, NULL, 0, &r->prev_cycle, &r->prev_msg) - b->p);
  r->nrec++;
}

/* apic__emit, inline and with the event as a value (cycle: now, no text):
   where it is built the writer's tests of the fields that are 0 fold away.
   A direct writer first in the hook list (alone, or opened before the
   other hooks, as apicsim run does) records here, then the other hooks
   hear it; otherwise, and for the writer's rare cases, the long way. */
APIC__HOT_INLINE void apic__emit_inline(apic_sim *s, const apic_event f) {
  apic__recorder *r = s->rec_first;  /* records in its place: first */
  if (APIC__UNLIKELY(!r || !apic__recorder_ready(r, s->now))) {
    apic__emit_slow(s, &f);
    return;
  }
  apic__recorder_fast(r, f);
  if (APIC__UNLIKELY(s->ncalled)) apic__hooks_after_first(s, &f);
}

/* apic__event, inline: for the events of every delivery (accept, EOI,
   PPR, IF, handler entry, halt, wake), where the call and its register
   saves cost a third of what recording the event does. Each site wraps it
   in a small APIC__NOINLINE function of its own, so that the code around
   it keeps its registers when nothing is traced. */
APIC__HOT_INLINE void apic__event_inline(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                                         uint32_t a, uint32_t b) {
  apic__recorder *r = s->rec_first;
  if (APIC__UNLIKELY(!r || !apic__recorder_ready(r, s->now))) {
    apic__event(s, kind, cpu, vector, a, b);
    return;
  }
  const apic_event f = {.cycle = s->now, .kind = kind, .cpu = cpu, .src = cpu,
                        .vector = vector, .a = a, .b = b};
  apic__recorder_fast(r, f);
  /* the fields as values: f's address would keep it in memory */
  if (APIC__UNLIKELY(s->ncalled)) apic__event_hooks_after_first(s, kind, cpu, vector, a, b);
}
#endif
