/*
 * export_vcd.c - a trace as a Value Change Dump (IEEE 1364 section 18) for
 * waveform viewers such as GTKWave.
 *
 * Signals, one scope per core and one per I/O APIC:
 *
 *   cpuN.ppr[7:0]      processor priority (SDM 10.8.3.1)
 *   cpuN.tpr[7:0]      task priority
 *   cpuN.irr_max[7:0]  highest vector set in IRR, 0 if none
 *   cpuN.isr_max[7:0]  highest vector set in ISR, 0 if none
 *   cpuN.handler[8:0]  vector of the innermost running handler, 0 if none
 *                      (2 = NMI, 256 = SMI, hence 9 bits; nested deeper
 *                      than APIC_CORE_MAX_NEST, the deepest one reported)
 *   cpuN.halted        the core is in HLT
 *   ioapicI.pinP       raw level of the pin
 *
 * Time: the unit is the largest of 1 ns, 100 ps, 10 ps, 1 ps in which one
 * core cycle is a whole number (so times are exact: 1 ns at 1 GHz, 500 ps
 * at 2 GHz); if none is, 1 ps and cycles are rounded to it (distinct cycles
 * stay distinct, since a cycle lasts at least 1 ps below 1000 GHz).
 *
 * The values come from the reader's state after each record, for the
 * record's core (or pin) only, so the cost is O(records). Changes are
 * gathered per time step and written when time moves on: each "#t" line is
 * strictly greater than the one before and lists only values that differ
 * from what was last written.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"

enum { V_PPR, V_TPR, V_IRR_MAX, V_ISR_MAX, V_HANDLER, V_HALTED, V_PER_CORE };

static const struct { const char *name; uint32_t width; } core_vars[V_PER_CORE] = {
  [V_PPR] = {"ppr", 8}, [V_TPR] = {"tpr", 8}, [V_IRR_MAX] = {"irr_max", 8},
  [V_ISR_MAX] = {"isr_max", 8}, [V_HANDLER] = {"handler", 9}, [V_HALTED] = {"halted", 1},
};

/* Identifier codes: printable ASCII '!'..'~' without '$', so that no code
   looks like a keyword to a reader that splits on whitespace. */
#define ID_FIRST '!'
#define ID_SKIP  '$'
#define ID_BASE  93u

static const struct { uint32_t ps; const char *text; } units[] = {
  {1000, "1 ns"}, {100, "100 ps"}, {10, "10 ps"}, {1, "1 ps"},
};

typedef struct vvar {
  uint32_t val, dumped;
  uint8_t dirty;
} vvar;

typedef struct vcd {
  FILE *f;
  apic_trace *t;
  const apic_config *cfg;
  vvar *v;
  uint32_t nvars;
  uint32_t pin_base[APIC_MAX_IOAPICS];  /* index of each I/O APIC's pin 0 */
  uint32_t *dirty;                      /* indices changed in this step */
  uint32_t ndirty;
  double period;                        /* one cycle in time units (inexact mode) */
  uint64_t mult;                        /* one cycle in time units, or 0 if inexact */
  uint64_t printed;                     /* last "#t" written */
} vcd;

static void id(char *out, uint32_t i) {
  size_t n = 0;
  do {
    char ch = (char)(ID_FIRST + i % ID_BASE);
    out[n++] = ch >= ID_SKIP ? (char)(ch + 1) : ch;
    i /= ID_BASE;
  } while (i);
  out[n] = 0;
}

static void timescale(vcd *d, const char **text) {
  double ps = APIC__PS_PER_NS / d->cfg->freq_ghz;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    double q = ps / units[i].ps;
    uint64_t r = (uint64_t)(q + 0.5);
    double diff = q - (double)r;
    if (r >= 1 && (diff < 0 ? -diff : diff) <= 1e-9 * q) {
      d->mult = r;
      *text = units[i].text;
      return;
    }
  }
  d->mult = 0;
  d->period = ps;
  *text = "1 ps";
}

static uint64_t vtime(const vcd *d, uint64_t cycle) {
  if (d->mult) return cycle > UINT64_MAX / d->mult ? UINT64_MAX : cycle * d->mult;
  double t = (double)cycle * d->period + 0.5;
  return t >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)t;
}

static void value(FILE *f, uint32_t width, uint32_t val, uint32_t i) {
  char code[8];
  id(code, i);
  if (width == 1) {
    fprintf(f, "%c%s\n", val ? '1' : '0', code);
    return;
  }
  char bits[33];
  int n = 0;
  for (int b = (int)width - 1; b >= 0; b--)
    if (n || (val >> b) & 1 || b == 0) bits[n++] = (char)('0' + ((val >> b) & 1));
  bits[n] = 0;
  fprintf(f, "b%s %s\n", bits, code);
}

static uint32_t width_of(const vcd *d, uint32_t i) {
  return i < d->cfg->ncpus * V_PER_CORE ? core_vars[i % V_PER_CORE].width : 1;
}

static void set(vcd *d, uint32_t i, uint32_t val) {
  vvar *v = &d->v[i];
  if (v->val == val) return;
  v->val = val;
  if (!v->dirty) {
    v->dirty = 1;
    d->dirty[d->ndirty++] = i;
  }
}

/* Writes the changes gathered at time t. */
static void flush(vcd *d, uint64_t t) {
  int stamped = t == d->printed;
  for (uint32_t k = 0; k < d->ndirty; k++) {
    vvar *v = &d->v[d->dirty[k]];
    v->dirty = 0;
    if (v->val == v->dumped) continue;
    if (!stamped) {
      fprintf(d->f, "#%" PRIu64 "\n", t);
      d->printed = t;
      stamped = 1;
    }
    value(d->f, width_of(d, d->dirty[k]), v->val, d->dirty[k]);
    v->dumped = v->val;
  }
  d->ndirty = 0;
}

static uint32_t highest(const uint32_t r[8]) {
  for (int w = 7; w >= 0; w--) {
    uint32_t x = r[w], b = 0;
    if (!x) continue;
    for (uint32_t step = 16; step; step >>= 1)  /* binary search for the top bit */
      if (x >> step) {
        x >>= step;
        b += step;
      }
    return (uint32_t)w * 32 + b;
  }
  return 0;
}

static void sample_core(vcd *d, uint32_t cpu) {
  apic_lapic_state l;
  apic_core_state c;
  if (apic_trace_lapic_state(d->t, cpu, &l) || apic_trace_core_state(d->t, cpu, &c)) return;
  uint32_t base = cpu * V_PER_CORE;
  uint32_t shown = c.nest < APIC_CORE_MAX_NEST ? c.nest : APIC_CORE_MAX_NEST;
  set(d, base + V_PPR, l.ppr & 0xFFu);
  set(d, base + V_TPR, l.tpr & 0xFFu);
  set(d, base + V_IRR_MAX, highest(l.irr));
  set(d, base + V_ISR_MAX, highest(l.isr));
  set(d, base + V_HANDLER, shown ? c.vectors[shown - 1] : 0);
  set(d, base + V_HALTED, c.run == APIC_CORE_HALTED);
}

static void sample_pin(vcd *d, uint32_t io, uint32_t pin) {
  int level = 0;
  if (apic_trace_ioapic_pin(d->t, io, pin, NULL, &level)) return;
  set(d, d->pin_base[io] + pin, level != 0);
}

static void header(vcd *d, const char *unit) {
  FILE *f = d->f;
  const apic_trace_info *info = apic_trace_info_get(d->t);
  char clock[96], code[8];
  apic__xcycle_text(d->cfg, clock, sizeof clock);
  fprintf(f, "$version apicsim %s $end\n", APICSIM_VERSION);
  fprintf(f, "$comment %s%s%s $end\n", info->name, info->name[0] ? "; " : "", clock);
  fprintf(f, "$timescale %s $end\n", unit);
  fputs("$scope module apicsim $end\n", f);
  for (uint32_t cpu = 0; cpu < d->cfg->ncpus; cpu++) {
    fprintf(f, "$scope module cpu%u $end\n", cpu);
    for (uint32_t k = 0; k < V_PER_CORE; k++) {
      id(code, cpu * V_PER_CORE + k);
      if (core_vars[k].width == 1)
        fprintf(f, "$var wire 1 %s %s $end\n", code, core_vars[k].name);
      else
        fprintf(f, "$var wire %u %s %s [%u:0] $end\n", core_vars[k].width, code,
                core_vars[k].name, core_vars[k].width - 1);
    }
    fputs("$upscope $end\n", f);
  }
  for (uint32_t io = 0; io < d->cfg->nioapics; io++) {
    fprintf(f, "$scope module ioapic%u $end\n", io);
    for (uint32_t p = 0; p < d->cfg->ioapic_pins[io]; p++) {
      id(code, d->pin_base[io] + p);
      fprintf(f, "$var wire 1 %s pin%u $end\n", code, p);
    }
    fputs("$upscope $end\n", f);
  }
  fputs("$upscope $end\n$enddefinitions $end\n", f);
}

/* The state of the first snapshot, as $dumpvars at its time. */
static void dumpvars(vcd *d, uint64_t t) {
  for (uint32_t cpu = 0; cpu < d->cfg->ncpus; cpu++) sample_core(d, cpu);
  for (uint32_t io = 0; io < d->cfg->nioapics; io++)
    for (uint32_t p = 0; p < d->cfg->ioapic_pins[io]; p++) sample_pin(d, io, p);
  fprintf(d->f, "#%" PRIu64 "\n$dumpvars\n", t);
  for (uint32_t i = 0; i < d->nvars; i++) {
    value(d->f, width_of(d, i), d->v[i].val, i);
    d->v[i].dumped = d->v[i].val;
    d->v[i].dirty = 0;
  }
  d->ndirty = 0;
  d->printed = t;
  fputs("$end\n", d->f);
}

static int run(vcd *d, char *why, size_t why_size) {
  const char *unit;
  timescale(d, &unit);
  int rc = apic_trace_rewind(d->t);
  if (rc) goto bad;
  header(d, unit);
  uint64_t now = vtime(d, apic_trace_info_get(d->t)->first_cycle);
  dumpvars(d, now);
  apic_event ev;
  while ((rc = apic_trace_next(d->t, &ev)) == APIC_OK) {
    uint64_t t = vtime(d, ev.cycle);
    if (t > now) {
      flush(d, now);
      now = t;
    }
    if (ev.flags & APIC_EVF_IOAPIC) {
      if (ev.kind == APIC_EV_PIN && ev.src < d->cfg->nioapics &&
          ev.a < d->cfg->ioapic_pins[ev.src])
        sample_pin(d, ev.src, ev.a);
    } else if (ev.cpu < d->cfg->ncpus) {
      sample_core(d, ev.cpu);
    }
    if (ferror(d->f)) return APIC_E_IO;
  }
  if (rc != APIC_E_END) goto bad;
  flush(d, now);
  return ferror(d->f) ? APIC_E_IO : APIC_OK;
bad:
  if (why && why_size) snprintf(why, why_size, "reading the trace: %s", apic_trace_errmsg(d->t));
  return rc;
}

int apic__export_vcd(apic_trace *t, FILE *f, char *why, size_t why_size) {
  vcd d;
  memset(&d, 0, sizeof d);
  d.f = f;
  d.t = t;
  d.cfg = &apic_trace_info_get(t)->config;
  uint32_t n = d.cfg->ncpus * V_PER_CORE;
  for (uint32_t io = 0; io < d.cfg->nioapics; io++) {
    d.pin_base[io] = n;
    n += d.cfg->ioapic_pins[io];
  }
  d.nvars = n;
  d.v = calloc(n, sizeof *d.v);
  d.dirty = malloc(n * sizeof *d.dirty);
  int rc;
  if (!d.v || !d.dirty) {
    if (why && why_size) snprintf(why, why_size, "out of memory for %u signals", n);
    rc = APIC_E_NOMEM;
  } else {
    rc = run(&d, why, why_size);
  }
  free(d.v);
  free(d.dirty);
  return rc;
}
