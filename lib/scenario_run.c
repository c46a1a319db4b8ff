/*
 * scenario_run.c - runs a parsed scenario and checks what it expects.
 *
 * The run goes in slices: up to the next stimulus action, a progress report
 * (every SLICE cycles) or the end. Actions at cycle T happen after every
 * engine event of cycle T. A hook collects what the expectations need:
 * handler entries per core and vector, the cycles of guest markers named by
 * "order" expectations, and latencies (apicsim/stats.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apicsim/trace.h"
#include "progs.h"
#include "scenario_int.h"
#include "sim.h"

#define SLICE 1000000u

typedef struct mark { uint64_t first, last; int seen; } mark;

typedef struct run {
  const apic_scenario *sc;
  uint64_t last;          /* cycle of the last event seen */
  apic_sim *s;
  apic_latency *lat;
  uint32_t *handled;      /* ncpus x 256 handler entries */
  uint64_t *handled_any;  /* ncpus: the same, any vector, for a check in O(1) per core */
  mark *first, *then;     /* per expectation (order kind only) */
  void **inst;            /* program instances */
  apic_scenario_result *res;  /* notes on stimulus go straight there */
} run;

static void hook(void *ud, const apic_event *ev) {
  run *r = ud;
  r->last = ev->cycle;
  apic_latency_event(r->lat, ev);
  if (ev->kind == APIC_EV_HANDLER_ENTER && ev->cpu < r->sc->cfg.ncpus &&
      ev->b != APIC_INTR_SMI) {
    r->handled[(size_t)ev->cpu * 256 + ev->vector]++;
    r->handled_any[ev->cpu]++;
  }
  if (ev->kind == APIC_EV_MARKER && ev->text)
    for (uint32_t i = 0; i < r->sc->nex; i++) {
      const expect *e = &r->sc->ex[i];
      if (e->kind != EX_ORDER) continue;
      mark *m = !strcmp(ev->text, e->first) ? &r->first[i]
              : !strcmp(ev->text, e->then) ? &r->then[i] : NULL;
      if (!m) continue;
      if (!m->seen) m->first = ev->cycle;
      m->last = ev->cycle;
      m->seen = 1;
    }
}

/* gp_fault b: the #GP came from a stimulus WRMSR, not from the guest */
#define GP_FROM_STIMULUS 1u

/* Records a stimulus entry the core did not take; the run goes on. */
static void note(run *r, const action *a, int gp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(run *r, const action *a, int gp, const char *fmt, ...) {
  apic_scenario_result *res = r->res;
  if (res->nignored++ >= APIC_SCENARIO_MAX_NOTES) return;
  if (!res->notes && !(res->notes = calloc(APIC_SCENARIO_MAX_NOTES, sizeof *res->notes)))
    return;  /* no room for the text: the count still says how many */
  apic_stimulus_note *x = &res->notes[res->nnotes++];
  x->at = a->at;
  x->entry = a->entry;
  x->cpu = a->cpu;
  x->gp = gp;
  int w = snprintf(x->text, sizeof x->text, "stimulus[%u] at cycle %llu: ", a->entry,
                   (unsigned long long)a->at);
  va_list ap;
  va_start(ap, fmt);
  if (w > 0 && (size_t)w < sizeof x->text)
    vsnprintf(x->text + w, sizeof x->text - (size_t)w, fmt, ap);
  va_end(ap);
}

/* Why the APIC raised #GP on a host WRMSR, as far as its mode tells. */
static const char *gp_reason(apic_sim *s, const action *a) {
  apic_lapic_state st;
  apic_lapic_state_get(s, a->cpu, &st);
  if (s->cfg.model == APIC_MODEL_P6 && a->reg != APIC_MSR_APIC_BASE)
    return " (a P6 local APIC has only IA32_APIC_BASE)";
  if (a->reg == APIC_MSR_APIC_BASE)
    return " (reserved bits, or a mode change the SDM forbids: 10.12.5)";
  int x2msr = a->reg >= APIC_MSR_X2APIC_BASE && a->reg <= APIC_MSR_X2APIC_LAST;
  if (!x2msr) return " (not an APIC MSR)";
  if (!st.x2apic)
    return st.apic_base & APIC_BASE_EN ? " (the APIC is in xAPIC mode)"
                                       : " (the APIC is globally disabled)";
  return " (reserved bits, or a read-only or absent register)";
}

static int apply(run *r, const action *a, char *why, size_t n) {
  apic_sim *s = r->s;
  int rc;
  switch (a->kind) {
  case ACT_PIN: rc = apic_ioapic_set_pin(s, a->ioapic, a->pin, (int)a->value); break;
  case ACT_RTE: rc = apic_ioapic_rte_set(s, a->ioapic, a->pin, a->value); break;
  case ACT_WRITE: {
    apic_lapic_state st;  /* before the write: MMIO reaches only an enabled xAPIC */
    if (!(rc = apic_lapic_state_get(s, a->cpu, &st))) {
      const char *name = apic_lapic_reg_name(a->reg);
      if (st.x2apic)
        note(r, a, 0, "write to %s on cpu %u ignored: the APIC is in x2APIC mode, MMIO is "
             "not decoded (SDM 10.12.2); use wrmsr 0x%x", name ? name : "?", a->cpu,
             APIC_MSR_X2APIC(a->reg));
      else if (!(st.apic_base & APIC_BASE_EN))
        note(r, a, 0, "write to %s on cpu %u ignored: the APIC is globally disabled "
             "(IA32_APIC_BASE EN = 0)", name ? name : "?", a->cpu);
      rc = apic_lapic_write(s, a->cpu, a->reg, (uint32_t)a->value);
    }
    break;
  }
  default:
    rc = apic_lapic_wrmsr(s, a->cpu, a->reg, a->value);
    if (rc == APIC_GP) {  /* a guest mistake, not a scenario error: say so, go on */
      if (apic__tracing(s))
        apic__event(s, APIC_EV_GP_FAULT, a->cpu, 0, a->reg, GP_FROM_STIMULUS);
      note(r, a, 1, "wrmsr 0x%x on cpu %u raised #GP%s", a->reg, a->cpu, gp_reason(s, a));
      rc = APIC_OK;
    }
    break;
  }
  if (rc < 0) snprintf(why, n, "stimulus at cycle %llu: %s", (unsigned long long)a->at,
                       apic_sim_errmsg(s));
  return rc < 0 ? rc : APIC_OK;
}

static int all_done(run *r) {
  char msg[8];
  for (uint32_t i = 0; i < r->sc->nprogs; i++) {
    int done = 0;
    r->sc->progs[i].def->check(r->inst[i], &done, msg, sizeof msg);
    if (!done) return 0;
  }
  return 1;
}

/* ---- expectations ---- */

static apic_expect_result *result(apic_scenario_result *res, const expect *e, const char *what) {
  apic_expect_result *x = &res->expect[res->nexpect++];
  memset(x, 0, sizeof *x);
  snprintf(x->what, sizeof x->what, "%.47s: %.140s", e->path, what);
  return x;
}

static void range_text(char *out, size_t n, const expect *e) {
  if (e->has_count) snprintf(out, n, "%llu", (unsigned long long)e->count);
  else if (e->has_min && e->has_max)
    snprintf(out, n, "%llu..%llu", (unsigned long long)e->min, (unsigned long long)e->max);
  else if (e->has_min) snprintf(out, n, "at least %llu", (unsigned long long)e->min);
  else snprintf(out, n, "at most %llu", (unsigned long long)e->max);
}

static int in_range(const expect *e, uint64_t v) {
  if (e->has_count) return v == e->count;
  return (!e->has_min || v >= e->min) && (!e->has_max || v <= e->max);
}

static uint32_t read_reg(apic_sim *s, uint32_t cpu, uint32_t off) {
  apic_lapic_state st;
  apic_lapic_state_get(s, cpu, &st);
  uint64_t v = 0;
  if (st.x2apic) apic_lapic_rdmsr(s, cpu, APIC_MSR_X2APIC(off), &v);
  else { uint32_t w = 0; apic_lapic_read(s, cpu, off, &w); v = w; }
  return (uint32_t)v;
}

static void check_one(run *r, const expect *e, uint32_t idx, apic_scenario_result *res) {
  apic_sim *s = r->s;
  const apic_scenario *sc = r->sc;
  char what[160], exp[160];
  switch (e->kind) {
  case EX_PROGRAMS:
    for (uint32_t i = 0; i < sc->nprogs; i++) {
      const prog_entry *p = &sc->progs[i];
      char msg[192];
      int done = 0;
      unsigned v = p->def->check(r->inst[i], &done, msg, sizeof msg);
      snprintf(what, sizeof what, "%s (%s) correctness check", p->path, p->def->name);
      apic_expect_result *x = result(res, e, what);
      snprintf(x->expected, sizeof x->expected, "no violation%s",
               sc->until_done ? ", all work done" : "");
      if (v)  /* the program's message already counts and names the violation */
        snprintf(x->got, sizeof x->got, "%.170s%s", msg, sc->until_done && !done ? "; not done" : "");
      else
        snprintf(x->got, sizeof x->got, "no violation%s: %.150s",
                 sc->until_done && !done ? ", but not done" : "", msg);
      x->pass = v == 0 && (!sc->until_done || done);
    }
    return;
  case EX_HANDLERS: {
    range_text(exp, sizeof exp, e);
    uint32_t bad_cpu = APIC_NONE;
    uint64_t got = 0;
    for (uint32_t i = 0; i < e->ncpus && bad_cpu == APIC_NONE; i++) {
      uint64_t n = e->vector < 0 ? r->handled_any[e->cpus[i]]
                                 : r->handled[(size_t)e->cpus[i] * 256 + (uint32_t)e->vector];
      if (!in_range(e, n)) { bad_cpu = e->cpus[i]; got = n; }
    }
    if (e->vector >= 0) snprintf(what, sizeof what, "handler runs for vector 0x%02x per core",
                                 e->vector);
    else snprintf(what, sizeof what, "handler runs per core");
    apic_expect_result *x = result(res, e, what);
    snprintf(x->expected, sizeof x->expected, "%s on each of %u cores", exp, e->ncpus);
    if (bad_cpu == APIC_NONE) snprintf(x->got, sizeof x->got, "all in range");
    else snprintf(x->got, sizeof x->got, "cpu %u: %llu", bad_cpu, (unsigned long long)got);
    x->pass = bad_cpu == APIC_NONE;
    return;
  }
  case EX_REGISTER: {
    const char *name = apic_lapic_reg_name(e->reg);
    snprintf(what, sizeof what, "%s & 0x%llx at the end", name ? name : "?",
             (unsigned long long)e->mask);
    apic_expect_result *x = result(res, e, what);
    snprintf(x->expected, sizeof x->expected, "0x%llx on each of %u cores",
             (unsigned long long)(e->value & e->mask), e->ncpus);
    x->pass = 1;
    snprintf(x->got, sizeof x->got, "as expected");
    for (uint32_t i = 0; i < e->ncpus && x->pass; i++) {
      /* a read that gives nothing would pass "value": 0 without a look */
      const char *no = apic__lapic_unreadable(s, &s->cpus[e->cpus[i]].apic, e->reg);
      if (no) {
        x->pass = 0;
        snprintf(x->got, sizeof x->got, "cpu %u: cannot read it: %s", e->cpus[i], no);
        break;
      }
      uint32_t v = read_reg(s, e->cpus[i], e->reg);
      if ((v & e->mask) != (e->value & e->mask)) {
        x->pass = 0;
        snprintf(x->got, sizeof x->got, "cpu %u: 0x%x", e->cpus[i], v & (uint32_t)e->mask);
      }
    }
    return;
  }
  case EX_ORDER: {
    snprintf(what, sizeof what, "every \"%s\" before any \"%s\"", e->first, e->then);
    apic_expect_result *x = result(res, e, what);
    const mark *a = &r->first[idx], *b = &r->then[idx];
    snprintf(x->expected, sizeof x->expected, "last \"%s\" < first \"%s\"", e->first, e->then);
    if (!a->seen || !b->seen)
      snprintf(x->got, sizeof x->got, "marker \"%s\" never seen", !a->seen ? e->first : e->then);
    else
      snprintf(x->got, sizeof x->got, "last \"%s\" at cycle %llu, first \"%s\" at %llu",
               e->first, (unsigned long long)a->last, e->then, (unsigned long long)b->first);
    x->pass = a->seen && b->seen && a->last < b->first;
    return;
  }
  case EX_LATENCY: {
    uint32_t n = e->ncpus ? e->ncpus : 1;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t cpu = e->ncpus ? e->cpus[i] : APIC_NONE;
      apic_lat_summary m;
      apic_latency_summary(r->lat, e->stage ? APIC_LAT_HANDLER : APIC_LAT_IRR, cpu, e->vector, &m);
      int ok = m.count > 0 && (!e->has_lmax || m.max <= e->lmax) &&
               (!e->has_lp99 || m.p99 <= e->lp99) && (!e->has_lmedian || m.median <= e->lmedian);
      if (ok && i + 1 < n) continue;
      char who[64] = "all cores";
      if (cpu != APIC_NONE) snprintf(who, sizeof who, "cpu %u", cpu);
      snprintf(what, sizeof what, "latency to %s (%s%s)", e->stage ? "handler entry" : "IRR set",
               who, e->vector >= 0 ? ", one vector" : "");
      apic_expect_result *x = result(res, e, what);
      char *ep = x->expected;
      size_t left = sizeof x->expected;
      const struct { int has; const char *name; uint64_t v; } b[] = {
        {e->has_lmedian, "median", e->lmedian}, {e->has_lp99, "p99", e->lp99},
        {e->has_lmax, "max", e->lmax}};
      for (size_t k = 0; k < 3; k++) {
        if (!b[k].has) continue;
        int w = snprintf(ep, left, "%s%s <= %llu", ep == x->expected ? "" : ", ", b[k].name,
                         (unsigned long long)b[k].v);
        if (w < 0 || (size_t)w >= left) break;
        ep += w;
        left -= (size_t)w;
      }
      if (!m.count) snprintf(x->got, sizeof x->got, "no deliveries measured");
      else snprintf(x->got, sizeof x->got, "median %llu, p99 %llu, max %llu over %llu",
                    (unsigned long long)m.median, (unsigned long long)m.p99,
                    (unsigned long long)m.max, (unsigned long long)m.count);
      x->pass = ok;
      return;
    }
    return;
  }
  case EX_NO_ESR: {
    apic_expect_result *x = result(res, e, "no ESR error logged");
    snprintf(x->expected, sizeof x->expected, "0 errors");
    snprintf(x->got, sizeof x->got, "%llu", (unsigned long long)res->stats.esr_errors);
    x->pass = res->stats.esr_errors == 0;
    return;
  }
  case EX_NO_LOST: {
    apic_expect_result *x = result(res, e, "no interrupt lost");
    snprintf(x->expected, sizeof x->expected, "nothing dropped, every IRR empty at the end");
    uint32_t pending_cpu = APIC_NONE;
    for (uint32_t i = 0; i < sc->cfg.ncpus && pending_cpu == APIC_NONE; i++) {
      apic_lapic_state st;
      apic_lapic_state_get(s, i, &st);
      for (int k = 0; k < 8; k++)
        if (st.irr[k]) pending_cpu = i;
    }
    if (res->stats.dropped)
      snprintf(x->got, sizeof x->got, "%llu messages dropped", (unsigned long long)res->stats.dropped);
    else if (pending_cpu != APIC_NONE)
      snprintf(x->got, sizeof x->got, "cpu %u still has vectors pending in IRR", pending_cpu);
    else snprintf(x->got, sizeof x->got, "none lost");
    x->pass = !res->stats.dropped && pending_cpu == APIC_NONE;
    return;
  }
  case EX_COALESCED:
  case EX_DELIVERIES: {
    uint64_t v = e->kind == EX_COALESCED ? res->stats.coalesced : res->stats.deliveries;
    apic_expect_result *x = result(res, e, e->kind == EX_COALESCED ? "coalesced deliveries"
                                                                    : "deliveries");
    range_text(x->expected, sizeof x->expected, e);
    snprintf(x->got, sizeof x->got, "%llu", (unsigned long long)v);
    x->pass = in_range(e, v);
    return;
  }
  default:
    return;
  }
}

/* ---- the run ---- */

void apic_scenario_result_free(apic_scenario_result *res) {
  if (!res) return;
  free(res->expect);
  free(res->notes);
  memset(res, 0, sizeof *res);
}

int apic_scenario_run(apic_scenario *sc, const apic_scenario_opts *opts,
                      apic_scenario_result *res, char *why, size_t why_size) {
  char scratch[8];
  if (!why_size) { why = scratch; why_size = sizeof scratch; }
  why[0] = 0;
  if (!sc || !res) { snprintf(why, why_size, "scenario and result must not be NULL"); return APIC_E_ARG; }
  memset(res, 0, sizeof *res);
  apic_scenario_opts o = {0};
  if (opts) o = *opts;
  apic_config cfg = sc->cfg;
  if (o.seed_set) cfg.seed = o.seed;
  uint64_t end = o.cycles_set ? o.cycles : sc->cycles;
  if (o.cycles_set && (o.cycles == 0 || o.cycles > APIC_CYCLE_MAX)) {
    snprintf(why, why_size, "opts.cycles = %llu: must be 1..%llu (APIC_CYCLE_MAX, the last "
             "cycle the clock reaches)", (unsigned long long)o.cycles,
             (unsigned long long)APIC_CYCLE_MAX);
    return o.cycles ? APIC_E_TIME : APIC_E_ARG;
  }
  run r = {sc, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, res};
  apic_trace_writer *tw = NULL;
  int rc = apic_sim_create(&r.s, &cfg, why, why_size);
  uint32_t n = cfg.ncpus, nres = 0;
  for (uint32_t i = 0; i < sc->nex; i++) nres += sc->ex[i].kind == EX_PROGRAMS ? sc->nprogs : 1;
  if (!rc) {
    r.lat = apic_latency_new(n);
    r.handled = calloc((size_t)n * 256, sizeof *r.handled);
    r.handled_any = calloc(n, sizeof *r.handled_any);
    r.first = calloc(sc->nex + 1, sizeof *r.first);
    r.then = calloc(sc->nex + 1, sizeof *r.then);
    r.inst = calloc(sc->nprogs + 1, sizeof *r.inst);
    res->expect = calloc(nres + 1, sizeof *res->expect);
    if (!r.lat || !r.handled || !r.handled_any || !r.first || !r.then || !r.inst ||
        !res->expect) {
      snprintf(why, why_size, "out of memory");
      rc = APIC_E_NOMEM;
    }
  }
  for (uint32_t i = 0; !rc && sc->logical_ids && i < n; i++) {  /* as firmware would */
    rc = apic_lapic_write(r.s, i, APIC_REG_DFR, sc->dfr_cluster ? APIC_DFR_CLUSTER : APIC_DFR_FLAT);
    if (!rc) rc = apic_lapic_write(r.s, i, APIC_REG_LDR, sc->logical_ids[i] << APIC_ICR_DEST_SHIFT);
    if (rc) snprintf(why, why_size, "logical IDs: %s", apic_sim_errmsg(r.s));
  }
  if (!rc && o.trace_path) {
    apic_trace_opts to = {0, -1, sc->name, 0};
    rc = apic_trace_writer_open(&tw, r.s, o.trace_path, &to, why, why_size);
  }
  if (!rc && (rc = apic_sim_add_hook(r.s, hook, NULL, &r)))
    snprintf(why, why_size, "%s", apic_sim_errmsg(r.s));
  uint8_t *claimed = rc ? NULL : calloc(n, 1);
  if (!rc && !claimed) { snprintf(why, why_size, "out of memory"); rc = APIC_E_NOMEM; }
  for (uint32_t i = 0; !rc && i < sc->nprogs; i++) {
    const prog_entry *p = &sc->progs[i];
    char w[256];
    apic__sim_install_tag(r.s, i + 1);
    rc = p->def->install(r.s, p->cpus, p->ncpus, &p->args, &r.inst[i], w, sizeof w);
    apic__sim_install_tag(r.s, 0);
    if (rc) snprintf(why, why_size, "%s (%s): %s", p->path, p->def->name, w);
    for (uint32_t k = 0; k < p->ncpus; k++) claimed[p->cpus[k]] = 1;
  }
  for (uint32_t i = 0; !rc && i < n; i++)  /* free cores idle, as a kernel's would */
    if (!claimed[i] && (rc = apic__prog_start_idle(r.s, i)))
      snprintf(why, why_size, "idle on cpu %u: %s", i, apic_sim_errmsg(r.s));
  free(claimed);
  size_t ai = 0;
  int status = APIC_RUN_LIMIT, stopped_done = 0;
  while (!rc) {
    uint64_t now = apic_sim_now(r.s);
    while (ai < sc->nacts && sc->acts[ai].at <= now && !rc) rc = apply(&r, &sc->acts[ai++], why, why_size);
    if (rc) break;
    /* before the limit: work that finished in the last slice is why it stops */
    if (sc->until_done && all_done(&r)) { stopped_done = 1; break; }
    if (now >= end) break;
    uint64_t target = end - now > SLICE ? now + SLICE : end;
    /* idle until the next event: skip to it, slices would only count the gap */
    uint64_t next = apic_sim_next_event(r.s);
    if (next > target) target = next < end ? next : end;
    if (ai < sc->nacts && sc->acts[ai].at < target) target = sc->acts[ai].at;
    status = apic_sim_run(r.s, target);
    if (status < 0) {
      rc = status;
      snprintf(why, why_size, "run: %s", apic_sim_errmsg(r.s));
      break;
    }
    if (o.progress) o.progress(o.progress_ud, apic_sim_now(r.s), end);
  }
  if (tw) {
    int trc = apic_trace_writer_close(tw);
    if (!rc && trc) {
      rc = trc;
      snprintf(why, why_size, "writing the trace %s failed", o.trace_path);
    }
  }
  if (!rc) {
    res->run_status = status;
    res->all_done = stopped_done;
    if (ai < sc->nacts) {  /* timed after the end, or after the work was done */
      res->nskipped = sc->nacts - ai;
      res->skipped_entry = sc->acts[ai].entry;
      res->skipped_at = sc->acts[ai].at;
    }
    res->end_cycle = apic_sim_now(r.s);
    res->last_event = r.last;
    apic_sim_stats(r.s, &res->stats);
    res->messages = res->stats.messages;
    apic_latency_summary(r.lat, APIC_LAT_IRR, APIC_NONE, -1, &res->irr);
    apic_latency_summary(r.lat, APIC_LAT_HANDLER, APIC_NONE, -1, &res->handler);
    if (cfg.bus == APIC_BUS_P6 && res->last_event)  /* over the time something happened */
      res->bus_busy = (double)(apic_latency_bus_busy(r.lat) * cfg.timing.p6_clock_div) /
                      (double)res->last_event;
    for (uint32_t i = 0; i < sc->nex; i++) check_one(&r, &sc->ex[i], i, res);
    for (uint32_t i = 0; i < res->nexpect; i++) res->failed += !res->expect[i].pass;
  }
  for (uint32_t i = 0; i < sc->nprogs && r.inst; i++)  /* before the sim: they hold hooks */
    if (r.inst[i]) sc->progs[i].def->destroy(r.inst[i]);
  apic_sim_destroy(r.s);
  apic_latency_free(r.lat);
  free(r.handled);
  free(r.handled_any);
  free(r.first);
  free(r.then);
  free(r.inst);
  if (rc) apic_scenario_result_free(res);
  return rc;
}
