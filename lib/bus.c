/*
 * bus.c - the "xapic" and "mesh" interconnect timing models.
 *
 *   xapic: messages travel as system-bus transactions, in parallel, with one
 *          fixed latency (timing.xapic_latency) from the moment they leave
 *          the sender. A sender's messages leave one after another
 *          (timing.post apart), which keeps them in order.
 *   mesh:  as xapic, but the latency depends on where the receiver sits:
 *          the same core (SMT sibling or self), the same socket, or another
 *          socket (timing.mesh_*). Defaults are calibrated in docs/TIMING.md.
 *
 * I/O APIC messages and EOI messages use timing.ioapic_latency in both.
 * The p6 serial bus lives in bus_p6.c.
 */
#include "sim.h"

static uint32_t mesh_latency(const apic_sim *s, uint32_t cls) {
  const apic_timing *t = &s->cfg.timing;
  return cls == 0 ? t->mesh_same_core : cls == 1 ? t->mesh_same_socket : t->mesh_cross_socket;
}

/* The one core a message can reach before it travels, or APIC_NONE. */
static uint32_t single_target(apic_sim *s, apic__msg *m) {
  if (m->shorthand == APIC_SH_SELF) return m->src;
  if (m->shorthand != APIC_SH_NONE) return APIC_NONE;
  uint32_t n = apic__dest_resolve(s, m);
  if (m->mode == APIC_DM_LOWEST && n) return apic__dest_lowest(s, m, s->scratch, n, 0);
  if (!m->logical && n == 1) return s->scratch[0];
  return APIC_NONE;
}

void apic__bus_post(apic_sim *s, uint32_t slot) {
  if (s->cfg.bus == APIC_BUS_P6) { apic__p6_post(s, slot); return; }
  const apic_timing *t = &s->cfg.timing;
  apic__msg *m = &s->msgs[slot].m;
  if (m->from_ioapic || m->kind == APIC__MSG_EOI) {
    apic__msg_sent(s, slot, 0);
    s->msgs[slot].refs++;
    apic__schedule(s, s->now + t->ioapic_latency, APIC__EV_ARRIVE, m->src, slot, 3);
    return;
  }
  /* The leave time is known now, so delivery status is derived from it
     (ds_until); only a hook needs to hear of it then (MSG_DONE). */
  apic__lapic *l = &s->cpus[m->src].apic;
  uint64_t leave = (l->ds_until > s->now ? l->ds_until : s->now) + t->post;
  l->ds_until = leave;
  apic__msg_sent(s, slot, leave);
  s->msgs[slot].refs++;
  if (apic__tracing(s)) apic__left_at(s, leave, slot);
  if (s->cfg.bus == APIC_BUS_XAPIC) {
    apic__schedule(s, leave + t->xapic_latency, APIC__EV_ARRIVE, m->src, slot, 3);
    return;
  }
  /* mesh: a single receiver is found now and travels at its own distance;
     a broadcast arrives in up to three waves, nearest first. */
  uint32_t target = single_target(s, m);
  if (target != APIC_NONE) {
    m->target = target;
    uint32_t cls = apic__topo_class(s, m->src, target);
    apic__schedule(s, leave + mesh_latency(s, cls), APIC__EV_ARRIVE, m->src, slot, 3);
    return;
  }
  s->msgs[slot].refs--;
  if (m->mode == APIC_DM_LOWEST) {  /* no candidate: arrives and finds nobody */
    s->msgs[slot].refs++;
    apic__schedule(s, leave + mesh_latency(s, 1), APIC__EV_ARRIVE, m->src, slot, 3);
    return;
  }
  for (uint32_t cls = 0; cls < 3; cls++) {
    s->msgs[slot].refs++;
    apic__schedule(s, leave + mesh_latency(s, cls), APIC__EV_ARRIVE, m->src, slot, cls);
  }
}
