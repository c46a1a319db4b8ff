/*
 * export_json.c - the timeline model (export.c) as Chrome Trace Event JSON.
 *
 * The file is the bare-array form: "[" then one event object per line, each
 * followed by a comma. The format does not require the closing bracket, so
 * a file cut at any line still opens in ui.perfetto.dev (and the legacy
 * chrome://tracing); a whole file ends with "{}]" so that strict JSON
 * parsers read it too (an event with no "ph" is ignored by the viewers).
 *
 * Mapping: one process (pid APIC__XPID); every core, bus lane and I/O APIC
 * pin is a thread (tid from the model, named by "M" thread_name events);
 * slices are "B"/"E" pairs, instants "i" (thread scope, or process scope on
 * the process track), counters "C" named after their track. A flow is a
 * "s" event right after the event it starts from (the instant is then the
 * innermost slice, which a flow start binds to) and a "f" event with
 * "bp":"e" right after the slice or instant it ends on. Flow ids are
 * strings in hex, because a JSON number loses 64-bit ids. Timestamps are
 * microseconds with three decimals: whole nanoseconds, printed exactly.
 */
#include <inttypes.h>
#include <string.h>
#include "export.h"

#define FLOW_NAME "delivery"  /* "s" and "f" of one flow must share name and cat */
#define FLOW_CAT "flow"
#define PS_PER_US 1000000u

typedef struct js { FILE *f; } js;

static void str(FILE *f, const char *s) {
  static const char hex[] = "0123456789abcdef";
  putc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      putc('\\', f);
      putc(*p, f);
    } else if (*p < 0x20) {
      fputs("\\u00", f);
      putc(hex[*p >> 4], f);
      putc(hex[*p & 15], f);
    } else {
      putc(*p, f);
    }
  }
  putc('"', f);
}

/* In microseconds, to the picosecond: cycles of a core above 1 GHz stay apart. */
static void ts(FILE *f, uint64_t ps) {
  fprintf(f, "\"ts\":%" PRIu64 ".%06" PRIu64, ps / PS_PER_US, ps % PS_PER_US);
}

static void where(FILE *f, const apic__xtrack *t) {
  fprintf(f, ",\"pid\":%u", APIC__XPID);
  if (t->kind != APIC__XT_PROCESS) fprintf(f, ",\"tid\":%u", t->tid);
}

static void args(FILE *f, const apic__xarg *a, size_t n) {
  fputs(",\"args\":{", f);
  for (size_t i = 0; i < n; i++) {
    if (i) putc(',', f);
    str(f, a[i].key);
    putc(':', f);
    if (a[i].str) str(f, a[i].str);
    else fprintf(f, "%" PRId64, a[i].num);
  }
  putc('}', f);
}

static int done(FILE *f) {
  fputs("},\n", f);
  return ferror(f) ? APIC_E_IO : APIC_OK;
}

static void metadata(FILE *f, const char *what, const apic__xtrack *t, const char *key,
                     const char *sval, int64_t nval) {
  fputs("{\"name\":", f);
  str(f, what);
  fputs(",\"ph\":\"M\"", f);
  where(f, t);
  apic__xarg a = {key, sval, nval};
  args(f, &a, 1);
  fputs("},\n", f);
}

static int js_track(void *ud, const apic__xtrack *t) {
  FILE *f = ((js *)ud)->f;
  switch (t->kind) {
  case APIC__XT_PROCESS:
    metadata(f, "process_name", t, "name", t->name, 0);
    if (t->info) metadata(f, "process_labels", t, "labels", t->info, 0);
    break;
  case APIC__XT_THREAD:
  case APIC__XT_PLAIN:
    metadata(f, "thread_name", t, "name", t->name, 0);
    metadata(f, "thread_sort_index", t, "sort_index", NULL, t->tid);
    break;
  default: break;  /* counters are named by their "C" events */
  }
  return ferror(f) ? APIC_E_IO : APIC_OK;
}

static void flows(FILE *f, const apic__xevent *e) {
  for (int in = 0; in < 2; in++) {
    const uint64_t *ids = in ? e->flow_in : e->flow_out;
    size_t n = in ? e->nin : e->nout;
    for (size_t i = 0; i < n; i++) {
      fputs("{\"name\":\"" FLOW_NAME "\",\"cat\":\"" FLOW_CAT "\",", f);
      fputs(in ? "\"ph\":\"f\",\"bp\":\"e\"," : "\"ph\":\"s\",", f);
      fprintf(f, "\"id\":\"0x%" PRIx64 "\",", ids[i]);
      ts(f, e->ps);
      where(f, e->track);
      fputs("},\n", f);
    }
  }
}

static int event(js *j, const apic__xevent *e, const char *ph) {
  FILE *f = j->f;
  fputs("{\"name\":", f);
  str(f, e->name);
  if (e->cat) {
    fputs(",\"cat\":", f);
    str(f, e->cat);
  }
  fprintf(f, ",\"ph\":\"%s\",", ph);
  if (!strcmp(ph, "i")) fprintf(f, "\"s\":\"%s\",", e->track->kind == APIC__XT_PROCESS ? "p" : "t");
  ts(f, e->ps);
  where(f, e->track);
  args(f, e->args, e->nargs);
  int rc = done(f);
  flows(f, e);
  return rc ? rc : ferror(f) ? APIC_E_IO : APIC_OK;
}

static int js_begin(void *ud, const apic__xevent *e) { return event(ud, e, "B"); }
static int js_instant(void *ud, const apic__xevent *e) { return event(ud, e, "i"); }

static int js_end(void *ud, const apic__xtrack *t, uint64_t ps) {
  FILE *f = ((js *)ud)->f;
  fputs("{\"ph\":\"E\",", f);
  ts(f, ps);
  where(f, t);
  return done(f);
}

static int js_counter(void *ud, const apic__xtrack *t, uint64_t ps, int64_t value) {
  FILE *f = ((js *)ud)->f;
  fputs("{\"name\":", f);
  str(f, t->name);
  fputs(",\"ph\":\"C\",", f);
  ts(f, ps);
  fprintf(f, ",\"pid\":%u", APIC__XPID);
  apic__xarg a = {"value", NULL, value};
  args(f, &a, 1);
  return done(f);
}

int apic__export_json(apic_trace *t, FILE *f, char *why, size_t why_size) {
  js j = {f};
  fputs("[\n", f);
  apic__xsink sink = {&j, js_track, js_begin, js_end, js_instant, js_counter};
  int rc = apic__xmodel_run(t, &sink, why, why_size);
  if (!rc) fputs("{}]\n", f);
  return rc;
}
