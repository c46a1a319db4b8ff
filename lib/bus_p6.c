/*
 * bus_p6.c - the serial 3-wire APIC bus of the Pentium and P6 family
 * (SDM 10.13 "APIC Bus Message Formats", 10.7 "System and APIC Bus
 * Arbitration", 10.10 "APIC Bus Message Passing Mechanism and Protocol").
 *
 * One message at a time. Agents (local APICs, then I/O APICs) queue their
 * messages in order; when the bus is free a waiting EOI message goes first,
 * otherwise the waiting agent with the highest arbitration ID wins; its ID
 * drops to 0 and every other agent moves up one (one at 15 takes the
 * winner's old ID plus one), so each agent gets its turn. A message takes
 * 14 (EOI), 21 (short), 34 (non-focused lowest priority) bus cycles; a bus
 * cycle is timing.p6_clock_div core cycles. At the end of a message the
 * status cycles decide: accepted (delivered, sender's delivery
 * status goes idle), retry (a receiver had no free slot: the sender
 * re-arbitrates), or nobody accepted (send/receive accept error, dropped;
 * the message ends after cycle 21 and, unless it is lowest priority, the
 * arbitration IDs stay as they were).
 */
#include "sim.h"

#define P6_CYCLES_EOI     14u  /* SDM 10.13.2, Table 10-1 */
#define P6_CYCLES_SHORT   21u  /* 10.13.2.1, Table 10-2 */
#define P6_CYCLES_LOWEST  34u  /* 10.13.2.2, Table 10-3: non-focused lowest priority */
#define P6_CYCLES_RREAD   39u  /* remote read: Pentium/82489DX only, not in the SDM; not generated */
/* 10.13.2.1: "except for the EOI message, messages generating a checksum or
   an acceptance error terminate after cycle 21" (the idle cycle after
   status cycle 1): the length of any non-EOI message nobody accepts. */
#define P6_CYCLES_ERROR_END 21u

/* Appendix F.2.1: "Short messages (21-cycles) are used for sending fixed,
   NMI, SMI, INIT, start-up, ExtINT and lowest-priority-with-focus
   interrupts": only a lowest-priority message with no focus processor (as
   apic__dest_lowest sees it on p6) needs the 34-cycle priority arbitration,
   and only if some APIC matched it: one that matched none ends with the
   accept error of status cycle 1 (P6_CYCLES_ERROR_END). */
uint32_t apic__p6_cycles(apic_sim *s, const apic__msg *m) {
  if (m->kind == APIC__MSG_EOI) return P6_CYCLES_EOI;
  if (m->mode != APIC_DM_LOWEST) return P6_CYCLES_SHORT;
  uint32_t n = apic__dest_resolve(s, m);
  if (n == 0) return P6_CYCLES_ERROR_END;
  for (uint32_t i = 0; i < n; i++) {
    const apic__lapic *l = &s->cpus[s->scratch[i]].apic;
    if (apic__lapic_enabled(l) && apic__lapic_has_slot(l, m->vector) &&
        apic__lapic_is_focus(l, m->vector))
      return P6_CYCLES_SHORT;
  }
  return P6_CYCLES_LOWEST;
}

static uint32_t agent_of(const apic_sim *s, const apic__msg *m) {
  return m->from_ioapic ? s->ncpus + m->src : m->src;
}

static uint8_t *arb_of(apic_sim *s, uint32_t agent) {
  return agent < s->ncpus ? &s->cpus[agent].apic.arb_id
                          : &s->ioapics[agent - s->ncpus].arb_id;
}

int apic__p6_init(apic_sim *s) {
  uint32_t n = s->ncpus + s->nioapics;
  s->p6.head = apic__alloc(s, NULL, n * sizeof(uint32_t));
  s->p6.tail = apic__alloc(s, NULL, n * sizeof(uint32_t));
  if (!s->p6.head || !s->p6.tail) return APIC_E_NOMEM;
  for (uint32_t i = 0; i < n; i++) s->p6.head[i] = s->p6.tail[i] = APIC_NONE;
  s->p6.current = APIC_NONE;
  return APIC_OK;
}

void apic__p6_free(apic_sim *s) {
  apic__alloc(s, s->p6.head, 0);
  apic__alloc(s, s->p6.tail, 0);
}

/* Next message in an agent's queue lives in the slot's free-list link. */
static void enqueue(apic_sim *s, uint32_t agent, uint32_t slot, int front) {
  apic__p6bus *b = &s->p6;
  if (b->head[agent] == APIC_NONE) {
    s->msgs[slot].next_free = APIC_NONE;
    b->head[agent] = b->tail[agent] = slot;
    b->waiting++;
  } else if (front) {
    s->msgs[slot].next_free = b->head[agent];
    b->head[agent] = slot;
  } else {
    s->msgs[slot].next_free = APIC_NONE;
    s->msgs[b->tail[agent]].next_free = slot;
    b->tail[agent] = slot;
  }
}

/* Rotating priority (SDM 10.10): every agent moves up one, the winner
   drops to 0, and one that was at 15 without sending takes the winner's
   old priority plus one, so the IDs stay a permutation of 4 bits. */
static void rotate(apic_sim *s, uint32_t win, uint8_t w) {
  for (uint32_t a = 0; a < s->ncpus + s->nioapics; a++) {
    uint8_t *p = arb_of(s, a);
    *p = a == win ? 0 : (uint8_t)((*p == 15 ? w + 1 : *p + 1) & 0xF);
  }
}

static void arbitrate(apic_sim *s) {
  apic__p6bus *b = &s->p6;
  if (b->current != APIC_NONE || !b->waiting) return;
  /* An EOI message takes the bus whatever its sender's arbitration ID;
     only EOIs sent together arbitrate by ID (SDM 10.10). */
  uint32_t n = s->ncpus + s->nioapics, win = APIC_NONE;
  int win_eoi = 0;
  for (uint32_t a = 0; a < n; a++) {
    if (b->head[a] == APIC_NONE) continue;
    int eoi = s->msgs[b->head[a]].m.kind == APIC__MSG_EOI;
    if (win == APIC_NONE || eoi > win_eoi ||
        (eoi == win_eoi && *arb_of(s, a) > *arb_of(s, win))) {
      win = a;
      win_eoi = eoi;
    }
  }
  uint8_t w = *arb_of(s, win);
  uint32_t slot = b->head[win];
  b->head[win] = s->msgs[slot].next_free;
  if (b->head[win] == APIC_NONE) { b->tail[win] = APIC_NONE; b->waiting--; }
  b->current = slot;
  b->current_agent = win;
  b->current_arb = w;
  b->busy_since = s->now;
  const apic__msg *m = &s->msgs[slot].m;
  uint64_t len = (uint64_t)apic__p6_cycles(s, m) * s->cfg.timing.p6_clock_div;
  if (apic__tracing(s)) {
    apic_event ev = {0};
    ev.kind = APIC_EV_MSG_ARB; ev.msg = m->id; ev.cpu = APIC_NONE; ev.vector = m->vector;
    ev.src = m->src; ev.flags = m->from_ioapic ? APIC_EVF_IOAPIC : 0;
    ev.a = w; ev.b = b->waiting;
    apic__emit(s, &ev);
  }
  apic__schedule(s, s->now + len, APIC__EV_BUS, m->src, slot, 0);
}

void apic__p6_post(apic_sim *s, uint32_t slot) {
  const apic__msg *m = &s->msgs[slot].m;
  s->msgs[slot].refs++;  /* held by the bus until it is done with it */
  if (m->kind == APIC__MSG_INTR && !m->from_ioapic) s->cpus[m->src].apic.sends_pending++;
  apic__msg_sent(s, slot, 0);
  enqueue(s, agent_of(s, m), slot, 0);
  arbitrate(s);
}

static void msg_event(apic_sim *s, uint32_t kind, const apic__msg *m, uint32_t a) {
  if (!apic__tracing(s)) return;
  apic_event ev = {0};
  ev.kind = kind; ev.msg = m->id; ev.cpu = APIC_NONE; ev.src = m->src;
  ev.vector = m->vector; ev.mode = m->mode; ev.dest = m->dest; ev.a = a;
  ev.flags = m->from_ioapic ? APIC_EVF_IOAPIC : 0;
  apic__emit(s, &ev);
}

/* End of the message on the bus: status cycles, then delivery or retry. */
void apic__p6_done(apic_sim *s) {
  apic__p6bus *b = &s->p6;
  uint32_t slot = b->current;
  b->current = APIC_NONE;
  s->stats.bus_busy_cycles += s->now - b->busy_since;
  apic__msg m = s->msgs[slot].m;  /* copy: delivery may grow the pool */
  int retry = 0;
  /* Table 10-4: the IDs rotate in status cycle 1 (before the lowest-priority
     tie-break), unless nobody accepted the message (accept error); a
     lowest-priority message rotates them even then (82093AA 3.2.3: "except,
     in the case of low priority messages where Arbitration ID is changed
     even if message was not successfully transmitted"). */
  uint32_t n = m.kind == APIC__MSG_INTR ? apic__dest_resolve(s, &m) : 1;
  int lowest = m.kind == APIC__MSG_INTR && m.mode == APIC_DM_LOWEST;
  if (n || lowest) rotate(s, b->current_agent, b->current_arb);
  if (m.kind == APIC__MSG_INTR && m.mode != APIC_DM_LOWEST) {
    if (m.mode == APIC_DM_FIXED)
      for (uint32_t i = 0; i < n && !retry; i++) {
        const apic__lapic *l = &s->cpus[s->scratch[i]].apic;
        retry = apic__lapic_enabled(l) && m.vector >= 16 && !apic__lapic_has_slot(l, m.vector);
      }
    if (n == 0 && !m.from_ioapic) {  /* SDM 10.5.3: nobody accepted */
      apic__lapic_error(s, &s->cpus[m.src].apic, APIC_ESR_SEND_ACCEPT);
    }
  } else if (m.kind == APIC__MSG_INTR) {
    uint32_t t = apic__dest_lowest(s, &m, s->scratch, n, 1);
    for (uint32_t i = 0; i < n && t == APIC_NONE && !retry; i++)
      retry = apic__lapic_enabled(&s->cpus[s->scratch[i]].apic);  /* no free slot */
    s->msgs[slot].m.target = t;
    if (n == 0 && !m.from_ioapic)  /* item 17: matched no APIC, as for fixed */
      apic__lapic_error(s, &s->cpus[m.src].apic, APIC_ESR_SEND_ACCEPT);
  }
  if (retry) {
    s->msgs[slot].m.retries++;
    s->stats.retries++;
    msg_event(s, APIC_EV_MSG_RETRY, &m, m.retries + 1);
    enqueue(s, agent_of(s, &m), slot, 1);
  } else {
    s->msgs[slot].refs++;
    apic__arrive(s, slot, 3);
    if (m.kind == APIC__MSG_INTR && !m.from_ioapic) {
      s->msgs[slot].refs++;
      apic__left(s, slot);
    }
    apic__msg_unref(s, slot);
  }
  arbitrate(s);
}
