/*
 * dest.c - which local APICs a message reaches, and which one wins a
 * lowest-priority delivery (SDM 10.6.2 "Determining IPI Destination",
 * 10.6.2.4 "Lowest Priority Delivery Mode", 10.12.10 x2APIC logical).
 *
 * Matching uses each receiver's current ID, LDR and DFR, at the moment the
 * message arrives. Physical lookups go through a table of cores sorted by
 * APIC ID, rebuilt only after an ID changes, so a unicast costs O(log n)
 * (O(1) while every core's ID equals its index) and only broadcasts and
 * xAPIC logical messages touch every core.
 */
#include <stdlib.h>
#include "sim.h"

static int by_id(const apic_sim *s, uint32_t a, uint32_t b) {
  uint32_t x = s->cpus[a].apic.id, y = s->cpus[b].apic.id;
  return x < y ? -1 : x > y ? 1 : (a < b ? -1 : a > b);
}

/* Insertion sort is enough: IDs change rarely and start almost sorted. */
static void rebuild(apic_sim *s) {
  uint32_t *v = s->id_sorted;
  s->ids_identity = 1;
  for (uint32_t i = 0; i < s->ncpus; i++) {
    v[i] = i;
    if (s->cpus[i].apic.id != i) s->ids_identity = 0;
  }
  for (uint32_t i = 1; i < s->ncpus; i++) {
    uint32_t x = v[i], j = i;
    while (j > 0 && by_id(s, v[j - 1], x) > 0) { v[j] = v[j - 1]; j--; }
    v[j] = x;
  }
  s->ids_dirty = 0;
}

/* Appends every core whose APIC ID is id; returns the new count. */
static uint32_t find_id(apic_sim *s, uint32_t id, uint32_t *out, uint32_t n) {
  if (s->ids_dirty) rebuild(s);
  if (s->ids_identity) {  /* the usual machine: core i has APIC ID i */
    if (id < s->ncpus) out[n++] = id;
    return n;
  }
  uint32_t lo = 0, hi = s->ncpus;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->cpus[s->id_sorted[mid]].apic.id < id) lo = mid + 1; else hi = mid;
  }
  for (; lo < s->ncpus && s->cpus[s->id_sorted[lo]].apic.id == id; lo++)
    out[n++] = s->id_sorted[lo];
  return n;
}

static uint32_t bcast_id(const apic_sim *s, const apic__msg *m) {
  if (m->x2apic) return 0xFFFFFFFFu;  /* SDM 10.12.9 */
  return s->cfg.model == APIC_MODEL_P6 ? 0xFu : 0xFFu;  /* SDM 10.6.2.1 */
}

/* xAPIC logical match for one receiver (SDM 10.6.2.2). */
static int match_xapic_logical(const apic_sim *s, const apic__lapic *l, uint32_t mda) {
  if (mda == 0xFF && s->cfg.quirks.logical_ff_all) return 1;
  if (apic__lapic_x2apic(l))  /* 8-bit message to an x2APIC: cluster 0 */
    return (l->ldr >> 16) == 0 && (l->ldr & mda & 0xFFFF) != 0;
  uint32_t ldr = l->ldr >> 24;
  if ((l->dfr >> APIC_DFR_MODEL_SHIFT) == 0xF) return (ldr & mda) != 0;   /* flat */
  uint32_t cl = mda >> 4;  /* cluster: 0xF addresses every cluster */
  return (cl == 0xF || cl == (ldr >> 4)) && (ldr & mda & 0xF) != 0;
}

uint32_t apic__dest_resolve(apic_sim *s, const apic__msg *m) {
  uint32_t *out = s->scratch, n = 0;
  switch (m->shorthand) {
  case APIC_SH_SELF:
    out[n++] = m->src;
    return n;
  case APIC_SH_ALL:
  case APIC_SH_OTHERS:
    for (uint32_t i = 0; i < s->ncpus; i++)
      if (m->shorthand == APIC_SH_ALL || i != m->src || m->from_ioapic) out[n++] = i;
    return n;
  default:
    break;
  }
  /* P6 physical destinations are 4 bits (an 82093AA uses only 59:56) */
  uint32_t phys = !m->x2apic && s->cfg.model == APIC_MODEL_P6 ? m->dest & 0xF : m->dest;
  int bcast = !m->logical ? phys == bcast_id(s, m)
            : m->x2apic ? m->dest == bcast_id(s, m)  /* SDM 10.12.9: both modes */
            : (m->dest & 0xFF) == 0xFF && s->cfg.quirks.logical_ff_all;
  if (bcast) {
    for (uint32_t i = 0; i < s->ncpus; i++) out[n++] = i;
    return n;
  }
  if (!m->logical) return find_id(s, phys, out, 0);
  if (m->x2apic) {  /* x2APIC cluster: dest[31:16] cluster, [15:0] members */
    uint32_t cluster = m->dest >> 16, mask = m->dest & 0xFFFF;
    while (mask) {
      uint32_t b = (uint32_t)__builtin_ctz(mask);
      mask &= mask - 1;
      uint32_t first = n;
      n = find_id(s, (cluster << 4) | b, out, n);
      uint32_t k = first;  /* keep only APICs in x2APIC mode (LDR derived) */
      for (uint32_t j = first; j < n; j++)
        if (apic__lapic_x2apic(&s->cpus[out[j]].apic)) out[k++] = out[j];
      n = k;
    }
    return n;
  }
  for (uint32_t i = 0; i < s->ncpus; i++)
    if (match_xapic_logical(s, &s->cpus[i].apic, m->dest & 0xFF)) out[n++] = i;
  return n;
}

/*
 * Lowest priority (SDM 10.6.2.4): a focus processor (vector already in its
 * IRR or ISR, focus checking on) wins; otherwise the lowest APR (all 8 bits
 * on the p6 bus, the class on xapic and mesh). Ties: on
 * the p6 bus the highest arbitration ID (the bus arbitrates, SDM 10.13.2.2);
 * on xapic and mesh the chipset rotates: the first tied core after the last
 * winner in index order. Software-disabled APICs do not take part; on p6 an
 * APIC without a free slot for the vector does not either. Returns the core
 * or APIC_NONE.
 */
uint32_t apic__dest_lowest(apic_sim *s, const apic__msg *m, const uint32_t *cand,
                           uint32_t n, int p6_arb) {
  uint32_t best = APIC_NONE, best_apr = 0;
  for (uint32_t i = 0; i < n; i++) {
    const apic__lapic *l = &s->cpus[cand[i]].apic;
    if (!apic__lapic_enabled(l)) continue;
    if (p6_arb && !apic__lapic_has_slot(l, m->vector)) continue;
    if (apic__lapic_is_focus(l, m->vector)) return cand[i];
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t c = cand[i];
    const apic__lapic *l = &s->cpus[c].apic;
    if (!apic__lapic_enabled(l)) continue;
    if (p6_arb && !apic__lapic_has_slot(l, m->vector)) continue;
    /* the P6 bus compares all 8 bits of APR (SDM 10.10, Table 10-3
       cycles 21-28); chipsets compare classes (item 16) */
    uint32_t apr = apic__lapic_apr(l) & (p6_arb ? 0xFFu : 0xF0u);
    if (best == APIC_NONE || apr < best_apr) { best = c; best_apr = apr; continue; }
    if (apr > best_apr) continue;
    if (p6_arb) {
      if (l->arb_id > s->cpus[best].apic.arb_id) best = c;
    } else {  /* rotate: prefer the smallest distance after lp_last */
      uint32_t dc = (c - s->lp_last - 1 + s->ncpus) % s->ncpus;
      uint32_t db = (best - s->lp_last - 1 + s->ncpus) % s->ncpus;
      if (dc < db) best = c;
    }
  }
  if (best != APIC_NONE && !p6_arb) s->lp_last = best;
  return best;
}

uint32_t apic__topo_class(const apic_sim *s, uint32_t from, uint32_t to) {
  uint32_t t = s->cfg.threads_per_core ? s->cfg.threads_per_core : 1;
  uint32_t per_socket = s->ncpus / (s->cfg.sockets ? s->cfg.sockets : 1);
  if (from / t == to / t) return 0;
  if (per_socket && from / per_socket == to / per_socket) return 1;
  return 2;
}
