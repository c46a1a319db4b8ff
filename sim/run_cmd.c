/*
 * run_cmd.c - `apicsim run`, `apicsim check` and `apicsim list-programs`.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "apicsim/programs.h"
#include "apicsim/scenario.h"
#include "cli.h"

static double host_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define MAX_SEED (UINT64_MAX >> 1)   /* as run.seed in a scenario */
#define MAX_RUN_CYCLES (1ull << 62)

typedef struct progress { double start, last; int shown; } progress;

/* After the first second or two, a line on stderr about once a second,
   redrawn in place with \r: only on a terminal (see cmd_run). */
static void on_progress(void *ud, uint64_t now, uint64_t end) {
  progress *p = ud;
  double t = host_now();
  if (t - p->start < 1.5 || t - p->last < 1.0) return;
  p->last = t;
  p->shown = 1;
  fprintf(stderr, "\rapicsim: cycle %llu of %llu (%.0f%%), %.0f s", (unsigned long long)now,
          (unsigned long long)end, 100.0 * (double)now / (double)(end ? end : 1), t - p->start);
  fflush(stderr);
}

static const char run_help[] =
    "usage: apicsim run SCENARIO.json [-o TRACE] [--seed N] [--cycles N] [--quiet]\n"
    "Runs the scenario, writes a trace (with -o), prints a summary and the result\n"
    "of every expectation. examples/README.md describes scenario files.\n"
    "  -o TRACE     write a trace there (apicsim trace, apicview)\n"
    "  --seed N     override the scenario's run.seed\n"
    "  --cycles N   override the scenario's run.cycles (at least 1)\n"
    "  -q, --quiet  no progress line on stderr (drawn only when stderr is a\n"
    "               terminal, after the first second or so)\n"
    "The summary says why the run stopped: done (run.until is \"done\" and every\n"
    "program finished), idle (nothing left to happen), cycle limit, or stuck.\n"
    "Exit status: 0 all expectations held, 1 one failed, 2 the scenario is missing\n"
    "or wrong, the run could not be done, or the command line is wrong.\n";

static void print_lat(const char *label, const apic_lat_summary *m) {
  if (!m->count) { printf("  %-34s none measured\n", label); return; }
  printf("  %-34s min %llu  median %llu  p99 %llu  max %llu  (%llu deliveries)\n", label,
         (unsigned long long)m->min, (unsigned long long)m->median, (unsigned long long)m->p99,
         (unsigned long long)m->max, (unsigned long long)m->count);
}

int cmd_run(int argc, char **argv) {
  const char *path = NULL, *trace = NULL;
  apic_scenario_opts o = {0};
  int quiet = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(run_help, stdout); return 0; }
    if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { quiet = 1; continue; }
    if (!strcmp(a, "-o") || !strcmp(a, "--seed") || !strcmp(a, "--cycles")) {
      if (i + 1 >= argc) return cli_usage("run", "%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "-o")) { trace = v; continue; }
      uint64_t n, max = !strcmp(a, "--seed") ? MAX_SEED : MAX_RUN_CYCLES;
      if (cli_number(v, max, &n))
        return cli_usage("run", "%s: '%s' is not a whole number in %s..%llu", a, v,
                         !strcmp(a, "--seed") ? "0" : "1", (unsigned long long)max);
      if (!strcmp(a, "--cycles") && n == 0)
        return cli_usage("run", "--cycles must be at least 1: a run of 0 cycles does nothing");
      if (!strcmp(a, "--seed")) { o.seed_set = 1; o.seed = n; }
      else { o.cycles_set = 1; o.cycles = n; }
    } else if (a[0] == '-') {
      return cli_usage("run", "unknown option %s", a);
    } else if (path) {
      return cli_usage("run", "more than one scenario");
    } else {
      path = a;
    }
  }
  if (!path) return cli_usage("run", "SCENARIO.json is missing");
  apic_scenario *sc;
  char why[1024];
  if (apic_scenario_load(&sc, path, why, sizeof why)) {
    fprintf(stderr, "apicsim: %s\n", why);
    return CLI_BAD_INPUT;
  }
  progress pr = {host_now(), 0, 0};
  o.trace_path = trace;
  /* \r redraws a line on a terminal; in a file or a pipe it is noise */
  o.progress = quiet || !isatty(fileno(stderr)) ? NULL : on_progress;
  o.progress_ud = &pr;
  apic_scenario_result res;
  int rc = apic_scenario_run(sc, &o, &res, why, sizeof why);
  double secs = host_now() - pr.start;
  if (pr.shown) fputc('\n', stderr);
  if (rc) {
    fprintf(stderr, "apicsim: %s: %s\n", path, why);
    apic_scenario_free(sc);
    return 2;
  }
  const apic_config *cfg = apic_scenario_config(sc);
  static const char *const bus_name[] = {"p6", "xapic", "mesh"};
  static const char *const status[] = {"idle", "cycle limit", "stuck (cores spin, nothing pending)"};
  printf("scenario %s (%s): %u cores, %s, %s bus\n", apic_scenario_name(sc), path, cfg->ncpus,
         cfg->model == APIC_MODEL_P6 ? "P6" : cfg->x2apic ? "x2APIC" : "xAPIC",
         bus_name[cfg->bus]);
  printf("last event at cycle %llu (%.1f us at %.2f GHz); stopped at cycle %llu, %s; "
         "%.2f s host\n", (unsigned long long)res.last_event,
         (double)res.last_event / cfg->freq_ghz / 1000.0, cfg->freq_ghz,
         (unsigned long long)res.end_cycle,
         res.all_done ? "done (every program finished)"
         : res.run_status >= 0 && res.run_status <= 2 ? status[res.run_status] : "?", secs);
  printf("  messages %llu, deliveries %llu, coalesced %llu, dropped %llu, handlers run %llu, "
         "ESR errors %llu\n", (unsigned long long)res.messages,
         (unsigned long long)res.stats.deliveries, (unsigned long long)res.stats.coalesced,
         (unsigned long long)res.stats.dropped, (unsigned long long)res.stats.handlers,
         (unsigned long long)res.stats.esr_errors);
  puts("latency in cycles:");
  print_lat("ICR write / pin -> IRR set", &res.irr);
  print_lat("ICR write / pin -> handler entry", &res.handler);
  printf("interconnect: %llu messages, %.2f per 1000 cycles of the run", (unsigned long long)res.messages,
         res.last_event ? 1000.0 * (double)res.messages / (double)res.last_event : 0.0);
  if (cfg->bus == APIC_BUS_P6)  /* the one shared medium: one message at a time */
    printf("; p6 APIC bus busy %.1f%% of the time, %llu retries", 100.0 * res.bus_busy,
           (unsigned long long)res.stats.retries);
  putchar('\n');
  if (res.nignored) {  /* not an error: the guest's own access would fare the same */
    printf("stimulus the cores did not take: %u (the run went on)\n", res.nignored);
    for (unsigned i = 0; i < res.nnotes; i++) printf("  %s\n", res.notes[i].text);
    if (res.nignored > res.nnotes) printf("  ... and %u more\n", res.nignored - res.nnotes);
  }
  if (res.nskipped)  /* said, not silently dropped: the scenario asked for them */
    printf("stimulus never applied: %llu, from stimulus[%u] at cycle %llu on (the run stopped "
           "at cycle %llu)\n", (unsigned long long)res.nskipped, res.skipped_entry,
           (unsigned long long)res.skipped_at, (unsigned long long)res.end_cycle);
  if (trace) printf("trace written to %s\n", trace);
  printf("expectations: %u checked, %u failed\n", res.nexpect, res.failed);
  for (unsigned i = 0; i < res.nexpect; i++) {
    const apic_expect_result *x = &res.expect[i];
    printf("  %s %s\n", x->pass ? "ok  " : "FAIL", x->what);
    if (!x->pass) printf("       expected %s\n       got      %s\n", x->expected, x->got);
  }
  int failed = res.failed != 0;
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
  return failed;
}

int cmd_check(int argc, char **argv) {
  if (argc != 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
    fputs("usage: apicsim check SCENARIO.json\n"
          "Validates the scenario (every field, its type and range, programs and their\n"
          "arguments) without running it. Exit status 0 if valid, 2 if not (or the\n"
          "file cannot be read).\n",
          argc == 1 ? stdout : stderr);
    return argc == 1 ? 0 : 2;
  }
  apic_scenario *sc;
  char why[1024];
  if (apic_scenario_load(&sc, argv[0], why, sizeof why)) {
    fprintf(stderr, "apicsim: %s\n", why);
    return CLI_BAD_INPUT;
  }
  printf("%s: valid scenario \"%s\" (%u cores)\n", argv[0], apic_scenario_name(sc),
         apic_scenario_config(sc)->ncpus);
  apic_scenario_free(sc);
  return 0;
}

/* list-programs columns: argument name, type, range or choices, default */
enum { NAME_W = 14, TYPE_W = 6, RANGE_W = 22, DEFLT_W = 10 };

int cmd_list_programs(int argc, char **argv) {
  if (argc && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
    puts("usage: apicsim list-programs\nThe built-in guest programs and their arguments.");
    return 0;
  }
  if (argc) return cli_usage("list-programs", "takes no arguments");
  unsigned n;
  const apic_prog_def *const *all = apic_prog_all(&n);
  static const char *const tn[] = {"int", "bool", "cpus", "string"};
  for (unsigned i = 0; i < n; i++) {
    const apic_prog_def *d = all[i];
    printf("%s\n  %s\n  modelled on: %s\n", d->name, d->summary, d->models);
    for (unsigned k = 0; k < d->nargs; k++) {
      const apic_arg_spec *a = &d->args[k];
      char range[96] = "";
      if (a->type == APIC_ARG_INT)
        snprintf(range, sizeof range, " %lld..%lld", (long long)a->min, (long long)a->max);
      else if (a->type == APIC_ARG_STRING)
        snprintf(range, sizeof range, " %s", a->choices);
      /* a range wider than its column ends the line; the rest lines up below */
      int w = printf("    %-*s %-*s%s", NAME_W, a->name, TYPE_W, tn[a->type], range);
      int col = 4 + NAME_W + 1 + TYPE_W + RANGE_W;
      if (w > col) { putchar('\n'); w = 0; }
      printf("%*s default %-*s %s\n", col - w, "", DEFLT_W,
             a->deflt ? a->deflt : "(required)", a->doc);
    }
    putchar('\n');
  }
  return 0;
}
