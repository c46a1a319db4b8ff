/*
 * trace_cmd.c - `apicsim trace dump|stats|export`: reading traces from the
 * command line.
 *
 *   dump    one event a line, filtered by core, vector, kind and cycle range
 *   stats   events by kind, deliveries per core, coalesced, latency from the
 *           ICR write (or pin edge) to IRR set and to handler entry per core
 *           and per vector (min / median / p99 / max), interconnect use
 *   export  Perfetto protobuf, Chrome JSON or VCD (include/apicsim/export.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apicsim/export.h"
#include "apicsim/stats.h"
#include "cli.h"

/* ---- dump ---- */

static void print_event(const apic_event *e, double ghz) {
  printf("%12llu %12.1fns  %-14s", (unsigned long long)e->cycle, (double)e->cycle / ghz,
         apic_event_name(e->kind));
  if (e->cpu != APIC_NONE) printf(" cpu=%u", e->cpu);
  if (e->flags & APIC_EVF_IOAPIC) printf(" ioapic=%u", e->src);
  else if (e->src != e->cpu && e->src != APIC_NONE) printf(" src=%u", e->src);
  if (e->vector) printf(" vector=0x%02x", e->vector);
  if (e->msg) printf(" msg=%llu", (unsigned long long)e->msg);
  if (e->mode) printf(" mode=%u", e->mode);
  if (e->dest) printf(" dest=0x%x", e->dest);
  if (e->flags & ~APIC_EVF_IOAPIC) printf(" flags=0x%x", e->flags);
  if (e->a) printf(" a=0x%x", e->a);
  if (e->b) printf(" b=0x%x", e->b);
  if (e->x) printf(" x=%llu", (unsigned long long)e->x);
  if (e->text) printf(" \"%s\"", e->text);
  putchar('\n');
}

/* Parses a comma list of event names into a mask; 0 on success. */
static int parse_kinds(const char *s, uint8_t want[APIC_EV__COUNT]) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    uint32_t k = 0;
    while (k < APIC_EV__COUNT && strcmp(apic_event_name(k), tok)) k++;
    if (k == APIC_EV__COUNT) {
      fprintf(stderr, "apicsim trace dump: unknown event kind '%s' ('apicsim trace dump "
              "--help' lists them)\n", tok);
      return -1;
    }
    want[k] = 1;
  }
  return 0;
}

static const char dump_help[] =
    "usage: apicsim trace dump FILE [--cpu N] [--vector V] [--kind K[,K...]]\n"
    "                              [--from CYCLE] [--to CYCLE] [--limit N]\n"
    "Prints one event a line: cycle, nanoseconds, kind, then the fields that are set.\n"
    "  --cpu N      events on core N, or sent by it (N below the trace's core count)\n"
    "  --vector V   events for vector V (decimal or 0x..)\n"
    "  --kind K     only these kinds, e.g. icr_write,irr_set,handler_enter\n"
    "  --from/--to  cycle range (inclusive, --from <= --to); --from seeks using the\n"
    "               snapshots\n"
    "  --limit N    stop after N lines\n"
    "Exit status: 0 done, 1 the trace is damaged part way (the lines before it are\n"
    "printed), 2 the file cannot be opened as a trace or the command line is wrong.\n"
    "\n"
    "Event kinds, and what their a=, b= and x= fields mean (APIC_EVENT_MAP in\n"
    "include/apicsim/apicsim.h):\n";

/* The kinds, one a line, from the same table as apic_event_name. */
static void print_kinds(void) {
#define KIND_ROW(id, name, doc) printf("  %-15s %s\n", name, doc);
  APIC_EVENT_MAP(KIND_ROW)
#undef KIND_ROW
}

static int cmd_dump(int argc, char **argv) {
  const char *path = NULL;
  uint64_t cpu = APIC_NONE, vector = 256, from = 0, to = UINT64_MAX, limit = UINT64_MAX;
  uint8_t want[APIC_EV__COUNT];
  int any_kind = 1;
  memset(want, 0, sizeof want);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(dump_help, stdout);
      print_kinds();
      return 0;
    }
    if (!strcmp(a, "--cpu") || !strcmp(a, "--vector") || !strcmp(a, "--from") ||
        !strcmp(a, "--to") || !strcmp(a, "--limit") || !strcmp(a, "--kind")) {
      if (i + 1 >= argc) return cli_usage("trace dump", "%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--kind")) {
        any_kind = 0;
        if (parse_kinds(v, want)) return 2;
        continue;
      }
      uint64_t max = !strcmp(a, "--cpu") ? APIC_MAX_CPUS - 1 : !strcmp(a, "--vector") ? 255
                   : UINT64_MAX;
      uint64_t n;
      if (cli_number(v, max, &n)) return cli_usage("trace dump", "%s: '%s' is not a number "
                                                   "in 0..%llu", a, v, (unsigned long long)max);
      if (!strcmp(a, "--cpu")) cpu = n;
      else if (!strcmp(a, "--vector")) vector = n;
      else if (!strcmp(a, "--from")) from = n;
      else if (!strcmp(a, "--to")) to = n;
      else limit = n;
    } else if (a[0] == '-') {
      return cli_usage("trace dump", "unknown option %s", a);
    } else if (!path) {
      path = a;
    } else {
      return cli_usage("trace dump", "more than one FILE");
    }
  }
  if (!path) return cli_usage("trace dump", "FILE is missing");
  if (from > to)  /* an empty range would print nothing and look like an empty trace */
    return cli_usage("trace dump", "--from %llu is after --to %llu: the range is empty",
                     (unsigned long long)from, (unsigned long long)to);
  apic_trace *t;
  char why[512];
  if (apic_trace_open(&t, path, why, sizeof why)) {
    fprintf(stderr, "apicsim: %s\n", why);
    return CLI_BAD_INPUT;
  }
  const apic_trace_info *info = apic_trace_info_get(t);
  if (cpu != APIC_NONE && cpu >= info->config.ncpus) {
    uint32_t n = info->config.ncpus;  /* info goes with the reader */
    apic_trace_close(t);
    return cli_usage("trace dump", "--cpu %llu: the trace has %u cores (0..%u)",
                     (unsigned long long)cpu, n, n - 1);
  }
  if (info->warning[0]) fprintf(stderr, "apicsim: warning: %s\n", info->warning);
  double ghz = info->config.freq_ghz;
  int rc = from ? apic_trace_seek(t, from - 1) : APIC_OK;
  apic_event e;
  uint64_t shown = 0;
  while (rc == APIC_OK && shown < limit && (rc = apic_trace_next(t, &e)) == APIC_OK) {
    if (e.cycle > to) break;
    if (e.cycle < from) continue;
    if (!any_kind && !want[e.kind]) continue;
    if (cpu != APIC_NONE && e.cpu != cpu && (e.src != cpu || (e.flags & APIC_EVF_IOAPIC)))
      continue;
    if (vector < 256 && e.vector != vector) continue;
    print_event(&e, ghz);
    shown++;
  }
  int failed = rc != APIC_OK && rc != APIC_E_END;
  if (failed) fprintf(stderr, "apicsim: %s: %s\n", path, apic_trace_errmsg(t));
  apic_trace_close(t);
  return failed;
}

/* ---- stats ---- */

static void lat_row(apic_latency *l, apic_lat_stage st, const char *label, uint32_t cpu,
                    int vector) {
  apic_lat_summary m;
  if (apic_latency_summary(l, st, cpu, vector, &m) || !m.count) return;
  printf("  %-18s %8llu  %8llu  %8llu  %8llu  %8llu\n", label, (unsigned long long)m.count,
         (unsigned long long)m.min, (unsigned long long)m.median, (unsigned long long)m.p99,
         (unsigned long long)m.max);
}

/* Cores listed per table unless --all: the tables stay readable on 65536 cores. */
#define STATS_MAX_CORES 32u

static void more_cores(uint32_t listed, uint32_t with) {  /* with: cores with a row */
  printf("  ... and %u more cores ('trace stats --all' lists them)\n", with - listed);
}

static void lat_table(apic_latency *l, apic_lat_stage st, uint32_t ncpus, int all) {
  char label[32];
  lat_row(l, st, "all", APIC_NONE, -1);
  uint32_t shown = 0, with = 0;
  for (uint32_t i = 0; i < ncpus; i++) {
    apic_lat_summary m;
    if (apic_latency_summary(l, st, i, -1, &m) || !m.count) continue;
    if (++with > STATS_MAX_CORES && !all) continue;  /* counted, for the line below */
    snprintf(label, sizeof label, "cpu %u", i);
    lat_row(l, st, label, i, -1);
    shown++;
  }
  if (with > shown) more_cores(shown, with);
  for (int v = 0; v < 256; v++) {
    snprintf(label, sizeof label, "vector 0x%02x", v);
    lat_row(l, st, label, APIC_NONE, v);
  }
}

static int cmd_stats(int argc, char **argv) {
  const char *path = NULL;
  int all = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: apicsim trace stats FILE [--all]\n"
             "Events by kind, deliveries per core, coalesced deliveries, latency in cycles\n"
             "from the ICR write (or I/O APIC pin change) to IRR set and to the handler's\n"
             "first step, per core and per vector (min, median, p99, max), and use of the\n"
             "interconnect.\n"
             "  --all   list every core; without it each table lists the first %u cores\n"
             "          that have any, and says how many more there are\n"
             "Exit status: 0 done, 1 the trace is damaged part way (the statistics cover\n"
             "the records before it), 2 the file cannot be opened as a trace or the\n"
             "command line is wrong.\n", STATS_MAX_CORES);
      return 0;
    }
    if (!strcmp(argv[i], "--all")) { all = 1; continue; }
    if (argv[i][0] == '-') return cli_usage("trace stats", "unknown option %s", argv[i]);
    if (path) return cli_usage("trace stats", "more than one FILE");
    path = argv[i];
  }
  if (!path) return cli_usage("trace stats", "FILE is missing");
  apic_trace *t;
  char why[512];
  if (apic_trace_open(&t, path, why, sizeof why)) {
    fprintf(stderr, "apicsim: %s\n", why);
    return CLI_BAD_INPUT;
  }
  const apic_trace_info *info = apic_trace_info_get(t);
  const apic_config *cfg = &info->config;
  uint32_t n = cfg->ncpus;
  uint64_t kinds[APIC_EV__COUNT] = {0};
  uint64_t *deliv = calloc(n, sizeof *deliv), *coal = calloc(n, sizeof *coal);
  apic_latency *lat = apic_latency_new(n);
  if (!deliv || !coal || !lat) {
    fputs("apicsim: out of memory\n", stderr);
    return 1;
  }
  apic_event e;
  int rc;
  while ((rc = apic_trace_next(t, &e)) == APIC_OK) {
    kinds[e.kind]++;
    apic_latency_event(lat, &e);
    if (e.cpu < n && e.kind == APIC_EV_IRR_SET) deliv[e.cpu]++;
    if (e.cpu < n && e.kind == APIC_EV_IRR_COALESCED) coal[e.cpu]++;
  }
  int failed = rc != APIC_E_END;
  if (failed) fprintf(stderr, "apicsim: %s: %s (statistics cover the records before it)\n",
                      path, apic_trace_errmsg(t));
  static const char *const bus_name[] = {"p6", "xapic", "mesh"};
  printf("trace %s: \"%s\", %u cores, %s bus, %llu records in %u chunks, cycles %llu..%llu%s\n",
         path, info->name, n, bus_name[cfg->bus], (unsigned long long)info->records,
         info->chunks, (unsigned long long)info->first_cycle,
         (unsigned long long)info->last_cycle, info->cut ? " (file was cut off)" : "");
  if (info->warning[0]) printf("warning: %s\n", info->warning);
  puts("\nevents by kind:");
  for (uint32_t k = 0; k < APIC_EV__COUNT; k++)
    if (kinds[k]) printf("  %-16s %12llu\n", apic_event_name(k), (unsigned long long)kinds[k]);
  uint64_t td = 0, tc = 0;
  for (uint32_t i = 0; i < n; i++) { td += deliv[i]; tc += coal[i]; }
  printf("\ndeliveries: %llu vectors set in IRR, %llu coalesced into a pending one\n",
         (unsigned long long)td, (unsigned long long)tc);
  puts("  core       delivered  coalesced");
  uint32_t shown = 0, with = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (!deliv[i] && !coal[i]) continue;
    if (++with > STATS_MAX_CORES && !all) continue;  /* counted, for the line below */
    printf("  cpu %-6u %10llu %10llu\n", i, (unsigned long long)deliv[i],
           (unsigned long long)coal[i]);
    shown++;
  }
  if (with > shown) more_cores(shown, with);
  puts("\nlatency in cycles      count       min    median       p99       max");
  puts(" ICR write / pin change -> IRR set:");
  lat_table(lat, APIC_LAT_IRR, n, all);
  puts(" ICR write / pin change -> handler entry:");
  lat_table(lat, APIC_LAT_HANDLER, n, all);
  uint64_t span = info->last_cycle - info->first_cycle;
  printf("\ninterconnect: %llu messages", (unsigned long long)kinds[APIC_EV_MSG_SEND]);
  if (span)
    printf(", %.2f per 1000 cycles", 1000.0 * (double)kinds[APIC_EV_MSG_SEND] / (double)span);
  if (cfg->bus == APIC_BUS_P6 && span)
    printf("; p6 bus busy %.1f%% of the time (%llu arbitrations)",
           100.0 * (double)(apic_latency_bus_busy(lat) * cfg->timing.p6_clock_div) / (double)span,
           (unsigned long long)kinds[APIC_EV_MSG_ARB]);
  putchar('\n');
  free(deliv);
  free(coal);
  apic_latency_free(lat);
  apic_trace_close(t);
  return failed;
}

/* ---- export ---- */

static int cmd_export(int argc, char **argv) {
  const char *path = NULL, *out = NULL, *fmt = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      puts("usage: apicsim trace export --format perfetto|json|vcd FILE -o OUT\n"
           "  perfetto  Perfetto protobuf (.pftrace): open in ui.perfetto.dev\n"
           "  json      Chrome Trace Event JSON: chrome://tracing, Perfetto\n"
           "  vcd       Value Change Dump: GTKWave\n"
           "Exit status: 0 written, 1 the export failed (a damaged trace, OUT not\n"
           "writable), 2 the file cannot be opened as a trace or the command line is wrong.");
      return 0;
    }
    if (!strcmp(a, "--format") || !strcmp(a, "-o")) {
      if (i + 1 >= argc) return cli_usage("trace export", "%s needs a value", a);
      if (!strcmp(a, "-o")) out = argv[++i]; else fmt = argv[++i];
    } else if (a[0] == '-') {
      return cli_usage("trace export", "unknown option %s", a);
    } else if (path) {
      return cli_usage("trace export", "more than one FILE");
    } else {
      path = a;
    }
  }
  if (!path || !out || !fmt) {  /* name each one missing, in the order of the usage line */
    const char *what[3];
    unsigned k = 0;
    if (!fmt) what[k++] = "--format";
    if (!path) what[k++] = "FILE";
    if (!out) what[k++] = "-o OUT";
    return cli_usage("trace export", "%s%s%s%s%s %s missing", what[0], k > 2 ? ", " : "",
                     k > 2 ? what[1] : "", k > 1 ? " and " : "", k > 1 ? what[k - 1] : "",
                     k > 1 ? "are" : "is");
  }
  int f = apic_export_format_parse(fmt);
  if (f < 0) return cli_usage("trace export", "unknown format '%s' (perfetto, json, vcd)", fmt);
  apic_trace *t;
  char why[512];
  if (apic_trace_open(&t, path, why, sizeof why)) {
    fprintf(stderr, "apicsim: %s\n", why);
    return CLI_BAD_INPUT;
  }
  const apic_trace_info *info = apic_trace_info_get(t);
  if (info->warning[0]) fprintf(stderr, "apicsim: warning: %s\n", info->warning);
  int rc = apic_trace_export(t, (apic_export_format)f, out, why, sizeof why);
  if (rc) fprintf(stderr, "apicsim: export: %s\n", why);
  apic_trace_close(t);
  /* APIC_E_ARG: the output is the input, a wrong command line */
  return rc == APIC_E_ARG ? CLI_BAD_INPUT : rc ? 1 : 0;
}

int cmd_trace(int argc, char **argv) {
  static const char help[] =
      "usage: apicsim trace dump|stats|export ...\n"
      "  dump FILE     one event a line (filters: --cpu --vector --kind --from --to)\n"
      "  stats FILE    events, deliveries, coalesced, latencies, interconnect use\n"
      "                (--all: every core, not only the first few)\n"
      "  export --format perfetto|json|vcd FILE -o OUT\n"
      "'apicsim trace CMD --help' says more.\n";
  if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
    fputs(help, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  if (!strcmp(argv[0], "dump")) return cmd_dump(argc - 1, argv + 1);
  if (!strcmp(argv[0], "stats")) return cmd_stats(argc - 1, argv + 1);
  if (!strcmp(argv[0], "export")) return cmd_export(argc - 1, argv + 1);
  return cli_usage("trace", "unknown command '%s'", argv[0]);
}
