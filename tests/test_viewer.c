/*
 * test_viewer.c - apicview without a display: traces made here with the
 * library (guest programs on several cores, an I/O APIC device), drawn onto
 * SDL surfaces and checked pixel by pixel against what the trace says, and
 * the view driven by pushed SDL events.
 *
 * The pictures are read through the layout (vw_layout_get) and the public
 * colours (vw_state_rgb, VW_RGB_*): a lane row is at lanes_y + row * lane_h,
 * an x at vw_cycle_to_x. The command itself (apicview --render) is run for
 * its exit status and its image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"
#include "viewer.h"

#ifndef APICSIM_TEST_TMP
#define APICSIM_TEST_TMP "."
#endif

/* ---- traces ---- */

static void trace_path(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/viewer_%s.trace", APICSIM_TEST_TMP, name);
}

typedef void (*install_fn)(apic_sim *s, void *ud);

/* Runs a machine with a trace writer attached until it idles. */
static void make_trace(const char *path, const apic_config *cfg, install_fn install, void *ud) {
  apic_sim *s = tu_sim(cfg, NULL);
  apic_trace_writer *w = NULL;
  char why[256] = "";
  apic_trace_opts o = {0};
  o.level = -1;
  o.name = "test_viewer";
  o.inline_compress = 1;
  ck_assert_msg(apic_trace_writer_open(&w, s, path, &o, why, sizeof why) == APIC_OK, "%s", why);
  install(s, ud);
  int rc = apic_sim_run(s, 50000000);
  ck_assert_msg(rc >= 0, "run: %s", apic_sim_errmsg(s));
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
}

/* Linux send_IPI_mask: cpu 0 sends `vector` to cpus 1..n, `rounds` times. */
typedef struct mask_arg { uint32_t n, rounds; uint8_t vector; int *counts; } mask_arg;

static int prog_mask(apic_cpu *c, void *arg) {
  mask_arg *m = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  for (APIC_L(c, 1) = 0; APIC_L(c, 1) < m->rounds; APIC_L(c, 1)++) {
    APIC_WORK(c, 2000);
    for (APIC_L(c, 0) = 1; APIC_L(c, 0) <= m->n; APIC_L(c, 0)++) {
      APIC_SPIN_ICR_IDLE(c);
      APIC_WRITE(c, APIC_REG_ICR_HI, (uint32_t)APIC_L(c, 0) << APIC_ICR_DEST_SHIFT);
      APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(m->vector, APIC_DM_FIXED, 0));
    }
  }
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

static void install_mask(apic_sim *s, void *ud) {
  mask_arg *m = ud;
  uint32_t n = apic_sim_ncpus(s);
  apic_sim_set_handler(s, APIC_NONE, m->vector, tu_handler_count, m->counts);
  apic_sim_set_program(s, 0, prog_mask, m);
  for (uint32_t i = 1; i < n; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
}

/* 8 cores on the xAPIC bus, cpu 0 sends 0xfb to cpus 1..3 three times. */
static void ipi8_trace(char *path, size_t n) {
  static int counts[8 * 256];
  static mask_arg m = {3, 3, 0xFB, counts};
  trace_path(path, n, "ipi8");
  apic_config cfg = tu_config(8, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  make_trace(path, &cfg, install_mask, &m);
}

/* cpu 1 keeps IF = 0 for a while; cpu 0 sends 0x41, 0x93 and 0x41 again:
   both vectors wait in IRR and the second 0x41 is coalesced. */
static int prog_late_sti(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 6000);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static int prog_three(apic_cpu *c, void *arg) {
  static const uint8_t vecs[3] = {0x41, 0x93, 0x41};
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 500);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 3; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);
    APIC_WRITE(c, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
    APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(vecs[APIC_L(c, 0)], APIC_DM_FIXED, 0));
    APIC_WORK(c, 300);
  }
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

static void install_coalesce(apic_sim *s, void *ud) {
  apic_sim_set_handler(s, APIC_NONE, 0x41, tu_handler_count, ud);
  apic_sim_set_handler(s, APIC_NONE, 0x93, tu_handler_count, ud);
  apic_sim_set_program(s, 0, prog_three, NULL);
  apic_sim_set_program(s, 1, prog_late_sti, NULL);
}

static void coalesce_trace(char *path, size_t n) {
  static int counts[2 * 256];
  trace_path(path, n, "coalesce");
  apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  make_trace(path, &cfg, install_coalesce, counts);
}

/* ncpus idle cores; cpu 0 broadcasts 0xf2 to all the others once. */
static int prog_broadcast(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_WORK(c, 1000);
  APIC_DO(c, apic_cpu_send_ipi(c, 0, APIC_ICR_LO(0xF2, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS))));
  APIC_WORK(c, 3000);
  APIC_END(c);
}

static void install_broadcast(apic_sim *s, void *ud) {
  uint32_t n = apic_sim_ncpus(s);
  apic_sim_set_handler(s, APIC_NONE, 0xF2, tu_handler_count, ud);
  apic_sim_set_program(s, 0, prog_broadcast, NULL);
  for (uint32_t i = 1; i < n; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
}

static void broadcast_trace(char *path, size_t n, uint32_t ncpus, int **counts) {
  char name[32];
  snprintf(name, sizeof name, "bcast%u", ncpus);
  trace_path(path, n, name);
  *counts = calloc((size_t)ncpus * 256, sizeof **counts);
  apic_config cfg = tu_config(ncpus, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  make_trace(path, &cfg, install_broadcast, *counts);
}

/* A device on I/O APIC pin 5 (edge, vector 0x51 to cpu 1) pulsing twice. */
static void install_device(apic_sim *s, void *ud) {
  apic_sim_set_handler(s, APIC_NONE, 0x51, tu_handler_count, ud);
  for (uint32_t i = 0; i < apic_sim_ncpus(s); i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  uint64_t rte = 0x51 | (1ull << APIC_RTE_DEST_SHIFT);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 5, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 5, 1, 1000), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 5, 0, 1600), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 5, 1, 4000), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, 5, 0, 4600), APIC_OK);
}

static void device_trace(char *path, size_t n) {
  static int counts[4 * 256];
  trace_path(path, n, "device");
  apic_config cfg = tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  make_trace(path, &cfg, install_device, counts);
}

/* The nth (0-based) event of a kind on cpu (APIC_NONE = any) with vector (-1 = any). */
static apic_event find_ev(const char *path, uint32_t kind, uint32_t cpu, int vector, int nth) {
  apic_trace *t = NULL;
  char why[256];
  ck_assert_msg(apic_trace_open(&t, path, why, sizeof why) == APIC_OK, "%s", why);
  apic_event e;
  int rc;
  while ((rc = apic_trace_next(t, &e)) == APIC_OK)
    if (e.kind == kind && (cpu == APIC_NONE || e.cpu == cpu) && (vector < 0 || e.vector == vector) &&
        nth-- == 0)
      break;
  ck_assert_msg(rc == APIC_OK, "no %s on cpu %u vector %d in %s", apic_event_name(kind), cpu,
                vector, path);
  e.text = NULL;
  apic_trace_close(t);
  return e;
}

/* ---- model, view, pictures ---- */

static vw_model *open_model(const char *path) {
  vw_model *m = NULL;
  char why[256] = "";
  ck_assert_msg(vw_model_open(&m, path, why, sizeof why) == 0 && m, "%s: %s", path, why);
  for (int i = 0; i < 100000 && !vw_model_overview_step(m, 50.0); i++) {
  }
  return m;
}

static SDL_Surface *surface(int w, int h) {
  SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_XRGB8888);
  ck_assert_ptr_nonnull(s);
  return s;
}

static uint32_t px(const SDL_Surface *s, int x, int y) {
  ck_assert_msg(x >= 0 && y >= 0 && x < s->w && y < s->h, "pixel %d,%d outside %dx%d", x, y, s->w,
                s->h);
  return ((const uint32_t *)((const uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch))[x] &
         0xFFFFFFu;
}

/* Pixels of colour rgb in the square of radius r around (x, y). */
static int count_near(const SDL_Surface *s, int x, int y, int r, uint32_t rgb) {
  int n = 0;
  for (int yy = y - r; yy <= y + r; yy++)
    for (int xx = x - r; xx <= x + r; xx++)
      if (xx >= 0 && yy >= 0 && xx < s->w && yy < s->h && px(s, xx, yy) == rgb) n++;
  return n;
}

static int count_rect(const SDL_Surface *s, int x, int y, int w, int h, uint32_t rgb) {
  int n = 0;
  for (int yy = y; yy < y + h; yy++)
    for (int xx = x; xx < x + w; xx++)
      if (xx >= 0 && yy >= 0 && xx < s->w && yy < s->h && px(s, xx, yy) == rgb) n++;
  return n;
}

/* Pixels in the rectangle that are not the background: text, fills. */
static int ink_rect(const SDL_Surface *s, int x, int y, int w, int h) {
  int n = 0;
  for (int yy = y; yy < y + h; yy++)
    for (int xx = x; xx < x + w; xx++)
      if (px(s, xx, yy) != VW_RGB_BG) n++;
  return n;
}

static int lane_mid(const vw_layout *l, int row) {
  return l->lanes_y + row * l->lane_h + l->lane_h / 2;
}

static void save_on_failure(SDL_Surface *s, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/viewer_%s.bmp", APICSIM_TEST_TMP, name);
  SDL_SaveBMP(s, p);
}

/* ---- SDL events through the view ---- */

static int pass(vw_view *v, vw_model *m, SDL_Event *e) {
  ck_assert_int_eq(SDL_PushEvent(e), 1);
  SDL_Event got;
  /* SDL_PollEvent stops once at the sentinel of its previous pump: poll again */
  for (int round = 0; round < 3; round++)
    while (SDL_PollEvent(&got))
      if (got.type == e->type) return vw_view_event(v, m, &got);
  ck_abort_msg("pushed event %u did not come back", e->type);
  return 0;
}

static int key(vw_view *v, vw_model *m, SDL_Keycode sym, Uint16 mod) {
  SDL_Event e;
  memset(&e, 0, sizeof e);
  e.type = SDL_KEYDOWN;
  e.key.state = SDL_PRESSED;
  e.key.keysym.sym = sym;
  e.key.keysym.mod = mod;
  return pass(v, m, &e);
}

static int type_text(vw_view *v, vw_model *m, const char *t) {
  SDL_Event e;
  memset(&e, 0, sizeof e);
  e.type = SDL_TEXTINPUT;
  snprintf(e.text.text, sizeof e.text.text, "%s", t);
  return pass(v, m, &e);
}

static void mouse_move(vw_view *v, vw_model *m, int x, int y) {
  SDL_Event e;
  memset(&e, 0, sizeof e);
  e.type = SDL_MOUSEMOTION;
  e.motion.x = x;
  e.motion.y = y;
  pass(v, m, &e);
}

static void mouse_button(vw_view *v, vw_model *m, int down, int x, int y) {
  SDL_Event e;
  memset(&e, 0, sizeof e);
  e.type = down ? SDL_MOUSEBUTTONDOWN : SDL_MOUSEBUTTONUP;
  e.button.button = SDL_BUTTON_LEFT;
  e.button.state = down ? SDL_PRESSED : SDL_RELEASED;
  e.button.x = x;
  e.button.y = y;
  pass(v, m, &e);
}

static void wheel(vw_view *v, vw_model *m, int y) {
  SDL_Event e;
  memset(&e, 0, sizeof e);
  e.type = SDL_MOUSEWHEEL;
  e.wheel.y = y;
  e.wheel.direction = SDL_MOUSEWHEEL_NORMAL;
  pass(v, m, &e);
}

static void events_up(void) {
  ck_assert_msg(SDL_Init(SDL_INIT_EVENTS) == 0, "SDL_Init: %s", SDL_GetError());
}

/* ---- font ---- */

/* Every printable character has ink inside its 6x10 cell and none outside;
   no two glyphs are the same; width is 6 per character. */
START_TEST(font_every_glyph) {
  ck_assert_int_eq(vw_text_width("abc"), 3 * VW_FONT_W);
  ck_assert_int_eq(vw_text_width(""), 0);
  static uint8_t bits[95][VW_FONT_H * VW_FONT_W];
  SDL_Surface *s = surface(3 * VW_FONT_W, VW_FONT_H + 4);
  for (int ch = 32; ch < 127; ch++) {
    SDL_FillRect(s, NULL, 0);
    char t[2] = {(char)ch, 0};
    vw_text(s, VW_FONT_W, 2, 0xFFFFFF, t);
    int inside = 0, outside = 0;
    for (int y = 0; y < s->h; y++)
      for (int x = 0; x < s->w; x++) {
        int on = px(s, x, y) == 0xFFFFFF;
        int in = x >= VW_FONT_W && x < 2 * VW_FONT_W && y >= 2 && y < 2 + VW_FONT_H;
        if (on && in) bits[ch - 32][(y - 2) * VW_FONT_W + (x - VW_FONT_W)] = 1, inside++;
        if (on && !in) outside++;
      }
    ck_assert_msg(outside == 0, "glyph '%c' draws outside its cell", ch);
    if (ch == ' ') ck_assert_int_eq(inside, 0);
    else ck_assert_msg(inside >= 3, "glyph '%c' has %d pixels", ch, inside);
  }
  for (int a = 1; a < 95; a++)
    for (int b = a + 1; b < 95; b++)
      ck_assert_msg(memcmp(bits[a], bits[b], sizeof bits[a]) != 0, "'%c' and '%c' look the same",
                    a + 32, b + 32);
  /* the clip rectangle holds */
  SDL_FillRect(s, NULL, 0);
  SDL_Rect clip = {0, 0, VW_FONT_W, s->h};
  SDL_SetClipRect(s, &clip);
  vw_text(s, 0, 2, 0xFFFFFF, "MM");
  SDL_SetClipRect(s, NULL);
  ck_assert_int_eq(count_rect(s, VW_FONT_W, 0, s->w - VW_FONT_W, s->h, 0xFFFFFF), 0);
  SDL_FreeSurface(s);
}
END_TEST

/* ---- palette ---- */

/* Each lane state has its own colour, handlers differ by priority class,
   and none is an arrow, coalesce or background colour. */
START_TEST(palette_distinct) {
  uint32_t c[VW_STATE_COUNT];
  for (int i = VW_RUN; i < VW_STATE_COUNT; i++) {
    c[i] = vw_state_rgb((uint8_t)i, 0xFB);
    ck_assert_uint_ne(c[i], VW_RGB_BG);
    ck_assert_uint_ne(c[i], VW_RGB_ARROW);
    ck_assert_uint_ne(c[i], VW_RGB_COALESCE);
    for (int j = VW_RUN; j < i; j++) ck_assert_uint_ne(c[i], c[j]);
  }
  ck_assert_uint_ne(vw_state_rgb(VW_HANDLER, 0x31), vw_state_rgb(VW_HANDLER, 0xF1));
  ck_assert_uint_eq(vw_state_rgb(VW_HANDLER, 0xF1), vw_state_rgb(VW_HANDLER, 0xFE));
  ck_assert_uint_ne(vw_state_rgb(VW_HANDLER, 2), vw_state_rgb(VW_HANDLER, 0x02 + 0x10));
}
END_TEST

/* ---- pictures ---- */

/* One lane per core: 8 labelled rows, none below the last; hiding a core
   leaves 7; idle cores show the halted colour where the trace has them
   halted. */
START_TEST(lanes_one_per_core) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  ck_assert_int_eq(l.nlanes, 8);
  ck_assert_int_eq(l.density, 0);
  ck_assert_int_ge(l.lane_h, VW_FONT_H);
  int labelled = 0;
  for (int row = 0; row < 8; row++)
    labelled += ink_rect(s, 2, l.lanes_y + row * l.lane_h, l.timeline_x - 6, l.lane_h) > 10;
  ck_assert_int_eq(labelled, 8);
  /* nothing between the last lane and the interconnect */
  ck_assert_int_eq(ink_rect(s, 2, l.lanes_y + 8 * l.lane_h + 1, l.timeline_x - 6,
                            l.bus_y - l.lanes_y - 8 * l.lane_h - 1), 0);
  /* cpu 6 is idle: halted after its first HLT */
  apic_event h = find_ev(path, APIC_EV_HALT, 6, -1, 0);
  uint64_t at = h.cycle + (v.t1 - h.cycle) / 2;
  int x = vw_cycle_to_x(&v, &l, at);
  ck_assert_uint_eq(px(s, x, lane_mid(&l, 6) - 2), vw_state_rgb(VW_HALT, 0));

  v.cpu_hidden[2] = 1;
  vw_render(s, m, &v);
  vw_layout_get(&v, m, &l);
  ck_assert_int_eq(l.nlanes, 7);
  labelled = 0;
  for (int row = 0; row < 7; row++)
    labelled += ink_rect(s, 2, l.lanes_y + row * l.lane_h, l.timeline_x - 6, l.lane_h) > 10;
  ck_assert_int_eq(labelled, 7);
  ck_assert_int_eq(ink_rect(s, 2, l.lanes_y + 7 * l.lane_h + 1, l.timeline_x - 6,
                            l.bus_y - l.lanes_y - 7 * l.lane_h - 1), 0);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* A handler slice: between cpu 2's HANDLER_ENTER and HANDLER_EXIT for 0xfb
   the lane is in 0xfb's handler colour; before the entry it is not. */
START_TEST(handler_slice_where_the_trace_says) {
  char path[512];
  ipi8_trace(path, sizeof path);
  apic_event in = find_ev(path, APIC_EV_HANDLER_ENTER, 2, 0xFB, 1);
  apic_event out = find_ev(path, APIC_EV_HANDLER_EXIT, 2, 0xFB, 1);
  ck_assert_uint_gt(out.cycle, in.cycle);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  v.t0 = in.cycle - 1000;
  v.t1 = out.cycle + 1000;
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  uint32_t hc = vw_state_rgb(VW_HANDLER, 0xFB);
  int x = vw_cycle_to_x(&v, &l, in.cycle + (out.cycle - in.cycle) * 3 / 4);
  int y0 = l.lanes_y + 2 * l.lane_h;
  int n = count_rect(s, x, y0, 1, l.lane_h, hc);
  if (n < l.lane_h / 2) save_on_failure(s, "handler_slice");
  ck_assert_msg(n >= l.lane_h / 2, "%d of %d pixels in the handler colour at x=%d", n, l.lane_h, x);
  int xb = vw_cycle_to_x(&v, &l, in.cycle - 500);
  ck_assert_int_eq(count_rect(s, xb, y0, 1, l.lane_h, hc), 0);
  /* and the slice edges sit at the entry and exit cycles (+-1 px) */
  int xe = vw_cycle_to_x(&v, &l, in.cycle), xx = vw_cycle_to_x(&v, &l, out.cycle);
  ck_assert_int_eq(count_rect(s, xe - 2, lane_mid(&l, 2) + 2, 1, 1, hc), 0);
  ck_assert_int_eq(count_rect(s, xe + 2, lane_mid(&l, 2) + 2, 1, 1, hc), 1);
  ck_assert_int_eq(count_rect(s, xx - 2, lane_mid(&l, 2) + 2, 1, 1, hc), 1);
  ck_assert_int_eq(count_rect(s, xx + 2, lane_mid(&l, 2) + 2, 1, 1, hc), 0);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* The arrow from cpu 0's ICR write to cpu 3's handler entry: the model has
   it with the trace's cycles, and the picture has arrow pixels at both ends
   and none on an idle lane in between. */
START_TEST(arrow_from_icr_write_to_handler_entry) {
  char path[512];
  ipi8_trace(path, sizeof path);
  apic_event w = find_ev(path, APIC_EV_ICR_WRITE, 0, 0xFB, 2);  /* round 1, to cpu 3 */
  apic_event in = find_ev(path, APIC_EV_HANDLER_ENTER, 3, 0xFB, 0);
  ck_assert_uint_eq(w.dest, 3);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  v.t0 = w.cycle - 300;
  v.t1 = in.cycle + 300;
  vw_layout l;
  vw_layout_get(&v, m, &l);
  const vw_frame *f = vw_model_query(m, v.t0, v.t1, (uint32_t)l.timeline_w);
  const vw_arrow *a = NULL;
  for (uint32_t i = 0; i < f->narrows; i++)
    if (f->arrows[i].kind == VW_ARROW_HANDLER && f->arrows[i].to_lane == 3) a = &f->arrows[i];
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq(a->from_lane, 0);
  ck_assert_uint_eq(a->from_cycle, w.cycle);
  ck_assert_uint_eq(a->to_cycle, in.cycle);
  ck_assert_uint_eq(a->vector, 0xFB);
  vw_arrow arrow = *a;
  vw_render(s, m, &v);
  int x0 = vw_cycle_to_x(&v, &l, arrow.from_cycle), y0 = lane_mid(&l, 0);
  int x1 = vw_cycle_to_x(&v, &l, arrow.to_cycle), y1 = lane_mid(&l, 3);
  int ns = count_near(s, x0, y0, 2, VW_RGB_ARROW), ne = count_near(s, x1, y1, 2, VW_RGB_ARROW);
  if (!ns || !ne) save_on_failure(s, "arrow");
  ck_assert_msg(ns > 0, "no arrow pixel near the start %d,%d", x0, y0);
  ck_assert_msg(ne > 0, "no arrow pixel near the end %d,%d", x1, y1);
  /* the line passes through the lanes between, near where it should */
  int xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
  ck_assert_int_gt(count_near(s, xm, ym, 3, VW_RGB_ARROW), 0);
  /* cpu 6 takes no part: no arrow pixels on its lane */
  ck_assert_int_eq(count_rect(s, l.timeline_x, l.lanes_y + 6 * l.lane_h, l.timeline_w, l.lane_h,
                              VW_RGB_ARROW), 0);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* A coalesced delivery is drawn in the coalesce colour at its IRR_COALESCED. */
START_TEST(coalesced_delivery_stands_out) {
  char path[512];
  coalesce_trace(path, sizeof path);
  apic_event co = find_ev(path, APIC_EV_IRR_COALESCED, 1, 0x41, 0);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  v.t0 = co.cycle > 2000 ? co.cycle - 2000 : 0;
  v.t1 = co.cycle + 500;
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  int x = vw_cycle_to_x(&v, &l, co.cycle);
  int n = count_near(s, x, lane_mid(&l, 1), 3, VW_RGB_COALESCE);
  if (!n) save_on_failure(s, "coalesced");
  ck_assert_int_gt(n, 0);
  /* the other deliveries are not drawn as coalesced */
  apic_event first = find_ev(path, APIC_EV_IRR_SET, 1, 0x41, 0);
  ck_assert_int_eq(count_near(s, vw_cycle_to_x(&v, &l, first.cycle), lane_mid(&l, 1), 1,
                              VW_RGB_COALESCE), 0);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* The panel follows the playhead: with 0x41 and 0x93 pending in cpu 1's IRR
   exactly two grid cells are lit, one class row and two columns apart as
   0x41 and 0x93 are (row = vector >> 4, column = vector & 15); before the
   first IRR set none is. */
START_TEST(irr_grid_shows_pending_vectors) {
  char path[512];
  coalesce_trace(path, sizeof path);
  apic_event second = find_ev(path, APIC_EV_IRR_SET, 1, 0x93, 0);
  apic_event acc = find_ev(path, APIC_EV_ACCEPT, 1, -1, 0);
  ck_assert_uint_gt(acc.cycle, second.cycle + 1);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  v.selected = 1;
  v.playhead = second.cycle;
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  ck_assert_int_gt(l.panel_w, 0);
  int minx = s->w, miny = s->h, n = 0;
  for (int y = 0; y < s->h; y++)
    for (int x = l.panel_x; x < s->w; x++)
      if (px(s, x, y) == VW_RGB_GRID_ON) {
        n++;
        if (y < miny || (y == miny && x < minx)) miny = y, minx = x;
      }
  if (!n) save_on_failure(s, "irr_grid");
  ck_assert_int_gt(n, 0);
  /* the first lit cell (0x41's, the upper one): its side */
  int side = 0;
  while (px(s, minx + side, miny) == VW_RGB_GRID_ON) side++;
  ck_assert_int_ge(side, 2);
  ck_assert_int_eq(n, 2 * side * side);
  int pitch = side + 1;   /* cells are separated by one grid line */
  int bx = minx + (0x3 - 0x1) * pitch, by = miny + (0x9 - 0x4) * pitch;
  ck_assert_uint_eq(px(s, bx, by), VW_RGB_GRID_ON);
  ck_assert_uint_eq(px(s, bx + side - 1, by + side - 1), VW_RGB_GRID_ON);
  /* before anything was sent: nothing lit */
  v.playhead = find_ev(path, APIC_EV_ICR_WRITE, 0, -1, 0).cycle - 1;
  vw_render(s, m, &v);
  ck_assert_int_eq(count_rect(s, l.panel_x, 0, l.panel_w, s->h, VW_RGB_GRID_ON), 0);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* Many cores collapse into the density block: 64 cores still get lanes,
   256 and 1024 do not; the block is drawn and the handler period tints it. */
START_TEST(density_view_for_many_cores) {
  static const uint32_t sizes[] = {64, 256, 1024};
  for (int k = 0; k < 3; k++) {
    char path[512];
    int *counts;
    broadcast_trace(path, sizeof path, sizes[k], &counts);
    apic_event in = find_ev(path, APIC_EV_HANDLER_ENTER, sizes[k] / 2, 0xF2, 0);
    apic_event out = find_ev(path, APIC_EV_HANDLER_EXIT, sizes[k] / 2, 0xF2, 0);
    vw_model *m = open_model(path);
    SDL_Surface *s = surface(1280, 720);
    vw_view v;
    vw_view_init(&v, m, s->w, s->h);
    vw_layout l;
    vw_layout_get(&v, m, &l);
    ck_assert_int_eq(l.nlanes, (int)sizes[k]);
    clock_t t = clock();
    vw_render(s, m, &v);
    double ms = (double)(clock() - t) * 1000.0 / CLOCKS_PER_SEC;
    printf("density: %u cores, whole trace, %dx%d: %.1f ms\n", sizes[k], s->w, s->h, ms);
    if (sizes[k] == 64) {
      ck_assert_int_eq(l.density, 0);
      ck_assert_int_ge(l.lane_h, 3);
    } else {
      ck_assert_int_eq(l.density, 1);
      int block = l.bus_y - 4 - l.lanes_y;
      ck_assert_int_gt(block, 100);
      /* the block is drawn, and at the handler time it is not plain halted */
      ck_assert_int_gt(ink_rect(s, l.timeline_x, l.lanes_y, l.timeline_w, block),
                       l.timeline_w * block / 2);
      int x = vw_cycle_to_x(&v, &l, (in.cycle + out.cycle) / 2);
      int y = l.lanes_y + (int)((int64_t)(sizes[k] / 2) * block / (int64_t)sizes[k]);
      uint32_t c = px(s, x, y);
      if (c == vw_state_rgb(VW_HALT, 0)) save_on_failure(s, "density");
      ck_assert_uint_ne(c, vw_state_rgb(VW_HALT, 0));
      ck_assert_uint_ne(c, VW_RGB_BG);
    }
    free(v.cpu_hidden);
    SDL_FreeSurface(s);
    vw_model_close(m);
    free(counts);
  }
}
END_TEST

/* The used I/O APIC pin gets a lane of its own with its level drawn. */
START_TEST(pin_lane_for_used_pin) {
  char path[512];
  device_trace(path, sizeof path);
  vw_model *m = open_model(path);
  uint32_t io = 9, pin = 99;
  ck_assert_uint_eq(vw_model_pins(m, 0, &io, &pin), 1);
  ck_assert_uint_eq(io, 0);
  ck_assert_uint_eq(pin, 5);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  ck_assert_int_eq(l.npins, 1);
  ck_assert_int_gt(l.pin_h, 0);
  ck_assert_int_gt(ink_rect(s, 2, l.pins_y, l.timeline_x - 4, l.pin_h), 10);  /* its label */
  /* high between 1000 and 1600, low between 1600 and 4000 */
  int hi = vw_cycle_to_x(&v, &l, 1300), lo = vw_cycle_to_x(&v, &l, 2800);
  int top = l.pins_y + 3;
  ck_assert_uint_ne(px(s, hi, top), px(s, lo, top));
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* A picture depends on nothing but model, view and size: two renders are
   the same, and a surface of another pixel format gets the same picture. */
START_TEST(render_is_deterministic) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  SDL_Surface *a = surface(800, 500), *b = surface(800, 500);
  vw_view v;
  vw_view_init(&v, m, 800, 500);
  v.show_stats = 1;
  v.nmarkers = 2;
  v.markers[0] = v.t0 + 100;
  v.markers[1] = v.t1 - 100;
  vw_render(a, m, &v);
  vw_render(b, m, &v);
  ck_assert_int_eq(memcmp(a->pixels, b->pixels, (size_t)a->pitch * (size_t)a->h), 0);
  SDL_Surface *c = SDL_CreateRGBSurfaceWithFormat(0, 800, 500, 32, SDL_PIXELFORMAT_ARGB8888);
  ck_assert_ptr_nonnull(c);
  vw_render(c, m, &v);
  for (int y = 0; y < 500; y += 7)
    for (int x = 0; x < 800; x += 3) ck_assert_uint_eq(px(a, x, y), px(c, x, y));
  SDL_Surface *d = SDL_CreateRGBSurfaceWithFormat(0, 800, 500, 16, SDL_PIXELFORMAT_RGB565);
  ck_assert_ptr_nonnull(d);
  vw_render(d, m, &v);   /* drawn in 32 bits and converted: no crash */
  free(v.cpu_hidden);
  SDL_FreeSurface(a);
  SDL_FreeSurface(b);
  SDL_FreeSurface(c);
  SDL_FreeSurface(d);
  vw_model_close(m);
}
END_TEST

static int same_pixels(const SDL_Surface *a, const SDL_Surface *b) {
  return a->w == b->w && a->h == b->h && a->pitch == b->pitch &&
         !memcmp(a->pixels, b->pixels, (size_t)a->pitch * (size_t)a->h);
}

/* Renders v both ways, cached into a (over whatever a held) and afresh into
   b; they must be the same picture. */
static void check_cached(SDL_Surface *a, SDL_Surface *b, vw_model *m, const vw_view *v,
                         vw_render_cache *k, const char *when) {
  vw_render_cached(a, m, v, k);
  vw_render(b, m, v);
  if (!same_pixels(a, b)) {
    save_on_failure(a, "cache_cached");
    save_on_failure(b, "cache_fresh");
  }
  ck_assert_msg(same_pixels(a, b), "%s: the cached render differs from a fresh one", when);
}

/* viewer.h vw_render_cached: the minimap kept from earlier frames equals a
   freshly drawn one while the overview builds (a slice at a time), while
   the window pans (and the cache is then reused), with cores hidden and
   shown again, at another size, and for another model. */
START_TEST(cached_minimap_equals_fresh) {
  static int counts[8 * 256];
  static mask_arg arg = {7, 300, 0xFB, counts};
  char path[512], other[512];
  trace_path(path, sizeof path, "cache");
  apic_config cfg = tu_config(8, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  make_trace(path, &cfg, install_mask, &arg);
  ipi8_trace(other, sizeof other);
  vw_model *m = NULL;
  char why[256] = "";
  ck_assert_msg(vw_model_open(&m, path, why, sizeof why) == 0, "%s", why);
  vw_render_cache *k = vw_render_cache_new();
  ck_assert_ptr_nonnull(k);
  SDL_Surface *a = surface(1000, 600), *b = surface(1000, 600);
  vw_view v;
  vw_view_init(&v, m, a->w, a->h);
  check_cached(a, b, m, &v, k, "before the overview");
  int steps = 0;
  while (!vw_model_overview_step(m, 0.0)) {
    check_cached(a, b, m, &v, k, "while the overview builds");
    steps++;
  }
  ck_assert_int_gt(steps, 3);
  check_cached(a, b, m, &v, k, "overview built");
  uint64_t hits = vw_render_cache_hits(k);
  uint64_t span = (v.t1 - v.t0) / 20;
  for (int i = 0; i < 10; i++) {   /* panning: the minimap stays */
    v.t0 += span / 3;
    v.t1 = v.t0 + span;
    v.playhead = v.t0 + span / 2;
    check_cached(a, b, m, &v, k, "panning");
  }
  ck_assert_uint_ge(vw_render_cache_hits(k), hits + 10);
  v.cpu_hidden[2] = v.cpu_hidden[5] = 1;
  check_cached(a, b, m, &v, k, "two cores hidden");
  v.cpu_hidden[5] = 0;
  check_cached(a, b, m, &v, k, "one core hidden");
  memset(v.cpu_hidden, 0, 8);
  check_cached(a, b, m, &v, k, "all shown");
  memset(v.cpu_hidden, 1, 8);
  check_cached(a, b, m, &v, k, "all hidden");
  memset(v.cpu_hidden, 0, 8);
  SDL_Surface *c = surface(700, 450), *d = surface(700, 450);
  check_cached(c, d, m, &v, k, "another size");
  check_cached(a, b, m, &v, k, "the first size again");
  vw_model *m2 = open_model(other);
  vw_view v2;
  vw_view_init(&v2, m2, a->w, a->h);
  check_cached(a, b, m2, &v2, k, "another model");
  hits = vw_render_cache_hits(k);
  check_cached(a, b, m2, &v2, k, "another model again");
  ck_assert_uint_eq(vw_render_cache_hits(k), hits + 1);
  uint64_t ver = vw_model_density_version(m2);
  vw_model_close(m2);   /* the next model may get its address, and its version */
  m2 = NULL;
  ck_assert_msg(vw_model_open(&m2, path, why, sizeof why) == 0, "%s", why);
  while (vw_model_density_version(m2) < ver && !vw_model_overview_step(m2, 0.0)) {}
  check_cached(a, b, m2, &v, k, "a model opened after one was closed");
  vw_render_cache_free(k);
  vw_render_cache_free(NULL);
  ck_assert_uint_eq(vw_render_cache_hits(NULL), 0);
  free(v.cpu_hidden);
  free(v2.cpu_hidden);
  SDL_FreeSurface(a);
  SDL_FreeSurface(b);
  SDL_FreeSurface(c);
  SDL_FreeSurface(d);
  vw_model_close(m);
  vw_model_close(m2);
}
END_TEST

/* Odd sizes and windows draw without crashing: tiny surfaces, one-cycle
   windows, a window past the end, every box open at once. */
START_TEST(render_odd_sizes) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  static const int sizes[][2] = {{1, 1}, {64, 64}, {200, 90}, {320, 240}, {3000, 200}, {640, 2000}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    SDL_Surface *s = surface(sizes[i][0], sizes[i][1]);
    vw_view v;
    vw_view_init(&v, m, s->w, s->h);
    v.show_help = v.show_stats = 1;
    v.has_sel_event = 1;
    v.sel_event = find_ev(path, APIC_EV_HANDLER_ENTER, 1, 0xFB, 0);
    vw_render(s, m, &v);
    v.t1 = v.t0 + 1;
    vw_render(s, m, &v);
    v.t0 = v.t1 = 0;
    v.t1 = 1;
    v.playhead = UINT64_MAX / 2;
    vw_render(s, m, &v);
    free(v.cpu_hidden);
    SDL_FreeSurface(s);
  }
  vw_model_close(m);
}
END_TEST

/* ---- bad input ---- */

/* A file that is not a trace, and a trace cut in the middle: the model says
   why or opens what is whole, the error image is drawn, nothing crashes. */
START_TEST(bad_trace_error_image) {
  char bad[512], cut[512], path[512];
  snprintf(bad, sizeof bad, "%s/viewer_garbage.trace", APICSIM_TEST_TMP);
  FILE *f = fopen(bad, "wb");
  ck_assert_ptr_nonnull(f);
  fputs("this is not a trace\n", f);
  fclose(f);
  vw_model *m = NULL;
  char why[256] = "";
  ck_assert_int_ne(vw_model_open(&m, bad, why, sizeof why), 0);
  ck_assert_ptr_null(m);
  ck_assert_int_gt((int)strlen(why), 0);
  SDL_Surface *s = surface(640, 360);
  vw_render_error(s, why);
  ck_assert_int_gt(count_rect(s, 0, 0, s->w, s->h, 0xFF5050), 50);  /* the red frame */
  ck_assert_int_gt(count_rect(s, 0, 0, s->w, s->h, VW_RGB_TEXT), 50);  /* the reason */
  vw_render_error(s, NULL);
  vw_render(s, NULL, NULL);
  SDL_Surface *tiny = surface(8, 8);
  vw_render_error(tiny, "a long message that cannot possibly fit in eight pixels");
  SDL_FreeSurface(tiny);
  /* every length of a cut trace: open or refuse, then draw */
  ipi8_trace(path, sizeof path);
  f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char data[1 << 20];
  size_t len = fread(data, 1, sizeof data, f);
  fclose(f);
  snprintf(cut, sizeof cut, "%s/viewer_cut.trace", APICSIM_TEST_TMP);
  for (size_t n = 0; n < len; n += len / 13 + 1) {
    f = fopen(cut, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, n, f);
    fclose(f);
    m = NULL;
    if (vw_model_open(&m, cut, why, sizeof why) == 0 && m) {
      vw_view v;
      vw_view_init(&v, m, s->w, s->h);
      v.playhead = v.t1;
      vw_render(s, m, &v);
      free(v.cpu_hidden);
      vw_model_close(m);
    } else {
      vw_render_error(s, why);
    }
  }
  SDL_FreeSurface(s);
}
END_TEST

/* ---- input ---- */

/* W halves the window around the mouse, S doubles it back, A/D pan by a
   quarter, Home and 0 fit the whole trace. */
START_TEST(keys_zoom_pan_fit) {
  events_up();
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  vw_view v;
  vw_view_init(&v, m, 1280, 720);
  const apic_trace_info *in = vw_model_info(m);
  ck_assert_uint_eq(v.t0, in->first_cycle);
  ck_assert_uint_eq(v.t1, in->last_cycle + 1);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  int mx = l.timeline_x + l.timeline_w / 4;
  mouse_move(&v, m, mx, l.lanes_y + 5);
  uint64_t under = vw_x_to_cycle(&v, &l, mx), span = v.t1 - v.t0;
  double cpp = (double)span / l.timeline_w;
  ck_assert_int_eq(key(&v, m, SDLK_w, 0), 1);
  ck_assert_msg(llabs((long long)(v.t1 - v.t0) - (long long)(span / 2)) <= 1, "span %llu -> %llu",
                (unsigned long long)span, (unsigned long long)(v.t1 - v.t0));
  ck_assert_msg(llabs((long long)vw_x_to_cycle(&v, &l, mx) - (long long)under) <= cpp + 1,
                "the cycle under the mouse moved: %llu -> %llu", (unsigned long long)under,
                (unsigned long long)vw_x_to_cycle(&v, &l, mx));
  key(&v, m, SDLK_w, 0);
  uint64_t s4 = v.t1 - v.t0;
  ck_assert(llabs((long long)s4 - (long long)(span / 4)) <= 2);
  /* D pans right by a quarter of the window, A back */
  uint64_t t0 = v.t0;
  key(&v, m, SDLK_d, 0);
  ck_assert(llabs((long long)(v.t0 - t0) - (long long)(s4 / 4)) <= 1);
  ck_assert_uint_eq(v.t1 - v.t0, s4);
  key(&v, m, SDLK_a, 0);
  ck_assert(llabs((long long)v.t0 - (long long)t0) <= 1);
  /* S zooms out around the mouse */
  key(&v, m, SDLK_s, 0);
  ck_assert(llabs((long long)(v.t1 - v.t0) - (long long)(2 * s4)) <= 2);
  /* A at the start stops at the first cycle */
  for (int i = 0; i < 20; i++) key(&v, m, SDLK_a, 0);
  ck_assert_uint_eq(v.t0, in->first_cycle);
  key(&v, m, SDLK_HOME, 0);
  ck_assert_uint_eq(v.t0, in->first_cycle);
  ck_assert_uint_eq(v.t1, in->last_cycle + 1);
  key(&v, m, SDLK_w, 0);
  key(&v, m, SDLK_0, 0);
  ck_assert_uint_eq(v.t1, in->last_cycle + 1);
  /* zooming out never goes past the whole trace */
  key(&v, m, SDLK_s, 0);
  ck_assert_uint_eq(v.t0, in->first_cycle);
  ck_assert_uint_eq(v.t1, in->last_cycle + 1);
  free(v.cpu_hidden);
  vw_model_close(m);
}
END_TEST

/* The wheel zooms at the mouse; dragging pans by what the mouse moved; a
   click on a lane selects the core and the event under the mouse. */
START_TEST(mouse_wheel_drag_click) {
  events_up();
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  vw_view v;
  vw_view_init(&v, m, 1280, 720);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  int mx = l.timeline_x + l.timeline_w / 2;
  mouse_move(&v, m, mx, l.lanes_y + 3);
  uint64_t span = v.t1 - v.t0;
  wheel(&v, m, 1);
  ck_assert_uint_lt(v.t1 - v.t0, span);
  ck_assert(llabs((long long)(v.t1 - v.t0) - (long long)(span * 0.8)) <= 2);
  wheel(&v, m, 3);
  uint64_t s2 = v.t1 - v.t0, t0 = v.t0;
  /* drag 100 px to the right: the window moves 100 px worth to the left */
  mouse_button(&v, m, 1, mx, l.lanes_y + 3);
  mouse_move(&v, m, mx + 50, l.lanes_y + 3);
  mouse_move(&v, m, mx + 100, l.lanes_y + 3);
  mouse_button(&v, m, 0, mx + 100, l.lanes_y + 3);
  double moved = (double)(t0 - v.t0), want = 100.0 * (double)s2 / l.timeline_w;
  ck_assert_msg(moved > want - 2 && moved < want + 2, "moved %.0f, want %.0f", moved, want);
  ck_assert_uint_eq(v.t1 - v.t0, s2);
  wheel(&v, m, -4);
  ck_assert_uint_gt(v.t1 - v.t0, s2);
  /* click at cpu 2's first handler entry */
  apic_event in = find_ev(path, APIC_EV_HANDLER_ENTER, 2, 0xFB, 0);
  v.t0 = in.cycle - 500;
  v.t1 = in.cycle + 500;
  int x = vw_cycle_to_x(&v, &l, in.cycle), y = lane_mid(&l, 2);
  mouse_move(&v, m, x, y);
  mouse_button(&v, m, 1, x, y);
  mouse_button(&v, m, 0, x, y);
  ck_assert_uint_eq(v.t0, in.cycle - 500);   /* a click does not pan */
  ck_assert_uint_eq(v.selected, 2);
  ck_assert_int_eq(v.has_sel_event, 1);
  ck_assert_uint_eq(v.sel_event.cpu, 2);
  ck_assert(llabs((long long)v.sel_event.cycle - (long long)in.cycle) <= 10);
  /* a click on the minimap moves the window there */
  mouse_button(&v, m, 1, l.timeline_x + l.timeline_w - 2, l.minimap_y + 5);
  mouse_button(&v, m, 0, l.timeline_x + l.timeline_w - 2, l.minimap_y + 5);
  ck_assert_uint_eq(v.t1, vw_model_info(m)->last_cycle + 1);
  free(v.cpu_hidden);
  vw_model_close(m);
}
END_TEST

/* '.' and ',' step through events; '/' search for a kind or a vector;
   ']' follows cpu 0's ICR write to the receiver, '[' comes back; G jumps
   to a cycle. */
START_TEST(keys_navigate_search_follow) {
  events_up();
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  vw_view v;
  vw_view_init(&v, m, 1280, 720);
  uint64_t p = v.playhead;
  key(&v, m, SDLK_PERIOD, 0);
  ck_assert_int_eq(v.has_sel_event, 1);
  ck_assert_uint_gt(v.playhead, p);
  uint64_t p1 = v.playhead;
  key(&v, m, SDLK_PERIOD, 0);
  ck_assert_uint_gt(v.playhead, p1);
  key(&v, m, SDLK_COMMA, 0);
  ck_assert_uint_eq(v.playhead, p1);
  /* search: '/', the kind's name, Enter */
  key(&v, m, SDLK_SLASH, 0);
  ck_assert_int_eq(v.searching, 1);
  type_text(&v, m, "/");                    /* the key's own text is not typed */
  type_text(&v, m, "icr_writ");
  type_text(&v, m, "e");
  ck_assert_str_eq(v.search, "icr_write");
  ck_assert_int_eq(key(&v, m, SDLK_w, 0), 0);   /* letters do not zoom while typing */
  key(&v, m, SDLK_RETURN, 0);
  ck_assert_int_eq(v.searching, 0);
  apic_event w0 = find_ev(path, APIC_EV_ICR_WRITE, 0, 0xFB, 0);
  ck_assert_uint_eq(v.sel_event.kind, APIC_EV_ICR_WRITE);
  ck_assert_uint_eq(v.sel_event.cycle, w0.cycle);
  ck_assert(v.t0 <= w0.cycle && w0.cycle < v.t1);
  /* ']' to the receiver's IRR set, again to its handler entry, '[' back */
  apic_event irr = find_ev(path, APIC_EV_IRR_SET, 1, 0xFB, 0);
  apic_event hin = find_ev(path, APIC_EV_HANDLER_ENTER, 1, 0xFB, 0);
  key(&v, m, SDLK_RIGHTBRACKET, 0);
  ck_assert_uint_eq(v.selected, 1);
  ck_assert_uint_eq(v.playhead, irr.cycle);
  key(&v, m, SDLK_RIGHTBRACKET, 0);
  ck_assert_uint_eq(v.selected, 1);
  ck_assert_uint_eq(v.playhead, hin.cycle);
  key(&v, m, SDLK_LEFTBRACKET, 0);
  ck_assert_uint_eq(v.selected, 0);
  ck_assert_uint_eq(v.playhead, w0.cycle);
  /* N repeats the search; Shift+N goes back */
  key(&v, m, SDLK_n, 0);
  apic_event w1 = find_ev(path, APIC_EV_ICR_WRITE, 0, 0xFB, 1);
  ck_assert_uint_eq(v.playhead, w1.cycle);
  key(&v, m, SDLK_n, KMOD_LSHIFT);
  ck_assert_uint_eq(v.playhead, w0.cycle);
  /* a vector: jumps to its next event and filters on it */
  key(&v, m, SDLK_SLASH, 0);
  type_text(&v, m, "0xfb");
  key(&v, m, SDLK_RETURN, 0);
  ck_assert_int_eq(v.vector_filter, 0xFB);
  ck_assert_uint_eq(v.sel_event.vector, 0xFB);
  ck_assert_uint_gt(v.playhead, w0.cycle);
  /* nonsense says so and changes nothing */
  uint64_t ph = v.playhead;
  key(&v, m, SDLK_SLASH, 0);
  type_text(&v, m, "zzz");
  key(&v, m, SDLK_RETURN, 0);
  ck_assert_uint_eq(v.playhead, ph);
  ck_assert_ptr_nonnull(strstr(v.status, "zzz"));
  /* Esc leaves the prompt */
  key(&v, m, SDLK_SLASH, 0);
  key(&v, m, SDLK_ESCAPE, 0);
  ck_assert_int_eq(v.searching, 0);
  /* G 3000 Enter */
  key(&v, m, SDLK_g, 0);
  type_text(&v, m, "g");
  type_text(&v, m, "3000");
  key(&v, m, SDLK_RETURN, 0);
  ck_assert_uint_eq(v.playhead, 3000);
  ck_assert(v.t0 <= 3000 && 3000 < v.t1);
  free(v.cpu_hidden);
  vw_model_close(m);
}
END_TEST

/* M drops markers (two at most), F fits between them; C hides the selected
   core, Shift+C shows all; V cycles the vectors present; T, ? and F1 toggle
   their boxes; Esc deselects; Space plays and the tick moves the playhead. */
START_TEST(keys_markers_filters_replay) {
  events_up();
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  vw_view v;
  vw_view_init(&v, m, 1280, 720);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  int xa = l.timeline_x + l.timeline_w / 4, xb = l.timeline_x + l.timeline_w / 2;
  mouse_move(&v, m, xa, l.lanes_y + 2);
  key(&v, m, SDLK_m, 0);
  mouse_move(&v, m, xb, l.lanes_y + 2);
  key(&v, m, SDLK_m, 0);
  ck_assert_int_eq(v.nmarkers, 2);
  uint64_t ma = v.markers[0], mb = v.markers[1];
  ck_assert_uint_lt(ma, mb);
  ck_assert_ptr_nonnull(strstr(v.status, "cycles"));
  key(&v, m, SDLK_f, 0);
  ck_assert(v.t0 <= ma && mb < v.t1);
  ck_assert_uint_lt(v.t1 - v.t0, (mb - ma) * 2);
  key(&v, m, SDLK_m, 0);   /* a third replaces the older */
  ck_assert_int_eq(v.nmarkers, 2);
  ck_assert_uint_eq(v.markers[0], mb);
  key(&v, m, SDLK_m, KMOD_LSHIFT);
  ck_assert_int_eq(v.nmarkers, 0);
  /* hide cpu 0 and cpu 1, then show all */
  ck_assert_uint_eq(v.selected, 0);
  key(&v, m, SDLK_c, 0);
  ck_assert_int_eq(v.cpu_hidden[0], 1);
  ck_assert_uint_eq(v.selected, 1);
  key(&v, m, SDLK_c, 0);
  vw_layout_get(&v, m, &l);
  ck_assert_int_eq(l.nlanes, 6);
  key(&v, m, SDLK_c, KMOD_LSHIFT);
  vw_layout_get(&v, m, &l);
  ck_assert_int_eq(l.nlanes, 8);
  /* V: the one vector present, then all again */
  key(&v, m, SDLK_v, 0);
  ck_assert_int_eq(v.vector_filter, 0xFB);
  key(&v, m, SDLK_v, 0);
  ck_assert_int_eq(v.vector_filter, -1);
  key(&v, m, SDLK_v, KMOD_LSHIFT);
  ck_assert_int_eq(v.vector_filter, 0xFB);
  /* boxes */
  key(&v, m, SDLK_t, 0);
  ck_assert_int_eq(v.show_stats, 1);
  key(&v, m, SDLK_SLASH, KMOD_LSHIFT);
  ck_assert_int_eq(v.show_help, 1);
  key(&v, m, SDLK_F1, 0);
  ck_assert_int_eq(v.show_help, 0);
  key(&v, m, SDLK_PERIOD, 0);
  ck_assert_int_eq(v.has_sel_event, 1);
  key(&v, m, SDLK_ESCAPE, 0);
  ck_assert_int_eq(v.has_sel_event, 0);
  /* replay */
  key(&v, m, SDLK_HOME, 0);
  uint64_t p = v.playhead;
  double sp = v.speed;
  key(&v, m, SDLK_SPACE, 0);
  ck_assert_int_eq(v.playing, 1);
  key(&v, m, SDLK_PLUS, 0);
  ck_assert(v.speed == sp * 2);
  key(&v, m, SDLK_MINUS, 0);
  ck_assert(v.speed == sp);
  ck_assert_int_eq(vw_view_tick(&v, m, 0.5), 1);
  ck_assert(llabs((long long)(v.playhead - p) - (long long)(sp * 0.5)) <= 1);
  for (int i = 0; i < 100 && v.playing; i++) vw_view_tick(&v, m, 1.0);
  ck_assert_int_eq(v.playing, 0);   /* stops at the end */
  ck_assert_uint_eq(v.playhead, vw_model_info(m)->last_cycle);
  ck_assert_int_eq(vw_view_tick(&v, m, 1.0), 0);
  free(v.cpu_hidden);
  vw_model_close(m);
}
END_TEST

/* Every frame names the lane colours in its status line, with swatches in
   the lanes' own colours (a rendered image has no '?' overlay), and the side
   panel labels the yellow PPR tick beside the ISR grid. */
START_TEST(legend_in_every_frame) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  vw_render(s, m, &v);
  const int status_h = 14;  /* render.c STATUS_H */
  static const uint8_t states[] = {VW_RUN, VW_IRQOFF, VW_HALT, VW_WAIT_SIPI};
  for (size_t i = 0; i < sizeof states; i++)
    ck_assert_msg(count_rect(s, 0, s->h - status_h, s->w, status_h,
                             vw_state_rgb(states[i], 0)) >= 20,
                  "no swatch for state %u in the status line", states[i]);
  int handler = 0;
  for (int vec = 0x10; vec < 0x100; vec += 0x10)
    handler += count_rect(s, 0, s->h - status_h, s->w, status_h, vw_state_rgb(VW_HANDLER, vec));
  ck_assert_int_ge(handler, 20);
  /* the PPR tick beside the grid is at most 2 x 9 pixels; its label adds more */
  vw_layout l;
  vw_layout_get(&v, m, &l);
  ck_assert_int_gt(l.panel_w, 0);
  ck_assert_int_gt(count_rect(s, l.panel_x, 0, l.panel_w, s->h - status_h, VW_RGB_ARROW), 2 * 9);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* A short window (1000x300) leaves out the side panel's grids that do not
   fit instead of cutting one off: the empty cells drawn (IRR, ISR and TMR
   are all clear at cycle 0) make whole grids of 16 x 16 cells. */
START_TEST(panel_drops_grids_that_do_not_fit) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1000, 300);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  v.playhead = 0;
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  ck_assert_int_gt(l.panel_w, 0);
  const uint32_t cell_off = 0x29313b;  /* render.c RGB_GRID_OFF */
  int n = count_rect(s, l.panel_x, 0, l.panel_w, s->h, cell_off), whole = 0;
  for (int cs = 3; cs <= 10; cs++)  /* cells of cs - 1 pixels square */
    if (n && n % (256 * (cs - 1) * (cs - 1)) == 0 && n / (256 * (cs - 1) * (cs - 1)) <= 3)
      whole = 1;
  ck_assert_msg(whole, "%d empty-cell pixels: not whole grids", n);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  vw_model_close(m);
}
END_TEST

/* A details box lists the selected event's fields and its latency. */
START_TEST(details_box_for_selected_event) {
  char path[512];
  ipi8_trace(path, sizeof path);
  vw_model *m = open_model(path);
  SDL_Surface *s = surface(1280, 720), *plain = surface(1280, 720);
  vw_view v;
  vw_view_init(&v, m, s->w, s->h);
  apic_event in = find_ev(path, APIC_EV_HANDLER_ENTER, 3, 0xFB, 0);
  v.t0 = in.cycle - 1500;
  v.t1 = in.cycle + 500;
  vw_render(plain, m, &v);
  v.has_sel_event = 1;
  v.sel_event = in;
  vw_render(s, m, &v);
  vw_layout l;
  vw_layout_get(&v, m, &l);
  /* the box adds text above the minimap, left in the timeline */
  int before = ink_rect(plain, l.timeline_x, l.minimap_y - 170, 400, 160);
  int after = ink_rect(s, l.timeline_x, l.minimap_y - 170, 400, 160);
  ck_assert_int_gt(after, before + 2000);
  free(v.cpu_hidden);
  SDL_FreeSurface(s);
  SDL_FreeSurface(plain);
  vw_model_close(m);
}
END_TEST

/* ---- the command ---- */

#ifdef APICVIEW_EXE
static int run(const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", APICVIEW_EXE, args);
  int rc = system(cmd);
  return rc == -1 ? -1 : (rc >> 8) & 255;
}

/* apicview --render writes the picture (exit 0), the error image for a bad
   trace (exit 1), refuses bad options (exit 2); --help documents them. */
START_TEST(command_render_and_errors) {
  char path[512], out[512], args[1600];
  ipi8_trace(path, sizeof path);
  snprintf(out, sizeof out, "%s/viewer_cmd.bmp", APICSIM_TEST_TMP);
  remove(out);
  snprintf(args, sizeof args, "'%s' --render '%s' --at 3000 --window 2000:6000 --size 640x400 --select 1",
           path, out);
  ck_assert_int_eq(run(args), 0);
  SDL_Surface *s = SDL_LoadBMP(out);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->w, 640);
  ck_assert_int_eq(s->h, 400);
  SDL_FreeSurface(s);
  /* a bad trace: the error image and status 1 */
  char bad[512];
  snprintf(bad, sizeof bad, "%s/viewer_cmd_bad.trace", APICSIM_TEST_TMP);
  FILE *f = fopen(bad, "wb");
  ck_assert_ptr_nonnull(f);
  fputs("garbage", f);
  fclose(f);
  remove(out);
  snprintf(args, sizeof args, "'%s' --render '%s'", bad, out);
  ck_assert_int_eq(run(args), 1);
  s = SDL_LoadBMP(out);
  ck_assert_ptr_nonnull(s);
  SDL_FreeSurface(s);
  snprintf(args, sizeof args, "'%s/no/such/file' --render '%s'", APICSIM_TEST_TMP, out);
  ck_assert_int_eq(run(args), 1);
  snprintf(args, sizeof args, "'%s' --render '%s' --window 9:3", path, out);
  ck_assert_int_eq(run(args), 2);
  snprintf(args, sizeof args, "'%s' --render '%s' --size 10", path, out);
  ck_assert_int_eq(run(args), 2);
  snprintf(args, sizeof args, "'%s' --render '%s' --select 8", path, out);
  ck_assert_int_eq(run(args), 2);
  ck_assert_int_eq(run("--frobnicate"), 2);
  ck_assert_int_eq(run("--help"), 0);
  /* --help names every option */
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' --help", APICVIEW_EXE);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  static char help[16384];
  size_t n = fread(help, 1, sizeof help - 1, p);
  help[n] = 0;
  pclose(p);
  static const char *const words[] = {"--render", "--at", "--window", "--size", "--select",
                                      "--bench", "W / S", "A / D", "Home", "F ", "] / [",
                                      "/ ", "M ", "Esc", "Space", "T ", "C ", "V ", "G ", "F1",
                                      "colours", "running", "IF=0", "halted", "SIPI",
                                      "in a handler", "PPR"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    ck_assert_msg(strstr(help, words[i]), "--help does not mention '%s'", words[i]);
}
END_TEST
#endif

#ifdef APICVIEW_EXE
/* Runs apicview with env in front (e.g. "SDL_VIDEODRIVER=dummy"), killed
   after a few seconds if it hangs (status 124); its stderr into err. */
static int run_err(const char *env, const char *args, char *err, size_t n) {
  char log[512], cmd[2048];
  snprintf(log, sizeof log, "%s/viewer_cmd_err.txt", APICSIM_TEST_TMP);
  snprintf(cmd, sizeof cmd, "%s timeout 10 '%s' %s >/dev/null 2>'%s'", env, APICVIEW_EXE, args,
           log);
  int rc = system(cmd);
  err[0] = 0;
  FILE *f = fopen(log, "r");
  if (f) {
    size_t k = fread(err, 1, n - 1, f);
    err[k] = 0;
    fclose(f);
  }
  return rc == -1 ? -1 : (rc >> 8) & 255;
}

/* --render writes .png or .bmp and refuses other names before drawing
   (a .jpg was a BMP in disguise); a file it cannot write says why. */
START_TEST(command_render_names_and_write_errors) {
  char path[512], out[512], args[1600], err[2048];
  ipi8_trace(path, sizeof path);
  snprintf(out, sizeof out, "%s/viewer_cmd.jpg", APICSIM_TEST_TMP);
  remove(out);
  snprintf(args, sizeof args, "'%s' --render '%s'", path, out);
  ck_assert_int_eq(run_err("", args, err, sizeof err), 2);
  ck_assert_msg(strstr(err, ".png") && strstr(err, ".bmp") && strstr(err, "viewer_cmd.jpg"),
                "stderr: %s", err);
  FILE *f = fopen(out, "rb");
  ck_assert_msg(!f, "%s written", out);
  snprintf(out, sizeof out, "%s/viewer_cmd.PNG", APICSIM_TEST_TMP);
  snprintf(args, sizeof args, "'%s' --render '%s' --size 200x100", path, out);
  ck_assert_int_eq(run_err("", args, err, sizeof err), 0);
  ck_assert_int_eq(remove(out), 0);
  static const char *const exts[] = {"png", "bmp"};
  for (int i = 0; i < 2; i++) {  /* "cannot write OUT: reason" */
    snprintf(out, sizeof out, "%s/no/such/dir/x.%s", APICSIM_TEST_TMP, exts[i]);
    snprintf(args, sizeof args, "'%s' --render '%s'", path, out);
    ck_assert_int_eq(run_err("", args, err, sizeof err), 1);
    char want[600];
    snprintf(want, sizeof want, "cannot write %s: ", out);
    const char *at = strstr(err, want);
    ck_assert_msg(at && at[strlen(want)] > ' ', "%s: stderr: %s", exts[i], err);
    if (i == 0) ck_assert_msg(strstr(err, strerror(ENOENT)), "stderr: %s", err);
  }
}
END_TEST

/* apicview TRACE where SDL has no display (its offscreen or dummy driver)
   says so and exits 1 instead of waiting in a window nobody sees; a trace
   that cannot be opened exits 1 with its error before any window. */
START_TEST(command_without_display) {
  char path[512], args[1100], err[2048];
  ipi8_trace(path, sizeof path);
  static const char *const drivers[] = {"offscreen", "dummy"};
  for (int i = 0; i < 2; i++) {
    char env[64];
    snprintf(env, sizeof env, "SDL_VIDEODRIVER=%s", drivers[i]);
    snprintf(args, sizeof args, "'%s'", path);
    ck_assert_int_eq(run_err(env, args, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "no display") && strstr(err, drivers[i]) && strstr(err, "--render"),
                  "stderr: %s", err);
    snprintf(args, sizeof args, "'%s/no/such/file'", APICSIM_TEST_TMP);
    ck_assert_int_eq(run_err(env, args, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "no/such/file") && !strstr(err, "no display"), "stderr: %s", err);
  }
}
END_TEST
#endif

static Suite *viewer_suite(void) {
  Suite *s = suite_create("viewer");
  TCase *pic = tcase_create("pictures");
  tcase_set_timeout(pic, 120);
  tcase_add_test(pic, font_every_glyph);
  tcase_add_test(pic, palette_distinct);
  tcase_add_test(pic, lanes_one_per_core);
  tcase_add_test(pic, handler_slice_where_the_trace_says);
  tcase_add_test(pic, arrow_from_icr_write_to_handler_entry);
  tcase_add_test(pic, coalesced_delivery_stands_out);
  tcase_add_test(pic, irr_grid_shows_pending_vectors);
  tcase_add_test(pic, density_view_for_many_cores);
  tcase_add_test(pic, pin_lane_for_used_pin);
  tcase_add_test(pic, render_is_deterministic);
  tcase_add_test(pic, cached_minimap_equals_fresh);
  tcase_add_test(pic, render_odd_sizes);
  tcase_add_test(pic, details_box_for_selected_event);
  tcase_add_test(pic, legend_in_every_frame);
  tcase_add_test(pic, panel_drops_grids_that_do_not_fit);
  tcase_add_test(pic, bad_trace_error_image);
  suite_add_tcase(s, pic);
  TCase *in = tcase_create("input");
  tcase_add_test(in, keys_zoom_pan_fit);
  tcase_add_test(in, mouse_wheel_drag_click);
  tcase_add_test(in, keys_navigate_search_follow);
  tcase_add_test(in, keys_markers_filters_replay);
  suite_add_tcase(s, in);
#ifdef APICVIEW_EXE
  TCase *cmd = tcase_create("command");
  tcase_set_timeout(cmd, 120);
  tcase_add_test(cmd, command_render_and_errors);
  tcase_add_test(cmd, command_without_display);
  tcase_add_test(cmd, command_render_names_and_write_errors);
  suite_add_tcase(s, cmd);
#endif
  return s;
}

int main(void) { return tu_run(viewer_suite()); }
