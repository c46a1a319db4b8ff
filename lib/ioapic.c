/*
 * ioapic.c - the 82093AA I/O APIC (datasheet 82093AA, section 3).
 *
 * Each input pin carries a raw electrical level; the redirection entry (RTE)
 * of the pin says how that level becomes an interrupt message. A pin is
 * "asserted" when level XOR polarity (RTE bit 13, 1 = active low) is 1.
 * Messages go to the engine with apic__post(); the engine answers with
 * apic__ioapic_delivered() (message accepted or not) and apic__ioapic_eoi()
 * (EOI message or EOIR write). One rule, ioapic_eval(), decides whether a pin
 * sends; every state change that may enable a send calls it.
 *
 * Invariants: delivery status (RTE bit 12) is set exactly while a message of
 * the pin is on its way (between apic__post and apic__ioapic_delivered);
 * remote IRR (bit 14) is set only on an entry that is level-triggered, from
 * its acceptance until a matching EOI. Software never writes either bit.
 *
 * Register map (3.1 direct, memory mapped; 3.2 indirect, through IOREGSEL):
 *
 *   direct   0x00 IOREGSEL  bits 7:0 = index of the indirect register (R/W)
 *            0x10 IOWIN     data of the register IOREGSEL selects (R/W)
 *            0x40 EOIR      version 0x20 only: write vector, clears remote IRR
 *
 *   indirect 0x00 ID        bits 27:24 I/O APIC ID (R/W)           3.2.1
 *            0x01 VER       bits 23:16 max redirection entry,      3.2.2
 *                           bits 7:0 version (RO)
 *            0x02 ARB       bits 27:24 arbitration ID (RO)         3.2.3
 *            0x10+2n        REDTBL[n] bits 31:0                    3.2.4
 *            0x11+2n        REDTBL[n] bits 63:32
 *
 *   REDTBL[n]: 63:56 destination | 55:17 reserved | 16 mask | 15 trigger
 *              (1 = level) | 14 remote IRR (RO) | 13 polarity (1 = low)
 *              | 12 delivery status (RO) | 11 dest mode (1 = logical)
 *              | 10:8 delivery mode | 7:0 vector
 */
#include "sim.h"

/* Fields regs.h does not name yet (82093AA 3.1.1, 3.2.1-3.2.4). */
#define APIC__IOAPIC_REGSEL_MASK   0xFFu            /* IOREGSEL bits 7:0 */
#define APIC__IOAPIC_ID_SHIFT      24               /* ID and ARB bits 27:24 */
#define APIC__IOAPIC_ID_MASK       (0xFu << APIC__IOAPIC_ID_SHIFT)
#define APIC__IOAPIC_VER_MRE_SHIFT 16               /* max redirection entry */
#define APIC__IOAPIC_VER_MRE_MASK  (0xFFu << APIC__IOAPIC_VER_MRE_SHIFT)
#define APIC__IOAPIC_VER_VERSION_MASK 0xFFu
#define APIC__RTE_HIGH_SHIFT       32               /* high dword of an entry */
#define APIC__RTE_DEST_MASK        (0xFFull << APIC_RTE_DEST_SHIFT)
/* Bits software may write in the low dword: all but 12, 14 and 31:17. */
#define APIC__RTE_LOW_RW \
  (APIC_RTE_VECTOR_MASK | APIC_RTE_DM_MASK | APIC_RTE_DESTMODE | \
   APIC_RTE_POLARITY | APIC_RTE_TRIGGER | APIC_RTE_MASKED)

/* ---- small helpers ---- */

/* I/O APIC events carry src = I/O APIC index and APIC_EVF_IOAPIC. */
static void ioapic_event(apic_sim *s, const apic__ioapic *io, uint32_t kind,
                         uint32_t pin, uint32_t b) {
  if (!apic__tracing(s)) return;
  apic_event ev = {0};
  ev.kind = kind;
  ev.cpu = APIC_NONE;
  ev.src = io->index;
  ev.flags = APIC_EVF_IOAPIC;
  ev.vector = (uint8_t)(io->rte[pin] & APIC_RTE_VECTOR_MASK);
  ev.a = pin;
  ev.b = b;
  ev.x = io->rte[pin];  /* the whole entry after the change, for trace readers */
  apic__emit(s, &ev);
}

static uint32_t rte_mode(uint64_t rte) {
  return (uint32_t)((rte & APIC_RTE_DM_MASK) >> APIC_RTE_DM_SHIFT);
}

/*
 * Is the entry level-triggered in effect? 3.2.4 bits 10:8: NMI and INIT are
 * "treated as edge triggered" even when programmed level, and SMI and ExtINT
 * "require" edge. Decision: only fixed and lowest priority honour the trigger
 * bit; the other modes never set remote IRR (no EOI would ever clear it).
 */
static int rte_level(uint64_t rte) {
  uint32_t dm = rte_mode(rte);
  return (rte & APIC_RTE_TRIGGER) && (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST);
}

/*
 * Delivery modes the 82093AA can send (3.2.4 bits 10:8). 011 is reserved and
 * 110 (start-up on the local APIC) is reserved here too. Decision: an entry
 * programmed with one of them sends nothing and its delivery status stays
 * idle, as if it were masked.
 */
static int rte_mode_valid(uint64_t rte) {
  switch (rte_mode(rte)) {
    case APIC_DM_FIXED: case APIC_DM_LOWEST: case APIC_DM_SMI:
    case APIC_DM_NMI: case APIC_DM_INIT: case APIC_DM_EXTINT:
      return 1;
    default:
      return 0;
  }
}

/* Level XOR polarity (3.2.4 bit 13: 0 = high active, 1 = low active). */
static int pin_asserted(const apic__ioapic *io, uint32_t pin) {
  int active_low = (io->rte[pin] & APIC_RTE_POLARITY) != 0;
  return (io->level[pin] != 0) != active_low;
}

/* ---- sending ---- */

static void ioapic_send(apic_sim *s, apic__ioapic *io, uint32_t pin) {
  uint64_t r = io->rte[pin];
  if (!rte_mode_valid(r)) return;
  /* 3.2.4 bit 12: "send pending" until the engine reports the outcome. */
  io->rte[pin] = r | APIC_RTE_DS;
  apic__msg m = {0};
  m.kind = APIC__MSG_INTR;
  m.t_origin = s->now;
  m.src = io->index;
  m.dest = (uint32_t)((r & APIC__RTE_DEST_MASK) >> APIC_RTE_DEST_SHIFT);
  m.target = APIC_NONE;
  m.pin = (uint16_t)pin;
  m.vector = (uint8_t)(r & APIC_RTE_VECTOR_MASK);
  m.mode = (uint8_t)rte_mode(r);
  m.shorthand = APIC_SH_NONE;
  m.logical = (r & APIC_RTE_DESTMODE) ? 1 : 0;
  m.level_trig = (uint8_t)rte_level(r);
  m.assert_ = 1;
  m.from_ioapic = 1;
  apic__post(s, &m);
}

/*
 * The one sending rule (3.2.4 bits 16, 15, 14, 12):
 *  - masked: nothing; a masked edge is lost, not held pending (bit 16);
 *  - a message of the pin already on its way (delivery status): nothing;
 *    an edge in that window merges with the message under way;
 *  - edge-triggered: sends on an inactive->active transition (edge != 0);
 *  - level-triggered: sends while asserted and remote IRR is clear, so an
 *    unmask, an EOI or a rejected message lets a still-asserted line resend.
 */
static void ioapic_eval(apic_sim *s, apic__ioapic *io, uint32_t pin, int edge) {
  uint64_t r = io->rte[pin];
  if (r & (APIC_RTE_MASKED | APIC_RTE_DS)) return;
  if (rte_level(r)) {
    if (!pin_asserted(io, pin) || (r & APIC_RTE_REMOTE_IRR)) return;
  } else if (!edge) {
    return;
  }
  ioapic_send(s, io, pin);
}

/*
 * Stores the writable bits of val selected by wmask, keeping delivery status
 * and remote IRR (3.2.4: read only) and the reserved bits.
 * Decision: when the entry ends up edge-triggered, remote IRR is cleared.
 * The datasheet calls the bit undefined for edge entries; real parts clear
 * it, and Linux relies on that to recover a stuck level pin on I/O APICs
 * without EOIR (mask, switch to edge, switch back to level).
 */
static void rte_store(apic_sim *s, apic__ioapic *io, uint32_t pin, uint64_t val,
                      uint64_t wmask) {
  io->rte[pin] = (io->rte[pin] & ~wmask) | (val & wmask);
  if ((io->rte[pin] & APIC_RTE_REMOTE_IRR) && !(io->rte[pin] & APIC_RTE_TRIGGER)) {
    io->rte[pin] &= ~APIC_RTE_REMOTE_IRR;
    ioapic_event(s, io, APIC_EV_REMOTE_IRR_CLR, pin, 0);
  }
  ioapic_event(s, io, APIC_EV_RTE_WRITE, pin, (uint32_t)io->rte[pin]);
  ioapic_eval(s, io, pin, 0); /* no edge: a write makes no transition */
}

/* ---- indirect registers (3.2) ---- */

/* REDTBL index -> pin; returns 0 if idx is no implemented entry. */
static int redtbl_pin(const apic__ioapic *io, uint32_t idx, uint32_t *pin,
                      int *high) {
  if (idx < APIC_IOAPIC_REDTBL) return 0;
  uint32_t n = (idx - APIC_IOAPIC_REDTBL) / 2;
  if (n >= io->pins) return 0;
  *pin = n;
  *high = (int)((idx - APIC_IOAPIC_REDTBL) & 1u);
  return 1;
}

static uint32_t indirect_read(const apic__ioapic *io, uint32_t idx) {
  uint32_t pin;
  int high;
  if (idx == APIC_IOAPIC_ID)
    return ((uint32_t)io->id << APIC__IOAPIC_ID_SHIFT) & APIC__IOAPIC_ID_MASK;
  if (idx == APIC_IOAPIC_VER) {
    uint32_t mre = io->pins ? io->pins - 1 : 0;
    return ((mre << APIC__IOAPIC_VER_MRE_SHIFT) & APIC__IOAPIC_VER_MRE_MASK) |
           (io->version & APIC__IOAPIC_VER_VERSION_MASK);
  }
  if (idx == APIC_IOAPIC_ARB)
    return ((uint32_t)io->arb_id << APIC__IOAPIC_ID_SHIFT) & APIC__IOAPIC_ID_MASK;
  if (redtbl_pin(io, idx, &pin, &high))
    return (uint32_t)(high ? io->rte[pin] >> APIC__RTE_HIGH_SHIFT : io->rte[pin]);
  return 0; /* unimplemented index: reads 0 */
}

static void indirect_write(apic_sim *s, apic__ioapic *io, uint32_t idx,
                           uint32_t val) {
  uint32_t pin;
  int high;
  if (idx == APIC_IOAPIC_ID) {
    /* 3.2.1: the arbitration ID is loaded with the same data. */
    io->id = (uint8_t)((val & APIC__IOAPIC_ID_MASK) >> APIC__IOAPIC_ID_SHIFT);
    io->arb_id = io->id;
  } else if (redtbl_pin(io, idx, &pin, &high)) {
    if (high)
      rte_store(s, io, pin, (uint64_t)val << APIC__RTE_HIGH_SHIFT, APIC__RTE_DEST_MASK);
    else
      rte_store(s, io, pin, val, APIC__RTE_LOW_RW);
  }
  /* VER and ARB are read only (3.2.2, 3.2.3); other indices: ignored. */
}

/* ---- interface (ioapic.h) ---- */

void apic__ioapic_init(apic__ioapic *io, uint32_t index, uint32_t pins,
                       uint8_t version, uint8_t id, uint64_t *rte, uint8_t *level) {
  io->index = index;
  io->pins = pins;
  io->version = version;
  io->id = id;
  io->arb_id = id;
  io->regsel = 0;
  io->rte = rte;
  io->level = level;
  /* 3.2.4: entries reset masked, other fields undefined; we make them 0. */
  for (uint32_t i = 0; i < pins; i++) {
    rte[i] = APIC_RTE_MASKED;
    level[i] = 0;
  }
}

/* Direct registers (3.1); EOIR exists only in version 0x20 parts. */
static int direct_valid(const apic__ioapic *io, uint32_t off) {
  return off == APIC_IOAPIC_IOREGSEL || off == APIC_IOAPIC_IOWIN ||
         (off == APIC_IOAPIC_EOIR && io->version == APIC_IOAPIC_VERSION_EOI);
}

int apic__ioapic_read(apic_sim *s, apic__ioapic *io, uint32_t off, uint32_t *val) {
  if (!direct_valid(io, off))
    return apic__fail(s, APIC_E_REG, "I/O APIC %u: no register at offset 0x%x",
                      io->index, off);
  if (off == APIC_IOAPIC_IOREGSEL)
    *val = io->regsel;
  else if (off == APIC_IOAPIC_IOWIN)
    *val = indirect_read(io, io->regsel);
  else
    *val = 0; /* EOIR is write only: decision, reads give 0 */
  return APIC_OK;
}

int apic__ioapic_write(apic_sim *s, apic__ioapic *io, uint32_t off, uint32_t val) {
  if (!direct_valid(io, off))
    return apic__fail(s, APIC_E_REG, "I/O APIC %u: no register at offset 0x%x",
                      io->index, off);
  if (off == APIC_IOAPIC_IOREGSEL)
    io->regsel = (uint8_t)(val & APIC__IOAPIC_REGSEL_MASK); /* 3.1.1: 31:8 reserved */
  else if (off == APIC_IOAPIC_IOWIN)
    indirect_write(s, io, io->regsel, val);
  else /* EOIR (version 0x20, ICH/PCH I/O APIC): bits 7:0 = vector */
    apic__ioapic_eoi(s, io, (uint8_t)(val & APIC_RTE_VECTOR_MASK));
  return APIC_OK;
}

void apic__ioapic_rte_write(apic_sim *s, apic__ioapic *io, uint32_t pin, uint64_t rte) {
  if (pin >= io->pins) return;
  rte_store(s, io, pin, rte, APIC__RTE_LOW_RW | APIC__RTE_DEST_MASK);
}

void apic__ioapic_set_pin(apic_sim *s, apic__ioapic *io, uint32_t pin, int level) {
  if (pin >= io->pins) return;
  uint8_t lvl = level ? 1 : 0;
  if (io->level[pin] == lvl) return;
  int was = pin_asserted(io, pin);
  io->level[pin] = lvl;
  ioapic_event(s, io, APIC_EV_PIN, pin, lvl);
  ioapic_eval(s, io, pin, !was && pin_asserted(io, pin));
}

/*
 * 3.2.3: the ARB register is loaded from the ID on an ID write and, like the
 * local APICs' (SDM 10.4.7.4), "is always loaded with APIC ID during a
 * 'level triggered INIT with deassert' message" (the same register as
 * described in Intel's I/O(x)APIC datasheets, e.g. 82870P2 3.4.3.3).
 */
void apic__ioapic_init_deassert(apic__ioapic *io) { io->arb_id = io->id; }

/*
 * 3.2.4 bit 14: remote IRR "is set to 1 when local APIC(s) accept the level
 * interrupt". A message no APIC accepted leaves it clear; decision: the pin
 * is not re-sent at once (that could loop with no taker), but the next pin
 * change, RTE write or EOI re-evaluates it.
 */
void apic__ioapic_delivered(apic_sim *s, apic__ioapic *io, uint32_t pin, int accepted) {
  if (pin >= io->pins) return;
  io->rte[pin] &= ~APIC_RTE_DS;
  if (accepted && rte_level(io->rte[pin])) {
    io->rte[pin] |= APIC_RTE_REMOTE_IRR;
    ioapic_event(s, io, APIC_EV_REMOTE_IRR_SET, pin, 0);
  }
}

/*
 * 3.2.4 bit 14: remote IRR "is set to 0 when an EOI message with a matching
 * interrupt vector is received". Decision: the first matching EOI clears it,
 * even if the interrupt went to several logical destinations. Every entry
 * with that vector and remote IRR set is cleared (shared vectors), and a line
 * still asserted and unmasked sends again (level interrupts repeat).
 */
void apic__ioapic_eoi(apic_sim *s, apic__ioapic *io, uint8_t vector) {
  for (uint32_t pin = 0; pin < io->pins; pin++) {
    uint64_t r = io->rte[pin];
    if (!(r & APIC_RTE_REMOTE_IRR) || (r & APIC_RTE_VECTOR_MASK) != vector) continue;
    io->rte[pin] = r & ~APIC_RTE_REMOTE_IRR;
    ioapic_event(s, io, APIC_EV_REMOTE_IRR_CLR, pin, 0);
    ioapic_eval(s, io, pin, 0);
  }
}
