/*
 * apicsim/programs.h - the library of built-in guest programs.
 *
 * Each program is readable C in lib/prog_*.c, modelled on a real kernel
 * path (Linux send_IPI_mask, Windows HalRequestIpi, a debugger freezing the
 * other CPUs, smp_call_function over per-CPU mailboxes, TLB shootdowns with
 * scoreboards, an all-CPU barrier inside an IPI handler, a device IRQ, the
 * APIC timer tick, the idle loop). A program is installed on a set of cores
 * with typed, validated arguments, runs as guest code on those cores, and
 * afterwards checks its own correctness property (every shootdown target
 * invalidated exactly once per generation, no core in phase 2 early, every
 * mailbox action run exactly once...), counting violations.
 *
 * Scenarios (apicsim/scenario.h) use this registry by name; a host program
 * can use it directly from C.
 */
#ifndef APICSIM_PROGRAMS_H
#define APICSIM_PROGRAMS_H

#include "apicsim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum apic_arg_type {
  APIC_ARG_INT = 0,   /* integer in [min, max] */
  APIC_ARG_BOOL,
  APIC_ARG_CPUS,      /* list of core indices, each < ncpus */
  APIC_ARG_STRING     /* one of the words in `choices` (a '|' list) */
} apic_arg_type;

typedef struct apic_arg_spec {
  const char *name;
  apic_arg_type type;
  int64_t min, max;        /* APIC_ARG_INT */
  const char *choices;     /* APIC_ARG_STRING: "fixed|lowest" */
  const char *deflt;       /* default shown by list-programs; NULL = required */
  int64_t deflt_int;       /* APIC_ARG_INT / BOOL default */
  const char *doc;
} apic_arg_spec;

#define APIC_ARGS_MAX 16

/* Validated argument values of one program instance. */
typedef struct apic_args {
  const struct apic_prog_def *def;
  uint8_t set[APIC_ARGS_MAX];
  int64_t i[APIC_ARGS_MAX];
  uint32_t *cpus[APIC_ARGS_MAX];
  uint32_t ncpus[APIC_ARGS_MAX];
  char *str[APIC_ARGS_MAX];        /* owned copies, freed by apic_args_free */
} apic_args;

typedef struct apic_prog_def {
  const char *name;
  const char *summary;     /* one line */
  const char *models;      /* the kernel code it follows */
  const apic_arg_spec *args;
  unsigned nargs;
  /*
   * Installs the program on cores cpus[0..n-1] of s: guest programs,
   * handlers, shared memory. *state receives the instance. Returns APIC_OK
   * or an error with the reason in why.
   */
  int (*install)(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                 void **state, char *why, size_t why_size);
  /*
   * After a run: checks the program's correctness property. Returns the
   * number of violations (0 = held) and describes the outcome in msg
   * (what was checked and, on failure, the first violation). *done is set
   * to 1 when all the program's work finished. A run may stop anywhere:
   * work still in flight then (an interrupt on its way, pending, in
   * service, its handler running) is no violation and leaves *done 0. The
   * checks that follow interrupts say "in flight" in msg, and call an
   * interrupt lost only once it can no longer be taken.
   */
  unsigned (*check)(void *state, int *done, char *msg, size_t msg_size);
  void (*destroy)(void *state);
} apic_prog_def;

APIC_API const apic_prog_def *apic_prog_find(const char *name);
/* The whole table, in a stable order; *n receives its length. */
APIC_API const apic_prog_def *const *apic_prog_all(unsigned *n);

/* ---- arguments ---- */

/* Fills defaults for every optional argument of def. */
APIC_API void apic_args_init(apic_args *a, const apic_prog_def *def);
APIC_API void apic_args_free(apic_args *a);
/* Setters check the name, type and range; an error says which. */
APIC_API int apic_args_set_int(apic_args *a, const char *name, int64_t v, char *why, size_t n);
APIC_API int apic_args_set_cpus(apic_args *a, const char *name, const uint32_t *cpus,
                                uint32_t count, uint32_t ncpus, char *why, size_t n);
APIC_API int apic_args_set_str(apic_args *a, const char *name, const char *v, char *why,
                               size_t n);
/* Every required argument set? */
APIC_API int apic_args_complete(const apic_args *a, char *why, size_t n);
/* Index of an argument by name, or -1. */
APIC_API int apic_args_index(const apic_prog_def *def, const char *name);

/* Getters for program code (the argument must exist in the spec). */
APIC_API int64_t apic_args_int(const apic_args *a, const char *name);
APIC_API const uint32_t *apic_args_cpus(const apic_args *a, const char *name, uint32_t *count);
APIC_API const char *apic_args_str(const apic_args *a, const char *name);

#ifdef __cplusplus
}
#endif
#endif
