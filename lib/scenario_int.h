/*
 * scenario_int.h - a parsed scenario (private): what scenario.c builds from
 * the JSON and scenario_run.c runs.
 */
#ifndef APICSIM_SCENARIO_INT_H
#define APICSIM_SCENARIO_INT_H

#include "apicsim/programs.h"
#include "apicsim/scenario.h"

/* ---- the parsed description ---- */

typedef struct prog_entry {
  const apic_prog_def *def;
  uint32_t *cpus, ncpus;
  apic_args args;
  char path[64];
} prog_entry;

enum { ACT_PIN, ACT_RTE, ACT_WRITE, ACT_WRMSR };

typedef struct action {
  uint64_t at;
  int kind;
  uint32_t ioapic, pin, cpu, reg;
  uint64_t value;        /* level, RTE, register or MSR value */
  size_t seq;            /* file order, for a stable sort by time */
  uint32_t entry;        /* index in "stimulus", to name it in notes */
} action;

enum { EX_HANDLERS, EX_REGISTER, EX_ORDER, EX_LATENCY, EX_NO_ESR, EX_NO_LOST, EX_COALESCED,
       EX_DELIVERIES, EX_PROGRAMS };

typedef struct expect {
  int kind;
  char path[48];
  uint32_t *cpus, ncpus;   /* handlers, register */
  int vector;              /* -1 any */
  uint64_t count, min, max;
  int has_count, has_min, has_max;
  uint32_t reg;
  uint64_t value, mask;
  char first[64], then[64];  /* order: marker names */
  int stage;                 /* latency */
  uint64_t lmax, lp99, lmedian;
  int has_lmax, has_lp99, has_lmedian;
} expect;

struct apic_scenario {
  char name[128];
  char source[256];
  apic_config cfg;
  uint32_t *apic_ids;
  uint32_t *logical_ids;   /* xAPIC LDR logical IDs (bits 31:24), NULL = firmware leaves 0 */
  int dfr_cluster;         /* DFR model for those: 0 flat, 1 cluster */
  prog_entry *progs;
  uint32_t nprogs;
  action *acts;
  size_t nacts;
  uint64_t cycles;
  int until_done;
  expect *ex;
  uint32_t nex;
};

#endif
