/*
 * testutil.h - shared helpers for the libcheck suites: building machines,
 * recording the events of a run, and small guest programs.
 */
#ifndef APICSIM_TESTUTIL_H
#define APICSIM_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include "apicsim/apicsim.h"
#include "apicsim/guest.h"

/* Runs every test of the suite and frees it; the exit status for main. */
int tu_run(Suite *s);

/* Every event of a run, in order. */
typedef struct tu_log {
  apic_event *ev;
  size_t n, cap;
} tu_log;

void tu_record(void *ud, const apic_event *ev);
void tu_log_free(tu_log *log);
/* Number of events of a kind (cpu/vector APIC_NONE / -1 = any). */
size_t tu_count(const tu_log *log, uint32_t kind, uint32_t cpu, int vector);
/* First event of a kind on cpu at or after index from; NULL if none. */
const apic_event *tu_find(const tu_log *log, uint32_t kind, uint32_t cpu, int vector,
                          size_t from);

/* Creates a machine (fails the test on error) and attaches log if given. */
apic_sim *tu_sim(const apic_config *cfg, tu_log *log);
/* Default config for n cores with the given bus and model. */
apic_config tu_config(uint32_t ncpus, apic_bus_kind bus, apic_model model);

/* Register helpers that fail the test on an API error. */
uint32_t tu_rd(apic_sim *s, uint32_t cpu, uint32_t off);
void tu_wr(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t val);
/* Software-enables every APIC (SVR = enable | 0xFF). */
void tu_enable_all(apic_sim *s);
/* Bit for vector v in an 8x32 register array. */
int tu_vec(const uint32_t r[8], uint8_t v);

/* Guest programs: enable the APIC, STI, then HLT forever. */
int tu_prog_idle(apic_cpu *c, void *arg);
/* Handler that counts into ((int *)arg)[cpu * 256 + vector], then EOIs. */
int tu_handler_count(apic_cpu *c, void *arg);

#endif
