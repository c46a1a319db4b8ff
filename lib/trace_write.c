/*
 * trace_write.c - the trace writer: a hook that turns every event into a
 * record (traces/FORMAT.md).
 *
 * Records accumulate in the current chunk's raw buffer, after the snapshot
 * that opens it. When the chunk holds chunk_records records the writer asks
 * the engine for a quiet point (apic_sim_request_quiet) and cuts the chunk
 * there: compress, write, and open the next one with a fresh snapshot. A
 * quiet point lies between two engine events, so the snapshot equals the
 * state that the records before it describe.
 *
 * Compression and file writes run on one worker thread per writer (unless
 * opts.inline_compress), so that on a machine with a spare core the run
 * pays only for encoding records. The hand-off is a ring of APIC__TRC_QUEUE
 * chunks: the run fills one raw buffer while the worker compresses the
 * others, and waits only when the worker is that many chunks behind.
 * Chunks are compressed and written in order, so the bytes do not depend on
 * the thread.
 *
 * The default compressor is the format's own deflate encoder (trace_fmt.c,
 * apic__zdef); an explicit opts.level uses zlib's deflate at that level.
 *
 * Every write is checked; the first error is kept, later writes are skipped,
 * and close reports it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "apicsim/trace.h"
#include "sim.h"
#include "deflate.h"
#include "trace_rec.h"

/* Chunks handed to the worker and not yet written: two let the run keep
   going while the worker is slowed down for a chunk's time. */
#define APIC__TRC_QUEUE 2
#define APIC__TRC_DEFAULT_RECORDS 65536u  /* chunk_records when 0 */

typedef struct index_entry {
  uint64_t offset, first, last;
  uint32_t records;
} index_entry;

/* A chunk ready to be compressed and written. */
typedef struct job {
  apic__buf raw;
  uint32_t nrec;
  uint64_t first, last;
} job;

struct apic_trace_writer {
  apic_sim *s;
  FILE *f;
  int level;              /* zlib level, or -1: apic__zdef */
  int err;                /* guarded by mu once the worker runs */
  char errmsg[256];
  apic__recorder rec;     /* the current chunk (prev_cycle: its last record's) */
  uint64_t done_records;  /* in the chunks before this one */
  /* the worker: owns f, index, offset and zbuf while it runs */
  int threaded;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int io_failed;          /* owned by whoever writes f */
  job ring[APIC__TRC_QUEUE];  /* hand-off: jobs head.. head+njobs-1 are full */
  unsigned head, njobs;
  int stop;
  index_entry *index;
  uint32_t nindex, capindex;
  uint64_t offset;        /* bytes written so far */
  apic_trace_writer_stats st;
  apic__buf zbuf;         /* compressed payload */
  apic__zdef *zd;         /* the default compressor's state */
};

/* Keeps the first error. Called from the worker too: err is read by the
   run only under mu, or after the worker has been joined. */
static void fail(apic_trace_writer *w, int err, const char *what) {
  if (w->threaded) pthread_mutex_lock(&w->mu);
  if (!w->err) {
    w->err = err;
    snprintf(w->errmsg, sizeof w->errmsg, "%s", what);
  }
  if (w->threaded) pthread_mutex_unlock(&w->mu);
  w->io_failed = 1;  /* no chunk after a lost one: the file stays a clean prefix */
}

static void write_bytes(apic_trace_writer *w, const void *p, size_t n) {
  if (w->io_failed) return;
  if (fwrite(p, 1, n, w->f) != n) {
    w->io_failed = 1;
    fail(w, APIC_E_IO, "write failed (disk full or I/O error)");
    return;
  }
  w->offset += n;
}

/* Where the outermost handler returns: apic_core_state does not say, and a
   reader that starts at this snapshot needs it. The snapshot lists entered
   handlers only; one taken but not yet entered is added by the reader at
   its handler_enter record. */
static unsigned idle_below(const apic_cpu *c) {
  if (!c->depth || c->frames[0].kind == APIC__FRAME_PROGRAM ||
      c->frames[0].saved_state != APIC__CORE_DONE)
    return 0;
  return c->frames[0].entered ? APIC__P_IDLE_BELOW : APIC__P_IDLE_BELOW_UNLISTED;
}

/* Numbers a core takes in a snapshot (FORMAT.md), nested vectors aside,
   and the most bytes that makes: the snapshot reserves that much per core
   and writes its varints in place. */
#define APIC__SNAP_CORE_NUMS (17 + 2 + 3 * 8 + 2 + 2 + 4 + 1)
#define APIC__UV_MAX 10  /* bytes of a 64-bit varint */

/* Every handler that has started, outermost first: all of them, however
   deep, or a reader would pop frames it never had at their IRETs. */
_Static_assert(APIC__TRC_MAX_NEST >= APIC__MAX_FRAMES, "a snapshot must list every frame");
static uint32_t started_handlers(const apic_cpu *c, uint16_t *vectors) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < c->depth; k++) {
    const apic__frame *f = &c->frames[k];
    if (f->kind == APIC__FRAME_PROGRAM || f->kind == APIC__FRAME_CALL || !f->entered) continue;
    if (vectors) vectors[n] = f->vector;
    n++;
  }
  return n;
}

static void snapshot(apic_trace_writer *w) {
  apic_sim *s = w->s;
  apic__buf *b = &w->rec.raw;
  const apic_config *cfg = apic_sim_config(s);
  apic__buf_uv(b, w->rec.first);
  for (uint32_t i = 0; i < cfg->ncpus; i++) {
    uint32_t nest = started_handlers(&s->cpus[i], NULL);
    size_t most = (APIC__SNAP_CORE_NUMS + nest) * APIC__UV_MAX;
    if (b->cap - b->n < most && apic__buf_reserve(b, most)) return;
    apic_lapic_state l;
    apic_core_state c;
    apic_lapic_state_get(s, i, &l);
    apic_core_state_get(s, i, &c);
    const uint32_t r32[] = {l.id, l.tpr, l.ldr, l.dfr, l.svr, l.esr, l.icr_lo & ~APIC_ICR_DS,
                            l.icr_hi, l.timer_icr, l.timer_dcr, l.lvt_cmci, l.lvt_timer,
                            l.lvt_thermal, l.lvt_perf, l.lvt_lint0, l.lvt_lint1, l.lvt_error};
    uint8_t *p = b->p + b->n;
    for (size_t k = 0; k < sizeof r32 / sizeof r32[0]; k++) p = apic__put_uv(p, r32[k]);
    p = apic__put_uv(p, l.apic_base);
    p = apic__put_uv(p, l.timer_next);
    for (int k = 0; k < 8; k++) p = apic__put_uv(p, l.irr[k]);
    for (int k = 0; k < 8; k++) p = apic__put_uv(p, l.isr[k]);
    for (int k = 0; k < 8; k++) p = apic__put_uv(p, l.tmr[k]);
    p = apic__put_uv(p, (l.nmi_pending ? APIC__P_NMI : 0u) | (l.smi_pending ? APIC__P_SMI : 0u) |
                        (l.init_pending ? APIC__P_INIT : 0u) |
                        (l.sipi_pending ? APIC__P_SIPI : 0u) |
                        (l.extint_pending ? APIC__P_EXTINT : 0u) |
                        (l.wait_sipi ? APIC__P_WAIT_SIPI : 0u) | idle_below(&s->cpus[i]));
    p = apic__put_uv(p, l.sipi_vector);
    p = apic__put_uv(p, l.ds_until);  /* ICR delivery status derives from these */
    p = apic__put_uv(p, l.sends_pending);
    p = apic__put_uv(p, c.run);
    p = apic__put_uv(p, c.if_flag);
    p = apic__put_uv(p, c.nmi_blocked);
    p = apic__put_uv(p, c.in_smm);
    p = apic__put_uv(p, nest);
    uint16_t v[APIC__TRC_MAX_NEST];
    started_handlers(&s->cpus[i], v);
    for (uint32_t k = 0; k < nest; k++) p = apic__put_uv(p, v[k]);
    b->n = (size_t)(p - b->p);
  }
  for (uint32_t io = 0; io < cfg->nioapics; io++)
    for (uint32_t pin = 0; pin < cfg->ioapic_pins[io]; pin++) {
      uint64_t rte = 0;
      int level = 0;
      apic_ioapic_rte_get(s, io, pin, &rte);
      apic_ioapic_get_pin(s, io, pin, &level);
      apic__buf_uv(b, rte);
      apic__buf_uv(b, (uint64_t)level);
    }
}

/* Opens a chunk whose snapshot holds from cycle `first`. */
static void chunk_open(apic_trace_writer *w, uint64_t first) {
  apic__recorder *r = &w->rec;
  r->raw.n = 0;
  r->nrec = 0;
  r->first = r->prev_cycle = first;
  r->prev_msg = 0;
  r->cut_asked = 0;
  snapshot(w);
}

/* Compresses and writes one chunk (on the worker, or inline). */
static void write_chunk(apic_trace_writer *w, const job *j) {
  if (j->raw.oom) fail(w, APIC_E_NOMEM, "out of memory buffering a chunk");
  if (w->io_failed) return;
  if (j->raw.n > APIC__TRC_MAX_RAW) {
    fail(w, APIC_E_ARG, "a chunk exceeds 256 MiB: lower chunk_records");
    return;
  }
  size_t bound = w->level < 0 ? apic__zdef_bound(j->raw.n) : compressBound((uLong)j->raw.n);
  if (w->zbuf.cap < bound) {
    uint8_t *p = realloc(w->zbuf.p, bound);
    if (!p) { fail(w, APIC_E_NOMEM, "out of memory compressing a chunk"); return; }
    w->zbuf.p = p;
    w->zbuf.cap = bound;
  }
  uLongf zn = (uLongf)bound;
  if (w->level < 0) {
    if (!w->zd && !(w->zd = apic__zdef_new())) {
      fail(w, APIC_E_NOMEM, "out of memory compressing a chunk");
      return;
    }
    zn = (uLongf)apic__zdef_compress(w->zd, w->zbuf.p, j->raw.p, j->raw.n);
  } else if (compress2(w->zbuf.p, &zn, j->raw.p, (uLong)j->raw.n, w->level) != Z_OK) {
    fail(w, APIC_E_IO, "zlib could not compress a chunk");
    return;
  }
  apic__buf h = {0};
  apic__buf_put(&h, APIC__TRC_CHUNK_MAGIC, 4);
  apic__buf_u32(&h, (uint32_t)zn);
  apic__buf_u32(&h, (uint32_t)j->raw.n);
  apic__buf_u32(&h, j->nrec);
  apic__buf_u64(&h, j->first);
  apic__buf_u64(&h, j->last);
  apic__buf_u32(&h, (uint32_t)crc32(0, w->zbuf.p, (uInt)zn));
  if (h.oom) { apic__buf_free(&h); fail(w, APIC_E_NOMEM, "out of memory"); return; }
  apic__buf_u32(&h, (uint32_t)crc32(0, h.p, (uInt)h.n));
  if (w->nindex == w->capindex) {
    uint32_t cap = w->capindex ? w->capindex * 2 : 64;
    index_entry *e = realloc(w->index, cap * sizeof *e);
    if (!e) { apic__buf_free(&h); fail(w, APIC_E_NOMEM, "out of memory for the index"); return; }
    w->index = e;
    w->capindex = cap;
  }
  w->index[w->nindex++] = (index_entry){w->offset, j->first, j->last, j->nrec};
  write_bytes(w, h.p, h.n);
  write_bytes(w, w->zbuf.p, zn);
  apic__buf_free(&h);
  w->st.chunks++;
  w->st.raw_bytes += j->raw.n;
}

static void *worker(void *arg) {
  apic_trace_writer *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->njobs && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    if (!w->njobs) break;  /* stop, and nothing left */
    job *j = &w->ring[w->head];  /* the run does not touch a queued job */
    pthread_mutex_unlock(&w->mu);
    write_chunk(w, j);
    pthread_mutex_lock(&w->mu);
    w->head = (w->head + 1) % APIC__TRC_QUEUE;
    w->njobs--;
    pthread_cond_broadcast(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Hands the current chunk to the worker (waiting while the ring is full)
   and takes the buffer of a written chunk back for the next one. */
static void chunk_flush(apic_trace_writer *w) {
  job j = {w->rec.raw, w->rec.nrec, w->rec.first, w->rec.prev_cycle};
  w->done_records += w->rec.nrec;
  if (!w->threaded) {
    write_chunk(w, &j);
    return;
  }
  pthread_mutex_lock(&w->mu);
  while (w->njobs == APIC__TRC_QUEUE) pthread_cond_wait(&w->cv, &w->mu);
  job *slot = &w->ring[(w->head + w->njobs) % APIC__TRC_QUEUE];
  apic__buf spare = slot->raw;
  *slot = j;
  if (w->njobs++ == 0) pthread_cond_broadcast(&w->cv);  /* the worker may be asleep */
  pthread_mutex_unlock(&w->mu);
  w->rec.raw = spare;
  w->rec.raw.n = 0;
  w->rec.raw.oom = 0;
}

/* A record of the cycle the snapshot was cut after: time did not move on
   (the host wrote a register between two runs at the same cycle). Only the
   chunk's first record can be one; the snapshot then holds from that cycle
   on, and its leading cycle is rewritten to say so. */
static void relabel(apic__recorder *r, uint64_t cycle) {
  uint8_t old[APIC__UV_MAX], now[APIC__UV_MAX];
  size_t n_old = (size_t)(apic__put_uv(old, r->first) - old);
  size_t n_now = (size_t)(apic__put_uv(now, cycle) - now);
  apic__buf *b = &r->raw;
  /* out of memory, even before the snapshot's first number: the chunk is
     lost (reported at its cut), only its running values go on */
  if (!b->oom && (n_now <= n_old || !apic__buf_reserve(b, n_now - n_old))) {
    memmove(b->p + n_now, b->p + n_old, b->n - n_old);
    memcpy(b->p, now, n_now);
    b->n = b->n - n_old + n_now;
  }
  r->first = r->prev_cycle = cycle;
}

void apic__recorder_add(apic__recorder *r, const apic_event *f) {
  const char *text = f->text;
  if (f->cycle < r->first) relabel(r, f->cycle);
  size_t text_n = text ? strlen(text) : 0;
  if (text_n > APIC__TRC_MAX_TEXT) text_n = APIC__TRC_MAX_TEXT;
  apic__buf *b = &r->raw;
  /* after an out-of-memory cap stays short: nothing more is written, but
     the record counts, so that the chunk is still cut and its loss
     reported there (write_chunk) instead of at close */
  if (b->cap - b->n >= APIC__TRC_REC_MAX + text_n ||
      !apic__buf_reserve(b, APIC__TRC_REC_MAX + text_n))
    b->n = (size_t)(apic__rec_encode(b->p + b->n, *f, text, text_n, &r->prev_cycle,
                                     &r->prev_msg) - b->p);
  if (++r->nrec >= r->limit && !r->cut_asked) {
    r->cut_asked = 1;
    apic_sim_request_quiet(r->s);
  }
}

/* A second writer's events (the first is fed by the engine directly). */
void apic__trace_on_event(void *ud, const apic_event *ev) {
  apic_trace_writer *w = ud;
  apic__recorder_add(&w->rec, ev);
}

/* Cuts only where a cycle ends, when the simulation has no more of it (a
   host that writes a register before time moves on is relabel's): the next
   chunk's snapshot then holds from the next cycle, so the chunks' cycles do
   not overlap and a reader that wants the state before that cycle starts at
   the snapshot instead of replaying the chunk before. Otherwise the next
   record asks again. */
static void on_quiet(void *ud, apic_sim *s) {
  apic_trace_writer *w = ud;
  if (!w->rec.cut_asked) return;
  uint64_t now = apic_sim_now(s);
  if (apic_sim_next_event(s) <= now || now == UINT64_MAX) {
    w->rec.cut_asked = 0;
    return;
  }
  chunk_flush(w);
  chunk_open(w, now + 1);
}

int apic_trace_writer_open(apic_trace_writer **out, apic_sim *s, const char *path,
                           const apic_trace_opts *opts, char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !s || !path) {
    if (why_size) snprintf(why, why_size, "out, sim and path must not be NULL");
    return APIC_E_ARG;
  }
  *out = NULL;
  apic_trace_opts o = {0, -1, NULL, 0};
  if (opts) o = *opts;
  if (o.level < -1 || o.level > 9) {
    if (why_size) snprintf(why, why_size, "compression level %d is not -1..9", o.level);
    return APIC_E_ARG;
  }
  apic_trace_writer *w = calloc(1, sizeof *w);
  if (!w) {
    if (why_size) snprintf(why, why_size, "out of memory");
    return APIC_E_NOMEM;
  }
  w->s = s;
  w->rec.limit = o.chunk_records ? o.chunk_records : APIC__TRC_DEFAULT_RECORDS;
  w->rec.s = s;
  w->level = o.level;
  w->f = fopen(path, "wb");
  if (!w->f) {
    if (why_size) snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
    free(w);
    return APIC_E_IO;
  }
  apic__buf body = {0}, h = {0};
  apic__hdr_put(&body, apic_sim_config(s), o.name, w->rec.limit);
  apic__buf_put(&h, APIC__TRC_MAGIC, APIC__TRC_MAGIC_LEN);
  uint8_t ver[4] = {APIC_TRACE_VERSION, 0, 0, 0};  /* u16 version, u16 flags */
  apic__buf_put(&h, ver, 4);
  apic__buf_u32(&h, (uint32_t)body.n);
  apic__buf_put(&h, body.p, body.n);
  apic__buf_u32(&h, (uint32_t)crc32(0, h.p, (uInt)h.n));
  if (h.oom || body.oom) fail(w, APIC_E_NOMEM, "out of memory writing the header");
  else write_bytes(w, h.p, h.n);
  apic__buf_free(&body);
  apic__buf_free(&h);
  int rc = w->err ? w->err : apic_sim_add_hook(s, apic__trace_on_event, on_quiet, w);
  if (!rc) apic__hook_direct(s, apic__trace_on_event, w, &w->rec);  /* else called as a hook */
  if (rc) {
    if (why_size) snprintf(why, why_size, "%s", w->err ? w->errmsg : apic_sim_errmsg(s));
    fclose(w->f);
    remove(path);
    free(w);
    return rc;
  }
  if (!o.inline_compress) {
    if (pthread_mutex_init(&w->mu, NULL) == 0) {
      if (pthread_cond_init(&w->cv, NULL) == 0) {
        if (pthread_create(&w->thread, NULL, worker, w) == 0) w->threaded = 1;
        else pthread_cond_destroy(&w->cv);
      }
      if (!w->threaded) pthread_mutex_destroy(&w->mu);
    }  /* no thread to be had: compress inline, same bytes */
  }
  chunk_open(w, apic_sim_now(s));
  *out = w;
  return APIC_OK;
}

/* The machine is being destroyed before the writer was closed: forget it,
   so that close still finishes the file with every record so far. */
void apic__trace_orphan(void *ud) {
  apic_trace_writer *w = ud;
  w->s = NULL;
}

int apic_trace_writer_close(apic_trace_writer *w) {
  if (!w) return APIC_E_ARG;
  /* from inside a hook the hook list cannot change: the writer stays open;
     w->s is NULL when the machine was destroyed first (apic__trace_orphan) */
  if (w->s && apic_sim_remove_hook(w->s, apic__trace_on_event, w) == APIC_E_STATE)
    return APIC_E_STATE;
  chunk_flush(w);
  if (w->threaded) {  /* let the worker finish, then own the file again */
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->threaded = 0;
  }
  apic__buf ix = {0};
  apic__buf_put(&ix, APIC__TRC_INDEX_MAGIC, 4);
  apic__buf_u32(&ix, w->nindex);
  for (uint32_t i = 0; i < w->nindex; i++) {
    apic__buf_u64(&ix, w->index[i].offset);
    apic__buf_u64(&ix, w->index[i].first);
    apic__buf_u64(&ix, w->index[i].last);
    apic__buf_u32(&ix, w->index[i].records);
  }
  apic__buf_u32(&ix, (uint32_t)crc32(0, ix.p, (uInt)ix.n));
  uint64_t ix_off = w->offset;
  apic__buf_u64(&ix, ix_off);
  apic__buf_put(&ix, APIC__TRC_END_MAGIC, 8);  /* includes the terminating 0 */
  if (ix.oom) fail(w, APIC_E_NOMEM, "out of memory writing the index");
  else write_bytes(w, ix.p, ix.n);
  apic__buf_free(&ix);
  if (fflush(w->f) != 0) fail(w, APIC_E_IO, "flush failed (disk full or I/O error)");
  if (fclose(w->f) != 0) fail(w, APIC_E_IO, "close failed (disk full or I/O error)");
  int rc = w->err;
  apic__buf_free(&w->rec.raw);
  for (unsigned i = 0; i < APIC__TRC_QUEUE; i++) apic__buf_free(&w->ring[i].raw);
  apic__buf_free(&w->zbuf);
  apic__zdef_free(w->zd);
  free(w->index);
  free(w);
  return rc;
}

int apic_trace_writer_error(const apic_trace_writer *w, const char **msg) {
  if (!w) {
    if (msg) *msg = "writer is NULL";
    return APIC_E_ARG;
  }
  apic_trace_writer *mw = (apic_trace_writer *)(uintptr_t)w;  /* lock only */
  if (w->threaded) pthread_mutex_lock(&mw->mu);
  int err = w->err;
  if (msg) *msg = err ? w->errmsg : "";
  if (w->threaded) pthread_mutex_unlock(&mw->mu);
  return err;
}

void apic_trace_writer_stats_get(const apic_trace_writer *w, apic_trace_writer_stats *out) {
  if (!out) return;
  if (!w) { memset(out, 0, sizeof *out); return; }
  apic_trace_writer *mw = (apic_trace_writer *)(uintptr_t)w;  /* lock only */
  if (w->threaded) {  /* the worker updates chunks, raw_bytes and offset: let it finish */
    pthread_mutex_lock(&mw->mu);
    while (mw->njobs) pthread_cond_wait(&mw->cv, &mw->mu);
  }
  *out = w->st;
  out->records = w->done_records + w->rec.nrec;  /* both the run's: no lock needed */
  out->file_bytes = w->offset;
  if (w->threaded) pthread_mutex_unlock(&mw->mu);
}
