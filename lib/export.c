/*
 * export.c - apic_trace_export: format names, the output file, and the
 * timeline model shared by the Perfetto and Chrome JSON exporters.
 *
 * The model reads the trace twice. Pass 1 only links: every ICR write and
 * every I/O APIC pin change is an "origin" (numbered in trace order); a
 * MSG_SEND is matched to its origin (the oldest unmatched ICR write of the
 * sender with the same vector and mode, or the last edge of an I/O APIC pin
 * whose entry has the message's vector); IRR_SET / IRR_COALESCED / PENDING
 * put the message on a per (core, vector or input) pending list; ACCEPT (or
 * NMI, SMI, ExtINT) moves that list onto a new handler frame; HANDLER_ENTER
 * of the frame ends one flow per message, id flow_id(message, receiver),
 * and pass 1 records that id under the message's origin. Pass 2 runs the
 * same linking again (so it finds the same flows) and writes the timeline:
 * an origin gets the ids pass 1 recorded for it as flows going out, a
 * handler entry the ids it ends. Pass 1 also counts the records of every
 * message, so that pass 2 ends the message's slice on the bus at its last.
 *
 * The frame stack mirrors the reader's (lib/trace_read.c: taken(),
 * HANDLER_ENTER marks the innermost frame not yet entered, HANDLER_EXIT pops
 * the innermost); halted time and the counters are read from the reader's
 * state after the event, for the event's core only. Slices on a core are
 * kept on a stack, so that ends always match begins whatever the input:
 * ending a slice first ends every slice opened above it, an end with no
 * matching begin is dropped, and every slice still open at the end of the
 * trace ends at the last record.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"

#define NONE32 UINT32_MAX

static void set_why(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t size, const char *fmt, ...) {
  if (!why || !size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, size, fmt, ap);
  va_end(ap);
}

/* ---- format names, dispatch, the output file ---- */

static const struct {
  const char *name;
  apic_export_format fmt;
  int (*run)(apic_trace *t, FILE *f, char *why, size_t why_size);
} formats[] = {
  {"perfetto", APIC_EXPORT_PERFETTO, apic__export_perfetto},
  {"json", APIC_EXPORT_JSON, apic__export_json},
  {"vcd", APIC_EXPORT_VCD, apic__export_vcd},
};
#define NFORMATS (sizeof formats / sizeof formats[0])

int apic_export_format_parse(const char *name) {
  if (!name) return -1;
  for (size_t i = 0; i < NFORMATS; i++)
    if (!strcmp(name, formats[i].name)) return (int)formats[i].fmt;
  return -1;
}

int apic__xfile_open(apic__xfile *o, const char *path, char *why, size_t why_size) {
  o->path = path;
  o->f = fopen(path, "wb");
  if (!o->f) {
    set_why(why, why_size, "cannot create %s: %s", path, strerror(errno));
    return APIC_E_IO;
  }
  return APIC_OK;
}

int apic__xfile_close(apic__xfile *o, char *why, size_t why_size) {
  if (!o->f) return APIC_OK;
  int bad = ferror(o->f);
  int err = bad ? errno : 0;
  if (fclose(o->f) != 0) {
    if (!bad) err = errno;
    bad = 1;
  }
  o->f = NULL;
  if (!bad) return APIC_OK;
  set_why(why, why_size, "cannot write %s: %s", o->path,
          err ? strerror(err) : "write error");
  return APIC_E_IO;
}

int apic_trace_export(apic_trace *t, apic_export_format fmt, const char *path, char *why,
                      size_t why_size) {
  if (why && why_size) why[0] = 0;
  if (!t || !path) {
    set_why(why, why_size, "trace and path must not be NULL");
    return APIC_E_ARG;
  }
  size_t i = 0;
  while (i < NFORMATS && formats[i].fmt != fmt) i++;
  if (i == NFORMATS) {
    set_why(why, why_size, "unknown export format %d (perfetto, json or vcd)", (int)fmt);
    return APIC_E_ARG;
  }
  if (apic__trace_is_file(t, path)) {  /* opening it for writing would empty it first */
    set_why(why, why_size, "%s is the trace being exported: writing there would destroy it",
            path);
    return APIC_E_ARG;
  }
  apic__xfile o;
  int rc = apic__xfile_open(&o, path, why, why_size);
  if (rc) return rc;
  rc = formats[i].run(t, o.f, why, why_size);
  if (rc == APIC_E_IO && ferror(o.f)) {  /* a write failed: say where */
    apic__xfile_close(&o, why, why_size);
    return rc;
  }
  if (rc) {
    apic__xfile_close(&o, NULL, 0);
    return rc;
  }
  return apic__xfile_close(&o, why, why_size);
}

/* ---- small shared helpers ---- */

uint64_t apic__xps(const apic_config *cfg, uint64_t cycle) {
  if (cfg->freq_ghz == 1.0 && cycle <= UINT64_MAX / APIC__PS_PER_NS) return cycle * APIC__PS_PER_NS;
  double ps = (double)cycle * APIC__PS_PER_NS / cfg->freq_ghz + 0.5;
  return ps >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)ps;
}

void apic__xcycle_text(const apic_config *cfg, char *out, size_t size) {
  snprintf(out, size, "1 cycle = %.6g ns (%.6g GHz)", 1.0 / cfg->freq_ghz, cfg->freq_ghz);
}

const char *apic__xmode_name(uint32_t mode) {
  static const char *const names[] = {"fixed", "lowest", "smi", "mode3",
                                      "nmi", "init", "startup", "extint"};
  return mode < sizeof names / sizeof names[0] ? names[mode] : "mode?";
}

/* ---- a u64 -> u32 hash map (linear probing, backward-shift delete) ---- */

typedef struct xmap {
  uint64_t *keys;
  uint32_t *vals;
  uint8_t *used;
  size_t cap, n;   /* cap is a power of two, or 0 */
} xmap;

static size_t xmap_slot(const xmap *m, uint64_t k) {
  k ^= k >> 33;  /* murmur3 finaliser */
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return (size_t)k & (m->cap - 1);
}

static int xmap_get(const xmap *m, uint64_t k, uint32_t *v) {
  if (!m->cap) return 0;
  for (size_t i = xmap_slot(m, k); m->used[i]; i = (i + 1) & (m->cap - 1))
    if (m->keys[i] == k) {
      *v = m->vals[i];
      return 1;
    }
  return 0;
}

static int xmap_grow(xmap *m) {
  xmap g = {0};
  g.cap = m->cap ? m->cap * 2 : 64;
  g.keys = malloc(g.cap * sizeof *g.keys);
  g.vals = malloc(g.cap * sizeof *g.vals);
  g.used = calloc(g.cap, 1);
  if (!g.keys || !g.vals || !g.used) {
    free(g.keys);
    free(g.vals);
    free(g.used);
    return APIC_E_NOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->used[i]) continue;
    size_t j = xmap_slot(&g, m->keys[i]);
    while (g.used[j]) j = (j + 1) & (g.cap - 1);
    g.used[j] = 1;
    g.keys[j] = m->keys[i];
    g.vals[j] = m->vals[i];
  }
  g.n = m->n;
  free(m->keys);
  free(m->vals);
  free(m->used);
  *m = g;
  return APIC_OK;
}

static int xmap_put(xmap *m, uint64_t k, uint32_t v) {
  if ((m->n + 1) * 4 > m->cap * 3 && xmap_grow(m)) return APIC_E_NOMEM;
  size_t i = xmap_slot(m, k);
  while (m->used[i] && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
  if (!m->used[i]) m->n++;
  m->used[i] = 1;
  m->keys[i] = k;
  m->vals[i] = v;
  return APIC_OK;
}

static void xmap_del(xmap *m, uint64_t k) {
  if (!m->cap) return;
  size_t mask = m->cap - 1, i = xmap_slot(m, k);
  while (m->used[i] && m->keys[i] != k) i = (i + 1) & mask;
  if (!m->used[i]) return;
  /* shift back every later entry of the run that may sit at or before i */
  for (size_t j = (i + 1) & mask; m->used[j]; j = (j + 1) & mask) {
    size_t home = xmap_slot(m, m->keys[j]);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      i = j;
    }
  }
  m->used[i] = 0;
  m->n--;
}

static void xmap_free(xmap *m) {
  free(m->keys);
  free(m->vals);
  free(m->used);
  memset(m, 0, sizeof *m);
}

/* ---- singly linked lists of u64 in one pool ---- */

typedef struct xnode { uint64_t v; uint32_t next; } xnode;
typedef struct xpool { xnode *n; uint32_t len, cap, free; } xpool;

/* Prepends v to the list at head; returns the new head, NONE32 if out of memory. */
static uint32_t pool_push(xpool *p, uint32_t head, uint64_t v) {
  uint32_t i;
  if (p->free != NONE32) {
    i = p->free;
    p->free = p->n[i].next;
  } else {
    if (p->len == p->cap) {
      uint32_t cap = p->cap ? p->cap * 2 : 256;
      if (cap <= p->cap) return NONE32;
      xnode *n = realloc(p->n, cap * sizeof *n);
      if (!n) return NONE32;
      p->n = n;
      p->cap = cap;
    }
    i = p->len++;
  }
  p->n[i] = (xnode){v, head};
  return i;
}

static void pool_free_list(xpool *p, uint32_t head) {
  while (head != NONE32) {
    uint32_t next = p->n[head].next;
    p->n[head].next = p->free;
    p->free = head;
    head = next;
  }
}

/* ---- the model ---- */

/* Track uuids: a class in the high 32 bits, an index in the low ones. */
#define UUID_PROCESS     1ull
#define UUID_BUS         2ull
#define UUID_CLASS_SHIFT 32
#define UUID_CORE(c)     ((1ull << UUID_CLASS_SHIFT) | (c))
#define UUID_PPR(c)      ((2ull << UUID_CLASS_SHIFT) | (c))
#define UUID_PENDING(c)  ((3ull << UUID_CLASS_SHIFT) | (c))
#define UUID_LANE(k)     ((4ull << UUID_CLASS_SHIFT) | (k))
#define UUID_PIN(io, p)  ((5ull << UUID_CLASS_SHIFT) | ((uint64_t)(io) << 8) | (p))

/* Thread ids. Core n is tid n + 1: tid 0 is the idle task to Linux-minded
   viewers. Bus lanes and pins sit above every possible core. */
#define TID_CORE_BASE 1u
#define TID_BUS_BASE  100000u
#define TID_PIN_BASE  200000u

/* Flow id of message msg reaching core cpu: unique per (message, receiver). */
#define FLOW_CPU_BITS 17  /* APIC_MAX_CPUS = 2^16 fits */
static uint64_t flow_id(uint64_t msg, uint32_t cpu) {
  return (msg << FLOW_CPU_BITS) | cpu;
}

/* Pending-list keys: (core, vector) for IRR bits, (core, 256 + kind) for
   the NMI/SMI/INIT/SIPI/ExtINT inputs. */
#define PEND_INPUT_BASE 256u
#define PEND_SLOT_BITS  9
static uint64_t pend_key(uint32_t cpu, uint32_t slot) {
  return ((uint64_t)cpu << PEND_SLOT_BITS) | slot;
}

#define SH_MASK         3u     /* the 2-bit shorthand in event flags */
#define ICR_FIFO        16u    /* unmatched ICR writes remembered per core */
#define MAX_FRAMES      4096u  /* as the reader's nesting limit */

enum { SL_HANDLER = 1, SL_HLT = 2 };  /* what a core slice is */

typedef struct xframe {
  uint16_t vector;
  uint8_t kind;      /* apic_intr_kind */
  uint8_t entered;
  uint32_t msgs;     /* pool list of the messages it services */
} xframe;

typedef struct xicr { uint32_t origin; uint8_t vector, mode; } xicr;

typedef struct xcore {
  xframe *frames;
  uint32_t depth, cap;
  xicr icr[ICR_FIFO];
  uint32_t icr_first, icr_n;
  uint8_t *open;            /* open slices, innermost last (SL_*) */
  uint32_t nopen, opencap;
  int64_t ppr, pending;     /* last counter values written */
} xcore;

typedef struct xpin {
  uint32_t origin;          /* last edge not yet matched to a message */
  uint8_t vector, armed, declared, high;
} xpin;

typedef struct xmsg {
  uint64_t id;
  uint32_t origin, total, seen, lane;
} xmsg;

typedef struct xmodel {
  apic_trace *t;
  const apic_config *cfg;
  const apic__xsink *sink;
  int pass;                 /* 1 links, 2 writes */
  int err;                  /* first error */
  char why[256];
  xcore *cores;
  xpin *pins[APIC_MAX_IOAPICS];
  xmap msgmap;              /* message id -> index in msgs */
  xmsg *msgs;
  uint32_t nmsgs, msgcap;
  xmap pending;             /* pend_key -> pool list of message ids */
  xpool pool;
  uint32_t *origin_flows;   /* origin -> pool list of flow ids (pass 1) */
  uint32_t norigins, origincap, next_origin;
  uint32_t *lanes;          /* bus lane -> message index, or NONE32 */
  uint32_t nlanes;
  uint64_t ps, first_ps;  /* time of the current event, of the first record */
  uint64_t *fin, *fout;     /* flows ending / starting at the current event */
  size_t nin, nout, fincap, foutcap;
} xmodel;

static int fail(xmodel *m, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(xmodel *m, int err, const char *fmt, ...) {
  if (m->err) return m->err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->why, sizeof m->why, fmt, ap);
  va_end(ap);
  m->err = err;
  return err;
}

static int nomem(xmodel *m) { return fail(m, APIC_E_NOMEM, "out of memory while exporting"); }

static int push_u64(xmodel *m, uint64_t **v, size_t *n, size_t *cap, uint64_t x) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    uint64_t *p = realloc(*v, c * sizeof *p);
    if (!p) return nomem(m);
    *v = p;
    *cap = c;
  }
  (*v)[(*n)++] = x;
  return APIC_OK;
}

/* ---- linking (both passes) ---- */

static xmsg *msg_of(xmodel *m, uint64_t id) {
  uint32_t i;
  if (xmap_get(&m->msgmap, id, &i)) return &m->msgs[i];
  if (m->nmsgs == m->msgcap) {
    uint32_t c = m->msgcap ? m->msgcap * 2 : 256;
    xmsg *p = c > m->msgcap ? realloc(m->msgs, (size_t)c * sizeof *p) : NULL;
    if (!p) { nomem(m); return NULL; }
    m->msgs = p;
    m->msgcap = c;
  }
  if (xmap_put(&m->msgmap, id, m->nmsgs)) { nomem(m); return NULL; }
  xmsg *g = &m->msgs[m->nmsgs++];
  *g = (xmsg){id, NONE32, 0, 0, NONE32};
  return g;
}

static uint32_t new_origin(xmodel *m) {
  uint32_t k = m->next_origin++;
  if (m->pass == 1) {
    if (m->norigins == m->origincap) {
      uint32_t c = m->origincap ? m->origincap * 2 : 256;
      uint32_t *p = c > m->origincap ? realloc(m->origin_flows, (size_t)c * sizeof *p) : NULL;
      if (!p) { nomem(m); return NONE32; }
      m->origin_flows = p;
      m->origincap = c;
    }
    m->origin_flows[m->norigins++] = NONE32;
  }
  return k < m->norigins ? k : NONE32;
}

static void pending_add(xmodel *m, uint32_t cpu, uint32_t slot, uint64_t msg) {
  uint64_t key = pend_key(cpu, slot);
  uint32_t head = NONE32;
  xmap_get(&m->pending, key, &head);
  uint32_t h = pool_push(&m->pool, head, msg);
  if (h == NONE32 || xmap_put(&m->pending, key, h)) nomem(m);
}

static uint32_t pending_take(xmodel *m, uint32_t cpu, uint32_t slot) {
  uint64_t key = pend_key(cpu, slot);
  uint32_t head = NONE32;
  if (xmap_get(&m->pending, key, &head)) xmap_del(&m->pending, key);
  return head;
}

/* The flows of the messages on list head end at this event on cpu. */
static void end_flows(xmodel *m, uint32_t head, uint32_t cpu) {
  for (uint32_t i = head; i != NONE32; i = m->pool.n[i].next) {
    uint32_t mi;
    if (!xmap_get(&m->msgmap, m->pool.n[i].v, &mi) || m->msgs[mi].origin == NONE32) continue;
    uint64_t id = flow_id(m->msgs[mi].id, cpu);
    if (m->pass == 1) {
      uint32_t o = m->msgs[mi].origin;
      uint32_t h = pool_push(&m->pool, m->origin_flows[o], id);
      if (h == NONE32) { nomem(m); break; }
      m->origin_flows[o] = h;
    }
    push_u64(m, &m->fin, &m->nin, &m->fincap, id);
  }
  pool_free_list(&m->pool, head);
}

static void frame_push(xmodel *m, xcore *c, uint16_t vector, uint8_t kind, uint8_t entered,
                       uint32_t msgs) {
  if (c->depth == MAX_FRAMES) { pool_free_list(&m->pool, msgs); return; }
  if (c->depth == c->cap) {
    uint32_t n = c->cap ? c->cap * 2 : 4;
    xframe *f = realloc(c->frames, n * sizeof *f);
    if (!f) { pool_free_list(&m->pool, msgs); nomem(m); return; }
    c->frames = f;
    c->cap = n;
  }
  c->frames[c->depth++] = (xframe){vector, kind, entered, msgs};
}

static void frames_clear(xmodel *m, xcore *c) {
  while (c->depth) pool_free_list(&m->pool, c->frames[--c->depth].msgs);
}

static int core_run(xmodel *m, uint32_t cpu) {
  apic_core_state cs;
  return apic_trace_core_state(m->t, cpu, &cs) ? APIC_CORE_NOPROG : cs.run;
}

/* A taken interrupt: a frame (program mode), or its flows end here
   (embedded mode: the host acknowledged it, no handler will run). */
static void taken(xmodel *m, uint32_t cpu, uint16_t vector, uint8_t kind, uint32_t msgs) {
  if (core_run(m, cpu) == APIC_CORE_NOPROG) end_flows(m, msgs, cpu);
  else frame_push(m, &m->cores[cpu], vector, kind, 0, msgs);
}

static void match_icr(xmodel *m, xmsg *g, const apic_event *ev) {
  xcore *c = &m->cores[ev->src];
  for (uint32_t k = 0; k < c->icr_n; k++) {
    const xicr *w = &c->icr[(c->icr_first + k) % ICR_FIFO];
    if (w->vector != ev->vector || w->mode != ev->mode) continue;
    g->origin = w->origin;  /* older writes never became messages */
    c->icr_first = (c->icr_first + k + 1) % ICR_FIFO;
    c->icr_n -= k + 1;
    return;
  }
}

static void match_pin(xmodel *m, xmsg *g, const apic_event *ev) {
  uint32_t io = ev->src;
  if (io >= m->cfg->nioapics) return;
  for (uint32_t p = 0; p < m->cfg->ioapic_pins[io]; p++) {
    xpin *pin = &m->pins[io][p];
    if (pin->armed && pin->vector == ev->vector) {
      g->origin = pin->origin;
      pin->armed = 0;
      return;
    }
  }
}

/*
 * Links one record. Sets *origin if the record is a flow source, *g to its
 * message (if any) and *msg_last when it is the message's last record;
 * m->fin receives the flows that end here.
 */
static void link(xmodel *m, const apic_event *ev, uint32_t *origin, xmsg **g, int *msg_last) {
  const apic_config *cfg = m->cfg;
  *origin = NONE32;
  *g = NULL;
  *msg_last = 0;
  m->nin = 0;
  if (ev->msg) {
    xmsg *r = msg_of(m, ev->msg);
    if (!r) return;
    if (m->pass == 1) r->total++;
    else *msg_last = ++r->seen == r->total;
    *g = r;
  }
  int cpu_ok = ev->cpu < cfg->ncpus;
  xcore *c = cpu_ok ? &m->cores[ev->cpu] : NULL;
  switch (ev->kind) {
  case APIC_EV_ICR_WRITE:
    if (!cpu_ok) break;
    *origin = new_origin(m);
    if (c->icr_n == ICR_FIFO) {  /* forget the oldest */
      c->icr_first = (c->icr_first + 1) % ICR_FIFO;
      c->icr_n--;
    }
    c->icr[(c->icr_first + c->icr_n++) % ICR_FIFO] = (xicr){*origin, ev->vector, ev->mode};
    break;
  case APIC_EV_PIN:
    if (!(ev->flags & APIC_EVF_IOAPIC) || ev->src >= cfg->nioapics ||
        ev->a >= cfg->ioapic_pins[ev->src])
      break;
    *origin = new_origin(m);
    m->pins[ev->src][ev->a].origin = *origin;
    m->pins[ev->src][ev->a].vector = ev->vector;
    m->pins[ev->src][ev->a].armed = 1;
    break;
  case APIC_EV_MSG_SEND:
    if (!*g || ev->b != APIC_MSG_INTERRUPT || (*g)->origin != NONE32) break;
    if (ev->flags & APIC_EVF_IOAPIC) match_pin(m, *g, ev);
    else if (ev->src < cfg->ncpus) match_icr(m, *g, ev);
    break;
  case APIC_EV_IRR_SET:
  case APIC_EV_IRR_COALESCED:
    if (cpu_ok && ev->msg) pending_add(m, ev->cpu, ev->vector, ev->msg);
    break;
  case APIC_EV_PENDING:
    if (cpu_ok && ev->msg && ev->a > APIC_INTR_NONE && ev->a <= APIC_INTR_SIPI)
      pending_add(m, ev->cpu, PEND_INPUT_BASE + ev->a, ev->msg);
    break;
  case APIC_EV_ACCEPT:
    if (cpu_ok)
      taken(m, ev->cpu, ev->vector, APIC_INTR_FIXED, pending_take(m, ev->cpu, ev->vector));
    break;
  case APIC_EV_NMI:
    if (cpu_ok) taken(m, ev->cpu, 2, APIC_INTR_NMI,
                      pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_NMI));
    break;
  case APIC_EV_SMI:
    if (!cpu_ok) break;
    if (ev->a) taken(m, ev->cpu, APIC_VECTOR_SMI, APIC_INTR_SMI,
                     pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_SMI));
    else end_flows(m, pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_SMI), ev->cpu);
    break;
  case APIC_EV_EXTINT:
    if (cpu_ok) taken(m, ev->cpu, ev->vector, APIC_INTR_EXTINT,
                      pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_EXTINT));
    break;
  case APIC_EV_INIT:
    if (!cpu_ok) break;
    end_flows(m, pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_INIT), ev->cpu);
    frames_clear(m, c);
    break;
  case APIC_EV_SIPI:
    if (cpu_ok) end_flows(m, pending_take(m, ev->cpu, PEND_INPUT_BASE + APIC_INTR_SIPI), ev->cpu);
    break;
  case APIC_EV_HANDLER_ENTER:
    if (!cpu_ok) break;
    for (uint32_t k = c->depth; k-- > 0;)
      if (!c->frames[k].entered) {
        c->frames[k].entered = 1;
        end_flows(m, c->frames[k].msgs, ev->cpu);
        c->frames[k].msgs = NONE32;
        break;
      }
    break;
  case APIC_EV_HANDLER_EXIT:
    if (cpu_ok && c->depth) pool_free_list(&m->pool, c->frames[--c->depth].msgs);
    break;
  case APIC_EV_RESET:
    if (!cpu_ok) break;
    for (uint32_t s = 0; s <= PEND_INPUT_BASE + APIC_INTR_SIPI; s++)
      pool_free_list(&m->pool, pending_take(m, ev->cpu, s));
    break;
  default: break;
  }
}

/* ---- writing (pass 2) ---- */

static void core_track(uint32_t cpu, apic__xtrack *t) {
  memset(t, 0, sizeof *t);
  t->uuid = UUID_CORE(cpu);
  t->kind = APIC__XT_THREAD;
  t->tid = TID_CORE_BASE + cpu;
  snprintf(t->name, sizeof t->name, "cpu %u", cpu);
}

static void counter_track(uint32_t cpu, int ppr, apic__xtrack *t) {
  memset(t, 0, sizeof *t);
  t->uuid = ppr ? UUID_PPR(cpu) : UUID_PENDING(cpu);
  t->parent = UUID_CORE(cpu);
  t->kind = APIC__XT_COUNTER;
  t->tid = TID_CORE_BASE + cpu;
  snprintf(t->name, sizeof t->name, ppr ? "cpu %u ppr" : "cpu %u pending vectors", cpu);
}

static void lane_track(uint32_t k, apic__xtrack *t) {
  memset(t, 0, sizeof *t);
  t->uuid = k ? UUID_LANE(k) : UUID_BUS;
  t->parent = k ? UUID_BUS : UUID_PROCESS;
  t->kind = APIC__XT_PLAIN;
  t->tid = TID_BUS_BASE + k;
  if (k) snprintf(t->name, sizeof t->name, "bus lane %u", k);
  else snprintf(t->name, sizeof t->name, "bus");
}

static void pin_track(uint32_t io, uint32_t pin, apic__xtrack *t) {
  memset(t, 0, sizeof *t);
  t->uuid = UUID_PIN(io, pin);
  t->parent = UUID_PROCESS;
  t->kind = APIC__XT_PLAIN;
  t->tid = TID_PIN_BASE + io * APIC_IOAPIC_MAX_PINS + pin;
  snprintf(t->name, sizeof t->name, "ioapic %u pin %u", io, pin);
}

static void process_track(apic__xtrack *t) {
  memset(t, 0, sizeof *t);
  t->uuid = UUID_PROCESS;
  t->kind = APIC__XT_PROCESS;
  snprintf(t->name, sizeof t->name, "apicsim");
}

static int emit(xmodel *m, int rc) {
  if (rc && !m->err)
    fail(m, rc, "%s", rc == APIC_E_NOMEM ? "out of memory while exporting" : "write error");
  return m->err;
}

static void instant(xmodel *m, const apic__xtrack *t, const char *name, const char *cat,
                    const apic__xarg *args, size_t nargs) {
  apic__xevent e = {m->ps, t, name, cat, args, nargs, m->fout, m->nout, m->fin, m->nin};
  m->nin = m->nout = 0;  /* the flows are drawn: once only */
  emit(m, m->sink->instant(m->sink->ud, &e));
}

static void slice_begin(xmodel *m, uint32_t cpu, uint8_t what, const char *name,
                        const char *cat, const apic__xarg *args, size_t nargs) {
  xcore *c = &m->cores[cpu];
  if (c->nopen == c->opencap) {
    uint32_t n = c->opencap ? c->opencap * 2 : 4;
    uint8_t *p = realloc(c->open, n);
    if (!p) { nomem(m); return; }
    c->open = p;
    c->opencap = n;
  }
  c->open[c->nopen++] = what;
  apic__xtrack t;
  core_track(cpu, &t);
  apic__xevent e = {m->ps, &t, name, cat, args, nargs, m->fout, m->nout, m->fin, m->nin};
  m->nin = m->nout = 0;
  emit(m, m->sink->begin(m->sink->ud, &e));
}

/* Ends the innermost open slice of that kind, and every slice above it. */
static void slice_end(xmodel *m, uint32_t cpu, uint8_t what) {
  xcore *c = &m->cores[cpu];
  uint32_t k = c->nopen;
  while (k > 0 && c->open[k - 1] != what) k--;
  if (k == 0) return;
  apic__xtrack t;
  core_track(cpu, &t);
  while (c->nopen >= k) {
    c->nopen--;
    emit(m, m->sink->end(m->sink->ud, &t, m->ps));
  }
}

static int has_open(const xcore *c, uint8_t what) {
  for (uint32_t k = 0; k < c->nopen; k++)
    if (c->open[k] == what) return 1;
  return 0;
}

static void counters(xmodel *m, uint32_t cpu, int force) {
  apic_lapic_state l;
  if (apic_trace_lapic_state(m->t, cpu, &l)) return;
  int64_t n = 0;
  for (int i = 0; i < 8; i++)
    for (uint32_t w = l.irr[i]; w; w &= w - 1) n++;
  xcore *c = &m->cores[cpu];
  apic__xtrack t;
  if (force || (int64_t)l.ppr != c->ppr) {
    c->ppr = l.ppr;
    counter_track(cpu, 1, &t);
    emit(m, m->sink->counter(m->sink->ud, &t, m->ps, c->ppr));
  }
  if (force || n != c->pending) {
    c->pending = n;
    counter_track(cpu, 0, &t);
    emit(m, m->sink->counter(m->sink->ud, &t, m->ps, n));
  }
}

/* Flows that start at origin k (recorded by pass 1) into m->fout. */
static void origin_flows(xmodel *m, uint32_t k) {
  m->nout = 0;
  if (k == NONE32 || k >= m->norigins) return;
  for (uint32_t i = m->origin_flows[k]; i != NONE32; i = m->pool.n[i].next)
    push_u64(m, &m->fout, &m->nout, &m->foutcap, m->pool.n[i].v);
}

static void bus_begin(xmodel *m, xmsg *g, const apic_event *ev) {
  uint32_t k = 0;
  while (k < m->nlanes && m->lanes[k] != NONE32) k++;
  apic__xtrack t;
  lane_track(k, &t);
  if (k == m->nlanes) {
    uint32_t *p = realloc(m->lanes, (size_t)(k + 1) * sizeof *p);
    if (!p) { nomem(m); return; }
    m->lanes = p;
    m->nlanes++;
    if (emit(m, m->sink->track(m->sink->ud, &t))) return;
  }
  m->lanes[k] = (uint32_t)(g - m->msgs);
  g->lane = k;
  char name[48], src[24];
  if (ev->b == APIC_MSG_EOI) snprintf(name, sizeof name, "eoi 0x%02X", ev->vector);
  else snprintf(name, sizeof name, "%s 0x%02X", apic__xmode_name(ev->mode), ev->vector);
  if (ev->flags & APIC_EVF_IOAPIC) snprintf(src, sizeof src, "ioapic %u", ev->src);
  else snprintf(src, sizeof src, "cpu %u", ev->src);
  apic__xarg args[] = {{"msg", NULL, (int64_t)ev->msg}, {"src", src, 0},
                       {"dest", NULL, ev->dest}, {"vector", NULL, ev->vector},
                       {"shorthand", NULL, (ev->flags >> APIC_EVF_SH_SHIFT) & SH_MASK}};
  apic__xevent e = {m->ps, &t, name, "bus", args, sizeof args / sizeof args[0], NULL, 0, NULL, 0};
  emit(m, m->sink->begin(m->sink->ud, &e));
}

static void bus_end(xmodel *m, xmsg *g) {
  if (g->lane == NONE32 || g->lane >= m->nlanes) return;
  apic__xtrack t;
  lane_track(g->lane, &t);
  m->lanes[g->lane] = NONE32;
  g->lane = NONE32;
  emit(m, m->sink->end(m->sink->ud, &t, m->ps));
}

static void pin_event(xmodel *m, const apic_event *ev) {
  if (ev->src >= m->cfg->nioapics || ev->a >= m->cfg->ioapic_pins[ev->src]) return;
  xpin *p = &m->pins[ev->src][ev->a];
  apic__xtrack t;
  pin_track(ev->src, ev->a, &t);
  if (!p->declared) {
    p->declared = 1;
    if (emit(m, m->sink->track(m->sink->ud, &t))) return;
  }
  apic__xarg args[] = {{"level", NULL, ev->b != 0}, {"vector", NULL, ev->vector}};
  instant(m, &t, ev->b ? "pin rise" : "pin fall", "ioapic", args, 2);
  apic__xevent e = {m->ps, &t, "high", "ioapic", NULL, 0, NULL, 0, NULL, 0};
  if (ev->b && !p->high) emit(m, m->sink->begin(m->sink->ud, &e));
  else if (!ev->b && p->high) emit(m, m->sink->end(m->sink->ud, &t, m->ps));
  p->high = ev->b != 0;
}

static void handler_begin(xmodel *m, const apic_event *ev) {
  char name[40];
  switch (ev->b) {
  case APIC_INTR_NMI: snprintf(name, sizeof name, "nmi"); break;
  case APIC_INTR_SMI: snprintf(name, sizeof name, "smi"); break;
  case APIC_INTR_EXTINT: snprintf(name, sizeof name, "extint vector 0x%02X", ev->vector); break;
  default: snprintf(name, sizeof name, "irq vector 0x%02X", ev->vector); break;
  }
  apic__xarg args[] = {{"vector", NULL, ev->b == APIC_INTR_SMI ? APIC_VECTOR_SMI : ev->vector},
                       {"depth", NULL, ev->a}};
  slice_begin(m, ev->cpu, SL_HANDLER, name, "irq", args, 2);
}

/* Event kinds drawn as an instant on their core, named as apic_event_name. */
static int plain_instant(uint32_t kind) {
  switch (kind) {
  case APIC_EV_ICR_INVALID: case APIC_EV_IRR_COALESCED: case APIC_EV_MSG_DROPPED:
  case APIC_EV_TIMER_FIRE: case APIC_EV_INIT: case APIC_EV_SIPI: case APIC_EV_ESR_ERROR:
  case APIC_EV_UNHANDLED: case APIC_EV_GP_FAULT:
    return 1;
  default: return 0;
  }
}

/* Kinds after which the core may have started or stopped being halted. */
static int may_change_run(uint32_t kind) {
  switch (kind) {
  case APIC_EV_HALT: case APIC_EV_WAKE: case APIC_EV_ACCEPT: case APIC_EV_NMI:
  case APIC_EV_SMI: case APIC_EV_EXTINT: case APIC_EV_INIT: case APIC_EV_SIPI:
  case APIC_EV_HANDLER_ENTER: case APIC_EV_HANDLER_EXIT: case APIC_EV_PROGRAM_START:
  case APIC_EV_PROGRAM_DONE:
    return 1;
  default: return 0;
  }
}

/* Kinds after which PPR or the IRR may differ. */
static int may_change_counters(uint32_t kind) {
  switch (kind) {
  case APIC_EV_IRR_SET: case APIC_EV_ACCEPT: case APIC_EV_EOI: case APIC_EV_TPR:
  case APIC_EV_PPR: case APIC_EV_RESET: case APIC_EV_INIT: case APIC_EV_REG:
    return 1;
  default: return 0;
  }
}

static void write_event(xmodel *m, const apic_event *ev, uint32_t origin, xmsg *g,
                        int msg_last, int exited_entered) {
  const apic_config *cfg = m->cfg;
  uint32_t cpu = ev->cpu;
  int cpu_ok = cpu < cfg->ncpus;
  apic__xtrack t;
  int halted = 0, check_run = cpu_ok && may_change_run(ev->kind);
  if (check_run) {
    halted = core_run(m, cpu) == APIC_CORE_HALTED;
    if (!halted) slice_end(m, cpu, SL_HLT);
  }
  m->nout = 0;
  if (cpu_ok) core_track(cpu, &t);
  switch (ev->kind) {
  case APIC_EV_ICR_WRITE:
    if (!cpu_ok) break;
    {
      origin_flows(m, origin);
      char dest[16];
      snprintf(dest, sizeof dest, "0x%X", ev->dest);
      apic__xarg args[] = {{"vector", NULL, ev->vector},
                           {"mode", apic__xmode_name(ev->mode), 0},
                           {"dest", dest, 0},
                           {"shorthand", NULL, (ev->flags >> APIC_EVF_SH_SHIFT) & SH_MASK},
                           {"icr_lo", NULL, ev->a}};
      instant(m, &t, "ipi_raise", "ipi", args, sizeof args / sizeof args[0]);
    }
    break;
  case APIC_EV_PIN:
    if (!(ev->flags & APIC_EVF_IOAPIC)) break;
    origin_flows(m, origin);
    pin_event(m, ev);
    break;
  case APIC_EV_MSG_SEND:
    if (g && g->lane == NONE32) bus_begin(m, g, ev);
    break;
  case APIC_EV_HANDLER_ENTER:
    if (cpu_ok) handler_begin(m, ev);
    break;
  case APIC_EV_HANDLER_EXIT:
    if (cpu_ok && exited_entered) slice_end(m, cpu, SL_HANDLER);
    break;
  case APIC_EV_INIT:  /* the core resets: its handlers never return (SDM 10.4.7.3) */
    while (cpu_ok && has_open(&m->cores[cpu], SL_HANDLER)) slice_end(m, cpu, SL_HANDLER);
    break;
  case APIC_EV_MARKER: {
    apic__xtrack p;
    process_track(&p);
    instant(m, cpu_ok ? &t : &p, ev->text && ev->text[0] ? ev->text : "marker", "marker",
            NULL, 0);
    break;
  }
  default: break;
  }
  /* flows that end where no slice begins (embedded-mode accept, INIT, SIPI,
     an SMI that did not enter SMM) end on an instant named after the event */
  if (cpu_ok && (plain_instant(ev->kind) || m->nin)) {
    apic__xarg args[] = {{"vector", NULL, ev->vector}, {"a", NULL, ev->a}};
    instant(m, &t, apic_event_name(ev->kind), "apic", args, 2);
  }
  if (g && msg_last) bus_end(m, g);
  if (check_run && halted && !has_open(&m->cores[cpu], SL_HLT))
    slice_begin(m, cpu, SL_HLT, "hlt", "idle", NULL, 0);
  if (cpu_ok && may_change_counters(ev->kind)) counters(m, cpu, 0);
}

/* Frames and slices already open in the first snapshot. */
static void seed(xmodel *m) {
  for (uint32_t cpu = 0; cpu < m->cfg->ncpus && !m->err; cpu++) {
    apic_core_state cs;
    if (apic_trace_core_state(m->t, cpu, &cs)) continue;
    uint32_t n = cs.nest < APIC_CORE_MAX_NEST ? cs.nest : APIC_CORE_MAX_NEST;
    for (uint32_t k = 0; k < n; k++) {
      uint16_t v = cs.vectors[k];
      uint8_t kind = v == 2 ? APIC_INTR_NMI : v == APIC_VECTOR_SMI ? APIC_INTR_SMI
                                                                   : APIC_INTR_FIXED;
      frame_push(m, &m->cores[cpu], v, kind, 1, NONE32);
      if (m->pass == 2) {
        apic_event ev = {0};
        ev.cpu = cpu;
        ev.vector = (uint8_t)v;
        ev.a = k + 1;
        ev.b = kind;
        m->nin = m->nout = 0;
        handler_begin(m, &ev);
      }
    }
    if (m->pass == 2 && cs.run == APIC_CORE_HALTED)
      slice_begin(m, cpu, SL_HLT, "hlt", "idle", NULL, 0);
  }
}

static void header(xmodel *m) {
  const apic_trace_info *info = apic_trace_info_get(m->t);
  char clock[96], infotext[400], freq[32], model[16];
  apic__xcycle_text(m->cfg, clock, sizeof clock);
  snprintf(infotext, sizeof infotext, "%s%s%s", info->name, info->name[0] ? "; " : "", clock);
  apic__xtrack p;
  process_track(&p);
  p.info = infotext;
  if (emit(m, m->sink->track(m->sink->ud, &p))) return;
  for (uint32_t cpu = 0; cpu < m->cfg->ncpus && !m->err; cpu++) {
    apic__xtrack t;
    core_track(cpu, &t);
    emit(m, m->sink->track(m->sink->ud, &t));
    counter_track(cpu, 1, &t);
    emit(m, m->sink->track(m->sink->ud, &t));
    counter_track(cpu, 0, &t);
    emit(m, m->sink->track(m->sink->ud, &t));
  }
  static const char *const buses[] = {"p6", "xapic", "mesh"};
  snprintf(freq, sizeof freq, "%.6g", m->cfg->freq_ghz);
  snprintf(model, sizeof model, "%s", m->cfg->model == APIC_MODEL_P6 ? "p6" : "xapic");
  apic__xarg args[] = {
    {"scenario", info->name, 0}, {"clock", clock, 0}, {"freq_ghz", freq, 0},
    {"ncpus", NULL, m->cfg->ncpus}, {"nioapics", NULL, m->cfg->nioapics},
    {"bus", m->cfg->bus < 3 ? buses[m->cfg->bus] : "?", 0}, {"model", model, 0},
    {"first_cycle", NULL, (int64_t)info->first_cycle}};
  m->nin = m->nout = 0;
  instant(m, &p, "apicsim trace", "meta", args, sizeof args / sizeof args[0]);
  for (uint32_t cpu = 0; cpu < m->cfg->ncpus && !m->err; cpu++) counters(m, cpu, 1);
}

/* Ends everything still open, at the last record. */
static void finish(xmodel *m) {
  m->nin = m->nout = 0;
  for (uint32_t cpu = 0; cpu < m->cfg->ncpus && !m->err; cpu++) {
    xcore *c = &m->cores[cpu];
    if (!c->nopen) continue;
    apic__xtrack t;
    core_track(cpu, &t);
    while (c->nopen) {
      c->nopen--;
      emit(m, m->sink->end(m->sink->ud, &t, m->ps));
    }
  }
  for (uint32_t k = 0; k < m->nlanes && !m->err; k++)
    if (m->lanes[k] != NONE32) bus_end(m, &m->msgs[m->lanes[k]]);
  for (uint32_t io = 0; io < m->cfg->nioapics && !m->err; io++)
    for (uint32_t p = 0; p < m->cfg->ioapic_pins[io]; p++)
      if (m->pins[io][p].high) {
        apic__xtrack t;
        pin_track(io, p, &t);
        m->pins[io][p].high = 0;
        emit(m, m->sink->end(m->sink->ud, &t, m->ps));
      }
}

/* Back to the start with no dynamic state; keeps what pass 1 learnt. */
static void restart(xmodel *m, int pass) {
  m->pass = pass;
  m->next_origin = 0;
  for (uint32_t i = 0; i < m->cfg->ncpus; i++) {
    frames_clear(m, &m->cores[i]);
    m->cores[i].icr_first = m->cores[i].icr_n = 0;
    m->cores[i].nopen = 0;
  }
  for (uint32_t io = 0; io < m->cfg->nioapics; io++)
    memset(m->pins[io], 0, m->cfg->ioapic_pins[io] * sizeof *m->pins[io]);
  for (uint32_t i = 0; i < m->nmsgs; i++) {
    m->msgs[i].origin = NONE32;  /* found again, the same way */
    m->msgs[i].seen = 0;
    m->msgs[i].lane = NONE32;
  }
  for (size_t i = 0; i < m->pending.cap; i++)
    if (m->pending.used[i]) pool_free_list(&m->pool, m->pending.vals[i]);
  xmap_free(&m->pending);
}

static int run_pass(xmodel *m, int pass) {
  restart(m, pass);
  int rc = apic_trace_rewind(m->t);
  if (rc) return fail(m, rc, "reading the trace: %s", apic_trace_errmsg(m->t));
  m->ps = m->first_ps;
  if (pass == 2) header(m);
  seed(m);
  apic_event ev;
  while (!m->err) {
    rc = apic_trace_next(m->t, &ev);
    if (rc == APIC_E_END) break;
    if (rc) return fail(m, rc, "reading the trace: %s", apic_trace_errmsg(m->t));
    uint64_t ps = apic__xps(m->cfg, ev.cycle);
    if (ps > m->ps) m->ps = ps;  /* never backwards, whatever the input */
    uint32_t origin;
    xmsg *g;
    int last;
    int entered = 0;
    if (ev.kind == APIC_EV_HANDLER_EXIT && ev.cpu < m->cfg->ncpus && m->cores[ev.cpu].depth)
      entered = m->cores[ev.cpu].frames[m->cores[ev.cpu].depth - 1].entered;
    link(m, &ev, &origin, &g, &last);
    if (pass == 2 && !m->err) write_event(m, &ev, origin, g, last, entered);
  }
  if (pass == 2 && !m->err) finish(m);
  return m->err;
}

static void model_free(xmodel *m) {
  if (m->cores)
    for (uint32_t i = 0; i < m->cfg->ncpus; i++) {
      free(m->cores[i].frames);
      free(m->cores[i].open);
    }
  free(m->cores);
  for (uint32_t io = 0; io < APIC_MAX_IOAPICS; io++) free(m->pins[io]);
  xmap_free(&m->msgmap);
  xmap_free(&m->pending);
  free(m->msgs);
  free(m->pool.n);
  free(m->origin_flows);
  free(m->lanes);
  free(m->fin);
  free(m->fout);
}

int apic__xmodel_run(apic_trace *t, const apic__xsink *sink, char *why, size_t why_size) {
  xmodel m;
  memset(&m, 0, sizeof m);
  m.t = t;
  m.sink = sink;
  m.cfg = &apic_trace_info_get(t)->config;
  m.pool.free = NONE32;
  m.first_ps = apic__xps(m.cfg, apic_trace_info_get(t)->first_cycle);
  m.cores = calloc(m.cfg->ncpus, sizeof *m.cores);
  if (!m.cores) nomem(&m);
  for (uint32_t io = 0; io < m.cfg->nioapics && !m.err; io++)
    if (!(m.pins[io] = calloc(m.cfg->ioapic_pins[io], sizeof *m.pins[io]))) nomem(&m);
  if (!m.err) run_pass(&m, 1);
  if (!m.err) run_pass(&m, 2);
  int rc = m.err;
  if (rc) set_why(why, why_size, "%s", m.why);
  model_free(&m);
  return rc;
}
