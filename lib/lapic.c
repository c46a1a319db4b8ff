/*
 * lapic.c - local APIC registers, priority logic, IPI sending and receiving.
 *
 * Register page (SDM Table 10-1; x2APIC MSR 0x800 + offset/16, Table 10-6):
 *
 *   off    name        xAPIC  x2APIC    off    name        xAPIC  x2APIC
 *   020    ID          RW*    RO        280    ESR         RW     RW (0 only)
 *   030    VER         RO     RO        2F0    LVT_CMCI    RW     RW
 *   080    TPR         RW     RW        300    ICR_LO      RW     RW (64-bit)
 *   090    APR         RO     -         310    ICR_HI      RW     -
 *   0A0    PPR         RO     RO        320    LVT_TIMER   RW     RW
 *   0B0    EOI         WO     WO (0)    330    LVT_THERMAL RW     RW
 *   0C0    RRD         RO     -         340    LVT_PERF    RW     RW
 *   0D0    LDR         RW     RO        350    LVT_LINT0   RW     RW
 *   0E0    DFR         RW     -         360    LVT_LINT1   RW     RW
 *   0F0    SVR         RW     RW        370    LVT_ERROR   RW     RW
 *   100    ISR0..7     RO     RO        380    TIMER_ICR   RW     RW
 *   180    TMR0..7     RO     RO        390    TIMER_CCR   RO     RO
 *   200    IRR0..7     RO     RO        3E0    TIMER_DCR   RW     RW
 *                                       3F0    SELF_IPI    -      WO
 *
 * Invariants: PPR and APR are never stored, always derived from TPR, ISR
 * and IRR. ICR delivery status is "send pending" exactly while
 * sends_pending > 0, i.e. until the interconnect says the message left.
 * Access checks come first (mode, existence, direction, reserved bits), then
 * a small handler per register from the table below does the work.
 */
#include <stddef.h>
#include <string.h>
#include "lapic.h"
#include "sim.h"
#include "trace_rec.h"

/* Writable bits (SDM figures 10-8, 10-12, 10-18, 10-23). */
#define TPR_WMASK        0xFFu
#define LDR_XAPIC_WMASK  0xFF000000u
#define DFR_WMASK        0xF0000000u
#define SVR_WMASK_BASE   (APIC_SVR_VECTOR_MASK | APIC_SVR_ENABLE | APIC_SVR_FOCUS_OFF)
#define ICR_LO_WMASK     (APIC_ICR_VECTOR_MASK | APIC_ICR_DM_MASK | APIC_ICR_DESTMODE | \
                          APIC_ICR_LEVEL | APIC_ICR_TRIGGER | APIC_ICR_SH_MASK)
#define LVT_TIMER_WMASK  (APIC_LVT_VECTOR_MASK | APIC_LVT_MASKED | APIC_LVT_TIMER_MASK)
#define LVT_DM_WMASK     (APIC_LVT_VECTOR_MASK | APIC_LVT_DM_MASK | APIC_LVT_MASKED)
#define LVT_LINT_WMASK   (LVT_DM_WMASK | APIC_LVT_POLARITY | APIC_LVT_TRIGGER)
#define LVT_ERROR_WMASK  (APIC_LVT_VECTOR_MASK | APIC_LVT_MASKED)
#define SELF_IPI_WMASK   0xFFu
#define LVT_RESET        APIC_LVT_MASKED
#define DFR_RESET        0xFFFFFFFFu
#define SVR_RESET        0xFFu
#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull


static uint32_t bit_of(uint8_t v) { return 1u << (v & 31); }
static int vec_test(const uint32_t r[8], uint8_t v) { return (r[v >> 5] & bit_of(v)) != 0; }
/* sum (may be NULL) keeps one bit per non-zero word, so that the highest
   set vector is two bit scans instead of a loop over eight words. */
static void vec_set(uint32_t r[8], uint8_t *sum, uint8_t v) {
  r[v >> 5] |= bit_of(v);
  if (sum) *sum = (uint8_t)(*sum | (1u << (v >> 5)));
}
static void vec_clear(uint32_t r[8], uint8_t *sum, uint8_t v) {
  r[v >> 5] &= ~bit_of(v);
  if (sum && !r[v >> 5]) *sum = (uint8_t)(*sum & ~(1u << (v >> 5)));
}
static int highest(const uint32_t r[8], uint8_t sum) {
  if (!sum) return -1;
  int i = 31 - __builtin_clz(sum);
  return i * 32 + 31 - __builtin_clz(r[i]);
}

int apic__vec_highest(const uint32_t v[8]) {
  for (int i = 7; i >= 0; i--)
    if (v[i]) return i * 32 + 31 - __builtin_clz(v[i]);
  return -1;
}

int apic__lapic_x2apic(const apic__lapic *l) {
  return (l->base & APIC_BASE_EXTD) != 0;
}

static int globally_enabled(const apic__lapic *l) {
  return (l->base & APIC_BASE_EN) != 0;
}

int apic__lapic_enabled(const apic__lapic *l) {
  return globally_enabled(l) && (l->svr & APIC_SVR_ENABLE);
}

static uint32_t x2apic_ldr(uint32_t id) { /* SDM 10.12.10.2 */
  return ((id >> 4) << 16) | (1u << (id & 0xF));
}

static uint32_t maxlvt(const apic__lapic *l) {
  return (l->version >> APIC_VER_MAXLVT_SHIFT) & 0xFF;
}

/* ---- priority (SDM 10.8.3.1 and 10.6.2.4) ---- */

static uint32_t class_of(int v) { return v < 0 ? 0 : (uint32_t)v & 0xF0; }

static uint32_t ppr_rule(uint32_t tpr, int isrv) {
  uint32_t isrc = class_of(isrv);
  return (tpr & 0xF0) >= isrc ? tpr & 0xFF : isrc;
}

/*
 * APR. The SDM's pseudo-code reads "max(TPR[7:4] AND ISRV[7:4], IRRV[7:4])";
 * taken literally a bitwise AND can be lower than both operands and would
 * make a busy processor win lowest-priority arbitration. We read it as the
 * maximum of the three classes (docs/SDM-CHOICES.md, item 1).
 */
static uint32_t apr_rule(uint32_t tpr, int isrv, int irrv) {
  uint32_t irrc = class_of(irrv), isrc = class_of(isrv), tprc = tpr & 0xF0;
  if (tprc >= irrc && tprc > isrc) return tpr & 0xFF;
  uint32_t m = tprc > isrc ? tprc : isrc;
  return m > irrc ? m : irrc;
}

uint32_t apic__lapic_ppr(const apic__lapic *l) {
  return ppr_rule(l->tpr, highest(l->isr, l->isr_sum));
}

uint32_t apic__lapic_apr(const apic__lapic *l) {
  return apr_rule(l->tpr, highest(l->isr, l->isr_sum), highest(l->irr, l->irr_sum));
}

uint32_t apic__prio_ppr(uint32_t tpr, const uint32_t isr[8]) {
  return ppr_rule(tpr, apic__vec_highest(isr));
}

uint32_t apic__prio_apr(uint32_t tpr, const uint32_t isr[8], const uint32_t irr[8]) {
  return apr_rule(tpr, apic__vec_highest(isr), apic__vec_highest(irr));
}

int apic__lapic_deliverable(const apic__lapic *l) {
  int v = highest(l->irr, l->irr_sum);
  if (v < 0 || !globally_enabled(l)) return -1;
  return ((uint32_t)v & 0xF0) > (apic__lapic_ppr(l) & 0xF0) ? v : -1;
}

/* The events of every delivery (trace_rec.h: out of line on purpose). */
static APIC__NOINLINE void trace_ppr(apic_sim *s, const apic__lapic *l, uint32_t old) {
  uint32_t now = apic__lapic_ppr(l);
  if (now != old) apic__event_inline(s, APIC_EV_PPR, l->cpu, 0, now, old);
}

static APIC__NOINLINE void trace_vector(apic_sim *s, uint32_t kind, const apic__lapic *l,
                                        uint8_t v) {
  apic__event_inline(s, kind, l->cpu, v, 0, 0);
}

static void note_ppr(apic_sim *s, apic__lapic *l, uint32_t old) {
  if (apic__tracing(s)) trace_ppr(s, l, old);
}

int apic__lapic_ack(apic_sim *s, apic__lapic *l) {
  int v = apic__lapic_deliverable(l);
  if (v < 0) return -1;
  uint32_t old = apic__lapic_ppr(l);
  vec_clear(l->irr, &l->irr_sum, (uint8_t)v);
  vec_set(l->isr, &l->isr_sum, (uint8_t)v);
  if (apic__tracing(s)) trace_vector(s, APIC_EV_ACCEPT, l, (uint8_t)v);
  note_ppr(s, l, old);
  return v;
}

int apic__lapic_send_pending(const apic_sim *s, const apic__lapic *l) {
  return l->sends_pending || s->now < l->ds_until;
}

int apic__lapic_has_slot(const apic__lapic *l, uint8_t vector) {
  return !vec_test(l->irr, vector);
}

int apic__lapic_is_focus(const apic__lapic *l, uint8_t vector) {
  if (l->svr & APIC_SVR_FOCUS_OFF) return 0;
  return vec_test(l->irr, vector) || vec_test(l->isr, vector);
}

/* ---- errors (SDM 10.5.3) ---- */

static int set_irr(apic_sim *s, apic__lapic *l, uint8_t v, int level, uint64_t msg);

void apic__lapic_error(apic_sim *s, apic__lapic *l, uint32_t bits) {
  l->esr_pending |= bits;
  s->stats.esr_errors++;
  if (apic__tracing(s)) apic__event(s, APIC_EV_ESR_ERROR, l->cpu, 0, bits, 0);
  uint32_t lvt = l->lvt[APIC__LVT_ERROR];
  /* a masked error issues no interrupt and leaves the trigger armed
     (docs/SDM-CHOICES.md item 29); an issued one disarms it until the next
     ESR write */
  if ((lvt & APIC_LVT_MASKED) || !l->esr_armed) return;
  l->esr_armed = 0;
  uint8_t v = (uint8_t)(lvt & APIC_LVT_VECTOR_MASK);
  if (v < 16) {  /* an illegal error vector logs once, never loops */
    l->esr_pending |= APIC_ESR_RECV_ILLEGAL;
    return;
  }
  set_irr(s, l, v, 0, 0);
}

/* ---- receiving (SDM 10.8.4, 10.6.2, 10.4.7.2) ---- */

static APIC__NOINLINE void trace_irr_set(apic_sim *s, const apic__lapic *l, uint8_t v, int level,
                                         uint64_t msg) {
  const apic_event f = {.cycle = s->now, .kind = APIC_EV_IRR_SET, .cpu = l->cpu,
                             .vector = v, .msg = msg, .src = APIC_NONE, .a = (uint32_t)level};
  apic__emit_inline(s, f);
}

static int set_irr(apic_sim *s, apic__lapic *l, uint8_t v, int level, uint64_t msg) {
  if (vec_test(l->irr, v)) {
    /* docs/SDM-CHOICES.md item 31: a level interrupt merged into a pending
       edge is accepted all the same (its I/O APIC sets remote IRR), so TMR
       says level and the EOI sends the EOI message it waits for; a merged
       edge leaves TMR as it was */
    if (level) vec_set(l->tmr, NULL, v);
    s->stats.coalesced++;
    if (apic__tracing(s)) {
      apic_event ev = {0};
      ev.kind = APIC_EV_IRR_COALESCED; ev.cpu = l->cpu; ev.vector = v; ev.msg = msg;
      ev.src = APIC_NONE;
      ev.a = (uint32_t)(level != 0);
      apic__emit(s, &ev);
    }
    return APIC__RX_COALESCED;
  }
  vec_set(l->irr, &l->irr_sum, v);
  if (level) vec_set(l->tmr, NULL, v); else vec_clear(l->tmr, NULL, v);
  s->stats.deliveries++;
  if (apic__tracing(s)) trace_irr_set(s, l, v, level, msg);
  apic__kick(s, l->cpu);
  return APIC__RX_OK;
}

/* NMI, SMI, INIT, SIPI and ExtINT are inputs to the core, not IRR bits. */
static void latch(apic_sim *s, apic__lapic *l, uint32_t dm, uint8_t vector, uint64_t msg) {
  apic_intr_kind k;
  switch (dm) {
  case APIC_DM_NMI: l->nmi_pending = 1; k = APIC_INTR_NMI; break;
  case APIC_DM_SMI: l->smi_pending = 1; k = APIC_INTR_SMI; break;
  case APIC_DM_INIT: l->init_pending = 1; k = APIC_INTR_INIT; break;
  case APIC_DM_STARTUP:
    l->sipi_pending = 1;
    l->sipi_vector = vector;
    k = APIC_INTR_SIPI;
    break;
  default:
    l->extint_pending = 1;
    l->extint_pin = APIC__EXTINT_MSG;  /* apic__lapic_lint names its pin */
    k = APIC_INTR_EXTINT;
    break;
  }
  if (apic__tracing(s)) {
    apic_event ev = {0};
    ev.kind = APIC_EV_PENDING; ev.cpu = l->cpu; ev.src = APIC_NONE; ev.msg = msg;
    ev.vector = vector; ev.mode = (uint8_t)dm; ev.a = (uint32_t)k;
    apic__emit(s, &ev);
  }
  apic__kick(s, l->cpu);
}

int apic__lapic_receive(apic_sim *s, apic__lapic *l, const apic__msg *m) {
  if (!globally_enabled(l)) return APIC__RX_DROPPED;
  switch (m->mode) {
  case APIC_DM_FIXED:
  case APIC_DM_LOWEST:
    if (!(l->svr & APIC_SVR_ENABLE)) return APIC__RX_DROPPED;
    if (m->vector < 16) {
      apic__lapic_error(s, l, APIC_ESR_RECV_ILLEGAL);
      return APIC__RX_DROPPED;
    }
    if (l->model == APIC_MODEL_P6 && !apic__lapic_has_slot(l, m->vector))
      return APIC__RX_RETRY;  /* P6 holds one per vector in IRR (SDM 10.8.4) */
    return set_irr(s, l, m->vector, m->level_trig, m->id);
  case APIC_DM_INIT:
    if (m->level_trig && !m->assert_) {  /* INIT level de-assert: arb ID sync */
      l->arb_id = (uint8_t)(l->id & 0xF);
      return APIC__RX_OK;
    }
    break;
  case APIC_DM_STARTUP:
    if (!l->wait_sipi || l->sipi_pending) return APIC__RX_DROPPED;
    break;
  case APIC_DM_EXTINT:  /* docs/SDM-CHOICES.md item 10: dropped while disabled */
    if (!(l->svr & APIC_SVR_ENABLE)) return APIC__RX_DROPPED;
    break;
  case APIC_DM_NMI:
  case APIC_DM_SMI:
    break;
  default:
    return APIC__RX_DROPPED;
  }
  s->stats.deliveries++;
  latch(s, l, m->mode, m->vector, m->id);
  return APIC__RX_OK;
}

/* A local interrupt from LVT entry idx, whose value is e (SDM 10.5.1).
   Returns 1 if raised. */
static int raise_entry(apic_sim *s, apic__lapic *l, int idx, uint32_t e, int level) {
  if (e & APIC_LVT_MASKED) return 0;
  uint32_t dm = (e & APIC_LVT_DM_MASK) >> APIC_LVT_DM_SHIFT;
  if (idx == APIC__LVT_TIMER || idx == APIC__LVT_ERROR) dm = APIC_DM_FIXED;
  uint8_t v = (uint8_t)(e & APIC_LVT_VECTOR_MASK);
  switch (dm) {
  case APIC_DM_FIXED:
    if (v < 16) { apic__lapic_error(s, l, APIC_ESR_RECV_ILLEGAL); return 0; }
    set_irr(s, l, v, level, 0);
    return 1;
  case APIC_DM_NMI:
  case APIC_DM_SMI:
  case APIC_DM_INIT:
  case APIC_DM_EXTINT:
    latch(s, l, dm, v, 0);
    return 1;
  default: return 0;  /* reserved delivery modes: nothing happens */
  }
}

static int lvt_raise(apic_sim *s, apic__lapic *l, int idx, int level) {
  return raise_entry(s, l, idx, l->lvt[idx], level);
}

/* SDM 10.4.3: with IA32_APIC_BASE[11] clear the processor "is functionally
   equivalent to an IA-32 processor without an on-chip APIC": LINT0 and LINT1
   are then its INTR and NMI inputs (the processor datasheets), which is what
   an unmasked ExtINT entry and NMI entry make of them. */
#define LINT0_AS_INTR ((uint32_t)APIC_DM_EXTINT << APIC_LVT_DM_SHIFT)
#define LINT1_AS_NMI  ((uint32_t)APIC_DM_NMI << APIC_LVT_DM_SHIFT)

static uint32_t lint_entry(const apic__lapic *l, int pin) {
  if (!globally_enabled(l)) return pin ? LINT1_AS_NMI : LINT0_AS_INTR;
  return l->lvt[pin ? APIC__LVT_LINT1 : APIC__LVT_LINT0];
}

void apic__lapic_lint(apic_sim *s, apic__lapic *l, int pin, int level) {
  int idx = pin ? APIC__LVT_LINT1 : APIC__LVT_LINT0;
  uint32_t e = lint_entry(l, pin);
  int was = l->lint_level[pin] ^ ((e & APIC_LVT_POLARITY) != 0);
  l->lint_level[pin] = (uint8_t)(level != 0);
  int now = l->lint_level[pin] ^ ((e & APIC_LVT_POLARITY) != 0);
  uint32_t dm = (e & APIC_LVT_DM_MASK) >> APIC_LVT_DM_SHIFT;
  int level_trig = (e & APIC_LVT_TRIGGER) && dm == APIC_DM_FIXED;
  if (dm == APIC_DM_EXTINT) {  /* SDM 10.5.1: ExtINT is always level-sensitive */
    if (now && !l->extint_pending) {
      if (raise_entry(s, l, idx, e, 1)) l->extint_pin = (uint8_t)pin;
    } else if (!now && l->extint_pending && l->extint_pin == pin) {
      l->extint_pending = 0;  /* INTR went away before the INTA */
      if (apic__tracing(s)) apic__event(s, APIC_EV_WITHDRAWN, l->cpu, 0, APIC_INTR_EXTINT, 0);
    }
  } else if (level_trig) {  /* SDM 10.5.1: remote IRR holds a level LINT until EOI */
    if (now && !(e & APIC_LVT_REMOTE_IRR) && lvt_raise(s, l, idx, 1))
      l->lvt[idx] |= APIC_LVT_REMOTE_IRR;
  } else if (now && !was) {
    raise_entry(s, l, idx, e, 0);
  }
}

void apic__lapic_extint_ack(apic__lapic *l) {
  /* no request (withdrawn, or an INTA the host sends anyway): extint_pin
     is stale, and the pin it names may be driven for something else */
  if (!l->extint_pending) return;
  l->extint_pending = 0;
  if (l->extint_pin == APIC__EXTINT_MSG) return;
  l->lint_level[l->extint_pin] = (lint_entry(l, l->extint_pin) & APIC_LVT_POLARITY) != 0;  /* inactive */
}

/* ---- timer (SDM 10.5.4) ---- */

static uint64_t tick_of(uint32_t dcr, uint32_t timer_div) {
  uint32_t code = ((dcr >> 1) & 4u) | (dcr & 3u);
  uint64_t div = code == 7 ? 1 : 2ull << code;  /* Figure 10-10 */
  return div * timer_div;
}

static uint64_t timer_tick(const apic_sim *s, const apic__lapic *l) {
  return tick_of(l->timer_dcr, s->cfg.timing.timer_div);
}

static uint32_t timer_mode(const apic__lapic *l) {
  return (l->lvt[APIC__LVT_TIMER] & APIC_LVT_TIMER_MASK) >> APIC_LVT_TIMER_SHIFT;
}

static void timer_arm(apic_sim *s, apic__lapic *l, uint64_t at) {
  l->timer_next = at;
  l->timer_gen++;
  if (apic__tracing(s)) {
    apic_event ev = {0};
    ev.kind = APIC_EV_TIMER_ARM; ev.cpu = l->cpu; ev.src = APIC_NONE; ev.x = at;
    ev.a = l->timer_icr;
    apic__emit(s, &ev);
  }
  apic__timer_changed(s, l->cpu);
}

/* Current count from the expiry cycle alone (SDM 10.5.4): the count drops
   by one every tick and reaches 0 at `next`. Shared with trace readers. */
uint32_t apic__timer_ccr(uint64_t next, uint32_t icr, uint32_t dcr, uint32_t lvt_timer,
                         uint32_t timer_div, uint64_t now) {
  uint32_t mode = (lvt_timer & APIC_LVT_TIMER_MASK) >> APIC_LVT_TIMER_SHIFT;
  if (!next || mode == APIC_TIMER_TSCDEADLINE || now >= next) return 0;
  uint64_t tick = tick_of(dcr, timer_div);
  uint64_t left = (next - now - 1) / tick + 1;  /* rounded up; next - now + tick could wrap */
  return left > icr ? icr : (uint32_t)left;
}

uint32_t apic__lapic_timer_ccr(const apic_sim *s, const apic__lapic *l, uint64_t now) {
  return apic__timer_ccr(l->timer_next, l->timer_icr, l->timer_dcr, l->lvt[APIC__LVT_TIMER],
                         s->cfg.timing.timer_div, now);
}

static void timer_start(apic_sim *s, apic__lapic *l) {
  if (!l->timer_icr) { timer_arm(s, l, 0); return; }
  l->timer_t0 = s->now;
  timer_arm(s, l, s->now + (uint64_t)l->timer_icr * timer_tick(s, l));
}

void apic__lapic_timer_expire(apic_sim *s, apic__lapic *l) {
  uint32_t mode = timer_mode(l);
  int masked = (l->lvt[APIC__LVT_TIMER] & APIC_LVT_MASKED) != 0;
  if (apic__tracing(s)) apic__event(s, APIC_EV_TIMER_FIRE, l->cpu,
      (uint8_t)(l->lvt[APIC__LVT_TIMER] & APIC_LVT_VECTOR_MASK), (uint32_t)masked, mode);
  if (mode == APIC_TIMER_PERIODIC && l->timer_icr) {
    l->timer_t0 = l->timer_next;
    timer_arm(s, l, l->timer_t0 + (uint64_t)l->timer_icr * timer_tick(s, l));
  } else {
    if (mode == APIC_TIMER_TSCDEADLINE) l->tsc_deadline = 0;
    timer_arm(s, l, 0);
  }
  if (masked) {  /* docs/SDM-CHOICES.md item 6: dropped unless the quirk holds it */
    uint32_t e = l->lvt[APIC__LVT_TIMER];
    if (s->cfg.quirks.timer_masked_hold && !(e & APIC_LVT_DS)) {
      l->lvt[APIC__LVT_TIMER] = e | APIC_LVT_DS;
      if (apic__tracing(s))  /* no register write brackets an expiry: say it here */
        apic__event(s, APIC_EV_REG, l->cpu, 0, APIC_REG_LVT_TIMER, e | APIC_LVT_DS);
    }
    return;
  }
  lvt_raise(s, l, APIC__LVT_TIMER, 0);
}

/* ---- sending (SDM 10.6.1, Tables 10-3 and 10-4) ---- */

/* Applies the valid-combination tables; returns 0 if the IPI is not sent. */
static int icr_valid(const apic__lapic *l, uint32_t dm, uint32_t sh, int *level_trig,
                     int assert_) {
  if (dm == 3 || dm == APIC_DM_EXTINT) return 0;  /* reserved in the ICR */
  if (sh == APIC_SH_SELF || sh == APIC_SH_ALL) {
    if (dm != APIC_DM_FIXED) return 0;            /* only fixed to self / all */
  }
  if (dm == APIC_DM_INIT && *level_trig && !assert_) {
    /* INIT level de-assert: P6 only (not on xAPIC, not in x2APIC mode) */
    return l->model == APIC_MODEL_P6 && sh != APIC_SH_SELF;
  }
  if (*level_trig) {
    /* Level-triggered IPIs are sent as edge (note 2 of both tables);
       on P6 a level IPI with the level bit clear is ignored. */
    if (l->model == APIC_MODEL_P6 && !assert_) return 0;
    if (l->model == APIC_MODEL_P6 && (dm == APIC_DM_SMI || dm == APIC_DM_STARTUP))
      return 0;
    *level_trig = 0;
  }
  return 1;
}

static APIC__NOINLINE void trace_icr_write(apic_sim *s, const apic__lapic *l, uint32_t lo,
                                           uint32_t dest, uint64_t msg) {
  uint32_t sh = (lo & APIC_ICR_SH_MASK) >> APIC_ICR_SH_SHIFT;
  const apic_event f = {
      .cycle = s->now, .kind = APIC_EV_ICR_WRITE, .cpu = l->cpu, .src = l->cpu,
      .vector = (uint8_t)(lo & APIC_ICR_VECTOR_MASK),
      .mode = (uint8_t)((lo & APIC_ICR_DM_MASK) >> APIC_ICR_DM_SHIFT), .dest = dest, .a = lo,
      .b = l->icr_hi, .msg = msg,
      .flags = ((lo & APIC_ICR_DESTMODE) ? APIC_EVF_LOGICAL : 0) | (sh << APIC_EVF_SH_SHIFT)};
  apic__emit_inline(s, f);
}

static void send_ipi(apic_sim *s, apic__lapic *l, uint32_t lo, uint32_t dest) {
  uint32_t dm = (lo & APIC_ICR_DM_MASK) >> APIC_ICR_DM_SHIFT;
  uint32_t sh = (lo & APIC_ICR_SH_MASK) >> APIC_ICR_SH_SHIFT;
  uint8_t vec = (uint8_t)(lo & APIC_ICR_VECTOR_MASK);
  int level_trig = (lo & APIC_ICR_TRIGGER) != 0, assert_ = (lo & APIC_ICR_LEVEL) != 0;
  int valid = icr_valid(l, dm, sh, &level_trig, assert_);
  int illegal = (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && vec < 16;
  /* msg: the id the message is about to get, 0 if none */
  if (apic__tracing(s)) trace_icr_write(s, l, lo, dest, valid && !illegal ? s->msg_ids + 1 : 0);
  if (!valid) {
    if (apic__tracing(s)) apic__event(s, APIC_EV_ICR_INVALID, l->cpu, vec, lo, dest);
    return;
  }
  if (illegal) {  /* SDM 10.5.3: not sent; a self IPI is also an illegal
                     vector received "via a self IPI" (ESR bit 6) */
    apic__lapic_error(s, l, APIC_ESR_SEND_ILLEGAL |
                      (sh == APIC_SH_SELF ? APIC_ESR_RECV_ILLEGAL : 0u));
    return;
  }
  apic__msg m;
  memset(&m, 0, sizeof m);
  m.kind = APIC__MSG_INTR;
  m.t_origin = s->now;
  m.src = l->cpu;
  m.dest = dest;
  m.target = APIC_NONE;
  m.vector = vec;
  m.mode = (uint8_t)dm;
  m.shorthand = (uint8_t)sh;
  if (dm == APIC_DM_INIT && level_trig && !assert_)
    m.shorthand = APIC_SH_ALL;  /* INIT de-assert reaches every APIC (SDM 10.6.1, item 14) */
  m.logical = (lo & APIC_ICR_DESTMODE) != 0;
  m.level_trig = (uint8_t)level_trig;
  m.assert_ = (uint8_t)assert_;
  m.x2apic = (uint8_t)apic__lapic_x2apic(l);
  apic__post(s, &m);
}

static void send_eoi_message(apic_sim *s, apic__lapic *l, uint8_t v) {
  apic__msg m;
  memset(&m, 0, sizeof m);
  m.kind = APIC__MSG_EOI;
  m.t_origin = s->now;
  m.src = l->cpu;
  m.target = APIC_NONE;
  m.vector = v;
  if (apic__tracing(s)) apic__event(s, APIC_EV_EOI_MSG, l->cpu, v, 0, 0);
  apic__post(s, &m);
}

static void do_eoi(apic_sim *s, apic__lapic *l) {
  int v = highest(l->isr, l->isr_sum);
  if (v < 0) return;  /* EOI with nothing in service: ignored */
  uint32_t old = apic__lapic_ppr(l);
  vec_clear(l->isr, &l->isr_sum, (uint8_t)v);
  if (apic__tracing(s)) trace_vector(s, APIC_EV_EOI, l, (uint8_t)v);
  note_ppr(s, l, old);
  if (vec_test(l->tmr, (uint8_t)v)) {  /* level-triggered (SDM 10.8.5) */
    for (int i = APIC__LVT_LINT0; i <= APIC__LVT_LINT1; i++)
      if ((l->lvt[i] & APIC_LVT_VECTOR_MASK) == (uint32_t)v && (l->lvt[i] & APIC_LVT_REMOTE_IRR)) {
        l->lvt[i] &= ~APIC_LVT_REMOTE_IRR;
        apic__lapic_lint(s, l, i - APIC__LVT_LINT0, l->lint_level[i - APIC__LVT_LINT0]);
      }
    int suppress = (l->version & APIC_VER_EOI_SUPPRESS) && (l->svr & APIC_SVR_EOI_SUPPRESS);
    if (!suppress) send_eoi_message(s, l, (uint8_t)v);
  }
  apic__kick(s, l->cpu);
}

/* ---- register handlers ---- */

typedef struct acc {
  apic_sim *s;
  apic__lapic *l;
  unsigned i;      /* index within a register group (ISR3 -> 3) */
  int x2;          /* access through the x2APIC MSRs */
} acc;

#define RSVD(a, v, wmask) ((a)->x2 && ((v) & ~(uint64_t)(wmask)))

static uint64_t r_id(acc *a) {
  if (a->x2) return a->l->id;
  uint32_t mask = a->l->model == APIC_MODEL_P6 ? 0xFu : 0xFFu;
  return (uint64_t)(a->l->id & mask) << APIC_ICR_DEST_SHIFT;
}
static int w_id(acc *a, uint64_t v) {
  uint32_t mask = a->l->model == APIC_MODEL_P6 ? 0xFu : 0xFFu;
  a->l->id = (uint32_t)(v >> APIC_ICR_DEST_SHIFT) & mask;
  apic__ids_changed(a->s);
  return APIC_OK;
}
static uint64_t r_ver(acc *a) { return a->l->version; }
static uint64_t r_tpr(acc *a) { return a->l->tpr; }
static int w_tpr(acc *a, uint64_t v) {
  if (RSVD(a, v, TPR_WMASK)) return APIC_GP;
  apic__lapic *l = a->l;
  uint32_t old = l->tpr, oldppr = apic__lapic_ppr(l);
  l->tpr = (uint32_t)v & TPR_WMASK;
  if (apic__tracing(a->s)) apic__event(a->s, APIC_EV_TPR, l->cpu, 0, l->tpr, old);
  note_ppr(a->s, l, oldppr);
  apic__kick(a->s, l->cpu);
  return APIC_OK;
}
static uint64_t r_apr(acc *a) { return apic__lapic_apr(a->l); }
static uint64_t r_ppr(acc *a) { return apic__lapic_ppr(a->l); }
static int w_eoi(acc *a, uint64_t v) {
  if (a->x2 && v) return APIC_GP;  /* SDM Table 10-6: WRMSR of non-zero EOI */
  do_eoi(a->s, a->l);
  return APIC_OK;
}
static uint64_t r_zero(acc *a) { (void)a; return 0; }
static uint64_t r_ldr(acc *a) { return a->l->ldr; }
static int w_ldr(acc *a, uint64_t v) {
  a->l->ldr = (uint32_t)v & LDR_XAPIC_WMASK;
  apic__ids_changed(a->s);
  return APIC_OK;
}
static uint64_t r_dfr(acc *a) { return a->l->dfr | ~DFR_WMASK; }
static int w_dfr(acc *a, uint64_t v) {
  a->l->dfr = ((uint32_t)v & DFR_WMASK) | ~DFR_WMASK;
  apic__ids_changed(a->s);
  return APIC_OK;
}
static uint32_t svr_wmask(const apic__lapic *l) {
  uint32_t m = SVR_WMASK_BASE;
  if (l->version & APIC_VER_EOI_SUPPRESS) m |= APIC_SVR_EOI_SUPPRESS;
  if (l->model == APIC_MODEL_P6) m &= ~0xFu;  /* vector bits 3:0 hardwired to 1 */
  return m;
}
static uint64_t r_svr(acc *a) {
  return a->l->svr | (a->l->model == APIC_MODEL_P6 ? 0xFu : 0u);
}
static int w_svr(acc *a, uint64_t v) {
  apic__lapic *l = a->l;
  uint32_t m = svr_wmask(l);
  if (RSVD(a, v, m | (l->model == APIC_MODEL_P6 ? 0xFu : 0u))) return APIC_GP;
  int was = (l->svr & APIC_SVR_ENABLE) != 0;
  /* P6 vector bits 3:0 are stored as the hardwired ones (SDM 10.9), so the
     spurious vector an INTA returns and apic_lapic_state show them too */
  l->svr = ((uint32_t)v & m) | (l->model == APIC_MODEL_P6 ? 0xFu : 0u);
  if (was && !(l->svr & APIC_SVR_ENABLE))  /* SDM 10.4.7.2: all LVT masked */
    for (int i = 0; i < APIC__LVT_COUNT; i++) l->lvt[i] |= APIC_LVT_MASKED;
  apic__kick(a->s, l->cpu);
  return APIC_OK;
}
static uint64_t r_isr(acc *a) { return a->l->isr[a->i]; }
static uint64_t r_tmr(acc *a) { return a->l->tmr[a->i]; }
static uint64_t r_irr(acc *a) { return a->l->irr[a->i]; }
static uint64_t r_esr(acc *a) { return a->l->esr; }
static int w_esr(acc *a, uint64_t v) {
  if (a->x2 && v) return APIC_GP;
  /* SDM 10.5.3: the write latches errors seen since the previous write and
     "rearms the APIC error interrupt triggering mechanism" */
  a->l->esr = a->l->esr_pending;
  a->l->esr_pending = 0;
  a->l->esr_armed = 1;
  return APIC_OK;
}
static uint64_t r_icr_lo(acc *a) {
  apic__lapic *l = a->l;
  if (a->x2) return ((uint64_t)l->icr_hi << 32) | (l->icr_lo & ~APIC_ICR_DS);
  return (l->icr_lo & ~APIC_ICR_DS) | (apic__lapic_send_pending(a->s, l) ? APIC_ICR_DS : 0);
}
static int w_icr_lo(acc *a, uint64_t v) {
  apic__lapic *l = a->l;
  if (a->x2) {  /* one 64-bit write; bit 12 is ignored (SDM 10.12.9) */
    if ((uint32_t)v & ~(ICR_LO_WMASK | APIC_ICR_DS)) return APIC_GP;
    l->icr_lo = (uint32_t)v & ICR_LO_WMASK;
    l->icr_hi = (uint32_t)(v >> 32);
    send_ipi(a->s, l, l->icr_lo, l->icr_hi);
    return APIC_OK;
  }
  l->icr_lo = (uint32_t)v & ICR_LO_WMASK;
  /* SDM 10.6.1: the 8-bit field; a P6 uses only 59:56 in physical mode
     (dest.c), all 8 bits as the logical MDA. */
  send_ipi(a->s, l, l->icr_lo, (l->icr_hi >> APIC_ICR_DEST_SHIFT) & 0xFFu);
  return APIC_OK;
}
static uint64_t r_icr_hi(acc *a) { return a->l->icr_hi; }
static int w_icr_hi(acc *a, uint64_t v) {
  a->l->icr_hi = (uint32_t)v & 0xFF000000u;  /* destination 63:56 (Figure 10-12) */
  return APIC_OK;
}

static const uint32_t lvt_wmask[APIC__LVT_COUNT] = {
  [APIC__LVT_CMCI] = LVT_DM_WMASK, [APIC__LVT_TIMER] = LVT_TIMER_WMASK,
  [APIC__LVT_THERMAL] = LVT_DM_WMASK, [APIC__LVT_PERF] = LVT_DM_WMASK,
  [APIC__LVT_LINT0] = LVT_LINT_WMASK, [APIC__LVT_LINT1] = LVT_LINT_WMASK,
  [APIC__LVT_ERROR] = LVT_ERROR_WMASK,
};
/* Read-only bits kept by a write: delivery status, remote IRR. */
#define LVT_RO_BITS (APIC_LVT_DS | APIC_LVT_REMOTE_IRR)
/* Read-only (not reserved) bits of each entry (Figure 10-8): an x2APIC write
   that has them set is no reserved-bit #GP (SDM 10.12.1.3), so software can
   read-modify-write an entry; remote IRR exists only in LINT0/LINT1. */
static const uint32_t lvt_ro[APIC__LVT_COUNT] = {
  [APIC__LVT_CMCI] = APIC_LVT_DS, [APIC__LVT_TIMER] = APIC_LVT_DS,
  [APIC__LVT_THERMAL] = APIC_LVT_DS, [APIC__LVT_PERF] = APIC_LVT_DS,
  [APIC__LVT_LINT0] = LVT_RO_BITS, [APIC__LVT_LINT1] = LVT_RO_BITS,
  [APIC__LVT_ERROR] = APIC_LVT_DS,
};

static int lvt_write(acc *a, int idx, uint64_t v) {
  apic__lapic *l = a->l;
  uint32_t m = lvt_wmask[idx];
  if (idx == APIC__LVT_TIMER && l->model == APIC_MODEL_P6)
    m &= ~(2u << APIC_LVT_TIMER_SHIFT);  /* no TSC-deadline mode on P6 */
  if (RSVD(a, v, m | lvt_ro[idx])) return APIC_GP;
  uint32_t old = l->lvt[idx];
  uint32_t nv = ((uint32_t)v & m) | (old & LVT_RO_BITS);
  if (!(l->svr & APIC_SVR_ENABLE)) nv |= APIC_LVT_MASKED;  /* SDM 10.4.7.2 */
  l->lvt[idx] = nv;
  if (idx == APIC__LVT_TIMER) {
    uint32_t om = (old & APIC_LVT_TIMER_MASK) >> APIC_LVT_TIMER_SHIFT;
    uint32_t nm = (nv & APIC_LVT_TIMER_MASK) >> APIC_LVT_TIMER_SHIFT;
    if ((om == APIC_TIMER_TSCDEADLINE) != (nm == APIC_TIMER_TSCDEADLINE)) {
      /* SDM 10.5.4.1: switching to or from TSC-deadline mode disarms */
      l->tsc_deadline = 0;
      l->timer_icr = 0;
      timer_arm(a->s, l, 0);
    }
    if ((nv & APIC_LVT_DS) && !(nv & APIC_LVT_MASKED)) {  /* held expiry */
      l->lvt[idx] &= ~APIC_LVT_DS;
      lvt_raise(a->s, l, idx, 0);
    }
  }
  if ((idx == APIC__LVT_LINT0 || idx == APIC__LVT_LINT1) && !(nv & APIC_LVT_MASKED))
    apic__lapic_lint(a->s, l, idx - APIC__LVT_LINT0, l->lint_level[idx - APIC__LVT_LINT0]);
  return APIC_OK;
}
static uint64_t r_lvt(acc *a, int idx) { return a->l->lvt[idx]; }
#define LVT_HANDLERS(name, idx)                                              \
  static uint64_t r_##name(acc *a) { return r_lvt(a, idx); }                 \
  static int w_##name(acc *a, uint64_t v) { return lvt_write(a, idx, v); }
LVT_HANDLERS(cmci, APIC__LVT_CMCI)
LVT_HANDLERS(timer, APIC__LVT_TIMER)
LVT_HANDLERS(thermal, APIC__LVT_THERMAL)
LVT_HANDLERS(perf, APIC__LVT_PERF)
LVT_HANDLERS(lint0, APIC__LVT_LINT0)
LVT_HANDLERS(lint1, APIC__LVT_LINT1)
LVT_HANDLERS(error, APIC__LVT_ERROR)

static uint64_t r_ticr(acc *a) { return a->l->timer_icr; }
static int w_ticr(acc *a, uint64_t v) {
  if (RSVD(a, v, 0xFFFFFFFFu)) return APIC_GP;
  if (timer_mode(a->l) == APIC_TIMER_TSCDEADLINE) return APIC_OK;  /* ignored */
  a->l->timer_icr = (uint32_t)v;
  timer_start(a->s, a->l);
  return APIC_OK;
}
static uint64_t r_tccr(acc *a) { return apic__lapic_timer_ccr(a->s, a->l, a->s->now); }
static uint64_t r_tdcr(acc *a) { return a->l->timer_dcr; }
static int w_tdcr(acc *a, uint64_t v) {
  if (RSVD(a, v, APIC_DCR_MASK)) return APIC_GP;
  apic__lapic *l = a->l;
  uint32_t left = apic__lapic_timer_ccr(a->s, l, a->s->now);
  l->timer_dcr = (uint32_t)v & APIC_DCR_MASK;
  if (l->timer_next && timer_mode(l) != APIC_TIMER_TSCDEADLINE) {
    /* keep the current count, continue at the new rate */
    uint64_t tick = timer_tick(a->s, l);
    uint64_t next = a->s->now + (uint64_t)left * tick;
    l->timer_t0 = next - (uint64_t)l->timer_icr * tick;
    timer_arm(a->s, l, next);
  }
  return APIC_OK;
}
static int w_self_ipi(acc *a, uint64_t v) {
  if (RSVD(a, v, SELF_IPI_WMASK)) return APIC_GP;
  send_ipi(a->s, a->l, APIC_ICR_LO(v & SELF_IPI_WMASK, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)),
           0);
  return APIC_OK;
}

/* ---- the register table ---- */

typedef struct reg_ops {
  uint64_t (*rd)(acc *a);
  int (*wr)(acc *a, uint64_t v);
  uint8_t min_lvt;  /* register exists only if VER max LVT >= this */
} reg_ops;

#define XA  (APIC__ACC_XAPIC)
#define X2  (APIC__ACC_X2APIC)
#define RW  (APIC__ACC_R | APIC__ACC_W)
#define RO  (APIC__ACC_R)
#define WO  (APIC__ACC_W)

const apic__lapic_reg apic__lapic_regs[] = {
  {"ID",          APIC_REG_ID,          1, RW | XA | X2 | APIC__ACC_X2RO, 0, "10.4.6"},
  {"VER",         APIC_REG_VER,         1, RO | XA | X2, 0, "10.4.8"},
  {"TPR",         APIC_REG_TPR,         1, RW | XA | X2, 0, "10.8.3.1"},
  {"APR",         APIC_REG_APR,         1, RO | XA, 0, "10.6.2.4"},
  {"PPR",         APIC_REG_PPR,         1, RO | XA | X2, 0, "10.8.3.1"},
  {"EOI",         APIC_REG_EOI,         1, WO | XA | X2, 0, "10.8.5"},
  {"RRD",         APIC_REG_RRD,         1, RO | XA, 0, "10.4.1"},
  {"LDR",         APIC_REG_LDR,         1, RW | XA | X2 | APIC__ACC_X2RO, 0, "10.6.2.2"},
  {"DFR",         APIC_REG_DFR,         1, RW | XA, DFR_RESET, "10.6.2.2"},
  {"SVR",         APIC_REG_SVR,         1, RW | XA | X2, SVR_RESET, "10.9"},
  {"ISR",         APIC_REG_ISR0,        8, RO | XA | X2, 0, "10.8.4"},
  {"TMR",         APIC_REG_TMR0,        8, RO | XA | X2, 0, "10.8.4"},
  {"IRR",         APIC_REG_IRR0,        8, RO | XA | X2, 0, "10.8.4"},
  {"ESR",         APIC_REG_ESR,         1, RW | XA | X2, 0, "10.5.3"},
  {"LVT_CMCI",    APIC_REG_LVT_CMCI,    1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"ICR_LO",      APIC_REG_ICR_LO,      1, RW | XA | X2, 0, "10.6.1"},
  {"ICR_HI",      APIC_REG_ICR_HI,      1, RW | XA, 0, "10.6.1"},
  {"LVT_TIMER",   APIC_REG_LVT_TIMER,   1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"LVT_THERMAL", APIC_REG_LVT_THERMAL, 1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"LVT_PERF",    APIC_REG_LVT_PERF,    1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"LVT_LINT0",   APIC_REG_LVT_LINT0,   1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"LVT_LINT1",   APIC_REG_LVT_LINT1,   1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"LVT_ERROR",   APIC_REG_LVT_ERROR,   1, RW | XA | X2, LVT_RESET, "10.5.1"},
  {"TIMER_ICR",   APIC_REG_TIMER_ICR,   1, RW | XA | X2, 0, "10.5.4"},
  {"TIMER_CCR",   APIC_REG_TIMER_CCR,   1, RO | XA | X2, 0, "10.5.4"},
  {"TIMER_DCR",   APIC_REG_TIMER_DCR,   1, RW | XA | X2, 0, "10.5.4"},
  {"SELF_IPI",    APIC_REG_SELF_IPI,    1, WO | X2, 0, "10.12.11"},
};
const unsigned apic__lapic_nregs = sizeof apic__lapic_regs / sizeof apic__lapic_regs[0];

/* Handlers in the same order as apic__lapic_regs. */
static const reg_ops ops[] = {
  {r_id, w_id, 0}, {r_ver, NULL, 0}, {r_tpr, w_tpr, 0}, {r_apr, NULL, 0},
  {r_ppr, NULL, 0}, {NULL, w_eoi, 0}, {r_zero, NULL, 0}, {r_ldr, w_ldr, 0},
  {r_dfr, w_dfr, 0}, {r_svr, w_svr, 0}, {r_isr, NULL, 0}, {r_tmr, NULL, 0},
  {r_irr, NULL, 0}, {r_esr, w_esr, 0}, {r_cmci, w_cmci, 6}, {r_icr_lo, w_icr_lo, 0},
  {r_icr_hi, w_icr_hi, 0}, {r_timer, w_timer, 0}, {r_thermal, w_thermal, 5},
  {r_perf, w_perf, 0}, {r_lint0, w_lint0, 0}, {r_lint1, w_lint1, 0},
  {r_error, w_error, 0}, {r_ticr, w_ticr, 0}, {r_tccr, NULL, 0}, {r_tdcr, w_tdcr, 0},
  {NULL, w_self_ipi, 0},
};
_Static_assert(sizeof ops / sizeof ops[0] ==
               sizeof apic__lapic_regs / sizeof apic__lapic_regs[0],
               "one handler row per register");

/* Binary search by offset; *i receives the index within the group. */
static int reg_index(uint32_t off, unsigned *i) {
  int lo = 0, hi = (int)apic__lapic_nregs - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const apic__lapic_reg *r = &apic__lapic_regs[mid];
    if (off < r->off) hi = mid - 1;
    else if (off >= r->off + r->count * APIC_REG_STRIDE) lo = mid + 1;
    else { *i = (off - r->off) / APIC_REG_STRIDE; return mid; }
  }
  return -1;
}

void apic__lapic_slots(uint8_t slot[APIC_REG_PAGE / APIC_REG_STRIDE]) {
  memset(slot, 0, APIC_REG_PAGE / APIC_REG_STRIDE);
  for (unsigned k = 0; k < apic__lapic_nregs; k++)
    for (unsigned i = 0; i < apic__lapic_regs[k].count; i++)
      slot[apic__lapic_regs[k].off / APIC_REG_STRIDE + i] = (uint8_t)(k + 1);
}

/* O(1) dispatch through the simulation's slot table. */
static int reg_slot(const apic_sim *s, uint32_t off, unsigned *i) {
  unsigned row = off < APIC_REG_PAGE ? s->lapic_slot[off / APIC_REG_STRIDE] : 0;
  if (!row) return -1;
  *i = (off - apic__lapic_regs[row - 1].off) / APIC_REG_STRIDE;
  return (int)row - 1;
}

const apic__lapic_reg *apic__lapic_reg_find(uint32_t off) {
  unsigned i;
  int k = reg_index(off, &i);
  return k < 0 ? NULL : &apic__lapic_regs[k];
}

/* Does register k exist for this APIC in the given mode? */
static int reg_present(const apic__lapic *l, int k, int x2) {
  const apic__lapic_reg *r = &apic__lapic_regs[k];
  if (!(r->access & (x2 ? APIC__ACC_X2APIC : APIC__ACC_XAPIC))) return 0;
  return maxlvt(l) >= ops[k].min_lvt;
}

const char *apic__lapic_unreadable(const apic_sim *s, const apic__lapic *l, uint32_t off) {
  int x2 = apic__lapic_x2apic(l);
  if (!x2 && !globally_enabled(l))
    return "the APIC is globally disabled (IA32_APIC_BASE EN = 0): MMIO reads nothing";
  unsigned i = 0;
  int k = reg_slot(s, off, &i);
  if (k >= 0 && reg_present(l, k, x2) && !ops[k].rd) return "the register is write-only";
  if (k < 0 || !reg_present(l, k, x2))
    return x2 ? "the register does not exist in x2APIC mode (RDMSR raises #GP)"
              : "the register does not exist on this APIC";
  return NULL;
}

int apic__lapic_mmio_read(apic_sim *s, apic__lapic *l, uint32_t off, uint32_t *val) {
  *val = 0;
  if (!globally_enabled(l) || apic__lapic_x2apic(l)) return APIC_OK;  /* MMIO absent */
  unsigned i = 0;
  int k = reg_slot(s, off, &i);
  if (k < 0 || !reg_present(l, k, 0)) {
    apic__lapic_error(s, l, APIC_ESR_ILLEGAL_REG);
    return APIC_OK;
  }
  if (ops[k].rd) {
    acc a = {s, l, i, 0};
    *val = (uint32_t)ops[k].rd(&a);
  }
  return APIC_OK;
}

/*
 * What a trace reader needs to rebuild every register: the stored registers
 * below travel as REG events (a = offset, b = value as in apic_lapic_state),
 * emitted by diffing them around every write and reset. TPR, IRR, ISR and
 * TMR have events of their own.
 */
#define WATCHED_REGS(X)                                                         \
  X(ID, id) X(LDR, ldr) X(DFR, dfr) X(SVR, svr) X(ESR, esr)                      \
  X(LVT_CMCI, lvt[APIC__LVT_CMCI]) X(LVT_TIMER, lvt[APIC__LVT_TIMER])             \
  X(LVT_THERMAL, lvt[APIC__LVT_THERMAL]) X(LVT_PERF, lvt[APIC__LVT_PERF])         \
  X(LVT_LINT0, lvt[APIC__LVT_LINT0]) X(LVT_LINT1, lvt[APIC__LVT_LINT1])           \
  X(LVT_ERROR, lvt[APIC__LVT_ERROR]) X(TIMER_ICR, timer_icr) X(TIMER_DCR, timer_dcr) \
  X(ICR_HI, icr_hi) X(ICR_LO, icr_lo)  /* ICR low as written: delivery status is derived */
enum {
#define X(r, f) W_##r,
  WATCHED_REGS(X)
#undef X
  NWATCHED
};
static const uint16_t watched_off[NWATCHED] = {
#define X(r, f) APIC_REG_##r,
  WATCHED_REGS(X)
#undef X
};
/* Where each one is kept in apic__lapic: a load, not a switch, per register. */
static const uint16_t watched_field[NWATCHED] = {
#define X(r, f) offsetof(apic__lapic, f),
  WATCHED_REGS(X)
#undef X
};
/* Register page slot -> index into watched_off + 1 (0: not watched). */
static const uint8_t watched_slot[APIC_REG_PAGE / APIC_REG_STRIDE] = {
#define X(r, f) [APIC_REG_##r / APIC_REG_STRIDE] = W_##r + 1,
  WATCHED_REGS(X)
#undef X
};
/* The registers a write may change, as indices into watched_off. */
typedef struct watch { uint32_t v[NWATCHED]; uint8_t idx[NWATCHED]; unsigned n; } watch;

static uint32_t watched(const apic__lapic *l, unsigned i) {
  uint32_t v;
  memcpy(&v, (const char *)l + watched_field[i], sizeof v);
  return v;
}

/* Most writes change only the register written (an x2APIC ICR write sets
   both halves); SVR (it masks the LVT) and LVT_TIMER (a mode switch clears
   the count) change others, and resets change everything: off = 0. The
   common case costs one or two registers, not a pass over all of them. */
static inline void watch_begin(const apic_sim *s, const apic__lapic *l, watch *w, uint32_t off) {
  w->n = 0;
  if (!apic__tracing(s)) return;
  if (off == APIC_REG_EOI &&  /* the most frequent write changes none of them */
      !((l->lvt[APIC__LVT_LINT0] | l->lvt[APIC__LVT_LINT1]) & APIC_LVT_REMOTE_IRR))
    return;
  if (off == 0 || off == APIC_REG_SVR || off == APIC_REG_LVT_TIMER) {
    for (unsigned i = 0; i < NWATCHED; i++) w->idx[w->n++] = (uint8_t)i;
  } else {
    if (off == APIC_REG_ICR_LO && apic__lapic_x2apic(l)) w->idx[w->n++] = W_ICR_HI;
    if (off == APIC_REG_EOI) {  /* a level EOI clears a LINT entry's remote IRR */
      w->idx[w->n++] = W_LVT_LINT0;
      w->idx[w->n++] = W_LVT_LINT1;
    }
    unsigned k = off < APIC_REG_PAGE ? watched_slot[off / APIC_REG_STRIDE] : 0;
    if (k) w->idx[w->n++] = (uint8_t)(k - 1);
  }
  for (unsigned k = 0; k < w->n; k++) w->v[k] = watched(l, w->idx[k]);
}

static inline void watch_end(apic_sim *s, const apic__lapic *l, const watch *w) {
  for (unsigned k = 0; k < w->n; k++) {
    uint32_t v = watched(l, w->idx[k]);
    if (v != w->v[k]) apic__event(s, APIC_EV_REG, l->cpu, 0, watched_off[w->idx[k]], v);
  }
}

/* A LINT pin driven by the host: a level entry's remote IRR may change. */
void apic__lapic_set_lint(apic_sim *s, apic__lapic *l, int pin, int level) {
  watch w;
  watch_begin(s, l, &w, pin ? APIC_REG_LVT_LINT1 : APIC_REG_LVT_LINT0);
  apic__lapic_lint(s, l, pin, level);
  watch_end(s, l, &w);
}

int apic__lapic_mmio_write(apic_sim *s, apic__lapic *l, uint32_t off, uint32_t val) {
  if (!globally_enabled(l) || apic__lapic_x2apic(l)) return APIC_OK;
  unsigned i = 0;
  int k = reg_slot(s, off, &i);
  if (k < 0 || !reg_present(l, k, 0)) {
    apic__lapic_error(s, l, APIC_ESR_ILLEGAL_REG);
    return APIC_OK;
  }
  if (ops[k].wr) {  /* writes to read-only registers are ignored */
    acc a = {s, l, i, 0};
    watch w;
    watch_begin(s, l, &w, off);
    ops[k].wr(&a, val);
    watch_end(s, l, &w);
  }
  return APIC_OK;
}

/* ---- IA32_APIC_BASE and mode transitions (SDM 10.12.5, Figure 10-27) ---- */

static void power_up(apic__lapic *l) {
  memset(l->irr, 0, sizeof l->irr);
  memset(l->isr, 0, sizeof l->isr);
  memset(l->tmr, 0, sizeof l->tmr);
  l->irr_sum = l->isr_sum = 0;
  l->tpr = l->icr_lo = l->icr_hi = 0;
  l->ldr = 0;
  l->dfr = DFR_RESET;
  l->svr = SVR_RESET;  /* on P6 bits 3:0 are hardwired ones (SDM 10.9) */
  l->esr = l->esr_pending = 0;
  l->esr_armed = 1;
  for (int i = 0; i < APIC__LVT_COUNT; i++) l->lvt[i] = LVT_RESET;
  l->timer_icr = l->timer_dcr = 0;
  l->tsc_deadline = 0;
  l->nmi_pending = l->smi_pending = l->init_pending = l->extint_pending = 0;
  l->sipi_pending = 0;
}

static void set_mode_regs(apic__lapic *l) {
  if (apic__lapic_x2apic(l)) {
    l->id = l->initial_id;
    l->ldr = x2apic_ldr(l->id);
  }
}

void apic__lapic_init(apic_sim *s, apic__lapic *l, uint32_t cpu, uint32_t id,
                      apic_model model, int x2apic, int bsp) {
  (void)s;
  memset(l, 0, sizeof *l);
  l->cpu = cpu;
  l->model = (uint8_t)model;
  l->id = l->initial_id = id;
  l->arb_id = (uint8_t)(id & 0xF);
  l->version = model == APIC_MODEL_P6 ? APIC__VER_P6 : APIC__VER_XAPIC;
  l->base = APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0) |
            (x2apic ? APIC_BASE_EXTD : 0);
  power_up(l);
  set_mode_regs(l);
}

/* Power-up state, with a RESET event and REG events for what changed. */
static void reset(apic_sim *s, apic__lapic *l, uint32_t id) {
  uint32_t old = apic__lapic_ppr(l);
  watch w;
  watch_begin(s, l, &w, 0);
  power_up(l);
  l->id = id;
  set_mode_regs(l);
  if (apic__tracing(s)) apic__event(s, APIC_EV_RESET, l->cpu, 0, 0, 0);
  watch_end(s, l, &w);
  if (l->timer_next) timer_arm(s, l, 0);
  note_ppr(s, l, old);
  apic__ids_changed(s);
}

void apic__lapic_init_reset(apic_sim *s, apic__lapic *l) {
  reset(s, l, l->id);  /* INIT keeps the APIC ID and arbitration ID (SDM 10.4.7.3) */
}

static int wr_apic_base(apic_sim *s, apic__lapic *l, uint64_t v) {
  uint64_t allowed = APIC_BASE_ADDR_MASK | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP;
  if (v & ~allowed) return APIC_GP;
  int en = (v & APIC_BASE_EN) != 0, x2 = (v & APIC_BASE_EXTD) != 0;
  int old_en = globally_enabled(l), old_x2 = apic__lapic_x2apic(l);
  if (x2 && !en) return APIC_GP;                               /* invalid state */
  if (x2 && l->model == APIC_MODEL_P6) return APIC_GP;         /* no x2APIC */
  if (old_x2 && en && !x2) return APIC_GP;                     /* x2APIC -> xAPIC */
  if (!old_en && x2) return APIC_GP;                           /* disabled -> x2APIC */
  uint64_t old = l->base;
  l->base = (v & ~APIC_BASE_BSP) | (l->base & APIC_BASE_BSP);  /* BSP is read-only */
  if (l->model == APIC_MODEL_P6 && en && !old_en)
    l->base &= ~(uint64_t)APIC_BASE_EN;  /* SDM 10.4.3: P6 stays disabled until reset */
  if (old != l->base && apic__tracing(s)) {
    apic_event ev = {0};
    ev.kind = APIC_EV_APIC_MODE; ev.cpu = l->cpu; ev.src = APIC_NONE; ev.x = l->base;
    ev.a = (uint32_t)old;
    apic__emit(s, &ev);
  }
  if (!en && old_en) {  /* disabling: power-up state, and LINT0 held high is INTR now */
    reset(s, l, l->initial_id);
    for (int pin = 0; pin < 2; pin++) apic__lapic_lint(s, l, pin, l->lint_level[pin]);
  }
  if (x2 && !old_x2) {                 /* xAPIC -> x2APIC: ID and LDR derived */
    watch w;
    watch_begin(s, l, &w, 0);
    set_mode_regs(l);
    watch_end(s, l, &w);
  }
  if (old != l->base) apic__ids_changed(s);
  return APIC_OK;
}

static int wr_tsc_deadline(apic_sim *s, apic__lapic *l, uint64_t v) {
  if (timer_mode(l) != APIC_TIMER_TSCDEADLINE) return APIC_OK;  /* ignored */
  l->tsc_deadline = v;
  timer_arm(s, l, v == 0 ? 0 : (v > s->now ? v : s->now));     /* past: fires now */
  return APIC_OK;
}

int apic__lapic_rdmsr(apic_sim *s, apic__lapic *l, uint32_t msr, uint64_t *val) {
  *val = 0;
  if (msr == APIC_MSR_APIC_BASE) { *val = l->base; return APIC_OK; }
  if (msr == APIC_MSR_TSC_DEADLINE) {
    if (l->model == APIC_MODEL_P6) return APIC_GP;
    *val = timer_mode(l) == APIC_TIMER_TSCDEADLINE ? l->tsc_deadline : 0;
    return APIC_OK;
  }
  if (msr < APIC_MSR_X2APIC_BASE || msr > APIC_MSR_X2APIC_LAST) return APIC_GP;
  if (!apic__lapic_x2apic(l)) return APIC_GP;  /* SDM 10.12.1.2 */
  unsigned i = 0;
  int k = reg_slot(s, (msr - APIC_MSR_X2APIC_BASE) << 4, &i);
  if (k < 0 || !reg_present(l, k, 1) || !ops[k].rd) return APIC_GP;
  acc a = {s, l, i, 1};
  *val = ops[k].rd(&a);
  return APIC_OK;
}

int apic__lapic_wrmsr(apic_sim *s, apic__lapic *l, uint32_t msr, uint64_t val) {
  if (msr == APIC_MSR_APIC_BASE) return wr_apic_base(s, l, val);
  if (msr == APIC_MSR_TSC_DEADLINE) {
    if (l->model == APIC_MODEL_P6) return APIC_GP;
    return wr_tsc_deadline(s, l, val);
  }
  if (msr < APIC_MSR_X2APIC_BASE || msr > APIC_MSR_X2APIC_LAST) return APIC_GP;
  if (!apic__lapic_x2apic(l)) return APIC_GP;
  unsigned i = 0;
  uint32_t off = (msr - APIC_MSR_X2APIC_BASE) << 4;
  int k = reg_slot(s, off, &i);
  if (k < 0 || !reg_present(l, k, 1) || !ops[k].wr) return APIC_GP;
  if (apic__lapic_regs[k].access & APIC__ACC_X2RO) return APIC_GP;
  if (off != APIC_REG_ICR_LO && (val >> 32)) return APIC_GP;  /* upper half reserved */
  acc a = {s, l, i, 1};
  watch w;
  watch_begin(s, l, &w, off);
  int rc = ops[k].wr(&a, val);
  watch_end(s, l, &w);
  return rc;
}
