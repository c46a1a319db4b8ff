/*
 * apicsim/scenario.h - whole machines described in JSON, run, and checked.
 *
 * A scenario names a machine (cores, APIC mode, interconnect and timings,
 * I/O APICs), what each core runs (built-in programs with arguments,
 * apicsim/programs.h), device stimulus over time, how long to run, and what
 * must hold afterwards (handler counts, register values, orderings of guest
 * markers, latency bounds, no ESR errors, no lost interrupts, and each
 * program's own correctness check). The schema is documented, field by
 * field, in examples/README.md.
 *
 * Parse errors name the JSON path ("programs[3].args.vector") and say what
 * was expected and what was found; unknown fields are errors; sizes are
 * checked before anything is allocated.
 */
#ifndef APICSIM_SCENARIO_H
#define APICSIM_SCENARIO_H

#include "apicsim.h"
#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apic_scenario apic_scenario;

/* Parses JSON text; `source` names it in messages (a file name). */
APIC_API int apic_scenario_parse(apic_scenario **out, const char *json, size_t len,
                                 const char *source, char *why, size_t why_size);
/* Reads and parses a file (at most 16 MiB). */
APIC_API int apic_scenario_load(apic_scenario **out, const char *path, char *why,
                                size_t why_size);
APIC_API void apic_scenario_free(apic_scenario *sc);
APIC_API const char *apic_scenario_name(const apic_scenario *sc);
APIC_API const apic_config *apic_scenario_config(const apic_scenario *sc);

typedef struct apic_scenario_opts {
  const char *trace_path;      /* write a trace there; NULL for none */
  int seed_set;                /* override the scenario's seed */
  uint64_t seed;
  int cycles_set;              /* override the scenario's cycle limit: cycles is
                                  1..APIC_CYCLE_MAX */
  uint64_t cycles;
  /* called between slices of the run (about every million cycles, or after
     an idle stretch the run skipped at once) */
  void (*progress)(void *ud, uint64_t now, uint64_t end);
  void *progress_ud;
} apic_scenario_opts;

typedef struct apic_expect_result {
  char what[192];      /* the expectation, e.g. "handlers[0]: cpu 1 vector 0xfb" */
  char expected[192];
  char got[192];
  int pass;
} apic_expect_result;

/* A stimulus entry the core did not take: a WRMSR that raised #GP, or an
   MMIO write the APIC does not decode (x2APIC mode, SDM 10.12.2, or globally
   disabled). The run goes on, as it would for the guest's own access. */
typedef struct apic_stimulus_note {
  uint64_t at;         /* cycle it was applied */
  uint32_t entry;      /* index in the scenario's "stimulus" array */
  uint32_t cpu;
  int gp;              /* 1: #GP (a gp_fault event with b=1 is in the trace); 0: ignored */
  char text[192];      /* "stimulus[3] at cycle 30000: wrmsr 0x808 on cpu 1 raised #GP ..." */
} apic_stimulus_note;

/* Notes kept in a result; the count goes on past it. */
#define APIC_SCENARIO_MAX_NOTES 64

typedef struct apic_scenario_result {
  int run_status;              /* apic_run_status of the last slice */
  int all_done;                /* until: done, and every program finished: why it stopped */
  uint64_t end_cycle;          /* the clock when the run stopped */
  uint64_t last_event;         /* cycle of the last thing that happened */
  apic_stats stats;
  apic_lat_summary irr, handler;   /* over all cores and vectors */
  uint64_t messages;
  double bus_busy;             /* p6: fraction of cycles up to last_event the bus was busy */
  unsigned nexpect, failed;    /* expectations checked, and how many failed */
  apic_expect_result *expect;
  unsigned nignored;           /* stimulus entries the cores did not take */
  unsigned nnotes;             /* notes kept: at most APIC_SCENARIO_MAX_NOTES */
  apic_stimulus_note *notes;
  uint64_t nskipped;           /* stimulus events never applied: the run stopped first */
  uint32_t skipped_entry;      /* ...the first of them: its index in "stimulus" */
  uint64_t skipped_at;         /* ...and its cycle */
} apic_scenario_result;

/*
 * Builds the machine, installs the programs, applies the stimulus, runs,
 * checks the expectations. Returns APIC_OK when the scenario ran (whether
 * or not expectations held: see res->failed) or an error with the reason.
 */
APIC_API int apic_scenario_run(apic_scenario *sc, const apic_scenario_opts *opts,
                               apic_scenario_result *res, char *why, size_t why_size);
APIC_API void apic_scenario_result_free(apic_scenario_result *res);

#ifdef __cplusplus
}
#endif
#endif
