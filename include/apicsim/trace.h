/*
 * apicsim/trace.h - compressed delivery traces: writer, reader, state at any
 * cycle. The file format is specified in traces/FORMAT.md (version 1).
 *
 * Writer: attaches to a simulation as a hook; every event becomes one record;
 * records are grouped in zlib-compressed chunks, each opened by a snapshot of
 * the whole machine so that a reader can start at any chunk.
 *
 * Reader: opens a file (or a cut one: every whole chunk is readable), iterates
 * records in order, seeks by cycle using the snapshots, and rebuilds the state
 * of every local APIC, core and I/O APIC pin at the current position.
 *
 * Errors: negative APIC_E_* codes (apicsim.h: APIC_E_IO, APIC_E_FORMAT,
 * APIC_E_CORRUPT, APIC_E_END among them); the errmsg functions say what and
 * where.
 */
#ifndef APICSIM_TRACE_H
#define APICSIM_TRACE_H

#include "apicsim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define APIC_TRACE_VERSION 1

/* ---- writer ---- */

typedef struct apic_trace_writer apic_trace_writer;

typedef struct apic_trace_opts {
  uint32_t chunk_records;  /* records per chunk before a snapshot; 0 = 65536 */
  int level;               /* -1 = default: the writer's own deflate encoder (2-3
                              bytes/record, some 2.5 times cheaper than zlib);
                              0..9: zlib's deflate at that level */
  const char *name;        /* scenario name written in the header; may be NULL */
  int inline_compress;     /* 1: compress on the calling thread instead of a
                              worker thread (the bytes are the same) */
} apic_trace_opts;

/*
 * Creates path, writes the header and the first snapshot, and attaches to s
 * as a hook. The engine feeds a machine's first open writer directly,
 * without an apic_event call per record, in its place among the hooks; any
 * more writers get the same records through their hook. opts may be NULL.
 * On failure writes the reason into why.
 */
APIC_API int apic_trace_writer_open(apic_trace_writer **out, apic_sim *s, const char *path,
                                    const apic_trace_opts *opts, char *why, size_t why_size);
/*
 * Flushes the last chunk, writes the index and trailer, detaches and frees.
 * Returns the first error met while writing (a full disk is reported here if
 * not before), APIC_OK if the file is whole. Called from inside a hook or
 * quiet callback it does nothing and returns APIC_E_STATE. After the
 * machine was destroyed it still finishes the file, with the records up
 * to the destroy. NULL: APIC_E_ARG.
 */
APIC_API int apic_trace_writer_close(apic_trace_writer *w);
/* First write error so far (0 if none) and its message. */
APIC_API int apic_trace_writer_error(const apic_trace_writer *w, const char **msg);

typedef struct apic_trace_writer_stats {
  uint64_t records, chunks, raw_bytes, file_bytes;
} apic_trace_writer_stats;
APIC_API void apic_trace_writer_stats_get(const apic_trace_writer *w,
                                          apic_trace_writer_stats *out);

/* ---- reader ---- */

typedef struct apic_trace apic_trace;

typedef struct apic_trace_info {
  apic_config config;      /* the machine (alloc fields unset) */
  char name[256];          /* scenario name */
  uint32_t chunks;         /* whole chunks readable */
  uint64_t records;        /* records in them */
  uint64_t first_cycle, last_cycle;
  int cut;                 /* 1 if the file was cut off (no valid index) */
  uint64_t cut_offset;     /* where the readable part ends, if cut */
  char warning[256];       /* why part of the file was not used, or "" */
} apic_trace_info;

APIC_API int apic_trace_open(apic_trace **out, const char *path, char *why, size_t why_size);
APIC_API void apic_trace_close(apic_trace *t);
APIC_API const apic_trace_info *apic_trace_info_get(const apic_trace *t);
APIC_API const char *apic_trace_errmsg(const apic_trace *t);

/*
 * Next record in cycle order into *ev. Returns APIC_OK, APIC_E_END after
 * the last, or an error. ev->text stays valid until the next call.
 * The state functions below then describe the machine after this record.
 */
APIC_API int apic_trace_next(apic_trace *t, apic_event *ev);
/*
 * Positions the reader at cycle: the state is that after every record with
 * a cycle <= `cycle`, and apic_trace_next returns the first record after
 * them. Uses the chunk snapshots: the cost is at most one chunk's records.
 */
APIC_API int apic_trace_seek(apic_trace *t, uint64_t cycle);
/* Back to before the first record. */
APIC_API int apic_trace_rewind(apic_trace *t);
/* Cycle of the position (the last record applied, or the snapshot). */
APIC_API uint64_t apic_trace_now(const apic_trace *t);

/* The state at the position. After apic_trace_next or apic_trace_seek
   failed (a damaged chunk or record) they return APIC_E_STATE until a seek
   or rewind succeeds: the state would mix two positions. */
APIC_API int apic_trace_lapic_state(apic_trace *t, uint32_t cpu, apic_lapic_state *out);
APIC_API int apic_trace_core_state(apic_trace *t, uint32_t cpu, apic_core_state *out);
APIC_API int apic_trace_ioapic_pin(apic_trace *t, uint32_t ioapic, uint32_t pin,
                                   uint64_t *rte, int *level);

/* Chunk directory, for tools that draw overviews: first/last cycle, records. */
APIC_API int apic_trace_chunk(const apic_trace *t, uint32_t i, uint64_t *first_cycle,
                              uint64_t *last_cycle, uint32_t *records);

#ifdef __cplusplus
}
#endif
#endif
