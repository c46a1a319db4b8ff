/*
 * main.c - the apicview command: parses the command line, then either
 * draws one frame into a PNG or BMP without any window (--render, --bench) or
 * opens a window and runs the event loop.
 *
 * The window path is SDL's software one: every frame is drawn by
 * vw_render into the window's own surface and shown with
 * SDL_UpdateWindowSurface, so what a user sees is exactly what --render
 * writes. A trace that cannot be opened is printed on stderr (and drawn as
 * the image with --render) and makes the exit status 1; no window opens for
 * it, nor where SDL has no display to show one on.
 */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime: the bench's CPU time */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>  /* strcasecmp */
#include <time.h>
#include "viewer.h"

/* Background work (overview, decoding ahead) a frame, in the window loop. */
#define STEP_BUDGET_MS 4.0

static const char usage_text[] =
    "usage: apicview TRACE [options]\n"
    "\n"
    "Replays an apicsim trace (apicsim run SCENARIO -o TRACE): a lane per core,\n"
    "the interconnect with every message, the I/O APIC pins in use, arrows from\n"
    "each ICR write or pin to the IRR set and handler entry it caused, and the\n"
    "selected core's IRR/ISR/TMR, TPR/PPR and handler nesting at the playhead.\n"
    "\n"
    "options:\n"
    "  --render OUT.png   draw one frame without a window into OUT.png (or OUT.bmp) and exit\n"
    "                     (a trace that cannot be read gives the error image and\n"
    "                     exit status 1)\n"
    "  --at CYCLE         put the playhead (side panel state) at CYCLE\n"
    "  --window FROM:TO   show cycles FROM..TO (default: the whole trace)\n"
    "  --size WxH         window or image size in pixels (default 1280x720)\n"
    "  --select CORE      the core shown in the side panel (default 0)\n"
    "  --bench N          without a window: open the trace, build the overview,\n"
    "                     then draw N frames of a pan across it and N of jumps\n"
    "                     (minimap clicks) as the window loop does; print the\n"
    "                     open time and frame times (mean, p99, max)\n"
    "  -h, --help         this text\n"
    "\n"
    "keys:\n"
    "  W / S, wheel       zoom in / out around the mouse\n"
    "  A / D, drag        pan left / right\n"
    "  Home, 0            fit the whole trace\n"
    "  F                  fit the selection: the selected event's message, or the\n"
    "                     span between two markers\n"
    "  . / , (Right/Left) next / previous event; the playhead and details follow\n"
    "  ] / [              follow the selected flow to its receiver / sender end\n"
    "  /                  search: type an event kind (handler_enter, irr_set...) or\n"
    "                     a vector (0xfb), Enter jumps to the next match;\n"
    "                     N / Shift+N (or Enter) repeat it forwards / backwards\n"
    "  G                  go to a cycle: G, the number, Enter\n"
    "  M / Shift+M        drop a marker at the mouse (or the playhead); two show\n"
    "                     their distance in cycles and ns / clear the markers\n"
    "  Space              play / pause the replay;  + / -  double / halve its speed\n"
    "  Up / Down          select the previous / next core\n"
    "  click              select the core and the event under the mouse (details\n"
    "                     box: every field, latency to handler entry); click on\n"
    "                     the time axis moves the playhead; hover shows the event\n"
    "                     in the status line\n"
    "  minimap            click or drag to move the visible window\n"
    "  C / Shift+C        hide the selected core / show every core\n"
    "  V / Shift+V        show only the next / previous vector present, then all\n"
    "  T                  statistics of the visible range: deliveries, latency\n"
    "                     min/median/p99/max per vector, sender x receiver matrix\n"
    "  Esc                close help, deselect the event, then clear markers\n"
    "  ?, F1              key help overlay\n"
    "  Ctrl+Q, Ctrl+W     quit\n"
    "\n"
    "colours (also in the status line of every frame):\n"
    "  lanes              green running, brown IF=0, grey halted, purple waiting for\n"
    "                     SIPI, blue..violet in a handler (a hue per priority class,\n"
    "                     the vector written when it fits); checkered: spans shorter\n"
    "                     than a pixel, shown as the state that covers most of them\n"
    "  arrows             yellow: ICR write -> IRR set (dashed) and -> handler entry;\n"
    "                     red with an X: coalesced into a pending IRR bit\n"
    "  side panel         green cells: bits set; the yellow tick beside the ISR grid\n"
    "                     marks the PPR's priority class (classes at or below it wait)\n"
    "\n"
    "Many cores (when a lane would be under 3 pixels) collapse into a density\n"
    "view: each pixel row averages the colours of a group of cores.\n";

typedef struct opts {
  const char *trace, *render;
  int at_set, window_set, select_set;
  uint64_t at, from, to;
  uint32_t select;
  int w, h;
  long bench;
} opts;

/* Prints "apicview: WHAT 'ARG'" (ARG may be NULL) and the hint; returns 2. */
static int usage(const char *what, const char *arg) {
  fprintf(stderr, "apicview: %s%s%s%s\n(see 'apicview --help')\n", what, arg ? " '" : "",
          arg ? arg : "", arg ? "'" : "");
  return 2;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

enum { IMAGE_NONE, IMAGE_PNG, IMAGE_BMP };

/* What --render writes, by the name's extension (any case): a .jpg must not
   silently become a BMP. */
static int image_kind(const char *path) {
  size_t n = strlen(path);
  const char *ext = n > 4 ? path + n - 4 : "";
  if (!strcasecmp(ext, ".png")) return IMAGE_PNG;
  if (!strcasecmp(ext, ".bmp")) return IMAGE_BMP;
  return IMAGE_NONE;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->w = 1280;
  o->h = 720;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_text, stdout);
      return 1;
    } else if (!strcmp(a, "--render")) {
      if (!val) return usage("--render needs a file name", NULL);
      if (!image_kind(val))
        return usage("--render writes .png or .bmp only, got", val);
      o->render = val;
      i++;
    } else if (!strcmp(a, "--at")) {
      if (parse_u64(val, &o->at)) return usage("--at needs a cycle number, got", val ? val : "");
      o->at_set = 1;
      i++;
    } else if (!strcmp(a, "--window")) {
      const char *colon = val ? strchr(val, ':') : NULL;
      char from[32];
      if (!colon || (size_t)(colon - val) >= sizeof from)
        return usage("--window needs FROM:TO, got", val ? val : "");
      memcpy(from, val, (size_t)(colon - val));
      from[colon - val] = 0;
      if (parse_u64(from, &o->from) || parse_u64(colon + 1, &o->to) || o->to <= o->from)
        return usage("--window needs FROM:TO with FROM < TO, got", val ? val : "");
      o->window_set = 1;
      i++;
    } else if (!strcmp(a, "--size")) {
      int w, h;
      char extra;
      if (!val || sscanf(val, "%dx%d%c", &w, &h, &extra) != 2 || w < 64 || h < 64 || w > 16384 ||
          h > 16384)
        return usage("--size needs WxH between 64x64 and 16384x16384, got", val ? val : "");
      o->w = w;
      o->h = h;
      i++;
    } else if (!strcmp(a, "--select")) {
      uint64_t c;
      if (parse_u64(val, &c) || c >= APIC_MAX_CPUS)
        return usage("--select needs a core number, got", val ? val : "");
      o->select = (uint32_t)c;
      o->select_set = 1;
      i++;
    } else if (!strcmp(a, "--bench")) {
      uint64_t n;
      if (parse_u64(val, &n) || n == 0 || n > 100000)
        return usage("--bench needs a frame count (1..100000), got", val ? val : "");
      o->bench = (long)n;
      i++;
    } else if (a[0] == '-' && a[1]) {
      return usage("unknown option", a);
    } else if (!o->trace) {
      o->trace = a;
    } else {
      return usage("one trace at a time; extra argument", a);
    }
  }
  if (!o->trace) return usage("no trace file given", NULL);
  return 0;
}

/* Applies --window, --at, --select; returns 0 or prints why and returns 2. */
static int apply_opts(vw_view *v, vw_model *m, const opts *o) {
  const apic_trace_info *in = vw_model_info(m);
  if (o->window_set) {
    v->t0 = o->from;
    v->t1 = o->to;
  }
  if (o->at_set) v->playhead = o->at;
  if (o->select_set) {
    if (o->select >= in->config.ncpus) {
      fprintf(stderr, "apicview: --select %u: the trace has %u cores\n", o->select,
              in->config.ncpus);
      return 2;
    }
    v->selected = o->select;
  }
  return 0;
}

static void build_overview(vw_model *m) {
  for (int i = 0; i < 100000 && !vw_model_overview_step(m, 50.0); i++) {
  }
}

/* "TRACE: why", unless the reason already names the file. */
static void error_text(char *out, size_t n, const char *path, const char *why, int rc) {
  const char *reason = why[0] ? why : apic_strerror(rc);
  if (strstr(reason, path)) snprintf(out, n, "%s", reason);
  else snprintf(out, n, "%s: %s", path, reason);
}

static double now_ms(void) {
  return (double)SDL_GetPerformanceCounter() * 1000.0 / (double)SDL_GetPerformanceFrequency();
}

/* CPU time of the calling thread (0 where there is no such clock): on a
   busy machine it tells the work a frame does from the time it waits. */
static double thread_cpu_ms(void) {
#ifdef CLOCK_THREAD_CPUTIME_ID
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
#endif
  return 0;
}

/* OUT.png is written as PNG, OUT.bmp as BMP (parse_args refused others). */
static int save(SDL_Surface *s, const char *path) {
  if (image_kind(path) == IMAGE_PNG) {
    errno = 0;
    if (vw_save_png(s, path) != 0) {
      fprintf(stderr, "apicview: cannot write %s: %s\n", path,
              errno ? strerror(errno) : "cannot encode the image");
      return 1;
    }
  } else if (SDL_SaveBMP(s, path) != 0) {
    fprintf(stderr, "apicview: cannot write %s: %s\n", path, SDL_GetError());
    return 1;
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* "mean, p99 (nearest rank), max" of n frame times, sorted in place. */
static void print_times(const char *what, double *ms, long n) {
  double total = 0;
  for (long i = 0; i < n; i++) total += ms[i];
  qsort(ms, (size_t)n, sizeof *ms, cmp_double);
  long p99 = (99 * n + 99) / 100 - 1;
  printf("  %-7s mean %6.2f ms, p99 %6.2f ms, max %6.2f ms\n", what, total / (double)n, ms[p99],
         ms[n - 1]);
}

/*
 * --bench: what a user sees. The overview is built as the window loop
 * builds it (a budget a frame), then each frame is what the loop does:
 * vw_model_overview_step (which decodes ahead of the pan) and vw_render.
 * First a drag: a window of 1/50 of the trace moved right by a tenth of
 * its width a frame, into blocks not decoded yet; then minimap clicks:
 * jumps across the whole trace, a new place every frame. "cpu" is the
 * frame thread's CPU time (decoding ahead runs on the model's worker).
 */
static void bench(SDL_Surface *s, vw_model *m, const vw_view *view, const opts *o,
                  double open_ms) {
  vw_view pan = *view, *v = &pan;   /* --render afterwards draws the options' view */
  const apic_trace_info *in = vw_model_info(m);
  double t = now_ms();
  int steps = 0;
  while (!vw_model_overview_step(m, STEP_BUDGET_MS)) steps++;
  printf("%s: %llu records in %u chunks, %u cores; open %.2f ms, overview %.0f ms (%d steps)\n",
         o->trace, (unsigned long long)in->records, in->chunks, in->config.ncpus, open_ms,
         now_ms() - t, steps + 1);
  double *frame = malloc((size_t)o->bench * sizeof *frame);
  double *draw = malloc((size_t)o->bench * sizeof *draw);
  double *cpu = malloc((size_t)o->bench * sizeof *cpu);
  if (!frame || !draw || !cpu) {
    free(frame);
    free(draw);
    free(cpu);
    return;
  }
  vw_render_cache *cache = vw_render_cache_new();   /* as the window keeps one */
  uint64_t lo = in->first_cycle, hi = in->last_cycle + 1, span = (hi - lo) / 50;
  if (span < 64) span = 64;
  uint64_t room = hi - lo > span ? hi - lo - span : 1;
  for (int jump = 0; jump < 2; jump++) {
    for (long i = 0; i < o->bench; i++) {
      uint64_t off = jump ? (uint64_t)((double)room * (double)i / (double)o->bench)
                          : ((uint64_t)i * (span / 10)) % room;
      v->t0 = lo + off;
      v->t1 = v->t0 + span;
      v->playhead = v->t0 + span / 2;
      double c0 = thread_cpu_ms(), t0 = now_ms();
      vw_model_overview_step(m, STEP_BUDGET_MS);
      double t1 = now_ms();
      vw_render_cached(s, m, v, cache);
      double t2 = now_ms();
      frame[i] = t2 - t0;
      draw[i] = t2 - t1;
      cpu[i] = thread_cpu_ms() - c0;
    }
    printf("%s: %ld frames %dx%d, window %llu of %llu cycles\n", jump ? "jumps" : "pan", o->bench,
           o->w, o->h, (unsigned long long)span, (unsigned long long)(hi - lo));
    print_times("frame", frame, o->bench);
    print_times("render", draw, o->bench);
    print_times("cpu", cpu, o->bench);
  }
  free(frame);
  free(draw);
  free(cpu);
  vw_render_cache_free(cache);
  vw_view whole;   /* and the whole trace */
  vw_view_init(&whole, m, o->w, o->h);
  free(whole.cpu_hidden);
  whole.cpu_hidden = NULL;
  t = now_ms();
  vw_render(s, m, &whole);
  printf("whole trace: %.2f ms\n", now_ms() - t);
}

static int run_headless(const opts *o) {
  SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, o->w, o->h, 32, SDL_PIXELFORMAT_XRGB8888);
  if (!s) {
    fprintf(stderr, "apicview: cannot create a %dx%d image: %s\n", o->w, o->h, SDL_GetError());
    return 1;
  }
  char why[512] = "";
  vw_model *m = NULL;
  double t_open = now_ms();
  int rc = vw_model_open(&m, o->trace, why, sizeof why);
  double open_ms = now_ms() - t_open;
  if (rc || !m) {
    char msg[700];
    error_text(msg, sizeof msg, o->trace, why, rc);
    fprintf(stderr, "apicview: %s\n", msg);
    vw_render_error(s, msg);
    if (o->render) save(s, o->render);
    SDL_FreeSurface(s);
    return 1;
  }
  const apic_trace_info *in = vw_model_info(m);
  if (in->warning[0]) fprintf(stderr, "apicview: %s: %s\n", o->trace, in->warning);
  vw_view v;
  vw_view_init(&v, m, o->w, o->h);
  int status = apply_opts(&v, m, o);
  if (!status) {
    if (!o->bench) build_overview(m);
    if (o->bench) bench(s, m, &v, o, open_ms);
    if (o->render) {
      vw_render(s, m, &v);
      status = save(s, o->render);
    }
  }
  free(v.cpu_hidden);
  vw_model_close(m);
  SDL_FreeSurface(s);
  return status;
}

/* SDL's video drivers that show nothing: a window on them would wait,
   invisible, for input that never comes. */
static int invisible_driver(const char *name) {
  return name && (!strcmp(name, "offscreen") || !strcmp(name, "dummy"));
}

static int run_window(const opts *o) {
  if (SDL_Init(SDL_INIT_VIDEO) != 0) {
    fprintf(stderr, "apicview: cannot start SDL video: %s\n(use --render OUT.png without a display)\n",
            SDL_GetError());
    return 1;
  }
  char why[512] = "", msg[700] = "";
  vw_model *m = NULL;
  int rc = vw_model_open(&m, o->trace, why, sizeof why);
  if (rc || !m) {  /* said on the terminal it was started from, not in a window */
    error_text(msg, sizeof msg, o->trace, why, rc);
    fprintf(stderr, "apicview: %s\n", msg);
    SDL_Quit();
    return 1;
  }
  const char *driver = SDL_GetCurrentVideoDriver();
  if (invisible_driver(driver)) {
    fprintf(stderr, "apicview: no display (SDL video driver '%s'); use --render OUT.png to draw "
            "a frame without one\n", driver);
    vw_model_close(m);
    SDL_Quit();
    return 1;
  }
  vw_view v;
  vw_view_init(&v, m, o->w, o->h);
  int status = apply_opts(&v, m, o);
  char title[300];
  snprintf(title, sizeof title, "apicview - %s", o->trace);
  SDL_Window *win = status ? NULL : SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED,
                                                     SDL_WINDOWPOS_UNDEFINED, o->w, o->h,
                                                     SDL_WINDOW_RESIZABLE);
  if (!win) {
    if (!status) fprintf(stderr, "apicview: cannot open a window: %s\n", SDL_GetError());
    free(v.cpu_hidden);
    vw_model_close(m);
    SDL_Quit();
    return status ? status : 1;
  }
  int running = 1;
  vw_render_cache *cache = vw_render_cache_new();   /* NULL: every frame drawn afresh */
  int dirty = 1, overview_done = 0;
  double last = now_ms(), title_at = 0, worst = 0;
  while (running) {
    SDL_Event e;
    int waiting = !(v.playing || !overview_done || dirty);
    if (waiting ? SDL_WaitEventTimeout(&e, 100) : SDL_PollEvent(&e)) {
      do {
        if (e.type == SDL_QUIT) running = 0;
        else if (e.type == SDL_KEYDOWN && (e.key.keysym.mod & KMOD_CTRL) &&
                 (e.key.keysym.sym == SDLK_q || e.key.keysym.sym == SDLK_w))
          running = 0;
        else if (vw_view_event(&v, m, &e))
          dirty = 1;
      } while (SDL_PollEvent(&e));
    }
    double t = now_ms();
    if (vw_view_tick(&v, m, (t - last) / 1000.0)) dirty = 1;
    last = t;
    int was = overview_done;  /* every frame: after the overview it prefetches around the view */
    overview_done = vw_model_overview_step(m, STEP_BUDGET_MS);
    if (!was) dirty = 1;
    if (!dirty) continue;
    SDL_Surface *s = SDL_GetWindowSurface(win);
    if (!s) continue;
    v.w = s->w;
    v.h = s->h;
    double t0 = now_ms();
    vw_render_cached(s, m, &v, cache);
    double ms = now_ms() - t0;
    SDL_UpdateWindowSurface(win);
    dirty = 0;
    if (ms > worst) worst = ms;
    if (t0 - title_at > 500) {    /* the frame time, in the title bar */
      snprintf(title, sizeof title, "apicview - %s - frame %.1f ms (worst %.1f)", o->trace, ms,
               worst);
      SDL_SetWindowTitle(win, title);
      title_at = t0;
      worst = 0;
    }
  }
  vw_render_cache_free(cache);
  free(v.cpu_hidden);
  vw_model_close(m);
  SDL_DestroyWindow(win);
  SDL_Quit();
  return status;
}

int main(int argc, char **argv) {
  opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;
  if (o.render || o.bench) return run_headless(&o);
  return run_window(&o);
}
