/*
 * viewer.h - apicview, the trace viewer: the modules and what flows between
 * them (private to viewer/).
 *
 *   model.c   trace -> what there is to draw in a cycle window: per-core
 *             state segments, messages, arrows, pin levels, events; a chunk
 *             cache decoded on demand and ahead of a pan (on a thread of its
 *             own) and an overview built progressively, so opening is
 *             instant and zoomed-out frames stay cheap
 *   view.c    the view state (window, selection, markers, playhead, filters)
 *             and how keys, wheel and mouse change it: pure logic, testable
 *   render.c  draws a frame into an SDL_Surface with plain pixel writes
 *             (pixel-identical on every SDL video driver, and headless)
 *   font.c    the built-in 6x10 bitmap font: the viewer needs only SDL2
 *   main.c    command line, window or headless render, the event loop
 *
 * Data flows model -> render, view -> render; view asks model for events
 * (next/previous, search); nothing flows back into the model.
 */
#ifndef APICVIEW_VIEWER_H
#define APICVIEW_VIEWER_H

#include <stddef.h>
#include <stdint.h>
#include <SDL.h>
#include "apicsim/trace.h"

/* ---- model ---- */

/* What a core lane shows (colour), in priority order for aggregation. */
typedef enum vw_state {
  VW_NONE = 0,      /* no data (before the trace, or no program) */
  VW_RUN,           /* running its program */
  VW_IRQOFF,        /* running with IF = 0 */
  VW_HALT,          /* HLT, or program done and idle */
  VW_WAIT_SIPI,     /* after INIT */
  VW_HANDLER,       /* in a handler (vector in seg.vector; NMI 2, SMI 256) */
  VW_STATE_COUNT
} vw_state;

/* A span of one lane, already clipped to the query window. */
typedef struct vw_seg {
  uint64_t from, to;      /* cycles, to exclusive */
  uint8_t state;          /* vw_state */
  uint16_t vector;        /* handler vector */
  uint8_t depth;          /* handler nesting (0 = first level) */
  uint8_t mixed;          /* an aggregate of spans smaller than a pixel */
} vw_seg;

/* A message on the interconnect. */
typedef struct vw_msg {
  uint64_t id;            /* message id (apic_event.msg) */
  uint64_t sent, left, done;  /* MSG_SEND, MSG_DONE (left sender), last delivery */
  uint32_t src;           /* core, or I/O APIC index if from_ioapic */
  uint8_t from_ioapic, vector, mode, retries;
  uint32_t dest;
  uint32_t flags;         /* APIC_EVF_* */
} vw_msg;

/* An arrow: from a sender's ICR write (or pin change) to a receiver. */
typedef struct vw_arrow {
  uint64_t from_cycle, to_cycle;
  uint32_t from_lane, to_lane;   /* core index; VW_LANE_PIN(..) for pins */
  uint64_t msg;
  uint8_t vector;
  uint8_t kind;                  /* VW_ARROW_IRR, _HANDLER, _COALESCED */
} vw_arrow;
enum { VW_ARROW_IRR = 0, VW_ARROW_HANDLER = 1, VW_ARROW_COALESCED = 2 };
#define VW_LANE_BUS 0xFFFFFF00u
#define VW_LANE_PIN(io, pin) (0xFFFF0000u | ((io) << 8) | (pin))

/* A level segment of an I/O APIC pin. */
typedef struct vw_pinseg { uint64_t from, to; uint8_t level; } vw_pinseg;

typedef struct vw_model vw_model;

/* Opens a trace: reads only the header and chunk directory. */
int vw_model_open(vw_model **out, const char *path, char *why, size_t why_size);
void vw_model_close(vw_model *m);
const apic_trace_info *vw_model_info(const vw_model *m);
apic_trace *vw_model_trace(vw_model *m);     /* for state at a cycle (panel) */
/*
 * The panel's reader standing at cycle: its state is what apic_trace_seek(t,
 * cycle) gives, but the same cycle again costs nothing and a later one reads
 * on from where it stands when that is cheaper than a seek (a playhead moving
 * a little each frame). Then apic_trace_now() is that of the last record read,
 * not cycle, and so are the timer's current count and the ICR delivery status
 * derived from it. *t is vw_model_trace(m) (for apic_trace_errmsg).
 */
int vw_model_trace_at(vw_model *m, uint64_t cycle, apic_trace **t);
/* Pins that ever change level: count and (io, pin) pairs. */
uint32_t vw_model_pins(const vw_model *m, uint32_t i, uint32_t *io, uint32_t *pin);

/*
 * Builds more of the overview (per-core state and event density over the
 * whole trace, used when a window covers many chunks and for the minimap),
 * for at most budget_ms; returns 1 when complete. Call once per frame: it
 * also hands the blocks a pan will want next to the model's decoding
 * thread (the model has one from open to close).
 */
int vw_model_overview_step(vw_model *m, double budget_ms);
/* Events per core in bucket b of nbuckets over the whole trace (minimap). */
uint32_t vw_model_density(const vw_model *m, uint32_t cpu, uint32_t b, uint32_t nbuckets);
/*
 * The same for every core and bucket at once: ncpus rows of nbuckets, row cpu
 * holding vw_model_density(m, cpu, b, nbuckets). Kept between calls and
 * brought up to date only where the overview has grown since, so that a
 * frame pays for what changed. Valid until the next call; NULL if out of
 * memory.
 */
const uint32_t *vw_model_density_table(vw_model *m, uint32_t nbuckets);
/* Changes whenever vw_model_density may answer differently (caches key on it). */
uint64_t vw_model_density_version(const vw_model *m);

/*
 * What is visible in [from, to) at `cols` pixels across: segments per lane
 * (merged where smaller than a pixel), messages, arrows, pin segments.
 * The result stays valid until the next query. Cost: the chunks that overlap
 * the window when zoomed in; the overview when zoomed out.
 */
typedef struct vw_frame {
  vw_seg **lane;          /* ncpus arrays */
  uint32_t *nlane;
  vw_msg *msgs; uint32_t nmsgs;
  vw_arrow *arrows; uint32_t narrows;
  vw_pinseg **pin; uint32_t *npin;   /* per used pin, in vw_model_pins order */
  int from_overview;      /* 1 if drawn from the overview (no arrows, no messages) */
} vw_frame;
const vw_frame *vw_model_query(vw_model *m, uint64_t from, uint64_t to, uint32_t cols);

/* Event navigation: first event after (or last before) cycle matching. */
typedef struct vw_filter {
  uint32_t cpu;           /* APIC_NONE = any */
  int vector;             /* -1 = any */
  int kind;               /* apic_event_kind, -1 = any */
} vw_filter;
int vw_model_find(vw_model *m, uint64_t cycle, int forward, const vw_filter *f,
                  apic_event *out);
/* The event nearest (cpu, cycle) within +-slack cycles, for hover/click. */
int vw_model_pick(vw_model *m, uint32_t lane, uint64_t cycle, uint64_t slack, apic_event *out);

/* Latency statistics of the messages in [from, to): per vector and a
   sender x receiver matrix (counts). */
typedef struct vw_stats {
  uint64_t deliveries;
  struct { uint8_t vector; uint64_t count, min, median, p99, max; } vec[256];
  uint32_t nvec;
  uint32_t n;             /* matrix side (cores, capped at 64) */
  uint32_t *matrix;       /* n x n: sender row, receiver column */
} vw_stats;
int vw_model_stats(vw_model *m, uint64_t from, uint64_t to, vw_stats *out);
void vw_stats_free(vw_stats *s);

/* ---- font ---- */

#define VW_FONT_W 6
#define VW_FONT_H 10
void vw_text(SDL_Surface *s, int x, int y, uint32_t rgb, const char *text);
int vw_text_width(const char *text);

/* ---- view ---- */

typedef struct vw_view {
  uint64_t t0, t1;          /* visible window, cycles */
  uint64_t playhead;        /* state panel follows it */
  int playing;
  double speed;             /* cycles per second of host time while playing */
  uint32_t selected;        /* core whose panel is shown */
  int has_sel_event;
  apic_event sel_event;     /* clicked event (details box) */
  int nmarkers;
  uint64_t markers[2];
  uint8_t *cpu_hidden;      /* ncpus flags (filter) */
  int vector_filter;        /* -1 = all */
  int show_help, show_stats;
  int w, h;                 /* window size in pixels */
  int drag, drag_x;         /* panning with the mouse */
  uint64_t drag_t0;
  int mouse_x, mouse_y;     /* last pointer position: W/S zoom around it */
  char search[64];          /* '/' search text: an event kind name or a vector */
  int searching;
  char status[160];         /* one line of feedback at the bottom */
} vw_view;

void vw_view_init(vw_view *v, const vw_model *m, int w, int h);
/* Applies one SDL event; returns 1 if the view changed (redraw). */
int vw_view_event(vw_view *v, vw_model *m, const SDL_Event *e);
/* Advances the playhead while playing; returns 1 if it moved. */
int vw_view_tick(vw_view *v, const vw_model *m, double dt_seconds);
/* Layout shared by render and input: where lanes are. */
typedef struct vw_layout {
  int timeline_x, timeline_w;     /* the time axis spans these pixels */
  int lanes_y, lane_h, nlanes;    /* core lanes (visible ones) */
  int bus_y, bus_h, pins_y, pin_h, npins;
  int minimap_y, minimap_h;
  int panel_x, panel_w;           /* side panel for the selected core */
  int density;                    /* 1 if lanes are collapsed to a density view */
} vw_layout;
void vw_layout_get(const vw_view *v, const vw_model *m, vw_layout *l);
uint64_t vw_x_to_cycle(const vw_view *v, const vw_layout *l, int x);
int vw_cycle_to_x(const vw_view *v, const vw_layout *l, uint64_t cycle);

/* ---- render ---- */

/* Palette: one colour per vw_state, handler colours per priority class. */
uint32_t vw_state_rgb(uint8_t state, uint16_t vector);
#define VW_RGB_BG      0x101418u
#define VW_RGB_TEXT    0xE0E0E0u
#define VW_RGB_ARROW   0xF0C040u
#define VW_RGB_COALESCE 0xFF4060u
#define VW_RGB_GRID_ON 0x50D070u

/* Draws one frame of the view into s (any size). */
void vw_render(SDL_Surface *s, vw_model *m, const vw_view *v);
/*
 * What the frames of one window, over one model, can share: the minimap's
 * pixels, kept until the overview, the layout or the hidden cores change.
 * vw_render_cached draws exactly what vw_render draws (c may be NULL).
 */
typedef struct vw_render_cache vw_render_cache;
vw_render_cache *vw_render_cache_new(void);
void vw_render_cache_free(vw_render_cache *c);
void vw_render_cached(SDL_Surface *s, vw_model *m, const vw_view *v, vw_render_cache *c);
/* Frames that reused the cached minimap (tests check that it is used). */
uint64_t vw_render_cache_hits(const vw_render_cache *c);
/* A message in place of the view (bad trace). */
void vw_render_error(SDL_Surface *s, const char *msg);
/* Writes an XRGB8888 surface as a PNG; 0 on success (png.c). */
int vw_save_png(SDL_Surface *s, const char *path);

#endif
