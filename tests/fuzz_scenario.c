/*
 * fuzz_scenario.c - libFuzzer harness for JSON scenarios (lib/scenario.c,
 * lib/scenario_run.c and the built-in programs, lib/prog_*.c): whatever the
 * text, apic_scenario_parse must return an error that names a place, or a
 * scenario that then runs to the end without crashing, leaking, reading out
 * of bounds or hanging ("bad input never crashes").
 *
 * The input is the scenario text as `apicsim run` would read it from a file.
 * A scenario that parses is run through the public API, as sim/run_cmd.c
 * does, with its cycle limit clamped to MAX_RUN_CYCLES (through
 * apic_scenario_opts.cycles) so that most inputs finish in well under a
 * second of host time. Not all: a machine of many cores under a broadcast
 * storm is real work in every cycle (a 970-core TLB shootdown storm takes
 * some 12 s under ASan), so -timeout=30, not 10, tells a hang from one. Inputs whose length is a multiple of TRACE_EVERY
 * also write a trace, to a temporary file that is removed at exit, so that
 * the trace writer sees machines and events that scenarios make.
 *
 * Not built by CMake (CTest runs the libcheck suites); build and run by hand,
 * seeded with the repository's scenarios (tests/fuzz_scenario.dict holds
 * the schema's keys and words):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DAPICSIM_BUILDING \
 *     -Iinclude -Ilib tests/fuzz_scenario.c lib/api.c lib/bus.c lib/bus_p6.c \
 *     lib/cpu.c lib/deflate.c lib/dest.c lib/error.c lib/ioapic.c lib/lapic.c \
 *     lib/latency.c lib/progs.c lib/prog_barrier.c lib/prog_debugger.c \
 *     lib/prog_device.c lib/prog_idle.c lib/prog_linux.c lib/prog_mailbox.c \
 *     lib/prog_nt.c lib/prog_timer.c lib/prog_tlb.c lib/queue.c \
 *     lib/scenario.c lib/scenario_run.c lib/sim.c lib/trace_fmt.c \
 *     lib/trace_read.c lib/trace_write.c -lcjson -lz -lpthread -lm -o fuzz_scenario
 *   mkdir -p /tmp/scenario-corpus && cp examples/scenarios/[a-z]*.json /tmp/scenario-corpus/
 *   ./fuzz_scenario -dict=tests/fuzz_scenario.dict -timeout=30 -max_total_time=900 \
 *     /tmp/scenario-corpus
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "apicsim/scenario.h"

/* the examples run 100k..10M cycles; this keeps each input fast */
#define MAX_RUN_CYCLES 200000u
#define TRACE_EVERY 8u   /* one input in this many also writes a trace */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[256];

static void remove_trace(void) { unlink(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("TMPDIR");
  snprintf(g_path, sizeof g_path, "%s/apicsim-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(g_path);
  if (fd < 0) abort();
  close(fd);
  atexit(remove_trace);
  return 0;
}

/*
 * The scenario's own cycle limit (run.cycles; the library's default when
 * absent), read from the text since the public API does not expose it, so
 * that short runs stay short and long ones are cut to MAX_RUN_CYCLES. Only
 * called on text the library accepted, so the value is a valid whole number.
 */
static uint64_t asked_cycles(const uint8_t *data, size_t size) {
  uint64_t n = MAX_RUN_CYCLES;
  cJSON *root = cJSON_ParseWithLength((const char *)data, size);
  const cJSON *run = cJSON_GetObjectItemCaseSensitive(root, "run");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(run, "cycles");
  if (cJSON_IsNumber(c) && c->valuedouble >= 1 && c->valuedouble < MAX_RUN_CYCLES)
    n = (uint64_t)c->valuedouble;
  else if (cJSON_IsString(c)) {
    const char *s = c->valuestring;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    unsigned long long v = strtoull(hex ? s + 2 : s, NULL, hex ? 16 : 10);
    if (v >= 1 && v < MAX_RUN_CYCLES) n = v;
  }
  cJSON_Delete(root);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  apic_scenario *sc = NULL;
  char why[1024];
  if (apic_scenario_parse(&sc, (const char *)data, size, "fuzz.json", why, sizeof why)) {
    /* every rejection must say where and what: "source: path: message" */
    if (sc || strncmp(why, "fuzz.json: ", 11) || !why[11]) abort();
    return 0;
  }
  (void)apic_scenario_name(sc);
  if (!apic_scenario_config(sc)) abort();
  apic_scenario_opts o = {0};
  o.cycles_set = 1;
  o.cycles = asked_cycles(data, size);
  o.trace_path = size % TRACE_EVERY == 0 ? g_path : NULL;
  apic_scenario_result res;
  if (apic_scenario_run(sc, &o, &res, why, sizeof why) == APIC_OK) {
    if (res.failed > res.nexpect) abort();
    apic_scenario_result_free(&res);
  } else if (!why[0]) {
    abort();  /* a run error must say why */
  }
  apic_scenario_free(sc);
  return 0;
}
