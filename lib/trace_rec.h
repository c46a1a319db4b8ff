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

/* A record of a cycle before `first` (trace_write.c says when). */
void apic__recorder_relabel(apic__recorder *r, uint64_t cycle);

/* Records an event given as fields (see apic__recfields). */
APIC__HOT_INLINE void apic__recorder_add(apic__recorder *r, const apic__recfields f) {
  if (f.cycle < r->first) apic__recorder_relabel(r, f.cycle);
  apic__rec_put(&r->raw, f, &r->prev_cycle, &r->prev_msg);
  if (++r->nrec >= r->limit && !r->cut_asked) {
    r->cut_asked = 1;
    apic_sim_request_quiet(r->s);
  }
}

/* Records an event; one with text goes the long way. */
APIC__HOT_INLINE void apic__recorder_put(apic__recorder *r, const apic_event *ev) {
  if (!ev->text) {
    apic__recorder_add(r, apic__rec_fields(ev));
    return;
  }
  if (ev->cycle < r->first) apic__recorder_relabel(r, ev->cycle);
  apic__rec_put_any(&r->raw, ev, &r->prev_cycle, &r->prev_msg);
  if (++r->nrec >= r->limit && !r->cut_asked) {
    r->cut_asked = 1;
    apic_sim_request_quiet(r->s);
  }
}

/* Hands an event built as fields (cycle: now) to the direct writer and to
   the hooks. Inline, for the few events built once per message: where it
   is inlined the writer's tests of the fields that are 0 fold away. */
APIC__HOT_INLINE void apic__emit_fields(apic_sim *s, const apic__recfields f) {
  if (s->rec) apic__recorder_add(s->rec, f);
  if (s->ncalled) apic__call_hooks_fields(s, &f);
}
#endif
