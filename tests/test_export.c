/*
 * test_export.c - lib/export*.c: a trace of a small run (an IPI, a
 * broadcast, an I/O APIC level interrupt, a marker) exported to each
 * format and read back by the tools that format is for:
 *
 *   perfetto  decoded by protoc with tests/data/perfetto_subset.proto
 *             (Debian: protobuf-compiler)
 *   json      parsed by cJSON (Debian: libcjson-dev)
 *   vcd       checked by a small parser here, then converted by vcd2fst
 *             (Debian: gtkwave)
 *
 * A missing tool fails its test with the package to install.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "apicsim/export.h"
#include "apicsim/trace.h"
#include "../lib/sim.h"  /* apic__emit: odd records for the robustness test */
#ifdef APICSIM_HAVE_CJSON
#include <cJSON.h>
#endif

#ifndef APICSIM_TEST_DATA
#define APICSIM_TEST_DATA "tests/data"
#endif

#define CALL_FUNCTION_VECTOR 0xFB
#define RESCHEDULE_VECTOR    0xFD
#define DEVICE_VECTOR        0x61
#define DEVICE_PIN           3
#define DEVICE_CPU           2
#define NCPUS                4
#define FLOW_CPU_BITS        17  /* export.c: flow id = message << 17 | receiver */
#define MAX_FLOWS            64

/* ---- scratch files ---- */

typedef struct scratch {
  char dir[64];
  char path[8][160];
  int n;
} scratch;

static const char *scratch_file(scratch *s, const char *name) {
  if (!s->dir[0]) {
    snprintf(s->dir, sizeof s->dir, "export-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
  }
  ck_assert_int_lt(s->n, 8);
  char p[sizeof s->path[0]];
  snprintf(p, sizeof p, "%s/%s", s->dir, name);
  memcpy(s->path[s->n], p, sizeof p);
  return s->path[s->n++];
}

static void scratch_clean(scratch *s) {
  if (getenv("APICSIM_KEEP")) return;
  for (int i = 0; i < s->n; i++) remove(s->path[i]);
  if (s->dir[0]) rmdir(s->dir);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
  p[n] = 0;
  fclose(f);
  if (len) *len = (size_t)n;
  return p;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static int have_tool(const char *name) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
  return system(cmd) == 0;
}

/* ---- the run ---- */

typedef struct expect {
  uint64_t flows[MAX_FLOWS];  /* one per (message, receiver) that reached a handler */
  int nflows;
  size_t handlers;
} expect;

static int h_device(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  ck_assert_int_eq(apic_ioapic_set_pin(apic_cpu_sim(c), 0, DEVICE_PIN, 0), APIC_OK);
  APIC_WORK(c, 50);
  APIC_EOI(c);
  APIC_END(c);
}

/* Core 0: a marker, an IPI to core 1, then a broadcast to all others. */
static int sender(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 200);
  APIC_MARK(c, "send_ipis");
  APIC_SPIN_ICR_IDLE(c);
  APIC_WRITE(c, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(CALL_FUNCTION_VECTOR, APIC_DM_FIXED, 0));
  APIC_SPIN_ICR_IDLE(c);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(RESCHEDULE_VECTOR, APIC_DM_FIXED,
                                             APIC_ICR_SH(APIC_SH_OTHERS)));
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

/* Runs the scenario with a trace writer on it; fills what the export must show. */
static void make_trace_on(const char *path, double freq_ghz, apic_bus_kind bus, expect *ex) {
  apic_config cfg = tu_config(NCPUS, bus, bus == APIC_BUS_P6 ? APIC_MODEL_P6 : APIC_MODEL_XAPIC);
  if (bus == APIC_BUS_MESH) {
    cfg.sockets = 2;
    cfg.threads_per_core = 1;
  }
  cfg.freq_ghz = freq_ghz;
  tu_log log = {0};
  apic_sim *s = tu_sim(&cfg, &log);
  static int counts[NCPUS * 256];
  memset(counts, 0, sizeof counts);
  apic_sim_set_handler(s, APIC_NONE, CALL_FUNCTION_VECTOR, tu_handler_count, counts);
  apic_sim_set_handler(s, APIC_NONE, RESCHEDULE_VECTOR, tu_handler_count, counts);
  apic_sim_set_handler(s, DEVICE_CPU, DEVICE_VECTOR, h_device, NULL);
  apic_sim_set_program(s, 0, sender, NULL);
  for (uint32_t i = 1; i < NCPUS; i++) apic_sim_set_program(s, i, tu_prog_idle, NULL);
  uint64_t rte = DEVICE_VECTOR | APIC_RTE_TRIGGER | ((uint64_t)DEVICE_CPU << APIC_RTE_DEST_SHIFT);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, DEVICE_PIN, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, 0, DEVICE_PIN, 1, 3000), APIC_OK);

  apic_trace_opts o;
  memset(&o, 0, sizeof o);
  o.chunk_records = 64;  /* several chunks */
  o.level = -1;
  o.name = "export test";
  apic_trace_writer *w;
  char why[256];
  int rc = apic_trace_writer_open(&w, s, path, &o, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "writer: %s", why);
  ck_assert_int_eq(apic_sim_run(s, 1000000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);

  memset(ex, 0, sizeof *ex);
  for (size_t i = 0; i < log.n; i++) {
    const apic_event *e = &log.ev[i];
    if (e->kind == APIC_EV_IRR_SET) {
      ck_assert_int_lt(ex->nflows, MAX_FLOWS);
      ex->flows[ex->nflows++] = (e->msg << FLOW_CPU_BITS) | e->cpu;
    }
  }
  ex->handlers = tu_count(&log, APIC_EV_HANDLER_ENTER, APIC_NONE, -1);
  ck_assert_int_eq(ex->nflows, 5);  /* 1 IPI + 3 broadcast + 1 device */
  ck_assert_uint_eq(ex->handlers, 5);
  ck_assert_int_eq(counts[1 * 256 + CALL_FUNCTION_VECTOR], 1);
  tu_log_free(&log);
  apic_sim_destroy(s);
}

static void make_trace(const char *path, double freq_ghz, expect *ex) {
  make_trace_on(path, freq_ghz, APIC_BUS_XAPIC, ex);
}

static apic_trace *open_trace(const char *path) {
  apic_trace *t;
  char why[256];
  int rc = apic_trace_open(&t, path, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "open: %s", why);
  return t;
}

static void export_ok(apic_trace *t, apic_export_format fmt, const char *out) {
  char why[256];
  int rc = apic_trace_export(t, fmt, out, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "export to %s: %s (%s)", out, apic_err_name(rc), why);
}

/* ---- API ---- */

START_TEST(format_names) {
  ck_assert_int_eq(apic_export_format_parse("perfetto"), APIC_EXPORT_PERFETTO);
  ck_assert_int_eq(apic_export_format_parse("json"), APIC_EXPORT_JSON);
  ck_assert_int_eq(apic_export_format_parse("vcd"), APIC_EXPORT_VCD);
  ck_assert_int_eq(apic_export_format_parse("VCD"), -1);
  ck_assert_int_eq(apic_export_format_parse(""), -1);
  ck_assert_int_eq(apic_export_format_parse(NULL), -1);
}
END_TEST

START_TEST(bad_arguments_and_paths) {
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  make_trace(trc, 1.0, &ex);
  apic_trace *t = open_trace(trc);
  char why[256];
  ck_assert_int_eq(apic_trace_export(t, (apic_export_format)7, scratch_file(&sc, "x"), why,
                                     sizeof why), APIC_E_ARG);
  ck_assert_ptr_nonnull(strstr(why, "format"));
  ck_assert_int_eq(apic_trace_export(t, APIC_EXPORT_JSON, NULL, why, sizeof why), APIC_E_ARG);
  ck_assert_int_eq(apic_trace_export(NULL, APIC_EXPORT_JSON, "x", why, sizeof why), APIC_E_ARG);
  const char *nodir = "/nonexistent-apicsim-dir/out.json";
  for (int fmt = APIC_EXPORT_PERFETTO; fmt <= APIC_EXPORT_VCD; fmt++) {
    ck_assert_int_eq(apic_trace_export(t, (apic_export_format)fmt, nodir, why, sizeof why),
                     APIC_E_IO);
    ck_assert_msg(strstr(why, nodir) != NULL, "message names the path: %s", why);
  }
  struct stat st;
  if (stat("/dev/full", &st) == 0)  /* every write fails: reported at once or at close */
    for (int fmt = APIC_EXPORT_PERFETTO; fmt <= APIC_EXPORT_VCD; fmt++) {
      ck_assert_int_eq(apic_trace_export(t, (apic_export_format)fmt, "/dev/full", why,
                                         sizeof why), APIC_E_IO);
      ck_assert_msg(strstr(why, "/dev/full") != NULL, "message names the path: %s", why);
    }
  ck_assert_int_eq(apic_trace_export(t, APIC_EXPORT_JSON, scratch_file(&sc, "ok.json"), NULL,
                                     0), APIC_OK);  /* why may be NULL */
  /* export.c: the trace's own file as the output used to be emptied by the
     open for writing, the export then "succeeding" with the trace gone */
  struct stat before, after;
  ck_assert_int_eq(stat(trc, &before), 0);
  for (int fmt = APIC_EXPORT_PERFETTO; fmt <= APIC_EXPORT_VCD; fmt++) {
    ck_assert_int_eq(apic_trace_export(t, (apic_export_format)fmt, trc, why, sizeof why),
                     APIC_E_ARG);
    ck_assert_msg(strstr(why, trc) && strstr(why, "trace being exported"), "%s", why);
  }
  ck_assert_int_eq(stat(trc, &after), 0);
  ck_assert_int_eq(after.st_size, before.st_size);
  apic_trace_close(t);
  scratch_clean(&sc);
}
END_TEST

/* ---- Perfetto ---- */

/* Decodes a .pftrace with protoc into a text file; returns its contents. */
static char *protoc_decode(scratch *sc, const char *pftrace) {
  ck_assert_msg(have_tool("protoc"),
                "protoc not found: install Debian package protobuf-compiler");
  const char *txt = scratch_file(sc, "decoded.txt");
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "protoc --proto_path=%s --decode=perfetto.protos.Trace perfetto_subset.proto "
           "< %s > %s", APICSIM_TEST_DATA, pftrace, txt);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "protoc could not decode %s (status %d)", pftrace, st);
  return slurp(txt, NULL);
}

/*
 * Walks protoc's text: every field is known to the subset (an unknown one
 * prints as its bare number), timestamps never go back, and on every track
 * slice ends match begins.
 */
typedef struct ptrack { uint64_t uuid; int depth; } ptrack;

static void check_decoded(const char *text) {
  ptrack tr[256];
  int ntr = 0;
  uint64_t ts = 0, last_ts = 0, uuid = 0;
  int type = 0, packets = 0;
  const char *line = text;
  while (*line) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 511 ? len : 511), line);
    const char *p = buf;
    while (*p == ' ') p++;
    ck_assert_msg(!(*p >= '0' && *p <= '9'), "field unknown to the subset: %s", buf);
    unsigned long long v;
    if (!strcmp(buf, "packet {")) {
      ts = 0;
      uuid = 0;
      type = 0;
      packets++;
    } else if (sscanf(buf, "  timestamp: %llu", &v) == 1) {
      ts = v;
    } else if (sscanf(buf, "    track_uuid: %llu", &v) == 1) {
      uuid = v;
    } else if (strstr(buf, "    type: TYPE_SLICE_BEGIN")) {
      type = 1;
    } else if (strstr(buf, "    type: TYPE_SLICE_END")) {
      type = 2;
    } else if (strstr(buf, "    type: TYPE_")) {
      type = 3;
    } else if (!strcmp(buf, "}") && type) {
      ck_assert_msg(ts >= last_ts, "timestamp %llu after %llu", (unsigned long long)ts,
                    (unsigned long long)last_ts);
      last_ts = ts;
      int k = 0;
      while (k < ntr && tr[k].uuid != uuid) k++;
      if (k == ntr) {
        ck_assert_int_lt(ntr, 256);
        tr[ntr++] = (ptrack){uuid, 0};
      }
      if (type == 1) tr[k].depth++;
      if (type == 2) {
        tr[k].depth--;
        ck_assert_msg(tr[k].depth >= 0, "slice end without begin on track %llu at %llu",
                      (unsigned long long)uuid, (unsigned long long)ts);
      }
    }
    line = eol ? eol + 1 : line + len;
  }
  ck_assert_int_gt(packets, 10);
  for (int k = 0; k < ntr; k++)
    ck_assert_msg(tr[k].depth == 0, "track %llu left %d slices open",
                  (unsigned long long)tr[k].uuid, tr[k].depth);
}

START_TEST(perfetto_decodes_with_protoc) {
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  const char *out = scratch_file(&sc, "run.pftrace");
  make_trace(trc, 1.0, &ex);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_PERFETTO, out);
  apic_event ev;
  ck_assert_int_eq(apic_trace_next(t, &ev), APIC_E_END);  /* left at the end */
  apic_trace_close(t);
  char *d = protoc_decode(&sc, out);
  check_decoded(d);
  const char *want[] = {
    "process_name: \"apicsim\"", "cmdline: \"export test; 1 cycle = 1 ns (1 GHz)\"",
    "thread_name: \"cpu 0\"", "thread_name: \"cpu 3\"", "name: \"bus\"",
    "name: \"ioapic 0 pin 3\"", "name: \"cpu 2 ppr\"", "name: \"cpu 1 pending vectors\"",
    "name: \"irq vector 0xFB\"", "name: \"irq vector 0xFD\"", "name: \"irq vector 0x61\"",
    "name: \"hlt\"", "name: \"ipi_raise\"", "name: \"send_ipis\"", "name: \"pin rise\"",
    "name: \"fixed 0xFD\"", "categories: \"irq\"", "type: TYPE_COUNTER",
    "sequence_flags: 1", "trusted_packet_sequence_id: 1",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(d, want[i]) != NULL, "decoded trace lacks %s", want[i]);
  ck_assert_uint_eq(count(d, "name: \"irq vector 0xFD\""), 3);
  ck_assert_uint_eq(count(d, "name: \"ipi_raise\""), 2);
  ck_assert_uint_eq(count(d, "sequence_flags:"), 1);
  for (int i = 0; i < ex.nflows; i++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "\n    flow_ids: %llu\n", (unsigned long long)ex.flows[i]);
    snprintf(b, sizeof b, "terminating_flow_ids: %llu\n", (unsigned long long)ex.flows[i]);
    ck_assert_msg(count(d, a) == 1, "flow %llu starts %zu times", (unsigned long long)ex.flows[i],
                  count(d, a));
    ck_assert_msg(count(d, b) == 1, "flow %llu ends %zu times", (unsigned long long)ex.flows[i],
                  count(d, b));
  }
  ck_assert_uint_eq(count(d, "terminating_flow_ids:"), (size_t)ex.nflows);
  free(d);
  scratch_clean(&sc);
}
END_TEST

/* Each bus model emits MSG_SEND at its own time (p6: when the message wins
   the bus): every delivery still links its ICR write to its handler. */
START_TEST(perfetto_flows_on_every_bus) {
  static const apic_bus_kind buses[] = {APIC_BUS_P6, APIC_BUS_XAPIC, APIC_BUS_MESH};
  for (size_t b = 0; b < sizeof buses / sizeof buses[0]; b++) {
    scratch sc = {0};
    expect ex;
    const char *trc = scratch_file(&sc, "run.apictrace");
    const char *out = scratch_file(&sc, "run.pftrace");
    make_trace_on(trc, 1.0, buses[b], &ex);
    apic_trace *t = open_trace(trc);
    export_ok(t, APIC_EXPORT_PERFETTO, out);
    apic_trace_close(t);
    char *d = protoc_decode(&sc, out);
    check_decoded(d);
    for (int i = 0; i < ex.nflows; i++) {
      char a[64], e[64];
      snprintf(a, sizeof a, "\n    flow_ids: %llu\n", (unsigned long long)ex.flows[i]);
      snprintf(e, sizeof e, "terminating_flow_ids: %llu\n", (unsigned long long)ex.flows[i]);
      ck_assert_msg(count(d, a) == 1 && count(d, e) == 1, "bus %d: flow %llu starts %zu, ends %zu",
                    (int)buses[b], (unsigned long long)ex.flows[i], count(d, a), count(d, e));
    }
    free(d);
    scratch_clean(&sc);
  }
}
END_TEST

START_TEST(perfetto_is_deterministic) {
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  const char *a = scratch_file(&sc, "a.pftrace"), *b = scratch_file(&sc, "b.pftrace");
  make_trace(trc, 1.0, &ex);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_PERFETTO, a);
  export_ok(t, APIC_EXPORT_PERFETTO, b);  /* the reader is rewound each time */
  apic_trace_close(t);
  size_t na, nb;
  char *pa = slurp(a, &na), *pb = slurp(b, &nb);
  ck_assert_uint_eq(na, nb);
  ck_assert(memcmp(pa, pb, na) == 0);
  free(pa);
  free(pb);
  scratch_clean(&sc);
}
END_TEST

/* ---- JSON ---- */

#ifdef APICSIM_HAVE_CJSON
static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int has_id(char ids[][24], int n, const char *id) {
  for (int i = 0; i < n; i++)
    if (!strcmp(ids[i], id)) return 1;
  return 0;
}

/* The whole file: phases, balanced slices per thread, names, counts, flows. */
static void check_json(const char *text, const expect *ex) {
  cJSON *root = cJSON_Parse(text);
  ck_assert_msg(root != NULL, "cJSON cannot parse the export near: %.40s", cJSON_GetErrorPtr());
  ck_assert(cJSON_IsArray(root));
  int n = cJSON_GetArraySize(root);
  ck_assert_int_gt(n, 10);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetArrayItem(root, n - 1)), 0);  /* "{}]" */
  struct { double tid; int depth; } tids[64];
  int ntids = 0, names_ok = 0, fd = 0, fb = 0, f61 = 0, ppr = 0;
  char starts[MAX_FLOWS][24], ends[MAX_FLOWS][24];
  int ns = 0, ne = 0;
  double last_ts = 0;
  for (int i = 0; i < n - 1; i++) {
    const cJSON *e = cJSON_GetArrayItem(root, i);
    const char *ph = jstr(e, "ph"), *name = jstr(e, "name");
    ck_assert_msg(ph != NULL, "event %d has no ph", i);
    ck_assert_int_eq(jnum(e, "pid", -1), 1);
    if (!strcmp(ph, "M")) {
      const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
      const char *tn = jstr(args, "name");
      if (!strcmp(name, "thread_name") && tn) {
        char want[16];
        snprintf(want, sizeof want, "cpu %d", (int)jnum(e, "tid", 0) - 1);
        if (jnum(e, "tid", 0) <= NCPUS) names_ok += !strcmp(tn, want);
        if (!strcmp(tn, "bus")) names_ok++;
      }
      continue;
    }
    double ts = jnum(e, "ts", -1);
    ck_assert_msg(ts >= last_ts, "event %d: ts %f before %f", i, ts, last_ts);
    last_ts = ts;
    if (!strcmp(ph, "C")) {
      ppr += !strcmp(name, "cpu 2 ppr");
      ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(e, "args"), "value")));
      continue;
    }
    if (!strcmp(ph, "s") || !strcmp(ph, "f")) {
      const char *id = jstr(e, "id");
      ck_assert_ptr_nonnull(id);
      ck_assert_int_lt(ns, MAX_FLOWS);
      ck_assert_int_lt(ne, MAX_FLOWS);
      if (ph[0] == 's') snprintf(starts[ns++], 24, "%s", id);
      else {
        ck_assert_str_eq(jstr(e, "bp"), "e");
        snprintf(ends[ne++], 24, "%s", id);
      }
      continue;
    }
    double tid = jnum(e, "tid", -1);
    int k = 0;
    while (k < ntids && tids[k].tid != tid) k++;
    if (k == ntids) {
      ck_assert_int_lt(ntids, 64);
      tids[ntids].tid = tid;
      tids[ntids++].depth = 0;
    }
    if (!strcmp(ph, "B")) {
      tids[k].depth++;
      fd += !strcmp(name, "irq vector 0xFD");
      fb += !strcmp(name, "irq vector 0xFB");
      f61 += !strcmp(name, "irq vector 0x61");
    } else if (!strcmp(ph, "E")) {
      tids[k].depth--;
      ck_assert_msg(tids[k].depth >= 0, "E without B on tid %.0f (event %d)", tid, i);
    } else {
      ck_assert_msg(!strcmp(ph, "i"), "unexpected phase %s", ph);
      ck_assert_ptr_nonnull(jstr(e, "s"));
    }
  }
  for (int k = 0; k < ntids; k++)
    ck_assert_msg(tids[k].depth == 0, "tid %.0f left %d slices open", tids[k].tid,
                  tids[k].depth);
  ck_assert_int_eq(names_ok, NCPUS + 1);
  ck_assert_int_eq(fd, 3);
  ck_assert_int_eq(fb, 1);
  ck_assert_int_eq(f61, 1);
  ck_assert_int_gt(ppr, 1);
  if (ex) {
    ck_assert_int_eq(ns, ex->nflows);
    ck_assert_int_eq(ne, ex->nflows);
    for (int i = 0; i < ex->nflows; i++) {
      char id[24];
      snprintf(id, sizeof id, "0x%llx", (unsigned long long)ex->flows[i]);
      ck_assert_msg(has_id(starts, ns, id) && has_id(ends, ne, id), "flow %s missing", id);
    }
  }
  cJSON_Delete(root);
}
#endif

START_TEST(json_parses_with_cjson) {
#ifndef APICSIM_HAVE_CJSON
  ck_abort_msg("built without cJSON: install Debian package libcjson-dev and reconfigure");
#else
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  const char *out = scratch_file(&sc, "run.json");
  make_trace(trc, 1.0, &ex);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_JSON, out);
  apic_trace_close(t);
  size_t len;
  char *text = slurp(out, &len);
  check_json(text, &ex);
  /* cut anywhere, the file is still "[" and whole event lines: each line
     before the last parses on its own once its trailing comma is gone */
  ck_assert(!strncmp(text, "[\n", 2));
  int lines = 0;
  for (char *p = text + 2, *eol; *p; p = eol + 1) {
    eol = strchr(p, '\n');
    ck_assert_ptr_nonnull(eol);
    *eol = 0;
    if (!strcmp(p, "{}]")) break;
    size_t n = strlen(p);
    ck_assert_msg(n > 2 && p[n - 1] == ',', "line %d does not end in a comma: %s", lines, p);
    p[n - 1] = 0;
    cJSON *o = cJSON_Parse(p);
    ck_assert_msg(cJSON_IsObject(o), "line %d is not one object: %s", lines, p);
    cJSON_Delete(o);
    lines++;
  }
  ck_assert_int_gt(lines, 10);
  free(text);
  scratch_clean(&sc);
#endif
}
END_TEST

#ifdef APICSIM_HAVE_CJSON
static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}
#endif

/* Trace issue, Chrome JSON: timestamps in us from the core frequency. At
   2.5 GHz a cycle is 0.4 ns, so ns would put neighbouring cycles on one
   time: every event's ts is its record's cycle time to the picosecond. */
START_TEST(json_timestamps_keep_cycles_apart_above_1ghz) {
#ifndef APICSIM_HAVE_CJSON
  ck_abort_msg("built without cJSON: install Debian package libcjson-dev and reconfigure");
#else
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "fast.apictrace");
  const char *out = scratch_file(&sc, "fast.json");
  make_trace(trc, 2.5, &ex);
  apic_trace *t = open_trace(trc);
  size_t n = 0, cap = 1024;
  uint64_t *cycles = malloc(cap * sizeof *cycles);
  apic_event ev;
  while (apic_trace_next(t, &ev) == APIC_OK) {
    if (n == cap) cycles = realloc(cycles, (cap *= 2) * sizeof *cycles);
    ck_assert_ptr_nonnull(cycles);
    cycles[n++] = ev.cycle;
  }
  qsort(cycles, n, sizeof *cycles, cmp_u64);
  export_ok(t, APIC_EXPORT_JSON, out);
  apic_trace_close(t);
  char *text = slurp(out, NULL);
  cJSON *root = cJSON_Parse(text);
  ck_assert_ptr_nonnull(root);
  int timed = 0, odd = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "ts");
    if (!cJSON_IsNumber(ts)) continue;
    double c = ts->valuedouble * 2500.0;  /* us at 2.5 GHz, in cycles */
    uint64_t cycle = (uint64_t)(c + 0.5);
    ck_assert_msg(c - (double)cycle < 1e-3 && (double)cycle - c < 1e-3,
                  "ts %.6f is %.4f cycles, not a whole cycle", ts->valuedouble, c);
    odd += (cycle & 1) != 0;
    ck_assert_msg(bsearch(&cycle, cycles, n, sizeof *cycles, cmp_u64) != NULL,
                  "ts %.6f (cycle %llu) is no record's cycle", ts->valuedouble,
                  (unsigned long long)cycle);
    timed++;
  }
  ck_assert_int_gt(timed, 10);
  ck_assert_int_gt(odd, 0);  /* not only cycles that ns could hold */
  cJSON_Delete(root);
  free(text);
  free(cycles);
  scratch_clean(&sc);
#endif
}
END_TEST

/* ---- VCD ---- */

typedef struct vvar { char id[64]; int width; } vvar;

static int vfind(const vvar *v, int n, const char *id) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v[i].id, id)) return i;
  return -1;
}

/* A small VCD reader: header, declared ids, increasing times, widths.
   Returns how many times the value b<bits> was given to the variable
   declared as name in scope; *timescale receives the $timescale text. */
static int check_vcd(const char *text, const char *scope, const char *name, const char *bits,
                     char *timescale, size_t ts_size) {
  static vvar v[256];
  int nv = 0, in_defs = 1, stamps = 0, hits = 0, target = -1;
  long long last = -1;
  char cur_scope[32] = "";
  timescale[0] = 0;
  const char *line = text;
  while (*line) {
    const char *eol = strchr(line, '\n');
    ck_assert_ptr_nonnull(eol);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(eol - line), line);
    line = eol + 1;
    if (in_defs) {
      char a[64], b[64], c[64];
      int w;
      if (sscanf(buf, "$timescale %63s %63s $end", a, b) == 2)
        snprintf(timescale, ts_size, "%.8s %.8s", a, b);
      else if (sscanf(buf, "$scope module %31s $end", cur_scope) == 1) {
      } else if (sscanf(buf, "$var wire %d %63s %63s", &w, a, c) == 3) {
        ck_assert_int_lt(nv, 256);
        ck_assert_msg(vfind(v, nv, a) < 0, "id %s declared twice", a);
        ck_assert_int_ge(w, 1);
        snprintf(v[nv].id, sizeof v[nv].id, "%s", a);
        v[nv].width = w;
        if (!strcmp(cur_scope, scope) && !strcmp(c, name)) target = nv;
        nv++;
      } else if (!strcmp(buf, "$enddefinitions $end")) {
        in_defs = 0;
      } else {
        ck_assert_msg(buf[0] == '$', "unexpected header line %s", buf);
      }
      (void)b;
      continue;
    }
    if (buf[0] == '#') {
      long long t = atoll(buf + 1);
      ck_assert_msg(t > last, "time #%lld after #%lld", t, last);
      last = t;
      stamps++;
    } else if (!strcmp(buf, "$dumpvars") || !strcmp(buf, "$end")) {
    } else if (buf[0] == 'b') {
      char val[64], id[16];
      ck_assert_int_eq(sscanf(buf, "b%63s %15s", val, id), 2);
      int k = vfind(v, nv, id);
      ck_assert_msg(k >= 0, "value for undeclared id %s", id);
      ck_assert_msg((int)strlen(val) <= v[k].width, "%s wider than %d bits", buf, v[k].width);
      ck_assert_msg(strspn(val, "01") == strlen(val), "bad bits in %s", buf);
      ck_assert_msg(last >= 0, "value before any time: %s", buf);
      if (k == target && !strcmp(val, bits)) hits++;
    } else {
      ck_assert_msg(buf[0] == '0' || buf[0] == '1', "bad value line %s", buf);
      int k = vfind(v, nv, buf + 1);
      ck_assert_msg(k >= 0, "value for undeclared id %s", buf + 1);
      ck_assert_int_eq(v[k].width, 1);
    }
  }
  ck_assert_msg(!in_defs, "no $enddefinitions");
  ck_assert_int_gt(stamps, 5);
  ck_assert_int_eq(nv, NCPUS * 6 + 24);
  ck_assert_msg(target >= 0, "%s.%s not declared", scope, name);
  return hits;
}

static void vcd2fst(scratch *sc, const char *vcd) {
  ck_assert_msg(have_tool("vcd2fst"), "vcd2fst not found: install Debian package gtkwave");
  const char *fst = scratch_file(sc, "run.fst");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "vcd2fst %s %s >/dev/null 2>&1", vcd, fst);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "vcd2fst rejected %s (status %d)", vcd, st);
  struct stat s;
  ck_assert_int_eq(stat(fst, &s), 0);
  ck_assert_int_gt(s.st_size, 0);
}

START_TEST(vcd_checks_and_converts) {
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  const char *out = scratch_file(&sc, "run.vcd");
  make_trace(trc, 1.0, &ex);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_VCD, out);
  apic_trace_close(t);
  char *text = slurp(out, NULL), ts[32];
  /* core 1 runs the CALL_FUNCTION handler once: handler[8:0] = 0x0FB */
  ck_assert_int_eq(check_vcd(text, "cpu1", "handler", "11111011", ts, sizeof ts), 1);
  ck_assert_str_eq(ts, "1 ns");
  ck_assert_int_ge(check_vcd(text, "cpu2", "isr_max", "1100001", ts, sizeof ts), 1);
  ck_assert_ptr_nonnull(strstr(text, "$scope module ioapic0 $end"));
  free(text);
  vcd2fst(&sc, out);
  scratch_clean(&sc);
}
END_TEST

START_TEST(vcd_time_unit_follows_frequency) {
  static const struct { double ghz; const char *unit; } cases[] = {
    {2.0, "100 ps"}, {0.5, "1 ns"}, {3.0, "1 ps"}, {1.25, "100 ps"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    scratch sc = {0};
    expect ex;
    const char *trc = scratch_file(&sc, "run.apictrace");
    const char *out = scratch_file(&sc, "run.vcd");
    make_trace(trc, cases[i].ghz, &ex);
    apic_trace *t = open_trace(trc);
    export_ok(t, APIC_EXPORT_VCD, out);
    apic_trace_close(t);
    char *text = slurp(out, NULL), ts[32];
    check_vcd(text, "cpu1", "handler", "11111011", ts, sizeof ts);
    ck_assert_msg(!strcmp(ts, cases[i].unit), "%g GHz: timescale %s, want %s", cases[i].ghz, ts,
                  cases[i].unit);
    free(text);
    scratch_clean(&sc);
  }
}
END_TEST

/* ---- robustness ---- */

/* Records no model would write: out-of-range cores, pins and I/O APICs,
   exits with no entry, unknown messages; plus an embedded-mode delivery
   (the host acknowledges: the flow ends on an "accept" instant). */
static void make_odd_trace(const char *path, uint64_t *accept_flow) {
  apic_config cfg = tu_config(NCPUS, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_trace_opts o;
  memset(&o, 0, sizeof o);
  o.level = -1;
  apic_trace_writer *w;
  char why[256];
  ck_assert_msg(apic_trace_writer_open(&w, s, path, &o, why, sizeof why) == APIC_OK, "%s", why);
  static const apic_event odd[] = {
    {.kind = APIC_EV_HANDLER_EXIT, .cpu = 1, .src = 1, .vector = 0x30, .a = 1, .b = 1},
    {.kind = APIC_EV_HANDLER_ENTER, .cpu = 99, .src = 99, .vector = 0x30, .a = 1, .b = 1},
    {.kind = APIC_EV_MSG_DONE, .msg = 777, .cpu = 99, .src = 99},
    {.kind = APIC_EV_IRR_SET, .msg = 3, .cpu = 5000, .src = APIC_NONE, .vector = 0x40},
    {.kind = APIC_EV_PIN, .cpu = APIC_NONE, .src = 7, .flags = APIC_EVF_IOAPIC, .a = 2, .b = 1},
    {.kind = APIC_EV_PIN, .cpu = APIC_NONE, .src = 0, .flags = APIC_EVF_IOAPIC, .a = 200, .b = 1},
    {.kind = APIC_EV_PIN, .cpu = APIC_NONE, .src = 0, .flags = APIC_EVF_IOAPIC, .a = 5, .b = 1},
    {.kind = APIC_EV_MSG_SEND, .msg = 900, .cpu = APIC_NONE, .src = 12345},
    {.kind = APIC_EV_ICR_WRITE, .cpu = 77, .src = 77, .vector = 0x50},
    {.kind = APIC_EV_MARKER, .cpu = APIC_NONE, .src = APIC_NONE},
    {.kind = APIC_EV_HALT, .cpu = 3, .src = 3},
    {.kind = APIC_EV_HANDLER_EXIT, .cpu = 3, .src = 3, .b = 1},
    {.kind = APIC_EV_ACCEPT, .cpu = 2, .src = 2, .vector = 0x99},
    {.kind = APIC_EV_NMI, .cpu = 2, .src = 2, .vector = 2},
    {.kind = APIC_EV_RESET, .cpu = 2, .src = 2},
  };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    apic_event e = odd[i];
    apic__emit(s, &e);
  }
  /* embedded mode: the host sends from core 0 to core 1 and acknowledges */
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x40, APIC_DM_FIXED, 0));
  ck_assert_int_ge(apic_sim_run(s, 100000), 0);
  apic_intr_kind kind;
  uint8_t v;
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &kind, &v), APIC_OK);
  ck_assert_int_eq(kind, APIC_INTR_FIXED);
  ck_assert_int_eq(apic_sim_ack(s, 1, kind, &v), APIC_OK);
  ck_assert_int_eq(v, 0x40);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
  apic_trace *t = open_trace(path);  /* find the message id of that IPI */
  apic_event e;
  *accept_flow = 0;
  while (apic_trace_next(t, &e) == APIC_OK)
    if (e.kind == APIC_EV_IRR_SET && e.cpu == 1) *accept_flow = (e.msg << FLOW_CPU_BITS) | 1;
  apic_trace_close(t);
  ck_assert_uint_ne(*accept_flow, 0);
}

START_TEST(odd_records_do_not_break_exports) {
  scratch sc = {0};
  uint64_t flow;
  const char *trc = scratch_file(&sc, "odd.apictrace");
  const char *pf = scratch_file(&sc, "odd.pftrace");
  const char *js = scratch_file(&sc, "odd.json");
  const char *vcd = scratch_file(&sc, "odd.vcd");
  make_odd_trace(trc, &flow);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_PERFETTO, pf);
  export_ok(t, APIC_EXPORT_JSON, js);
  export_ok(t, APIC_EXPORT_VCD, vcd);
  apic_trace_close(t);
  char *d = protoc_decode(&sc, pf);
  check_decoded(d);
  char want[96];
  snprintf(want, sizeof want, "name: \"accept\"\n");
  ck_assert_ptr_nonnull(strstr(d, want));
  snprintf(want, sizeof want, "terminating_flow_ids: %llu\n", (unsigned long long)flow);
  ck_assert_uint_eq(count(d, want), 1);
  snprintf(want, sizeof want, "\n    flow_ids: %llu\n", (unsigned long long)flow);
  ck_assert_uint_eq(count(d, want), 1);
  free(d);
#ifdef APICSIM_HAVE_CJSON
  char *text = slurp(js, NULL);
  cJSON *root = cJSON_Parse(text);
  ck_assert_ptr_nonnull(root);
  cJSON_Delete(root);
  free(text);
#endif
  vcd2fst(&sc, vcd);
  scratch_clean(&sc);
}
END_TEST

#ifdef APICSIM_HAVE_CJSON
#define INIT_VECTOR 0x66
#define INIT_PAGE   0x9C

/* A handler that is still running when INIT arrives. */
static int h_slow(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_STI(c);
  for (APIC_L(c, 0) = 0; APIC_L(c, 0) < 50; APIC_L(c, 0)++) APIC_WORK(c, 100);
  APIC_EOI(c);
  APIC_END(c);
}

/* Core 0: an interrupt to core 1, INIT while its handler runs, SIPI. */
static int init_sender(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_DO(c, apic_cpu_send_ipi(c, 1, APIC_ICR_LO(INIT_VECTOR, APIC_DM_FIXED, 0)));
  APIC_WORK(c, 2000);
  APIC_DO(c, apic_cpu_send_ipi(c, 1, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL)));
  APIC_WORK(c, 2000);
  APIC_DO(c, apic_cpu_send_ipi(c, 1, APIC_ICR_LO(INIT_PAGE, APIC_DM_STARTUP, 0)));
  APIC_WORK(c, 20000);
  APIC_END(c);
}
#endif

/* SDM 10.4.7.3: INIT resets the core, so the handler it interrupted never
   returns. Its slice must end at the INIT, not run on to the end of the
   trace under everything the core does after the SIPI. */
START_TEST(init_ends_the_handler_slices_it_cuts) {
#ifndef APICSIM_HAVE_CJSON
  ck_abort_msg("built without cJSON: install Debian package libcjson-dev and reconfigure");
#else
  scratch sc = {0};
  const char *trc = scratch_file(&sc, "init.apictrace");
  const char *js = scratch_file(&sc, "init.json");
  apic_config cfg = tu_config(2, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  apic_sim *s = tu_sim(&cfg, NULL);
  apic_sim_set_handler(s, APIC_NONE, INIT_VECTOR, h_slow, NULL);
  apic_sim_set_startup(s, INIT_PAGE, tu_prog_idle, NULL);
  apic_sim_set_program(s, 0, init_sender, NULL);
  apic_sim_set_program(s, 1, tu_prog_idle, NULL);
  apic_trace_opts o;
  memset(&o, 0, sizeof o);
  o.level = -1;
  apic_trace_writer *w;
  char why[256];
  ck_assert_msg(apic_trace_writer_open(&w, s, trc, &o, why, sizeof why) == APIC_OK, "%s", why);
  ck_assert_int_eq(apic_sim_run(s, 100000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_trace_writer_close(w), APIC_OK);
  apic_sim_destroy(s);
  apic_trace *t = open_trace(trc);
  export_ok(t, APIC_EXPORT_JSON, js);
  apic_trace_close(t);
  char *text = slurp(js, NULL);
  cJSON *root = cJSON_Parse(text);
  ck_assert_ptr_nonnull(root);
  int depth = 0, inits = 0, handlers = 0;
  for (int i = 0; i < cJSON_GetArraySize(root); i++) {
    const cJSON *e = cJSON_GetArrayItem(root, i);
    const char *ph = jstr(e, "ph"), *name = jstr(e, "name");
    if (!ph || jnum(e, "tid", -1) != 2) continue;  /* cpu 1 */
    if (!strcmp(ph, "B")) {
      depth++;
      handlers += name && !strcmp(name, "irq vector 0x66");
    } else if (!strcmp(ph, "E")) {
      depth--;
    } else if (!strcmp(ph, "i") && name && !strcmp(name, "init")) {
      inits++;
      ck_assert_msg(depth == 0, "%d slices still open on cpu 1 at its INIT", depth);
    }
  }
  ck_assert_int_eq(handlers, 1);
  ck_assert_int_eq(inits, 1);
  cJSON_Delete(root);
  free(text);
  scratch_clean(&sc);
#endif
}
END_TEST

/* A trace cut off mid-write exports what it has, with every slice ended. */
START_TEST(cut_trace_exports) {
  scratch sc = {0};
  expect ex;
  const char *trc = scratch_file(&sc, "run.apictrace");
  const char *cut = scratch_file(&sc, "cut.apictrace");
  const char *pf = scratch_file(&sc, "cut.pftrace");
  const char *vcd = scratch_file(&sc, "cut.vcd");
  make_trace(trc, 1.0, &ex);
  size_t len;
  char *bytes = slurp(trc, &len);
  FILE *f = fopen(cut, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(bytes, 1, len * 2 / 3, f), len * 2 / 3);
  fclose(f);
  free(bytes);
  apic_trace *t = open_trace(cut);
  ck_assert_int_eq(apic_trace_info_get(t)->cut, 1);
  export_ok(t, APIC_EXPORT_PERFETTO, pf);
  export_ok(t, APIC_EXPORT_VCD, vcd);
  apic_trace_close(t);
  char *d = protoc_decode(&sc, pf);
  check_decoded(d);
  free(d);
  vcd2fst(&sc, vcd);
  scratch_clean(&sc);
}
END_TEST

int main(void) {
  Suite *s = suite_create("export");
  TCase *api = tcase_create("api");
  tcase_add_test(api, format_names);
  tcase_add_test(api, bad_arguments_and_paths);
  suite_add_tcase(s, api);
  TCase *pf = tcase_create("perfetto");
  tcase_add_test(pf, perfetto_decodes_with_protoc);
  tcase_add_test(pf, perfetto_flows_on_every_bus);
  tcase_add_test(pf, perfetto_is_deterministic);
  suite_add_tcase(s, pf);
  TCase *js = tcase_create("json");
  tcase_add_test(js, json_parses_with_cjson);
  tcase_add_test(js, json_timestamps_keep_cycles_apart_above_1ghz);
  suite_add_tcase(s, js);
  TCase *vcd = tcase_create("vcd");
  tcase_add_test(vcd, vcd_checks_and_converts);
  tcase_add_test(vcd, vcd_time_unit_follows_frequency);
  suite_add_tcase(s, vcd);
  TCase *rob = tcase_create("robustness");
  tcase_add_test(rob, odd_records_do_not_break_exports);
  tcase_add_test(rob, cut_trace_exports);
  tcase_add_test(rob, init_ends_the_handler_slices_it_cuts);
  suite_add_tcase(s, rob);
  return tu_run(s);
}
