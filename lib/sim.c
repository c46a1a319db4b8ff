/*
 * sim.c - the engine: machine creation, the event loop, message delivery.
 *
 * Everything that happens later sits in one queue ordered by
 * (cycle, kind, core, sequence) - see docs/ENGINE.md for the tie-break rule
 * and why it is deterministic. Nothing is polled: a core is only stepped
 * when its step is due, a timer only when it expires, a message only when
 * it arrives; halted cores and idle cycles cost nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"
#include "trace_rec.h"

/* ---- memory and errors ---- */

static void *default_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  if (n == 0) { free(p); return NULL; }
  return realloc(p, n);
}

void *apic__alloc(apic_sim *s, void *p, size_t n) {
  return s->cfg.alloc(s->cfg.alloc_ud, p, n);
}

static void *grow_cb(void *ud, void *p, size_t n) { return apic__alloc(ud, p, n); }

int apic__fail(apic_sim *s, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err, sizeof s->err, fmt, ap);
  va_end(ap);
  return err;
}

const char *apic_sim_errmsg(const apic_sim *s) {
  return s ? s->err : "no simulation";
}

/* ---- configuration ---- */

void apic_config_default(apic_config *cfg, uint32_t ncpus) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->api_version = APICSIM_VERSION_NUM;
  cfg->struct_size = sizeof *cfg;
  cfg->ncpus = ncpus;
  cfg->model = APIC_MODEL_XAPIC;
  cfg->x2apic = ncpus > 255;
  cfg->bus = APIC_BUS_XAPIC;
  cfg->sockets = 1;
  cfg->threads_per_core = 1;
  cfg->nioapics = 1;
  for (int i = 0; i < APIC_MAX_IOAPICS; i++) {
    cfg->ioapic_pins[i] = 24;
    cfg->ioapic_version[i] = APIC_IOAPIC_VERSION_EOI;
    cfg->ioapic_id[i] = (uint8_t)((ncpus + (uint32_t)i) & 0xF);
  }
  cfg->extint_vector = 0x20;
  cfg->freq_ghz = 1.0;
  cfg->seed = 1;
  /* docs/TIMING.md says where each default comes from */
  apic_timing *t = &cfg->timing;
  t->mmio_read = 20;
  t->mmio_write = 35;
  t->msr_read = 25;
  t->msr_write = 40;
  t->insn = 1;
  t->pause = 40;
  t->mem = 5;
  t->atomic = 20;
  t->accept = 200;
  t->iret = 50;
  t->wake = 300;
  t->post = 50;
  t->xapic_latency = 680;
  t->p6_clock_div = 12;
  t->mesh_same_core = 250;
  t->mesh_same_socket = 680;
  t->mesh_cross_socket = 1800;
  t->ioapic_latency = 500;
  t->timer_div = 1;
  cfg->quirks.logical_ff_all = 1;
}

static int check_config(const apic_config *c, char *why, size_t n) {
#define BAD(...) do { if (n) snprintf(why, n, __VA_ARGS__); return APIC_E_CONFIG; } while (0)
  if (c->ncpus == 0) BAD("ncpus is 0: a machine needs at least one core");
  if (c->ncpus > APIC_MAX_CPUS) BAD("ncpus %u exceeds the limit %u", c->ncpus, APIC_MAX_CPUS);
  if (c->model != APIC_MODEL_P6 && c->model != APIC_MODEL_XAPIC)
    BAD("model %d is not APIC_MODEL_P6 or APIC_MODEL_XAPIC", (int)c->model);
  if (c->bus != APIC_BUS_P6 && c->bus != APIC_BUS_XAPIC && c->bus != APIC_BUS_MESH)
    BAD("bus %d is not p6, xapic or mesh", (int)c->bus);
  if (c->x2apic && c->model == APIC_MODEL_P6) BAD("x2APIC mode needs APIC_MODEL_XAPIC");
  uint32_t maxid = c->model == APIC_MODEL_P6 ? 0xE : c->x2apic ? 0xFFFFFFFEu : 0xFE;
  if (!c->apic_ids && c->ncpus - 1 > maxid)
    BAD("%u cores cannot be addressed in %s mode (APIC IDs 0..%u; broadcast ID reserved)",
        c->ncpus, c->model == APIC_MODEL_P6 ? "P6 (4-bit ID)" : c->x2apic ? "x2APIC" : "xAPIC",
        maxid);
  if (c->apic_ids)
    for (uint32_t i = 0; i < c->ncpus; i++)
      if (c->apic_ids[i] > maxid) BAD("apic_ids[%u] = %u is above %u", i, c->apic_ids[i], maxid);
  if (c->nioapics > APIC_MAX_IOAPICS) BAD("nioapics %u exceeds %d", c->nioapics, APIC_MAX_IOAPICS);
  for (uint32_t i = 0; i < c->nioapics; i++) {
    if (c->ioapic_pins[i] < 1 || c->ioapic_pins[i] > APIC_IOAPIC_MAX_PINS)
      BAD("ioapic_pins[%u] = %u: must be 1..%u", i, c->ioapic_pins[i], APIC_IOAPIC_MAX_PINS);
    if (c->ioapic_version[i] != APIC_IOAPIC_VERSION_82093AA &&
        c->ioapic_version[i] != APIC_IOAPIC_VERSION_EOI)
      BAD("ioapic_version[%u] = 0x%x: must be 0x11 or 0x20", i, c->ioapic_version[i]);
    if (c->ioapic_id[i] > 0xF) BAD("ioapic_id[%u] = %u: I/O APIC IDs are 4 bits", i, c->ioapic_id[i]);
  }
  if (c->bus == APIC_BUS_P6 && c->model != APIC_MODEL_P6)
    BAD("the p6 bus carries only P6-model APICs (set model to APIC_MODEL_P6)");
  if (c->timing.p6_clock_div == 0) BAD("timing.p6_clock_div must be at least 1");
  if (c->timing.timer_div == 0 || c->timing.timer_div > APIC_TIMER_DIV_MAX)
    BAD("timing.timer_div = %u: must be 1..%u (the timer's longest period must fit the clock)",
        c->timing.timer_div, APIC_TIMER_DIV_MAX);
  if (c->timing.insn == 0)
    BAD("timing.insn must be at least 1: a guest step that takes no time would let a "
        "spinning program run forever at one cycle");
  uint32_t socks = c->sockets ? c->sockets : 1, thr = c->threads_per_core ? c->threads_per_core : 1;
  if (c->bus == APIC_BUS_MESH && (c->ncpus % socks || (c->ncpus / socks) % thr))
    BAD("mesh topology: %u cores do not split into %u sockets of %u-thread cores",
        c->ncpus, socks, thr);
  if (!(c->freq_ghz > 0 && c->freq_ghz < 1000)) BAD("freq_ghz must be in (0, 1000)");
  return APIC_OK;
#undef BAD
}

/* ---- create / destroy ---- */

int apic_sim_create(apic_sim **out, const apic_config *cfg, char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !cfg) {
    if (why_size) snprintf(why, why_size, "out and cfg must not be NULL");
    if (out) *out = NULL;
    return APIC_E_ARG;
  }
  *out = NULL;
  if (cfg->api_version != APICSIM_VERSION_NUM || cfg->struct_size != sizeof *cfg) {
    if (why_size)
      snprintf(why, why_size, "built against apicsim 0x%06x (config size %u), library is %s "
               "(config size %zu)", cfg->api_version, cfg->struct_size, APICSIM_VERSION,
               sizeof *cfg);
    return APIC_E_VERSION;
  }
  int rc = check_config(cfg, why, why_size);
  if (rc) return rc;
  apic_realloc_fn af = cfg->alloc ? cfg->alloc : default_realloc;
  apic_sim *s = af(cfg->alloc_ud, NULL, sizeof *s);
  if (!s) goto nomem0;
  memset(s, 0, sizeof *s);
  s->cfg = *cfg;
  s->cfg.alloc = af;
  s->cfg.apic_ids = NULL;  /* not kept: the caller's array may go away */
  s->ncpus = cfg->ncpus;
  s->nioapics = cfg->nioapics;
  apic__queue_init(&s->q);
  s->left_t = UINT64_MAX;
  s->cpus = apic__alloc(s, NULL, (size_t)s->ncpus * sizeof *s->cpus);
  /* zeroed at once: apic_sim_destroy on a failed create frees each core's frames */
  if (s->cpus) memset(s->cpus, 0, (size_t)s->ncpus * sizeof *s->cpus);
  s->id_sorted = apic__alloc(s, NULL, (size_t)s->ncpus * sizeof(uint32_t));
  s->scratch = apic__alloc(s, NULL, (size_t)s->ncpus * sizeof(uint32_t));
  uint32_t buckets = 64;
  while (buckets < s->ncpus) buckets <<= 1;
  s->watch_mask = buckets - 1;
  s->watch_head = apic__alloc(s, NULL, buckets * sizeof(uint32_t));
  if (!s->cpus || !s->id_sorted || !s->scratch || !s->watch_head) goto nomem;
  memset(s->cpus, 0, (size_t)s->ncpus * sizeof *s->cpus);
  for (uint32_t i = 0; i < buckets; i++) s->watch_head[i] = APIC_NONE;
  for (uint32_t i = 0; i < s->ncpus; i++) {
    apic_cpu *c = &s->cpus[i];
    c->sim = s;
    c->index = i;
    c->step_at = UINT64_MAX;
    c->watch_next = APIC_NONE;
    uint32_t id = cfg->apic_ids ? cfg->apic_ids[i] : i;
    apic__lapic_init(s, &c->apic, i, id, cfg->model, cfg->x2apic, i == 0);
  }
  for (uint32_t i = 0; i < s->nioapics; i++) {
    uint32_t pins = cfg->ioapic_pins[i];
    uint64_t *rte = apic__alloc(s, NULL, pins * sizeof *rte);
    uint8_t *lvl = apic__alloc(s, NULL, pins);
    if (!rte || !lvl) { apic__alloc(s, rte, 0); apic__alloc(s, lvl, 0); goto nomem; }
    apic__ioapic_init(&s->ioapics[i], i, pins, cfg->ioapic_version[i], cfg->ioapic_id[i],
                      rte, lvl);
  }
  apic__lapic_slots(s->lapic_slot);
  s->ids_dirty = 1;
  s->lp_last = s->ncpus - 1;
  s->msg_free = s->pin_free = APIC_NONE;
  if (cfg->bus == APIC_BUS_P6 && apic__p6_init(s)) goto nomem;
  *out = s;
  return APIC_OK;
nomem:
  apic_sim_destroy(s);
nomem0:
  if (why_size) snprintf(why, why_size, "out of memory creating %u cores", cfg->ncpus);
  return APIC_E_NOMEM;
}

void apic_sim_destroy(apic_sim *s) {
  if (!s) return;
  if (s->in_run || s->in_hook) {  /* the caller's caller would return into freed memory */
    apic__fail(s, APIC_E_STATE, "apic_sim_destroy called from inside a guest step, hook or "
               "quiet callback: ignored, the machine still exists");
    return;
  }
  /* writers not closed yet keep no pointer to the machine: their close
     finishes the file instead of reaching into freed memory */
  for (uint32_t i = 0; i < s->nhooks; i++)
    if (s->hooks[i].fn == apic__trace_on_event) apic__trace_orphan(s->hooks[i].ud);
  if (s->cpus)
    for (uint32_t i = 0; i < s->ncpus; i++) apic__cpu_free(s, &s->cpus[i]);
  for (uint32_t i = 0; i < s->nioapics; i++) {
    apic__alloc(s, s->ioapics[i].rte, 0);
    apic__alloc(s, s->ioapics[i].level, 0);
  }
  if (s->cfg.bus == APIC_BUS_P6) apic__p6_free(s);
  apic__alloc(s, s->cpus, 0);
  apic__alloc(s, s->id_sorted, 0);
  apic__alloc(s, s->scratch, 0);
  apic__alloc(s, s->watch_head, 0);
  apic__queue_free(&s->q, grow_cb, s);
  apic__lane_free(&s->left, grow_cb, s);
  apic__alloc(s, s->msgs, 0);
  apic__alloc(s, s->pinchg, 0);
  s->cfg.alloc(s->cfg.alloc_ud, s, 0);
}

uint32_t apic_sim_ncpus(const apic_sim *s) { return s ? s->ncpus : 0; }
uint64_t apic_sim_now(const apic_sim *s) { return s ? s->now : 0; }
const apic_config *apic_sim_config(const apic_sim *s) { return s ? &s->cfg : NULL; }
/* ncalled and rec_first follow the list. */
static void hooks_changed(apic_sim *s) {
  s->ncalled = 0;
  for (uint32_t i = 0; i < s->nhooks; i++) s->ncalled += !s->hooks[i].direct;
  s->rec_first = s->nhooks && s->hooks[0].direct ? s->rec : NULL;
}

static void remove_at(apic_sim *s, uint32_t i) {
  if (s->hooks[i].direct) s->rec = NULL;
  for (; i + 1 < s->nhooks; i++) s->hooks[i] = s->hooks[i + 1];
  s->nhooks--;
  hooks_changed(s);
}

/* While hooks are being called the list stays as it is: a hook removed or
   added halfway would make the ones after it miss or repeat the event. */
static int hooks_busy(apic_sim *s) {
  return s->in_hook ? apic__fail(s, APIC_E_STATE, "hooks cannot be added or removed from "
                                 "inside a hook or quiet callback") : APIC_OK;
}

/* Only the hook of the previous call goes, in its place: the ones added
   with apic_sim_add_hook (a trace writer, a library program's) stay. */
int apic_sim_set_hook(apic_sim *s, apic_hook_fn fn, void *ud) {
  if (!s) return APIC_E_ARG;
  int rc = hooks_busy(s);
  if (rc) return rc;
  for (uint32_t i = 0; i < s->nhooks; i++)
    if (s->hooks[i].set) {
      if (!fn) { remove_at(s, i); return APIC_OK; }
      s->hooks[i].fn = fn;
      s->hooks[i].ud = ud;
      return APIC_OK;
    }
  if (!fn) return APIC_OK;
  rc = apic_sim_add_hook(s, fn, NULL, ud);
  if (rc == APIC_OK) s->hooks[s->nhooks - 1].set = 1;
  return rc;
}

int apic_sim_add_hook(apic_sim *s, apic_hook_fn fn, apic_quiet_fn quiet, void *ud) {
  if (!s) return APIC_E_ARG;
  int rc = hooks_busy(s);
  if (rc) return rc;
  if (!fn) return apic__fail(s, APIC_E_ARG, "hook function is NULL");
  if (s->nhooks == APIC_MAX_HOOKS)
    return apic__fail(s, APIC_E_STATE, "already %d hooks installed", APIC_MAX_HOOKS);
  s->hooks[s->nhooks].fn = fn;
  s->hooks[s->nhooks].quiet = quiet;
  s->hooks[s->nhooks].ud = ud;
  s->hooks[s->nhooks].set = 0;
  s->hooks[s->nhooks].direct = 0;
  s->nhooks++;
  hooks_changed(s);
  return APIC_OK;
}

int apic__hook_direct(apic_sim *s, apic_hook_fn fn, void *ud, struct apic__recorder *r) {
  if (s->rec) return -1;
  for (uint32_t i = s->nhooks; i-- > 0;)
    if (s->hooks[i].fn == fn && s->hooks[i].ud == ud && !s->hooks[i].set) {
      s->hooks[i].direct = 1;
      s->rec = r;
      hooks_changed(s);
      return 0;
    }
  return -1;
}

int apic_sim_remove_hook(apic_sim *s, apic_hook_fn fn, void *ud) {
  if (!s) return APIC_E_ARG;
  int rc = hooks_busy(s);
  if (rc) return rc;
  for (uint32_t i = s->nhooks; i-- > 0;)
    if (s->hooks[i].fn == fn && s->hooks[i].ud == ud && !s->hooks[i].set) {
      remove_at(s, i);
      return APIC_OK;
    }
  return apic__fail(s, APIC_E_ARG, "no such hook added with apic_sim_add_hook");
}

/* A quiet callback that asks for the next quiet point gets it after the
   next event: granted at once, it would run again and again with no event
   in between, and the run would hang. */
void apic_sim_request_quiet(apic_sim *s) {
  if (!s) return;
  if (s->in_quiet) s->quiet_later = 1;
  else s->quiet_wanted = 1;
}

/* An event happened since the quiet point: a deferred request is due. */
static inline void quiet_due(apic_sim *s) {
  if (s->quiet_later) { s->quiet_later = 0; s->quiet_wanted = 1; }
}

static void run_quiet(apic_sim *s) {
  s->quiet_wanted = 0;
  uint8_t was = s->in_hook;
  s->in_hook = 1;
  s->in_quiet = 1;
  for (uint32_t i = 0; i < s->nhooks; i++)
    if (s->hooks[i].quiet) s->hooks[i].quiet(s->hooks[i].ud, s);
  s->in_quiet = 0;
  s->in_hook = was;
}
void apic_sim_stats(const apic_sim *s, apic_stats *out) {
  if (!out) return;
  if (s) *out = s->stats; else memset(out, 0, sizeof *out);
}

/* ---- sink ---- */

/* In the order they were installed, the direct writer in its place
   (record: ev is still to be recorded, the writer is not first in the
   list or had a rare case): a hook before it that writes a register emits
   from inside its call, and the writer records those events before the
   one the hook heard, as it would through its own hook. */
static inline void call_hooks(apic_sim *s, const apic_event *ev, int record) {
  uint8_t was = s->in_hook;  /* a hook's own register access emits too */
  s->in_hook = 1;
  for (uint32_t i = 0; i < s->nhooks; i++)
    if (!s->hooks[i].direct) s->hooks[i].fn(s->hooks[i].ud, ev);
    else if (record) apic__recorder_add(s->rec, ev);
  s->in_hook = was;
}

void apic__hooks_after_first(apic_sim *s, const apic_event *ev) { call_hooks(s, ev, 0); }

void apic__event_hooks_after_first(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                                   uint32_t a, uint32_t b) {
  const apic_event ev = {.cycle = s->now, .kind = kind, .cpu = cpu, .src = cpu,
                         .vector = vector, .a = a, .b = b};
  call_hooks(s, &ev, 0);
}

void apic__emit_slow(apic_sim *s, const apic_event *ev) {
  if (s->ncalled) call_hooks(s, ev, 1);
  else if (s->rec) apic__recorder_add(s->rec, ev);
}

void apic__emit(apic_sim *s, apic_event *ev) {
  ev->cycle = s->now;
  apic__emit_slow(s, ev);
}

void apic__event(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                 uint32_t a, uint32_t b) {
  const apic_event ev = {.cycle = s->now, .kind = kind, .cpu = cpu, .src = cpu,
                         .vector = vector, .a = a, .b = b};
  apic__emit_inline(s, ev);
}

/* Out of memory inside the event loop cannot be returned to the guest
   that caused it: s->nomem stops the run with APIC_E_NOMEM instead. */
void apic__schedule(apic_sim *s, uint64_t t, uint32_t kind, uint32_t cpu,
                    uint32_t a, uint32_t b) {
  apic__qent e;
  e.t = t;
  e.ord = APIC__ORD(kind, cpu, s->seq++);
  e.a = a;
  e.b = b;
  int far = kind == APIC__EV_TIMER || kind == APIC__EV_PIN;  /* one per core or pin */
  if (apic__queue_push(&s->q, &e, far, grow_cb, s)) s->nomem = 1;
}

/* ---- messages in flight ---- */

uint32_t apic__msg_new(apic_sim *s, const apic__msg *m) {
  if (s->msg_free == APIC_NONE) {
    uint32_t n = s->nmsgs ? s->nmsgs * 2 : 64;
    apic__msgslot *v = apic__alloc(s, s->msgs, (size_t)n * sizeof *v);
    if (!v) { s->nomem = 1; return APIC_NONE; }
    for (uint32_t i = s->nmsgs; i < n; i++) {  /* refs 0: free (a scan tells them apart) */
      v[i].next_free = i + 1 < n ? i + 1 : APIC_NONE;
      v[i].refs = 0;
    }
    s->msgs = v;
    s->msg_free = s->nmsgs;
    s->nmsgs = n;
  }
  uint32_t slot = s->msg_free;
  s->msg_free = s->msgs[slot].next_free;
  s->msgs[slot].m = *m;
  s->msgs[slot].refs = 0;
  s->msgs[slot].hits = 0;
  return slot;
}

void apic__msg_unref(apic_sim *s, uint32_t slot) {
  apic__msgslot *ms = &s->msgs[slot];
  if (--ms->refs) return;
  if (ms->hits == 0 && ms->m.kind == APIC__MSG_INTR) {
    if (apic__tracing(s)) {
      apic_event ev = {0};
      ev.kind = APIC_EV_MSG_NOTARGET; ev.msg = ms->m.id; ev.cpu = APIC_NONE;
      ev.src = ms->m.src; ev.dest = ms->m.dest; ev.vector = ms->m.vector; ev.mode = ms->m.mode;
      ev.flags = ms->m.from_ioapic ? APIC_EVF_IOAPIC : 0;
      apic__emit(s, &ev);
    }
  }
  ms->next_free = s->msg_free;
  s->msg_free = slot;
}

static uint32_t msg_flags(const apic__msg *m) {
  return (m->logical ? APIC_EVF_LOGICAL : 0) | (m->level_trig ? APIC_EVF_LEVEL : 0) |
         (m->assert_ ? APIC_EVF_ASSERT : 0) | ((uint32_t)m->shorthand << APIC_EVF_SH_SHIFT) |
         (m->from_ioapic ? APIC_EVF_IOAPIC : 0);
}

void apic__post(apic_sim *s, const apic__msg *m) {
  uint32_t slot = apic__msg_new(s, m);
  if (slot == APIC_NONE) return;
  s->msgs[slot].m.id = ++s->msg_ids;
  s->stats.messages++;
  apic__bus_post(s, slot);
}

void apic__msg_sent(apic_sim *s, uint32_t slot, uint64_t leave) {
  if (!apic__tracing(s)) return;
  const apic__msg *pm = &s->msgs[slot].m;
  const apic_event f = {
      .cycle = s->now, .kind = APIC_EV_MSG_SEND, .msg = pm->id, .cpu = APIC_NONE,
      .src = pm->src, .dest = pm->dest, .vector = pm->vector, .mode = pm->mode,
      .flags = msg_flags(pm), .a = s->cfg.bus == APIC_BUS_P6 ? apic__p6_cycles(s, pm) : 0,
      .b = pm->kind, .x = leave};
  apic__emit_inline(s, f);
}

/* One receiver takes a message; returns 1 if it latched it. */
static int deliver(apic_sim *s, const apic__msg *m, uint32_t cpu) {
  int r = apic__lapic_receive(s, &s->cpus[cpu].apic, m);
  if (r == APIC__RX_OK || r == APIC__RX_COALESCED) return 1;
  s->stats.dropped++;
  if (apic__tracing(s)) {
    apic_event ev = {0};
    ev.kind = APIC_EV_MSG_DROPPED; ev.msg = m->id; ev.cpu = cpu; ev.src = m->src;
    ev.vector = m->vector; ev.mode = m->mode; ev.flags = msg_flags(m);
    const apic__lapic *l = &s->cpus[cpu].apic;
    ev.a = m->mode == APIC_DM_STARTUP ? APIC_DROP_NOT_WAITING
         : (m->vector < 16 && apic__lapic_enabled(l)) ? APIC_DROP_ILLEGAL : APIC_DROP_DISABLED;
    apic__emit(s, &ev);
  }
  return 0;
}

void apic__arrive(apic_sim *s, uint32_t slot, uint32_t cls) {
  apic__msg m = s->msgs[slot].m;  /* copy: delivery may grow the pool */
  uint32_t hits = 0;
  if (m.kind == APIC__MSG_INTR && m.mode == APIC_DM_INIT && m.level_trig && !m.assert_)
    /* INIT level de-assert (P6 only): every bus agent reloads its arbitration
       ID, the I/O APICs too (82093AA 3.2.3); the local APICs below */
    for (uint32_t i = 0; i < s->nioapics; i++) apic__ioapic_init_deassert(&s->ioapics[i]);
  if (m.kind == APIC__MSG_EOI) {
    for (uint32_t i = 0; i < s->nioapics; i++) apic__ioapic_eoi(s, &s->ioapics[i], m.vector);
    hits = 1;
  } else if (m.target != APIC_NONE) {
    hits = (uint32_t)deliver(s, &m, m.target);
  } else {
    uint32_t n = apic__dest_resolve(s, &m);
    if (m.mode == APIC_DM_LOWEST) {
      uint32_t t = n ? apic__dest_lowest(s, &m, s->scratch, n, s->cfg.bus == APIC_BUS_P6)
                     : APIC_NONE;
      if (t != APIC_NONE) hits = (uint32_t)deliver(s, &m, t);
    } else {
      /* scratch may be reused by a nested post; deliver never resolves */
      for (uint32_t i = 0; i < n; i++) {
        uint32_t c = s->scratch[i];
        if (cls < 3 && apic__topo_class(s, m.src, c) != cls) continue;
        hits += (uint32_t)deliver(s, &m, c);
      }
    }
  }
  s->msgs[slot].hits += hits;
  if (m.from_ioapic && m.kind == APIC__MSG_INTR)
    apic__ioapic_delivered(s, &s->ioapics[m.src], m.pin, hits > 0);
  apic__msg_unref(s, slot);
}

void apic__left(apic_sim *s, uint32_t slot) {
  const apic__msg *m = &s->msgs[slot].m;
  apic__lapic *l = &s->cpus[m->src].apic;
  if (s->cfg.bus == APIC_BUS_P6 && l->sends_pending) l->sends_pending--;
  if (apic__tracing(s)) {
    const apic_event f = {.cycle = s->now, .kind = APIC_EV_MSG_DONE, .msg = m->id,
                               .cpu = m->src, .src = m->src, .vector = m->vector,
                               .mode = m->mode, .dest = m->dest, .flags = msg_flags(m),
                               .a = m->retries};
    apic__emit_inline(s, f);
  }
  apic__msg_unref(s, slot);
}

void apic__left_at(apic_sim *s, uint64_t t, uint32_t slot) {
  apic__qent e = {t, APIC__ORD(APIC__EV_LEFT, s->msgs[slot].m.src, s->seq++), slot, 0};
  if (apic__lane_push(&s->left, &e, grow_cb, s)) { s->nomem = 1; return; }
  if (t < s->left_t) s->left_t = t;
  s->msgs[slot].refs++;
}

void apic__timer_changed(apic_sim *s, uint32_t cpu) {
  const apic__lapic *l = &s->cpus[cpu].apic;
  if (l->timer_next) apic__schedule(s, l->timer_next, APIC__EV_TIMER, cpu, 0, l->timer_gen);
}

void apic__ids_changed(apic_sim *s) { s->ids_dirty = 1; }

/* ---- scheduled pin changes ---- */

int apic__pin_at(apic_sim *s, uint32_t ioapic, uint32_t pin, int level, uint64_t t) {
  if (s->pin_free == APIC_NONE) {
    uint32_t n = s->npinchg ? s->npinchg * 2 : 16;
    apic__pinchg *v = apic__alloc(s, s->pinchg, (size_t)n * sizeof *v);
    if (!v) return APIC_E_NOMEM;
    for (uint32_t i = s->npinchg; i < n; i++) v[i].next_free = i + 1 < n ? i + 1 : APIC_NONE;
    s->pinchg = v;
    s->pin_free = s->npinchg;
    s->npinchg = n;
  }
  uint32_t k = s->pin_free;
  s->pin_free = s->pinchg[k].next_free;
  s->pinchg[k].ioapic = ioapic;
  s->pinchg[k].pin = pin;
  s->pinchg[k].level = (uint32_t)(level != 0);
  apic__schedule(s, t, APIC__EV_PIN, ioapic, k, 0);
  return s->nomem ? APIC_E_NOMEM : APIC_OK;
}

/* ---- the event loop ---- */

static void dispatch(apic_sim *s, const apic__qent *e) {
  uint32_t kind = APIC__ORD_KIND(e->ord), cpu = APIC__ORD_CPU(e->ord);
  switch (kind) {
  case APIC__EV_PIN: {
    apic__pinchg *p = &s->pinchg[e->a];
    uint32_t io = p->ioapic, pin = p->pin, level = p->level;
    p->next_free = s->pin_free;
    s->pin_free = e->a;
    apic__ioapic_set_pin(s, &s->ioapics[io], pin, (int)level);
    break;
  }
  case APIC__EV_BUS:
    apic__p6_done(s);
    break;
  case APIC__EV_ARRIVE:
    apic__arrive(s, e->a, e->b);
    break;
  case APIC__EV_TIMER: {
    apic__lapic *l = &s->cpus[cpu].apic;
    if (e->b == l->timer_gen && l->timer_next == e->t) apic__lapic_timer_expire(s, l);
    break;
  }
  case APIC__EV_STEP: {
    apic_cpu *c = &s->cpus[cpu];
    if (e->b == c->step_gen && c->step_at == e->t) apic__cpu_step(s, c);
    break;
  }
  default:
    break;
  }
}

static int run_loop(apic_sim *s, uint64_t until);

int apic__check_nomem(apic_sim *s, int rc) {
  if (!s->nomem) return rc;
  s->nomem = 0;
  s->broken = APIC__BROKEN_NOMEM;
  return apic__fail(s, APIC_E_NOMEM, "out of memory at cycle %llu: events were lost, the "
                    "machine cannot continue", (unsigned long long)s->now);
}

int apic_sim_run(apic_sim *s, uint64_t until) {
  if (!s) return APIC_E_ARG;
  if (s->broken)
    return apic__fail(s, APIC_E_STATE, "the machine %s earlier; destroy it",
                      s->broken == APIC__BROKEN_FAULT ? "stopped on a guest fault"
                                                      : "ran out of memory and lost events");
  if (s->in_run)
    return apic__fail(s, APIC_E_STATE, "apic_sim_run called from inside a guest step or hook");
  if (until > APIC_CYCLE_MAX && until != UINT64_MAX)
    return apic__fail(s, APIC_E_TIME, "until = cycle %llu is past APIC_CYCLE_MAX (%llu), the "
                      "last cycle the clock reaches; UINT64_MAX runs until nothing is left",
                      (unsigned long long)until, (unsigned long long)APIC_CYCLE_MAX);
  s->in_run = 1;
  int rc = run_loop(s, until);
  s->in_run = 0;
  return rc;
}

/* The left list's least entry if it comes before the queue's, else NULL. */
static const apic__qent *left_first(const apic_sim *s) {
  if (apic__lane_empty(&s->left)) return NULL;
  const apic__qent *top = apic__queue_top(&s->q), *l = apic__lane_top(&s->left);
  return !top || apic__qless(l, top) ? l : NULL;
}

/* If the left list's least entry is due (before the queue's and by
   `until`), a hook hears that its message left, or a quiet point comes
   first; returns 1 then. It is not an engine event. */
static int left_due(apic_sim *s, uint64_t until) {
  const apic__qent *l = left_first(s);
  if (!l || l->t > until) return 0;
  if (s->quiet_wanted) {  /* a quiet point comes first, as before an event; */
    run_quiet(s);         /* its callbacks may send IPIs: l may be gone, look again */
    return 1;
  }
  s->now = l->t;
  uint32_t slot = l->a;
  apic__lane_pop(&s->left);
  s->left_t = apic__lane_empty(&s->left) ? UINT64_MAX : apic__lane_top(&s->left)->t;
  apic__left(s, slot);
  quiet_due(s);
  return 1;
}

static int run_loop(apic_sim *s, uint64_t until) {
  const apic__qent *top;
  int to_idle = until == UINT64_MAX;
  quiet_due(s);  /* the host may have changed things since: a quiet point is due */
  if (to_idle) until = APIC_CYCLE_MAX;  /* nothing happens after it */
  if (s->quiet_wanted) run_quiet(s);
  for (;;) {
    /* a MSG_DONE due (only while a hook listens), or the next event */
    top = apic__queue_top(&s->q);
    int left = s->left_t <= (top ? top->t : UINT64_MAX) && left_due(s, until);
    if (!left) {
      if (!top || top->t > until) break;
      if (s->quiet_wanted) {
        run_quiet(s);
        continue;  /* a quiet callback may send IPIs: re-read the top */
      }
      apic__qent e = *top;
      apic__queue_remove(&s->q, top);
      s->now = e.t;
      s->stats.events++;
      dispatch(s, &e);
      quiet_due(s);
    }
    if (s->nomem | s->fault) {  /* a hook's host calls may have failed too */
      if (s->nomem) return apic__check_nomem(s, APIC_E_NOMEM);
      s->fault = 0;  /* s->err says what */
      s->broken = APIC__BROKEN_FAULT;
      return APIC_E_STATE;
    }
  }
  if (apic__queue_top(&s->q) || !apic__lane_empty(&s->left)) {
    if (until > s->now) s->now = until;
    return APIC_RUN_LIMIT;
  }
  if (!to_idle && until > s->now) s->now = until;
  return s->spinning ? APIC_RUN_STUCK : APIC_RUN_IDLE;
}

uint64_t apic_sim_next_event(const apic_sim *s) {
  if (!s) return UINT64_MAX;
  const apic__qent *top = left_first(s);
  if (!top) top = apic__queue_top(&s->q);
  return top ? top->t : UINT64_MAX;
}
