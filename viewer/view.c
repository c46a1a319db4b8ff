/*
 * view.c - the view state of apicview and how input changes it: the visible
 * cycle window, playhead, selection, markers, filters, search, and the
 * layout that both drawing and input use. Pure logic: no drawing, no
 * window; the tests drive it with pushed SDL events.
 *
 * Invariants: first <= t0 < t1 <= last + 1 and t1 - t0 >= MIN_SPAN (or the
 * whole trace if it is shorter); the playhead stays in [first, last]; the
 * selected core is a valid index. Every change goes through set_window()
 * or select_event(), which keep them.
 *
 * Layout, top to bottom: a title line, the time axis (cycles, then ns),
 * the core lanes (one row per visible core, or a density block when a row
 * would be under MIN_LANE_H pixels), the interconnect lane, one row per used
 * I/O APIC pin, the minimap of the whole trace, and the status line. The
 * lane labels are left of timeline_x; the selected core's panel is right of
 * panel_x. In density mode lane_h is 0 and the block [lanes_y, bus_y - GAP)
 * holds all visible cores, pixel row r showing visible cores
 * [r * n / H, (r + 1) * n / H).
 *
 * vw_view.cpu_hidden is allocated by vw_view_init and released with free().
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "viewer.h"

#define TITLE_H 14
#define AXIS_H 26
#define STATUS_H 14
#define GAP 4
#define LABEL_W 64
#define PANEL_W 212
#define MINIMAP_H 40
#define BUS_H 28
#define PIN_H 12
#define MAX_LANE_H 24
#define MIN_LANE_H 3
#define MIN_SPAN 8u          /* narrowest window, cycles */
#define CLICK_SLOP 3         /* pixels a press may move and still be a click */
#define PICK_PX 5            /* hover/click reach, pixels */

/* ---- helpers on the trace ---- */

static uint32_t ncpus_of(const vw_model *m) {
  return m ? vw_model_info(m)->config.ncpus : 0;
}

static uint64_t first_of(const vw_model *m) { return m ? vw_model_info(m)->first_cycle : 0; }

/* One past the last cycle: the end of a "fit all" window. */
static uint64_t end_of(const vw_model *m) {
  if (!m) return 1;
  const apic_trace_info *in = vw_model_info(m);
  return in->last_cycle >= in->first_cycle ? in->last_cycle + 1 : in->first_cycle + 1;
}

static int hidden(const vw_view *v, uint32_t cpu) { return v->cpu_hidden && v->cpu_hidden[cpu]; }

static uint32_t visible_count(const vw_view *v, const vw_model *m) {
  uint32_t n = ncpus_of(m), k = 0;
  for (uint32_t i = 0; i < n; i++) k += !hidden(v, i);
  return k;
}

/* The core shown in visible row `row`, or APIC_NONE. */
static uint32_t core_of_row(const vw_view *v, const vw_model *m, uint32_t row) {
  uint32_t n = ncpus_of(m);
  for (uint32_t i = 0; i < n; i++)
    if (!hidden(v, i) && row-- == 0) return i;
  return APIC_NONE;
}

/* ---- layout and coordinates ---- */

void vw_layout_get(const vw_view *v, const vw_model *m, vw_layout *l) {
  memset(l, 0, sizeof *l);
  int w = v->w > 0 ? v->w : 1, h = v->h > 0 ? v->h : 1;
  l->panel_w = w >= 720 ? PANEL_W : 0;
  l->panel_x = w - l->panel_w;
  l->timeline_x = w >= 320 ? LABEL_W : 32;
  l->timeline_w = l->panel_x - l->timeline_x - GAP;
  if (l->timeline_w < 1) l->timeline_w = 1;
  l->lanes_y = TITLE_H + AXIS_H + 2;
  l->minimap_h = h >= 400 ? MINIMAP_H : 16;
  l->minimap_y = h - STATUS_H - GAP - l->minimap_h;
  int bottom = l->minimap_y - GAP;            /* end of the track area */
  int avail = bottom - l->lanes_y;
  if (avail < 0) avail = 0;
  l->bus_h = avail >= 200 ? BUS_H : avail >= 60 ? 12 : 0;
  uint32_t npins = m ? vw_model_pins(m, 0, NULL, NULL) : 0;
  l->pin_h = PIN_H;
  int pin_room = avail / 4;
  if ((int64_t)npins * l->pin_h > pin_room) {
    l->pin_h = npins ? pin_room / (int)(npins > (uint32_t)pin_room ? (uint32_t)pin_room : npins) : 0;
    if (l->pin_h < 2) l->pin_h = 2;
  }
  int max_pins = l->pin_h ? pin_room / l->pin_h : 0;
  l->npins = (int)(npins < (uint32_t)max_pins ? npins : (uint32_t)max_pins);
  int lanes_room = avail - l->bus_h - GAP - (l->npins ? l->npins * l->pin_h + GAP : 0);
  if (lanes_room < 0) lanes_room = 0;
  uint32_t nvis = visible_count(v, m);
  l->nlanes = (int)nvis;
  int block;
  if (nvis == 0) {
    l->lane_h = MAX_LANE_H;
    block = 0;
  } else if ((uint64_t)lanes_room / nvis >= MIN_LANE_H) {
    uint32_t lh = (uint32_t)lanes_room / nvis;
    l->lane_h = lh > MAX_LANE_H ? MAX_LANE_H : (int)lh;
    block = l->lane_h * (int)nvis;
  } else {
    l->density = 1;
    l->lane_h = 0;
    block = lanes_room;
  }
  l->bus_y = l->lanes_y + block + GAP;
  l->pins_y = l->bus_y + l->bus_h + GAP;
}

uint64_t vw_x_to_cycle(const vw_view *v, const vw_layout *l, int x) {
  if (x <= l->timeline_x) return v->t0;
  if (x >= l->timeline_x + l->timeline_w) return v->t1;
  double c = (double)(x - l->timeline_x) * (double)(v->t1 - v->t0) / l->timeline_w;
  return v->t0 + (uint64_t)(c + 0.5);
}

int vw_cycle_to_x(const vw_view *v, const vw_layout *l, uint64_t cycle) {
  double span = (double)(v->t1 - v->t0);
  double d = cycle >= v->t0 ? (double)(cycle - v->t0) : -(double)(v->t0 - cycle);
  double x = l->timeline_x + d * l->timeline_w / (span > 0 ? span : 1);
  /* far-away cycles stay far away without overflowing an int */
  if (x < -1e6) return -1000000;
  if (x > 1e6) return 1000000;
  return (int)floor(x);
}

/* ---- window ---- */

static void set_window(vw_view *v, const vw_model *m, double t0, double span) {
  double lo = (double)first_of(m), hi = (double)end_of(m);
  if (span > hi - lo) span = hi - lo;
  if (span < MIN_SPAN) span = MIN_SPAN;
  if (t0 + span > hi) t0 = hi - span;
  if (t0 < lo) t0 = lo;
  v->t0 = (uint64_t)(t0 + 0.5);
  v->t1 = v->t0 + (uint64_t)(span + 0.5);
  if (v->t1 <= v->t0) v->t1 = v->t0 + 1;
}

static void fit_all(vw_view *v, const vw_model *m) {
  uint64_t lo = first_of(m), hi = end_of(m);
  v->t0 = lo;
  v->t1 = hi > lo ? hi : lo + 1;
}

/* Zooms by factor (0.5 = in) keeping the cycle under pixel x in place. */
static void zoom_at(vw_view *v, const vw_model *m, int x, double factor) {
  vw_layout l;
  vw_layout_get(v, m, &l);
  if (x < l.timeline_x || x >= l.timeline_x + l.timeline_w) x = l.timeline_x + l.timeline_w / 2;
  double frac = (double)(x - l.timeline_x) / l.timeline_w;
  double span = (double)(v->t1 - v->t0);
  double anchor = (double)v->t0 + frac * span;
  double ns = span * factor;
  if (ns < MIN_SPAN) ns = MIN_SPAN;
  set_window(v, m, anchor - frac * ns, ns);
}

static void pan(vw_view *v, const vw_model *m, double cycles) {
  set_window(v, m, (double)v->t0 + cycles, (double)(v->t1 - v->t0));
}

/* Moves the window (same width) so that cycle is visible, centred if it was not. */
static void show_cycle(vw_view *v, const vw_model *m, uint64_t c) {
  if (c >= v->t0 && c < v->t1) return;
  double span = (double)(v->t1 - v->t0);
  set_window(v, m, (double)c - span / 2, span);
}

/* ---- selection ---- */

static void describe(char *out, size_t n, const apic_event *e) {
  int k = snprintf(out, n, "%s @%llu", apic_event_name(e->kind), (unsigned long long)e->cycle);
  if (k < 0 || (size_t)k >= n) return;
  if (e->cpu != APIC_NONE) k += snprintf(out + k, n - (size_t)k, " cpu %u", e->cpu);
  if ((size_t)k < n && e->vector) k += snprintf(out + k, n - (size_t)k, " vector 0x%02x", e->vector);
  if ((size_t)k < n && e->msg) snprintf(out + k, n - (size_t)k, " msg %llu", (unsigned long long)e->msg);
}

static void select_event(vw_view *v, const vw_model *m, const apic_event *e) {
  v->has_sel_event = 1;
  v->sel_event = *e;
  v->sel_event.text = NULL;   /* only valid during the model's call */
  v->playhead = e->cycle;
  if (e->cpu < ncpus_of(m)) v->selected = e->cpu;
  show_cycle(v, m, e->cycle);
  char d[120];
  describe(d, sizeof d, e);
  snprintf(v->status, sizeof v->status, "selected %s", d);
}

static void set_playhead(vw_view *v, const vw_model *m, uint64_t c) {
  uint64_t lo = first_of(m), hi = end_of(m) - 1;
  v->playhead = c < lo ? lo : c > hi ? hi : c;
}

/* Next (or previous) event matching f from the playhead, skipping hidden cores. */
static int step_event(vw_view *v, vw_model *m, int forward, const vw_filter *f) {
  apic_event e;
  uint64_t at = v->playhead;
  for (int guard = 0; guard < 100000; guard++) {
    if (!vw_model_find(m, at, forward, f, &e)) return 0;
    if (e.cpu == APIC_NONE || e.cpu >= ncpus_of(m) || !hidden(v, e.cpu)) {
      select_event(v, m, &e);
      return 1;
    }
    at = e.cycle;
  }
  return 0;
}

/* ---- search: an event kind name or a vector ---- */

static int parse_u64(const char *s, uint64_t *out) {
  while (isspace((unsigned char)*s)) s++;
  if (!*s) return -1;
  char *end;
  int hex = 0;
  for (const char *p = s; *p; p++)
    if (isxdigit((unsigned char)*p) && !isdigit((unsigned char)*p))
      hex = 1;
  int base = hex || !strncmp(s, "0x", 2) || !strncmp(s, "0X", 2) ? 16 : 10;  /* never octal */
  unsigned long long x = strtoull(s, &end, base);
  while (isspace((unsigned char)*end)) end++;
  if (*end || *s == '-') return -1;
  *out = x;
  return 0;
}

/* Turns search text into a filter; 0 on success, -1 if it means nothing. */
static int parse_search(const char *text, vw_filter *f) {
  f->cpu = APIC_NONE;
  f->vector = -1;
  f->kind = -1;
  while (isspace((unsigned char)*text)) text++;
  if (!*text) return -1;
  for (uint32_t k = 0; k < APIC_EV__COUNT; k++)
    if (!strcmp(text, apic_event_name(k))) {
      f->kind = (int)k;
      return 0;
    }
  size_t n = strlen(text);
  for (uint32_t k = 0; k < APIC_EV__COUNT; k++)   /* a unique-enough prefix */
    if (!strncmp(text, apic_event_name(k), n)) {
      f->kind = (int)k;
      return 0;
    }
  uint64_t x;
  if (parse_u64(text, &x) == 0 && x < 256) {
    f->vector = (int)x;
    return 0;
  }
  return -1;
}

static void run_search(vw_view *v, vw_model *m, int forward) {
  vw_filter f;
  if (parse_search(v->search, &f)) {
    snprintf(v->status, sizeof v->status,
             "'%s' is neither an event kind (e.g. handler_enter) nor a vector (0..255)", v->search);
    return;
  }
  if (f.vector >= 0) v->vector_filter = f.vector;
  if (!step_event(v, m, forward, &f))
    snprintf(v->status, sizeof v->status, "no %s match for '%s' %s cycle %llu",
             forward ? "later" : "earlier", v->search, forward ? "after" : "before",
             (unsigned long long)v->playhead);
}

static void run_goto(vw_view *v, vw_model *m) {
  uint64_t c;
  if (parse_u64(v->search, &c)) {
    snprintf(v->status, sizeof v->status, "'%s' is not a cycle number", v->search);
    return;
  }
  set_playhead(v, m, c);
  show_cycle(v, m, v->playhead);
  snprintf(v->status, sizeof v->status, "playhead at cycle %llu", (unsigned long long)v->playhead);
}

/* ---- flows: the arrows of the selected event's message ---- */

/* Does arrow a start (from end) at event e? */
static int starts_at(const vw_arrow *a, const apic_event *e) {
  if (a->from_cycle != e->cycle) return 0;
  if (e->cpu != APIC_NONE) return a->from_lane == e->cpu;
  return e->msg && a->msg == e->msg;
}

static int ends_at(const vw_arrow *a, const apic_event *e) {
  return a->to_cycle == e->cycle && e->cpu != APIC_NONE && a->to_lane == e->cpu;
}

/*
 * Jumps to the other end of the selected event's arrow: forward from a
 * sender goes to the earliest receiver end, from a receiver's IRR set to its
 * handler entry; backward goes to the sender. Looks in wider and wider
 * windows around the event until the model has the arrows.
 */
static int follow_flow(vw_view *v, vw_model *m, int forward) {
  if (!v->has_sel_event) {
    snprintf(v->status, sizeof v->status, "select an event first (click, or . and ,)");
    return 1;
  }
  const apic_event *e = &v->sel_event;
  vw_layout l;
  vw_layout_get(v, m, &l);
  uint64_t span = v->t1 - v->t0, lo = first_of(m), hi = end_of(m);
  for (int tries = 0; tries < 4; tries++, span *= 16) {
    uint64_t from = e->cycle > lo + span ? e->cycle - span : lo;
    uint64_t to = e->cycle + span < hi ? e->cycle + span : hi;
    const vw_frame *f = vw_model_query(m, from, to, (uint32_t)l.timeline_w);
    if (!f || f->from_overview) break;
    /* the message: the event's own id, or that of an arrow touching it */
    uint64_t msg = e->msg;
    for (uint32_t i = 0; !msg && i < f->narrows; i++)
      if (starts_at(&f->arrows[i], e) || ends_at(&f->arrows[i], e)) msg = f->arrows[i].msg;
    const vw_arrow *best = NULL;
    for (uint32_t i = 0; i < f->narrows; i++) {
      const vw_arrow *a = &f->arrows[i];
      int mine = (msg && a->msg == msg) || starts_at(a, e) || ends_at(a, e);
      if (!mine) continue;
      int receiver = e->cpu != APIC_NONE && a->to_lane == e->cpu && a->to_cycle <= e->cycle;
      if (forward) {
        if (a->to_cycle < e->cycle || ends_at(a, e)) continue;
        if (receiver || (e->cpu != APIC_NONE && a->to_lane != e->cpu && !starts_at(a, e) &&
                         e->cycle > a->from_cycle))
          continue;
        if (!best || a->to_cycle < best->to_cycle) best = a;
      } else {
        if (a->from_cycle > e->cycle || starts_at(a, e)) continue;
        if (!best || a->from_cycle > best->from_cycle) best = a;
      }
    }
    if (best) {
      uint32_t lane = forward ? best->to_lane : best->from_lane;
      uint64_t c = forward ? best->to_cycle : best->from_cycle;
      apic_event t;
      if (vw_model_pick(m, lane, c, 0, &t)) {
        select_event(v, m, &t);
      } else {
        set_playhead(v, m, c);
        show_cycle(v, m, c);
        if (lane < ncpus_of(m)) v->selected = lane;
        snprintf(v->status, sizeof v->status, "flow end at cycle %llu", (unsigned long long)c);
      }
      return 1;
    }
    if (from == lo && to == hi) break;
  }
  snprintf(v->status, sizeof v->status, "no %s arrow from the selected event",
           forward ? "outgoing" : "incoming");
  return 1;
}

/* F: the two markers, or the selected event's message, or the event itself. */
static void fit_selection(vw_view *v, vw_model *m) {
  if (v->nmarkers == 2) {
    uint64_t a = v->markers[0], b = v->markers[1];
    if (a > b) { uint64_t t = a; a = b; b = t; }
    double span = (double)(b - a) * 1.1 + 1;
    set_window(v, m, (double)a - (double)(b - a) * 0.05, span);
    return;
  }
  if (!v->has_sel_event) {
    fit_all(v, m);
    return;
  }
  const apic_event *e = &v->sel_event;
  uint64_t a = e->cycle, b = e->cycle;
  vw_layout l;
  vw_layout_get(v, m, &l);
  uint64_t lo = first_of(m), reach = 1u << 16;
  const vw_frame *f = vw_model_query(m, e->cycle > lo + reach ? e->cycle - reach : lo,
                                     e->cycle + reach, (uint32_t)l.timeline_w);
  uint64_t msg = e->msg;
  for (uint32_t i = 0; f && !msg && i < f->narrows; i++)
    if (starts_at(&f->arrows[i], e) || ends_at(&f->arrows[i], e)) msg = f->arrows[i].msg;
  for (uint32_t i = 0; f && msg && i < f->narrows; i++) {
    const vw_arrow *r = &f->arrows[i];
    if (r->msg != msg) continue;
    if (r->from_cycle < a) a = r->from_cycle;
    if (r->to_cycle > b) b = r->to_cycle;
  }
  double w = (double)(b - a);
  if (w < 128) w = 128;
  set_window(v, m, (double)a - w * 0.1 - (w - (double)(b - a)) / 2, w * 1.2);
}

static void drop_marker(vw_view *v, const vw_model *m) {
  vw_layout l;
  vw_layout_get(v, m, &l);
  uint64_t c = v->playhead;
  if (v->mouse_x >= l.timeline_x && v->mouse_x < l.timeline_x + l.timeline_w &&
      v->mouse_y >= l.lanes_y && v->mouse_y < l.minimap_y)
    c = vw_x_to_cycle(v, &l, v->mouse_x);
  if (v->nmarkers == 2) {
    v->markers[0] = v->markers[1];
    v->nmarkers = 1;
  }
  v->markers[v->nmarkers++] = c;
  if (v->nmarkers == 2) {
    uint64_t d = v->markers[1] > v->markers[0] ? v->markers[1] - v->markers[0]
                                              : v->markers[0] - v->markers[1];
    double ghz = vw_model_info(m)->config.freq_ghz;
    snprintf(v->status, sizeof v->status, "markers %llu cycles apart (%.1f ns)",
             (unsigned long long)d, ghz > 0 ? (double)d / ghz : 0.0);
  } else {
    snprintf(v->status, sizeof v->status, "marker at cycle %llu", (unsigned long long)c);
  }
}

/* V: the next vector (or the previous one) present in the trace, then all. */
static void cycle_vector(vw_view *v, vw_model *m, int forward) {
  vw_stats st;
  uint8_t present[256] = {0};
  int any = 0;
  if (vw_model_stats(m, first_of(m), end_of(m), &st) == 0) {
    for (uint32_t i = 0; i < st.nvec; i++) present[st.vec[i].vector] = 1, any = 1;
    vw_stats_free(&st);
  }
  if (!any) {
    v->vector_filter = -1;
    snprintf(v->status, sizeof v->status, "no delivered vectors in the trace");
    return;
  }
  int x = v->vector_filter;
  for (int i = 0; i < 257; i++) {
    x = forward ? (x >= 255 ? -1 : x + 1) : (x < 0 ? 255 : x - 1);
    if (x < 0 || present[x]) break;
  }
  v->vector_filter = x;
  if (x < 0)
    snprintf(v->status, sizeof v->status, "all vectors");
  else
    snprintf(v->status, sizeof v->status, "vector 0x%02x only (V next, Shift+V previous)", x);
}

static void select_core(vw_view *v, const vw_model *m, int dir) {
  uint32_t n = ncpus_of(m);
  if (!n) return;
  uint32_t c = v->selected;
  for (uint32_t i = 0; i < n; i++) {
    c = dir > 0 ? (c + 1) % n : (c + n - 1) % n;
    if (!hidden(v, c)) break;
  }
  v->selected = c;
  snprintf(v->status, sizeof v->status, "cpu %u", c);
}

/* ---- the lane under a point ---- */

/* The lane id (core, VW_LANE_BUS or VW_LANE_PIN) at y, or APIC_NONE. */
static uint32_t lane_at(const vw_view *v, const vw_model *m, const vw_layout *l, int y) {
  if (y < l->lanes_y) return APIC_NONE;
  if (l->nlanes > 0 && !l->density && y < l->lanes_y + l->lane_h * l->nlanes)
    return core_of_row(v, m, (uint32_t)((y - l->lanes_y) / l->lane_h));
  if (l->density && y < l->bus_y - GAP) {
    int block = l->bus_y - GAP - l->lanes_y;
    return core_of_row(v, m, (uint32_t)((int64_t)(y - l->lanes_y) * l->nlanes / block));
  }
  if (y >= l->bus_y && y < l->bus_y + l->bus_h) return VW_LANE_BUS;
  if (y >= l->pins_y && y < l->pins_y + l->npins * l->pin_h && l->pin_h > 0) {
    uint32_t io = 0, pin = 0;
    vw_model_pins(m, (uint32_t)((y - l->pins_y) / l->pin_h), &io, &pin);
    return VW_LANE_PIN(io, pin);
  }
  return APIC_NONE;
}

static int in_timeline(const vw_layout *l, int x) {
  return x >= l->timeline_x && x < l->timeline_x + l->timeline_w;
}

static uint64_t minimap_cycle(const vw_model *m, const vw_layout *l, int x) {
  uint64_t lo = first_of(m), hi = end_of(m);
  if (x < l->timeline_x) x = l->timeline_x;
  if (x > l->timeline_x + l->timeline_w) x = l->timeline_x + l->timeline_w;
  return lo + (uint64_t)((double)(x - l->timeline_x) * (double)(hi - lo) / l->timeline_w);
}

static void minimap_jump(vw_view *v, const vw_model *m, const vw_layout *l, int x) {
  double span = (double)(v->t1 - v->t0);
  set_window(v, m, (double)minimap_cycle(m, l, x) - span / 2, span);
}

static int click(vw_view *v, vw_model *m, int x, int y) {
  vw_layout l;
  vw_layout_get(v, m, &l);
  if (!in_timeline(&l, x)) return 0;
  uint64_t c = vw_x_to_cycle(v, &l, x);
  uint32_t lane = lane_at(v, m, &l, y);
  if (lane == APIC_NONE) {    /* the axis: move the playhead */
    set_playhead(v, m, c);
    return 1;
  }
  if (lane < ncpus_of(m)) v->selected = lane;
  uint64_t slack = (uint64_t)((double)(v->t1 - v->t0) * PICK_PX / l.timeline_w) + 1;
  apic_event e;
  if (vw_model_pick(m, lane, c, slack, &e)) {
    select_event(v, m, &e);
  } else {
    v->has_sel_event = 0;
    set_playhead(v, m, c);
    v->status[0] = 0;
  }
  return 1;
}

static int hover(vw_view *v, vw_model *m, int x, int y) {
  vw_layout l;
  vw_layout_get(v, m, &l);
  if (!in_timeline(&l, x)) return 0;
  uint32_t lane = lane_at(v, m, &l, y);
  if (lane == APIC_NONE) return 0;
  uint64_t c = vw_x_to_cycle(v, &l, x);
  uint64_t slack = (uint64_t)((double)(v->t1 - v->t0) * PICK_PX / l.timeline_w) + 1;
  apic_event e;
  char old[sizeof v->status];
  memcpy(old, v->status, sizeof old);
  if (vw_model_pick(m, lane, c, slack, &e)) {
    char d[120];
    describe(d, sizeof d, &e);
    snprintf(v->status, sizeof v->status, "%s (click for details)", d);
  } else {
    snprintf(v->status, sizeof v->status, "cycle %llu", (unsigned long long)c);
  }
  return strcmp(old, v->status) != 0;
}

/* ---- the public calls ---- */

void vw_view_init(vw_view *v, const vw_model *m, int w, int h) {
  memset(v, 0, sizeof *v);
  v->w = w;
  v->h = h;
  v->vector_filter = -1;
  v->mouse_x = v->mouse_y = -1;
  uint32_t n = ncpus_of(m);
  v->cpu_hidden = n ? calloc(n, 1) : NULL;
  fit_all(v, m);
  v->playhead = first_of(m);
  v->speed = (double)(v->t1 - v->t0) / 10.0;   /* the whole trace in 10 s */
  if (v->speed < 1) v->speed = 1;
  snprintf(v->status, sizeof v->status, "press ? for the keys");
}

static int key(vw_view *v, vw_model *m, const SDL_KeyboardEvent *k) {
  SDL_Keycode sym = k->keysym.sym;
  int shift = (k->keysym.mod & KMOD_SHIFT) != 0;
  if (k->keysym.mod & (KMOD_CTRL | KMOD_ALT | KMOD_GUI)) return 0;
  double span = (double)(v->t1 - v->t0);
  if (v->searching) {
    size_t n = strlen(v->search);
    switch (sym) {
      case SDLK_ESCAPE: v->searching = 0; v->search[0] = 0; v->status[0] = 0; return 1;
      case SDLK_BACKSPACE: if (n) v->search[n - 1] = 0; return 1;
      case SDLK_RETURN: case SDLK_KP_ENTER: {
        int mode = v->searching;
        v->searching = 0;
        if (mode == 2) run_goto(v, m); else run_search(v, m, 1);
        return 1;
      }
      default: return 0;    /* letters arrive as SDL_TEXTINPUT */
    }
  }
  switch (sym) {
    case SDLK_w: zoom_at(v, m, v->mouse_x, 0.5); return 1;
    case SDLK_s: zoom_at(v, m, v->mouse_x, 2.0); return 1;
    case SDLK_a: pan(v, m, -span / 4); return 1;
    case SDLK_d: pan(v, m, span / 4); return 1;
    case SDLK_HOME: case SDLK_0: case SDLK_KP_0: fit_all(v, m); return 1;
    case SDLK_f: fit_selection(v, m); return 1;
    case SDLK_PERIOD: case SDLK_RIGHT: case SDLK_COMMA: case SDLK_LEFT: {
      int fwd = sym == SDLK_PERIOD || sym == SDLK_RIGHT;
      vw_filter f = {APIC_NONE, v->vector_filter, -1};
      if (!step_event(v, m, fwd, &f))
        snprintf(v->status, sizeof v->status, "no %s event", fwd ? "later" : "earlier");
      return 1;
    }
    case SDLK_RIGHTBRACKET: return follow_flow(v, m, 1);
    case SDLK_LEFTBRACKET: return follow_flow(v, m, 0);
    case SDLK_SLASH:
      if (shift) { v->show_help = !v->show_help; return 1; }
      v->searching = 1;
      v->search[0] = 0;
      return 1;
    case SDLK_QUESTION: case SDLK_F1: v->show_help = !v->show_help; return 1;
    case SDLK_g: v->searching = 2; v->search[0] = 0; return 1;
    case SDLK_n: case SDLK_RETURN: case SDLK_KP_ENTER:
      if (!v->search[0]) {
        snprintf(v->status, sizeof v->status, "nothing searched yet: / then a kind or vector");
        return 1;
      }
      run_search(v, m, !shift);
      return 1;
    case SDLK_m:
      if (shift) { v->nmarkers = 0; v->status[0] = 0; return 1; }
      drop_marker(v, m);
      return 1;
    case SDLK_ESCAPE:
      if (v->show_help) v->show_help = 0;
      else if (v->has_sel_event) v->has_sel_event = 0;
      else v->nmarkers = 0;
      v->status[0] = 0;
      return 1;
    case SDLK_t: v->show_stats = !v->show_stats; return 1;
    case SDLK_c: {
      uint32_t n = ncpus_of(m);
      if (!v->cpu_hidden || !n) return 0;
      if (shift) {
        memset(v->cpu_hidden, 0, n);
        snprintf(v->status, sizeof v->status, "all %u cores shown", n);
        return 1;
      }
      if (visible_count(v, m) <= 1) {
        snprintf(v->status, sizeof v->status, "the last visible core stays (Shift+C shows all)");
        return 1;
      }
      uint32_t c = v->selected;
      v->cpu_hidden[c] = 1;
      select_core(v, m, 1);
      snprintf(v->status, sizeof v->status, "cpu %u hidden (Shift+C shows all)", c);
      return 1;
    }
    case SDLK_v: cycle_vector(v, m, !shift); return 1;
    case SDLK_SPACE:
      v->playing = !v->playing;
      if (v->playing && v->playhead + 1 >= end_of(m)) v->playhead = first_of(m);
      snprintf(v->status, sizeof v->status, v->playing ? "playing" : "paused");
      return 1;
    case SDLK_PLUS: case SDLK_EQUALS: case SDLK_KP_PLUS:
      if (v->speed < 1e15) v->speed *= 2;
      snprintf(v->status, sizeof v->status, "speed %.0f cycles/s", v->speed);
      return 1;
    case SDLK_MINUS: case SDLK_KP_MINUS:
      if (v->speed > 1) v->speed /= 2;
      snprintf(v->status, sizeof v->status, "speed %.0f cycles/s", v->speed);
      return 1;
    case SDLK_UP: select_core(v, m, -1); return 1;
    case SDLK_DOWN: select_core(v, m, 1); return 1;
    default: return 0;
  }
}

int vw_view_event(vw_view *v, vw_model *m, const SDL_Event *e) {
  if (!v || !e) return 0;
  if (!m) {                 /* nothing to view: only the size matters */
    if (e->type == SDL_WINDOWEVENT && e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
      v->w = e->window.data1;
      v->h = e->window.data2;
      return 1;
    }
    return 0;
  }
  vw_layout l;
  switch (e->type) {
    case SDL_KEYDOWN: return key(v, m, &e->key);
    case SDL_TEXTINPUT: {
      if (!v->searching) return 0;
      size_t n = strlen(v->search);
      const char *t = e->text.text;
      /* the key that opened the prompt arrives as text too */
      if (!n && ((v->searching == 1 && !strcmp(t, "/")) ||
                 (v->searching == 2 && (!strcmp(t, "g") || !strcmp(t, "G")))))
        return 0;
      for (; *t && n + 1 < sizeof v->search; t++)
        if ((unsigned char)*t >= 32 && (unsigned char)*t < 127) v->search[n++] = *t;
      v->search[n] = 0;
      return 1;
    }
    case SDL_MOUSEMOTION: {
      v->mouse_x = e->motion.x;
      v->mouse_y = e->motion.y;
      vw_layout_get(v, m, &l);
      if (v->drag == 1) {
        double cpp = (double)(v->t1 - v->t0) / l.timeline_w;
        set_window(v, m, (double)v->drag_t0 - (e->motion.x - v->drag_x) * cpp,
                   (double)(v->t1 - v->t0));
        return 1;
      }
      if (v->drag == 2) {
        minimap_jump(v, m, &l, e->motion.x);
        return 1;
      }
      return hover(v, m, e->motion.x, e->motion.y);
    }
    case SDL_MOUSEBUTTONDOWN:
      if (e->button.button != SDL_BUTTON_LEFT) return 0;
      v->mouse_x = e->button.x;
      v->mouse_y = e->button.y;
      vw_layout_get(v, m, &l);
      if (!in_timeline(&l, e->button.x)) return 0;
      if (e->button.y >= l.minimap_y && e->button.y < l.minimap_y + l.minimap_h) {
        v->drag = 2;
        minimap_jump(v, m, &l, e->button.x);
        return 1;
      }
      if (e->button.y < l.minimap_y) {
        v->drag = 1;
        v->drag_x = e->button.x;
        v->drag_t0 = v->t0;
      }
      return 0;
    case SDL_MOUSEBUTTONUP: {
      if (e->button.button != SDL_BUTTON_LEFT) return 0;
      int was = v->drag;
      v->drag = 0;
      if (was == 1 && abs(e->button.x - v->drag_x) <= CLICK_SLOP) {
        set_window(v, m, (double)v->drag_t0, (double)(v->t1 - v->t0));  /* no pan */
        return click(v, m, e->button.x, e->button.y);
      }
      return was != 0;
    }
    case SDL_MOUSEWHEEL: {
      int y = e->wheel.y, x = e->wheel.x;
      if (e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED) y = -y, x = -x;
      double span = (double)(v->t1 - v->t0);
      if (x) pan(v, m, span * 0.1 * x);
      if (y) zoom_at(v, m, v->mouse_x, pow(0.8, y));
      return x || y;
    }
    case SDL_WINDOWEVENT:
      if (e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
        v->w = e->window.data1;
        v->h = e->window.data2;
        return 1;
      }
      return e->window.event == SDL_WINDOWEVENT_EXPOSED;
    default: return 0;
  }
}

int vw_view_tick(vw_view *v, const vw_model *m, double dt) {
  if (!v->playing || !m) return 0;
  uint64_t end = end_of(m) - 1;
  double step = v->speed * dt;
  uint64_t d = step < 1 ? 1 : (uint64_t)step;
  if (v->playhead >= end || end - v->playhead <= d) {
    v->playhead = end;
    v->playing = 0;
    snprintf(v->status, sizeof v->status, "end of trace");
  } else {
    v->playhead += d;
  }
  /* the window follows: keep the playhead in its first three quarters */
  uint64_t span = v->t1 - v->t0;
  if (v->playhead < v->t0 || v->playhead >= v->t0 + span / 4 * 3)
    set_window(v, m, (double)v->playhead - (double)span / 4, (double)span);
  return 1;
}
