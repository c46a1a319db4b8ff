/*
 * apicsim/export.h - converts a trace into formats that existing tools open:
 *
 *   APIC_EXPORT_PERFETTO  Perfetto native protobuf (.pftrace): a track per
 *                         core with handler slices and halted time, the
 *                         interconnect and the I/O APIC pins as tracks, flow
 *                         arrows from each ICR write (or pin edge) to each
 *                         receiver's handler entry, counter tracks for PPR and
 *                         pending vectors; ui.perfetto.dev and trace_processor
 *                         read it.
 *   APIC_EXPORT_JSON      Chrome Trace Event JSON (a bare array, so a cut file
 *                         still opens) with the same tracks and flows.
 *   APIC_EXPORT_VCD       Value Change Dump for waveform viewers (GTKWave):
 *                         per core PPR, TPR, highest IRR, highest ISR,
 *                         in-handler vector, halted; I/O APIC pin levels.
 *
 * Timestamps follow the trace's core frequency (freq_ghz): Perfetto's are
 * whole nanoseconds (its clock has no finer unit, so above 1 GHz cycles next
 * to each other can share one), JSON's are microseconds to the picosecond
 * (every cycle its own time up to 1000 GHz), VCD's timescale is chosen so
 * that a cycle is a whole number of units where one exists, else 1 ps.
 * Event names follow the Linux ipi_* / irq_* tracepoints where one exists.
 */
#ifndef APICSIM_EXPORT_H
#define APICSIM_EXPORT_H

#include "trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum apic_export_format {
  APIC_EXPORT_PERFETTO = 0,
  APIC_EXPORT_JSON = 1,
  APIC_EXPORT_VCD = 2
} apic_export_format;

/*
 * Writes the whole trace t (from its first record; the reader is rewound
 * first and left at the end) to path in the given format. Returns APIC_OK
 * or a negative error with the reason in why.
 */
APIC_API int apic_trace_export(apic_trace *t, apic_export_format fmt, const char *path,
                               char *why, size_t why_size);
/* "perfetto", "json", "vcd" -> format; returns -1 if unknown. */
APIC_API int apic_export_format_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
