/*
 * bench.c - apicsim-bench: workloads that print host cost figures.
 *
 *   pingpong   two cores bounce a fixed physical IPI: host ns per delivery
 *   broadcast  all-excluding-self IPIs on 1024 x2APIC cores: ns per receiver,
 *              with the receivers' handlers, and (fanout) the message's
 *              fan-out alone: receivers keep IF=0, only IRR latches
 *   storm      IPI tokens hopping between 16 cores: trace bytes per record and
 *              the cost of tracing against the same run untraced, with a
 *              hook that only counts, and split between the run's thread
 *              and the trace writer's compression worker
 *   timers     4096 halted cores woken by periodic APIC timers at 1 kHz of
 *              simulated time, then the same number of expiries spread over
 *              10x more cycles: the two host times should match
 *
 * Figures, never assertions: the tests check behaviour, this checks cost.
 * Memory is counted exactly through a counting allocator (apic_config.alloc).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "apicsim/guest.h"
#include "apicsim/trace.h"

typedef struct counter { size_t live, peak; } counter;

/* Keeps a size header so frees know how much to subtract. */
static void *count_alloc(void *ud, void *p, size_t n) {
  counter *c = ud;
  size_t *h = p ? (size_t *)p - 2 : NULL;
  size_t old = h ? h[0] : 0;
  if (n == 0) { free(h); c->live -= old; return NULL; }
  size_t *nh = realloc(h, n + 2 * sizeof(size_t));
  if (!nh) return NULL;
  nh[0] = n;
  c->live += n - old;
  if (c->live > c->peak) c->peak = c->live;
  return nh + 2;
}

static double clock_sec(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double host_sec(void) { return clock_sec(CLOCK_MONOTONIC); }

static long peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static apic_sim *make(apic_config *cfg, counter *mem) {
  apic_sim *s;
  char why[256];
  cfg->alloc = count_alloc;
  cfg->alloc_ud = mem;
  if (apic_sim_create(&s, cfg, why, sizeof why)) {
    fprintf(stderr, "apicsim-bench: %s\n", why);
    exit(1);
  }
  return s;
}

/* One line per workload; `unit` and `units` name what was counted
   ("delivery", "deliveries"), in columns that line up across workloads. */
static void report(const char *name, double secs, uint64_t n, const char *unit,
                   const char *units, const apic_sim *s, const counter *mem, uint32_t ncpus) {
  apic_stats st;
  apic_sim_stats(s, &st);
  char per[32], count[48];
  snprintf(per, sizeof per, "ns/%s", unit);
  snprintf(count, sizeof count, "%llu %s", (unsigned long long)n, units);
  printf("%-16s %10.1f %-12s %12.0f events/s  %-18s %7.3f s host  "
         "%6.0f B/core model  %ld KiB peak RSS\n",
         name, secs * 1e9 / (double)n, per, (double)st.events / secs, count, secs,
         (double)mem->peak / ncpus, peak_rss_kib());
}

/* ---- ping-pong ---- */

typedef struct pp { uint32_t left; } pp;

static int pp_handler(apic_cpu *c, void *arg) {
  pp *p = arg;
  APIC_BEGIN(c);
  APIC_EOI(c);
  if (p->left == 0) return APIC_DONE;
  p->left--;
  APIC_SPIN_ICR_IDLE(c);
  APIC_WRITE(c, APIC_REG_ICR_HI, (apic_cpu_index(c) ^ 1u) << APIC_ICR_DEST_SHIFT);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  APIC_END(c);
}

static int pp_start(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  if (apic_cpu_index(c) == 0) {
    APIC_WRITE(c, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
    APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  }
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static void bench_pingpong(uint32_t n) {
  counter mem = {0, 0};
  apic_config cfg;
  apic_config_default(&cfg, 2);
  apic_sim *s = make(&cfg, &mem);
  pp p = {n - 1};
  apic_sim_set_handler(s, APIC_NONE, 0x40, pp_handler, &p);
  apic_sim_set_program(s, 0, pp_start, NULL);
  apic_sim_set_program(s, 1, pp_start, NULL);
  double t0 = host_sec();
  apic_sim_run(s, UINT64_MAX);
  double t = host_sec() - t0;
  apic_stats st;
  apic_sim_stats(s, &st);
  report("pingpong", t, st.deliveries, "delivery", "deliveries", s, &mem, 2);
  apic_sim_destroy(s);
}

/* ---- broadcast ---- */

typedef struct bc { volatile uint32_t acks; uint32_t rounds, ncpus; } bc;

static int bc_handler(apic_cpu *c, void *arg) {
  bc *b = arg;
  APIC_BEGIN(c);
  APIC_EOI(c);
  APIC_DO(c, apic_cpu_fetch_add(c, &b->acks, 1));
  APIC_END(c);
}

static int bc_sender(apic_cpu *c, void *arg) {
  bc *b = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 1000);  /* let the receivers enable their APICs */
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < b->rounds; APIC_L(c, 0)++) {
    b->acks = 0;
    APIC_DO(c, apic_cpu_send_ipi(c, 0, APIC_ICR_LO(0x40, APIC_DM_FIXED,
                                                   APIC_ICR_SH(APIC_SH_OTHERS))));
    APIC_SPIN_UNTIL(c, &b->acks, b->acks == b->ncpus - 1);
  }
  APIC_END(c);
}

static int bc_idle(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static void bench_broadcast(uint32_t ncpus, uint32_t rounds) {
  counter mem = {0, 0};
  apic_config cfg;
  apic_config_default(&cfg, ncpus);
  cfg.x2apic = 1;
  apic_sim *s = make(&cfg, &mem);
  bc b = {0, rounds, ncpus};
  apic_sim_set_handler(s, APIC_NONE, 0x40, bc_handler, &b);
  apic_sim_set_program(s, 0, bc_sender, &b);
  for (uint32_t i = 1; i < ncpus; i++) apic_sim_set_program(s, i, bc_idle, NULL);
  double t0 = host_sec();
  apic_sim_run(s, UINT64_MAX);
  double t = host_sec() - t0;
  apic_stats st;
  apic_sim_stats(s, &st);
  report("broadcast", t, st.deliveries, "receiver", "receivers", s, &mem, ncpus);
  apic_sim_destroy(s);
}

/* ---- broadcast fan-out only: receivers keep IF=0, so no handler runs ---- */

static int fan_sender(apic_cpu *c, void *arg) {
  const bc *b = arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 1000);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < b->rounds; APIC_L(c, 0)++) {
    APIC_DO(c, apic_cpu_send_ipi(c, 0, APIC_ICR_LO(0x40 + APIC_L(c, 0) % 0xB0, APIC_DM_FIXED,
                                                   APIC_ICR_SH(APIC_SH_OTHERS))));
    APIC_WORK(c, 2000);
  }
  APIC_END(c);
}

static int fan_receiver(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_HLT(c);  /* IF stays 0: IRR latches, the core never wakes */
  APIC_END(c);
}

static void bench_fanout(uint32_t ncpus, uint32_t rounds) {
  counter mem = {0, 0};
  apic_config cfg;
  apic_config_default(&cfg, ncpus);
  cfg.x2apic = 1;
  apic_sim *s = make(&cfg, &mem);
  bc b = {0, rounds, ncpus};
  apic_sim_set_program(s, 0, fan_sender, &b);
  for (uint32_t i = 1; i < ncpus; i++) apic_sim_set_program(s, i, fan_receiver, NULL);
  apic_sim_run(s, 500);  /* receivers are set up and halted */
  double t0 = host_sec();
  apic_sim_run(s, UINT64_MAX);
  double t = host_sec() - t0;
  report("fanout", t, (uint64_t)rounds * (ncpus - 1), "receiver", "receivers", s, &mem, ncpus);
  apic_sim_destroy(s);
}

/* ---- timers ---- */

static int tm_handler(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_EOI(c);
  APIC_END(c);
}

static int tm_prog(apic_cpu *c, void *arg) {
  uint32_t period = *(const uint32_t *)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WRITE(c, APIC_REG_TIMER_DCR, 0xB);  /* divide by 1 */
  APIC_WRITE(c, APIC_REG_LVT_TIMER, 0x40 | (APIC_TIMER_PERIODIC << APIC_LVT_TIMER_SHIFT));
  /* Stagger the cores so expiries are spread, as with real boot skew. The
     order of the cores within a period does not depend on the period, so a
     run with 10x the period is the same event sequence, 10x as spread out. */
  {
    uint32_t n = apic_sim_ncpus(apic_cpu_sim(c));
    uint32_t rank = (uint32_t)(((uint64_t)apic_cpu_index(c) * 7919u) % n);
    APIC_WORK(c, (uint32_t)((uint64_t)rank * period / n));
  }
  APIC_WRITE(c, APIC_REG_TIMER_ICR, period);
  APIC_STI(c);
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

static double bench_timers_once(uint32_t ncpus, uint32_t period, uint32_t periods, int print) {
  counter mem = {0, 0};
  apic_config cfg;
  apic_config_default(&cfg, ncpus);
  cfg.x2apic = 1;
  apic_sim *s = make(&cfg, &mem);
  apic_sim_set_handler(s, APIC_NONE, 0x40, tm_handler, NULL);
  for (uint32_t i = 0; i < ncpus; i++) apic_sim_set_program(s, i, tm_prog, &period);
  double t0 = host_sec();
  apic_sim_run(s, (uint64_t)period * (periods + 1));
  double t = host_sec() - t0;
  apic_stats st;
  apic_sim_stats(s, &st);
  if (print) {
    char name[32];
    snprintf(name, sizeof name, "timers/%u", period);
    /* expiries (timer deliveries), not handler entries: at the end of the
       dense run a few handlers are still on their way */
    report(name, t, st.deliveries, "tick", "ticks", s, &mem, ncpus);
  }
  apic_sim_destroy(s);
  return t;
}

static void bench_timers(uint32_t ncpus, uint32_t periods) {
  const uint32_t period = 1000000; /* 1 kHz at the default 1 GHz core clock */
  bench_timers_once(ncpus, period, 1, 0);  /* warm up the host caches */
  /* alternate the two runs and keep each one's best of three: on a shared
     machine a single pair of runs differs by more than the effect measured */
  double a = 1e30, b = 1e30;
  for (int i = 0; i < 3; i++) {
    double x = bench_timers_once(ncpus, period, periods, i == 2);
    double y = bench_timers_once(ncpus, period * 10, periods, i == 2);
    if (x < a) a = x;
    if (y < b) b = y;
  }
  printf("timers     same expiries over 10x the cycles: host time ratio %.3f, best of 3 each "
         "(1.000 = cost independent of idle cycles)\n", b / a);
}

/* ---- storm: IPI tokens hop between cores; traced against untraced ---- */

typedef struct storm { uint32_t ncpus; uint32_t seed[64]; } storm;

static int st_handler(apic_cpu *c, void *arg) {
  storm *st = arg;
  APIC_BEGIN(c);
  APIC_EOI(c);
  {
    uint32_t *x = &st->seed[apic_cpu_index(c)];
    *x = *x * 1664525u + 1013904223u;  /* each core picks where the token goes */
    APIC_L(c, 0) = (apic_cpu_index(c) + 1 + (*x >> 16) % (st->ncpus - 1)) % st->ncpus;
  }
  APIC_SPIN_ICR_IDLE(c);
  APIC_WRITE(c, APIC_REG_ICR_HI, (uint32_t)APIC_L(c, 0) << APIC_ICR_DEST_SHIFT);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(0x40 + apic_cpu_index(c) % 8 * 16, APIC_DM_FIXED, 0));
  APIC_END(c);
}

static int st_start(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_STI(c);
  APIC_WORK(c, 100);
  APIC_WRITE(c, APIC_REG_ICR_HI, ((apic_cpu_index(c) + 1) % 16) << APIC_ICR_DEST_SHIFT);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  for (;;) APIC_HLT(c);
  APIC_END(c);
}

/* Host time of one storm run: wall clock, the run's thread, the process
   (the trace writer's compression worker is the difference). */
typedef struct st_times { double wall, thread, process; } st_times;

/* A hook that only counts: what the engine's events cost before any writer. */
static void st_count(void *ud, const apic_event *ev) {
  (void)ev;
  ++*(uint64_t *)ud;
}

/* path NULL: untraced, or with the counting hook if counted is not NULL;
   say: print the untraced run's counts. */
static st_times storm_once(uint64_t cycles, const char *path, apic_trace_writer_stats *ws,
                           uint64_t *counted, int say) {
  counter mem = {0, 0};
  apic_config cfg;
  apic_config_default(&cfg, 16);
  apic_sim *s = make(&cfg, &mem);
  storm st = {16, {0}};
  for (uint32_t i = 0; i < 16; i++) st.seed[i] = i * 2654435761u + 1;
  for (int v = 0; v < 8; v++) apic_sim_set_handler(s, APIC_NONE, (uint8_t)(0x40 + v * 16), st_handler, &st);
  for (uint32_t i = 0; i < 16; i++) apic_sim_set_program(s, i, st_start, NULL);
  if (counted) apic_sim_set_hook(s, st_count, counted);
  apic_trace_writer *w = NULL;
  char why[256];
  st_times t0 = {host_sec(), clock_sec(CLOCK_THREAD_CPUTIME_ID), clock_sec(CLOCK_PROCESS_CPUTIME_ID)};
  if (path && apic_trace_writer_open(&w, s, path, NULL, why, sizeof why)) {
    fprintf(stderr, "apicsim-bench: %s\n", why);
    unlink(path);
    exit(1);
  }
  apic_sim_run(s, cycles);
  if (w) {
    apic_trace_writer_stats_get(w, ws);
    if (apic_trace_writer_close(w)) {
      fprintf(stderr, "apicsim-bench: trace write failed\n");
      unlink(path);
      exit(1);
    }
  }
  st_times t = {host_sec() - t0.wall, clock_sec(CLOCK_THREAD_CPUTIME_ID) - t0.thread,
                clock_sec(CLOCK_PROCESS_CPUTIME_ID) - t0.process};
  apic_stats sst;
  apic_sim_stats(s, &sst);
  if (!path && !counted && say)
    printf("storm      untraced: %llu deliveries, %llu engine events in %.3f s host\n",
           (unsigned long long)sst.deliveries, (unsigned long long)sst.events, t.wall);
  apic_sim_destroy(s);
  return t;
}

static void keep_best(st_times *best, st_times t) {
  if (t.wall < best->wall) *best = t;
}

static void bench_storm(uint64_t cycles, int rounds) {
  char path[] = "/tmp/apicsim-storm-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) { perror("apicsim-bench: mkstemp"); exit(1); }
  close(fd);
  apic_trace_writer_stats ws = {0, 0, 0, 0};
  uint64_t events = 0;
  /* the three runs in turn, each one's best of `rounds`: on a shared
     machine one run's time varies by more than tracing costs */
  st_times plain = {1e30, 0, 0}, hooked = plain, traced = plain;
  for (int i = 0; i < rounds; i++) {
    keep_best(&plain, storm_once(cycles, NULL, NULL, NULL, i == 0));
    events = 0;
    keep_best(&hooked, storm_once(cycles, NULL, NULL, &events, 0));
    keep_best(&traced, storm_once(cycles, path, &ws, NULL, 0));
  }
  struct stat sb;
  uint64_t bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  unlink(path);
  double nrec = (double)(ws.records ? ws.records : 1);
  printf("storm      counting hook: %.3f s host = +%.0f%%: the engine's events alone, "
         "%.1f ns per event\n", hooked.wall, 100.0 * (hooked.wall - plain.wall) / plain.wall,
         (hooked.thread - plain.thread) * 1e9 / (double)(events ? events : 1));
  printf("storm      traced:   %llu records, %llu bytes = %.2f bytes/record, "
         "%.1f M records/s written\n", (unsigned long long)ws.records,
         (unsigned long long)bytes, (double)bytes / nrec, (double)ws.records / traced.wall / 1e6);
  printf("storm      tracing cost: %.3f s with trace vs %.3f s without = +%.0f%% "
         "(best of %d each)\n", traced.wall, plain.wall,
         100.0 * (traced.wall - plain.wall) / plain.wall, rounds);
  /* the run waits for the worker when wall time exceeds its own CPU time
     (or the machine is busy: then the two threads share a core) */
  printf("storm      where: run's thread %.3f s CPU (%.1f ns/record over the counting hook), "
         "compression worker %.3f s CPU (%.1f ns/record)\n", traced.thread,
         (traced.thread - hooked.thread) * 1e9 / nrec, traced.process - traced.thread,
         (traced.process - traced.thread) * 1e9 / nrec);
}

/* One storm run of one kind, for a profiler (--storm-run): callgrind
   counts the instructions of each kind without the other two. */
static void bench_storm_one(uint64_t cycles, const char *kind) {
  char path[] = "/tmp/apicsim-storm-XXXXXX";
  uint64_t events = 0;
  apic_trace_writer_stats ws = {0, 0, 0, 0};
  st_times t;
  if (!strcmp(kind, "traced")) {
    int fd = mkstemp(path);
    if (fd < 0) { perror("apicsim-bench: mkstemp"); exit(1); }
    close(fd);
    t = storm_once(cycles, path, &ws, NULL, 0);
    unlink(path);
    printf("storm      traced: %llu records", (unsigned long long)ws.records);
  } else if (!strcmp(kind, "hooked")) {
    t = storm_once(cycles, NULL, NULL, &events, 0);
    printf("storm      counting hook: %llu events", (unsigned long long)events);
  } else {
    t = storm_once(cycles, NULL, NULL, NULL, 1);
    printf("storm      untraced");
  }
  printf(" in %.3f s host, run's thread %.3f s CPU\n", t.wall, t.thread);
}

static void usage(void) {
  puts("usage: apicsim-bench [pingpong|broadcast|timers|storm|all] [--quick]\n"
       "                     [--storm-cycles N] [--storm-run untraced|hooked|traced]\n"
       "  prints host ns per delivery, simulated events per host second and memory;\n"
       "  --quick runs smaller sizes (for smoke tests); --storm-cycles sets the\n"
       "  storm's length (300000000); --storm-run makes one storm run of that kind\n"
       "  and nothing else (for a profiler such as valgrind --tool=callgrind)");
}

int main(int argc, char **argv) {
  const char *which = "all", *storm_run = NULL;
  int quick = 0;
  uint64_t storm_cycles = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--storm-cycles") && i + 1 < argc) {
      char *end;
      errno = 0;
      storm_cycles = strtoull(argv[++i], &end, 10);
      if (errno || *end || end == argv[i] || argv[i][0] == '-' || storm_cycles == 0 ||
          storm_cycles > APIC_CYCLE_MAX) {
        fprintf(stderr, "apicsim-bench: --storm-cycles wants a number of cycles, 1 to %llu "
                "(APIC_CYCLE_MAX), not '%s'\n", (unsigned long long)APIC_CYCLE_MAX, argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--storm-run") && i + 1 < argc) {
      storm_run = argv[++i];
      if (strcmp(storm_run, "untraced") && strcmp(storm_run, "hooked") &&
          strcmp(storm_run, "traced")) {
        fprintf(stderr, "apicsim-bench: --storm-run wants untraced, hooked or traced, not "
                "'%s'\n", storm_run);
        return 2;
      }
    }
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
    else if (!strcmp(argv[i], "pingpong") || !strcmp(argv[i], "broadcast") ||
             !strcmp(argv[i], "timers") || !strcmp(argv[i], "storm") ||
             !strcmp(argv[i], "all")) which = argv[i];
    else if (!strcmp(argv[i], "--storm-cycles") || !strcmp(argv[i], "--storm-run")) {
      fprintf(stderr, "apicsim-bench: %s needs a value\n", argv[i]);
      return 2;
    } else { fprintf(stderr, "apicsim-bench: unknown argument '%s'\n", argv[i]); usage(); return 2; }
  }
  printf("apicsim %s bench%s\n", apic_version(), quick ? " (quick)" : "");
  if (!storm_cycles) storm_cycles = quick ? 200000 : 300000000;
  if (storm_run) {
    bench_storm_one(storm_cycles, storm_run);
    return 0;
  }
  int all = !strcmp(which, "all");
  if (all || !strcmp(which, "pingpong")) bench_pingpong(quick ? 20000 : 2000000);
  if (all || !strcmp(which, "broadcast")) {
    bench_broadcast(1024, quick ? 20 : 2000);
    bench_fanout(1024, quick ? 20 : 2000);
  }
  if (all || !strcmp(which, "timers")) bench_timers(4096, quick ? 2 : 200);
  if (all || !strcmp(which, "storm")) bench_storm(storm_cycles, quick ? 1 : 3);
  return 0;
}
