/*
 * scenario.c - JSON scenarios: parse and validate, then build the machine,
 * install the programs, drive the stimulus, run, and check expectations
 * (apicsim/scenario.h; the schema is examples/README.md).
 *
 * Parsing never trusts the file: every value is checked for type and range
 * where it is read, an error names its JSON path, unknown keys are errors,
 * and counts are bounded before anything is allocated. Parsing produces a
 * plain C description; running it is a separate step, so `apicsim check`
 * validates without running.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "apicsim/programs.h"
#include "apicsim/scenario.h"
#include "apicsim/trace.h"
#include "progs.h"
#include "scenario_int.h"

#define MAX_FILE        (16u << 20)
#define MAX_PROGRAMS    1024u
#define MAX_STIMULUS    100000u
#define MAX_PIN_EVENTS  10000000u   /* after periodic sources are expanded */
#define MAX_EXPECT      10000u
#define MAX_EXPECT_CPUS (1u << 22)  /* cores listed by all expectations together */
#define MAX_CYCLES      (1ull << 62)

/* ---- parse context: the JSON path of the value being read ---- */

typedef struct ctx {
  char path[256];
  char *why;
  size_t why_size;
  const char *source;
  int failed;
} ctx;

static int bad(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(ctx *c, const char *fmt, ...) {
  if (c->failed) return -1;
  c->failed = 1;
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->why, c->why_size, "%s: %s: %s", c->source, c->path[0] ? c->path : "(top level)",
           msg);
  return -1;
}

static size_t enter(ctx *c, const char *key) {
  size_t n = strlen(c->path);
  snprintf(c->path + n, sizeof c->path - n, "%s%s", n ? "." : "", key);
  return n;
}

static size_t enter_i(ctx *c, size_t i) {
  size_t n = strlen(c->path);
  snprintf(c->path + n, sizeof c->path - n, "[%zu]", i);
  return n;
}

static void leave(ctx *c, size_t n) { c->path[n] = 0; }

/* The path kept with a program or expectation, for its messages: cut to
   size (it is short there: "programs[3]"). */
static void path_copy(char *dst, size_t size, const char *path) {
  size_t n = strlen(path);
  if (n >= size) n = size - 1;
  memcpy(dst, path, n);
  dst[n] = 0;
}

static const char *kind_of(const cJSON *v) {
  if (!v) return "nothing";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "null";
}

/* Only the listed keys may appear in obj ("a|b|c"). */
static int keys_ok(ctx *c, const cJSON *obj, const char *allowed) {
  for (const cJSON *it = obj->child; it; it = it->next) {
    const char *k = it->string;
    for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
      if (!strcmp(prev->string, k)) {
        size_t n = enter(c, k);
        bad(c, "this field appears twice");
        leave(c, n);
        return -1;
      }
    size_t len = strlen(k);
    int found = 0;
    for (const char *p = allowed; *p && !found;) {
      const char *bar = strchr(p, '|');
      size_t w = bar ? (size_t)(bar - p) : strlen(p);
      found = w == len && !strncmp(p, k, w);
      p = bar ? bar + 1 : p + w;
    }
    if (!found) {
      size_t n = enter(c, k);
      bad(c, "unknown field (allowed here: %s)", allowed);
      leave(c, n);
      return -1;
    }
  }
  return 0;
}

static int want_object(ctx *c, const cJSON *v) {
  return cJSON_IsObject(v) ? 0 : bad(c, "expected an object, found %s", kind_of(v));
}

/* An integer in [lo, hi]: a JSON number with no fraction, or "0x..." text. */
static int get_int(ctx *c, const cJSON *v, uint64_t lo, uint64_t hi, uint64_t *out) {
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d != floor(d) || d < 0 || !(d < 1e30))
      return bad(c, "expected a whole number in %llu..%llu, found %g", (unsigned long long)lo,
                 (unsigned long long)hi, d);
    if (d > 9.0e15)  /* past 2^53 a JSON number may have lost digits */
      return bad(c, "%.0f is too large for an exact JSON number (above 9e15): write it as a "
                 "string, \"%.0f\"", d, d);
    *out = (uint64_t)d;
  } else if (cJSON_IsString(v)) {  /* decimal, or 0x hex: never octal */
    const char *s = v->valuestring, *d = s;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) { base = 16; d = s + 2; }
    uint64_t x = 0;
    int digits = 0;
    for (; *d; d++, digits++) {
      unsigned k = *d >= '0' && *d <= '9' ? (unsigned)(*d - '0')
                 : base == 16 && *d >= 'a' && *d <= 'f' ? (unsigned)(*d - 'a' + 10)
                 : base == 16 && *d >= 'A' && *d <= 'F' ? (unsigned)(*d - 'A' + 10) : 99;
      if (k >= base) return bad(c, "expected a whole number (decimal or 0x hex), found \"%s\"", s);
      if (x > (UINT64_MAX - k) / base) return bad(c, "\"%s\" is too large", s);
      x = x * base + k;
    }
    if (!digits) return bad(c, "expected a whole number (decimal or 0x hex), found \"%s\"", s);
    *out = x;
  } else {
    return bad(c, "expected a whole number in %llu..%llu, found %s", (unsigned long long)lo,
               (unsigned long long)hi, kind_of(v));
  }
  if (*out < lo || *out > hi)
    return bad(c, "%llu is outside %llu..%llu", (unsigned long long)*out,
               (unsigned long long)lo, (unsigned long long)hi);
  return 0;
}

static int get_bool(ctx *c, const cJSON *v, int *out) {
  if (!cJSON_IsBool(v)) return bad(c, "expected true or false, found %s", kind_of(v));
  *out = cJSON_IsTrue(v);
  return 0;
}

/* One of the words in choices ("a|b|c"); returns its index. */
static int get_choice(ctx *c, const cJSON *v, const char *choices, int *out) {
  if (!cJSON_IsString(v)) return bad(c, "expected one of %s, found %s", choices, kind_of(v));
  int i = 0;
  size_t len = strlen(v->valuestring);
  for (const char *p = choices; *p; i++) {
    const char *bar = strchr(p, '|');
    size_t w = bar ? (size_t)(bar - p) : strlen(p);
    if (w == len && !strncmp(p, v->valuestring, w)) { *out = i; return 0; }
    p = bar ? bar + 1 : p + w;
  }
  return bad(c, "expected one of %s, found \"%s\"", choices, v->valuestring);
}

static int get_number(ctx *c, const cJSON *v, double lo, double hi, double *out) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
    return bad(c, "expected a number in %g..%g, found %s", lo, hi,
               cJSON_IsNumber(v) ? "a number outside it" : kind_of(v));
  *out = v->valuedouble;
  return 0;
}

/* A list of cores: 3, [0, 3, 5], "2-7", or "all". Allocates *out. */
static int get_cpus(ctx *c, const cJSON *v, uint32_t ncpus, uint32_t **out, uint32_t *n) {
  *out = NULL;
  *n = 0;
  if (cJSON_IsNumber(v)) {
    uint64_t x;
    if (get_int(c, v, 0, ncpus - 1, &x)) return -1;
    *out = malloc(sizeof **out);
    if (!*out) return bad(c, "out of memory");
    (*out)[(*n)++] = (uint32_t)x;
    return 0;
  }
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    unsigned long a = 0, b = 0;
    char tail;
    if (!strcmp(s, "all")) { a = 0; b = ncpus - 1; }
    else if (sscanf(s, "%lu-%lu%c", &a, &b, &tail) == 2 && a <= b) {}
    else if (sscanf(s, "%lu%c", &a, &tail) == 1) b = a;
    else return bad(c, "expected a core list: 3, [0, 3], \"2-7\" or \"all\", found \"%s\"", s);
    if (b >= ncpus) return bad(c, "core %lu does not exist (the machine has %u)", b, ncpus);
    *out = malloc((b - a + 1) * sizeof **out);
    if (!*out) return bad(c, "out of memory");
    for (unsigned long i = a; i <= b; i++) (*out)[(*n)++] = (uint32_t)i;
    return 0;
  }
  if (!cJSON_IsArray(v))
    return bad(c, "expected a core list: 3, [0, 3], \"2-7\" or \"all\", found %s", kind_of(v));
  int len = cJSON_GetArraySize(v);
  if ((uint32_t)len > ncpus) return bad(c, "%d cores listed; the machine has %u", len, ncpus);
  *out = malloc(((size_t)len + 1) * sizeof **out);
  uint8_t *seen = calloc(((size_t)ncpus + 7) / 8, 1);  /* a bit per core: linear in the list */
  if (!*out || !seen) { free(seen); return bad(c, "out of memory"); }
  size_t i = 0;
  int rc = 0;
  for (const cJSON *it = v->child; it && !rc; it = it->next, i++) {
    size_t m = enter_i(c, i);
    uint64_t x;
    if (get_int(c, it, 0, ncpus - 1, &x)) {
      rc = -1;
    } else if (seen[x / 8] & (1u << (x % 8))) {
      rc = bad(c, "core %llu is listed twice", (unsigned long long)x);
    } else {
      seen[x / 8] |= (uint8_t)(1u << (x % 8));
      (*out)[(*n)++] = (uint32_t)x;
    }
    leave(c, m);
  }
  free(seen);
  return rc;
}

#define FIELD(obj, key) cJSON_GetObjectItemCaseSensitive((obj), (key))
/* Runs stmt with the path extended by key, when obj has key. */
#define WITH(c, obj, key, v, stmt)                                           \
  do {                                                                       \
    const cJSON *v = FIELD(obj, key);                                        \
    if (v) {                                                                 \
      size_t mark_ = enter(c, key);                                          \
      int rc_ = (stmt);                                                      \
      leave(c, mark_);                                                       \
      if (rc_) return -1;                                                    \
    }                                                                        \
  } while (0)

/* ---- machine ---- */

static const char *const timing_names[] = {
  "mmio_read", "mmio_write", "msr_read", "msr_write", "insn", "pause", "mem", "atomic",
  "accept", "iret", "wake", "post", "xapic_latency", "p6_clock_div", "mesh_same_core",
  "mesh_same_socket", "mesh_cross_socket", "ioapic_latency", "timer_div"};
_Static_assert(sizeof timing_names / sizeof timing_names[0] ==
               sizeof(apic_timing) / sizeof(uint32_t), "a name for every timing field");

static int parse_timing(ctx *c, const cJSON *t, apic_timing *out) {
  if (want_object(c, t)) return -1;
  uint32_t *f = (uint32_t *)out;
  for (const cJSON *it = t->child; it; it = it->next) {
    for (const cJSON *prev = t->child; prev != it; prev = prev->next)
      if (!strcmp(prev->string, it->string)) {
        enter(c, it->string);
        return bad(c, "this field appears twice");
      }
    size_t k = 0, n = sizeof timing_names / sizeof timing_names[0];
    while (k < n && strcmp(timing_names[k], it->string)) k++;
    size_t m = enter(c, it->string);
    if (k == n) {
      bad(c, "unknown timing field (see docs/TIMING.md)");
      leave(c, m);
      return -1;
    }
    uint64_t v;
    /* the machine's limits (sim.c check_config), said here at the path */
    int min1 = !strcmp(it->string, "p6_clock_div") || !strcmp(it->string, "timer_div") ||
               !strcmp(it->string, "insn");
    uint64_t max = !strcmp(it->string, "timer_div") ? APIC_TIMER_DIV_MAX : 100000000;
    if (get_int(c, it, min1 ? 1 : 0, max, &v)) { leave(c, m); return -1; }
    f[k] = (uint32_t)v;
    leave(c, m);
  }
  return 0;
}

static int parse_ioapics(ctx *c, const cJSON *a, apic_config *cfg) {
  if (!cJSON_IsArray(a)) return bad(c, "expected an array of I/O APICs, found %s", kind_of(a));
  int n = cJSON_GetArraySize(a);
  if (n > APIC_MAX_IOAPICS) return bad(c, "%d I/O APICs; at most %d", n, APIC_MAX_IOAPICS);
  cfg->nioapics = (uint32_t)n;
  size_t i = 0;
  for (const cJSON *it = a->child; it; it = it->next, i++) {
    size_t m = enter_i(c, i);
    uint64_t v;
    if (want_object(c, it) || keys_ok(c, it, "pins|version|id")) { leave(c, m); return -1; }
    const cJSON *f;
    if ((f = FIELD(it, "pins"))) {
      size_t k = enter(c, "pins");
      if (get_int(c, f, 1, APIC_IOAPIC_MAX_PINS, &v)) return -1;
      cfg->ioapic_pins[i] = (uint32_t)v;
      leave(c, k);
    }
    if ((f = FIELD(it, "version"))) {
      size_t k = enter(c, "version");
      if (get_int(c, f, 0, 255, &v)) return -1;
      if (v != APIC_IOAPIC_VERSION_82093AA && v != APIC_IOAPIC_VERSION_EOI)
        return bad(c, "expected 0x11 (82093AA) or 0x20 (with EOI register), found 0x%llx",
                   (unsigned long long)v);
      cfg->ioapic_version[i] = (uint8_t)v;
      leave(c, k);
    }
    if ((f = FIELD(it, "id"))) {
      size_t k = enter(c, "id");
      if (get_int(c, f, 0, 15, &v)) return -1;
      cfg->ioapic_id[i] = (uint8_t)v;
      leave(c, k);
    }
    leave(c, m);
  }
  return 0;
}

static int parse_machine(ctx *c, const cJSON *m, apic_scenario *sc) {
  if (want_object(c, m) ||
      keys_ok(c, m, "cpus|model|x2apic|bus|sockets|threads_per_core|freq_ghz|apic_ids|"
                    "logical_ids|dfr|ioapics|extint_vector|timing|quirks"))
    return -1;
  const cJSON *cpus = FIELD(m, "cpus");
  if (!cpus) return bad(c, "machine.cpus is required (the number of cores)");
  uint64_t n;
  size_t k = enter(c, "cpus");
  if (get_int(c, cpus, 1, APIC_MAX_CPUS, &n)) return -1;
  leave(c, k);
  apic_config *cfg = &sc->cfg;
  apic_config_default(cfg, (uint32_t)n);
  int model = 1, bus = -1, b = 0;
  uint64_t v;
  WITH(c, m, "model", f, get_choice(c, f, "p6|xapic", &model));
  cfg->model = model ? APIC_MODEL_XAPIC : APIC_MODEL_P6;
  WITH(c, m, "bus", f, get_choice(c, f, "p6|xapic|mesh", &bus));
  cfg->bus = bus >= 0 ? (apic_bus_kind)bus : model ? APIC_BUS_XAPIC : APIC_BUS_P6;
  if (model == 0) cfg->x2apic = 0;
  WITH(c, m, "x2apic", f, (get_bool(c, f, &b) || ((cfg->x2apic = (uint8_t)b), 0)));
  WITH(c, m, "sockets", f, (get_int(c, f, 1, APIC_MAX_CPUS, &v) || ((cfg->sockets = (uint32_t)v), 0)));
  WITH(c, m, "threads_per_core", f,
       (get_int(c, f, 1, 64, &v) || ((cfg->threads_per_core = (uint32_t)v), 0)));
  WITH(c, m, "freq_ghz", f, get_number(c, f, 0.001, 999, &cfg->freq_ghz));
  WITH(c, m, "extint_vector", f, (get_int(c, f, 0, 255, &v) || ((cfg->extint_vector = (uint8_t)v), 0)));
  WITH(c, m, "ioapics", f, parse_ioapics(c, f, cfg));
  WITH(c, m, "timing", f, parse_timing(c, f, &cfg->timing));
  const cJSON *q = FIELD(m, "quirks");
  if (q) {
    k = enter(c, "quirks");
    if (want_object(c, q) || keys_ok(c, q, "logical_ff_all|timer_masked_hold")) return -1;
    WITH(c, q, "logical_ff_all", f, (get_bool(c, f, &b) || ((cfg->quirks.logical_ff_all = (uint8_t)b), 0)));
    WITH(c, q, "timer_masked_hold", f, (get_bool(c, f, &b) || ((cfg->quirks.timer_masked_hold = (uint8_t)b), 0)));
    leave(c, k);
  }
  const cJSON *ids = FIELD(m, "apic_ids");
  if (ids) {
    k = enter(c, "apic_ids");
    if (!cJSON_IsArray(ids) || (uint64_t)cJSON_GetArraySize(ids) != n)
      return bad(c, "expected an array of %llu APIC IDs, found %s", (unsigned long long)n,
                 cJSON_IsArray(ids) ? "an array of another length" : kind_of(ids));
    sc->apic_ids = malloc(n * sizeof *sc->apic_ids);
    if (!sc->apic_ids) return bad(c, "out of memory");
    size_t i = 0;
    for (const cJSON *it = ids->child; it; it = it->next, i++) {
      size_t mk = enter_i(c, i);
      if (get_int(c, it, 0, 0xFFFFFFFEu, &v)) return -1;
      sc->apic_ids[i] = (uint32_t)v;
      leave(c, mk);
    }
    leave(c, k);
    cfg->apic_ids = sc->apic_ids;
  }
  WITH(c, m, "dfr", f, get_choice(c, f, "flat|cluster", &sc->dfr_cluster));
  const cJSON *lids = FIELD(m, "logical_ids");
  if (lids) {
    k = enter(c, "logical_ids");
    if (cfg->x2apic)
      return bad(c, "x2APIC logical IDs are derived from the APIC ID (SDM 10.12.10.2)");
    if (!cJSON_IsArray(lids) || (uint64_t)cJSON_GetArraySize(lids) != n)
      return bad(c, "expected an array of %llu logical IDs (0..255), found %s",
                 (unsigned long long)n, cJSON_IsArray(lids) ? "another length" : kind_of(lids));
    sc->logical_ids = malloc(n * sizeof *sc->logical_ids);
    if (!sc->logical_ids) return bad(c, "out of memory");
    size_t i = 0;
    for (const cJSON *it = lids->child; it; it = it->next, i++) {
      size_t mk = enter_i(c, i);
      if (get_int(c, it, 0, 255, &v)) return -1;
      sc->logical_ids[i] = (uint32_t)v;
      leave(c, mk);
    }
    leave(c, k);
  } else if (FIELD(m, "dfr")) {
    enter(c, "dfr");
    return bad(c, "\"dfr\" goes with \"logical_ids\"");
  }
  return 0;
}

/* ---- programs ---- */

static int parse_args(ctx *c, const cJSON *a, prog_entry *p, uint32_t ncpus) {
  if (want_object(c, a)) return -1;
  char why[256];
  for (const cJSON *it = a->child; it; it = it->next) {
    size_t m = enter(c, it->string);
    for (const cJSON *prev = a->child; prev != it; prev = prev->next)
      if (!strcmp(prev->string, it->string)) {  /* else the last one would silently win */
        bad(c, "this field appears twice");
        leave(c, m);
        return -1;
      }
    int k = apic_args_index(p->def, it->string);
    if (k < 0) {
      char names[256] = "";
      for (unsigned i = 0; i < p->def->nargs; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 p->def->args[i].name);
      bad(c, "program %s has no such argument (it takes: %s)", p->def->name,
          p->def->nargs ? names : "none");
      leave(c, m);
      return -1;
    }
    const apic_arg_spec *sp = &p->def->args[k];
    int rc = 0;
    uint64_t v = 0;
    int bv = 0;
    switch (sp->type) {
    case APIC_ARG_INT:
      rc = get_int(c, it, (uint64_t)(sp->min < 0 ? 0 : sp->min), (uint64_t)sp->max, &v);
      if (!rc && apic_args_set_int(&p->args, sp->name, (int64_t)v, why, sizeof why))
        rc = bad(c, "%s", why);
      break;
    case APIC_ARG_BOOL:
      rc = get_bool(c, it, &bv);
      if (!rc && apic_args_set_int(&p->args, sp->name, bv, why, sizeof why))
        rc = bad(c, "%s", why);
      break;
    case APIC_ARG_CPUS: {
      uint32_t *list, nl;
      rc = get_cpus(c, it, ncpus, &list, &nl);
      if (!rc && apic_args_set_cpus(&p->args, sp->name, list, nl, ncpus, why, sizeof why))
        rc = bad(c, "%s", why);
      free(list);
      break;
    }
    case APIC_ARG_STRING:
      if (!cJSON_IsString(it)) rc = bad(c, "expected one of %s, found %s", sp->choices, kind_of(it));
      else if (apic_args_set_str(&p->args, sp->name, it->valuestring, why, sizeof why))
        rc = bad(c, "%s", why);
      break;
    }
    leave(c, m);
    if (rc) return -1;
  }
  return 0;
}

static int parse_programs(ctx *c, const cJSON *a, apic_scenario *sc, uint8_t *claimed) {
  if (!cJSON_IsArray(a)) return bad(c, "expected an array of programs, found %s", kind_of(a));
  int n = cJSON_GetArraySize(a);
  if ((uint32_t)n > MAX_PROGRAMS) return bad(c, "%d programs; at most %u", n, MAX_PROGRAMS);
  sc->progs = calloc((size_t)n + 1, sizeof *sc->progs);
  if (!sc->progs) return bad(c, "out of memory");
  uint32_t ncpus = sc->cfg.ncpus;
  size_t i = 0;
  for (const cJSON *it = a->child; it; it = it->next, i++) {
    size_t m = enter_i(c, i);
    prog_entry *p = &sc->progs[sc->nprogs];
    path_copy(p->path, sizeof p->path, c->path);
    if (want_object(c, it) || keys_ok(c, it, "program|cpus|args")) return -1;
    const cJSON *name = FIELD(it, "program");
    if (!name) return bad(c, "\"program\" is required (see apicsim list-programs)");
    size_t k = enter(c, "program");
    if (!cJSON_IsString(name)) return bad(c, "expected a program name, found %s", kind_of(name));
    p->def = apic_prog_find(name->valuestring);
    if (!p->def) return bad(c, "unknown program \"%s\" (apicsim list-programs lists them)",
                            name->valuestring);
    leave(c, k);
    apic_args_init(&p->args, p->def);
    sc->nprogs++;
    const cJSON *cp = FIELD(it, "cpus");
    if (!cp) return bad(c, "\"cpus\" is required: the cores this program runs on");
    k = enter(c, "cpus");
    if (get_cpus(c, cp, ncpus, &p->cpus, &p->ncpus)) return -1;
    if (!p->ncpus) return bad(c, "the core list is empty");
    for (uint32_t j = 0; j < p->ncpus; j++) {
      if (claimed[p->cpus[j]])
        return bad(c, "core %u already runs another program", p->cpus[j]);
      claimed[p->cpus[j]] = 1;
    }
    leave(c, k);
    WITH(c, it, "args", f, parse_args(c, f, p, ncpus));
    char why[256];
    if (apic_args_complete(&p->args, why, sizeof why)) return bad(c, "%s", why);
    leave(c, m);
  }
  return 0;
}

/* Programs check some arguments only against the machine (an I/O APIC that
   exists, a mode the model has): install them on a throwaway machine so
   that `apicsim check` reports what `run` would. */
static int try_install(ctx *c, apic_scenario *sc) {
  apic_sim *s = NULL;
  char why[256];
  if (apic_sim_create(&s, &sc->cfg, why, sizeof why)) return bad(c, "%s", why);
  void **inst = calloc(sc->nprogs + 1, sizeof *inst);
  int rc = inst ? 0 : bad(c, "out of memory");
  for (uint32_t i = 0; !rc && i < sc->nprogs; i++) {
    const prog_entry *p = &sc->progs[i];
    apic__sim_install_tag(s, i + 1);
    int failed = p->def->install(s, p->cpus, p->ncpus, &p->args, &inst[i], why, sizeof why);
    apic__sim_install_tag(s, 0);
    if (failed) {
      snprintf(c->path, sizeof c->path, "%s.args", p->path);
      rc = bad(c, "%s: %s", p->def->name, why);
    }
  }
  for (uint32_t i = 0; inst && i < sc->nprogs; i++)
    if (inst[i]) sc->progs[i].def->destroy(inst[i]);
  free(inst);
  apic_sim_destroy(s);
  return rc;
}

/* ---- stimulus ---- */

static int add_action(ctx *c, apic_scenario *sc, size_t *cap, action a) {
  if (sc->nacts >= MAX_PIN_EVENTS)
    return bad(c, "more than %u stimulus events after expanding periodic sources",
               MAX_PIN_EVENTS);
  if (sc->nacts == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    action *v = realloc(sc->acts, nc * sizeof *v);
    if (!v) return bad(c, "out of memory");
    sc->acts = v;
    *cap = nc;
  }
  a.seq = sc->nacts;
  sc->acts[sc->nacts++] = a;
  return 0;
}

static int pin_of(ctx *c, const cJSON *o, const apic_config *cfg, uint32_t *io, uint32_t *pin) {
  uint64_t v = 0;
  const cJSON *f = FIELD(o, "ioapic");
  if (f) {
    size_t k = enter(c, "ioapic");
    if (!cfg->nioapics) return bad(c, "the machine has no I/O APIC");
    if (get_int(c, f, 0, cfg->nioapics - 1, &v)) return -1;
    leave(c, k);
  }
  *io = (uint32_t)v;
  if (*io >= cfg->nioapics) return bad(c, "the machine has no I/O APIC");
  f = FIELD(o, "pin");
  if (!f) return bad(c, "\"pin\" is required");
  size_t k = enter(c, "pin");
  if (get_int(c, f, 0, cfg->ioapic_pins[*io] - 1, &v)) return -1;
  leave(c, k);
  *pin = (uint32_t)v;
  return 0;
}

static int reg_of(ctx *c, const cJSON *f, uint32_t *off) {
  if (!cJSON_IsString(f)) return bad(c, "expected a register name such as \"TPR\", found %s",
                                     kind_of(f));
  for (uint32_t o = 0; o < APIC_REG_PAGE; o += APIC_REG_STRIDE) {
    const char *n = apic_lapic_reg_name(o);
    if (n && !strcmp(n, f->valuestring)) { *off = o; return 0; }
  }
  return bad(c, "no local APIC register called \"%s\" (names as in the SDM: TPR, SVR, "
             "LVT_TIMER, ISR0..ISR7...)", f->valuestring);
}

static int parse_rte(ctx *c, const cJSON *r, uint64_t *rte) {
  if (want_object(c, r) ||
      keys_ok(c, r, "ioapic|pin|vector|delivery|dest_mode|dest|trigger|polarity|masked"))
    return -1;
  uint64_t v = 0;
  int ch = 0, b = 0;
  *rte = 0;
  const cJSON *f = FIELD(r, "vector");
  if (!f) return bad(c, "\"vector\" is required");
  WITH(c, r, "vector", x, (get_int(c, x, 16, 255, &v) || ((*rte |= v), 0)));
  WITH(c, r, "delivery", x, (get_choice(c, x, "fixed|lowest|smi|nmi|init|extint", &ch) ||
      ((*rte |= (uint64_t)(ch < 3 ? ch : ch == 3 ? 4 : ch == 4 ? 5 : 7) << APIC_RTE_DM_SHIFT), 0)));
  WITH(c, r, "dest_mode", x, (get_choice(c, x, "physical|logical", &ch) ||
                              ((*rte |= ch ? APIC_RTE_DESTMODE : 0), 0)));
  WITH(c, r, "dest", x, (get_int(c, x, 0, 255, &v) || ((*rte |= v << APIC_RTE_DEST_SHIFT), 0)));
  WITH(c, r, "trigger", x, (get_choice(c, x, "edge|level", &ch) ||
                            ((*rte |= ch ? APIC_RTE_TRIGGER : 0), 0)));
  WITH(c, r, "polarity", x, (get_choice(c, x, "high|low", &ch) ||
                             ((*rte |= ch ? APIC_RTE_POLARITY : 0), 0)));
  WITH(c, r, "masked", x, (get_bool(c, x, &b) || ((*rte |= b ? APIC_RTE_MASKED : 0), 0)));
  return 0;
}

static int parse_stimulus(ctx *c, const cJSON *a, apic_scenario *sc) {
  if (!cJSON_IsArray(a)) return bad(c, "expected an array of stimulus entries, found %s",
                                    kind_of(a));
  int n = cJSON_GetArraySize(a);
  if ((uint32_t)n > MAX_STIMULUS) return bad(c, "%d entries; at most %u", n, MAX_STIMULUS);
  size_t cap = 0, i = 0;
  const apic_config *cfg = &sc->cfg;
  for (const cJSON *it = a->child; it; it = it->next, i++) {
    size_t m = enter_i(c, i);
    if (want_object(c, it) ||
        keys_ok(c, it, "at|every|count|ioapic|pin|level|pulse|rte|write|wrmsr"))
      return -1;
    uint64_t at = 0, every = 0, count = 1, v;
    WITH(c, it, "at", f, get_int(c, f, 0, MAX_CYCLES, &at));
    WITH(c, it, "every", f, get_int(c, f, 1, MAX_CYCLES, &every));
    WITH(c, it, "count", f, get_int(c, f, 1, MAX_PIN_EVENTS, &count));
    if (FIELD(it, "count") && !every) return bad(c, "\"count\" needs \"every\" (the period)");
    if (every && !FIELD(it, "count")) return bad(c, "\"every\" needs \"count\"");
    const cJSON *rte = FIELD(it, "rte"), *wr = FIELD(it, "write"), *msr = FIELD(it, "wrmsr");
    int has_pin = FIELD(it, "level") || FIELD(it, "pulse");
    if (!!rte + !!wr + !!msr + has_pin != 1)
      return bad(c, "each entry does one thing: \"level\", \"pulse\", \"rte\", \"write\" or "
                 "\"wrmsr\"");
    action act = {at, ACT_PIN, 0, 0, 0, 0, 0, 0, (uint32_t)i};
    if (has_pin) {
      if (pin_of(c, it, cfg, &act.ioapic, &act.pin)) return -1;
      uint64_t pulse = 0, level = 0;
      WITH(c, it, "level", f, get_int(c, f, 0, 1, &level));
      WITH(c, it, "pulse", f, get_int(c, f, 1, MAX_CYCLES, &pulse));
      if (FIELD(it, "level") && FIELD(it, "pulse"))
        return bad(c, "\"level\" sets the line, \"pulse\" raises it for some cycles: one only");
      if (pulse && every && pulse >= every)
        return bad(c, "a pulse of %llu cycles does not fit in a period of %llu",
                   (unsigned long long)pulse, (unsigned long long)every);
      uint64_t changes = count * (pulse ? 2u : 1u);  /* checked before any is made */
      if (changes > MAX_PIN_EVENTS - sc->nacts)
        return bad(c, "more than %u pin changes in all (periodic sources expanded)",
                   MAX_PIN_EVENTS);
      if ((count - 1) > (MAX_CYCLES - at) / (every ? every : 1) ||
          at + (count - 1) * every > MAX_CYCLES - pulse)
        return bad(c, "the last change would come after cycle %llu", (unsigned long long)MAX_CYCLES);
      for (uint64_t k = 0; k < count; k++) {
        act.at = at + k * every;
        act.value = pulse ? 1 : level;
        if (add_action(c, sc, &cap, act)) return -1;
        if (pulse) {
          action lo = act;
          lo.at = act.at + pulse;
          lo.value = 0;
          if (add_action(c, sc, &cap, lo)) return -1;
        }
      }
    } else if (rte) {
      size_t k = enter(c, "rte");
      act.kind = ACT_RTE;
      if (pin_of(c, rte, cfg, &act.ioapic, &act.pin) || parse_rte(c, rte, &act.value)) return -1;
      leave(c, k);
      if (add_action(c, sc, &cap, act)) return -1;
    } else {
      const cJSON *o = wr ? wr : msr;
      size_t k = enter(c, wr ? "write" : "wrmsr");
      if (want_object(c, o) || keys_ok(c, o, wr ? "cpu|reg|value" : "cpu|msr|value")) return -1;
      act.kind = wr ? ACT_WRITE : ACT_WRMSR;
      const cJSON *f = FIELD(o, "cpu");
      if (!f) return bad(c, "\"cpu\" is required");
      WITH(c, o, "cpu", x, (get_int(c, x, 0, cfg->ncpus - 1, &v) || ((act.cpu = (uint32_t)v), 0)));
      if (wr) {
        if (!FIELD(o, "reg")) return bad(c, "\"reg\" is required");
        WITH(c, o, "reg", x, reg_of(c, x, &act.reg));
      } else {
        if (!FIELD(o, "msr")) return bad(c, "\"msr\" is required");
        WITH(c, o, "msr", x, (get_int(c, x, 0, 0xFFFFFFFFu, &v) || ((act.reg = (uint32_t)v), 0)));
      }
      if (!FIELD(o, "value")) return bad(c, "\"value\" is required");
      WITH(c, o, "value", x, get_int(c, x, 0, wr ? 0xFFFFFFFFu : UINT64_MAX >> 1, &act.value));
      leave(c, k);
      if (add_action(c, sc, &cap, act)) return -1;
      if (every) return bad(c, "\"every\" applies to pin levels and pulses only");
    }
    leave(c, m);
  }
  return 0;
}

/* ---- run and expect ---- */

static int parse_run(ctx *c, const cJSON *r, apic_scenario *sc) {
  if (want_object(c, r) || keys_ok(c, r, "cycles|until|seed")) return -1;
  int until = 0;
  WITH(c, r, "cycles", f, get_int(c, f, 1, MAX_CYCLES, &sc->cycles));
  WITH(c, r, "until", f, get_choice(c, f, "cycles|done", &until));
  WITH(c, r, "seed", f, get_int(c, f, 0, UINT64_MAX >> 1, &sc->cfg.seed));
  sc->until_done = until == 1;
  if (sc->until_done && !sc->nprogs) {  /* every one of none is done before cycle 0 */
    enter(c, "until");
    return bad(c, "\"done\" stops the run once every program has finished; with no "
               "programs it would stop at cycle 0, before any stimulus (use \"cycles\")");
  }
  return 0;
}

/* Each expectation keeps its core list ("all" is every core) and is checked
   core by core, so the lists are bounded in all, not only in number: 220 KiB
   of {"cpu": "all"} on 65536 cores would otherwise take 2.5 GiB of lists and
   minutes of checking. */
static int count_listed(ctx *c, uint64_t *listed, uint32_t n) {
  *listed += n;
  if (*listed > MAX_EXPECT_CPUS)
    return bad(c, "the expectations list more than %u cores in all (\"all\" counts every "
               "core)", MAX_EXPECT_CPUS);
  return 0;
}

static int parse_expect_list(ctx *c, const cJSON *a, apic_scenario *sc, int kind,
                             const char *keys, size_t *cap, uint64_t *listed) {
  if (!cJSON_IsArray(a)) return bad(c, "expected an array, found %s", kind_of(a));
  size_t i = 0;
  for (const cJSON *it = a->child; it; it = it->next, i++) {
    if (sc->nex >= MAX_EXPECT) return bad(c, "more than %u expectations", MAX_EXPECT);
    if (sc->nex == *cap) {
      size_t nc = *cap ? *cap * 2 : 16;
      expect *v = realloc(sc->ex, nc * sizeof *v);
      if (!v) return bad(c, "out of memory");
      sc->ex = v;
      *cap = nc;
    }
    expect *e = &sc->ex[sc->nex];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->vector = -1;
    e->mask = 0xFFFFFFFFu;
    size_t m = enter_i(c, i);
    path_copy(e->path, sizeof e->path, c->path);
    sc->nex++;
    if (want_object(c, it) || keys_ok(c, it, keys)) return -1;
    uint64_t v;
    WITH(c, it, "cpu", f, (get_cpus(c, f, sc->cfg.ncpus, &e->cpus, &e->ncpus) ||
                           count_listed(c, listed, e->ncpus)));
    WITH(c, it, "vector", f, (get_int(c, f, 0, 255, &v) || ((e->vector = (int)v), 0)));
    WITH(c, it, "count", f, (get_int(c, f, 0, UINT64_MAX >> 1, &e->count) || ((e->has_count = 1), 0)));
    WITH(c, it, "min", f, (get_int(c, f, 0, UINT64_MAX >> 1, &e->min) || ((e->has_min = 1), 0)));
    WITH(c, it, "max", f, (get_int(c, f, 0, UINT64_MAX >> 1, &e->max) || ((e->has_max = 1), 0)));
    WITH(c, it, "reg", f, reg_of(c, f, &e->reg));
    WITH(c, it, "value", f, get_int(c, f, 0, 0xFFFFFFFFu, &e->value));
    WITH(c, it, "mask", f, get_int(c, f, 0, 0xFFFFFFFFu, &e->mask));
    WITH(c, it, "stage", f, get_choice(c, f, "irr|handler", &e->stage));
    WITH(c, it, "p99", f, (get_int(c, f, 0, UINT64_MAX >> 1, &e->lp99) || ((e->has_lp99 = 1), 0)));
    WITH(c, it, "median", f, (get_int(c, f, 0, UINT64_MAX >> 1, &e->lmedian) || ((e->has_lmedian = 1), 0)));
    if (kind == EX_LATENCY && e->has_max) { e->lmax = e->max; e->has_lmax = 1; e->has_max = 0; }
    const cJSON *f1 = FIELD(it, "first"), *f2 = FIELD(it, "then");
    if (kind == EX_ORDER) {
      if (!cJSON_IsString(f1) || !cJSON_IsString(f2) || !f1->valuestring[0] ||
          !f2->valuestring[0] || strlen(f1->valuestring) >= sizeof e->first ||
          strlen(f2->valuestring) >= sizeof e->then)
        return bad(c, "expected \"first\" and \"then\": marker names (1..63 characters)");
      snprintf(e->first, sizeof e->first, "%s", f1->valuestring);
      snprintf(e->then, sizeof e->then, "%s", f2->valuestring);
    }
    if (kind == EX_HANDLERS && !e->has_count && !e->has_min && !e->has_max)
      return bad(c, "give \"count\", or \"min\" and/or \"max\"");
    if (kind == EX_HANDLERS && !e->ncpus) return bad(c, "\"cpu\" is required");
    if (kind == EX_REGISTER && (!e->ncpus || !FIELD(it, "reg") || !FIELD(it, "value")))
      return bad(c, "\"cpu\", \"reg\" and \"value\" are required");
    if (kind == EX_LATENCY && !e->has_lmax && !e->has_lp99 && !e->has_lmedian)
      return bad(c, "give at least one bound: \"max\", \"p99\" or \"median\" (cycles)");
    if (e->has_min && e->has_max && e->min > e->max)
      return bad(c, "\"min\" %llu is above \"max\" %llu", (unsigned long long)e->min,
                 (unsigned long long)e->max);
    leave(c, m);
  }
  return 0;
}

static int add_simple(ctx *c, apic_scenario *sc, size_t *cap, int kind, const char *path) {
  if (sc->nex == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    expect *v = realloc(sc->ex, nc * sizeof *v);
    if (!v) return bad(c, "out of memory");
    sc->ex = v;
    *cap = nc;
  }
  expect *e = &sc->ex[sc->nex++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->vector = -1;
  snprintf(e->path, sizeof e->path, "%s", path);
  return 0;
}

static int parse_expect(ctx *c, const cJSON *x, apic_scenario *sc) {
  if (want_object(c, x) ||
      keys_ok(c, x, "programs|handlers|registers|order|latency|no_esr_errors|"
                    "no_lost_interrupts|coalesced|deliveries"))
    return -1;
  size_t cap = 0;
  uint64_t listed = 0;
  int b = 1;
  WITH(c, x, "programs", f, get_bool(c, f, &b));
  if (b && add_simple(c, sc, &cap, EX_PROGRAMS, "expect.programs")) return -1;
  WITH(c, x, "handlers", f, parse_expect_list(c, f, sc, EX_HANDLERS,
                                              "cpu|vector|count|min|max", &cap, &listed));
  WITH(c, x, "registers", f, parse_expect_list(c, f, sc, EX_REGISTER, "cpu|reg|value|mask",
                                               &cap, &listed));
  WITH(c, x, "order", f, parse_expect_list(c, f, sc, EX_ORDER, "first|then", &cap, &listed));
  WITH(c, x, "latency", f, parse_expect_list(c, f, sc, EX_LATENCY,
                                             "stage|cpu|vector|max|p99|median", &cap,
                                             &listed));
  b = 0;
  WITH(c, x, "no_esr_errors", f, get_bool(c, f, &b));
  if (b && add_simple(c, sc, &cap, EX_NO_ESR, "expect.no_esr_errors")) return -1;
  b = 0;
  WITH(c, x, "no_lost_interrupts", f, get_bool(c, f, &b));
  if (b && add_simple(c, sc, &cap, EX_NO_LOST, "expect.no_lost_interrupts")) return -1;
  for (int k = 0; k < 2; k++) {
    const char *key = k ? "deliveries" : "coalesced";
    const cJSON *f = FIELD(x, key);
    if (!f) continue;
    size_t m = enter(c, key);
    if (want_object(c, f) || keys_ok(c, f, "min|max")) return -1;
    if (add_simple(c, sc, &cap, k ? EX_DELIVERIES : EX_COALESCED, c->path)) return -1;
    expect *e = &sc->ex[sc->nex - 1];
    WITH(c, f, "min", g, (get_int(c, g, 0, UINT64_MAX >> 1, &e->min) || ((e->has_min = 1), 0)));
    WITH(c, f, "max", g, (get_int(c, g, 0, UINT64_MAX >> 1, &e->max) || ((e->has_max = 1), 0)));
    if (!e->has_min && !e->has_max) return bad(c, "give \"min\" and/or \"max\"");
    leave(c, m);
  }
  return 0;
}

/* ---- top level ---- */

static void line_col(const char *text, size_t len, size_t pos, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < pos && i < len; i++) {
    if (text[i] == '\n') { (*line)++; *col = 1; } else (*col)++;
  }
}

void apic_scenario_free(apic_scenario *sc) {
  if (!sc) return;
  for (uint32_t i = 0; i < sc->nprogs; i++) {
    free(sc->progs[i].cpus);
    apic_args_free(&sc->progs[i].args);
  }
  free(sc->progs);
  for (uint32_t i = 0; i < sc->nex; i++) free(sc->ex[i].cpus);
  free(sc->ex);
  free(sc->acts);
  free(sc->apic_ids);
  free(sc->logical_ids);
  free(sc);
}

static int by_time(const void *a, const void *b) {
  const action *x = a, *y = b;
  if (x->at != y->at) return x->at < y->at ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;  /* file order at equal times */
}

int apic_scenario_parse(apic_scenario **out, const char *json, size_t len, const char *source,
                        char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !json) {
    if (why_size) snprintf(why, why_size, "out and json must not be NULL");
    return APIC_E_ARG;
  }
  *out = NULL;
  char scratch[8];
  ctx c = {"", why_size ? why : scratch, why_size ? why_size : sizeof scratch,
           source ? source : "scenario", 0};
  if (len > MAX_FILE) {
    bad(&c, "%zu bytes: a scenario is at most %u bytes", len, MAX_FILE);
    return APIC_E_ARG;
  }
  for (size_t i = 0; i < len; i++) {  /* JSON allows no raw control bytes (RFC 8259) */
    unsigned char ch = (unsigned char)json[i];
    if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
      int line, col;
      line_col(json, len, i, &line, &col);
      bad(&c, "invalid JSON at line %d, column %d: control byte 0x%02x", line, col, ch);
      return APIC_E_ARG;
    }
  }
  size_t last = len;  /* the last byte that is not white space */
  while (last > 0 && strchr(" \t\r\n", json[last - 1])) last--;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  size_t pos = end && end >= json ? (size_t)(end - json) : len;
  if (root && pos < last) {  /* a whole value, then more text */
    cJSON_Delete(root);
    root = NULL;
  }
  if (!root) {
    int line, col;
    line_col(json, len, pos, &line, &col);
    bad(&c, "invalid JSON at line %d, column %d%s", line, col,
        !last ? " (the text is empty)" : pos + 1 >= last && end ? " (the text ends too early)"
        : "");
    return APIC_E_ARG;
  }
  apic_scenario *sc = calloc(1, sizeof *sc);
  uint8_t *claimed = NULL;
  int rc = -1;
  if (!sc) { bad(&c, "out of memory"); goto done; }
  snprintf(sc->source, sizeof sc->source, "%s", c.source);
  sc->cycles = 10000000;
  if (want_object(&c, root) ||
      keys_ok(&c, root, "name|description|machine|programs|stimulus|run|expect"))
    goto done;
  const cJSON *f = FIELD(root, "name");
  if (f) {
    if (!cJSON_IsString(f) || strlen(f->valuestring) >= sizeof sc->name) {
      enter(&c, "name");
      bad(&c, "expected a name (a string under 128 characters)");
      goto done;
    }
    snprintf(sc->name, sizeof sc->name, "%s", f->valuestring);
  }
  f = FIELD(root, "description");
  if (f && !cJSON_IsString(f)) { enter(&c, "description"); bad(&c, "expected a string"); goto done; }
  f = FIELD(root, "machine");
  if (!f) { bad(&c, "\"machine\" is required"); goto done; }
  enter(&c, "machine");
  if (parse_machine(&c, f, sc)) goto done;
  leave(&c, 0);
  /* The library checks the whole configuration; say it at "machine". */
  {
    apic_sim *probe = NULL;
    char w2[256];
    apic_config pc = sc->cfg;
    int prc = apic_sim_create(&probe, &pc, w2, sizeof w2);
    apic_sim_destroy(probe);
    if (prc) { enter(&c, "machine"); bad(&c, "%s", w2); goto done; }
  }
  claimed = calloc(sc->cfg.ncpus, 1);
  if (!claimed) { bad(&c, "out of memory"); goto done; }
  f = FIELD(root, "programs");
  if (f) {
    enter(&c, "programs");
    if (parse_programs(&c, f, sc, claimed)) goto done;
    leave(&c, 0);
    if (try_install(&c, sc)) goto done;
  }
  f = FIELD(root, "stimulus");
  if (f) {
    enter(&c, "stimulus");
    if (parse_stimulus(&c, f, sc)) goto done;
    leave(&c, 0);
    if (sc->nacts) qsort(sc->acts, sc->nacts, sizeof *sc->acts, by_time);
  }
  f = FIELD(root, "run");
  if (f) {
    enter(&c, "run");
    if (parse_run(&c, f, sc)) goto done;
    leave(&c, 0);
  }
  f = FIELD(root, "expect");
  if (f) {
    enter(&c, "expect");
    if (parse_expect(&c, f, sc)) goto done;
    leave(&c, 0);
  } else {
    size_t cap = 0;
    if (add_simple(&c, sc, &cap, EX_PROGRAMS, "expect.programs")) goto done;
  }
  rc = 0;
done:
  free(claimed);
  cJSON_Delete(root);
  if (rc) {
    apic_scenario_free(sc);
    return APIC_E_ARG;
  }
  *out = sc;
  return APIC_OK;
}

int apic_scenario_load(apic_scenario **out, const char *path, char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !path) return APIC_E_ARG;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (why_size) snprintf(why, why_size, "%s: cannot open: %s", path, strerror(errno));
    return APIC_E_IO;
  }
  char *buf = malloc(MAX_FILE + 1);
  size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (!buf || err) {
    free(buf);
    if (why_size) snprintf(why, why_size, "%s: %s", path, buf ? strerror(err) : "out of memory");
    return buf ? APIC_E_IO : APIC_E_NOMEM;
  }
  int rc = apic_scenario_parse(out, buf, n, path, why, why_size);
  free(buf);
  return rc;
}

const char *apic_scenario_name(const apic_scenario *sc) { return sc ? sc->name : ""; }
const apic_config *apic_scenario_config(const apic_scenario *sc) { return sc ? &sc->cfg : NULL; }
