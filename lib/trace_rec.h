/*
 * trace_rec.h - the trace writer's record buffer (private).
 *
 * The first trace writer of a machine is fed by the engine directly
 * (apic__emit and apic__event in sim.c): every event still becomes the same
 * record, but without an apic_event handed through a hook call, which cost
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

/* The rare cases: a record of a cycle before `first` (trace_write.c says
   when), a buffer to grow, a chunk that is full; and text. */
void apic__recorder_slow(apic__recorder *r, apic__recfields f, const char *text);

#if defined(__GNUC__)
#define APIC__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define APIC__UNLIKELY(x) (x)
#endif

/* Records an event given as fields (see apic__recfields). */
APIC__HOT_INLINE void apic__recorder_add(apic__recorder *r, const apic__recfields f) {
  apic__buf *b = &r->raw;
  if (APIC__UNLIKELY((f.cycle < r->first) | (b->cap - b->n < APIC__TRC_REC_MAX) |
                     (r->nrec + 1 >= r->limit))) {
    apic__recorder_slow(r, f, NULL);
    return;
  }
  b->n = (size_t)(apic__rec_encode(b->p + b->n, f, NULL, 0, &r->prev_cycle, &r->prev_msg) - b->p);
  r->nrec++;
}

/* Records an event. */
APIC__HOT_INLINE void apic__recorder_put(apic__recorder *r, const apic_event *ev) {
  if (ev->text) {
    const apic__recfields f = apic__rec_fields(ev);
    apic__recorder_slow(r, f, ev->text);
    return;
  }
  apic__recorder_add(r, apic__rec_fields(ev));
}

/* apic__event, inline: for the events of every delivery (accept, EOI,
   PPR, IF, handler entry, halt, wake), where the call and its register
   saves cost a third of what recording the event does. */
APIC__HOT_INLINE void apic__event_inline(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                                         uint32_t a, uint32_t b) {
  if (s->rec) {
    const apic__recfields f = {.cycle = s->now, .kind = kind, .cpu = cpu, .src = cpu,
                               .vector = vector, .a = a, .b = b};
    apic__recorder_add(s->rec, f);
  }
  if (s->ncalled) apic__event_hooks(s, kind, cpu, vector, a, b);
}

/* Hands an event built as fields (cycle: now) to the direct writer and to
   the hooks. Inline, for the few events built once per message: where it
   is inlined the writer's tests of the fields that are 0 fold away. */
APIC__HOT_INLINE void apic__emit_fields(apic_sim *s, const apic__recfields f) {
  if (s->rec) apic__recorder_add(s->rec, f);
  if (s->ncalled) apic__call_hooks_fields(s, &f);
}
#endif
