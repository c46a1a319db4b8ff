/*
 * model.c - apicview's model: what there is to draw in a cycle window,
 * decoded from the trace on demand (viewer.h, "model").
 *
 * Open reads the header and the chunk directory only (apic_trace_open).
 *
 * Blocks. The unit of decoding is the trace chunk, but what a block holds is
 * defined by cycles, not by where the writer cut: block i is every record
 * with a cycle in [first_i, first_i+1) (the last block ends after the last
 * cycle). Records at the cycle where one chunk ends and the next starts may
 * sit in either chunk; by cycle they belong to one block, and the reader
 * stands exactly there after apic_trace_seek(first_i - 1): the state after
 * every record before first_i, block i's records next. Reading one record
 * past the block (the "lookahead") finds its end; the decoder keeps that
 * record, so that block i + 1 continues without a seek. Decoding is
 * resumable (dec_open, dec_step), so that background work keeps to budgets.
 *
 * Lane state is the reader's own core state (apic_trace_core_state) at the
 * block start and after every record that can change it: handler while a
 * handler has started (innermost vector, depth), else wait-for-SIPI, halt
 * (HLT or program done), IF = 0, run; none for a core without a program.
 * This relies on the reader's replay of records agreeing with its chunk
 * snapshots, i.e. with what apic_trace_seek answers anywhere; the tests
 * compare the two at every cycle.
 *
 * Readers: one for the block cache (and statistics, and the worker's
 * prefetches), one for the overview, and one handed out by vw_model_trace()
 * for the state panel, so that no user moves another's position.
 *
 * Block cache. A decoded block keeps its records (find, pick), a compact
 * copy of the records linking needs, per core lane segments covering the
 * whole block, and pin level changes. It holds about CACHE_RECORDS records
 * (at least CACHE_MIN_BLOCKS blocks) and evicts the least recently used
 * block that the current call does not need; buffers are reused.
 *
 * Prefetching. Every vw_model_overview_step queues the blocks a pan will
 * want next: those of the last zoomed-in window not cached, then PF_AHEAD
 * more in the way it moves and PF_BEHIND the other. A worker thread
 * decodes them, whole, with the cache's reader, into slots taken for them;
 * the main thread takes each finished one into the cache on a later call,
 * with what the worker found on the way (new pins, a failure), which only
 * the main thread records. Whenever the main thread needs the cache's
 * reader itself (a block not prefetched, statistics) it first drops the
 * queued ones and waits for the one being decoded. Without a worker (no
 * thread could be made, or APICVIEW_NO_WORKER is set) one block at a time
 * is decoded in slices, within the step's budget.
 *
 * Links. Messages and arrows come from linking, in order, the blocks of the
 * window (plus a neighbour block when the window is within its own width
 * of it). An arrow starts at the sender's ICR write (ICR_WRITE carries the
 * id its message will get; a write without one is matched to the sender's
 * next MSG_SEND of the same vector and mode), or at the I/O APIC pin edge,
 * else at the MSG_SEND; it ends at each receiver's IRR_SET (PENDING for the
 * NMI/SMI/INIT/SIPI inputs), IRR_COALESCED, and at the handler entry that
 * serves it: the message whose IRR_SET is pending per (receiver, vector)
 * moves onto a frame at ACCEPT (NMI: at the NMI) and is served at
 * HANDLER_ENTER (fixed or NMI), frames mirroring the reader's (innermost
 * frame not yet entered). Every arrow with both ends in the window is
 * found, since the blocks between are linked too. Links are kept: a window
 * inside the linked blocks only filters, panning right continues them
 * (dropping what ended before), anything else links again. Messages stay
 * in the order they were sent and arrows in the order they ended, so the
 * filter looks only at those within the longest life (reach) seen so far.
 *
 * Overview. vw_model_overview_step decodes every block once, in order, in
 * slices, and folds lane spans into per core buckets (dominant state by
 * time, a mixed flag, events per bucket) and pin levels into per pin
 * buckets. A window over more than DETAIL_BLOCKS blocks (and more than
 * DETAIL_RECORDS records) is drawn from it, one pass per pixel column;
 * buckets not built yet read as VW_NONE. The pass also notes which event
 * kinds and vectors each block holds, so that find skips blocks. Each call
 * first queues the prefetches (above). Event counts per core and bucket
 * also give the minimap its density, summed to the width asked for in a
 * table brought up to date only where the overview grew.
 *
 * Damaged traces: a block whose chunk fails to decode keeps the records
 * read before the failure and is marked; the next block repositions the
 * reader (past the damage if need be). Nothing fails beyond that block.
 *
 * State panel. vw_model_trace_at moves the panel's reader to the playhead
 * by reading on from where it stands when the records between are fewer
 * than a seek would replay (counted in the cached blocks), else seeks.
 *
 * No global state; every buffer belongs to the model and is reused; the
 * last query and the last two statistics are answered again for free.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "viewer.h"

#define NONE32 UINT32_MAX

enum {
  DETAIL_BLOCKS = 8,              /* a window over at most this many blocks is drawn */
  DETAIL_RECORDS = 1 << 16,       /* from chunk data, or over at most this many records */
  DETAIL_SMALL_BLOCKS = 1024,     /* (in at most this many small blocks) */
  CACHE_RECORDS = 1 << 19,        /* records the block cache keeps (soft) */
  CACHE_MIN_BLOCKS = 16,
  OV_MIN_BUCKETS = 4096,
  OV_MAX_BUCKETS = 65536,
  OV_MAX_CELLS = 1 << 22,         /* ncpus x buckets */
  MAX_FRAMES = 256,               /* handler frames tracked per core when linking */
  LK_RING = 1 << 18,              /* messages a link range can hold (ids in flight at once) */
  LK_PEND_CPUS = 1024,            /* up to this many cores, pending slots are an array */
  STATS_EXTRA_RECORDS = 1 << 16,  /* records read past the window for late handler entries */
  PANEL_SEEK_RECORDS = 4096,      /* what a seek costs besides its replay (reading the chunk),
                                     in records read */
  MAX_TEXT = 65536
};

enum {
  PF_JOBS = 3,              /* prefetches queued for the worker at once */
  PF_AHEAD = 4,             /* blocks decoded ahead of a window, in the way it moves */
  PF_BEHIND = 2             /* and behind it */
};

/* Records that can change apic_core_state (lib/trace_read.c apply()). */
#define KBIT(k) (1ull << (k))
#define STATE_KINDS                                                                        \
  (KBIT(APIC_EV_ACCEPT) | KBIT(APIC_EV_NMI) | KBIT(APIC_EV_SMI) | KBIT(APIC_EV_EXTINT) |  \
   KBIT(APIC_EV_INIT) | KBIT(APIC_EV_SIPI) | KBIT(APIC_EV_HANDLER_ENTER) |                 \
   KBIT(APIC_EV_HANDLER_EXIT) | KBIT(APIC_EV_IF_CHANGE) | KBIT(APIC_EV_HALT) |            \
   KBIT(APIC_EV_WAKE) | KBIT(APIC_EV_PROGRAM_START) | KBIT(APIC_EV_PROGRAM_DONE))
/* Records drawn on the bus lane rather than on a core. */
#define BUS_KINDS                                                                          \
  (KBIT(APIC_EV_MSG_SEND) | KBIT(APIC_EV_MSG_ARB) | KBIT(APIC_EV_MSG_RETRY) |              \
   KBIT(APIC_EV_MSG_DONE) | KBIT(APIC_EV_MSG_NOTARGET))
#define PIN_KINDS                                                                          \
  (KBIT(APIC_EV_PIN) | KBIT(APIC_EV_RTE_WRITE) | KBIT(APIC_EV_REMOTE_IRR_SET) |            \
   KBIT(APIC_EV_REMOTE_IRR_CLR))

static int kind_in(uint32_t kind, uint64_t set) { return kind < 64 && ((set >> kind) & 1); }

/* ---- small helpers ---- */

/* Makes room for `need` elements in the array *pp (any pointer type: the
   pointer is copied, not accessed as void *); 0 on success. */
static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *p;
  memcpy(&p, pp, sizeof p);
  void *q = realloc(p, c * elem);
  if (!q) return -1;
  memcpy(pp, &q, sizeof q);
  *cap = c;
  return 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* A u64 -> u64 map: open addressing, linear probing, backward-shift delete. */
typedef struct hmap {
  uint64_t *k, *v;
  uint8_t *used;
  size_t cap, n;
} hmap;

static size_t hslot(const hmap *h, uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k & (h->cap - 1);
}

static int hget(const hmap *h, uint64_t k, uint64_t *v) {
  if (!h->cap) return 0;
  for (size_t i = hslot(h, k); h->used[i]; i = (i + 1) & (h->cap - 1))
    if (h->k[i] == k) {
      if (v) *v = h->v[i];
      return 1;
    }
  return 0;
}

static int hput(hmap *h, uint64_t k, uint64_t v) {
  if ((h->n + 1) * 4 > h->cap * 3) {
    hmap g = {0};
    g.cap = h->cap ? h->cap * 2 : 256;
    g.k = malloc(g.cap * sizeof *g.k);
    g.v = malloc(g.cap * sizeof *g.v);
    g.used = calloc(g.cap, 1);
    if (!g.k || !g.v || !g.used) {
      free(g.k);
      free(g.v);
      free(g.used);
      return -1;
    }
    for (size_t i = 0; i < h->cap; i++) {
      if (!h->used[i]) continue;
      size_t j = hslot(&g, h->k[i]);
      while (g.used[j]) j = (j + 1) & (g.cap - 1);
      g.used[j] = 1;
      g.k[j] = h->k[i];
      g.v[j] = h->v[i];
    }
    g.n = h->n;
    free(h->k);
    free(h->v);
    free(h->used);
    *h = g;
  }
  size_t i = hslot(h, k);
  while (h->used[i] && h->k[i] != k) i = (i + 1) & (h->cap - 1);
  if (!h->used[i]) h->n++;
  h->used[i] = 1;
  h->k[i] = k;
  h->v[i] = v;
  return 0;
}

static void hdel(hmap *h, uint64_t k) {
  if (!h->cap) return;
  size_t mask = h->cap - 1, i = hslot(h, k);
  while (h->used[i] && h->k[i] != k) i = (i + 1) & mask;
  if (!h->used[i]) return;
  for (size_t j = (i + 1) & mask; h->used[j]; j = (j + 1) & mask) {
    size_t home = hslot(h, h->k[j]);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      h->k[i] = h->k[j];
      h->v[i] = h->v[j];
      i = j;
    }
  }
  h->used[i] = 0;
  h->n--;
}

static void hclear(hmap *h) {
  if (h->cap && h->n) memset(h->used, 0, h->cap);
  h->n = 0;
}

static void hfree(hmap *h) {
  free(h->k);
  free(h->v);
  free(h->used);
  memset(h, 0, sizeof *h);
}

/* ---- the model ---- */

typedef struct lane { uint16_t vector; uint8_t state, depth; } lane;

static int lane_eq(lane a, lane b) {
  return a.state == b.state && a.vector == b.vector && a.depth == b.depth;
}

static lane lane_of(const apic_core_state *cs) {
  lane l = {0, VW_NONE, 0};
  if (cs->nest > 0) {
    uint32_t k = cs->nest < APIC_CORE_MAX_NEST ? cs->nest : APIC_CORE_MAX_NEST;
    l.state = VW_HANDLER;
    l.vector = cs->vectors[k - 1];
    l.depth = (uint8_t)(cs->nest - 1 > 255 ? 255 : cs->nest - 1);
    return l;
  }
  switch (cs->run) {
  case APIC_CORE_RUNNING: l.state = cs->if_flag ? VW_RUN : VW_IRQOFF; break;
  case APIC_CORE_HALTED:
  case APIC_CORE_DONE: l.state = VW_HALT; break;
  case APIC_CORE_WAIT_SIPI: l.state = VW_WAIT_SIPI; break;
  default: l.state = VW_NONE; break;
  }
  return l;
}

typedef struct pinchg { uint64_t cycle; uint32_t g; uint8_t level; } pinchg;

/* A decoded block (see the top of the file). */
typedef struct block {
  uint32_t idx;
  int err;                  /* decoding stopped early (0 if whole) */
  uint64_t stamp;           /* last call that used it */
  apic_event *ev;
  size_t nev, evcap;
  char *text;               /* marker texts, NUL-terminated, ev[].text points here */
  size_t ntext, textcap;
  vw_seg *seg;              /* per core, in time order, covering the whole block */
  size_t nseg, segcap;
  uint32_t *segoff;         /* ncpus + 1 */
  uint8_t *pin0;            /* pin levels at the block start, per global pin */
  struct lrec *lr;          /* the records linking needs */
  size_t nlr, lrcap;
  pinchg *pc;               /* level changes, by pin then cycle */
  size_t npc, pccap;
  uint32_t *pcoff;          /* npins + 1 */
} block;

/* A block being decoded ahead of need, into a cache slot. */
enum { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };
typedef struct pfjob {
  int state;                /* JOB_* (under wk_mu if there is a worker) */
  int used;                 /* not JOB_FREE: what the main thread reads without the lock */
  uint64_t seq;             /* queued in this order */
  uint32_t slot, blk;
  block *b;                 /* m->slots[slot] (the worker does not read m->slots) */
  int rc;                   /* the decoder's error */
  uint32_t *found, nfound;  /* pins seen first in it, in order (npins) */
  uint8_t *seen;            /* npins */
} pfjob;

/* A reader standing between two blocks, and the lane state there. */
typedef struct dec {
  apic_trace *t;
  uint32_t pos;             /* block whose start it stands at, or NONE32 */
  int la;                   /* 0 none, 1 lookahead record held, 2 end of trace */
  apic_event laev;
  char *latext;
  uint64_t lane_floor;      /* lane changes are never placed before this cycle */
  uint32_t blk;             /* block being decoded, or NONE32 */
  int rc;                   /* its reader error so far */
  lane *cur;                /* ncpus: lane state at the position */
  uint8_t *pin;             /* npins: levels at the position */
  char err[256];            /* its last reader error, for the curious */
  /* on the worker: what the model learns is kept for the main thread */
  int defer;
  uint32_t *found;          /* pins found, in order: its job's arrays */
  uint32_t nfound;
  uint8_t *seen;
} dec;

struct vw_model;
typedef struct sink {
  void (*begin)(struct vw_model *m, void *ctx, uint32_t blk, const dec *d, int rc);
  void (*event)(struct vw_model *m, void *ctx, const apic_event *ev);
  void (*lane)(struct vw_model *m, void *ctx, uint32_t cpu, uint64_t cycle, lane nl);
  void (*pin)(struct vw_model *m, void *ctx, uint32_t g, uint64_t cycle, uint8_t level);
  void (*end)(struct vw_model *m, void *ctx, uint32_t blk, int rc);
  void *ctx;
} sink;

/* Message linking (see the top of the file). */
typedef struct lmsg {
  vw_msg v;
  uint64_t ocycle;
  uint32_t olane;
  uint8_t fly;              /* stats: 1 in flight (counted), 2 delivered, 4 left the sender */
} lmsg;
typedef struct lframe { uint64_t msg; uint16_t vector; uint8_t entered; } lframe;
typedef struct lstack { lframe *f; uint32_t n, cap; } lstack;
typedef struct licr { uint64_t cycle; uint8_t vector, mode, valid; } licr;
typedef struct lpin { uint64_t cycle; uint8_t vector, armed; } lpin;

typedef struct sacc {
  uint64_t from, to;
  uint32_t n;
  uint32_t *matrix;
  uint64_t deliveries;
  uint64_t *lat[256];
  size_t nlat[256], latcap[256];
  int nomem;
} sacc;

/* Message ids are dense and increasing: a ring indexed by id finds the
   messages of a range without hashing (the stored id tells a stale entry). */
typedef struct lslot { uint64_t id, icr; uint32_t idx; uint8_t has_icr, flying; } lslot;
typedef struct lpend { uint64_t msg; uint32_t gen; } lpend;

typedef struct linker {
  int stats;                /* 1: messages only in the ring, arrows into `acc` */
  lmsg *msgs;               /* query mode: every message of the range; stats: by ring slot */
  size_t nmsgs, msgcap;
  lslot *slot;              /* LK_RING, by id */
  vw_arrow *arrows;
  size_t narrows, arrowcap;
  licr *lasticr;            /* per core: ICR write without a message id */
  lpin *armed;              /* per pin: last edge not yet matched */
  lpend *pendv;             /* (cpu, slot) -> message id in IRR / input, when cores are few */
  uint32_t pendgen;
  hmap pend;                /* the same, for many cores */
  lstack *frames;           /* per core */
  sacc *acc;
  uint64_t open;            /* stats: messages from the window in flight, or waiting for a
                               handler */
  /* messages are kept in the order they were sent, arrows in the order they
     ended; these bound how far from that a window's ones can be: the longest
     a message lasted, how far an arrow reaches after its end, and before */
  uint64_t maxlife, maxfwd, maxback;
  int nomem;
} linker;

typedef struct ovacc {      /* per core: the bucket being filled */
  uint32_t b;
  uint64_t t[VW_STATE_COUNT];
  uint64_t hbest;
  uint16_t hvec;
  uint8_t hdepth, states, hmixed;
} ovacc;

typedef struct ovcell { uint16_t vector; uint8_t state, dm; } ovcell;  /* dm: depth | 0x80 mixed */
#define OV_MIXED 0x80u

typedef struct pinacc { uint32_t b; uint64_t hi, lo; } pinacc;

struct vw_model {
  apic_trace *tpanel;       /* vw_model_trace(): the state panel's */
  const apic_trace_info *info;
  uint32_t ncpus, nblocks, npins;
  uint32_t gbase[APIC_MAX_IOAPICS];  /* first global pin of each I/O APIC */
  uint64_t first, end;      /* trace cycles: [first, end) */
  uint64_t *bs, *be;        /* block cycle ranges */
  uint64_t *brec;           /* records before chunk i (nblocks + 1) */

  /* pins that change level, in the order they were found */
  uint32_t *pinlist, npinlist;
  uint8_t *pinlisted;

  /* block cache */
  dec dcache;
  block **slots;
  uint32_t nslots;
  size_t slotcap;
  uint32_t *where;          /* block -> slot, or NONE32 */
  pfjob pf[PF_JOBS];        /* prefetches (state under wk_mu) */
  uint64_t pf_seq;
  sink pfsink;              /* without a worker: the one being decoded */
  SDL_Thread *wk;           /* the worker that decodes them, or NULL */
  SDL_mutex *wk_mu;
  SDL_cond *wk_cv;          /* a job queued or done, or quit */
  int wk_quit;
  uint32_t d_b0, d_b1;      /* blocks of the last zoomed-in window */
  int d_valid, d_right;     /* (d_right: it moved right) */
  uint64_t cached_records, opstamp;
  vw_seg *tseg;             /* block building scratch */
  uint32_t *tcpu;
  size_t ntseg, tsegcap, tcpucap;
  pinchg *tpc;
  size_t ntpc, tpccap;
  uint64_t *span0;          /* ncpus */
  lane *at;                 /* ncpus */
  size_t *textat;           /* (event index, text offset) pairs */
  size_t ntextat, textatcap;

  /* overview */
  dec dov;
  uint32_t ov_next;         /* next block to fold in */
  uint32_t ovb;             /* bucket of the last record counted, [ovb_from, ovb_to) */
  uint64_t ovb_from, ovb_to;
  uint32_t nb;              /* buckets */
  uint64_t bw;              /* cycles per bucket */
  ovcell *cells;            /* ncpus x nb */
  uint32_t *counts;         /* ncpus x nb */
  uint32_t dirty_lo, dirty_hi;  /* buckets whose counts changed since dtab was brought up to date */
  uint32_t *dtab;           /* ncpus x dtab_nb: vw_model_density_table */
  uint32_t dtab_nb;
  uint64_t dver;            /* vw_model_density_version */
  ovacc *acc;               /* ncpus */
  uint64_t *ospan0;         /* ncpus */
  lane *oat;                /* ncpus */
  int ov_started;
  uint8_t **pinov;          /* per global pin: level per bucket, or NULL */
  pinacc *pacc;             /* per global pin */
  uint64_t *pspan0;
  uint8_t *plevel;
  uint64_t *bkinds;         /* per block: event kinds present */
  uint32_t *bvecs;          /* per block: 8 words of vectors present */
  uint8_t *bsumm;           /* per block: 1 once bkinds/bvecs are known */
  uint8_t *bbad;            /* per block: 1 if a decode failed */

  /* links of the blocks [lk_lo, lk_hi] */
  linker lk;
  uint32_t lk_lo, lk_hi;
  linker slk;               /* statistics */

  /* query output */
  vw_frame frame;
  size_t *lanecap;
  size_t *pincap;
  block **qblk;             /* the blocks of the current query */
  size_t qblkcap;
  uint64_t *colx;           /* overview columns: first cycle, first bucket */
  uint32_t *colb;
  size_t colxcap, colbcap;
  vw_pinseg *pscratch;
  size_t pscratchcap;
  size_t msgcap, arrowcap;
  uint64_t gen;             /* bumped whenever what a query sees may change */
  vw_stats st[2];           /* the last two statistics, for [st_from, st_to) */
  uint64_t st_from[2], st_to[2];
  int st_valid[2];
  uint64_t q_from, q_to, q_gen, q_prev_from;
  uint32_t q_cols;
  int q_valid;

  /* where vw_model_trace_at left the panel's reader: at tp_at, its clock at tp_now */
  uint64_t tp_at, tp_now;
  int tp_valid;
};

/* ---- blocks and pins ---- */

/* The block holding cycle c (the last one whose start is at or before c). */
static uint32_t block_of(const vw_model *m, uint64_t c) {
  uint32_t lo = 0, hi = m->nblocks;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (m->bs[mid] <= c) lo = mid; else hi = mid;
  }
  return lo;
}

static int pin_global(const vw_model *m, const apic_event *ev, uint32_t *g) {
  const apic_config *cfg = &m->info->config;
  if (!(ev->flags & APIC_EVF_IOAPIC) || ev->src >= cfg->nioapics ||
      ev->a >= cfg->ioapic_pins[ev->src])
    return 0;
  *g = m->gbase[ev->src] + ev->a;
  return 1;
}

static void pin_found(vw_model *m, uint32_t g) {
  if (m->pinlisted[g]) return;
  m->gen++;
  m->pinlisted[g] = 1;
  m->pinlist[m->npinlist++] = g;
}

uint32_t vw_model_pins(const vw_model *m, uint32_t i, uint32_t *io, uint32_t *pin) {
  if (!m) return 0;
  if (i < m->npinlist) {
    uint32_t g = m->pinlist[i], k = 0;
    while (k + 1 < m->info->config.nioapics && m->gbase[k + 1] <= g) k++;
    if (io) *io = k;
    if (pin) *pin = g - m->gbase[k];
  }
  return m->npinlist;
}

/* ---- the decoder ---- */

static int dec_init(vw_model *m, dec *d, const char *path, char *why, size_t why_size) {
  int rc = apic_trace_open(&d->t, path, why, why_size);
  if (rc) return rc;
  d->pos = d->blk = NONE32;
  d->latext = malloc(MAX_TEXT + 1);
  d->cur = calloc(m->ncpus, sizeof *d->cur);
  d->pin = calloc(m->npins + 1, 1);
  if (!d->latext || !d->cur || !d->pin) {
    if (why_size) snprintf(why, why_size, "%s: out of memory", path);
    return APIC_E_NOMEM;
  }
  return APIC_OK;
}

static void dec_free(dec *d) {
  apic_trace_close(d->t);
  free(d->latext);
  free(d->cur);
  free(d->pin);
  memset(d, 0, sizeof *d);
}

/* What a pin lane shows: the line asserted, its level against the entry's
   polarity, so that an active-low line is high while it raises interrupts. */
static uint8_t pin_asserted(dec *d, uint32_t io, uint32_t p) {
  uint64_t rte = 0;
  int level = 0;
  apic_trace_ioapic_pin(d->t, io, p, &rte, &level);
  return (uint8_t)((level != 0) ^ ((rte & APIC_RTE_POLARITY) != 0));
}

/* The lane state of every core from the reader, at the position. */
static void dec_sync_all(vw_model *m, dec *d) {
  for (uint32_t c = 0; c < m->ncpus; c++) {
    apic_core_state cs;
    if (apic_trace_core_state(d->t, c, &cs) == APIC_OK) d->cur[c] = lane_of(&cs);
    else d->cur[c] = (lane){0, VW_NONE, 0};
  }
  const apic_config *cfg = &m->info->config;
  for (uint32_t io = 0; io < cfg->nioapics; io++)
    for (uint32_t p = 0; p < cfg->ioapic_pins[io]; p++)
      d->pin[m->gbase[io] + p] = pin_asserted(d, io, p);
}

static void dec_lane(vw_model *m, dec *d, uint32_t cpu, uint64_t cycle, lane nl, const sink *k) {
  if (lane_eq(nl, d->cur[cpu])) return;
  if (cycle < d->lane_floor) cycle = d->lane_floor;
  if (k->lane) k->lane(m, k->ctx, cpu, cycle, nl);
  d->cur[cpu] = nl;
}

/* Stands the reader at the start of block i: the state after every record
   before the block's first cycle, the block's records next. */
static int dec_position(vw_model *m, dec *d, uint32_t i) {
  if (d->pos == i) return APIC_OK;
  int rc = m->bs[i] == 0 ? apic_trace_rewind(d->t) : apic_trace_seek(d->t, m->bs[i] - 1);
  if (rc && m->bs[i] + 1 < m->be[i])  /* the chunk before is damaged: start just past */
    rc = apic_trace_seek(d->t, m->bs[i] + 1);
  d->la = 0;
  if (rc) {
    d->pos = NONE32;
    snprintf(d->err, sizeof d->err, "%s", apic_trace_errmsg(d->t));
    return rc;
  }
  dec_sync_all(m, d);
  d->pos = i;
  return APIC_OK;
}

/* One record: lane changes (the reader's core state after it), pin levels,
   then the record itself. */
static void dec_record(vw_model *m, dec *d, const apic_event *ev, const sink *k) {
  if (ev->cpu < m->ncpus && kind_in(ev->kind, STATE_KINDS)) {
    apic_core_state cs;
    if (apic_trace_core_state(d->t, ev->cpu, &cs) == APIC_OK)
      dec_lane(m, d, ev->cpu, ev->cycle, lane_of(&cs), k);
  }
  uint32_t g;
  /* a level change, or a polarity flip, may change what the lane shows */
  if ((ev->kind == APIC_EV_PIN || ev->kind == APIC_EV_RTE_WRITE) && pin_global(m, ev, &g)) {
    uint8_t level = pin_asserted(d, ev->src, ev->a);
    if (ev->kind == APIC_EV_PIN) {
      if (!d->defer) pin_found(m, g);
      else if (!d->seen[g]) d->seen[g] = 1, d->found[d->nfound++] = g;
    }
    if (k->pin && (ev->kind == APIC_EV_PIN || level != d->pin[g]))
      k->pin(m, k->ctx, g, ev->cycle, level);
    d->pin[g] = level;
  }
  if (k->event) k->event(m, k->ctx, ev);
}

/* Starts decoding block i into k (dec_step feeds the records). */
static void dec_open(vw_model *m, dec *d, uint32_t i, const sink *k) {
  d->rc = dec_position(m, d, i);
  d->blk = i;
  d->lane_floor = m->bs[i];
  if (k->begin) k->begin(m, k->ctx, i, d, d->rc);
}

/* Feeds at most `max` more records of the open block; 1 when it is done. */
static int dec_step(vw_model *m, dec *d, const sink *k, size_t max) {
  uint32_t i = d->blk;
  uint64_t e = m->be[i];
  apic_event ev;
  int done = d->rc != APIC_OK;
  for (size_t n = 0; !done && n < max; n++) {
    if (d->la == 1) {
      ev = d->laev;
      d->la = 0;
    } else if (d->la == 2) {
      done = 1;
      break;
    } else {
      int rc = apic_trace_next(d->t, &ev);
      if (rc == APIC_E_END) {
        d->la = 2;
        done = 1;
        break;
      }
      if (rc) {
        d->rc = rc;
        done = 1;
        break;
      }
    }
    if (ev.cycle >= e) {  /* the next block's first record: keep it */
      if (ev.text) {
        size_t tn = strlen(ev.text);
        if (tn > MAX_TEXT) tn = MAX_TEXT;
        if (ev.text != d->latext) memmove(d->latext, ev.text, tn);
        d->latext[tn] = 0;
        ev.text = d->latext;
      }
      d->laev = ev;
      d->la = 1;
      done = 1;
      break;
    }
    dec_record(m, d, &ev, k);
  }
  if (!done) return 0;
  if (d->rc) {
    if (!d->defer) m->bbad[i] = 1;
    snprintf(d->err, sizeof d->err, "%s", apic_trace_errmsg(d->t));
    d->pos = NONE32;
  } else {
    d->pos = i + 1 < m->nblocks ? i + 1 : NONE32;
  }
  d->blk = NONE32;
  if (k->end) k->end(m, k->ctx, i, d->rc);
  return 1;
}

/* Feeds block i's records to k; returns the reader's error, if any. */
static int dec_block(vw_model *m, dec *d, uint32_t i, const sink *k) {
  dec_open(m, d, i, k);
  while (!dec_step(m, d, k, SIZE_MAX)) {}
  return d->rc;
}

/* The records linking needs, and what it needs of them (40 bytes, not 64:
   linking a window's blocks again is bound by reading them). */
typedef struct lrec {
  uint64_t cycle, msg;
  uint32_t cpu, src, dest, flags;
  uint32_t ab;              /* PENDING, SMI: a; MSG_SEND, HANDLER_ENTER: b; PIN: global pin */
  uint8_t kind, vector, mode, pad;
} lrec;

#define LINK_KINDS                                                                         \
  (KBIT(APIC_EV_ICR_WRITE) | KBIT(APIC_EV_PIN) | KBIT(APIC_EV_MSG_SEND) |                  \
   KBIT(APIC_EV_MSG_DONE) | KBIT(APIC_EV_MSG_RETRY) | KBIT(APIC_EV_MSG_NOTARGET) |         \
   KBIT(APIC_EV_MSG_DROPPED) | KBIT(APIC_EV_IRR_SET) | KBIT(APIC_EV_IRR_COALESCED) |       \
   KBIT(APIC_EV_PENDING) | KBIT(APIC_EV_ACCEPT) | KBIT(APIC_EV_NMI) | KBIT(APIC_EV_SMI) |  \
   KBIT(APIC_EV_EXTINT) | KBIT(APIC_EV_HANDLER_ENTER) | KBIT(APIC_EV_HANDLER_EXIT) |       \
   KBIT(APIC_EV_INIT) | KBIT(APIC_EV_RESET))

/* 1 if linking needs ev, described in *r. */
static int to_lrec(const vw_model *m, const apic_event *ev, lrec *r) {
  if (!kind_in(ev->kind, LINK_KINDS)) return 0;
  uint32_t ab = ev->kind == APIC_EV_MSG_SEND || ev->kind == APIC_EV_HANDLER_ENTER ? ev->b : ev->a;
  if (ev->kind == APIC_EV_PIN && !pin_global(m, ev, &ab)) ab = NONE32;
  *r = (lrec){ev->cycle, ev->msg, ev->cpu, ev->src, ev->dest, ev->flags, ab,
              (uint8_t)ev->kind, ev->vector, ev->mode, 0};
  return 1;
}

/* ---- building a cached block ---- */

static void block_free(block *b);

static void bb_begin(vw_model *m, void *ctx, uint32_t blk, const dec *d, int rc) {
  block *b = ctx;
  b->idx = blk;
  b->err = 0;
  b->nev = b->ntext = b->nseg = b->npc = b->nlr = 0;
  m->ntseg = m->ntpc = m->ntextat = 0;
  for (uint32_t c = 0; c < m->ncpus; c++) {
    m->span0[c] = m->bs[blk];
    m->at[c] = rc ? (lane){0, VW_NONE, 0} : d->cur[c];
  }
  if (b->pin0) {
    if (rc) memset(b->pin0, 0, m->npins);
    else memcpy(b->pin0, d->pin, m->npins);
  }
}

static void bb_event(vw_model *m, void *ctx, const apic_event *ev) {
  block *b = ctx;
  if (b->err) return;
  if (grow(&b->ev, &b->evcap, b->nev + 1, sizeof *b->ev)) {
    b->err = APIC_E_NOMEM;
    return;
  }
  apic_event *e = &b->ev[b->nev];
  *e = *ev;
  e->text = NULL;
  if (ev->text) {
    size_t n = strlen(ev->text);
    if (grow(&b->text, &b->textcap, b->ntext + n + 1, 1) ||
        grow(&m->textat, &m->textatcap, m->ntextat + 2, sizeof *m->textat)) {
      b->err = APIC_E_NOMEM;
      return;
    }
    memcpy(b->text + b->ntext, ev->text, n + 1);
    m->textat[m->ntextat++] = b->nev;
    m->textat[m->ntextat++] = b->ntext;
    b->ntext += n + 1;
  }
  b->nev++;
  lrec r;
  if (to_lrec(m, ev, &r)) {
    if (grow(&b->lr, &b->lrcap, b->nlr + 1, sizeof *b->lr)) {
      b->err = APIC_E_NOMEM;
      return;
    }
    b->lr[b->nlr++] = r;
  }
}

static int push_tseg(vw_model *m, uint32_t cpu, uint64_t from, uint64_t to, lane l) {
  if (grow(&m->tseg, &m->tsegcap, m->ntseg + 1, sizeof *m->tseg) ||
      grow(&m->tcpu, &m->tcpucap, m->ntseg + 1, sizeof *m->tcpu))
    return -1;
  m->tseg[m->ntseg] = (vw_seg){from, to, l.state, l.vector, l.depth, 0};
  m->tcpu[m->ntseg++] = cpu;
  return 0;
}

static void bb_lane(vw_model *m, void *ctx, uint32_t cpu, uint64_t cycle, lane nl) {
  block *b = ctx;
  if (cycle > m->span0[cpu]) {
    if (push_tseg(m, cpu, m->span0[cpu], cycle, m->at[cpu])) b->err = APIC_E_NOMEM;
    m->span0[cpu] = cycle;
  }
  m->at[cpu] = nl;
}

static void bb_pin(vw_model *m, void *ctx, uint32_t g, uint64_t cycle, uint8_t level) {
  block *b = ctx;
  if (grow(&m->tpc, &m->tpccap, m->ntpc + 1, sizeof *m->tpc)) {
    b->err = APIC_E_NOMEM;
    return;
  }
  m->tpc[m->ntpc++] = (pinchg){cycle, g, level};
}

static void bb_end(vw_model *m, void *ctx, uint32_t blk, int rc) {
  block *b = ctx;
  if (rc && !b->err) b->err = rc;
  uint64_t e = m->be[blk];
  for (uint32_t c = 0; c < m->ncpus; c++)
    if (e > m->span0[c] && push_tseg(m, c, m->span0[c], e, m->at[c])) b->err = APIC_E_NOMEM;
  /* per core, by counting (stable: each core's segments stay in time order) */
  if (grow(&b->seg, &b->segcap, m->ntseg, sizeof *b->seg)) {
    b->err = APIC_E_NOMEM;
    m->ntseg = 0;
  }
  memset(b->segoff, 0, (m->ncpus + 1) * sizeof *b->segoff);
  for (size_t k = 0; k < m->ntseg; k++) b->segoff[m->tcpu[k] + 1]++;
  for (uint32_t c = 0; c < m->ncpus; c++) b->segoff[c + 1] += b->segoff[c];
  for (size_t k = 0; k < m->ntseg; k++) b->seg[b->segoff[m->tcpu[k]]++] = m->tseg[k];
  for (uint32_t c = m->ncpus; c > 0; c--) b->segoff[c] = b->segoff[c - 1];
  b->segoff[0] = 0;
  b->nseg = m->ntseg;
  /* pin changes by pin */
  if (grow(&b->pc, &b->pccap, m->ntpc, sizeof *b->pc)) {
    b->err = APIC_E_NOMEM;
    m->ntpc = 0;
  }
  memset(b->pcoff, 0, (m->npins + 1) * sizeof *b->pcoff);
  for (size_t k = 0; k < m->ntpc; k++) b->pcoff[m->tpc[k].g + 1]++;
  for (uint32_t g = 0; g < m->npins; g++) b->pcoff[g + 1] += b->pcoff[g];
  for (size_t k = 0; k < m->ntpc; k++) b->pc[b->pcoff[m->tpc[k].g]++] = m->tpc[k];
  for (uint32_t g = m->npins; g > 0; g--) b->pcoff[g] = b->pcoff[g - 1];
  b->pcoff[0] = 0;
  b->npc = m->ntpc;
  for (size_t k = 0; k + 1 < m->ntextat; k += 2)
    if (m->textat[k] < b->nev) b->ev[m->textat[k]].text = b->text + m->textat[k + 1];
}

/* 1 if slot s is being filled by a prefetch (it must not be taken). */
static int slot_busy(const vw_model *m, uint32_t s) {
  for (int k = 0; k < PF_JOBS; k++)
    if (m->pf[k].used && m->pf[k].slot == s) return 1;
  return 0;
}

/* A slot for block i: a new one while the cache has room, else the least
   recently used block not needed by the current call (nor being
   prefetched). NONE32 if out of memory. */
static uint32_t slot_take(vw_model *m, uint32_t i) {
  uint32_t victim = NONE32;
  if (m->nslots >= CACHE_MIN_BLOCKS &&
      m->cached_records + (m->brec[i + 1] - m->brec[i]) > CACHE_RECORDS)
    for (uint32_t k = 0; k < m->nslots; k++)
      if (!slot_busy(m, k) && m->slots[k]->stamp != m->opstamp &&
          (victim == NONE32 || m->slots[k]->stamp < m->slots[victim]->stamp))
        victim = k;
  if (victim != NONE32) {
    block *b = m->slots[victim];
    if (m->where[b->idx] == victim) m->where[b->idx] = NONE32;
    m->cached_records -= b->nev;
    b->nev = 0;
    return victim;
  }
  if (grow(&m->slots, &m->slotcap, (size_t)m->nslots + 1, sizeof *m->slots)) return NONE32;
  block *b = calloc(1, sizeof *b);
  if (!b) return NONE32;
  b->segoff = calloc((size_t)m->ncpus + 1, sizeof *b->segoff);
  b->pin0 = calloc((size_t)m->npins + 1, 1);
  b->pcoff = calloc((size_t)m->npins + 1, sizeof *b->pcoff);
  if (!b->segoff || !b->pin0 || !b->pcoff) {
    block_free(b);
    return NONE32;
  }
  m->slots[m->nslots] = b;
  return m->nslots++;
}

static void slot_fill(vw_model *m, uint32_t s, uint32_t i) {
  m->where[i] = s;
  m->slots[s]->stamp = m->opstamp;
  m->cached_records += m->slots[s]->nev;
}

/* ---- prefetching: decoding ahead of the view ---- */

/* A finished prefetch into the cache, with what the decoder learnt on the
   way (pins, a failure) that the main thread keeps. */
static void job_harvest(vw_model *m, pfjob *j) {
  for (uint32_t k = 0; k < j->nfound; k++) {
    pin_found(m, j->found[k]);
    j->seen[j->found[k]] = 0;
  }
  j->nfound = 0;
  if (j->rc) m->bbad[j->blk] = 1;
  slot_fill(m, j->slot, j->blk);
  j->state = JOB_FREE;
  j->used = 0;
}

/* The finished prefetches, oldest first (under wk_mu if there is a worker). */
static void harvest_done(vw_model *m) {
  for (;;) {
    pfjob *first = NULL;
    for (int k = 0; k < PF_JOBS; k++)
      if (m->pf[k].state == JOB_DONE && (!first || m->pf[k].seq < first->seq)) first = &m->pf[k];
    if (!first) return;
    job_harvest(m, first);
  }
}

/* Ends every prefetch (the cache decoder is needed): the one being decoded
   is finished, those not started are dropped. */
static void prefetch_finish(vw_model *m) {
  if (m->wk) {
    SDL_LockMutex(m->wk_mu);
    for (int k = 0; k < PF_JOBS; k++)
      if (m->pf[k].state == JOB_QUEUED) m->pf[k].state = JOB_FREE, m->pf[k].used = 0;
    for (;;) {
      int running = 0;
      for (int k = 0; k < PF_JOBS; k++) running |= m->pf[k].state == JOB_RUNNING;
      if (!running) break;
      SDL_CondWait(m->wk_cv, m->wk_mu);
    }
    harvest_done(m);
    SDL_UnlockMutex(m->wk_mu);
    return;
  }
  pfjob *j = &m->pf[0];   /* without a worker: one at a time, in slices */
  if (j->state == JOB_RUNNING) {
    while (!dec_step(m, &m->dcache, &m->pfsink, SIZE_MAX)) {}
    j->rc = m->dcache.rc;
    job_harvest(m, j);
  }
  j->state = JOB_FREE;
  j->used = 0;
}

/* The worker: decodes the queued blocks, oldest first, each whole into its
   slot. While it decodes one it alone uses the cache decoder and the block
   building scratch; the main thread ends the prefetches (prefetch_finish)
   before it touches them, and keeps everything else. */
static int worker_main(void *arg) {
  vw_model *m = arg;
  dec *d = &m->dcache;
  SDL_LockMutex(m->wk_mu);
  for (;;) {
    pfjob *j = NULL;
    for (int k = 0; k < PF_JOBS; k++)
      if (m->pf[k].state == JOB_QUEUED && (!j || m->pf[k].seq < j->seq)) j = &m->pf[k];
    if (m->wk_quit) break;
    if (!j) {
      SDL_CondWait(m->wk_cv, m->wk_mu);
      continue;
    }
    j->state = JOB_RUNNING;
    SDL_UnlockMutex(m->wk_mu);
    sink k = {bb_begin, bb_event, bb_lane, bb_pin, bb_end, j->b};
    d->defer = 1;
    d->found = j->found;
    d->seen = j->seen;
    d->nfound = 0;
    dec_block(m, d, j->blk, &k);
    j->rc = d->rc;
    j->nfound = d->nfound;
    d->defer = 0;
    SDL_LockMutex(m->wk_mu);
    j->state = JOB_DONE;
    SDL_CondBroadcast(m->wk_cv);
  }
  SDL_UnlockMutex(m->wk_mu);
  return 0;
}

/* Starts the worker; without one, prefetches run in slices on the caller's
   thread, one at a time (also when APICVIEW_NO_WORKER is set: for tests,
   and to compare). */
static void worker_start(vw_model *m) {
  const char *no = getenv("APICVIEW_NO_WORKER");
  if (no && *no && strcmp(no, "0")) return;
  for (int k = 0; k < PF_JOBS; k++) {
    m->pf[k].found = calloc((size_t)m->npins + 1, sizeof *m->pf[k].found);
    m->pf[k].seen = calloc((size_t)m->npins + 1, 1);
    if (!m->pf[k].found || !m->pf[k].seen) return;
  }
  if (!(m->wk_mu = SDL_CreateMutex()) || !(m->wk_cv = SDL_CreateCond()) ||
      !(m->wk = SDL_CreateThread(worker_main, "apicview-decode", m))) {
    if (m->wk_cv) SDL_DestroyCond(m->wk_cv);
    if (m->wk_mu) SDL_DestroyMutex(m->wk_mu);
    m->wk_cv = NULL;
    m->wk_mu = NULL;
  }
}

static void worker_stop(vw_model *m) {
  if (m->wk) {
    prefetch_finish(m);
    SDL_LockMutex(m->wk_mu);
    m->wk_quit = 1;
    SDL_CondBroadcast(m->wk_cv);
    SDL_UnlockMutex(m->wk_mu);
    SDL_WaitThread(m->wk, NULL);
    SDL_DestroyCond(m->wk_cv);
    SDL_DestroyMutex(m->wk_mu);
    m->wk = NULL;
  }
  for (int k = 0; k < PF_JOBS; k++) {
    free(m->pf[k].found);
    free(m->pf[k].seen);
  }
}

/* Block i, decoded if it is not cached; NULL only if out of memory. */
static block *cache_get(vw_model *m, uint32_t i) {
  if (m->where[i] == NONE32) prefetch_finish(m);
  uint32_t s = m->where[i];
  if (s != NONE32) {
    m->slots[s]->stamp = m->opstamp;
    return m->slots[s];
  }
  if ((s = slot_take(m, i)) == NONE32) return NULL;
  block *b = m->slots[s];
  sink k = {bb_begin, bb_event, bb_lane, bb_pin, bb_end, b};
  dec_block(m, &m->dcache, i, &k);
  slot_fill(m, s, i);
  return b;
}

/* 1 if block i is worth prefetching: it exists, is not cached and is not
   being prefetched. */
static int pf_wants(const vw_model *m, uint32_t i) {
  if (i >= m->nblocks || m->where[i] != NONE32) return 0;
  for (int k = 0; k < PF_JOBS; k++)
    if (m->pf[k].used && m->pf[k].blk == i) return 0;
  return 1;
}

/*
 * Decodes ahead of the last zoomed-in window: its own blocks (it may have
 * been drawn from the overview), in the direction it moves, then PF_AHEAD
 * blocks further that way and PF_BEHIND the other. With the worker, queues
 * them (PF_JOBS at a time) and returns at once; without, decodes one in
 * slices for budget_ms. 1 if there was something to do.
 */
static int prefetch_step(vw_model *m, double t0, double budget_ms) {
  int njobs = m->wk ? PF_JOBS : 1, busy = 0;
  if (m->wk) SDL_LockMutex(m->wk_mu);
  harvest_done(m);
  for (int k = 0; k < njobs; k++) busy += m->pf[k].used;
  if (m->wk) SDL_UnlockMutex(m->wk_mu);
  if (busy < njobs && m->d_valid) {
    uint32_t b0 = m->d_b0, b1 = m->d_b1, want[PF_JOBS], nwant = 0;
    int dir = m->d_right ? 1 : -1;
    uint32_t lead = m->d_right ? b1 : b0, trail = m->d_right ? b0 : b1;
    for (uint32_t k = 0; k <= b1 - b0 && busy + (int)nwant < njobs; k++)
      if (pf_wants(m, lead - (uint32_t)dir * k)) want[nwant++] = lead - (uint32_t)dir * k;
    for (uint32_t k = 1; k <= PF_AHEAD && busy + (int)nwant < njobs; k++)  /* (may wrap: */
      if (pf_wants(m, lead + (uint32_t)dir * k)) want[nwant++] = lead + (uint32_t)dir * k;
    for (uint32_t k = 1; k <= PF_BEHIND && busy + (int)nwant < njobs; k++)  /* no block) */
      if (pf_wants(m, trail - (uint32_t)dir * k)) want[nwant++] = trail - (uint32_t)dir * k;
    if (nwant) {
      m->opstamp++;  /* the blocks of the last window stay */
      for (uint32_t i = b0; i <= b1; i++)
        if (m->where[i] != NONE32) m->slots[m->where[i]]->stamp = m->opstamp;
    }
    for (uint32_t w = 0; w < nwant; w++) {
      pfjob *j = NULL;
      for (int k = 0; k < njobs && !j; k++)
        if (!m->pf[k].used) j = &m->pf[k];
      uint32_t s = j ? slot_take(m, want[w]) : NONE32;
      if (s == NONE32) break;
      if (m->wk) SDL_LockMutex(m->wk_mu);
      j->slot = s;
      j->blk = want[w];
      j->b = m->slots[s];
      j->seq = ++m->pf_seq;
      j->state = JOB_QUEUED;
      j->used = 1;
      if (m->wk) {
        SDL_CondBroadcast(m->wk_cv);
        SDL_UnlockMutex(m->wk_mu);
      }
    }
  }
  if (m->wk) {
    int any = 0;
    for (int k = 0; k < PF_JOBS; k++) any |= m->pf[k].used;
    return any;
  }
  pfjob *j = &m->pf[0];
  if (j->state == JOB_FREE) return 0;
  if (j->state == JOB_QUEUED) {
    m->pfsink = (sink){bb_begin, bb_event, bb_lane, bb_pin, bb_end, j->b};
    dec_open(m, &m->dcache, j->blk, &m->pfsink);
    j->state = JOB_RUNNING;
  }
  while (now_ms() - t0 < budget_ms)
    if (dec_step(m, &m->dcache, &m->pfsink, 2048)) {
      j->rc = m->dcache.rc;
      job_harvest(m, j);
      break;
    }
  return 1;
}

static void block_free(block *b) {
  if (!b) return;
  free(b->ev);
  free(b->lr);
  free(b->text);
  free(b->seg);
  free(b->segoff);
  free(b->pin0);
  free(b->pc);
  free(b->pcoff);
  free(b);
}

/* ---- the overview ---- */

static uint32_t bucket(const vw_model *m, uint64_t c) {
  uint64_t b = (c - m->first) / m->bw;
  return b < m->nb ? (uint32_t)b : m->nb - 1;
}

static uint64_t bucket_start(const vw_model *m, uint32_t b) {
  return sat_add(m->first, (uint64_t)b * m->bw);
}

static uint64_t bucket_end(const vw_model *m, uint32_t b) {
  uint64_t e = sat_add(m->first, ((uint64_t)b + 1) * m->bw);
  return e < m->end ? e : m->end;
}

static void ov_finish(vw_model *m, uint32_t cpu) {
  ovacc *a = &m->acc[cpu];
  if (a->b == NONE32) return;
  uint8_t best = VW_NONE;
  for (uint8_t s = 0; s < VW_STATE_COUNT; s++)
    if (a->t[s] >= a->t[best]) best = s;  /* ties go to the later (higher priority) state */
  ovcell *c = &m->cells[(size_t)cpu * m->nb + a->b];
  int mixed = (a->states & (a->states - 1)) != 0 || a->hmixed;
  c->state = best;
  c->vector = best == VW_HANDLER ? a->hvec : 0;
  c->dm = (uint8_t)((best == VW_HANDLER ? (a->hdepth & 0x7F) : 0) | (mixed ? OV_MIXED : 0));
  memset(a, 0, sizeof *a);
  a->b = NONE32;
}

/* Folds the span [from, to) of one state into cpu's buckets. */
static void ov_span(vw_model *m, uint32_t cpu, uint64_t from, uint64_t to, lane l) {
  ovacc *a = &m->acc[cpu];
  while (from < to) {
    uint32_t b = bucket(m, from);
    uint64_t e = bucket_end(m, b);
    if (e <= from) break;  /* cannot happen: buckets cover [first, end) */
    if (b != a->b) {
      ov_finish(m, cpu);
      a->b = b;
    }
    uint64_t t = to < e ? to : e;
    a->t[l.state] += t - from;
    a->states |= (uint8_t)(1u << l.state);
    if (l.state == VW_HANDLER) {
      if (a->hbest && (a->hvec != l.vector || a->hdepth != l.depth)) a->hmixed = 1;
      if (t - from > a->hbest) {
        a->hbest = t - from;
        a->hvec = l.vector;
        a->hdepth = l.depth;
      }
    }
    from = t;
  }
}

static void pin_finish(vw_model *m, uint32_t g) {
  pinacc *a = &m->pacc[g];
  if (a->b != NONE32 && m->pinov[g]) m->pinov[g][a->b] = a->hi > a->lo;
  a->b = NONE32;
  a->hi = a->lo = 0;
}

static void pin_span(vw_model *m, uint32_t g, uint64_t from, uint64_t to, uint8_t level) {
  if (!m->pinov[g] && !(m->pinov[g] = calloc(m->nb, 1))) return;
  pinacc *a = &m->pacc[g];
  while (from < to) {
    uint32_t b = bucket(m, from);
    uint64_t e = bucket_end(m, b);
    if (e <= from) break;
    if (b != a->b) {
      pin_finish(m, g);
      a->b = b;
    }
    uint64_t t = to < e ? to : e;
    if (level) a->hi += t - from; else a->lo += t - from;
    from = t;
  }
}

static void ov_begin(vw_model *m, void *ctx, uint32_t blk, const dec *d, int rc) {
  (void)ctx;
  m->bkinds[blk] = 0;
  memset(&m->bvecs[(size_t)blk * 8], 0, 8 * sizeof *m->bvecs);
  if (rc) return;
  uint64_t s = m->bs[blk];
  if (!m->ov_started) {
    for (uint32_t c = 0; c < m->ncpus; c++) {
      m->ospan0[c] = s;
      m->oat[c] = d->cur[c];
    }
    for (uint32_t g = 0; g < m->npins; g++) {
      m->pspan0[g] = s;
      m->plevel[g] = d->pin[g];
    }
    m->ov_started = 1;
    return;
  }
  /* after a damaged block the state may have moved on without records */
  for (uint32_t c = 0; c < m->ncpus; c++)
    if (!lane_eq(m->oat[c], d->cur[c])) {
      ov_span(m, c, m->ospan0[c], s, m->oat[c]);
      m->ospan0[c] = s;
      m->oat[c] = d->cur[c];
    }
  for (uint32_t g = 0; g < m->npins; g++)
    if (m->plevel[g] != d->pin[g]) {
      if (m->pinlisted[g]) pin_span(m, g, m->pspan0[g], s, m->plevel[g]);
      m->pspan0[g] = s;
      m->plevel[g] = d->pin[g];
    }
}

static void ov_event(vw_model *m, void *ctx, const apic_event *ev) {
  (void)ctx;
  uint32_t blk = m->ov_next;
  if (ev->kind < 64) m->bkinds[blk] |= KBIT(ev->kind);
  m->bvecs[(size_t)blk * 8 + (ev->vector >> 5)] |= 1u << (ev->vector & 31);
  if (ev->cpu < m->ncpus && ev->cycle >= m->first && ev->cycle < m->end) {
    if (ev->cycle < m->ovb_from || ev->cycle >= m->ovb_to) {  /* records come in order */
      m->ovb = bucket(m, ev->cycle);
      m->ovb_from = bucket_start(m, m->ovb);
      m->ovb_to = bucket_end(m, m->ovb);
    }
    m->counts[(size_t)ev->cpu * m->nb + m->ovb]++;
    if (m->ovb < m->dirty_lo) m->dirty_lo = m->ovb;
    if (m->ovb >= m->dirty_hi) m->dirty_hi = m->ovb + 1;
  }
}

static void ov_lane(vw_model *m, void *ctx, uint32_t cpu, uint64_t cycle, lane nl) {
  (void)ctx;
  ov_span(m, cpu, m->ospan0[cpu], cycle, m->oat[cpu]);
  if (cycle > m->ospan0[cpu]) m->ospan0[cpu] = cycle;
  m->oat[cpu] = nl;
}

static void ov_pin(vw_model *m, void *ctx, uint32_t g, uint64_t cycle, uint8_t level) {
  (void)ctx;
  pin_span(m, g, m->pspan0[g], cycle, m->plevel[g]);
  if (cycle > m->pspan0[g]) m->pspan0[g] = cycle;
  m->plevel[g] = level;
}

static void ov_end(vw_model *m, void *ctx, uint32_t blk, int rc) {
  (void)ctx;
  m->bsumm[blk] = rc == 0;
  if (blk + 1 < m->nblocks || !m->ov_started) return;
  for (uint32_t c = 0; c < m->ncpus; c++) {  /* the last block: close everything */
    ov_span(m, c, m->ospan0[c], m->end, m->oat[c]);
    ov_finish(m, c);
  }
  for (uint32_t i = 0; i < m->npinlist; i++) {
    uint32_t g = m->pinlist[i];
    pin_span(m, g, m->pspan0[g], m->end, m->plevel[g]);
    pin_finish(m, g);
  }
}

int vw_model_overview_step(vw_model *m, double budget_ms) {
  if (!m) return 1;
  double t0 = now_ms();
  /* the neighbour of a zoomed-in window first: panning needs it soonest */
  prefetch_step(m, t0, budget_ms);
  sink k = {ov_begin, ov_event, ov_lane, ov_pin, ov_end, NULL};
  /* slices of records while the budget lasts; one at least, so that it always progresses */
  for (int first = 1; m->ov_next < m->nblocks && (first || now_ms() - t0 < budget_ms); first = 0) {
    m->gen++;
    if (m->dov.blk == NONE32) dec_open(m, &m->dov, m->ov_next, &k);
    if (dec_step(m, &m->dov, &k, 2048)) m->ov_next++;
    m->dver++;
  }
  return m->ov_next >= m->nblocks;
}

/* The overview buckets [*lo, *hi) that minimap bucket b of nbuckets sums. */
static void density_range(const vw_model *m, uint32_t b, uint32_t nbuckets, uint64_t *lo,
                          uint64_t *hi) {
  *lo = (uint64_t)b * m->nb / nbuckets;
  *hi = ((uint64_t)b + 1) * m->nb / nbuckets;
  if (*hi <= *lo) *hi = *lo + 1;
  if (*hi > m->nb) *hi = m->nb;
}

static uint32_t density_sum(const vw_model *m, uint32_t cpu, uint64_t lo, uint64_t hi) {
  const uint32_t *row = &m->counts[(size_t)cpu * m->nb];
  uint64_t sum = 0;
  for (uint64_t k = lo; k < hi; k++) sum += row[k];
  return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

uint32_t vw_model_density(const vw_model *m, uint32_t cpu, uint32_t b, uint32_t nbuckets) {
  if (!m || cpu >= m->ncpus || !nbuckets || b >= nbuckets) return 0;
  uint64_t lo, hi;
  density_range(m, b, nbuckets, &lo, &hi);
  return lo < hi ? density_sum(m, cpu, lo, hi) : 0;
}

uint64_t vw_model_density_version(const vw_model *m) { return m ? m->dver : 0; }

const uint32_t *vw_model_density_table(vw_model *m, uint32_t nbuckets) {
  if (!m || !nbuckets) return NULL;
  uint64_t dlo = m->dirty_lo, dhi = m->dirty_hi;
  if (nbuckets != m->dtab_nb) {  /* another width: every column */
    uint32_t *p = realloc(m->dtab, (size_t)m->ncpus * nbuckets * sizeof *p);
    if (!p) return NULL;
    m->dtab = p;
    m->dtab_nb = nbuckets;
    dlo = 0;
    dhi = m->nb;
  }
  if (dlo < dhi) {
    /* the columns whose buckets meet [dlo, dhi): from one at or before the
       first, to the last that starts before dhi */
    uint32_t b = (uint32_t)(dlo * nbuckets / m->nb);
    for (uint64_t lo, hi; b > 0; b--) {  /* more columns than buckets share them */
      density_range(m, b - 1, nbuckets, &lo, &hi);
      if (hi <= dlo) break;
    }
    for (; b < nbuckets; b++) {
      uint64_t lo, hi;
      density_range(m, b, nbuckets, &lo, &hi);
      if (lo >= dhi) break;
      if (hi <= dlo) continue;
      for (uint32_t c = 0; c < m->ncpus; c++)
        m->dtab[(size_t)c * nbuckets + b] = lo < hi ? density_sum(m, c, lo, hi) : 0;
    }
  }
  m->dirty_lo = m->nb;
  m->dirty_hi = 0;
  return m->dtab;
}

/* ---- linking messages ---- */

#define PEND_SLOTS 264u  /* per core: 256 vectors, then the NMI/SMI/INIT/SIPI/ExtINT inputs */

static int lk_alloc(vw_model *m, linker *l, int stats) {
  l->stats = stats;
  l->lasticr = calloc(m->ncpus, sizeof *l->lasticr);
  l->armed = calloc((size_t)m->npins + 1, sizeof *l->armed);
  l->frames = calloc(m->ncpus, sizeof *l->frames);
  l->slot = calloc(LK_RING, sizeof *l->slot);
  if (m->ncpus <= LK_PEND_CPUS) l->pendv = calloc((size_t)m->ncpus * PEND_SLOTS, sizeof *l->pendv);
  if (stats && !(l->msgs = calloc(LK_RING, sizeof *l->msgs))) return -1;
  return l->lasticr && l->armed && l->frames && l->slot &&
         (m->ncpus > LK_PEND_CPUS || l->pendv) ? 0 : -1;
}

static void lk_reset(vw_model *m, linker *l) {
  l->nmsgs = l->narrows = 0;
  memset(l->slot, 0, LK_RING * sizeof *l->slot);
  hclear(&l->pend);
  if (l->pendv && ++l->pendgen == 0) {  /* stamps wrapped: clear for real */
    memset(l->pendv, 0, (size_t)m->ncpus * PEND_SLOTS * sizeof *l->pendv);
    l->pendgen = 1;
  }
  memset(l->lasticr, 0, m->ncpus * sizeof *l->lasticr);
  memset(l->armed, 0, ((size_t)m->npins + 1) * sizeof *l->armed);
  for (uint32_t c = 0; c < m->ncpus; c++) l->frames[c].n = 0;
  l->open = 0;
  l->maxlife = l->maxfwd = l->maxback = 0;
  l->nomem = 0;
}

static void lk_free(vw_model *m, linker *l) {
  free(l->msgs);
  free(l->slot);
  free(l->arrows);
  free(l->pendv);
  hfree(&l->pend);
  free(l->lasticr);
  free(l->armed);
  if (l->frames)
    for (uint32_t c = 0; c < m->ncpus; c++) free(l->frames[c].f);
  free(l->frames);
  memset(l, 0, sizeof *l);
}

static lslot *lk_slot(linker *l, uint64_t id) { return &l->slot[id & (LK_RING - 1)]; }

static lmsg *lk_msg(linker *l, uint64_t id) {
  if (!id) return NULL;
  const lslot *s = lk_slot(l, id);
  return s->id == id && s->idx != NONE32 ? &l->msgs[s->idx] : NULL;
}

static lmsg *lk_new_msg(linker *l, uint64_t id) {
  lslot *s = lk_slot(l, id);
  if (s->id != id) *s = (lslot){id, 0, NONE32, 0, 0};
  if (l->stats) {
    s->idx = (uint32_t)(id & (LK_RING - 1));
  } else {
    if (grow(&l->msgs, &l->msgcap, l->nmsgs + 1, sizeof *l->msgs)) {
      l->nomem = 1;
      return NULL;
    }
    s->idx = (uint32_t)l->nmsgs++;
  }
  lmsg *g = &l->msgs[s->idx];
  memset(g, 0, sizeof *g);
  return g;
}

/* Drops what ended before cycle c (links growing while panning right). */
static void lk_prune(linker *l, uint64_t c) {
  size_t n = 0;
  for (size_t k = 0; k < l->narrows; k++) {
    const vw_arrow *a = &l->arrows[k];
    if (a->from_cycle >= c || a->to_cycle >= c) l->arrows[n++] = *a;
  }
  l->narrows = n;
  n = 0;
  for (size_t k = 0; k < l->nmsgs; k++) {
    const lmsg *g = &l->msgs[k];
    lslot *s = lk_slot(l, g->v.id);
    int keep = g->v.sent >= c || g->v.left >= c || g->v.done >= c;
    if (s->id == g->v.id) s->idx = keep ? (uint32_t)n : NONE32;
    if (keep) l->msgs[n++] = *g;
  }
  l->nmsgs = n;
}
static void sacc_arrow(sacc *s, const vw_arrow *a) {
  if (a->from_cycle < s->from || a->from_cycle >= s->to) return;
  if (a->kind == VW_ARROW_HANDLER) {
    uint8_t v = a->vector;
    if (grow(&s->lat[v], &s->latcap[v], s->nlat[v] + 1, sizeof *s->lat[v])) {
      s->nomem = 1;
      return;
    }
    s->lat[v][s->nlat[v]++] = a->to_cycle - a->from_cycle;
    return;
  }
  s->deliveries++;
  if (a->from_lane < s->n && a->to_lane < s->n) s->matrix[(size_t)a->from_lane * s->n + a->to_lane]++;
}

static void lk_arrow(linker *l, const lmsg *g, uint64_t cycle, uint32_t cpu, uint8_t vector,
                     uint8_t kind) {
  vw_arrow a = {g->ocycle, cycle, g->olane, cpu, g->v.id, vector, kind};
  if (a.from_cycle > cycle && a.from_cycle - cycle > l->maxfwd) l->maxfwd = a.from_cycle - cycle;
  if (a.from_cycle < cycle && cycle - a.from_cycle > l->maxback) l->maxback = cycle - a.from_cycle;
  if (l->stats) {
    if (l->acc) sacc_arrow(l->acc, &a);
    return;
  }
  if (grow(&l->arrows, &l->arrowcap, l->narrows + 1, sizeof *l->arrows)) {
    l->nomem = 1;
    return;
  }
  l->arrows[l->narrows++] = a;
}

#define PEND_INPUT 256u  /* pending-slot base for the NMI/SMI/INIT/SIPI/ExtINT inputs */
static uint64_t pend_key(uint32_t cpu, uint32_t slot) { return ((uint64_t)cpu << 9) | slot; }

/* Statistics count the messages of their window still waiting for a
   handler (so as to read on past the window only while some are): pending
   slots and frames then carry this flag with the message id. */
#define MSG_OPEN (1ull << 63)
static uint64_t msg_id(uint64_t v) { return v & ~MSG_OPEN; }

static void lk_drop(linker *l, uint64_t v) {
  if ((v & MSG_OPEN) && l->open) l->open--;
}

static void lk_push(linker *l, uint32_t cpu, uint16_t vector, uint64_t msg) {
  lstack *s = &l->frames[cpu];
  if (s->n == MAX_FRAMES) {  /* embedded-mode cores take without handlers: forget the oldest */
    if (!s->f[0].entered) lk_drop(l, s->f[0].msg);
    memmove(s->f, s->f + 1, (MAX_FRAMES - 1) * sizeof *s->f);
    s->n--;
  }
  if (s->n == s->cap) {
    uint32_t c = s->cap ? s->cap * 2 : 4;
    lframe *f = realloc(s->f, c * sizeof *f);
    if (!f) {
      lk_drop(l, msg);
      l->nomem = 1;
      return;
    }
    s->f = f;
    s->cap = c;
  }
  s->f[s->n++] = (lframe){msg, vector, 0};
}

static void lk_pop(linker *l, uint32_t cpu) {
  lstack *s = &l->frames[cpu];
  if (!s->n) return;
  s->n--;
  if (!s->f[s->n].entered) lk_drop(l, s->f[s->n].msg);
}

/* The message waiting in (cpu, slot) (with its flag), which no longer waits there. */
static uint64_t lk_take(linker *l, uint32_t cpu, uint32_t slot) {
  if (l->pendv) {
    lpend *p = &l->pendv[(size_t)cpu * PEND_SLOTS + slot];
    uint64_t msg = p->gen == l->pendgen ? p->msg : 0;
    p->msg = 0;
    return msg;
  }
  uint64_t msg = 0, key = pend_key(cpu, slot);
  if (hget(&l->pend, key, &msg)) hdel(&l->pend, key);
  return msg;
}

static void lk_set_pending(linker *l, uint32_t cpu, uint32_t slot, uint64_t msg) {
  lk_drop(l, lk_take(l, cpu, slot));
  if (msg && l->acc) {
    const lmsg *g = lk_msg(l, msg);
    if (g && g->ocycle >= l->acc->from && g->ocycle < l->acc->to) {
      msg |= MSG_OPEN;
      l->open++;
    }
  }
  if (l->pendv) {
    l->pendv[(size_t)cpu * PEND_SLOTS + slot] = (lpend){msg, l->pendgen};
  } else if (msg) {
    if (hput(&l->pend, pend_key(cpu, slot), msg)) {
      lk_drop(l, msg);
      l->nomem = 1;
    }
  }
}

static void lk_clear_pending(linker *l, uint32_t cpu) {
  if (!l->pendv && !l->pend.n) return;
  for (uint32_t s = 0; s < PEND_SLOTS; s++) lk_set_pending(l, cpu, s, 0);
}

static int lk_in_window(const linker *l, uint64_t c) {
  return l->acc && c >= l->acc->from && c < l->acc->to;
}

/* Message g has been delivered somewhere (2) or has left its sender (4):
   once both, it is no longer in flight. */
static void lk_landed(linker *l, lmsg *g, uint8_t what) {
  if (!(g->fly & 1)) return;
  g->fly |= what;
  if ((g->fly & 6) == 6) {
    g->fly = 0;
    if (l->open) l->open--;
  }
}

/* Where an interrupt message starts: the ICR write that sent it, or the
   pin edge of its vector; else its MSG_SEND. */
static void lk_origin(vw_model *m, linker *l, lmsg *g, const lrec *ev) {
  if (ev->flags & APIC_EVF_IOAPIC) {
    const apic_config *cfg = &m->info->config;
    if (ev->src >= cfg->nioapics) return;
    for (uint32_t p = 0; p < cfg->ioapic_pins[ev->src]; p++) {
      lpin *a = &l->armed[m->gbase[ev->src] + p];
      if (a->armed && a->vector == ev->vector) {
        g->ocycle = a->cycle;
        g->olane = VW_LANE_PIN(ev->src, p);
        a->armed = 0;
        return;
      }
    }
  } else if (ev->src < m->ncpus) {
    licr *w = &l->lasticr[ev->src];
    lslot *sl = lk_slot(l, ev->msg);
    g->olane = ev->src;
    if (sl->has_icr) {
      g->ocycle = sl->icr;
      sl->has_icr = 0;
    } else if (w->valid && w->vector == ev->vector && w->mode == ev->mode) {
      g->ocycle = w->cycle;
      w->valid = 0;
    }
  }
}

static void lk_event(vw_model *m, linker *l, const lrec *ev) {
  int cpu_ok = ev->cpu < m->ncpus;
  lmsg *g = NULL;
  switch (ev->kind) {
  case APIC_EV_ICR_WRITE:
    if (!cpu_ok) break;
    if (ev->msg) {
      lslot *sl = lk_slot(l, ev->msg);
      int flying = sl->id == ev->msg && sl->flying;
      *sl = (lslot){ev->msg, ev->cycle, NONE32, 1, (uint8_t)flying};
      if (!flying && lk_in_window(l, ev->cycle)) {  /* in flight from the ICR write */
        sl->flying = 1;
        l->open++;
      }
    } else {
      l->lasticr[ev->cpu] = (licr){ev->cycle, ev->vector, ev->mode, 1};
    }
    break;
  case APIC_EV_PIN:
    if (ev->ab != NONE32) l->armed[ev->ab] = (lpin){ev->cycle, ev->vector, 1};
    break;
  case APIC_EV_MSG_SEND:
    if (!ev->msg || lk_msg(l, ev->msg) || !(g = lk_new_msg(l, ev->msg))) break;
    g->v = (vw_msg){ev->msg, ev->cycle, ev->cycle, ev->cycle, ev->src,
                    (uint8_t)((ev->flags & APIC_EVF_IOAPIC) != 0), ev->vector, ev->mode, 0,
                    ev->dest, ev->flags};
    g->ocycle = ev->cycle;
    g->olane = VW_LANE_BUS;
    if (ev->ab == APIC_MSG_INTERRUPT) lk_origin(m, l, g, ev);
    if (lk_slot(l, ev->msg)->flying) {
      lk_slot(l, ev->msg)->flying = 0;
      g->fly = 1;
    } else if (ev->ab == APIC_MSG_INTERRUPT && lk_in_window(l, g->ocycle)) {
      g->fly = 1;
      l->open++;
    }
    if (g->v.from_ioapic || ev->ab != APIC_MSG_INTERRUPT) lk_landed(l, g, 4);  /* no MSG_DONE */
    break;
  case APIC_EV_MSG_DONE:
    if (!(g = lk_msg(l, ev->msg))) break;
    if (ev->cycle > g->v.left) g->v.left = ev->cycle;
    lk_landed(l, g, 4);
    break;
  case APIC_EV_MSG_RETRY:
    if ((g = lk_msg(l, ev->msg)) && g->v.retries < 255) g->v.retries++;
    break;
  case APIC_EV_MSG_NOTARGET:
  case APIC_EV_MSG_DROPPED:
    if (!(g = lk_msg(l, ev->msg))) break;
    if (ev->cycle > g->v.done) g->v.done = ev->cycle;
    lk_landed(l, g, 2);
    break;
  case APIC_EV_IRR_SET:
  case APIC_EV_IRR_COALESCED:
    if (!cpu_ok) break;
    g = lk_msg(l, ev->msg);
    if (g) {
      if (ev->cycle > g->v.done) g->v.done = ev->cycle;
      lk_landed(l, g, 2);
      lk_arrow(l, g, ev->cycle, ev->cpu, ev->vector,
               ev->kind == APIC_EV_IRR_SET ? VW_ARROW_IRR : VW_ARROW_COALESCED);
    }
    /* the IRR bit now stands for this message (or for one we cannot see) */
    if (ev->kind == APIC_EV_IRR_SET) lk_set_pending(l, ev->cpu, ev->vector, g ? g->v.id : 0);
    break;
  case APIC_EV_PENDING:
    if (!cpu_ok || ev->ab > APIC_INTR_SIPI) break;
    if ((g = lk_msg(l, ev->msg))) {
      if (ev->cycle > g->v.done) g->v.done = ev->cycle;
      lk_landed(l, g, 2);
      lk_arrow(l, g, ev->cycle, ev->cpu, g->v.vector, VW_ARROW_IRR);
    }
    lk_set_pending(l, ev->cpu, PEND_INPUT + ev->ab, g ? g->v.id : 0);
    break;
  case APIC_EV_ACCEPT:
    if (cpu_ok) lk_push(l, ev->cpu, ev->vector, lk_take(l, ev->cpu, ev->vector));
    break;
  case APIC_EV_NMI:
    if (cpu_ok) lk_push(l, ev->cpu, 2, lk_take(l, ev->cpu, PEND_INPUT + APIC_INTR_NMI));
    break;
  case APIC_EV_SMI:
    if (!cpu_ok) break;
    lk_drop(l, lk_take(l, ev->cpu, PEND_INPUT + APIC_INTR_SMI));
    if (ev->ab) lk_push(l, ev->cpu, APIC_VECTOR_SMI, 0);
    break;
  case APIC_EV_EXTINT:
    if (cpu_ok) lk_push(l, ev->cpu, ev->vector, lk_take(l, ev->cpu, PEND_INPUT + APIC_INTR_EXTINT));
    break;
  case APIC_EV_HANDLER_ENTER:
    if (!cpu_ok) break;
    for (uint32_t k = l->frames[ev->cpu].n; k-- > 0;) {
      lframe *f = &l->frames[ev->cpu].f[k];
      if (f->entered) continue;
      f->entered = 1;
      lk_drop(l, f->msg);
      if (f->msg && (ev->ab == APIC_INTR_FIXED || ev->ab == APIC_INTR_NMI) &&
          (g = lk_msg(l, msg_id(f->msg))))
        lk_arrow(l, g, ev->cycle, ev->cpu, (uint8_t)f->vector, VW_ARROW_HANDLER);
      f->msg = 0;
      break;
    }
    break;
  case APIC_EV_HANDLER_EXIT:
    if (cpu_ok) lk_pop(l, ev->cpu);
    break;
  case APIC_EV_INIT:
    if (!cpu_ok) break;
    while (l->frames[ev->cpu].n) lk_pop(l, ev->cpu);
    lk_clear_pending(l, ev->cpu);
    break;
  case APIC_EV_RESET:
    if (cpu_ok) lk_clear_pending(l, ev->cpu);
    break;
  default:
    break;
  }
  if (g) {  /* (it may have been delivered, or left, later than any before) */
    uint64_t end = g->v.left > g->v.done ? g->v.left : g->v.done;
    if (end - g->v.sent > l->maxlife) l->maxlife = end - g->v.sent;
  }
}

static void lk_sink_event(vw_model *m, void *ctx, const apic_event *ev) {
  lrec r;
  if (to_lrec(m, ev, &r)) lk_event(m, ctx, &r);
}

/* ---- queries ---- */

/* Appends s to a segment list, merged with the previous one if they match. */
static int seg_push(vw_seg **v, size_t *cap, uint32_t *n, vw_seg s) {
  if (*n) {
    vw_seg *p = &(*v)[*n - 1];
    if (p->to == s.from && p->state == s.state && p->vector == s.vector &&
        p->depth == s.depth && p->mixed == s.mixed) {
      p->to = s.to;
      return 0;
    }
  }
  if (grow(v, cap, (size_t)*n + 1, sizeof **v)) return -1;
  (*v)[(*n)++] = s;
  return 0;
}

/*
 * A lane from its segments in time order: clipped to the window, merged
 * with a neighbour that matches, then aggregated: runs of neighbouring
 * segments shorter than a column (px cycles) become one mixed segment per
 * column or so, taking the handler if any ran (the longest one), else the
 * state that covers most. One segment at a time, nothing held but the run
 * being aggregated: a frame's lanes come from far more segments than they
 * end with.
 */
typedef struct lanebuild {
  vw_seg **out;
  size_t *cap;
  uint32_t *n;
  uint64_t from, to, px;
  int have;                 /* cur: a merged segment not yet aggregated */
  vw_seg cur;
  uint32_t ng;              /* segments in the run being aggregated */
  vw_seg g1, hseg;          /* its first one; its longest handler (ties: the later) */
  uint64_t gfrom, gto, hbest, t[VW_STATE_COUNT];
} lanebuild;

static void lb_start(lanebuild *b, vw_seg **out, size_t *cap, uint32_t *n, uint64_t from,
                     uint64_t to, uint64_t px) {
  b->out = out;
  b->cap = cap;
  b->n = n;
  b->from = from;
  b->to = to;
  b->px = px;
  b->have = 0;
  b->ng = 0;
}

/* The open group out: its only segment, or one mixed segment for all. */
static void lb_close(lanebuild *b) {
  if (!b->ng) return;
  if (b->ng == 1) {
    seg_push(b->out, b->cap, b->n, b->g1);
  } else {
    vw_seg g = {b->gfrom, b->gto, VW_NONE, 0, 0, 1};
    if (b->t[VW_HANDLER]) {
      g.state = VW_HANDLER;
      g.vector = b->hseg.vector;
      g.depth = b->hseg.depth;
    } else {
      for (uint8_t k = 0; k < VW_STATE_COUNT; k++)
        if (b->t[k] >= b->t[g.state]) g.state = k;
    }
    seg_push(b->out, b->cap, b->n, g);
  }
  b->ng = 0;
}

/* The aggregation: the open run takes s, or is closed and s starts anew. */
static void lb_feed(lanebuild *b, vw_seg s) {
  uint64_t len = s.to - s.from;
  if (!b->ng || len >= b->px || b->gto - b->gfrom >= b->px) {
    lb_close(b);
    if (b->px <= 1 || len >= b->px) {
      seg_push(b->out, b->cap, b->n, s);
      return;
    }
    b->g1 = s;
    b->gfrom = s.from;
    b->hbest = 0;
    memset(b->t, 0, sizeof b->t);
  }
  b->ng++;
  b->t[s.state] += len;
  if (s.state == VW_HANDLER && len >= b->hbest) {
    b->hbest = len;
    b->hseg = s;
  }
  b->gto = s.to;
}

/* The next segment of the lane: clipped, merged, then aggregated. */
static void lb_put(lanebuild *b, vw_seg s) {
  if (s.from < b->from) s.from = b->from;
  if (s.to > b->to) s.to = b->to;
  if (s.from >= s.to) return;
  if (b->have && b->cur.to == s.from && b->cur.state == s.state && b->cur.vector == s.vector &&
      b->cur.depth == s.depth && b->cur.mixed == s.mixed) {
    b->cur.to = s.to;
    return;
  }
  if (b->have) lb_feed(b, b->cur);
  b->cur = s;
  b->have = 1;
}

static void lb_end(lanebuild *b) {
  if (b->have) lb_feed(b, b->cur);
  b->have = 0;
  lb_close(b);
}

static int pin_push(vw_pinseg **v, size_t *cap, uint32_t *n, vw_pinseg s) {
  if (*n) {
    vw_pinseg *p = &(*v)[*n - 1];
    if (p->to == s.from && p->level == s.level) {
      p->to = s.to;
      return 0;
    }
  }
  if (grow(v, cap, (size_t)*n + 1, sizeof **v)) return -1;
  (*v)[(*n)++] = s;
  return 0;
}

/* As a lane's aggregation, for pin levels: short runs take the level held
   longest. */
static void pin_aggregate(const vw_pinseg *in, size_t n, uint64_t px, vw_pinseg **out,
                          size_t *cap, uint32_t *nout) {
  size_t i = 0;
  while (i < n) {
    if (px <= 1 || in[i].to - in[i].from >= px) {
      pin_push(out, cap, nout, in[i]);
      i++;
      continue;
    }
    uint64_t hi = 0, lo = 0, gfrom = in[i].from, gto = in[i].from;
    size_t j = i;
    while (j < n && in[j].to - in[j].from < px && gto - gfrom < px) {
      if (in[j].level) hi += in[j].to - in[j].from; else lo += in[j].to - in[j].from;
      gto = in[j].to;
      j++;
    }
    pin_push(out, cap, nout, (vw_pinseg){gfrom, gto, (uint8_t)(hi > lo)});
    i = j;
  }
}

static void pclip_push(vw_model *m, size_t *n, vw_pinseg s, uint64_t from, uint64_t to) {
  if (s.from < from) s.from = from;
  if (s.to > to) s.to = to;
  if (s.from >= s.to) return;
  uint32_t k = (uint32_t)*n;
  pin_push(&m->pscratch, &m->pscratchcap, &k, s);
  *n = k;
}

static void frame_clear(vw_model *m) {
  vw_frame *f = &m->frame;
  memset(f->nlane, 0, m->ncpus * sizeof *f->nlane);
  memset(f->npin, 0, ((size_t)m->npins + 1) * sizeof *f->npin);
  f->nmsgs = f->narrows = 0;
  f->from_overview = 0;
}

static uint32_t cell_bits(const ovcell *x) {
  uint32_t v;
  memcpy(&v, x, sizeof v);
  return v;
}

/* Zoomed far out (several buckets a column): one pass over the buckets of
   each column, which shows the state most of its buckets show, as a bucket
   shows the state that covers most of it (ov_finish). Not lanebuild's
   "handler if any ran": a bucket's handler already won it by time, and a
   column of many buckets would turn a core halted 80% of the time into a
   solid handler lane. */
static void overview_columns(vw_model *m, uint64_t from, uint64_t to, uint64_t px) {
  vw_frame *f = &m->frame;
  uint64_t ncols = (to - from) / px;
  /* the columns' cycles and buckets, the same for every core */
  if (grow(&m->colx, &m->colxcap, (size_t)ncols + 1, sizeof *m->colx) ||
      grow(&m->colb, &m->colbcap, (size_t)ncols + 1, sizeof *m->colb))
    return;
  for (uint64_t k = 0; k < ncols; k++) {
    m->colx[k] = from + k * px;
    m->colb[k] = bucket(m, m->colx[k]);
  }
  m->colx[ncols] = to;
  m->colb[ncols] = bucket(m, to - 1) + 1;
  for (uint32_t c = 0; c < m->ncpus; c++) {
    const ovcell *row = &m->cells[(size_t)c * m->nb];
    for (uint64_t col = 0; col < ncols; col++) {
      uint32_t ba = m->colb[col], bz = m->colb[col + 1];
      if (bz > ba + 1 && bucket_start(m, bz - 1) >= m->colx[col + 1]) bz--;  /* shared */
      if (bz <= ba) bz = ba + 1;
      /* counts of each state in 10-bit fields of one register: no stores */
      static const uint64_t inc[8] = {1ull, 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40,
                                      1ull << 50, 0, 0};
      uint32_t one = cell_bits(&row[ba]), diff = 0, cnt[VW_STATE_COUNT] = {0};
      uint64_t packed = 0;
      for (uint32_t b = ba; b < bz;) {
        uint32_t stop = bz - b > 1000 ? b + 1000 : bz;
        for (; b < stop; b++) {
          diff |= cell_bits(&row[b]) ^ one;
          packed += inc[row[b].state & 7];
        }
        for (int k = 0; k < VW_STATE_COUNT; k++) cnt[k] += (uint32_t)(packed >> (10 * k)) & 1023;
        packed = 0;
      }
      vw_seg s;
      if (!diff) {
        const ovcell *y = &row[ba];
        s = (vw_seg){m->colx[col], m->colx[col + 1], y->state, y->vector,
                     (uint8_t)(y->dm & 0x7F), (uint8_t)((y->dm & OV_MIXED) != 0)};
      } else {
        uint8_t best = 0;
        for (uint8_t k = 0; k < VW_STATE_COUNT; k++)
          if (cnt[k] >= cnt[best]) best = k;  /* ties: the later state, as in ov_finish */
        s = (vw_seg){m->colx[col], m->colx[col + 1], best, 0, 0, 1};
        if (best == VW_HANDLER) {  /* the vector of its last handler bucket */
          uint32_t h = bz;
          while (h-- > ba && row[h].state != VW_HANDLER) {}
          s.vector = row[h].vector;
          s.depth = (uint8_t)(row[h].dm & 0x7F);
        }
      }
      seg_push(&f->lane[c], &m->lanecap[c], &f->nlane[c], s);
    }
  }
}

static void query_overview(vw_model *m, uint64_t from, uint64_t to, uint64_t px) {
  vw_frame *f = &m->frame;
  f->from_overview = 1;
  uint32_t b0 = bucket(m, from), b1 = bucket(m, to - 1);
  if (px >= 2 * m->bw) overview_columns(m, from, to, px);
  for (uint32_t c = 0; px < 2 * m->bw && c < m->ncpus; c++) {
    lanebuild lb;
    lb_start(&lb, &f->lane[c], &m->lanecap[c], &f->nlane[c], from, to, px);
    const ovcell *row = &m->cells[(size_t)c * m->nb];
    for (uint32_t b = b0; b <= b1; b++) {
      const ovcell *x = &row[b];
      uint32_t e = b;  /* whole runs of equal cells at once */
      while (e < b1 && !memcmp(&row[e + 1], x, sizeof *x)) e++;
      vw_seg s = {bucket_start(m, b), bucket_end(m, e), x->state, x->vector,
                  (uint8_t)(x->dm & 0x7F), (uint8_t)((x->dm & OV_MIXED) != 0)};
      lb_put(&lb, s);
      b = e;
    }
    lb_end(&lb);
  }
  for (uint32_t i = 0; i < m->npinlist; i++) {
    uint32_t g = m->pinlist[i];
    const uint8_t *row = m->pinov[g];
    if (!row) continue;
    size_t n = 0;
    for (uint32_t b = b0; b <= b1; b++)
      pclip_push(m, &n, (vw_pinseg){bucket_start(m, b), bucket_end(m, b), row[b]}, from, to);
    pin_aggregate(m->pscratch, n, px, &f->pin[i], &m->pincap[i], &f->npin[i]);
  }
}

static void query_detail(vw_model *m, uint64_t from, uint64_t to, uint64_t px, uint32_t b0,
                         uint32_t b1) {
  vw_frame *f = &m->frame;
  /* a neighbour block too when the window comes within its own width of it:
     arrows and messages from just outside, and the next block decoded before
     panning reaches it */
  uint64_t w = to - from;
  uint32_t lo = b0 && from - m->bs[b0] < w ? b0 - 1 : b0;
  uint32_t hi = b1 + 1 < m->nblocks && m->be[b1] - to < w ? b1 + 1 : b1;
  if (grow(&m->qblk, &m->qblkcap, (size_t)(hi - lo) + 1, sizeof *m->qblk)) return;
  block **blk = m->qblk;
  for (uint32_t i = lo; i <= hi; i++) blk[i - lo] = cache_get(m, i);
  /* lanes */
  for (uint32_t c = 0; c < m->ncpus; c++) {
    lanebuild lb;
    lb_start(&lb, &f->lane[c], &m->lanecap[c], &f->nlane[c], from, to, px);
    for (uint32_t i = b0; i <= b1; i++) {
      const block *b = blk[i - lo];
      if (!b) continue;
      const vw_seg *s = &b->seg[b->segoff[c]];
      uint32_t ns = b->segoff[c + 1] - b->segoff[c], a = 0, z = ns;
      while (a < z) {  /* first segment ending after from */
        uint32_t mid = a + (z - a) / 2;
        if (s[mid].to <= from) a = mid + 1; else z = mid;
      }
      for (uint32_t k = a; k < ns && s[k].from < to; k++) lb_put(&lb, s[k]);
    }
    lb_end(&lb);
  }
  /* pins */
  for (uint32_t p = 0; p < m->npinlist; p++) {
    uint32_t g = m->pinlist[p];
    size_t n = 0;
    for (uint32_t i = b0; i <= b1; i++) {
      const block *b = blk[i - lo];
      if (!b) continue;
      uint64_t t = m->bs[i];
      uint8_t level = b->pin0[g];
      for (uint32_t k = b->pcoff[g]; k < b->pcoff[g + 1]; k++) {
        pclip_push(m, &n, (vw_pinseg){t, b->pc[k].cycle, level}, from, to);
        t = b->pc[k].cycle;
        level = b->pc[k].level;
      }
      pclip_push(m, &n, (vw_pinseg){t, m->be[i], level}, from, to);
    }
    pin_aggregate(m->pscratch, n, px, &f->pin[p], &m->pincap[p], &f->npin[p]);
  }
  /* messages and arrows: links cover [lk_lo, lk_hi]; a range inside it is
     answered from them, one further right continues them (panning right:
     what ended before the range is dropped once they cover twice what is
     needed), anything else starts again */
  uint32_t start = lo;
  if (m->lk_lo != NONE32 && m->lk_lo <= lo && hi <= m->lk_hi) {
    start = hi + 1;
  } else if (m->lk_lo != NONE32 && m->lk_lo <= lo && lo <= m->lk_hi + 1) {
    if (hi - m->lk_lo + 1 > 2 * (hi - lo + 1)) {
      lk_prune(&m->lk, m->bs[lo]);
      m->lk_lo = lo;
    }
    start = m->lk_hi + 1;
  } else {
    lk_reset(m, &m->lk);
    m->lk_lo = lo;
  }
  for (uint32_t i = start; i <= hi; i++) {
    const block *b = blk[i - lo];
    if (b)
      for (size_t k = 0; k < b->nlr; k++) lk_event(m, &m->lk, &b->lr[k]);
    m->lk_hi = i;
  }
  if (m->lk.nomem) m->lk_lo = m->lk_hi = NONE32;  /* try again next time */
  /* the links cover more than the window (twice it, panning): only the
     messages sent, and arrows ended, near enough to it are looked at */
  const linker *l = &m->lk;
  uint64_t lo_sent = from > l->maxlife ? from - l->maxlife : 0;
  size_t a = 0, z = l->nmsgs;
  while (a < z) {  /* the first message sent at or after lo_sent */
    size_t mid = a + (z - a) / 2;
    if (l->msgs[mid].v.sent < lo_sent) a = mid + 1; else z = mid;
  }
  for (size_t k = a; k < l->nmsgs; k++) {
    const vw_msg *g = &l->msgs[k].v;
    uint64_t end = g->left > g->done ? g->left : g->done;
    if (g->sent >= to) break;
    if (end < from) continue;
    if (grow(&f->msgs, &m->msgcap, (size_t)f->nmsgs + 1, sizeof *f->msgs)) break;
    f->msgs[f->nmsgs++] = *g;
  }
  uint64_t lo_end = from > l->maxfwd ? from - l->maxfwd : 0;
  a = 0;
  z = l->narrows;
  while (a < z) {  /* the first arrow ending at or after lo_end */
    size_t mid = a + (z - a) / 2;
    if (l->arrows[mid].to_cycle < lo_end) a = mid + 1; else z = mid;
  }
  for (size_t k = a; k < l->narrows; k++) {
    const vw_arrow *ar = &l->arrows[k];
    if (ar->to_cycle >= to && ar->to_cycle - to >= l->maxback) break;  /* starts after the window */
    uint64_t a0 = ar->from_cycle < ar->to_cycle ? ar->from_cycle : ar->to_cycle;
    uint64_t a1 = ar->from_cycle < ar->to_cycle ? ar->to_cycle : ar->from_cycle;
    if (a0 >= to || a1 < from) continue;
    if (grow(&f->arrows, &m->arrowcap, (size_t)f->narrows + 1, sizeof *f->arrows)) break;
    f->arrows[f->narrows++] = *ar;
  }
}

const vw_frame *vw_model_query(vw_model *m, uint64_t from, uint64_t to, uint32_t cols) {
  if (!m) return NULL;
  /* the same question about the same data: the same answer */
  if (m->q_valid && m->q_from == from && m->q_to == to && m->q_cols == cols &&
      m->q_gen == m->gen)
    return &m->frame;
  m->q_valid = 1;
  m->q_from = from;
  m->q_to = to;
  m->q_cols = cols;
  m->q_gen = m->gen;
  frame_clear(m);
  if (from < m->first) from = m->first;
  if (to > m->end) to = m->end;
  if (from >= to) return &m->frame;
  m->opstamp++;
  uint64_t px = cols ? (to - from) / cols : 0;
  uint32_t b0 = block_of(m, from), b1 = block_of(m, to - 1);
  uint64_t recs = m->brec[b1 + 1] - m->brec[b0];
  /* what the prefetcher keeps ready: windows zoomed in, or nearly */
  m->d_right = !m->d_valid || from >= m->q_prev_from;
  uint32_t nb = b1 - b0 + 1;
  int small = recs <= DETAIL_RECORDS && nb <= DETAIL_SMALL_BLOCKS;
  m->d_valid = nb <= DETAIL_BLOCKS + 2 || small;
  m->d_b0 = b0;
  m->d_b1 = b1;
  m->q_prev_from = from;
  if (nb <= DETAIL_BLOCKS || small)
    query_detail(m, from, to, px, b0, b1);
  else
    query_overview(m, from, to, px);
  return &m->frame;
}

/* ---- find and pick ---- */

static int filter_ok(const vw_filter *f, const apic_event *ev) {
  if (!f) return 1;
  if (f->cpu != APIC_NONE && ev->cpu != f->cpu) return 0;
  if (f->vector >= 0 && ev->vector != (uint8_t)f->vector) return 0;
  if (f->kind >= 0 && ev->kind != (uint32_t)f->kind) return 0;
  return 1;
}

/* 0 if the overview shows block i holds nothing that can match. */
static int block_may_match(const vw_model *m, uint32_t i, const vw_filter *f) {
  if (!f || !m->bsumm[i]) return 1;
  if (f->kind >= 0 && (f->kind >= 64 || !(m->bkinds[i] & KBIT(f->kind)))) return 0;
  if (f->vector >= 0 && f->vector < 256 &&
      !(m->bvecs[(size_t)i * 8 + (f->vector >> 5)] & (1u << (f->vector & 31))))
    return 0;
  return 1;
}

int vw_model_find(vw_model *m, uint64_t cycle, int forward, const vw_filter *f,
                  apic_event *out) {
  if (!m) return 0;
  m->opstamp++;
  if (forward) {
    if (cycle == UINT64_MAX || cycle + 1 >= m->end) return 0;
    for (uint32_t i = cycle < m->first ? 0 : block_of(m, cycle + 1); i < m->nblocks; i++) {
      if (!block_may_match(m, i, f)) continue;
      m->opstamp++;  /* only the block in hand must stay */
      const block *b = cache_get(m, i);
      if (!b) return 0;
      size_t a = 0, z = b->nev;
      while (a < z) {
        size_t mid = a + (z - a) / 2;
        if (b->ev[mid].cycle <= cycle) a = mid + 1; else z = mid;
      }
      for (size_t k = a; k < b->nev; k++)
        if (filter_ok(f, &b->ev[k])) {
          if (out) *out = b->ev[k];
          return 1;
        }
    }
    return 0;
  }
  if (cycle <= m->first) return 0;
  for (uint32_t i = block_of(m, cycle - 1) + 1; i-- > 0;) {
    if (!block_may_match(m, i, f)) continue;
    m->opstamp++;
    const block *b = cache_get(m, i);
    if (!b) return 0;
    size_t a = 0, z = b->nev;
    while (a < z) {
      size_t mid = a + (z - a) / 2;
      if (b->ev[mid].cycle < cycle) a = mid + 1; else z = mid;
    }
    for (size_t k = a; k-- > 0;)
      if (filter_ok(f, &b->ev[k])) {
        if (out) *out = b->ev[k];
        return 1;
      }
  }
  return 0;
}

static int on_lane(const vw_model *m, uint32_t lane_id, const apic_event *ev) {
  if (lane_id < m->ncpus) return ev->cpu == lane_id && !kind_in(ev->kind, BUS_KINDS);
  if (lane_id == VW_LANE_BUS) return kind_in(ev->kind, BUS_KINDS);
  if ((lane_id & 0xFFFF0000u) == 0xFFFF0000u)
    return kind_in(ev->kind, PIN_KINDS) && (ev->flags & APIC_EVF_IOAPIC) &&
           ev->src == ((lane_id >> 8) & 0xFF) && ev->a == (lane_id & 0xFF);
  return 0;
}

int vw_model_pick(vw_model *m, uint32_t lane_id, uint64_t cycle, uint64_t slack,
                  apic_event *out) {
  if (!m) return 0;
  m->opstamp++;
  uint64_t lo = cycle > slack ? cycle - slack : 0, hi = sat_add(cycle, slack);
  if (lo < m->first) lo = m->first;
  if (hi >= m->end) hi = m->end - 1;
  if (lo > hi) return 0;
  uint64_t best = UINT64_MAX;
  int found = 0;
  for (uint32_t i = block_of(m, lo); i < m->nblocks && m->bs[i] <= hi; i++) {
    m->opstamp++;
    const block *b = cache_get(m, i);
    if (!b) break;
    size_t a = 0, z = b->nev;
    while (a < z) {
      size_t mid = a + (z - a) / 2;
      if (b->ev[mid].cycle < lo) a = mid + 1; else z = mid;
    }
    for (size_t k = a; k < b->nev && b->ev[k].cycle <= hi; k++) {
      const apic_event *e = &b->ev[k];
      if (!on_lane(m, lane_id, e)) continue;
      uint64_t d = e->cycle > cycle ? e->cycle - cycle : cycle - e->cycle;
      if (d < best) {
        best = d;
        found = 1;
        if (out) *out = *e;
      }
    }
  }
  return found;
}

/* ---- the state panel's reader ---- */

/* Records with a cycle in (a, b], counted in the cached blocks; 0 if a block
   of that range is not cached or was damaged. */
static int cached_between(const vw_model *m, uint64_t a, uint64_t b, uint64_t *n) {
  *n = 0;
  if (b <= a) return 1;
  for (uint32_t i = block_of(m, a), last = block_of(m, b); i <= last; i++) {
    if (m->where[i] == NONE32) return 0;
    const block *blk = m->slots[m->where[i]];
    if (blk->err || m->bbad[i]) return 0;
    size_t lo = 0, hi = blk->nev;  /* first record after a */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (blk->ev[mid].cycle <= a) lo = mid + 1; else hi = mid;
    }
    size_t from = lo;
    hi = blk->nev;  /* first record after b */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (blk->ev[mid].cycle <= b) lo = mid + 1; else hi = mid;
    }
    *n += lo - from;
  }
  return 1;
}

int vw_model_trace_at(vw_model *m, uint64_t cycle, apic_trace **out) {
  if (out) *out = m ? m->tpanel : NULL;
  if (!m) return APIC_E_ARG;
  apic_trace *t = m->tpanel;
  /* still where it was left (nobody else moved it) */
  int here = m->tp_valid && apic_trace_now(t) == m->tp_now;
  if (here && cycle == m->tp_at) return APIC_OK;
  /* a little later (a playhead that moves a frame at a time): read on, if
     that is fewer records than a seek replays from its chunk's snapshot */
  uint64_t n, replay;
  if (here && cycle > m->tp_at && cached_between(m, m->tp_at, cycle, &n) &&
      cached_between(m, m->bs[block_of(m, cycle)], cycle, &replay) &&
      n <= replay + PANEL_SEEK_RECORDS) {
    apic_event ev;
    uint64_t k = 0;
    while (k < n && apic_trace_next(t, &ev) == APIC_OK) k++;
    if (k == n) {
      m->tp_at = cycle;
      m->tp_now = apic_trace_now(t);
      return APIC_OK;
    }
  }
  int rc = apic_trace_seek(t, cycle);
  m->tp_valid = rc == APIC_OK;
  m->tp_at = cycle;
  m->tp_now = apic_trace_now(t);
  return rc;
}

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* A copy of a result, with its own matrix. */
static int stats_copy(vw_stats *dst, const vw_stats *src) {
  *dst = *src;
  size_t n = (size_t)src->n * src->n;
  if (!(dst->matrix = malloc((n ? n : 1) * sizeof *dst->matrix))) return APIC_E_NOMEM;
  if (n) memcpy(dst->matrix, src->matrix, n * sizeof *dst->matrix);
  return APIC_OK;
}

/*
 * Links the messages that start in [from, to): from the cached blocks' link
 * records when the window is no wider than a zoomed-in one (it is usually
 * on screen, hence decoded), else by decoding; reading on past `to` while a
 * message of the window still waits for its handler, for at most a block
 * or STATS_EXTRA_RECORDS records more.
 */
static int stats_compute(vw_model *m, uint64_t from, uint64_t to, vw_stats *out) {
  memset(out, 0, sizeof *out);
  out->n = m->ncpus < 64 ? m->ncpus : 64;
  out->matrix = calloc((size_t)out->n * out->n + 1, sizeof *out->matrix);
  if (!out->matrix) return APIC_E_NOMEM;
  if (!m->slk.lasticr && lk_alloc(m, &m->slk, 1)) return APIC_E_NOMEM;
  uint64_t a = from < m->first ? m->first : from, z = to > m->end ? m->end : to;
  if (a >= z) return APIC_OK;
  sacc *s = calloc(1, sizeof *s);
  if (!s) return APIC_E_NOMEM;
  s->from = from;
  s->to = to;
  s->n = out->n;
  s->matrix = out->matrix;
  lk_reset(m, &m->slk);
  m->slk.acc = s;
  uint32_t b0 = block_of(m, a), b1 = block_of(m, z - 1);
  int cached = b1 - b0 + 1 <= DETAIL_BLOCKS + 2 ||
               (m->brec[b1 + 1] - m->brec[b0] <= DETAIL_RECORDS &&
                b1 - b0 + 1 <= DETAIL_SMALL_BLOCKS);
  sink k = {NULL, lk_sink_event, NULL, NULL, NULL, &m->slk};
  if (!cached) prefetch_finish(m);
  for (uint32_t i = b0; i < m->nblocks; i++) {
    if (i > b1 && (!m->slk.open || (i > b1 + 1 && m->brec[i] - m->brec[b1 + 1] >= STATS_EXTRA_RECORDS)))
      break;
    if (cached) {
      m->opstamp++;
      const block *b = cache_get(m, i);
      if (b)
        for (size_t r = 0; r < b->nlr; r++) lk_event(m, &m->slk, &b->lr[r]);
    } else {
      dec_block(m, &m->dcache, i, &k);
    }
  }
  m->slk.acc = NULL;
  int rc = s->nomem || m->slk.nomem ? APIC_E_NOMEM : APIC_OK;
  out->deliveries = s->deliveries;
  for (uint32_t v = 0; v < 256; v++) {
    size_t n = s->nlat[v];
    if (!n) continue;
    uint64_t *x = s->lat[v];
    qsort(x, n, sizeof *x, cmp_u64);
    out->vec[out->nvec].vector = (uint8_t)v;
    out->vec[out->nvec].count = n;
    out->vec[out->nvec].min = x[0];
    out->vec[out->nvec].median = x[(n - 1) / 2];
    out->vec[out->nvec].p99 = x[(99 * n + 99) / 100 - 1];  /* nearest rank */
    out->vec[out->nvec].max = x[n - 1];
    out->nvec++;
  }
  for (uint32_t v = 0; v < 256; v++) free(s->lat[v]);
  free(s);
  return rc;
}

int vw_model_stats(vw_model *m, uint64_t from, uint64_t to, vw_stats *out) {
  if (!m || !out) return APIC_E_ARG;
  memset(out, 0, sizeof *out);
  /* the same window again (a panel redrawn every frame, the whole trace for
     a key): the same answer; the last two are kept */
  for (int k = 0; k < 2; k++)
    if (m->st_valid[k] && m->st_from[k] == from && m->st_to[k] == to)
      return stats_copy(out, &m->st[k]);
  if (m->st_valid[1]) vw_stats_free(&m->st[1]);
  m->st[1] = m->st[0];
  m->st_from[1] = m->st_from[0];
  m->st_to[1] = m->st_to[0];
  m->st_valid[1] = m->st_valid[0];
  m->st_valid[0] = 0;
  int rc = stats_compute(m, from, to, &m->st[0]);
  if (rc) {
    vw_stats_free(&m->st[0]);
    return rc;
  }
  m->st_valid[0] = 1;
  m->st_from[0] = from;
  m->st_to[0] = to;
  return stats_copy(out, &m->st[0]);
}

void vw_stats_free(vw_stats *s) {
  if (!s) return;
  free(s->matrix);
  s->matrix = NULL;
  s->n = 0;
}

/* ---- open, close ---- */

const apic_trace_info *vw_model_info(const vw_model *m) { return m ? m->info : NULL; }
apic_trace *vw_model_trace(vw_model *m) { return m ? m->tpanel : NULL; }

int vw_model_open(vw_model **out, const char *path, char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !path) {
    if (why_size) snprintf(why, why_size, "out and path must not be NULL");
    return APIC_E_ARG;
  }
  *out = NULL;
  vw_model *m = calloc(1, sizeof *m);
  if (!m) {
    if (why_size) snprintf(why, why_size, "out of memory");
    return APIC_E_NOMEM;
  }
  int rc = apic_trace_open(&m->tpanel, path, why, why_size);
  if (rc) {
    free(m);
    return rc;
  }

  m->info = apic_trace_info_get(m->tpanel);
  const apic_config *cfg = &m->info->config;
  m->ncpus = cfg->ncpus;
  m->nblocks = m->info->chunks;
  for (uint32_t io = 0; io < cfg->nioapics; io++) {
    m->gbase[io] = m->npins;
    m->npins += cfg->ioapic_pins[io];
  }
  m->first = m->info->first_cycle;
  m->end = sat_add(m->info->last_cycle, 1);
  m->lk_lo = m->lk_hi = NONE32;

  uint32_t n = m->nblocks, nc = m->ncpus, np = m->npins + 1;
  m->bs = malloc(n * sizeof *m->bs);
  m->be = malloc(n * sizeof *m->be);
  m->brec = calloc((size_t)n + 1, sizeof *m->brec);
  m->where = malloc(n * sizeof *m->where);
  m->bkinds = calloc(n, sizeof *m->bkinds);
  m->bvecs = calloc((size_t)n * 8, sizeof *m->bvecs);
  m->bsumm = calloc(n, 1);
  m->bbad = calloc(n, 1);
  m->pinlist = calloc(np, sizeof *m->pinlist);
  m->pinlisted = calloc(np, 1);
  m->span0 = calloc(nc, sizeof *m->span0);
  m->at = calloc(nc, sizeof *m->at);
  m->acc = calloc(nc, sizeof *m->acc);
  m->ospan0 = calloc(nc, sizeof *m->ospan0);
  m->oat = calloc(nc, sizeof *m->oat);
  m->pinov = calloc(np, sizeof *m->pinov);
  m->pacc = calloc(np, sizeof *m->pacc);
  m->pspan0 = calloc(np, sizeof *m->pspan0);
  m->plevel = calloc(np, 1);
  m->frame.lane = calloc(nc, sizeof *m->frame.lane);
  m->frame.nlane = calloc(nc, sizeof *m->frame.nlane);
  m->frame.pin = calloc(np, sizeof *m->frame.pin);
  m->frame.npin = calloc(np, sizeof *m->frame.npin);
  m->lanecap = calloc(nc, sizeof *m->lanecap);
  m->pincap = calloc(np, sizeof *m->pincap);
  int ok = m->bs && m->be && m->brec && m->where && m->bkinds && m->bvecs && m->bsumm &&
           m->bbad && m->pinlist && m->pinlisted && m->span0 && m->at && m->acc &&
           m->ospan0 && m->oat && m->pinov && m->pacc && m->pspan0 && m->plevel &&
           m->frame.lane && m->frame.nlane && m->frame.pin && m->frame.npin && m->lanecap &&
           m->pincap;
  if (ok) {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t recs = 0;
      apic_trace_chunk(m->tpanel, i, &m->bs[i], NULL, &recs);
      m->brec[i + 1] = m->brec[i] + recs;
      m->where[i] = NONE32;
    }
    for (uint32_t i = 0; i < n; i++) m->be[i] = i + 1 < n ? m->bs[i + 1] : m->end;
    for (uint32_t c = 0; c < nc; c++) m->acc[c].b = NONE32;
    for (uint32_t g = 0; g < np; g++) m->pacc[g].b = NONE32;
    /* buckets: enough that a window over a few blocks still has detail */
    uint64_t nb = OV_MIN_BUCKETS;
    while (nb < OV_MAX_BUCKETS && nb < (uint64_t)n * 128) nb *= 2;
    while (nb > 64 && nb * nc > OV_MAX_CELLS) nb /= 2;
    uint64_t span = m->end - m->first;
    if (span == 0) span = 1;
    m->bw = span / nb + (span % nb != 0);
    m->nb = (uint32_t)(span / m->bw + (span % m->bw != 0));
    m->cells = calloc((size_t)nc * m->nb, sizeof *m->cells);
    m->counts = calloc((size_t)nc * m->nb, sizeof *m->counts);
    m->dirty_lo = m->nb;  /* nothing counted yet: the zeros of a new table are right */
    ok = m->cells && m->counts && !lk_alloc(m, &m->lk, 0);
  }
  if (!ok) {
    if (why_size) snprintf(why, why_size, "%s: out of memory for %u cores", path, nc);
    vw_model_close(m);
    return APIC_E_NOMEM;
  }
  if ((rc = dec_init(m, &m->dcache, path, why, why_size)) ||
      (rc = dec_init(m, &m->dov, path, why, why_size))) {
    vw_model_close(m);
    return rc;
  }
  worker_start(m);
  *out = m;
  return APIC_OK;
}

void vw_model_close(vw_model *m) {
  if (!m) return;
  worker_stop(m);
  for (uint32_t i = 0; i < m->nslots; i++) block_free(m->slots[i]);
  free(m->slots);
  dec_free(&m->dcache);
  dec_free(&m->dov);
  if (m->lk.lasticr || m->lk.frames) lk_free(m, &m->lk);
  if (m->slk.lasticr || m->slk.frames) lk_free(m, &m->slk);
  if (m->frame.lane)
    for (uint32_t c = 0; c < m->ncpus; c++) free(m->frame.lane[c]);
  if (m->frame.pin)
    for (uint32_t g = 0; g <= m->npins; g++) free(m->frame.pin[g]);
  if (m->pinov)
    for (uint32_t g = 0; g <= m->npins; g++) free(m->pinov[g]);
  free(m->frame.lane);
  free(m->frame.nlane);
  free(m->frame.pin);
  free(m->frame.npin);
  free(m->frame.msgs);
  free(m->frame.arrows);
  free(m->lanecap);
  free(m->pincap);
  free(m->pscratch);
  free(m->qblk);
  free(m->colx);
  free(m->colb);
  free(m->bs);
  free(m->be);
  free(m->brec);
  free(m->where);
  free(m->bkinds);
  free(m->bvecs);
  free(m->bsumm);
  free(m->bbad);
  free(m->pinlist);
  free(m->pinlisted);
  free(m->tseg);
  free(m->tcpu);
  free(m->tpc);
  free(m->span0);
  free(m->at);
  free(m->textat);
  free(m->cells);
  free(m->counts);
  free(m->dtab);
  free(m->acc);
  free(m->ospan0);
  free(m->oat);
  free(m->pinov);
  free(m->pacc);
  free(m->pspan0);
  free(m->plevel);
  for (int k = 0; k < 2; k++)
    if (m->st_valid[k]) vw_stats_free(&m->st[k]);
  apic_trace_close(m->tpanel);
  free(m);
}
