/*
 * apicsim/stats.h - latency statistics from the event stream.
 *
 * A collector consumes events (as a hook on a running simulation, or from a
 * trace reader) and measures, per message, the cycles from its origin (the
 * ICR write, or the I/O APIC pin change) to the IRR set on each receiver and
 * to the receiver's handler entry. Summaries give count, min, median, p99
 * and max per core, per vector and overall.
 */
#ifndef APICSIM_STATS_H
#define APICSIM_STATS_H

#include "apicsim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apic_latency apic_latency;

typedef enum apic_lat_stage {
  APIC_LAT_IRR = 0,      /* origin -> IRR set */
  APIC_LAT_HANDLER = 1   /* origin -> handler's first step */
} apic_lat_stage;

typedef struct apic_lat_summary {
  uint64_t count;
  uint64_t min, median, p99, max;
} apic_lat_summary;

APIC_API apic_latency *apic_latency_new(uint32_t ncpus);
APIC_API void apic_latency_free(apic_latency *l);
/* Feed one event (usable directly as an apic_hook_fn with ud = l). */
APIC_API void apic_latency_event(void *l, const apic_event *ev);
/*
 * Summary for a stage. cpu = APIC_NONE for all cores, vector = -1 for all
 * vectors; both may be set. Returns APIC_E_ARG (NULL l or out, no such
 * stage, vector above 255), APIC_E_CPU (cpu not APIC_NONE and past the
 * ncpus of apic_latency_new), APIC_E_NOMEM if sorting failed; on an error
 * *out is left as it was.
 */
APIC_API int apic_latency_summary(apic_latency *l, apic_lat_stage stage, uint32_t cpu,
                                  int vector, apic_lat_summary *out);
/* p6 bus: APIC bus cycles the bus carried messages, counting every
   arbitration win (retries too); multiply by timing.p6_clock_div for core
   cycles. */
APIC_API uint64_t apic_latency_bus_busy(const apic_latency *l);

#ifdef __cplusplus
}
#endif
#endif
