/*
 * latency.c - per-message latency from the event stream (apicsim/stats.h).
 *
 * MSG_SEND gives a message's origin cycle; IRR_SET on a receiver gives the
 * first latency and remembers the origin for that (core, vector); ACCEPT
 * moves it to "in service"; HANDLER_ENTER of a fixed interrupt closes the
 * second latency. Samples are kept as (core, vector, cycles) so any summary
 * can be cut afterwards; a coalesced delivery keeps the earlier origin,
 * which is the one the handler serves.
 */
#include <stdlib.h>
#include <string.h>
#include "apicsim/stats.h"

typedef struct sample { uint32_t cpu; uint8_t vector, stage; uint64_t cycles; } sample;

/* Messages in flight, by id modulo the ring size: a message's deliveries
   follow its send closely, so a ring bounds the memory; only an id that
   is overwritten while still in flight (65536 messages later) loses its
   samples. */
#define RING 65536u
typedef struct inflight { uint64_t id, origin; uint32_t bus_cycles; } inflight;

struct apic_latency {
  uint32_t ncpus;
  uint64_t *pending;      /* ncpus x 256: origin + 1 of the vector in IRR, 0 none */
  uint64_t *in_service;   /* ncpus x 256: origin + 1 of the vector being served */
  inflight *ring;
  sample *s;
  size_t n, scap;
  uint64_t bus_busy;
  int oom;
};

apic_latency *apic_latency_new(uint32_t ncpus) {
  apic_latency *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->ncpus = ncpus;
  l->pending = calloc((size_t)ncpus * 256, sizeof *l->pending);
  l->in_service = calloc((size_t)ncpus * 256, sizeof *l->in_service);
  l->ring = calloc(RING, sizeof *l->ring);
  if (!l->pending || !l->in_service || !l->ring) { apic_latency_free(l); return NULL; }
  return l;
}

void apic_latency_free(apic_latency *l) {
  if (!l) return;
  free(l->pending);
  free(l->in_service);
  free(l->ring);
  free(l->s);
  free(l);
}

static inflight *find(apic_latency *l, uint64_t id) {
  inflight *f = &l->ring[id % RING];
  return f->id == id ? f : NULL;
}

static void add(apic_latency *l, uint32_t cpu, uint8_t vector, uint8_t stage, uint64_t c) {
  if (l->n == l->scap) {
    size_t cap = l->scap ? l->scap * 2 : 1024;
    sample *s = realloc(l->s, cap * sizeof *s);
    if (!s) { l->oom = 1; return; }
    l->s = s;
    l->scap = cap;
  }
  l->s[l->n++] = (sample){cpu, vector, stage, c};
}

void apic_latency_event(void *ud, const apic_event *ev) {
  apic_latency *l = ud;
  if (!l || !ev) return;
  size_t k = (size_t)ev->cpu * 256 + ev->vector;
  switch (ev->kind) {
  case APIC_EV_MSG_SEND:
    if (ev->b == APIC_MSG_INTERRUPT && ev->msg)
      l->ring[ev->msg % RING] = (inflight){ev->msg, ev->cycle, ev->a};
    break;
  case APIC_EV_MSG_ARB: {  /* p6: the message holds the bus for its length */
    inflight *f = find(l, ev->msg);
    if (f) l->bus_busy += f->bus_cycles;
    break;
  }
  case APIC_EV_IRR_SET: {
    inflight *f = ev->msg ? find(l, ev->msg) : NULL;
    if (ev->cpu >= l->ncpus) break;
    if (!f) { l->pending[k] = 0; break; }  /* a local source (LVT): no origin to measure */
    add(l, ev->cpu, ev->vector, APIC_LAT_IRR, ev->cycle - f->origin);
    l->pending[k] = f->origin + 1;
    break;
  }
  case APIC_EV_RESET:  /* INIT or disable cleared IRR and ISR: their origins are gone */
    if (ev->cpu >= l->ncpus) break;
    memset(&l->pending[(size_t)ev->cpu * 256], 0, 256 * sizeof *l->pending);
    memset(&l->in_service[(size_t)ev->cpu * 256], 0, 256 * sizeof *l->in_service);
    break;
  case APIC_EV_ACCEPT:
    if (ev->cpu >= l->ncpus) break;
    l->in_service[k] = l->pending[k];
    l->pending[k] = 0;
    break;
  case APIC_EV_HANDLER_ENTER:
    if (ev->cpu >= l->ncpus || ev->b != APIC_INTR_FIXED || !l->in_service[k]) break;
    add(l, ev->cpu, ev->vector, APIC_LAT_HANDLER, ev->cycle - (l->in_service[k] - 1));
    l->in_service[k] = 0;
    break;
  default:
    break;
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int apic_latency_summary(apic_latency *l, apic_lat_stage stage, uint32_t cpu, int vector,
                         apic_lat_summary *out) {
  if (!l || !out) return APIC_E_ARG;
  if (stage != APIC_LAT_IRR && stage != APIC_LAT_HANDLER) return APIC_E_ARG;
  if (vector > 255) return APIC_E_ARG;
  if (cpu != APIC_NONE && cpu >= l->ncpus) return APIC_E_CPU;
  memset(out, 0, sizeof *out);
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++)
    n += l->s[i].stage == stage && (cpu == APIC_NONE || l->s[i].cpu == cpu) &&
         (vector < 0 || l->s[i].vector == vector);
  if (!n) return APIC_OK;
  uint64_t *v = malloc(n * sizeof *v);
  if (!v) return APIC_E_NOMEM;
  n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (l->s[i].stage == stage && (cpu == APIC_NONE || l->s[i].cpu == cpu) &&
        (vector < 0 || l->s[i].vector == vector))
      v[n++] = l->s[i].cycles;
  qsort(v, n, sizeof *v, cmp_u64);
  out->count = n;
  out->min = v[0];
  out->median = v[(n - 1) / 2];
  size_t p99 = (n * 99 + 99) / 100;  /* nearest rank */
  out->p99 = v[(p99 ? p99 : 1) - 1];
  out->max = v[n - 1];
  free(v);
  return APIC_OK;
}

uint64_t apic_latency_bus_busy(const apic_latency *l) { return l ? l->bus_busy : 0; }
