/*
 * render.c - one frame of apicview drawn into an SDL_Surface with plain
 * 32-bit pixel writes: rectangles, lines and the built-in font, nothing
 * from SDL's renderer, so a picture is the same on every video driver and
 * without one (headless --render, tests).
 *
 * A frame is a pure function of (model, view, surface size): the layout
 * comes from vw_layout_get, the content from one vw_model_query of the
 * visible window, the panel from the trace reader's state at the playhead.
 * Only what is visible is drawn: segments and messages arrive clipped to
 * the window and merged below a pixel, lines are clipped before they are
 * walked, text is clipped to its box.
 *
 * Drawing order (later on top): background and grid, core lanes (or the
 * density block), interconnect, pins, arrows, markers and playhead, axis
 * and title, minimap, side panel, then the boxes (details, statistics,
 * help) and the status line.
 */
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "viewer.h"

#define GAP 4
#define TITLE_H 14
#define STATUS_H 14

#define RGB_PANEL     0x181d24u
#define RGB_LANE_ALT  0x141920u
#define RGB_GRIDLINE  0x1f262eu
#define RGB_DIM       0x8a93a3u
#define RGB_GRID_OFF  0x29313bu
#define RGB_GRID_EDGE 0x3a4552u
#define RGB_PLAYHEAD  0xffffffu
#define RGB_MARKER    0xd070ffu
#define RGB_SELECT    0x60b0ffu
#define RGB_RETRY     0xff8030u
#define RGB_PIN_HI    0x80c0ffu
#define RGB_PIN_LO    0x46606eu
#define RGB_BOX       0x20272fu
#define RGB_BOX_EDGE  0x5a6676u
#define RGB_ERROR     0xff5050u
#define RGB_INK       0x0c1014u
#define RGB_MINIMAP   0x151a20u
#define RGB_HEAT      0x60a8f0u

#define MINIMAP_CALLS (1 << 18)  /* vw_model_density calls a frame, at most */
#define ARROWS_ALL 300     /* more arrows than this in view: the selected core's only */
#define ARROWS_FOCUS 1000  /* and if it has more: the selected event's message's only */

/* ---- palette ---- */

/* Handler colour per priority class (vector >> 4): cool hues, away from
   the run green, the IF=0 orange, the arrow yellow and the coalesce red. */
static const uint32_t class_rgb[16] = {
  0x8a8a9a, 0x7a8aa0, 0x8070c0, 0x6f80c0, 0x4f90d0, 0x5fb0e0, 0xbf5fbf, 0x9f6faf,
  0x7f7fbf, 0x5f8fbf, 0x3fa0bf, 0x3fbfcf, 0xaf5fdf, 0x8f6fef, 0x6f7fff, 0x4f9fff,
};

uint32_t vw_state_rgb(uint8_t state, uint16_t vector) {
  switch (state) {
    case VW_RUN: return 0x2f8f4f;
    case VW_IRQOFF: return 0x94582a;
    case VW_HALT: return 0x3a4654;
    case VW_WAIT_SIPI: return 0x8a5cc0;
    case VW_HANDLER:
      if (vector == 2) return 0xd03838;                 /* NMI */
      if (vector == APIC_VECTOR_SMI) return 0xc0c0c0;   /* SMM */
      return class_rgb[(vector >> 4) & 15];
    default: return 0x1a1f25;
  }
}

static uint32_t mix(uint32_t a, uint32_t b, unsigned t /* 0..256: weight of b */) {
  uint32_t r = (((a >> 16) & 255) * (256 - t) + ((b >> 16) & 255) * t) >> 8;
  uint32_t g = (((a >> 8) & 255) * (256 - t) + ((b >> 8) & 255) * t) >> 8;
  uint32_t bl = ((a & 255) * (256 - t) + (b & 255) * t) >> 8;
  return r << 16 | g << 8 | bl;
}

/* ---- pixels ---- */

typedef struct cv {
  SDL_Surface *s;
  uint32_t amask;
  SDL_Rect clip;
} cv;

static void clip_to(cv *c, int x, int y, int w, int h) {
  SDL_Rect r = {x, y, w < 0 ? 0 : w, h < 0 ? 0 : h};
  SDL_SetClipRect(c->s, &r);
  c->clip = c->s->clip_rect;
}

static void unclip(cv *c) {
  SDL_SetClipRect(c->s, NULL);
  c->clip = c->s->clip_rect;
}

static uint32_t *row_of(const cv *c, int y) {
  return (uint32_t *)((uint8_t *)c->s->pixels + (size_t)y * (size_t)c->s->pitch);
}

static void put(const cv *c, int x, int y, uint32_t rgb) {
  if (x < c->clip.x || y < c->clip.y || x >= c->clip.x + c->clip.w || y >= c->clip.y + c->clip.h)
    return;
  row_of(c, y)[x] = rgb | c->amask;
}

static void fill(const cv *c, int x, int y, int w, int h, uint32_t rgb) {
  int x0 = x > c->clip.x ? x : c->clip.x, y0 = y > c->clip.y ? y : c->clip.y;
  int x1 = x + w, y1 = y + h;
  if (x1 > c->clip.x + c->clip.w) x1 = c->clip.x + c->clip.w;
  if (y1 > c->clip.y + c->clip.h) y1 = c->clip.y + c->clip.h;
  uint32_t px = rgb | c->amask;
  for (int yy = y0; yy < y1; yy++) {
    uint32_t *r = row_of(c, yy);
    for (int xx = x0; xx < x1; xx++) r[xx] = px;
  }
}

/* A filled rectangle; if mixed (a span that aggregates several states)
   every other pixel is darkened, in a checkerboard: those with x + y even.
   Lanes are mostly bands a pixel or two wide: one row pointer, moved on by
   the pitch, and no inner loop for a single column. */
static void band(const cv *c, int x, int y, int w, int h, uint32_t rgb, int mixed) {
  int x0 = x > c->clip.x ? x : c->clip.x, y0 = y > c->clip.y ? y : c->clip.y;
  int x1 = x + w, y1 = y + h;
  if (x1 > c->clip.x + c->clip.w) x1 = c->clip.x + c->clip.w;
  if (y1 > c->clip.y + c->clip.h) y1 = c->clip.y + c->clip.h;
  if (x0 >= x1 || y0 >= y1) return;
  uint32_t px = rgb | c->amask, dark = mixed ? mix(rgb & 0xFFFFFFu, 0, 90) | c->amask : px;
  uint8_t *row = (uint8_t *)row_of(c, y0);
  size_t pitch = (size_t)c->s->pitch;
  if (x1 - x0 == 1) {
    for (int yy = y0; yy < y1; yy++, row += pitch)
      ((uint32_t *)row)[x0] = ((x0 + yy) & 1) ? px : dark;
    return;
  }
  for (int yy = y0; yy < y1; yy++, row += pitch) {
    uint32_t *r = (uint32_t *)row;
    for (int xx = x0; xx < x1; xx++) r[xx] = px;
    if (mixed)
      for (int xx = x0 + ((x0 + yy) & 1); xx < x1; xx += 2) r[xx] = dark;
  }
}

static void frame_rect(const cv *c, int x, int y, int w, int h, uint32_t rgb) {
  fill(c, x, y, w, 1, rgb);
  fill(c, x, y + h - 1, w, 1, rgb);
  fill(c, x, y, 1, h, rgb);
  fill(c, x + w - 1, y, 1, h, rgb);
}

/*
 * A line from (x0,y0) to (x1,y1), clipped (Liang-Barsky) to the clip
 * rectangle before it is walked, so far-off end points cost nothing.
 * dash: 0 = solid, else pixels on then off.
 */
static void line(const cv *c, int x0, int y0, int x1, int y1, uint32_t rgb, int dash) {
  double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
  double p[4] = {-dx, dx, -dy, dy};
  double q[4] = {x0 - c->clip.x, c->clip.x + c->clip.w - 1 - x0, y0 - c->clip.y,
                 c->clip.y + c->clip.h - 1 - y0};
  for (int i = 0; i < 4; i++) {
    if (p[i] == 0) {
      if (q[i] < 0) return;
    } else {
      double r = q[i] / p[i];
      if (p[i] < 0) { if (r > t1) return; if (r > t0) t0 = r; }
      else { if (r < t0) return; if (r < t1) t1 = r; }
    }
  }
  int ax = x0 + (int)(t0 * dx + (t0 * dx >= 0 ? 0.5 : -0.5));
  int ay = y0 + (int)(t0 * dy + (t0 * dy >= 0 ? 0.5 : -0.5));
  int bx = x0 + (int)(t1 * dx + (t1 * dx >= 0 ? 0.5 : -0.5));
  int by = y0 + (int)(t1 * dy + (t1 * dy >= 0 ? 0.5 : -0.5));
  int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
  int ex = abs(bx - ax), ey = -abs(by - ay), err = ex + ey;
  /* dashes keep their phase from the line's true start */
  int phase = dash ? (int)(t0 * (abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0))) : 0;
  for (int n = phase;; n++) {
    if (!dash || (n / dash) % 2 == 0) put(c, ax, ay, rgb);
    if (ax == bx && ay == by) break;
    int e2 = 2 * err;
    if (e2 >= ey) { err += ey; ax += sx; }
    if (e2 <= ex) { err += ex; ay += sy; }
  }
}

static void text(cv *c, int x, int y, uint32_t rgb, const char *s) {
  vw_text(c->s, x, y, rgb, s);
}

/* Text clipped to a box of width w starting at x. */
static void text_in(cv *c, int x, int y, int w, uint32_t rgb, const char *s) {
  SDL_Rect old = c->clip;
  SDL_Rect r = {x, y, w, VW_FONT_H};
  SDL_Rect in;
  if (!SDL_IntersectRect(&r, &old, &in)) return;
  SDL_SetClipRect(c->s, &in);
  vw_text(c->s, x, y, rgb, s);
  SDL_SetClipRect(c->s, &old);
}

static void box(cv *c, int x, int y, int w, int h) {
  fill(c, x, y, w, h, RGB_BOX);
  frame_rect(c, x, y, w, h, RGB_BOX_EDGE);
}

/* ---- words ---- */

static void fmt_ns(char *out, size_t n, double ns) {
  if (ns < 0) ns = 0;
  if (ns < 1e3) snprintf(out, n, "%.1f ns", ns);
  else if (ns < 1e6) snprintf(out, n, "%.2f us", ns / 1e3);
  else if (ns < 1e9) snprintf(out, n, "%.2f ms", ns / 1e6);
  else snprintf(out, n, "%.3f s", ns / 1e9);
}

static double ns_of(const vw_model *m, uint64_t cycles) {
  double ghz = vw_model_info(m)->config.freq_ghz;
  return ghz > 0 ? (double)cycles / ghz : (double)cycles;
}

static const char *const mode_names[8] = {"fixed", "lowest", "smi", "mode3",
                                          "nmi", "init", "startup", "extint"};

static const char *const event_docs[] = {
#define DOC_(name, str, doc) doc,
  APIC_EVENT_MAP(DOC_)
#undef DOC_
};

static const char *const bus_names[3] = {"p6 APIC bus", "xAPIC system bus", "mesh"};

/* ---- the frame's shared facts ---- */

/* The minimap's heat map as last drawn (before the window frame, playhead
   and markers go on top), and what it was drawn from. */
struct vw_render_cache {
  uint32_t *px;             /* the rectangle's pixels, row after row */
  size_t pxcap;
  int32_t *row;             /* visible row of each core */
  size_t rowcap;
  int valid;
  const vw_model *m;        /* and its trace (another model may get its address) */
  uint64_t records, first, last;
  uint64_t ver;             /* vw_model_density_version */
  SDL_Rect rect;            /* where, already clipped to the surface */
  int x0, y0, w, h, nvis;
  uint32_t ncpus, amask;
  uint64_t hits;            /* frames that reused it */
};

typedef struct rc {
  cv c;
  vw_render_cache *cache;
  vw_model *m;
  const vw_view *v;
  vw_layout l;
  const apic_trace_info *info;
  uint32_t ncpus;
  int32_t *row;           /* visible row of each core, -1 if hidden */
  const vw_frame *f;
  uint64_t t0;            /* tx(): the window start, its span (at least 1), */
  double span, x0, tw;    /* the time axis' first pixel and width */
  int npins;
  uint32_t *pin_io, *pin_no;
  char note[96];          /* what the arrows left out, for the status line */
} rc;

/* vw_cycle_to_x, the same arithmetic with the view's terms taken once a
   frame and no libm floor: it runs twice for every segment drawn. */
static int tx(const rc *r, uint64_t cycle) {
  double d = cycle >= r->t0 ? (double)(cycle - r->t0) : -(double)(r->t0 - cycle);
  double x = r->x0 + d * r->tw / r->span;
  if (x < -1e6) return -1000000;
  if (x > 1e6) return 1000000;
  int i = (int)x;   /* truncates towards 0: one less below 0, as floor */
  return i - (x < (double)i);
}

static int density_block(const rc *r) { return r->l.bus_y - GAP - r->l.lanes_y; }

/* Vertical centre of a lane (core, bus, pin), or -1 if it is not drawn. */
static int lane_mid(const rc *r, uint32_t lane) {
  const vw_layout *l = &r->l;
  if (lane == VW_LANE_BUS) return l->bus_h ? l->bus_y + l->bus_h / 2 : -1;
  if ((lane & 0xFFFF0000u) == 0xFFFF0000u) {
    for (int i = 0; i < r->npins; i++)
      if (VW_LANE_PIN(r->pin_io[i], r->pin_no[i]) == lane) return l->pins_y + i * l->pin_h + l->pin_h / 2;
    return -1;
  }
  if (lane >= r->ncpus || r->row[lane] < 0) return -1;
  if (l->density) {
    int block = density_block(r);
    return l->lanes_y + (int)(((int64_t)r->row[lane] * 2 + 1) * block / (2 * (int64_t)l->nlanes));
  }
  return l->lanes_y + r->row[lane] * l->lane_h + l->lane_h / 2;
}

/* ---- time axis ---- */

static uint64_t nice_step(double raw) {
  uint64_t p = 1;
  while ((double)p * 10 <= raw && p < UINT64_MAX / 10) p *= 10;
  if ((double)p >= raw) return p;
  if ((double)p * 2 >= raw) return p * 2;
  if ((double)p * 5 >= raw) return p * 5;
  return p * 10;
}

static void draw_axis(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  const vw_view *v = r->v;
  int y = TITLE_H;
  int bottom = l->minimap_y - GAP;
  uint64_t span = v->t1 - v->t0;
  uint64_t step = nice_step((double)span * 110 / l->timeline_w);
  if (!step) step = 1;
  clip_to(c, l->timeline_x, y, l->timeline_w, bottom - y);
  uint64_t first = (v->t0 + step - 1) / step * step;
  int right = l->timeline_x + l->timeline_w, prev_end = INT_MIN / 2;  /* no label yet */
  for (uint64_t t = first; t < v->t1 && t >= first; t += step) {
    int x = tx(r, t);
    fill(c, x, y + 22, 1, 4, RGB_DIM);
    fill(c, x, l->lanes_y, 1, bottom - l->lanes_y, RGB_GRIDLINE);
    char a[32], b[32];
    snprintf(a, sizeof a, "%llu", (unsigned long long)t);
    fmt_ns(b, sizeof b, ns_of(r->m, t));
    /* a label near the right edge moves left rather than lose digits
       ("2000" for 20000), unless that would run into the one before */
    int tw = vw_text_width(a) > vw_text_width(b) ? vw_text_width(a) : vw_text_width(b);
    int lx = x + 2 + tw > right ? right - tw : x + 2;
    if (lx < prev_end + 4) continue;
    text(c, lx, y + 1, VW_RGB_TEXT, a);
    text(c, lx, y + 11, RGB_DIM, b);
    prev_end = lx + tw;
  }
  unclip(c);
  text(c, 4, y + 1, RGB_DIM, "cycles");
  text(c, 4, y + 11, RGB_DIM, "time");
  fill(c, l->timeline_x, y + 25, l->timeline_w, 1, RGB_GRID_EDGE);
}

/* ---- core lanes ---- */

static void draw_lane(rc *r, uint32_t cpu, int y, int h) {
  cv *c = &r->c;
  const vw_view *v = r->v;
  const vw_frame *f = r->f;
  int sel = cpu == v->selected;
  if (r->row[cpu] & 1) fill(c, r->l.timeline_x, y, r->l.timeline_w, h, RGB_LANE_ALT);
  if (f && cpu < r->ncpus && f->lane && f->nlane) {
    const vw_seg *s = f->lane[cpu];
    uint64_t last = 0;   /* a segment starts where the last ended: its x is known */
    int last_x = 0, have = 0;
    for (uint32_t i = 0; s && i < f->nlane[cpu]; i++) {
      if (s[i].state == VW_NONE) continue;
      int x0 = have && s[i].from == last ? last_x : tx(r, s[i].from), x1 = tx(r, s[i].to);
      last = s[i].to;
      last_x = x1;
      have = 1;
      if (x1 <= x0) x1 = x0 + 1;
      uint32_t col = vw_state_rgb(s[i].state, s[i].vector);
      if (v->vector_filter >= 0 && s[i].state == VW_HANDLER && s[i].vector != v->vector_filter)
        col = mix(col, VW_RGB_BG, 170);
      int inset = s[i].state == VW_HANDLER ? (s[i].depth < 3 ? s[i].depth : 3) * 2 : 0;
      int top = y + 1 + inset, hh = h - 2 - inset;
      if (hh < 1) top = y, hh = h > 0 ? h : 1;
      band(c, x0, top, x1 - x0, hh, col, s[i].mixed);
      if (s[i].state == VW_HANDLER && h >= VW_FONT_H + 1 && !s[i].mixed) {
        char lab[16];
        if (s[i].vector == 2) snprintf(lab, sizeof lab, "NMI");
        else if (s[i].vector == APIC_VECTOR_SMI) snprintf(lab, sizeof lab, "SMI");
        else snprintf(lab, sizeof lab, "%02x", s[i].vector);
        int tw = vw_text_width(lab);
        int lx = x0 > r->l.timeline_x ? x0 : r->l.timeline_x;
        int rx = x1 < r->l.timeline_x + r->l.timeline_w ? x1 : r->l.timeline_x + r->l.timeline_w;
        if (rx - lx >= tw + 3) text(c, lx + 2, y + (h - VW_FONT_H) / 2 + 1, RGB_INK, lab);
      }
    }
  }
  if (sel) {
    fill(c, r->l.timeline_x, y, r->l.timeline_w, 1, RGB_SELECT);
    fill(c, r->l.timeline_x, y + h - 1, r->l.timeline_w, 1, RGB_SELECT);
  }
}

static void draw_lanes(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  if (l->density) return;
  clip_to(c, l->timeline_x, l->lanes_y, l->timeline_w, l->nlanes * l->lane_h);
  for (uint32_t cpu = 0; cpu < r->ncpus; cpu++)
    if (r->row[cpu] >= 0) draw_lane(r, cpu, l->lanes_y + r->row[cpu] * l->lane_h, l->lane_h);
  unclip(c);
  /* labels: every lane if they fit, else every k-th */
  int every = l->lane_h >= VW_FONT_H ? 1 : (VW_FONT_H + l->lane_h) / (l->lane_h ? l->lane_h : 1);
  for (uint32_t cpu = 0; cpu < r->ncpus; cpu++) {
    if (r->row[cpu] < 0) continue;
    int y = l->lanes_y + r->row[cpu] * l->lane_h;
    int sel = cpu == r->v->selected;
    int srow = r->v->selected < r->ncpus ? r->row[r->v->selected] : -1;
    if (!sel && (r->row[cpu] % every || (srow >= 0 && abs(r->row[cpu] - srow) < every)))
      continue;
    char lab[24];
    snprintf(lab, sizeof lab, "cpu %u", cpu);
    int ty = y + (l->lane_h - VW_FONT_H) / 2 + 1;
    if (sel) fill(c, 0, y, l->timeline_x - 2, l->lane_h > 1 ? l->lane_h : 1, 0x24405a);
    text_in(c, 4, ty, l->timeline_x - 6, sel ? 0xffffff : VW_RGB_TEXT, lab);
  }
}

/*
 * Many cores: each pixel row of the block is a group of cores, each column
 * the average of their state colours there, so where handlers run is seen
 * as a tint whose strength is the share of cores in them.
 */
static void draw_density(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  if (!l->density || !r->f) return;
  int block = density_block(r), w = l->timeline_w;
  if (block <= 0 || l->nlanes <= 0) return;
  /* per pixel row: colour sums as difference arrays (+ at a span's first
     column, - after its last), so a core costs its segments, not the width */
  int32_t *acc = calloc((size_t)(w + 1) * 4, sizeof *acc);
  uint32_t *visible = malloc((size_t)l->nlanes * sizeof *visible);
  if (!acc || !visible) {
    free(acc);
    free(visible);
    return;
  }
  for (uint32_t cpu = 0; cpu < r->ncpus; cpu++)
    if (r->row[cpu] >= 0) visible[r->row[cpu]] = cpu;
  clip_to(c, l->timeline_x, l->lanes_y, w, block);
  for (int y = 0; y < block; y++) {
    int lo = (int)((int64_t)y * l->nlanes / block);
    int hi = (int)((int64_t)(y + 1) * l->nlanes / block);
    if (hi <= lo) hi = lo + 1;
    memset(acc, 0, (size_t)(w + 1) * 4 * sizeof *acc);
    for (int k = lo; k < hi && k < l->nlanes; k++) {
      uint32_t cpu = visible[k];
      const vw_seg *s = r->f->lane ? r->f->lane[cpu] : NULL;
      uint32_t n = r->f->nlane ? r->f->nlane[cpu] : 0;
      for (uint32_t i = 0; s && i < n; i++) {
        int x0 = tx(r, s[i].from) - l->timeline_x, x1 = tx(r, s[i].to) - l->timeline_x;
        if (x1 <= x0) x1 = x0 + 1;
        if (x0 < 0) x0 = 0;
        if (x1 > w) x1 = w;
        if (x1 <= x0) continue;
        uint32_t col = s[i].state == VW_NONE ? VW_RGB_BG : vw_state_rgb(s[i].state, s[i].vector);
        if (r->v->vector_filter >= 0 && s[i].state == VW_HANDLER && s[i].vector != r->v->vector_filter)
          col = mix(col, VW_RGB_BG, 170);
        int32_t add[4] = {(int32_t)((col >> 16) & 255), (int32_t)((col >> 8) & 255),
                          (int32_t)(col & 255), 1};
        for (int j = 0; j < 4; j++) {
          acc[x0 * 4 + j] += add[j];
          acc[x1 * 4 + j] -= add[j];
        }
      }
    }
    uint32_t cnt = (uint32_t)(hi - lo);
    uint32_t inv = (1u << 16) / cnt;   /* the average without a division a pixel */
    int32_t run[4] = {0, 0, 0, 0};
    if (l->lanes_y + y < c->clip.y || l->lanes_y + y >= c->clip.y + c->clip.h) continue;
    uint32_t *out = row_of(c, l->lanes_y + y) + l->timeline_x;
    for (int x = 0; x < w; x++) {
      for (int j = 0; j < 4; j++) run[j] += acc[x * 4 + j];
      /* columns a core has no segment in count as background */
      uint32_t have = (uint32_t)run[3];
      uint32_t bg = cnt > have ? cnt - have : 0;
      uint32_t k = have <= cnt ? inv : (1u << 16) / have;
      uint32_t rr = (((uint32_t)run[0] + bg * ((VW_RGB_BG >> 16) & 255)) * k) >> 16;
      uint32_t gg = (((uint32_t)run[1] + bg * ((VW_RGB_BG >> 8) & 255)) * k) >> 16;
      uint32_t bb = (((uint32_t)run[2] + bg * (VW_RGB_BG & 255)) * k) >> 16;
      out[x] = ((rr > 255 ? 255 : rr) << 16 | (gg > 255 ? 255 : gg) << 8 | (bb > 255 ? 255 : bb)) |
               c->amask;
    }
  }
  unclip(c);
  /* the selected core's row */
  if (r->v->selected < r->ncpus && r->row[r->v->selected] >= 0) {
    int y = l->lanes_y + (int)((int64_t)r->row[r->v->selected] * block / l->nlanes);
    fill(c, 0, y, 3, 1 + block / l->nlanes, RGB_SELECT);
  }
  /* labels: a core number every ~3 text lines */
  int last = block >= 3 * VW_FONT_H ? block - 2 * VW_FONT_H : block - VW_FONT_H;
  for (int y = 0; y <= last; y += 3 * VW_FONT_H) {
    int k = (int)((int64_t)y * l->nlanes / block);
    char lab[24];
    snprintf(lab, sizeof lab, "cpu %u", visible[k]);
    fill(c, l->timeline_x - 4, l->lanes_y + y, 3, 1, RGB_DIM);
    text_in(c, 4, l->lanes_y + y, l->timeline_x - 8, VW_RGB_TEXT, lab);
  }
  if (block >= 3 * VW_FONT_H) {
    char lab[32];
    snprintf(lab, sizeof lab, "%d/row", (l->nlanes + block - 1) / block);
    text_in(c, 4, l->lanes_y + block - VW_FONT_H, l->timeline_x - 8, RGB_DIM, lab);
  }
  free(acc);
  free(visible);
}

/* ---- interconnect ---- */

static uint32_t msg_rgb(const vw_msg *g) {
  switch (g->mode) {
    case 0: return 0x4a90d0;            /* fixed */
    case 1: return 0x3ab8b8;            /* lowest priority */
    case 2: case 4: return 0xd05858;    /* SMI, NMI */
    case 5: case 6: return 0xa070d0;    /* INIT, start-up */
    case 7: return 0xb0a050;            /* ExtINT */
    default: return 0x909090;
  }
}

static void draw_bus(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  if (!l->bus_h) return;
  fill(c, l->timeline_x, l->bus_y, l->timeline_w, l->bus_h, RGB_LANE_ALT);
  text_in(c, 4, l->bus_y + (l->bus_h - VW_FONT_H) / 2 + 1, l->timeline_x - 6, VW_RGB_TEXT, "bus");
  if (!r->f) return;
  clip_to(c, l->timeline_x, l->bus_y, l->timeline_w, l->bus_h);
  if (r->f->from_overview) {
    text(c, l->timeline_x + 4, l->bus_y + (l->bus_h - VW_FONT_H) / 2 + 1, RGB_DIM,
         "zoom in to see messages and arrows");
    unclip(c);
    return;
  }
  /* overlapping messages stack in sub-rows, greedily; rows share the height */
  enum { MAXROWS = 8 };
  uint32_t n = r->f->nmsgs;
  uint8_t *rowof = malloc(n ? n : 1);
  int *xs = malloc((n ? n : 1) * 2 * sizeof *xs);   /* sent and done, for both passes */
  if (!rowof || !xs) {
    free(rowof);
    free(xs);
    unclip(c);
    return;
  }
  int end[MAXROWS], used = 1;
  for (int i = 0; i < MAXROWS; i++) end[i] = -1000000;
  for (uint32_t i = 0; i < n; i++) {
    const vw_msg *g = &r->f->msgs[i];
    int x0 = xs[2 * i] = tx(r, g->sent), x1 = xs[2 * i + 1] = tx(r, g->done);
    if (x1 <= x0) x1 = x0 + 1;
    int k = 0;
    for (int j = 0; j < MAXROWS; j++) {
      if (end[j] < x0) { k = j; break; }
      if (end[j] < end[k]) k = j;
    }
    end[k] = x1;
    rowof[i] = (uint8_t)k;
    if (k + 1 > used) used = k + 1;
  }
  int rh = l->bus_h / used;
  if (rh < 2) rh = 2;
  for (uint32_t i = 0; i < n; i++) {
    const vw_msg *g = &r->f->msgs[i];
    int x0 = xs[2 * i], x1 = xs[2 * i + 1];
    int xl = g->left == g->sent ? x0 : g->left == g->done ? x1 : tx(r, g->left);
    if (x1 <= x0) x1 = x0 + 1;
    if (xl < x0) xl = x0;
    if (xl > x1) xl = x1;
    int y = l->bus_y + rowof[i] * rh;
    uint32_t col = msg_rgb(g);
    if (r->v->vector_filter >= 0 && g->vector != r->v->vector_filter) col = mix(col, VW_RGB_BG, 180);
    /* until it leaves the sender: lighter; then on its way: full */
    fill(c, x0, y + 1, xl - x0, rh - 1, mix(col, 0xffffff, 90));
    fill(c, xl, y + 1, x1 - xl, rh - 1, col);
    if (g->retries) {
      int nr = g->retries < 8 ? g->retries : 8;
      for (int t = 0; t < nr; t++) fill(c, x0 + 1 + 2 * t, y + 1, 1, rh - 1, RGB_RETRY);
      frame_rect(c, x0, y + 1, x1 - x0, rh - 1, RGB_RETRY);
    }
    if (rh >= VW_FONT_H + 1 && x1 - x0 > 20) {
      char lab[48];
      if (g->retries) snprintf(lab, sizeof lab, "%02x>%x r%u", g->vector, g->dest, g->retries);
      else snprintf(lab, sizeof lab, "%02x>%x", g->vector, g->dest);
      text_in(c, x0 + 2, y + (rh - VW_FONT_H) / 2 + 1, x1 - x0 - 3, RGB_INK, lab);
    }
  }
  free(rowof);
  free(xs);
  unclip(c);
}

/* ---- I/O APIC pins ---- */

static void draw_pins(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  for (int i = 0; i < r->npins; i++) {
    int y = l->pins_y + i * l->pin_h, h = l->pin_h;
    if (h >= VW_FONT_H) {
      char lab[24];
      snprintf(lab, sizeof lab, "io%u.%u", r->pin_io[i], r->pin_no[i]);
      text_in(c, 4, y + (h - VW_FONT_H) / 2 + 1, l->timeline_x - 6, VW_RGB_TEXT, lab);
    }
    if (!r->f || !r->f->pin || !r->f->npin) continue;
    clip_to(c, l->timeline_x, y, l->timeline_w, h);
    const vw_pinseg *p = r->f->pin[i];
    int last_level = -1;
    for (uint32_t k = 0; p && k < r->f->npin[i]; k++) {
      int x0 = tx(r, p[k].from), x1 = tx(r, p[k].to);
      if (x1 <= x0) x1 = x0 + 1;
      if (p[k].level) fill(c, x0, y + 2, x1 - x0, h - 3, RGB_PIN_HI);
      else fill(c, x0, y + h - 2, x1 - x0, 1, RGB_PIN_LO);
      if (last_level >= 0 && last_level != p[k].level) fill(c, x0, y + 2, 1, h - 3, RGB_PIN_HI);
      last_level = p[k].level;
    }
    unclip(c);
  }
}

/* ---- arrows ---- */

static void arrow_head(const cv *c, int x0, int y0, int x1, int y1, uint32_t rgb) {
  double dx = x1 - x0, dy = y1 - y0;
  double len = dx * dx + dy * dy;
  if (len < 1) return;
  double k = 1.0 / sqrt(len);
  dx *= k;
  dy *= k;
  /* a filled triangle 6 px long, 3 px each side */
  for (int t = 0; t <= 6; t++) {
    double bx = x1 - dx * t, by = y1 - dy * t;
    double wdt = t * 0.5;
    line(c, (int)(bx - dy * wdt + 0.5), (int)(by + dx * wdt + 0.5), (int)(bx + dy * wdt + 0.5),
         (int)(by - dx * wdt + 0.5), rgb, 0);
  }
}

static void draw_arrows(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  if (!r->f || r->f->from_overview || l->density) return;
  /* too many to read: only the selected core's and the selected message's;
     if even those are too many, only the selected message's */
  int focus = r->f->narrows > ARROWS_ALL;
  uint32_t sel = r->v->selected;
  uint64_t sel_msg = r->v->has_sel_event ? r->v->sel_event.msg : 0;
  uint32_t nfocus = 0;
  for (uint32_t i = 0; focus && i < r->f->narrows; i++)
    nfocus += r->f->arrows[i].from_lane == sel || r->f->arrows[i].to_lane == sel;
  int msg_only = nfocus > ARROWS_FOCUS;
  /* arrows that land on the same pixels are drawn once (zoomed out, a fan
     of thousands collapses to what can be seen) */
  enum { SEEN = 1 << 13 };
  uint64_t *seen = calloc(SEEN, sizeof *seen);
  uint32_t nseen = 0;
  clip_to(c, l->timeline_x, l->lanes_y, l->timeline_w, l->minimap_y - GAP - l->lanes_y);
  for (uint32_t i = 0; i < r->f->narrows; i++) {
    const vw_arrow *a = &r->f->arrows[i];
    if (r->v->vector_filter >= 0 && a->vector != r->v->vector_filter) continue;
    int mine = sel_msg && a->msg == sel_msg;
    if (focus && !mine && (msg_only || (a->from_lane != sel && a->to_lane != sel))) continue;
    int y0 = lane_mid(r, a->from_lane), y1 = lane_mid(r, a->to_lane);
    if (y0 < 0 || y1 < 0) continue;
    int x0 = tx(r, a->from_cycle), x1 = tx(r, a->to_cycle);
    if ((x0 < l->timeline_x && x1 < l->timeline_x) ||
        (x0 >= l->timeline_x + l->timeline_w && x1 >= l->timeline_x + l->timeline_w))
      continue;
    if (seen && nseen < SEEN / 2) {
      uint64_t key = ((uint64_t)(uint32_t)(x0 + 2000000) << 42) ^ ((uint64_t)(uint32_t)(x1 + 2000000) << 20) ^
                     ((uint64_t)(uint32_t)y0 << 8) ^ ((uint64_t)(uint32_t)y1 << 30) ^ a->kind;
      key = key * 0x9E3779B97F4A7C15ull | 1;   /* never 0: 0 marks a free slot */
      size_t h = (size_t)(key >> 51) & (SEEN - 1);
      while (seen[h] && seen[h] != key) h = (h + 1) & (SEEN - 1);
      if (seen[h]) continue;
      seen[h] = key;
      nseen++;
    }
    uint32_t col = a->kind == VW_ARROW_COALESCED ? VW_RGB_COALESCE : VW_RGB_ARROW;
    line(c, x0, y0, x1, y1, col, a->kind == VW_ARROW_IRR ? 3 : 0);
    fill(c, x0 - 1, y0 - 1, 3, 3, col);                    /* where it starts */
    if (a->kind == VW_ARROW_COALESCED) {                   /* merged: an X */
      line(c, x1 - 3, y1 - 3, x1 + 3, y1 + 3, col, 0);
      line(c, x1 - 3, y1 + 3, x1 + 3, y1 - 3, col, 0);
    } else {
      arrow_head(c, x0, y0, x1, y1, col);
    }
  }
  unclip(c);
  free(seen);
  if (focus && msg_only)  /* said in the status line: over the bus it hid messages */
    snprintf(r->note, sizeof r->note, "%u arrows: the selected event's only (zoom in for all)",
             r->f->narrows);
  else if (focus)
    snprintf(r->note, sizeof r->note, "%u arrows: cpu %u's only (zoom in for all)",
             r->f->narrows, sel);
}

/* ---- playhead, markers ---- */

static void draw_cursors(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  const vw_view *v = r->v;
  int bottom = l->minimap_y - GAP;
  clip_to(c, l->timeline_x, TITLE_H, l->timeline_w, bottom - TITLE_H);
  for (int i = 0; i < v->nmarkers; i++) {
    int x = tx(r, v->markers[i]);
    line(c, x, TITLE_H + 22, x, bottom, RGB_MARKER, 2);
    char lab[16];
    snprintf(lab, sizeof lab, "M%d", i + 1);
    fill(c, x, TITLE_H + 15, vw_text_width(lab) + 3, VW_FONT_H, RGB_MARKER);
    text(c, x + 2, TITLE_H + 15, RGB_INK, lab);
  }
  if (v->nmarkers == 2) {
    int a = tx(r, v->markers[0]), b = tx(r, v->markers[1]);
    if (a > b) { int t = a; a = b; b = t; }
    uint64_t d = v->markers[1] > v->markers[0] ? v->markers[1] - v->markers[0]
                                              : v->markers[0] - v->markers[1];
    char lab[64], ns[24];
    fmt_ns(ns, sizeof ns, ns_of(r->m, d));
    snprintf(lab, sizeof lab, "%llu cycles = %s", (unsigned long long)d, ns);
    int y = l->lanes_y + 2, tw = vw_text_width(lab);
    int mid = (a + b) / 2;
    line(c, a, y + 5, b, y + 5, RGB_MARKER, 0);
    fill(c, mid - tw / 2 - 2, y, tw + 4, VW_FONT_H + 1, RGB_BOX);
    text(c, mid - tw / 2, y + 1, RGB_MARKER, lab);
  }
  int x = tx(r, v->playhead);
  fill(c, x, l->lanes_y, 1, bottom - l->lanes_y, RGB_PLAYHEAD);
  for (int k = 0; k < 4; k++) fill(c, x - 3 + k, TITLE_H + 22 + k, 7 - 2 * k, 1, RGB_PLAYHEAD);
  unclip(c);
}

/* ---- title and status ---- */

static void draw_title(rc *r) {
  cv *c = &r->c;
  const vw_view *v = r->v;
  const apic_config *cfg = &r->info->config;
  char buf[400], a[24], b[24];
  fill(c, 0, 0, c->s->w, TITLE_H, RGB_PANEL);
  fmt_ns(a, sizeof a, ns_of(r->m, v->t1 - v->t0));
  fmt_ns(b, sizeof b, ns_of(r->m, v->playhead));
  snprintf(buf, sizeof buf, "apicview  %s  %u cores  %s%s  %.2f GHz | window %llu..%llu (%s) | playhead %llu (%s)%s",
           r->info->name[0] ? r->info->name : "(unnamed)", cfg->ncpus,
           cfg->bus <= APIC_BUS_MESH ? bus_names[cfg->bus] : "?", cfg->x2apic ? ", x2APIC" : "",
           cfg->freq_ghz, (unsigned long long)v->t0, (unsigned long long)v->t1, a,
           (unsigned long long)v->playhead, b, v->playing ? " PLAYING" : "");
  text_in(c, 4, 2, c->s->w - 8, VW_RGB_TEXT, buf);
}

/* The lane colours, for the status line of every frame (a rendered image
   has no '?' overlay to explain them). Handlers come in a colour per
   priority class: the swatch shows three. */
static const struct { uint8_t state, mixed; const char *name; } legend_items[] = {
  {VW_RUN, 0, "running"}, {VW_IRQOFF, 0, "IF=0"}, {VW_HALT, 0, "halted"},
  {VW_WAIT_SIPI, 0, "wait SIPI"}, {VW_HANDLER, 0, "handler"},
  {VW_RUN, 1, "mixed"},   /* spans shorter than a pixel, aggregated */
};
#define LEGEND_SWATCH 8
#define LEGEND_GAP 10
#define LEGEND_MIN_STATUS 200   /* pixels the status text keeps before the legend goes */

/* Draws the legend ending at x_end (or only measures it if c is NULL);
   returns its width. */
static int draw_legend(cv *c, int x_end, int y) {
  int n = (int)(sizeof legend_items / sizeof legend_items[0]), w = 0;
  for (int i = 0; i < n; i++)
    w += LEGEND_SWATCH + 3 + vw_text_width(legend_items[i].name) + (i + 1 < n ? LEGEND_GAP : 0);
  if (!c) return w;
  int x = x_end - w;
  for (int i = 0; i < n; i++) {
    uint8_t st = legend_items[i].state;
    if (st == VW_HANDLER) {
      static const uint16_t classes[3] = {0x20, 0x50, 0xC0};  /* distinct hues */
      for (int k = 0; k < 3; k++)
        fill(c, x + k * 3, y + 1, k < 2 ? 3 : LEGEND_SWATCH - 6, LEGEND_SWATCH,
             vw_state_rgb(VW_HANDLER, classes[k]));
    } else {
      band(c, x, y + 1, LEGEND_SWATCH, LEGEND_SWATCH, vw_state_rgb(st, 0), legend_items[i].mixed);
    }
    x += LEGEND_SWATCH + 3;
    text(c, x, y, RGB_DIM, legend_items[i].name);
    x += vw_text_width(legend_items[i].name) + LEGEND_GAP;
  }
  return w;
}

static void draw_status(rc *r) {
  cv *c = &r->c;
  const vw_view *v = r->v;
  int y = c->s->h - STATUS_H;
  fill(c, 0, y, c->s->w, STATUS_H, RGB_PANEL);
  int help_x = c->s->w - vw_text_width("? help") - 4;
  text(c, help_x, y + 2, RGB_DIM, "? help");
  int legend_w = draw_legend(NULL, 0, 0), text_end = help_x - 12;
  if (text_end - 4 - legend_w - 12 >= LEGEND_MIN_STATUS) {
    draw_legend(c, text_end, y + 2);
    text_end -= legend_w + 12;
  }
  char buf[640];
  if (v->searching) {
    snprintf(buf, sizeof buf, "%s%s_", v->searching == 2 ? "go to cycle: " : "search (kind or vector): ",
             v->search);
    text_in(c, 4, y + 2, text_end - 4, 0xffe080, buf);
    return;
  }
  int k = snprintf(buf, sizeof buf, "%s%s%s", v->status, v->status[0] && r->note[0] ? "  " : "",
                   r->note);
  if (v->vector_filter >= 0 && k >= 0 && (size_t)k < sizeof buf)
    k += snprintf(buf + k, sizeof buf - (size_t)k, "%s[vector 0x%02x only]", k ? "  " : "",
                  v->vector_filter);
  if (r->info->warning[0] && k >= 0 && (size_t)k < sizeof buf)
    snprintf(buf + k, sizeof buf - (size_t)k, "  [%s]", r->info->warning);
  text_in(c, 4, y + 2, text_end - 4, VW_RGB_TEXT, buf);
}

/* ---- minimap ---- */

/* Events per visible core over the whole trace, square-root scaled. */
static void minimap_heat(rc *r, int x0, int y0, int w, int h) {
  cv *c = &r->c;
  int nvis = r->l.nlanes;
  int rows = nvis < h ? nvis : h;
  /* one bucket per pixel, unless the cores are so many that a bucket per
     pixel and core is more than MINIMAP_CALLS */
  int nb = MINIMAP_CALLS / nvis;
  if (nb > w) nb = w;
  if (nb < 64) nb = w < 64 ? w : 64;
  const uint32_t *tab = vw_model_density_table(r->m, (uint32_t)nb);
  uint32_t *sum = calloc((size_t)rows * (size_t)nb, sizeof *sum);
  if (!tab || !sum) {
    free(sum);
    return;
  }
  uint32_t max = 0;
  for (uint32_t cpu = 0; cpu < r->ncpus; cpu++) {
    if (r->row[cpu] < 0) continue;
    int row = (int)((int64_t)r->row[cpu] * rows / nvis);
    uint32_t *s = &sum[(size_t)row * (size_t)nb];
    const uint32_t *d = &tab[(size_t)cpu * (size_t)nb];
    for (int b = 0; b < nb; b++) {
      s[b] += d[b];
      if (s[b] > max) max = s[b];
    }
  }
  clip_to(c, x0, y0, w, h);
  if (max) {
    for (int row = 0; row < rows; row++) {
      int ya = y0 + row * h / rows, yb = y0 + (row + 1) * h / rows;
      for (int b = 0; b < nb; b++) {
        uint32_t n = sum[(size_t)row * (size_t)nb + (size_t)b];
        if (!n) continue;
        /* square-root scale: a single event still shows */
        unsigned t = 40 + (unsigned)(216.0 * sqrt((double)n / max));
        int xa = x0 + b * w / nb, xb = x0 + (b + 1) * w / nb;
        fill(c, xa, ya, xb > xa ? xb - xa : 1, yb - ya,
             mix(RGB_MINIMAP, RGB_HEAT, t > 256 ? 256 : t));
      }
    }
  }
  unclip(c);
  free(sum);
}

/* 1 if the cache holds the heat map this frame would draw at (x0, y0, w, h). */
static int minimap_cached(const rc *r, int x0, int y0, int w, int h) {
  const vw_render_cache *k = r->cache;
  return k && k->valid && k->m == r->m && k->records == r->info->records &&
         k->first == r->info->first_cycle && k->last == r->info->last_cycle &&
         k->ver == vw_model_density_version(r->m) &&
         k->x0 == x0 && k->y0 == y0 && k->w == w && k->h == h && k->nvis == r->l.nlanes &&
         k->ncpus == r->ncpus && k->amask == r->c.amask &&
         !memcmp(k->row, r->row, r->ncpus * sizeof *r->row);
}

/* Copies the rectangle (x0, y0, w, h), as far as it is on the surface,
   from the surface into the cache (save) or back. */
static void minimap_copy(rc *r, int x0, int y0, int w, int h, int save) {
  vw_render_cache *k = r->cache;
  SDL_Rect want = {x0, y0, w, h}, on;
  if (save) {
    k->valid = 0;
    SDL_Rect all = {0, 0, r->c.s->w, r->c.s->h};
    if (!SDL_IntersectRect(&want, &all, &on)) on = (SDL_Rect){0, 0, 0, 0};
    size_t npx = (size_t)on.w * (size_t)on.h, nrow = r->ncpus ? r->ncpus : 1;
    if (npx > k->pxcap) {
      uint32_t *p = realloc(k->px, npx * sizeof *p);
      if (!p) return;
      k->px = p;
      k->pxcap = npx;
    }
    if (nrow > k->rowcap) {
      int32_t *p = realloc(k->row, nrow * sizeof *p);
      if (!p) return;
      k->row = p;
      k->rowcap = nrow;
    }
    k->rect = on;
  }
  on = k->rect;
  for (int y = 0; y < on.h; y++) {
    uint32_t *fb = row_of(&r->c, on.y + y) + on.x, *mem = k->px + (size_t)y * (size_t)on.w;
    if (save) memcpy(mem, fb, (size_t)on.w * sizeof *fb);
    else memcpy(fb, mem, (size_t)on.w * sizeof *fb);
  }
  if (!save) return;
  memcpy(k->row, r->row, r->ncpus * sizeof *r->row);
  k->m = r->m;
  k->records = r->info->records;
  k->first = r->info->first_cycle;
  k->last = r->info->last_cycle;
  k->ver = vw_model_density_version(r->m);
  k->x0 = x0;
  k->y0 = y0;
  k->w = w;
  k->h = h;
  k->nvis = r->l.nlanes;
  k->ncpus = r->ncpus;
  k->amask = r->c.amask;
  k->valid = 1;
}

static void draw_minimap(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  const vw_view *v = r->v;
  int x0 = l->timeline_x, w = l->timeline_w, y0 = l->minimap_y, h = l->minimap_h;
  if (h <= 0) return;
  text_in(c, 4, y0 + (h - VW_FONT_H) / 2, l->timeline_x - 6, RGB_DIM, "all");
  if (minimap_cached(r, x0, y0, w, h)) {
    minimap_copy(r, x0, y0, w, h, 0);
    r->cache->hits++;
  } else {
    fill(c, x0, y0, w, h, RGB_MINIMAP);
    if (l->nlanes > 0) minimap_heat(r, x0, y0, w, h);
    if (r->cache) minimap_copy(r, x0, y0, w, h, 1);
  }
  if (l->nlanes <= 0) return;
  clip_to(c, x0, y0, w, h);
  /* the visible window and the playhead, on the whole trace's scale */
  uint64_t lo = r->info->first_cycle, hi = r->info->last_cycle + 1;
  double k = hi > lo ? (double)w / (double)(hi - lo) : 0;
  int a = x0 + (int)((double)(v->t0 - lo) * k), b = x0 + (int)((double)(v->t1 - lo) * k);
  if (b - a < 3) b = a + 3;
  frame_rect(c, a, y0, b - a, h, 0xffffff);
  frame_rect(c, a + 1, y0 + 1, b - a - 2, h - 2, 0x202020);
  int p = x0 + (int)((double)(v->playhead - lo) * k);
  fill(c, p, y0, 1, h, RGB_SELECT);
  for (int i = 0; i < v->nmarkers; i++) {
    int mx = x0 + (int)((double)(v->markers[i] - lo) * k);
    fill(c, mx, y0, 1, h, RGB_MARKER);
  }
  unclip(c);
}

/* ---- side panel: the selected core at the playhead ---- */

/* One 256-bit register as 16x16 cells: row = priority class (vector >> 4),
   column = vector & 15; returns the height drawn. */
static int draw_grid(cv *c, int x, int y, int cs, const char *name, const uint32_t bits[8],
                     int ppr_class) {
  text(c, x, y, VW_RGB_TEXT, name);
  if (ppr_class >= 0) {  /* what the tick beside the grid is */
    int lx = x + vw_text_width(name) + 8;
    fill(c, lx, y + 1, 2, VW_FONT_H - 2, VW_RGB_ARROW);
    text(c, lx + 5, y, RGB_DIM, "PPR");
  }
  y += VW_FONT_H + 1;
  int gx = x + 12;
  for (int col = 0; col < 16; col += 4) {
    char h[16];
    snprintf(h, sizeof h, "%x", col);
    text(c, gx + col * cs + (cs - VW_FONT_W) / 2 + 1, y, RGB_DIM, h);
  }
  y += VW_FONT_H;
  fill(c, gx - 1, y - 1, 16 * cs + 1, 16 * cs + 1, RGB_GRID_EDGE);
  for (int row = 0; row < 16; row++) {
    if (row % 4 == 0 || row == 15) {
      char h[16];
      snprintf(h, sizeof h, "%x", row);
      text(c, x, y + row * cs + (cs - VW_FONT_H) / 2 + 1, RGB_DIM, h);
    }
    for (int col = 0; col < 16; col++) {
      int vec = row * 16 + col;
      int on = (bits[vec >> 5] >> (vec & 31)) & 1;
      fill(c, gx + col * cs, y + row * cs, cs - 1, cs - 1, on ? VW_RGB_GRID_ON : RGB_GRID_OFF);
    }
  }
  if (ppr_class >= 0 && ppr_class < 16)   /* classes at or below PPR are masked */
    fill(c, gx + 16 * cs + 1, y + ppr_class * cs, 2, cs - 1, VW_RGB_ARROW);
  return VW_FONT_H * 2 + 1 + 16 * cs + 4;
}

static const char *run_name(uint8_t run) {
  switch (run) {
    case APIC_CORE_NOPROG: return "no program";
    case APIC_CORE_RUNNING: return "running";
    case APIC_CORE_HALTED: return "halted";
    case APIC_CORE_DONE: return "done (idle)";
    case APIC_CORE_WAIT_SIPI: return "waiting for SIPI";
    default: return "?";
  }
}

static void draw_panel(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  const vw_view *v = r->v;
  if (l->panel_w <= 0) return;
  int x = l->panel_x, y = TITLE_H, w = l->panel_w, h = c->s->h - STATUS_H - TITLE_H;
  fill(c, x, y, w, h, RGB_PANEL);
  fill(c, x, y, 1, h, RGB_GRID_EDGE);
  clip_to(c, x + 1, y, w - 1, h);
  x += 8;
  y += 4;
  char buf[160], ns[24];
  uint32_t cpu = v->selected;
  snprintf(buf, sizeof buf, "cpu %u", cpu);
  text(c, x, y, 0xffffff, buf);
  fmt_ns(ns, sizeof ns, ns_of(r->m, v->playhead));
  snprintf(buf, sizeof buf, "at %llu (%s)", (unsigned long long)v->playhead, ns);
  text(c, x, y + 11, RGB_DIM, buf);
  y += 24;
  apic_trace *t = vw_model_trace(r->m);
  apic_lapic_state ls;
  apic_core_state cs;
  int err = !t || cpu >= r->ncpus;
  if (!err) err = vw_model_trace_at(r->m, v->playhead, &t) != APIC_OK;
  if (!err) err = apic_trace_lapic_state(t, cpu, &ls) != APIC_OK ||
                  apic_trace_core_state(t, cpu, &cs) != APIC_OK;
  if (err) {
    text(c, x, y, RGB_ERROR, "no state at this cycle:");
    text_in(c, x, y + 11, w - 12, RGB_DIM, t ? apic_trace_errmsg(t) : "no trace");
    unclip(c);
    return;
  }
  snprintf(buf, sizeof buf, "APIC id %u%s  %s", ls.id, ls.x2apic ? " x2APIC" : "",
           (ls.svr & APIC_SVR_ENABLE) ? "enabled" : "disabled");
  text(c, x, y, VW_RGB_TEXT, buf);
  snprintf(buf, sizeof buf, "%s  IF=%u%s%s", run_name(cs.run), cs.if_flag,
           cs.nmi_blocked ? " NMI-blocked" : "", cs.in_smm ? " SMM" : "");
  text(c, x, y + 11, VW_RGB_TEXT, buf);
  snprintf(buf, sizeof buf, "TPR %02x  PPR %02x  APR %02x", ls.tpr & 0xFF, ls.ppr & 0xFF,
           ls.apr & 0xFF);
  text(c, x, y + 22, VW_RGB_TEXT, buf);
  /* handler nesting, outermost first */
  int k = snprintf(buf, sizeof buf, "nest %u:", cs.nest);
  uint32_t shown = cs.nest < APIC_CORE_MAX_NEST ? cs.nest : APIC_CORE_MAX_NEST;
  for (uint32_t i = 0; i < shown && k > 0 && (size_t)k < sizeof buf; i++) {
    uint16_t vec = cs.vectors[i];
    if (vec == 2) k += snprintf(buf + k, sizeof buf - (size_t)k, " NMI");
    else if (vec == APIC_VECTOR_SMI) k += snprintf(buf + k, sizeof buf - (size_t)k, " SMI");
    else k += snprintf(buf + k, sizeof buf - (size_t)k, " %02x", vec);
  }
  if (!cs.nest) snprintf(buf + k, sizeof buf - (size_t)k, " none");
  text_in(c, x, y + 33, w - 12, VW_RGB_TEXT, buf);
  char pend[96] = "";
  snprintf(pend, sizeof pend, "%s%s%s%s%s%s", ls.nmi_pending ? " NMI" : "",
           ls.smi_pending ? " SMI" : "", ls.init_pending ? " INIT" : "",
           ls.sipi_pending ? " SIPI" : "", ls.extint_pending ? " ExtINT" : "",
           ls.wait_sipi ? " wait-SIPI" : "");
  snprintf(buf, sizeof buf, "pending:%s", pend[0] ? pend : " -");
  text_in(c, x, y + 44, w - 12, VW_RGB_TEXT, buf);
  y += 58;
  /* three grids, as large as fit */
  int avail = c->s->h - STATUS_H - y - 3 * (VW_FONT_H * 2 + 5) - 24;
  int cs_px = avail / 48;
  int byw = (w - 36) / 16;
  if (cs_px > byw) cs_px = byw;
  if (cs_px > 10) cs_px = 10;
  if (cs_px < 3) cs_px = 3;
  int ppr_class = (int)((ls.ppr >> 4) & 15), bottom = c->s->h - STATUS_H;
  int grid_h = VW_FONT_H * 2 + 1 + 16 * cs_px + 4;   /* what draw_grid takes */
  /* in a short window the last grids are left out rather than cut off */
  if (y + grid_h <= bottom) y += draw_grid(c, x, y, cs_px, "IRR (requests)", ls.irr, -1);
  if (y + grid_h <= bottom) y += draw_grid(c, x, y, cs_px, "ISR (in service)", ls.isr, ppr_class);
  if (y + grid_h <= bottom) y += draw_grid(c, x, y, cs_px, "TMR (level)", ls.tmr, -1);
  if (ls.timer_next && y + VW_FONT_H <= bottom) {
    snprintf(buf, sizeof buf, "timer fires at %llu", (unsigned long long)ls.timer_next);
    text_in(c, x, y, w - 12, RGB_DIM, buf);
  }
  unclip(c);
}

/* ---- boxes: details, statistics, help ---- */

static void flags_text(char *out, size_t n, uint32_t f) {
  static const char *const sh[4] = {"none", "self", "all", "others"};
  snprintf(out, n, "%s %s %s sh=%s%s", f & APIC_EVF_LOGICAL ? "logical" : "physical",
           f & APIC_EVF_LEVEL ? "level" : "edge", f & APIC_EVF_ASSERT ? "assert" : "deassert",
           sh[(f >> APIC_EVF_SH_SHIFT) & 3], f & APIC_EVF_IOAPIC ? " ioapic" : "");
}

static void draw_details(rc *r) {
  cv *c = &r->c;
  const vw_view *v = r->v;
  const vw_layout *l = &r->l;
  if (!v->has_sel_event) return;
  const apic_event *e = &v->sel_event;
  char lines[14][160];
  int n = 0;
  char ns[24], fl[80];
  fmt_ns(ns, sizeof ns, ns_of(r->m, e->cycle));
  snprintf(lines[n++], sizeof lines[0], "%s at cycle %llu (%s)",
           e->kind < APIC_EV__COUNT ? apic_event_name(e->kind) : "?",
           (unsigned long long)e->cycle, ns);
  snprintf(lines[n++], sizeof lines[0], "  %s",
           e->kind < APIC_EV__COUNT ? event_docs[e->kind] : "unknown kind");
  if (e->cpu == APIC_NONE) snprintf(lines[n++], sizeof lines[0], "cpu      -");
  else snprintf(lines[n++], sizeof lines[0], "cpu      %u", e->cpu);
  if (e->src == APIC_NONE) snprintf(lines[n++], sizeof lines[0], "src      -");
  else snprintf(lines[n++], sizeof lines[0], "src      %s %u",
                e->flags & APIC_EVF_IOAPIC ? "I/O APIC" : "cpu", e->src);
  snprintf(lines[n++], sizeof lines[0], "dest     0x%x", e->dest);
  snprintf(lines[n++], sizeof lines[0], "mode     %s (%u)  vector 0x%02x (%u)",
           mode_names[e->mode & 7], e->mode, e->vector, e->vector);
  flags_text(fl, sizeof fl, e->flags);
  snprintf(lines[n++], sizeof lines[0], "flags    0x%x: %s", e->flags, fl);
  snprintf(lines[n++], sizeof lines[0], "msg      %llu", (unsigned long long)e->msg);
  snprintf(lines[n++], sizeof lines[0], "a 0x%x  b 0x%x  x %llu", e->a, e->b,
           (unsigned long long)e->x);
  /* latency: the handler-entry arrows of this event's message */
  int nl = 0;
  if (r->f && !r->f->from_overview) {
    uint64_t msg = e->msg;
    for (uint32_t i = 0; !msg && i < r->f->narrows; i++) {
      const vw_arrow *a = &r->f->arrows[i];
      if ((a->to_cycle == e->cycle && a->to_lane == e->cpu) ||
          (a->from_cycle == e->cycle && a->from_lane == e->cpu))
        msg = a->msg;
    }
    for (uint32_t i = 0; msg && i < r->f->narrows && n < 14; i++) {
      const vw_arrow *a = &r->f->arrows[i];
      if (a->msg != msg || a->kind != VW_ARROW_HANDLER) continue;
      if (e->cpu != APIC_NONE && e->cpu != a->from_lane && e->cpu != a->to_lane) continue;
      uint64_t d = a->to_cycle - a->from_cycle;
      char from[32];
      if (a->from_lane < r->ncpus) snprintf(from, sizeof from, "cpu %u ICR", a->from_lane);
      else if ((a->from_lane & 0xFFFF0000u) == 0xFFFF0000u)
        snprintf(from, sizeof from, "pin io%u.%u", (a->from_lane >> 8) & 255, a->from_lane & 255);
      else snprintf(from, sizeof from, "bus");
      fmt_ns(ns, sizeof ns, ns_of(r->m, d));
      snprintf(lines[n++], sizeof lines[0], "latency  %llu cycles (%s): %s @%llu -> cpu %u handler @%llu",
               (unsigned long long)d, ns, from, (unsigned long long)a->from_cycle, a->to_lane,
               (unsigned long long)a->to_cycle);
      nl++;
    }
  }
  if (!nl && n < 14)
    snprintf(lines[n++], sizeof lines[0], "latency  - (no handler entry in view for it)");
  int w = 0;
  for (int i = 0; i < n; i++) {
    int tw = vw_text_width(lines[i]);
    if (tw > w) w = tw;
  }
  w += 12;
  if (w > l->timeline_w - 8) w = l->timeline_w - 8;
  int h = n * 11 + 8;
  int x = l->timeline_x + 4, y = l->minimap_y - GAP - h - 2;
  if (y < l->lanes_y) y = l->lanes_y;
  box(c, x, y, w, h);
  for (int i = 0; i < n; i++)
    text_in(c, x + 6, y + 4 + i * 11, w - 10, i == 0 ? 0xffffff : VW_RGB_TEXT, lines[i]);
}

static void draw_stats(rc *r) {
  cv *c = &r->c;
  const vw_layout *l = &r->l;
  const vw_view *v = r->v;
  if (!v->show_stats) return;
  vw_stats st;
  memset(&st, 0, sizeof st);
  int ok = vw_model_stats(r->m, v->t0, v->t1, &st) == 0;
  int w = 360, x = l->timeline_x + l->timeline_w - w - 4, y = l->lanes_y + 2;
  if (x < l->timeline_x) x = l->timeline_x;
  int rows = ok ? (int)(st.nvec < 12 ? st.nvec : 12) : 0;
  uint32_t mn = ok && st.matrix ? st.n : 0;
  int cell = mn ? 160 / (int)mn : 0;
  if (cell > 10) cell = 10;
  if (mn && cell < 2) cell = 2;
  int h = 8 + 11 * (3 + rows) + (mn ? 16 + (int)mn * cell + 4 : 0);
  box(c, x, y, w, h);
  char buf[160];
  int ty = y + 4;
  if (!ok) {
    text(c, x + 6, ty, RGB_ERROR, "statistics unavailable");
    return;
  }
  snprintf(buf, sizeof buf, "visible range: %llu deliveries, %u vectors",
           (unsigned long long)st.deliveries, st.nvec);
  text(c, x + 6, ty, 0xffffff, buf);
  ty += 11;
  text(c, x + 6, ty, RGB_DIM, "vec    count      min   median      p99      max");
  ty += 11;
  for (int i = 0; i < rows; i++, ty += 11) {
    snprintf(buf, sizeof buf, " %02x %8llu %8llu %8llu %8llu %8llu", st.vec[i].vector,
             (unsigned long long)st.vec[i].count, (unsigned long long)st.vec[i].min,
             (unsigned long long)st.vec[i].median, (unsigned long long)st.vec[i].p99,
             (unsigned long long)st.vec[i].max);
    text_in(c, x + 6, ty, w - 10, VW_RGB_TEXT, buf);
  }
  if (st.nvec > (uint32_t)rows) {
    snprintf(buf, sizeof buf, "(%u more vectors)", st.nvec - (uint32_t)rows);
    text(c, x + 6, ty, RGB_DIM, buf);
  }
  ty += 11;
  if (mn) {
    uint32_t max = 0;
    for (uint32_t i = 0; i < mn * mn; i++)
      if (st.matrix[i] > max) max = st.matrix[i];
    snprintf(buf, sizeof buf, "sender (row) x receiver (col), max %u", max);
    text(c, x + 6, ty, RGB_DIM, buf);
    ty += 14;
    for (uint32_t s = 0; s < mn; s++)
      for (uint32_t d = 0; d < mn; d++) {
        uint32_t n = st.matrix[s * mn + d];
        uint32_t col = n && max ? mix(RGB_GRID_OFF, RGB_HEAT, 60 + 196 * n / max) : RGB_GRID_OFF;
        fill(c, x + 8 + (int)d * cell, ty + (int)s * cell, cell > 2 ? cell - 1 : cell,
             cell > 2 ? cell - 1 : cell, col);
      }
  }
  vw_stats_free(&st);
}

static const char *const help_lines[] = {
  "apicview keys",
  "",
  "W / S, wheel     zoom in / out at the mouse",
  "A / D, drag      pan left / right",
  "Home or 0        fit the whole trace",
  "F                fit the selection (event's message, or the two markers)",
  ". / ,  Right/Left next / previous event (playhead and details follow)",
  "] / [            follow the selected flow: receiver end / sender end",
  "/                search: an event kind (handler_enter) or a vector (0xfb);",
  "                 Enter jumps to the next match; N / Shift+N again",
  "G                go to a cycle: G, digits, Enter",
  "M / Shift+M      drop a marker (two show the distance) / clear markers",
  "Space            play / pause the replay;  + / -  speed x2 / /2",
  "Up / Down        select the previous / next core (side panel)",
  "click            select a core and the event under the mouse",
  "C / Shift+C      hide the selected core / show all cores",
  "V / Shift+V      show only the next / previous vector present, then all",
  "T                statistics of the visible range",
  "Esc              close help, deselect, then clear markers",
  "? or F1          this help;  Ctrl+Q or closing the window quits",
  "minimap (bottom) click or drag to move the window; hover: event in status",
  "",
  "lanes: green running, brown IF=0, grey halted, purple wait-for-SIPI,",
  "blue..violet in a handler (by priority class, vector written when it fits);",
  "yellow arrows ICR write -> IRR set (dashed) and -> handler entry,",
  "red arrows with an X: coalesced into a pending IRR bit; orange: bus retries",
};

static void draw_help(rc *r) {
  cv *c = &r->c;
  if (!r->v->show_help) return;
  int n = (int)(sizeof help_lines / sizeof help_lines[0]);
  int w = 0;
  for (int i = 0; i < n; i++) {
    int tw = vw_text_width(help_lines[i]);
    if (tw > w) w = tw;
  }
  w += 20;
  int h = n * 11 + 14;
  int x = (c->s->w - w) / 2, y = (c->s->h - h) / 2;
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  box(c, x, y, w, h);
  for (int i = 0; i < n; i++)
    text(c, x + 10, y + 7 + i * 11, i == 0 ? 0xffffff : VW_RGB_TEXT, help_lines[i]);
}

/* ---- entry points ---- */

static void render32(SDL_Surface *s, vw_model *m, const vw_view *view, vw_render_cache *cache) {
  vw_view v = *view;
  v.w = s->w;
  v.h = s->h;
  rc r;
  memset(&r, 0, sizeof r);
  r.cache = cache;
  r.c.s = s;
  r.c.amask = s->format->Amask;
  r.m = m;
  r.v = &v;
  unclip(&r.c);
  fill(&r.c, 0, 0, s->w, s->h, VW_RGB_BG);
  vw_layout_get(&v, m, &r.l);
  r.t0 = v.t0;
  r.span = v.t1 - v.t0 > 0 ? (double)(v.t1 - v.t0) : 1;
  r.x0 = r.l.timeline_x;
  r.tw = r.l.timeline_w;
  r.info = vw_model_info(m);
  r.ncpus = r.info->config.ncpus;
  r.row = malloc((r.ncpus ? r.ncpus : 1) * sizeof *r.row);
  r.npins = r.l.npins;
  r.pin_io = malloc((size_t)(r.npins + 1) * sizeof *r.pin_io);
  r.pin_no = malloc((size_t)(r.npins + 1) * sizeof *r.pin_no);
  if (!r.row || !r.pin_io || !r.pin_no) {
    vw_render_error(s, "out of memory while drawing");
    goto done;
  }
  int32_t row = 0;
  for (uint32_t i = 0; i < r.ncpus; i++)
    r.row[i] = v.cpu_hidden && v.cpu_hidden[i] ? -1 : row++;
  for (int i = 0; i < r.npins; i++) vw_model_pins(m, (uint32_t)i, &r.pin_io[i], &r.pin_no[i]);
  r.f = vw_model_query(m, v.t0, v.t1, (uint32_t)r.l.timeline_w);
  draw_axis(&r);
  draw_lanes(&r);
  draw_density(&r);
  draw_bus(&r);
  draw_pins(&r);
  draw_arrows(&r);
  draw_cursors(&r);
  draw_title(&r);
  draw_minimap(&r);
  draw_panel(&r);
  draw_details(&r);
  draw_stats(&r);
  draw_help(&r);
  draw_status(&r);
done:
  unclip(&r.c);
  free(r.row);
  free(r.pin_io);
  free(r.pin_no);
}

/* Runs fn on s directly if it is 32-bit, else on a 32-bit copy blitted back. */
static void with_32bit(SDL_Surface *s, void (*fn)(SDL_Surface *, void *), void *ud) {
  if (s->format->BytesPerPixel == 4) {
    int locked = SDL_MUSTLOCK(s) && SDL_LockSurface(s) == 0;
    fn(s, ud);
    if (locked) SDL_UnlockSurface(s);
    return;
  }
  SDL_Surface *t = SDL_CreateRGBSurfaceWithFormat(0, s->w, s->h, 32, SDL_PIXELFORMAT_XRGB8888);
  if (!t) return;
  fn(t, ud);
  SDL_BlitSurface(t, NULL, s, NULL);
  SDL_FreeSurface(t);
}

typedef struct render_args { vw_model *m; const vw_view *v; vw_render_cache *cache; } render_args;

static void render_cb(SDL_Surface *s, void *ud) {
  render_args *a = ud;
  render32(s, a->m, a->v, a->cache);
}

void vw_render_cached(SDL_Surface *s, vw_model *m, const vw_view *v, vw_render_cache *c) {
  if (!s || !v) return;
  if (!m) {
    vw_render_error(s, "no trace loaded");
    return;
  }
  render_args a = {m, v, c};
  with_32bit(s, render_cb, &a);
}

void vw_render(SDL_Surface *s, vw_model *m, const vw_view *v) { vw_render_cached(s, m, v, NULL); }

vw_render_cache *vw_render_cache_new(void) { return calloc(1, sizeof(vw_render_cache)); }

uint64_t vw_render_cache_hits(const vw_render_cache *c) { return c ? c->hits : 0; }

void vw_render_cache_free(vw_render_cache *c) {
  if (!c) return;
  free(c->px);
  free(c->row);
  free(c);
}

typedef struct error_args { const char *msg; } error_args;

static void error_cb(SDL_Surface *s, void *ud) {
  const char *msg = ((const error_args *)ud)->msg;
  cv c;
  c.s = s;
  c.amask = s->format->Amask;
  unclip(&c);
  fill(&c, 0, 0, s->w, s->h, VW_RGB_BG);
  /* word-wrap the message into the box */
  int w = s->w - 40 < 600 ? s->w - 40 : 600;
  if (w < 60) w = s->w;
  int cols = (w - 20) / VW_FONT_W;
  if (cols < 8) cols = 8;
  char lines[24][128];
  int n = 0;
  const char *p = msg ? msg : "unknown error";
  while (*p && n < 24) {
    int len = (int)strlen(p);
    int take = len <= cols ? len : cols;
    if (take < len) {
      int k = take;
      while (k > 0 && p[k] != ' ') k--;
      if (k > 0) take = k;
    }
    if (take > 127) take = 127;
    memcpy(lines[n], p, (size_t)take);
    lines[n][take] = 0;
    n++;
    p += take;
    while (*p == ' ') p++;
  }
  int h = 40 + n * 11;
  int x = (s->w - w) / 2, y = (s->h - h) / 2;
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  fill(&c, x, y, w, h, RGB_BOX);
  frame_rect(&c, x, y, w, h, RGB_ERROR);
  frame_rect(&c, x + 1, y + 1, w - 2, h - 2, RGB_ERROR);
  vw_text(s, x + 10, y + 8, RGB_ERROR, "apicview: cannot show this trace");
  for (int i = 0; i < n; i++) vw_text(s, x + 10, y + 24 + i * 11, VW_RGB_TEXT, lines[i]);
}

void vw_render_error(SDL_Surface *s, const char *msg) {
  if (!s) return;
  error_args a = {msg};
  with_32bit(s, error_cb, &a);
}
