/*
 * export.h - what the three exporters share (private).
 *
 * Perfetto and Chrome JSON show the same timeline, so one model
 * (apic__xmodel_run in export.c) reads the trace and turns it into abstract
 * timeline operations: declare a track, begin or end a slice, an instant, a
 * counter value, with flow ids going out of or into an event. A "sink" (a
 * table of callbacks, one per format) serialises them. VCD samples register
 * values instead of drawing a timeline and reads the trace on its own.
 *
 * Every sink callback returns APIC_OK or a negative APIC_E_*; write errors
 * on the FILE are found once, when the file is closed (apic__xfile_close).
 */
#ifndef APICSIM_EXPORT_PRIV_H
#define APICSIM_EXPORT_PRIV_H

#include <stdio.h>
#include "apicsim/export.h"

/* ---- output file: every failure names the path ---- */

typedef struct apic__xfile {
  FILE *f;
  const char *path;
} apic__xfile;

/* trace_read.c: 1 if path names the file t reads. */
int apic__trace_is_file(const apic_trace *t, const char *path);
int apic__xfile_open(apic__xfile *o, const char *path, char *why, size_t why_size);
/* Flushes and closes; APIC_E_IO (reason in why) if any write failed. */
int apic__xfile_close(apic__xfile *o, char *why, size_t why_size);

#define APIC__PS_PER_NS 1000u

/* Picoseconds of a cycle at the trace's frequency (rounded): the model's
   time, fine enough that cycles of a core above 1 GHz stay apart. */
uint64_t apic__xps(const apic_config *cfg, uint64_t cycle);
/* "1 cycle = 0.5 ns" for the trace's frequency. */
void apic__xcycle_text(const apic_config *cfg, char *out, size_t size);
/* Name of an APIC_DM_* delivery mode ("fixed", "nmi"...). */
const char *apic__xmode_name(uint32_t mode);

/* ---- timeline model ---- */

enum {
  APIC__XT_PROCESS = 0,  /* the one process, "apicsim" */
  APIC__XT_THREAD,       /* a core: synchronous slices (handlers, hlt) */
  APIC__XT_COUNTER,      /* a value over time, child of a core */
  APIC__XT_PLAIN         /* bus lanes and I/O APIC pins */
};

#define APIC__XPID 1u    /* pid of the process in both formats */

typedef struct apic__xtrack {
  uint64_t uuid;         /* unique in the export, never 0 */
  uint64_t parent;       /* uuid of the parent track, 0 = none */
  uint32_t kind;         /* APIC__XT_* */
  uint32_t tid;          /* thread id: cores, bus lanes and pins have one */
  char name[64];
  const char *info;      /* process only: scenario and clock, may be NULL */
} apic__xtrack;

/* A key/value argument: str if not NULL, else num. */
typedef struct apic__xarg {
  const char *key;
  const char *str;
  int64_t num;
} apic__xarg;

typedef struct apic__xevent {
  uint64_t ps;
  const apic__xtrack *track;
  const char *name, *cat;
  const apic__xarg *args;
  size_t nargs;
  const uint64_t *flow_out;  /* flows that start here */
  size_t nout;
  const uint64_t *flow_in;   /* flows that end here */
  size_t nin;
} apic__xevent;

typedef struct apic__xsink {
  void *ud;
  int (*track)(void *ud, const apic__xtrack *t);
  int (*begin)(void *ud, const apic__xevent *e);
  int (*end)(void *ud, const apic__xtrack *t, uint64_t ps);
  int (*instant)(void *ud, const apic__xevent *e);
  int (*counter)(void *ud, const apic__xtrack *t, uint64_t ps, int64_t value);
} apic__xsink;

/*
 * Reads the whole trace twice (the first pass links every message to the
 * ICR write or pin edge it came from and to the handlers it reached, so
 * that the flow ids are known when their source is written) and feeds the
 * second pass to the sink. Leaves the reader at the end.
 */
int apic__xmodel_run(apic_trace *t, const apic__xsink *sink, char *why, size_t why_size);

/* ---- the formats ---- */

int apic__export_perfetto(apic_trace *t, FILE *f, char *why, size_t why_size);
int apic__export_json(apic_trace *t, FILE *f, char *why, size_t why_size);
int apic__export_vcd(apic_trace *t, FILE *f, char *why, size_t why_size);

#endif
