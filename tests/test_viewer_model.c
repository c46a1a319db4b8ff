/*
 * test_viewer_model.c - apicview's model (viewer/model.c, viewer.h "model").
 *
 * Traces are made here with the library: guest programs on several cores
 * (IPIs between neighbours, handlers that nest, IF = 0 stretches, HLT, an
 * I/O APIC pin, INIT/SIPI, NMI, a core with no program), written with small
 * chunks (64 records) so that every window crosses many chunks. A recording
 * hook next to the writer keeps every event: it is the reference for arrows,
 * find, pick and statistics, linked here independently of the model. Lane
 * states are checked against the trace reader itself (apic_trace_seek, then
 * apic_trace_core_state) at sampled cycles.
 *
 * The benchmark (10M events, 64 cores: open time, query time while panning)
 * runs only with APICVIEW_BENCH=1 in the environment, and prints figures;
 * APICVIEW_BENCH_TRACE=path keeps its trace there (and reuses it next time).
 * APICVIEW_KEEP=1 keeps the other tests' traces, for debugging.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "apicsim/trace.h"
#include "viewer.h"

/* ---- helpers ---- */

static uint64_t rnd(uint64_t *x) {  /* splitmix64 */
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A fresh empty file: in the build tree (APICSIM_TEST_TMP, from CMake), else
   under $TMPDIR or /tmp. */
static void tmp_path(char *buf, size_t n) {
  const char *dir = getenv("TMPDIR");
#ifdef APICSIM_TEST_TMP
  dir = APICSIM_TEST_TMP;
#endif
  if (!dir || !*dir) dir = "/tmp";
  snprintf(buf, n, "%s/apicview-model-XXXXXX", dir);
  int fd = mkstemp(buf);
  ck_assert_msg(fd >= 0, "mkstemp %s failed", buf);
  close(fd);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static vw_model *open_model(const char *path) {
  vw_model *m = NULL;
  char why[512];
  int rc = vw_model_open(&m, path, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "vw_model_open: %s (%s)", apic_err_name(rc), why);
  return m;
}

static apic_trace *open_reader(const char *path) {
  apic_trace *t = NULL;
  char why[512];
  int rc = apic_trace_open(&t, path, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "apic_trace_open: %s (%s)", apic_err_name(rc), why);
  return t;
}

static void build_overview(vw_model *m) {
  for (int i = 0; i < 1000000 && !vw_model_overview_step(m, 5.0); i++) {}
  ck_assert_int_eq(vw_model_overview_step(m, 5.0), 1);
}

/* The lane state the viewer must show for a core state (viewer.h vw_state). */
typedef struct lstate { uint8_t state; uint16_t vector; uint8_t depth; } lstate;

static lstate expect_lane(const apic_core_state *cs) {
  lstate l = {VW_NONE, 0, 0};
  if (cs->nest) {
    uint32_t k = cs->nest < APIC_CORE_MAX_NEST ? cs->nest : APIC_CORE_MAX_NEST;
    l.state = VW_HANDLER;
    l.vector = cs->vectors[k - 1];
    l.depth = (uint8_t)(cs->nest - 1);
  } else if (cs->run == APIC_CORE_RUNNING) {
    l.state = cs->if_flag ? VW_RUN : VW_IRQOFF;
  } else if (cs->run == APIC_CORE_HALTED || cs->run == APIC_CORE_DONE) {
    l.state = VW_HALT;
  } else if (cs->run == APIC_CORE_WAIT_SIPI) {
    l.state = VW_WAIT_SIPI;
  }
  return l;
}

/* The segment of a lane holding cycle c, or NULL. */
static const vw_seg *seg_at(const vw_seg *s, uint32_t n, uint64_t c) {
  for (uint32_t i = 0; i < n; i++)
    if (s[i].from <= c && c < s[i].to) return &s[i];
  return NULL;
}

/* Segments are in order, do not overlap, and lie inside [from, to). */
static void check_lane_shape(const vw_seg *s, uint32_t n, uint64_t from, uint64_t to,
                             int contiguous) {
  for (uint32_t i = 0; i < n; i++) {
    ck_assert_msg(s[i].from < s[i].to, "empty segment %u [%llu, %llu)", i,
                  (unsigned long long)s[i].from, (unsigned long long)s[i].to);
    ck_assert_uint_ge(s[i].from, from);
    ck_assert_uint_le(s[i].to, to);
    ck_assert_uint_lt(s[i].state, VW_STATE_COUNT);
    if (i) {
      ck_assert_uint_ge(s[i].from, s[i - 1].to);
      if (contiguous) ck_assert_uint_eq(s[i].from, s[i - 1].to);
    }
  }
  if (contiguous && n) {
    ck_assert_uint_eq(s[0].from, from);
    ck_assert_uint_eq(s[n - 1].to, to);
  }
}

/* ---- traces ---- */

typedef struct tdata {
  uint32_t ncpus, nprog, rounds;
  uint32_t init_target, init_round;  /* core 6 sends INIT+SIPI to this core at this round */
  uint8_t page;
} tdata;

/* Each core pings others with work between, with IF = 0 stretches and
   halts; the last core with a program also restarts another by INIT/SIPI. */
static int prog_chatter(apic_cpu *c, void *arg) {
  tdata *d = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < d->rounds; APIC_L(c, 0)++) {
    if (me == d->nprog - 1 && APIC_L(c, 0) == d->init_round && d->init_target != APIC_NONE) {
      APIC_MARK(c, "INIT");
      APIC_SPIN_ICR_IDLE(c);
      apic_cpu_send_ipi(c, d->init_target, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL));
      APIC_YIELD(c);
      APIC_SPIN_ICR_IDLE(c);
      APIC_WORK(c, 1000);
      APIC_MARK(c, "SIPI");
      apic_cpu_send_ipi(c, d->init_target, APIC_ICR_LO(d->page, APIC_DM_STARTUP, 0));
      APIC_YIELD(c);
    }
    APIC_SPIN_ICR_IDLE(c);
    apic_cpu_send_ipi(c, (me + 1 + (uint32_t)APIC_L(c, 0) % (d->nprog - 1)) % d->nprog,
                      APIC_ICR_LO(0x40 + 0x10 * (me % 4), APIC_DM_FIXED, 0));
    APIC_YIELD(c);
    if (APIC_L(c, 0) % 3 == 0) {
      APIC_CLI(c);
      APIC_WORK(c, 150 + 7 * me);
      APIC_STI(c);
    }
    APIC_WORK(c, 100 + 13 * me);
    if (APIC_L(c, 0) % 5 == 4) APIC_HLT(c);
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* After SIPI: an NMI to core 0, some work, a fixed IPI, then done. */
static int prog_after_sipi(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_MARK(c, "AP up");
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  apic_cpu_send_ipi(c, 0, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  APIC_YIELD(c);
  APIC_WORK(c, 400);
  apic_cpu_send_ipi(c, 1, APIC_ICR_LO(0x55, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  APIC_END(c);
}

static int h_nest(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_STI(c);
  APIC_WORK(c, 200);
  APIC_EOI(c);
  APIC_END(c);
}

static int h_short(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WORK(c, 30);
  APIC_EOI(c);
  APIC_END(c);
}

static int h_nmi(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 10; APIC_L(c, 0)++) APIC_WORK(c, 10);
  APIC_END(c);
}

typedef struct trace_run {
  char path[256];
  tu_log log;
  uint32_t ncpus;
} trace_run;

/*
 * The chatter machine: ncpus cores (the last one has no program), an I/O
 * APIC pin 1 toggling (edge, vector 0xA0 to core 2), chunks of chunk_records.
 */
static void make_chatter_on(trace_run *r, apic_bus_kind bus, uint32_t ncpus, uint32_t rounds,
                            uint32_t chunk_records, int init_sipi) {
  memset(r, 0, sizeof *r);
  tmp_path(r->path, sizeof r->path);
  r->ncpus = ncpus;
  apic_config cfg = tu_config(ncpus, bus, bus == APIC_BUS_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (bus == APIC_BUS_MESH) cfg.sockets = 2;
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_add_hook(s, tu_record, NULL, &r->log), APIC_OK);
  apic_trace_writer *w = NULL;
  apic_trace_opts o = {chunk_records, -1, "viewer-model", 1};
  char why[256];
  int rc = apic_trace_writer_open(&w, s, r->path, &o, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "writer_open: %s", why);
  tdata *d = calloc(1, sizeof *d);
  ck_assert_ptr_nonnull(d);
  d->ncpus = ncpus;
  d->nprog = ncpus - 1;
  d->rounds = rounds;
  d->init_target = init_sipi ? 5 % d->nprog : APIC_NONE;
  d->init_round = rounds / 3;
  d->page = 0x9A;
  for (uint32_t v = 0x40; v <= 0x70; v += 0x10)
    apic_sim_set_handler(s, APIC_NONE, (uint8_t)v, h_nest, d);
  apic_sim_set_handler(s, APIC_NONE, 0x55, h_short, d);
  apic_sim_set_handler(s, APIC_NONE, 0xA0, h_short, d);
  apic_sim_set_handler(s, APIC_NONE, 2, h_nmi, d);
  apic_sim_set_startup(s, d->page, prog_after_sipi, d);
  for (uint32_t i = 0; i < d->nprog; i++) apic_sim_set_program(s, i, prog_chatter, d);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 1, 0xA0 | ((uint64_t)2 << APIC_RTE_DEST_SHIFT)),
                   APIC_OK);
  for (uint64_t k = 0; k < 40; k++)
    ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 1, (int)(k & 1) ^ 1, 500 + 1700 * k), APIC_OK);
  rc = apic_sim_run(s, 50000000);
  ck_assert_msg(rc >= 0, "run: %s", apic_sim_errmsg(s));
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
  free(d);
}

static void make_chatter(trace_run *r, uint32_t ncpus, uint32_t rounds, uint32_t chunk_records,
                         int init_sipi) {
  make_chatter_on(r, APIC_BUS_XAPIC, ncpus, rounds, chunk_records, init_sipi);
}

static const apic_bus_kind buses[] = {APIC_BUS_XAPIC, APIC_BUS_P6, APIC_BUS_MESH};
static const char *const bus_names[] = {"xapic", "p6", "mesh"};

static void drop_run(trace_run *r) {
  if (!getenv("APICVIEW_KEEP")) unlink(r->path);
  tu_log_free(&r->log);
}

/* ---- a reference linker over the recorded events ---- */

typedef struct xarrow {
  uint64_t msg, from, to;
  uint32_t fl, tl;
  uint8_t vector, kind;
} xarrow;

typedef struct xset { xarrow *a; size_t n, cap; } xset;

static void xpush(xset *s, xarrow a) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->a = realloc(s->a, s->cap * sizeof *s->a);
    ck_assert_ptr_nonnull(s->a);
  }
  s->a[s->n++] = a;
}

static int xcmp(const void *pa, const void *pb) {
  const xarrow *a = pa, *b = pb;
  if (a->msg != b->msg) return a->msg < b->msg ? -1 : 1;
  if (a->tl != b->tl) return a->tl < b->tl ? -1 : 1;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  return 0;
}

typedef struct xorig { uint64_t cycle; uint32_t lane; uint8_t vector; int known; } xorig;

/*
 * Every arrow, found the slow way: origins by message id (ICR_WRITE carries
 * the id its message gets) or by the last pin edge of the message's vector;
 * deliveries by IRR_SET / IRR_COALESCED / PENDING; the handler entry that
 * serves an IRR_SET is the first HANDLER_ENTER on the receiver after the
 * first ACCEPT of the vector there (unless RESET or INIT came first).
 */
static void reference_arrows(const tu_log *log, uint32_t ncpus, xset *out) {
  uint64_t maxid = 0;
  for (size_t i = 0; i < log->n; i++)
    if (log->ev[i].msg > maxid) maxid = log->ev[i].msg;
  xorig *o = calloc(maxid + 2, sizeof *o);
  ck_assert_ptr_nonnull(o);
  for (size_t i = 0; i < log->n; i++) {
    const apic_event *e = &log->ev[i];
    if (e->kind == APIC_EV_ICR_WRITE && e->msg && e->cpu < ncpus)
      o[e->msg] = (xorig){e->cycle, e->cpu, e->vector, 1};
    if (e->kind == APIC_EV_MSG_SEND && e->b == APIC_MSG_INTERRUPT) {
      xorig *g = &o[e->msg];
      g->vector = e->vector;
      if (g->known == 1) continue;
      g->known = 1;
      g->cycle = e->cycle;
      g->lane = VW_LANE_BUS;
      if (e->flags & APIC_EVF_IOAPIC) {  /* the last pin edge of this vector, unused */
        for (size_t k = i; k-- > 0;) {
          const apic_event *p = &log->ev[k];
          if (p->kind == APIC_EV_MSG_SEND && (p->flags & APIC_EVF_IOAPIC) &&
              p->vector == e->vector)
            break;
          if (p->kind == APIC_EV_PIN && (p->flags & APIC_EVF_IOAPIC) && p->src == e->src &&
              p->vector == e->vector) {
            g->cycle = p->cycle;
            g->lane = VW_LANE_PIN(p->src, p->a);
            break;
          }
        }
      } else if (e->src < ncpus) {
        g->lane = e->src;
      }
    }
  }
  for (size_t i = 0; i < log->n; i++) {
    const apic_event *e = &log->ev[i];
    if (!e->msg || e->cpu >= ncpus || !o[e->msg].known) continue;
    const xorig *g = &o[e->msg];
    if (e->kind == APIC_EV_IRR_SET || e->kind == APIC_EV_IRR_COALESCED)
      xpush(out, (xarrow){e->msg, g->cycle, e->cycle, g->lane, e->cpu, e->vector,
                          e->kind == APIC_EV_IRR_SET ? VW_ARROW_IRR : VW_ARROW_COALESCED});
    else if (e->kind == APIC_EV_PENDING && e->a <= APIC_INTR_SIPI)
      xpush(out, (xarrow){e->msg, g->cycle, e->cycle, g->lane, e->cpu, g->vector, VW_ARROW_IRR});
    uint32_t take = e->kind == APIC_EV_IRR_SET ? APIC_EV_ACCEPT
                  : e->kind == APIC_EV_PENDING && e->a == APIC_INTR_NMI ? APIC_EV_NMI
                  : APIC_EV__COUNT;
    if (take == APIC_EV__COUNT) continue;
    size_t k = i + 1;
    for (; k < log->n; k++) {
      const apic_event *x = &log->ev[k];
      if (x->cpu != e->cpu) continue;
      if (x->kind == APIC_EV_RESET || x->kind == APIC_EV_INIT) { k = log->n; break; }
      if (x->kind == take && (take == APIC_EV_NMI || x->vector == e->vector)) break;
    }
    for (k++; k < log->n; k++) {
      const apic_event *x = &log->ev[k];
      if (x->cpu == e->cpu && x->kind == APIC_EV_HANDLER_ENTER) {
        xpush(out, (xarrow){e->msg, g->cycle, x->cycle, g->lane, e->cpu,
                            take == APIC_EV_NMI ? 2 : e->vector, VW_ARROW_HANDLER});
        break;
      }
    }
  }
  free(o);
  qsort(out->a, out->n, sizeof *out->a, xcmp);
}

static const xarrow *xfind(const xset *s, uint64_t msg, uint32_t tl, uint8_t kind) {
  xarrow key = {msg, 0, 0, 0, tl, 0, kind};
  return bsearch(&key, s->a, s->n, sizeof *s->a, xcmp);
}

/* Every reference arrow with both ends in [from, to) is in the frame, and
   every arrow of the frame is a reference arrow. Returns how many matched. */
static size_t check_arrows(const vw_frame *f, const xset *ref, uint64_t from, uint64_t to) {
  for (uint32_t i = 0; i < f->narrows; i++) {
    const vw_arrow *a = &f->arrows[i];
    const xarrow *x = xfind(ref, a->msg, a->to_lane, a->kind);
    ck_assert_msg(x != NULL, "arrow of msg %llu to lane %u kind %u is not in the trace",
                  (unsigned long long)a->msg, a->to_lane, a->kind);
    ck_assert_msg(x->from == a->from_cycle && x->to == a->to_cycle && x->fl == a->from_lane &&
                  x->vector == a->vector,
                  "msg %llu kind %u: model %llu@%u -> %llu, trace %llu@%u -> %llu",
                  (unsigned long long)a->msg, a->kind, (unsigned long long)a->from_cycle,
                  a->from_lane, (unsigned long long)a->to_cycle, (unsigned long long)x->from,
                  x->fl, (unsigned long long)x->to);
  }
  size_t want = 0;
  for (size_t k = 0; k < ref->n; k++) {
    const xarrow *x = &ref->a[k];
    if (x->from < from || x->to >= to) continue;
    want++;
    int found = 0;
    for (uint32_t i = 0; i < f->narrows && !found; i++)
      found = f->arrows[i].msg == x->msg && f->arrows[i].to_lane == x->tl &&
              f->arrows[i].kind == x->kind;
    ck_assert_msg(found, "window [%llu, %llu): arrow of msg %llu (%llu -> %llu, lane %u, "
                  "kind %u) missing", (unsigned long long)from, (unsigned long long)to,
                  (unsigned long long)x->msg, (unsigned long long)x->from,
                  (unsigned long long)x->to, x->tl, x->kind);
  }
  return want;
}

/* ---- lanes against the reader ---- */

static void check_lanes_vs_reader(vw_model *m, apic_trace *t, uint64_t from, uint64_t to,
                                  int samples, uint64_t *seed) {
  const apic_trace_info *info = vw_model_info(m);
  uint32_t n = info->config.ncpus;
  const vw_frame *f = vw_model_query(m, from, to, (uint32_t)(to - from));
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(f->from_overview, 0);
  uint64_t a = from < info->first_cycle ? info->first_cycle : from;
  uint64_t z = to > info->last_cycle + 1 ? info->last_cycle + 1 : to;
  for (uint32_t c = 0; c < n; c++) check_lane_shape(f->lane[c], f->nlane[c], a, z, 1);
  /* copy: the reader's seeks do not touch the model, but keep it simple */
  uint64_t *cyc = malloc((size_t)samples * sizeof *cyc);
  ck_assert_ptr_nonnull(cyc);
  for (int i = 0; i < samples; i++) cyc[i] = a + rnd(seed) % (z - a);
  cyc[0] = a;
  cyc[samples - 1] = z - 1;
  for (int i = 0; i < samples; i++) {
    ck_assert_int_eq(apic_trace_seek(t, cyc[i]), APIC_OK);
    for (uint32_t c = 0; c < n; c++) {
      apic_core_state cs;
      ck_assert_int_eq(apic_trace_core_state(t, c, &cs), APIC_OK);
      lstate want = expect_lane(&cs);
      const vw_seg *s = seg_at(f->lane[c], f->nlane[c], cyc[i]);
      ck_assert_msg(s != NULL, "cpu %u: no segment at cycle %llu", c,
                    (unsigned long long)cyc[i]);
      ck_assert_msg(s->state == want.state && s->vector == want.vector &&
                    s->depth == want.depth && !s->mixed,
                    "cpu %u cycle %llu: lane %u/0x%x/%u, reader %u/0x%x/%u", c,
                    (unsigned long long)cyc[i], s->state, s->vector, s->depth, want.state,
                    want.vector, want.depth);
    }
  }
  free(cyc);
}

/* viewer.h vw_model_query: at one column per cycle the lanes are the
   reader's state (apic_trace_seek + apic_trace_core_state) at every sampled
   cycle, for windows inside one chunk, across many, at the trace's ends and
   past them; segments tile the window. */
START_TEST(lanes_match_reader_state) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  vw_model *m = open_model(r.path);
  apic_trace *t = open_reader(r.path);
  const apic_trace_info *info = vw_model_info(m);
  ck_assert_uint_gt(info->chunks, 40);
  uint64_t first = info->first_cycle, last = info->last_cycle, seed = 42;
  check_lanes_vs_reader(m, t, first, last + 1, 300, &seed);
  for (int k = 0; k < 60; k++) {
    uint64_t w = (uint64_t)1 << (3 + rnd(&seed) % 14);
    uint64_t a = first + rnd(&seed) % (last - first + 1);
    check_lanes_vs_reader(m, t, a, a + w, 40, &seed);
  }
  /* exactly at chunk boundaries */
  for (uint32_t i = 1; i < info->chunks; i += info->chunks / 7) {
    uint64_t c0;
    ck_assert_int_eq(apic_trace_chunk(t, i, &c0, NULL, NULL), APIC_OK);
    check_lanes_vs_reader(m, t, c0 > 5 ? c0 - 5 : 0, c0 + 5, 10, &seed);
    check_lanes_vs_reader(m, t, c0, c0 + 1, 2, &seed);
  }
  /* the core without a program shows VW_NONE; the others not */
  const vw_frame *f = vw_model_query(m, first, last + 1, 1000);
  ck_assert_uint_ge(f->nlane[7], 1);
  for (uint32_t i = 0; i < f->nlane[7]; i++) ck_assert_uint_eq(f->lane[7][i].state, VW_NONE);
  int seen[VW_STATE_COUNT] = {0};
  f = vw_model_query(m, first, last + 1, (uint32_t)(last + 1 - first));
  for (uint32_t c = 0; c < 7; c++)
    for (uint32_t i = 0; i < f->nlane[c]; i++) seen[f->lane[c][i].state] = 1;
  for (int s = VW_RUN; s < VW_STATE_COUNT; s++) ck_assert_msg(seen[s], "no state %d seen", s);
  /* before and after the trace: nothing */
  f = vw_model_query(m, last + 10, last + 1000, 100);
  for (uint32_t c = 0; c < 8; c++) ck_assert_uint_eq(f->nlane[c], 0);
  apic_trace_close(t);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_model_query: zoomed out, runs of segments shorter than a
   column become mixed segments (handler if any handler ran), lanes still
   tile the window, and the output buffers are reused between calls. */
START_TEST(short_segments_merge_into_mixed) {
  trace_run r;
  make_chatter(&r, 6, 40, 64, 0);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1;
  uint64_t from = first + (end - first) / 3, to = from + 5000;
  const vw_frame *fine = vw_model_query(m, from, to, 5000);
  uint32_t nfine = fine->nlane[0];
  vw_seg *copy = malloc(nfine * sizeof *copy);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, fine->lane[0], nfine * sizeof *copy);
  const vw_frame *f = vw_model_query(m, from, to, 20);
  uint64_t px = (to - from) / 20;
  check_lane_shape(f->lane[0], f->nlane[0], from, to, 1);
  ck_assert_uint_le(f->nlane[0], nfine);
  int mixed = 0;
  for (uint32_t i = 0; i < f->nlane[0]; i++) {
    const vw_seg *s = &f->lane[0][i];
    if (!s->mixed) continue;
    mixed++;
    ck_assert_uint_ge(s->to - s->from, px);  /* a run is closed once it fills a column */
    uint64_t t[VW_STATE_COUNT] = {0};
    for (uint32_t k = 0; k < nfine; k++) {
      uint64_t a = copy[k].from > s->from ? copy[k].from : s->from;
      uint64_t b = copy[k].to < s->to ? copy[k].to : s->to;
      if (a < b) t[copy[k].state] += b - a;
    }
    if (t[VW_HANDLER]) ck_assert_uint_eq(s->state, VW_HANDLER);
    else
      for (int k = 0; k < VW_STATE_COUNT; k++) ck_assert_uint_ge(t[s->state], t[k]);
  }
  ck_assert_int_gt(mixed, 0);
  /* same query, same buffers */
  const vw_seg *p = f->lane[0];
  f = vw_model_query(m, from, to, 20);
  ck_assert_ptr_eq(f->lane[0], p);
  free(copy);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* ---- arrows and messages ---- */

/* viewer.h vw_arrow: an IPI's arrows start at the sender's ICR write and end
   at the receiver's IRR_SET and at the handler entry that served it, also
   when the ends lie in different chunks; every arrow the model draws is one
   of the trace's, and every one with both ends in the window is drawn. */
START_TEST(ipi_arrow_ends_where_handler_starts) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  xset ref = {0};
  reference_arrows(&r.log, 8, &ref);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  /* one IPI by hand: from core 0's 10th ICR write on, the first whose message
     reaches a handler more than a chunk (64 records) later */
  const apic_event *w = NULL, *irr = NULL, *acc = NULL, *enter = NULL, *send = NULL,
                   *done = NULL;
  size_t nth = 0;
  for (size_t k = 0; k < r.log.n && !enter; k++) {
    w = &r.log.ev[k];
    if (w->kind != APIC_EV_ICR_WRITE || w->cpu != 0 || nth++ < 10) continue;
    irr = acc = enter = send = done = NULL;
    for (size_t i = k; i < r.log.n; i++) {
      const apic_event *e = &r.log.ev[i];
      if (!send && e->kind == APIC_EV_MSG_SEND && e->msg == w->msg) send = e;
      if (!done && e->kind == APIC_EV_MSG_DONE && e->msg == w->msg) done = e;
      if (!irr && e->kind == APIC_EV_IRR_SET && e->msg == w->msg) irr = e;
      if (irr && !acc && e->kind == APIC_EV_ACCEPT && e->cpu == irr->cpu &&
          e->vector == irr->vector)
        acc = e;
      if (acc && e > acc && e->kind == APIC_EV_HANDLER_ENTER && e->cpu == irr->cpu) {
        enter = e;
        break;
      }
    }
    if (enter && enter - w < 64) enter = NULL;
  }
  ck_assert_ptr_nonnull(enter);
  ck_assert_ptr_nonnull(send);
  ck_assert_ptr_nonnull(done);
  const vw_frame *f = vw_model_query(m, w->cycle, enter->cycle + 1, 800);
  int got_irr = 0, got_handler = 0;
  for (uint32_t i = 0; i < f->narrows; i++) {
    const vw_arrow *a = &f->arrows[i];
    if (a->msg != w->msg) continue;
    ck_assert_uint_eq(a->from_cycle, w->cycle);
    ck_assert_uint_eq(a->from_lane, 0);
    ck_assert_uint_eq(a->to_lane, irr->cpu);
    ck_assert_uint_eq(a->vector, w->vector);
    if (a->kind == VW_ARROW_IRR) {
      ck_assert_uint_eq(a->to_cycle, irr->cycle);
      got_irr = 1;
    } else if (a->kind == VW_ARROW_HANDLER) {
      ck_assert_uint_eq(a->to_cycle, enter->cycle);
      got_handler = 1;
    }
  }
  ck_assert(got_irr && got_handler);
  int got_msg = 0;
  for (uint32_t i = 0; i < f->nmsgs; i++) {
    const vw_msg *g = &f->msgs[i];
    if (g->id != w->msg) continue;
    got_msg = 1;
    ck_assert_uint_eq(g->sent, send->cycle);
    ck_assert_uint_eq(g->left, done->cycle);
    ck_assert_uint_eq(g->done, irr->cycle);
    ck_assert_uint_eq(g->src, 0);
    ck_assert_uint_eq(g->from_ioapic, 0);
    ck_assert_uint_eq(g->vector, w->vector);
    ck_assert_uint_eq(g->dest, irr->cpu);
  }
  ck_assert(got_msg);
  ck_assert_int_eq(f->from_overview, 0);
  /* all arrows, in windows of many sizes, including ones from the pin */
  uint64_t seed = 7, first = info->first_cycle, last = info->last_cycle;
  size_t checked = 0;
  for (int k = 0; k < 80; k++) {
    uint64_t len = (uint64_t)200 << (rnd(&seed) % 7);
    uint64_t a = first + rnd(&seed) % (last - first + 1);
    checked += check_arrows(vw_model_query(m, a, a + len, 1000), &ref, a, a + len);
  }
  ck_assert_uint_gt(checked, 500);
  int pin_arrows = 0, nmi_arrows = 0;
  for (size_t k = 0; k < ref.n; k++) {
    pin_arrows += (ref.a[k].fl & 0xFFFF0000u) == 0xFFFF0000u && ref.a[k].fl != VW_LANE_BUS;
    nmi_arrows += ref.a[k].kind == VW_ARROW_HANDLER && ref.a[k].vector == 2;
  }
  ck_assert_int_gt(pin_arrows, 0);
  ck_assert_int_gt(nmi_arrows, 0);
  free(ref.a);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

static int prog_double_send(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 200);
  apic_cpu_send_ipi(c, 1, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  APIC_SPIN_ICR_IDLE(c);
  apic_cpu_send_ipi(c, 1, APIC_ICR_LO(0x50, APIC_DM_FIXED, 0));
  APIC_YIELD(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static int prog_cli_long(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_CLI(c);
  APIC_WORK(c, 5000);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* viewer.h VW_ARROW_COALESCED: a second IPI of a vector still pending in
   IRR gives a coalesced arrow to the receiver; only the first one gets a
   handler arrow. */
START_TEST(coalesced_delivery_gives_coalesced_arrow) {
  trace_run r = {0};
  tmp_path(r.path, sizeof r.path);
  apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_sim_add_hook(s, tu_record, NULL, &r.log), APIC_OK);
  apic_trace_writer *w = NULL;
  apic_trace_opts o = {8, -1, NULL, 1};
  char why[256];
  ck_assert_int_eq(apic_trace_writer_open(&w, s, r.path, &o, why, sizeof why), APIC_OK);
  apic_sim_set_handler(s, APIC_NONE, 0x50, h_short, NULL);
  apic_sim_set_program(s, 0, prog_double_send, NULL);
  apic_sim_set_program(s, 1, prog_cli_long, NULL);
  ck_assert_int_ge(apic_sim_run(s, 1000000), 0);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
  ck_assert_uint_eq(tu_count(&r.log, APIC_EV_IRR_COALESCED, 1, 0x50), 1);
  const apic_event *co = tu_find(&r.log, APIC_EV_IRR_COALESCED, 1, 0x50, 0);
  const apic_event *en = tu_find(&r.log, APIC_EV_HANDLER_ENTER, 1, 0x50, 0);
  ck_assert_ptr_nonnull(en);

  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  ck_assert_uint_gt(info->chunks, 3);
  const vw_frame *f = vw_model_query(m, info->first_cycle, info->last_cycle + 1, 1000);
  ck_assert_int_eq(f->from_overview, 0);
  int irr = 0, coal = 0, handler = 0;
  for (uint32_t i = 0; i < f->narrows; i++) {
    const vw_arrow *a = &f->arrows[i];
    ck_assert_uint_eq(a->to_lane, 1);
    ck_assert_uint_eq(a->from_lane, 0);
    ck_assert_uint_eq(a->vector, 0x50);
    if (a->kind == VW_ARROW_COALESCED) {
      coal++;
      ck_assert_uint_eq(a->to_cycle, co->cycle);
      ck_assert_uint_eq(a->msg, co->msg);
    } else if (a->kind == VW_ARROW_HANDLER) {
      handler++;
      ck_assert_uint_eq(a->to_cycle, en->cycle);
      ck_assert_uint_ne(a->msg, co->msg);
    } else {
      irr++;
    }
  }
  ck_assert_int_eq(irr, 1);
  ck_assert_int_eq(coal, 1);
  ck_assert_int_eq(handler, 1);
  ck_assert_uint_eq(f->nmsgs, 2);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* ---- overview ---- */

/* Per core, the reader's lane state after every record: the reference for
   time spent per state. */
typedef struct ref_lanes {
  uint64_t **cyc;   /* change cycles per core, starting at the first cycle */
  lstate **st;
  size_t *n, *cap;
  uint32_t ncpus;
  uint64_t end;
} ref_lanes;

static void ref_push(ref_lanes *r, uint32_t c, uint64_t cycle, lstate s) {
  size_t n = r->n[c];
  if (n && r->cyc[c][n - 1] == cycle) {
    r->st[c][n - 1] = s;
    return;
  }
  if (n && !memcmp(&r->st[c][n - 1], &s, sizeof s)) return;
  if (n == r->cap[c]) {
    r->cap[c] = r->cap[c] ? r->cap[c] * 2 : 64;
    r->cyc[c] = realloc(r->cyc[c], r->cap[c] * sizeof *r->cyc[c]);
    r->st[c] = realloc(r->st[c], r->cap[c] * sizeof *r->st[c]);
    ck_assert(r->cyc[c] && r->st[c]);
  }
  r->cyc[c][n] = cycle;
  r->st[c][n] = s;
  r->n[c] = n + 1;
}

/*
 * What apic_trace_seek(c) + apic_trace_core_state say for every c, built in
 * one pass over the records: the core of each record changes after it; and
 * when record R opens a chunk, seek answers from that chunk's snapshot from
 * the cycle of record R - 1 on (its position is the next chunk from there),
 * so every core takes what a second reader seeking to that cycle says.
 */
static void ref_build(ref_lanes *r, const char *path) {
  apic_trace *t = open_reader(path), *u = open_reader(path);
  const apic_trace_info *info = apic_trace_info_get(t);
  uint32_t n = info->config.ncpus;
  memset(r, 0, sizeof *r);
  r->ncpus = n;
  r->end = info->last_cycle + 1;
  r->cyc = calloc(n, sizeof *r->cyc);
  r->st = calloc(n, sizeof *r->st);
  r->n = calloc(n, sizeof *r->n);
  r->cap = calloc(n, sizeof *r->cap);
  ck_assert(r->cyc && r->st && r->n && r->cap);
  for (uint32_t c = 0; c < n; c++) {
    apic_core_state cs;
    ck_assert_int_eq(apic_trace_core_state(t, c, &cs), APIC_OK);
    ref_push(r, c, info->first_cycle, expect_lane(&cs));
  }
  apic_event ev;
  int rc;
  uint64_t idx = 0, chunk_end = 0, prev = info->first_cycle;
  uint32_t ck = 0, recs = 0;
  ck_assert_int_eq(apic_trace_chunk(t, 0, NULL, NULL, &recs), APIC_OK);
  chunk_end = recs;
  while ((rc = apic_trace_next(t, &ev)) == APIC_OK) {
    if (idx == chunk_end) {  /* R opens a later chunk */
      while (idx == chunk_end && ck + 1 < info->chunks) {
        ck++;
        ck_assert_int_eq(apic_trace_chunk(t, ck, NULL, NULL, &recs), APIC_OK);
        chunk_end += recs;
      }
      ck_assert_int_eq(apic_trace_seek(u, prev), APIC_OK);
      for (uint32_t c = 0; c < n; c++) {
        apic_core_state cs;
        ck_assert_int_eq(apic_trace_core_state(u, c, &cs), APIC_OK);
        ref_push(r, c, prev, expect_lane(&cs));
      }
    }
    idx++;
    prev = ev.cycle;
    if (ev.cpu >= n) continue;
    apic_core_state cs;
    apic_trace_core_state(t, ev.cpu, &cs);
    ref_push(r, ev.cpu, ev.cycle, expect_lane(&cs));
  }
  ck_assert_int_eq(rc, APIC_E_END);
  apic_trace_close(t);
  apic_trace_close(u);
}

static void ref_free(ref_lanes *r) {
  for (uint32_t c = 0; c < r->ncpus; c++) {
    free(r->cyc[c]);
    free(r->st[c]);
  }
  free(r->cyc);
  free(r->st);
  free(r->n);
  free(r->cap);
}

/* Time per state of core c in [a, b). */
static void ref_time(const ref_lanes *r, uint32_t c, uint64_t a, uint64_t b,
                     uint64_t t[VW_STATE_COUNT]) {
  memset(t, 0, VW_STATE_COUNT * sizeof *t);
  size_t lo = 0, hi = r->n[c];
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (r->cyc[c][mid] <= a) lo = mid; else hi = mid;
  }
  for (size_t k = lo; k < r->n[c]; k++) {
    uint64_t s = r->cyc[c][k], e = k + 1 < r->n[c] ? r->cyc[c][k + 1] : r->end;
    if (s >= b) break;
    if (s < a) s = a;
    if (e > b) e = b;
    if (s < e) t[r->st[c][k].state] += e - s;
  }
}

/* Lanes at one column per cycle equal the reference at every cycle of [from, to). */
static void check_lanes_exact(vw_model *m, const ref_lanes *ref, uint64_t from, uint64_t to) {
  const vw_frame *f = vw_model_query(m, from, to, (uint32_t)(to - from));
  ck_assert_int_eq(f->from_overview, 0);
  for (uint32_t c = 0; c < ref->ncpus; c++) {
    check_lane_shape(f->lane[c], f->nlane[c], from, to, 1);
    for (uint32_t i = 0; i < f->nlane[c]; i++) {
      const vw_seg *s = &f->lane[c][i];
      uint64_t t[VW_STATE_COUNT];
      ref_time(ref, c, s->from, s->to, t);
      ck_assert_msg(!s->mixed && t[s->state] == s->to - s->from,
                    "cpu %u [%llu, %llu): lane %u, the reader has it for %llu cycles", c,
                    (unsigned long long)s->from, (unsigned long long)s->to, s->state,
                    (unsigned long long)t[s->state]);
      if (s->state == VW_HANDLER) {  /* and the same handler all along */
        size_t lo = 0, hi = ref->n[c];
        while (hi - lo > 1) {
          size_t mid = (lo + hi) / 2;
          if (ref->cyc[c][mid] <= s->from) lo = mid; else hi = mid;
        }
        for (size_t k = lo; k < ref->n[c] && ref->cyc[c][k] < s->to; k++)
          ck_assert(ref->st[c][k].vector == s->vector && ref->st[c][k].depth == s->depth);
      }
    }
  }
}

/* The same, exactly: every cycle of windows of a few chunks sliding over the
   whole trace (in both directions, so that chunks are decoded in and out of
   order), on traces where programs finish and cores take nested handlers
   after that (where replaying records and the snapshots disagree). */
START_TEST(lanes_equal_reader_at_every_cycle) {
  static const uint32_t chunk[] = {64, 17, 1000};
  for (int v = 0; v < 3; v++) {
    trace_run r;
    make_chatter_on(&r, buses[v], 8, 120, chunk[v], 1);
    ref_lanes ref;
    ref_build(&ref, r.path);
    vw_model *m = open_model(r.path);
    const apic_trace_info *info = vw_model_info(m);
    uint64_t first = info->first_cycle, end = info->last_cycle + 1;
    uint64_t w = (end - first) / (info->chunks / 3 + 1) + 1;
    for (uint64_t a = first; a < end; a += w / 2 + 1)
      check_lanes_exact(m, &ref, a, a + w < end ? a + w : end);
    for (uint64_t a = end; a > first + w / 3;) {
      a -= w / 3;
      check_lanes_exact(m, &ref, a, a + w < end ? a + w : end);
    }
    ref_free(&ref);
    vw_model_close(m);
    drop_run(&r);
  }
}
END_TEST

/* viewer.h vw_model_overview_step: a window over many chunks is drawn from
   the overview (from_overview = 1, no arrows or messages): before it is
   built every lane reads VW_NONE; once built, every segment's state is the
   one that covers most of it in the reader's state (and an unmixed one
   covers all of it); event density per core adds up to the events. */
START_TEST(zoomed_out_query_uses_overview) {
  trace_run r;
  make_chatter(&r, 8, 900, 64, 1);
  ck_assert_uint_gt(r.log.n, 70000);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1;
  const vw_frame *f = vw_model_query(m, first, end, 1000);
  ck_assert_int_eq(f->from_overview, 1);
  ck_assert_uint_eq(f->narrows, 0);
  ck_assert_uint_eq(f->nmsgs, 0);
  for (uint32_t c = 0; c < 8; c++)
    for (uint32_t i = 0; i < f->nlane[c]; i++) ck_assert_uint_eq(f->lane[c][i].state, VW_NONE);
  /* part of it: what is built shows, the rest is VW_NONE */
  ck_assert_int_eq(vw_model_overview_step(m, 0.0), 0);
  f = vw_model_query(m, first, end, 1000);
  check_lane_shape(f->lane[0], f->nlane[0], first, end, 1);
  ck_assert_uint_eq(f->lane[0][f->nlane[0] - 1].state, VW_NONE);
  build_overview(m);

  ref_lanes ref;
  ref_build(&ref, r.path);
  f = vw_model_query(m, first, end, (uint32_t)(end - first));
  ck_assert_int_eq(f->from_overview, 1);
  size_t nsegs = 0, nmixed = 0;
  for (uint32_t c = 0; c < 8; c++) {
    check_lane_shape(f->lane[c], f->nlane[c], first, end, 1);
    for (uint32_t i = 0; i < f->nlane[c]; i++) {
      const vw_seg *s = &f->lane[c][i];
      uint64_t t[VW_STATE_COUNT];
      ref_time(&ref, c, s->from, s->to, t);
      nsegs++;
      for (int k = 0; k < VW_STATE_COUNT; k++)
        ck_assert_msg(t[s->state] >= t[k], "cpu %u [%llu, %llu): overview %u, but state %d "
                      "covers more (%llu > %llu)", c, (unsigned long long)s->from,
                      (unsigned long long)s->to, s->state, k, (unsigned long long)t[k],
                      (unsigned long long)t[s->state]);
      if (s->mixed) nmixed++;
      else ck_assert_msg(t[s->state] == s->to - s->from, "cpu %u [%llu, %llu) unmixed %u, reader %llu of it", c, (unsigned long long)s->from, (unsigned long long)s->to, s->state, (unsigned long long)t[s->state]);
    }
  }
  ck_assert_uint_gt(nsegs, 100);
  ck_assert_uint_gt(nmixed, 0);
  /* zoomed in again: chunk data */
  f = vw_model_query(m, first + 1000, first + 3000, 500);
  ck_assert_int_eq(f->from_overview, 0);
  /* density */
  for (uint32_t c = 0; c < 8; c++) {
    uint64_t sum = 0;
    for (uint32_t b = 0; b < 512; b++) sum += vw_model_density(m, c, b, 512);
    uint64_t want = 0;
    for (size_t i = 0; i < r.log.n; i++) want += r.log.ev[i].cpu == c;
    ck_assert_uint_eq(sum, want);
  }
  ck_assert_uint_eq(vw_model_density(m, 99, 0, 4), 0);
  /* the pin: found, and its overview level is the one held longest */
  uint32_t io = 9, pin = 9;
  ck_assert_uint_eq(vw_model_pins(m, 0, &io, &pin), 1);
  ck_assert_uint_eq(io, 0);
  ck_assert_uint_eq(pin, 1);
  ck_assert_uint_ge(f->npin[0], 1);
  ref_free(&ref);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_model_query, zoomed far out (several overview buckets a
   column): a column shows the state that covers most of it, as a bucket
   does, not a handler that dominated only some of its buckets (a mostly
   halted core would look busy). Buckets are the resolution: the state shown
   covers at least half as much as any other. */
START_TEST(overview_columns_show_the_dominant_state) {
  trace_run r;
  make_chatter(&r, 8, 900, 64, 1);
  vw_model *m = open_model(r.path);
  build_overview(m);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1;
  ref_lanes ref;
  ref_build(&ref, r.path);
  uint32_t checked = 0;
  for (uint32_t cols = 50; cols <= 400; cols *= 2) {
    const vw_frame *f = vw_model_query(m, first, end, cols);
    ck_assert_int_eq(f->from_overview, 1);
    for (uint32_t c = 0; c < 8; c++) {
      check_lane_shape(f->lane[c], f->nlane[c], first, end, 1);
      for (uint32_t i = 0; i < f->nlane[c]; i++) {
        const vw_seg *s = &f->lane[c][i];
        uint64_t t[VW_STATE_COUNT];
        ref_time(&ref, c, s->from, s->to, t);
        for (int k = 0; k < VW_STATE_COUNT; k++)
          ck_assert_msg(2 * t[s->state] >= t[k], "%u cols, cpu %u [%llu, %llu): shows %u "
                        "for %llu cycles, state %d covers %llu", cols, c,
                        (unsigned long long)s->from, (unsigned long long)s->to, s->state,
                        (unsigned long long)t[s->state], k, (unsigned long long)t[k]);
        checked++;
      }
    }
  }
  ck_assert_uint_gt(checked, 1000);
  ref_free(&ref);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_model_density_table: while the overview builds and once it
   is built, every cell is what vw_model_density answers, whether the table
   was brought up to date a step at a time (the same width every call) or
   made anew (another width: fewer columns than buckets, more, one); the
   version moves whenever an answer changes. */
static void check_table(vw_model *m, uint32_t ncpus, uint32_t width) {
  const uint32_t *t = vw_model_density_table(m, width);
  ck_assert_ptr_nonnull(t);
  for (uint32_t c = 0; c < ncpus; c++)
    for (uint32_t b = 0; b < width; b++)
      if (t[(size_t)c * width + b] != vw_model_density(m, c, b, width))  /* (ck_assert is slow) */
        ck_abort_msg("width %u cpu %u bucket %u: table %u, density %u", width, c, b,
                     t[(size_t)c * width + b], vw_model_density(m, c, b, width));
}

START_TEST(density_table_matches_density) {
  trace_run r;
  make_chatter(&r, 8, 300, 64, 0);
  vw_model *m = open_model(r.path);
  static const uint32_t other[] = {1, 7, 640, 5000, 100000};
  enum { TRACKED = 1000 };
  uint32_t *prev = calloc((size_t)8 * TRACKED, sizeof *prev);
  ck_assert_ptr_nonnull(prev);
  check_table(m, 8, TRACKED);   /* nothing built yet: all zeros */
  for (uint32_t i = 0; i < 8 * TRACKED; i++)
    if (vw_model_density_table(m, TRACKED)[i]) ck_abort_msg("cell %u counted before the overview", i);
  int steps = 0, done = 0;
  while (!done) {
    uint64_t ver = vw_model_density_version(m);
    done = vw_model_overview_step(m, 0.0);   /* one slice of records */
    const uint32_t *t = vw_model_density_table(m, TRACKED);
    ck_assert_ptr_nonnull(t);
    if (memcmp(t, prev, (size_t)8 * TRACKED * sizeof *t))
      ck_assert_uint_ne(vw_model_density_version(m), ver);
    memcpy(prev, t, (size_t)8 * TRACKED * sizeof *t);
    check_table(m, 8, TRACKED);
    if (++steps % 7 == 0) check_table(m, 8, other[(steps / 7) % 5]);
  }
  ck_assert_int_gt(steps, 20);
  for (int k = 0; k < 5; k++) check_table(m, 8, other[k]);
  check_table(m, 8, TRACKED);
  /* the whole trace's events, whatever the width */
  for (uint32_t c = 0; c < 8; c++) {
    uint64_t want = 0, got = 0;
    for (size_t i = 0; i < r.log.n; i++) want += r.log.ev[i].cpu == c;
    const uint32_t *t = vw_model_density_table(m, 333);
    for (uint32_t b = 0; b < 333; b++) got += t[(size_t)c * 333 + b];
    ck_assert_uint_eq(got, want);
  }
  uint64_t ver = vw_model_density_version(m);
  ck_assert_int_eq(vw_model_overview_step(m, 1.0), 1);
  ck_assert_uint_eq(vw_model_density_version(m), ver);  /* nothing more to count */
  ck_assert_ptr_null(vw_model_density_table(m, 0));
  ck_assert_ptr_null(vw_model_density_table(NULL, 10));
  free(prev);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* ---- the state panel's reader ---- */

/* The state a fresh seek gives, field by field (apic_trace_now and what
   derives from it, the timer's current count and the ICR delivery status,
   may differ: viewer.h vw_model_trace_at). */
static void check_same_state(apic_trace *t, apic_trace *ref, uint32_t ncpus, uint64_t cycle) {
  for (uint32_t c = 0; c < ncpus; c++) {
    apic_lapic_state a, b;
    apic_core_state x, y;
    ck_assert_int_eq(apic_trace_lapic_state(t, c, &a), APIC_OK);
    ck_assert_int_eq(apic_trace_lapic_state(ref, c, &b), APIC_OK);
    ck_assert_int_eq(apic_trace_core_state(t, c, &x), APIC_OK);
    ck_assert_int_eq(apic_trace_core_state(ref, c, &y), APIC_OK);
    const char *what = NULL;
    if (a.id != b.id || a.tpr != b.tpr || a.apr != b.apr || a.ppr != b.ppr || a.ldr != b.ldr ||
        a.dfr != b.dfr || a.svr != b.svr || a.esr != b.esr)
      what = "id/tpr/apr/ppr/ldr/dfr/svr/esr";
    else if (memcmp(a.irr, b.irr, sizeof a.irr) || memcmp(a.isr, b.isr, sizeof a.isr) ||
             memcmp(a.tmr, b.tmr, sizeof a.tmr))
      what = "irr/isr/tmr";
    else if (a.lvt_cmci != b.lvt_cmci || a.lvt_timer != b.lvt_timer ||
             a.lvt_thermal != b.lvt_thermal || a.lvt_perf != b.lvt_perf ||
             a.lvt_lint0 != b.lvt_lint0 || a.lvt_lint1 != b.lvt_lint1 ||
             a.lvt_error != b.lvt_error)
      what = "lvt";
    else if ((a.icr_lo & ~APIC_ICR_DS) != (b.icr_lo & ~APIC_ICR_DS) || a.icr_hi != b.icr_hi ||
             a.timer_icr != b.timer_icr || a.timer_dcr != b.timer_dcr ||
             a.apic_base != b.apic_base || a.timer_next != b.timer_next ||
             a.ds_until != b.ds_until || a.sends_pending != b.sends_pending)
      what = "icr/timer/base/delivery";
    else if (a.x2apic != b.x2apic || a.nmi_pending != b.nmi_pending ||
             a.init_pending != b.init_pending || a.sipi_pending != b.sipi_pending ||
             a.smi_pending != b.smi_pending || a.wait_sipi != b.wait_sipi ||
             a.sipi_vector != b.sipi_vector || a.extint_pending != b.extint_pending)
      what = "pending inputs";
    else if (x.run != y.run || x.if_flag != y.if_flag || x.nmi_blocked != y.nmi_blocked ||
             x.in_smm != y.in_smm || x.nest != y.nest ||
             memcmp(x.vectors, y.vectors, sizeof x.vectors))
      what = "core state";
    ck_assert_msg(!what, "cycle %llu cpu %u: %s differs from a seek", (unsigned long long)cycle,
                  c, what);
  }
}

/* viewer.h vw_model_trace_at: the panel's reader at a cycle has the state a
   seek there gives, whether it read on (small steps forward over cached
   blocks), stayed, went back, jumped, or was moved by someone else. */
START_TEST(panel_reader_matches_seek) {
  trace_run r;
  make_chatter(&r, 8, 200, 64, 1);
  vw_model *m = open_model(r.path);
  apic_trace *ref = open_reader(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 5;
  int read_on = 0;
  uint64_t c = first;
  for (int i = 0; i < 400; i++) {
    uint64_t r0 = rnd(&seed) % 100;
    if (r0 < 60) c += rnd(&seed) % 400;                /* a playhead moving on */
    else if (r0 < 70) c = c > 500 ? c - rnd(&seed) % 500 : first;   /* back */
    else if (r0 < 75) c = first + rnd(&seed) % (end - first);        /* a jump */
    else if (r0 < 80) apic_trace_seek(vw_model_trace(m), first + rnd(&seed) % (end - first));
    if (c > end + 100) c = first;
    if (rnd(&seed) % 3) vw_model_query(m, c > 3000 ? c - 3000 : 0, c + 3000, 500);  /* drawn */
    apic_trace *t = NULL;
    ck_assert_int_eq(vw_model_trace_at(m, c, &t), APIC_OK);
    ck_assert_ptr_eq(t, vw_model_trace(m));
    ck_assert_int_eq(apic_trace_seek(ref, c), APIC_OK);
    read_on += apic_trace_now(t) != apic_trace_now(ref);  /* stood still, or read on */
    check_same_state(t, ref, 8, c);
  }
  ck_assert_int_gt(read_on, 20);
  apic_trace *t = NULL;
  ck_assert_int_eq(vw_model_trace_at(NULL, 5, &t), APIC_E_ARG);
  ck_assert_ptr_null(t);
  apic_trace_close(ref);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* ---- pins ---- */

/* viewer.h vw_pinseg: pin levels follow the reader's level at sampled cycles. */
START_TEST(pin_levels_match_reader) {
  trace_run r;
  make_chatter(&r, 6, 60, 64, 0);
  vw_model *m = open_model(r.path);
  apic_trace *t = open_reader(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 3;
  /* the pin is listed once a chunk holding one of its edges was decoded */
  const vw_frame *f = vw_model_query(m, first, first + 8000, 8000);
  uint32_t io = 9, pin = 9;
  ck_assert_uint_eq(vw_model_pins(m, 0, &io, &pin), 1);
  ck_assert_uint_eq(io, 0);
  ck_assert_uint_eq(pin, 1);
  for (int k = 0; k < 40; k++) {
    uint64_t a = first + rnd(&seed) % (end - first), w = 16 + rnd(&seed) % 6000;
    if (a + w > end) w = end - a;
    f = vw_model_query(m, a, a + w, (uint32_t)w);
    if (f->from_overview) continue;
    ck_assert_uint_ge(f->npin[0], 1);
    for (int i = 0; i < 10; i++) {
      uint64_t c = a + rnd(&seed) % w;
      int level = -1;
      ck_assert_int_eq(apic_trace_seek(t, c), APIC_OK);
      ck_assert_int_eq(apic_trace_ioapic_pin(t, 0, 1, NULL, &level), APIC_OK);
      int got = -1;
      for (uint32_t s = 0; s < f->npin[0]; s++)
        if (f->pin[0][s].from <= c && c < f->pin[0][s].to) got = f->pin[0][s].level;
      ck_assert_int_eq(got, level);
    }
  }
  apic_trace_close(t);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_pinseg: a pin lane shows the line asserted, its level against
   the entry's polarity (82093AA: interrupt input pin polarity), so an
   active-low line reads 0 while idle high and 1 while driven low; a
   polarity flip by an RTE write flips the lane too. */
START_TEST(pin_lane_shows_asserted_for_active_low) {
  char path[256];
  tmp_path(path, sizeof path);
  apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_trace_writer *w = NULL;
  char why[256];
  ck_assert_int_eq(apic_trace_writer_open(&w, s, path, NULL, why, sizeof why), APIC_OK);
  const uint64_t low = APIC_RTE_MASKED | APIC_RTE_POLARITY | 0x60;
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, low), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, 1, 100), APIC_OK);   /* idle */
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, 0, 1000), APIC_OK);  /* asserted */
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, 1, 2000), APIC_OK);  /* idle */
  ck_assert_int_eq(apic_sim_run(s, 3000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, low & ~APIC_RTE_POLARITY), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, 0, 3500), APIC_OK);  /* active high now */
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 3, 1, 3800), APIC_OK);
  ck_assert_int_eq(apic_sim_run(s, 4000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
  vw_model *m = open_model(path);
  const vw_frame *f = vw_model_query(m, 0, 4000, 4000);
  static const struct { uint64_t at; uint8_t shown; } want[] = {
    {500, 0}, {1500, 1}, {2500, 0}, {3200, 1}, {3600, 0}};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    int got = -1;
    for (uint32_t i = 0; i < f->npin[0]; i++)
      if (f->pin[0][i].from <= want[k].at && want[k].at < f->pin[0][i].to) got = f->pin[0][i].level;
    ck_assert_msg(got == want[k].shown, "cycle %llu: lane shows %d, want %u",
                  (unsigned long long)want[k].at, got, want[k].shown);
  }
  vw_model_close(m);
  remove(path);
}
END_TEST

/* ---- find and pick ---- */

static int filter_match(const vw_filter *f, const apic_event *e) {
  return (f->cpu == APIC_NONE || e->cpu == f->cpu) &&
         (f->vector < 0 || e->vector == (uint8_t)f->vector) &&
         (f->kind < 0 || e->kind == (uint32_t)f->kind);
}

static const apic_event *ref_find(const tu_log *log, uint64_t c, int fwd, const vw_filter *f) {
  if (fwd) {
    for (size_t i = 0; i < log->n; i++)
      if (log->ev[i].cycle > c && filter_match(f, &log->ev[i])) return &log->ev[i];
  } else {
    for (size_t i = log->n; i-- > 0;)
      if (log->ev[i].cycle < c && filter_match(f, &log->ev[i])) return &log->ev[i];
  }
  return NULL;
}

static void same_event(const apic_event *a, const apic_event *b) {
  ck_assert_uint_eq(a->cycle, b->cycle);
  ck_assert_uint_eq(a->kind, b->kind);
  ck_assert_uint_eq(a->cpu, b->cpu);
  ck_assert_uint_eq(a->vector, b->vector);
  ck_assert_uint_eq(a->msg, b->msg);
  ck_assert_uint_eq(a->a, b->a);
  ck_assert_uint_eq(a->b, b->b);
}

static void check_finds(vw_model *m, const tu_log *log, uint64_t first, uint64_t end,
                        uint64_t *seed) {
  static const int kinds[] = {APIC_EV_HANDLER_ENTER, APIC_EV_IRR_SET, APIC_EV_INIT,
                              APIC_EV_PIN, APIC_EV_NMI, APIC_EV_MARKER, -1};
  for (int k = 0; k < 120; k++) {
    vw_filter f = {APIC_NONE, -1, kinds[rnd(seed) % 7]};
    if (rnd(seed) % 2) f.vector = (int)(0x40 + 0x10 * (rnd(seed) % 4));
    if (rnd(seed) % 3 == 0) f.cpu = (uint32_t)(rnd(seed) % 8);
    uint64_t c = first + rnd(seed) % (end - first + 200) - 100;
    int fwd = (int)(rnd(seed) % 2);
    apic_event got;
    memset(&got, 0, sizeof got);
    int found = vw_model_find(m, c, fwd, &f, &got);
    const apic_event *want = ref_find(log, c, fwd, &f);
    ck_assert_msg(found == (want != NULL), "find %s from %llu kind %d vector %d cpu %u: "
                  "model %d, trace %d", fwd ? "next" : "prev", (unsigned long long)c, f.kind,
                  f.vector, f.cpu, found, want != NULL);
    if (want) same_event(&got, want);
  }
}

/* viewer.h vw_model_find: the next (previous) event strictly after (before)
   a cycle that matches kind, vector and core, across chunks, before and
   after the overview is built (which lets it skip chunks); marker text
   comes along; no match returns 0. */
START_TEST(find_next_and_previous) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 11;
  check_finds(m, &r.log, first, end, &seed);
  build_overview(m);
  check_finds(m, &r.log, first, end, &seed);
  /* the only INIT, from both sides */
  const apic_event *init = tu_find(&r.log, APIC_EV_INIT, APIC_NONE, -1, 0);
  ck_assert_ptr_nonnull(init);
  vw_filter f = {APIC_NONE, -1, APIC_EV_INIT};
  apic_event ev;
  ck_assert_int_eq(vw_model_find(m, first, 1, &f, &ev), 1);
  ck_assert_uint_eq(ev.cycle, init->cycle);
  ck_assert_int_eq(vw_model_find(m, end, 0, &f, &ev), 1);
  ck_assert_uint_eq(ev.cycle, init->cycle);
  ck_assert_int_eq(vw_model_find(m, init->cycle, 1, &f, &ev), 0);
  ck_assert_int_eq(vw_model_find(m, init->cycle, 0, &f, &ev), 0);
  /* marker text */
  f = (vw_filter){APIC_NONE, -1, APIC_EV_MARKER};
  ck_assert_int_eq(vw_model_find(m, first, 1, &f, &ev), 1);
  ck_assert_ptr_nonnull(ev.text);
  ck_assert_str_eq(ev.text, "INIT");
  /* a vector nobody uses */
  f = (vw_filter){APIC_NONE, 0xEE, -1};
  ck_assert_int_eq(vw_model_find(m, first, 1, &f, &ev), 0);
  ck_assert_int_eq(vw_model_find(m, end, 0, &f, &ev), 0);
  /* no filter: the first record after cycle 0 */
  vw_filter any = {APIC_NONE, -1, -1};
  const apic_event *want = ref_find(&r.log, 0, 1, &any);
  ck_assert_ptr_nonnull(want);
  ck_assert_int_eq(vw_model_find(m, 0, 1, NULL, &ev), 1);
  same_event(&ev, want);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

static int on_lane_ref(uint32_t lane, const apic_event *e) {
  int bus = e->kind == APIC_EV_MSG_SEND || e->kind == APIC_EV_MSG_ARB ||
            e->kind == APIC_EV_MSG_RETRY || e->kind == APIC_EV_MSG_DONE ||
            e->kind == APIC_EV_MSG_NOTARGET;
  if (lane == VW_LANE_BUS) return bus;
  if (lane >= 0xFFFF0000u)
    return (e->kind == APIC_EV_PIN || e->kind == APIC_EV_RTE_WRITE ||
            e->kind == APIC_EV_REMOTE_IRR_SET || e->kind == APIC_EV_REMOTE_IRR_CLR) &&
           (e->flags & APIC_EVF_IOAPIC) && e->src == ((lane >> 8) & 0xFF) &&
           e->a == (lane & 0xFF);
  return e->cpu == lane && !bus;
}

/* viewer.h vw_model_pick: the event nearest a cycle on a core lane, the bus
   lane (MSG_* records) or a pin lane, within the slack; none outside it. */
START_TEST(pick_nearest_event_on_lane) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 5;
  static const uint32_t lanes[] = {0, 3, 6, 7, VW_LANE_BUS, VW_LANE_PIN(0, 1),
                                   VW_LANE_PIN(0, 2)};
  int hits = 0;
  for (int k = 0; k < 300; k++) {
    uint32_t lane = lanes[rnd(&seed) % 7];
    uint64_t c = first + rnd(&seed) % (end - first), slack = rnd(&seed) % 400;
    if (k % 10 == 0) slack = 3000;  /* across chunks */
    const apic_event *want = NULL;
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < r.log.n; i++) {
      const apic_event *e = &r.log.ev[i];
      uint64_t d = e->cycle > c ? e->cycle - c : c - e->cycle;
      if (d <= slack && d < best && on_lane_ref(lane, e)) {
        best = d;
        want = e;
      }
    }
    apic_event got;
    int found = vw_model_pick(m, lane, c, slack, &got);
    ck_assert_int_eq(found, want != NULL);
    if (want) {
      same_event(&got, want);
      hits++;
    }
  }
  ck_assert_int_gt(hits, 100);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void check_stats(vw_model *m, const xset *ref, uint64_t from, uint64_t to) {
  vw_stats st;
  ck_assert_int_eq(vw_model_stats(m, from, to, &st), APIC_OK);
  ck_assert_uint_eq(st.n, 8);
  ck_assert_ptr_nonnull(st.matrix);
  uint64_t deliveries = 0;
  uint32_t matrix[64] = {0};
  uint64_t *lat = malloc((ref->n + 1) * sizeof *lat);
  ck_assert_ptr_nonnull(lat);
  for (size_t k = 0; k < ref->n; k++) {
    const xarrow *x = &ref->a[k];
    if (x->from < from || x->from >= to || x->kind == VW_ARROW_HANDLER) continue;
    deliveries++;
    if (x->fl < 8 && x->tl < 8) matrix[x->fl * 8 + x->tl]++;
  }
  ck_assert_uint_eq(st.deliveries, deliveries);
  for (int i = 0; i < 64; i++) ck_assert_uint_eq(st.matrix[i], matrix[i]);
  uint32_t nvec = 0;
  for (int v = 0; v < 256; v++) {
    size_t n = 0;
    for (size_t k = 0; k < ref->n; k++) {
      const xarrow *x = &ref->a[k];
      if (x->kind == VW_ARROW_HANDLER && x->vector == v && x->from >= from && x->from < to)
        lat[n++] = x->to - x->from;
    }
    if (!n) continue;
    qsort(lat, n, sizeof *lat, cmp_u64);
    ck_assert_uint_lt(nvec, st.nvec);
    ck_assert_uint_eq(st.vec[nvec].vector, v);
    ck_assert_uint_eq(st.vec[nvec].count, n);
    ck_assert_uint_eq(st.vec[nvec].min, lat[0]);
    ck_assert_uint_eq(st.vec[nvec].median, lat[(n - 1) / 2]);
    size_t r99 = (99 * n + 99) / 100;  /* nearest rank */
    ck_assert_uint_eq(st.vec[nvec].p99, lat[r99 - 1]);
    ck_assert_uint_eq(st.vec[nvec].max, lat[n - 1]);
    nvec++;
  }
  ck_assert_uint_eq(st.nvec, nvec);
  free(lat);
  vw_stats_free(&st);
  ck_assert_ptr_null(st.matrix);
}

/* viewer.h vw_model_stats: deliveries, the sender x receiver matrix and per
   vector latency from the ICR write (or pin edge) to handler entry, for the
   messages that start in [from, to), equal a count by hand. */
START_TEST(stats_match_hand_count) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  xset ref = {0};
  reference_arrows(&r.log, 8, &ref);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 9;
  check_stats(m, &ref, first, end);
  check_stats(m, &ref, 0, UINT64_MAX);
  for (int k = 0; k < 12; k++) {
    uint64_t a = first + rnd(&seed) % (end - first), w = 500 + rnd(&seed) % 20000;
    check_stats(m, &ref, a, a + w);
  }
  vw_stats st;
  ck_assert_int_eq(vw_model_stats(m, end + 5, end + 10, &st), APIC_OK);
  ck_assert_uint_eq(st.deliveries, 0);
  ck_assert_uint_eq(st.nvec, 0);
  vw_stats_free(&st);
  free(ref.a);
  vw_model_close(m);
  drop_run(&r);
}
END_TEST

/* The same two checks on every interconnect: on the P6 serial bus a message
   is delivered before it leaves its sender and may be retried; on the mesh
   a message reaches its receivers at different times. */
START_TEST(arrows_and_stats_on_every_bus) {
  for (int b = 0; b < 3; b++) {
    trace_run r;
    make_chatter_on(&r, buses[b], 8, 60, 64, 1);
    xset ref = {0};
    reference_arrows(&r.log, 8, &ref);
    vw_model *m = open_model(r.path);
    const apic_trace_info *info = vw_model_info(m);
    uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 21 + (uint64_t)b;
    size_t checked = 0;
    for (int k = 0; k < 40; k++) {
      uint64_t len = (uint64_t)300 << (rnd(&seed) % 6);
      uint64_t a = first + rnd(&seed) % (end - first);
      checked += check_arrows(vw_model_query(m, a, a + len, 1000), &ref, a, a + len);
    }
    ck_assert_msg(checked > 200, "%s: %zu arrows checked", bus_names[b], checked);
    check_stats(m, &ref, first, end);
    for (int k = 0; k < 8; k++) {
      uint64_t a = first + rnd(&seed) % (end - first), w = 300 + rnd(&seed) % 10000;
      check_stats(m, &ref, a, a + w);
    }
    free(ref.a);
    vw_model_close(m);
    drop_run(&r);
  }
}
END_TEST

/* ---- damaged traces ---- */

static uint8_t *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *size = (size_t)n;
  return p;
}

static void spill(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* File offsets of every chunk (traces/FORMAT.md: header, then chunks). */
static size_t chunk_offsets(const uint8_t *p, size_t n, size_t *off, size_t max) {
  size_t at = 16 + rd32(p + 12) + 4, k = 0;
  while (at + 40 <= n && !memcmp(p + at, "CHNK", 4) && k < max) {
    off[k++] = at;
    at += 40 + rd32(p + at + 4);
  }
  return k;
}

/* A trace's bytes and the file offsets of its chunks, to damage or cut. */
typedef struct trace_bytes {
  uint8_t *p;
  size_t n, nch, off[4096];
} trace_bytes;

static void load_chunks(trace_bytes *b, const char *path, size_t min_chunks) {
  b->p = slurp(path, &b->n);
  b->nch = chunk_offsets(b->p, b->n, b->off, sizeof b->off / sizeof b->off[0]);
  ck_assert_uint_gt(b->nch, min_chunks);
}

/* Writes the first n bytes of b to a new temporary file named in path. */
static void spill_tmp(char path[256], const trace_bytes *b, size_t n) {
  tmp_path(path, 256);
  spill(path, b->p, n);
}

static void sweep(vw_model *m, uint64_t first, uint64_t end, uint64_t *seed) {
  uint32_t ncpus = vw_model_info(m)->config.ncpus;
  uint64_t span = end - first;
  for (uint64_t w = 1; w < 4 * span; w = w * 3 + 1) {
    uint64_t step = w / 2 + span / 64 + 1;
    for (uint64_t a = first > w ? first - w : 0; a < end + w; a += step) {
      uint32_t cols = (uint32_t)(1 + rnd(seed) % 3000);
      if (rnd(seed) % 5 == 0) cols = 0;
      const vw_frame *f = vw_model_query(m, a, a + w, cols);
      ck_assert_ptr_nonnull(f);
      uint64_t x = a < first ? first : a, z = a + w > end ? end : a + w;
      for (uint32_t c = 0; c < ncpus; c++)
        check_lane_shape(f->lane[c], f->nlane[c], x, z > x ? z : x, 0);
      for (uint32_t i = 0; i < f->narrows; i++) ck_assert_uint_le(f->arrows[i].from_cycle,
                                                                  f->arrows[i].to_cycle);
      if (rnd(seed) % 4 == 0) vw_model_overview_step(m, 0.05);
    }
  }
}

/* Two frames with the same lanes, messages, arrows and pin levels. */
static void check_same_frame(const vw_frame *a, const vw_frame *b, uint32_t ncpus,
                             uint32_t npins, uint64_t from, uint64_t to) {
  const char *what = NULL;
  for (uint32_t c = 0; c < ncpus && !what; c++) {
    if (a->nlane[c] != b->nlane[c]) what = "lane length";
    for (uint32_t i = 0; i < a->nlane[c] && !what; i++) {
      const vw_seg *x = &a->lane[c][i], *y = &b->lane[c][i];
      if (x->from != y->from || x->to != y->to || x->state != y->state ||
          x->vector != y->vector || x->depth != y->depth || x->mixed != y->mixed)
        what = "lane segment";
    }
  }
  if (!what && (a->nmsgs != b->nmsgs || a->narrows != b->narrows)) what = "message or arrow count";
  for (uint32_t i = 0; i < a->nmsgs && !what; i++)
    if (a->msgs[i].id != b->msgs[i].id || a->msgs[i].sent != b->msgs[i].sent ||
        a->msgs[i].left != b->msgs[i].left || a->msgs[i].done != b->msgs[i].done)
      what = "message";
  for (uint32_t i = 0; i < a->narrows && !what; i++) {
    const vw_arrow *x = &a->arrows[i], *y = &b->arrows[i];
    if (x->from_cycle != y->from_cycle || x->to_cycle != y->to_cycle ||
        x->from_lane != y->from_lane || x->to_lane != y->to_lane || x->msg != y->msg ||
        x->vector != y->vector || x->kind != y->kind)
      what = "arrow";
  }
  for (uint32_t p = 0; p < npins && !what; p++) {
    if (a->npin[p] != b->npin[p]) what = "pin length";
    for (uint32_t i = 0; i < a->npin[p] && !what; i++)
      if (a->pin[p][i].from != b->pin[p][i].from || a->pin[p][i].to != b->pin[p][i].to ||
          a->pin[p][i].level != b->pin[p][i].level)
        what = "pin segment";
  }
  if (what)
    ck_abort_msg("[%llu, %llu): %s differs", (unsigned long long)from, (unsigned long long)to,
                 what);
}

/* viewer.h vw_model_overview_step: blocks decoded ahead of a pan on the
   model's thread (or, with APICVIEW_NO_WORKER, in slices on the caller's)
   give the same frames as blocks decoded when a query needs them, on a
   whole trace and on one with a damaged chunk, whatever else (find, pick,
   statistics) uses the cache's reader in between. */
START_TEST(prefetched_blocks_equal_decoded_ones) {
  trace_run r;
  make_chatter(&r, 6, 120, 64, 0);
  static trace_bytes tb;
  load_chunks(&tb, r.path, 40);
  tb.p[tb.off[tb.nch / 3] + 40 + 5] ^= 0x55;
  char damaged[256];
  spill_tmp(damaged, &tb, tb.n);
  const char *paths[2] = {r.path, damaged};
  for (int k = 0; k < 4; k++) {
    if (k >= 2) setenv("APICVIEW_NO_WORKER", "1", 1);
    vw_model *a = open_model(paths[k % 2]), *b = open_model(paths[k % 2]);
    unsetenv("APICVIEW_NO_WORKER");
    build_overview(a);  /* b's too, before any query: it never decodes ahead */
    build_overview(b);
    const apic_trace_info *info = vw_model_info(a);
    uint64_t first = info->first_cycle, end = info->last_cycle + 1, span = end - first;
    uint32_t npins = vw_model_pins(a, 0, NULL, NULL);
    ck_assert_uint_eq(npins, vw_model_pins(b, 0, NULL, NULL));
    uint64_t seed = 11 + (uint64_t)k, w = span / 40, at = first;
    vw_filter fl = {APIC_NONE, -1, APIC_EV_HANDLER_ENTER};
    for (int i = 0; i < 600; i++) {
      uint64_t r0 = rnd(&seed) % 100;
      if (r0 < 75) at += w / 8;                                     /* panning right */
      else if (r0 < 88) at = at > first + w / 8 ? at - w / 8 : first; /* left */
      else if (r0 < 93) at = first + rnd(&seed) % span;              /* a jump */
      else if (r0 < 95) w = span / (10 + rnd(&seed) % 200);          /* a zoom */
      if (at + w > end) at = first;
      const vw_frame *fa = vw_model_query(a, at, at + w, 800);
      const vw_frame *fb = vw_model_query(b, at, at + w, 800);
      check_same_frame(fa, fb, 6, npins, at, at + w);
      vw_model_overview_step(a, k >= 2 ? 0.05 : 0.0);   /* queues (decodes) what comes next */
      apic_event ea, eb;
      if (r0 % 10 == 1) {               /* the cache's reader, while the worker has it */
        ck_assert_int_eq(vw_model_find(a, at, 1, &fl, &ea), vw_model_find(b, at, 1, &fl, &eb));
        ck_assert_uint_eq(ea.cycle, eb.cycle);
      } else if (r0 % 10 == 2) {
        ck_assert_int_eq(vw_model_pick(a, 1, at + w / 2, w / 4, &ea),
                         vw_model_pick(b, 1, at + w / 2, w / 4, &eb));
      } else if (r0 % 10 == 3) {
        vw_stats sa, sb;
        ck_assert_int_eq(vw_model_stats(a, at, at + 3 * w, &sa), APIC_OK);
        ck_assert_int_eq(vw_model_stats(b, at, at + 3 * w, &sb), APIC_OK);
        ck_assert_uint_eq(sa.deliveries, sb.deliveries);
        vw_stats_free(&sa);
        vw_stats_free(&sb);
      } else if (r0 % 10 == 4) {
        SDL_Delay(1);                   /* let it finish some */
      }
    }
    ck_assert_uint_eq(vw_model_pins(a, 0, NULL, NULL), vw_model_pins(b, 0, NULL, NULL));
    vw_model_close(a);
    vw_model_close(b);
  }
  unlink(damaged);
  free(tb.p);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_model_open: a file cut mid-write opens and shows every whole
   chunk (lanes as the reader on the cut file says); a file with no whole
   chunk, or no trace at all, fails with the reader's message. */
START_TEST(truncated_trace_shows_whole_chunks) {
  trace_run r;
  make_chatter(&r, 6, 60, 64, 0);
  static trace_bytes tb;
  load_chunks(&tb, r.path, 20);
  char cut[256];
  spill_tmp(cut, &tb, tb.off[tb.nch / 2] + 57);  /* inside chunk nch/2 */
  vw_model *m = open_model(cut);
  const apic_trace_info *info = vw_model_info(m);
  ck_assert_int_eq(info->cut, 1);
  ck_assert_uint_eq(info->chunks, tb.nch / 2);
  ck_assert_str_ne(info->warning, "");
  apic_trace *t = open_reader(cut);
  uint64_t seed = 1;
  check_lanes_vs_reader(m, t, info->first_cycle, info->last_cycle + 1, 200, &seed);
  build_overview(m);
  sweep(m, info->first_cycle, info->last_cycle + 1, &seed);
  apic_trace_close(t);
  vw_model_close(m);

  /* no whole chunk: the reader's message */
  spill(cut, tb.p, tb.off[0] + 20);
  vw_model *bad = (vw_model *)&seed;
  char why[512];
  ck_assert_int_ne(vw_model_open(&bad, cut, why, sizeof why), APIC_OK);
  ck_assert_ptr_null(bad);
  ck_assert_msg(strstr(why, "no whole chunk") != NULL, "%s", why);
  spill(cut, (const uint8_t *)"hello, world", 12);
  ck_assert_int_eq(vw_model_open(&bad, cut, why, sizeof why), APIC_E_FORMAT);
  ck_assert_msg(strstr(why, "not an apicsim trace") != NULL, "%s", why);
  ck_assert_int_eq(vw_model_open(&bad, "/nonexistent/x.trace", why, sizeof why), APIC_E_IO);
  ck_assert_int_eq(vw_model_open(NULL, cut, why, sizeof why), APIC_E_ARG);
  unlink(cut);
  free(tb.p);
  drop_run(&r);
}
END_TEST

/* A chunk whose payload fails its checksum only when read: the model never
   crashes on it (queries, overview, find, pick, stats over it), and chunks
   away from it show the reader's state. */
START_TEST(damaged_chunk_is_skipped) {
  trace_run r;
  make_chatter(&r, 6, 60, 64, 0);
  static trace_bytes tb;
  load_chunks(&tb, r.path, 20);
  size_t k = tb.nch / 2;
  tb.p[tb.off[k] + 40 + 5] ^= 0x55;
  char path[256];
  spill_tmp(path, &tb, tb.n);
  vw_model *m = open_model(path);
  apic_trace *t = open_reader(path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, seed = 2;
  uint64_t kfirst, kprev, knext;
  ck_assert_int_eq(apic_trace_chunk(t, (uint32_t)k, &kfirst, NULL, NULL), APIC_OK);
  ck_assert_int_eq(apic_trace_chunk(t, (uint32_t)k - 2, NULL, &kprev, NULL), APIC_OK);
  ck_assert_int_eq(apic_trace_chunk(t, (uint32_t)k + 2, &knext, NULL, NULL), APIC_OK);
  /* over the damage: anything, but no crash */
  const vw_frame *f = vw_model_query(m, kfirst - 100, kfirst + 100, 200);
  ck_assert_ptr_nonnull(f);
  check_lanes_vs_reader(m, t, first, kprev, 50, &seed);
  check_lanes_vs_reader(m, t, knext, end, 50, &seed);
  sweep(m, first, end, &seed);
  build_overview(m);
  sweep(m, first, end, &seed);
  vw_filter fl = {APIC_NONE, -1, APIC_EV_HANDLER_ENTER};
  apic_event ev;
  for (uint64_t c = first; c < end; c += (end - first) / 50) {
    vw_model_find(m, c, 1, &fl, &ev);
    vw_model_find(m, c, 0, &fl, &ev);
    vw_model_pick(m, 1, c, 500, &ev);
  }
  vw_stats st;
  ck_assert_int_eq(vw_model_stats(m, first, end, &st), APIC_OK);
  ck_assert_uint_gt(st.deliveries, 0);
  vw_stats_free(&st);
  check_lanes_vs_reader(m, t, knext, end, 50, &seed);
  apic_trace_close(t);
  vw_model_close(m);
  unlink(path);
  free(tb.p);
  drop_run(&r);
}
END_TEST

/* viewer.h vw_model_query: every window of a sliding sweep, of every size,
   from before the trace to past its end, at any column count (0 included),
   with the overview built a little at a time in between: well-formed lanes
   and no crash (the suite runs under the sanitizers). */
START_TEST(sliding_sweep_never_crashes) {
  trace_run r;
  make_chatter(&r, 8, 60, 64, 1);
  vw_model *m = open_model(r.path);
  const apic_trace_info *info = vw_model_info(m);
  uint64_t seed = 77;
  sweep(m, info->first_cycle, info->last_cycle + 1, &seed);
  ck_assert_ptr_nonnull(vw_model_query(m, 0, UINT64_MAX, 1));
  ck_assert_ptr_nonnull(vw_model_query(m, UINT64_MAX - 5, UINT64_MAX, 1));
  ck_assert_ptr_nonnull(vw_model_query(m, 10, 5, 1));
  ck_assert_ptr_nonnull(vw_model_trace(m));
  vw_model_close(m);
  vw_model_close(NULL);
  ck_assert_ptr_null(vw_model_query(NULL, 0, 1, 1));
  drop_run(&r);
}
END_TEST

/* ---- benchmark (APICVIEW_BENCH=1) ---- */

typedef struct bench_arg { uint32_t ncpus, rounds; } bench_arg;

static int prog_bench(apic_cpu *c, void *arg) {
  bench_arg *b = arg;
  uint32_t me = apic_cpu_index(c);
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < b->rounds; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);
    apic_cpu_send_ipi(c, (me + 1 + (uint32_t)(APIC_L(c, 0) * 7) % (b->ncpus - 1)) % b->ncpus,
                      APIC_ICR_LO(0x40 + 0x10 * (me % 8), APIC_DM_FIXED, 0));
    APIC_YIELD(c);
    if (APIC_L(c, 0) % 4 == 0) {
      APIC_CLI(c);
      APIC_WORK(c, 300);
      APIC_STI(c);
    }
    APIC_WORK(c, 200 + 17 * me);
    if (APIC_L(c, 0) % 8 == 7) APIC_HLT(c);
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* Figures, not assertions: open time and query time while panning over a
   10M-event, 64-core trace. */
START_TEST(bench_10m_events_64_cores) {
  const char *env = getenv("APICVIEW_BENCH");
  if (!env || strcmp(env, "1")) return;
  char path[256];
  const char *keep = getenv("APICVIEW_BENCH_TRACE");
  if (keep && *keep) snprintf(path, sizeof path, "%s", keep);
  else tmp_path(path, sizeof path);
  apic_trace *probe = NULL;
  char why[512];
  double t0 = now_ms();
  if (!(keep && *keep && apic_trace_open(&probe, path, why, sizeof why) == APIC_OK &&
        apic_trace_info_get(probe)->records >= 10000000)) {
    apic_config cfg = tu_config(64, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
    apic_sim *s = tu_sim(&cfg, NULL);
    apic_trace_writer *w = NULL;
    ck_assert_int_eq(apic_trace_writer_open(&w, s, path, NULL, why, sizeof why), APIC_OK);
    bench_arg b = {64, 1000000};
    for (uint32_t v = 0x40; v < 0xC0; v += 0x10)
      apic_sim_set_handler(s, APIC_NONE, (uint8_t)v, h_short, NULL);
    for (uint32_t i = 0; i < 64; i++) apic_sim_set_program(s, i, prog_bench, &b);
    apic_trace_writer_stats ws = {0};
    uint64_t until = 0;
    while (ws.records < 10000000) {
      until += 200000;
      ck_assert_int_ge(apic_sim_run(s, until), 0);
      apic_trace_writer_stats_get(w, &ws);
    }
    ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
    apic_sim_destroy(s);
    printf("bench: generated %s in %.0f ms\n", path, now_ms() - t0);
  }
  if (probe) apic_trace_close(probe);

  t0 = now_ms();
  vw_model *m = open_model(path);
  double open_ms = now_ms() - t0;
  const apic_trace_info *info = vw_model_info(m);
  uint64_t first = info->first_cycle, end = info->last_cycle + 1, span = end - first;
  printf("bench: %llu records, %u chunks, %u cores, cycles %llu..%llu\n",
         (unsigned long long)info->records, info->chunks, info->config.ncpus,
         (unsigned long long)first, (unsigned long long)end);
  printf("bench: vw_model_open %.2f ms\n", open_ms);

  /* the overview alone, on a second model: calls of 4 ms as the viewer makes */
  {
    vw_model *m2 = open_model(path);
    t0 = now_ms();
    int steps = 1;
    double worst = 0;
    for (;; steps++) {
      double s0 = now_ms();
      int done = vw_model_overview_step(m2, 4.0);
      if (now_ms() - s0 > worst) worst = now_ms() - s0;
      if (done) break;
    }
    printf("bench: overview built in %.0f ms by %d calls of vw_model_overview_step(4 ms), "
           "the longest %.2f ms\n", now_ms() - t0, steps, worst);
    vw_model_close(m2);
  }
  /* panning as the viewer does it: a query, then vw_model_overview_step(4 ms),
     every frame; first on the fresh model (its overview builds meanwhile),
     then again once everything is warm */
  static const uint64_t zoom[] = {2000000, 1000, 100, 20, 10, 2, 1};  /* window = span / zoom */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t z = 0; z < sizeof zoom / sizeof zoom[0]; z++) {
      uint64_t w = span / zoom[z];
      if (w < 100) w = 100;
      uint64_t a = first + span / 3 + (uint64_t)pass * span / 5;
      double worst = 0, total = 0, fworst = 0, ftotal = 0;
      int frames = 480, overview = 0, dir = 1;
      size_t segs = 0;
      for (int i = -30; i < frames; i++) {  /* 30 frames to get there, not counted */
        double q0 = now_ms();
        const vw_frame *f = vw_model_query(m, a, a + w, 1600);
        double q = now_ms() - q0;
        vw_model_overview_step(m, 4.0);
        double fr = now_ms() - q0;
        if (i >= 0) {
          overview += f->from_overview;
          for (uint32_t c = 0; c < 64; c++) segs += f->nlane[c];
          total += q;
          ftotal += fr;
          if (q > worst) worst = q;
          if (fr > fworst) fworst = fr;
        }
        if (dir > 0 && a + w + w / 60 > end) dir = -1;  /* bounce at the ends */
        if (dir < 0 && a < first + w / 60) dir = 1;
        a = dir > 0 ? a + w / 60 : a - w / 60;  /* pan by 1/60 of the window per frame */
      }
      printf("bench: %s span/%-7llu (%8llu cycles): query avg %6.3f worst %6.2f ms; "
             "query+step avg %6.3f worst %6.2f ms; %3d/%d from overview, %6.0f segments\n",
             pass ? "later" : "fresh", (unsigned long long)zoom[z], (unsigned long long)w,
             total / frames, worst, ftotal / frames, fworst, overview, frames,
             (double)segs / frames);
    }
  }
  /* jumps: a cold window somewhere else each time (cache misses, seeks) */
  double jt = 0, jworst = 0;
  uint64_t seed = 99;
  for (int i = 0; i < 20; i++) {
    uint64_t a = first + rnd(&seed) % span, w = span / 1000;
    double q0 = now_ms();
    vw_model_query(m, a, a + w, 1600);
    double q = now_ms() - q0;
    jt += q;
    if (q > jworst) jworst = q;
  }
  printf("bench: jump to a cold window of span/1000: avg %.1f ms, worst %.1f ms\n", jt / 20,
         jworst);
  /* the stats box while panning (the renderer asks every frame) */
  {
    uint64_t w = span / 1000, a = first + span / 2;
    double st_total = 0, st_worst = 0;
    for (int i = 0; i < 120; i++, a += w / 60) {
      vw_model_query(m, a, a + w, 1600);
      double s0 = now_ms();
      vw_stats sw;
      ck_assert_int_eq(vw_model_stats(m, a, a + w, &sw), APIC_OK);
      vw_stats_free(&sw);
      double q = now_ms() - s0;
      st_total += q;
      if (q > st_worst) st_worst = q;
      vw_model_overview_step(m, 4.0);
    }
    printf("bench: vw_model_stats over a span/1000 window while panning: avg %.2f ms, "
           "worst %.2f ms\n", st_total / 120, st_worst);
  }
  t0 = now_ms();
  vw_stats st;
  ck_assert_int_eq(vw_model_stats(m, first, end, &st), APIC_OK);
  printf("bench: vw_model_stats over the whole trace %.0f ms (%llu deliveries)\n", now_ms() - t0,
         (unsigned long long)st.deliveries);
  vw_stats_free(&st);
  t0 = now_ms();
  ck_assert_int_eq(vw_model_stats(m, first, end, &st), APIC_OK);
  printf("bench: the same again %.3f ms\n", now_ms() - t0);
  vw_stats_free(&st);
  vw_model_close(m);
  if (!(keep && *keep)) unlink(path);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("viewer_model");
  TCase *tc = tcase_create("model");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, lanes_match_reader_state);
  tcase_add_test(tc, lanes_equal_reader_at_every_cycle);
  tcase_add_test(tc, short_segments_merge_into_mixed);
  tcase_add_test(tc, overview_columns_show_the_dominant_state);
  tcase_add_test(tc, ipi_arrow_ends_where_handler_starts);
  tcase_add_test(tc, coalesced_delivery_gives_coalesced_arrow);
  tcase_add_test(tc, zoomed_out_query_uses_overview);
  tcase_add_test(tc, density_table_matches_density);
  tcase_add_test(tc, panel_reader_matches_seek);
  tcase_add_test(tc, pin_levels_match_reader);
  tcase_add_test(tc, pin_lane_shows_asserted_for_active_low);
  tcase_add_test(tc, find_next_and_previous);
  tcase_add_test(tc, pick_nearest_event_on_lane);
  tcase_add_test(tc, stats_match_hand_count);
  tcase_add_test(tc, arrows_and_stats_on_every_bus);
  tcase_add_test(tc, truncated_trace_shows_whole_chunks);
  tcase_add_test(tc, damaged_chunk_is_skipped);
  tcase_add_test(tc, sliding_sweep_never_crashes);
  tcase_add_test(tc, prefetched_blocks_equal_decoded_ones);
  suite_add_tcase(s, tc);
  TCase *bench = tcase_create("bench");
  tcase_set_timeout(bench, 3600);
  tcase_add_test(bench, bench_10m_events_64_cores);
  suite_add_tcase(s, bench);
  return s;
}

int main(void) { return tu_run(suite()); }
