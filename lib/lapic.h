/*
 * lapic.h - the local APIC register model (private).
 *
 * Pure state plus the rules of the SDM: given an access or an arriving
 * message, it updates the state and hands outgoing messages and state-change
 * events to the engine (sink functions in sim.h). It keeps no clock of its
 * own: callers pass the current cycle where a rule needs it (timer count).
 */
#ifndef APICSIM_LAPIC_H
#define APICSIM_LAPIC_H

#include <stdint.h>
#include "apicsim/apicsim.h"
#include "msg.h"

/* Version register values per generation (SDM 10.4.8). */
#define APIC__VER_P6    (0x10u | (4u << APIC_VER_MAXLVT_SHIFT))  /* 5 LVT entries */
#define APIC__VER_XAPIC (0x15u | (6u << APIC_VER_MAXLVT_SHIFT) | APIC_VER_EOI_SUPPRESS)

enum {  /* index of each LVT entry in apic__lapic.lvt */
  APIC__LVT_CMCI, APIC__LVT_TIMER, APIC__LVT_THERMAL, APIC__LVT_PERF,
  APIC__LVT_LINT0, APIC__LVT_LINT1, APIC__LVT_ERROR, APIC__LVT_COUNT
};

typedef struct apic__lapic {
  uint32_t cpu;          /* index of the core that owns this APIC */
  uint32_t id;           /* APIC ID: x2APIC ID, or the xAPIC ID value (not shifted) */
  uint32_t initial_id;   /* restored by a reset to x2APIC/power-up */
  uint64_t base;         /* IA32_APIC_BASE */
  uint32_t version;      /* VER register value */
  uint32_t tpr, ldr, dfr, svr;
  uint32_t esr;          /* value software reads */
  uint32_t esr_pending;  /* errors since the last ESR write */
  uint8_t esr_armed;     /* the next error may raise the LVT error interrupt:
                            set by reset and ESR writes, cleared when one is
                            raised (SDM 10.5.3 "rearms") */
  uint32_t lvt[APIC__LVT_COUNT];
  uint32_t icr_lo, icr_hi;
  uint32_t irr[8], isr[8], tmr[8];
  uint8_t irr_sum, isr_sum; /* bit i set iff irr[i] / isr[i] is non-zero */
  uint32_t sends_pending;/* p6: messages queued on the bus, not yet left */
  uint64_t ds_until;     /* xapic/mesh: the last posted message leaves then */
  /* timer (SDM 10.5.4) */
  uint32_t timer_icr, timer_dcr;
  uint64_t timer_t0;     /* cycle the current count period started */
  uint64_t timer_next;   /* absolute expiry cycle, 0 = disarmed */
  uint64_t tsc_deadline; /* IA32_TSC_DEADLINE as software wrote it */
  uint32_t timer_gen;    /* invalidates stale timer events */
  /* inputs to the core besides IRR */
  uint8_t nmi_pending, smi_pending, init_pending, extint_pending;
  uint8_t sipi_pending, sipi_vector, wait_sipi;
  uint8_t arb_id;        /* p6 bus arbitration ID (SDM 10.7) */
  uint8_t lint_level[2]; /* raw LINT0/LINT1 input levels */
  uint8_t extint_pin;    /* the LINT pin whose level holds extint_pending,
                            or APIC__EXTINT_MSG: a message latched it */
  uint8_t model;         /* apic_model */
} apic__lapic;

#define APIC__EXTINT_MSG 0xFF

/* Receive outcomes of apic__lapic_receive. */
enum {
  APIC__RX_OK = 0,        /* latched (IRR set, NMI pending...) */
  APIC__RX_COALESCED = 1, /* vector already in IRR: merged (xAPIC) */
  APIC__RX_RETRY = 2,     /* no free slot: P6 rejects, sender retries */
  APIC__RX_DROPPED = 3    /* ignored (disabled, illegal vector, SIPI not waited for) */
};

void apic__lapic_init(apic_sim *s, apic__lapic *l, uint32_t cpu, uint32_t id,
                      apic_model model, int x2apic, int bsp);
/* INIT reset (SDM 10.4.7.3): everything but the ID and APIC base. */
void apic__lapic_init_reset(apic_sim *s, apic__lapic *l);

int apic__lapic_mmio_read(apic_sim *s, apic__lapic *l, uint32_t off, uint32_t *val);
int apic__lapic_mmio_write(apic_sim *s, apic__lapic *l, uint32_t off, uint32_t val);
int apic__lapic_rdmsr(apic_sim *s, apic__lapic *l, uint32_t msr, uint64_t *val);
int apic__lapic_wrmsr(apic_sim *s, apic__lapic *l, uint32_t msr, uint64_t val);
/* Why the core's own read of the register at xAPIC offset off would give
   nothing in the APIC's current mode (MMIO not decoded, a register absent in
   this mode, write-only), or NULL when it reads a value. Changes nothing:
   an MMIO read of an absent register would log an ESR error. */
const char *apic__lapic_unreadable(const apic_sim *s, const apic__lapic *l, uint32_t off);

/* Priority logic (SDM 10.8.3.1, 10.6.2.4). Highest set vector or -1. */
int apic__vec_highest(const uint32_t v[8]);
uint32_t apic__lapic_ppr(const apic__lapic *l);
uint32_t apic__lapic_apr(const apic__lapic *l);
/* Highest IRR vector whose class is above PPR, or -1. */
int apic__lapic_deliverable(const apic__lapic *l);
/* INTA: moves the deliverable vector from IRR to ISR; returns it or -1. */
int apic__lapic_ack(apic_sim *s, apic__lapic *l);

int apic__lapic_enabled(const apic__lapic *l);     /* global and software enable */
int apic__lapic_x2apic(const apic__lapic *l);
/* Would a fixed/lowest-priority message for vector find a free slot? */
int apic__lapic_has_slot(const apic__lapic *l, uint8_t vector);
/* Is this APIC the focus of vector (SDM 10.6.2.4)? */
int apic__lapic_is_focus(const apic__lapic *l, uint8_t vector);
/* Accepts a message addressed to this APIC. */
int apic__lapic_receive(apic_sim *s, apic__lapic *l, const apic__msg *m);

/* Timer expiry (engine calls it at timer_next). */
void apic__lapic_timer_expire(apic_sim *s, apic__lapic *l);
uint32_t apic__lapic_timer_ccr(const apic_sim *s, const apic__lapic *l, uint64_t now);
uint32_t apic__timer_ccr(uint64_t next, uint32_t icr, uint32_t dcr, uint32_t lvt_timer,
                         uint32_t timer_div, uint64_t now);
/* PPR and APR from register values (SDM 10.8.3.1, 10.6.2.4). */
uint32_t apic__prio_ppr(uint32_t tpr, const uint32_t isr[8]);
uint32_t apic__prio_apr(uint32_t tpr, const uint32_t isr[8], const uint32_t irr[8]);
/* LINT0/LINT1 input pin level change. */
void apic__lapic_lint(apic_sim *s, apic__lapic *l, int pin, int level);
/* The same from the host, with a REG event when the entry's remote IRR moves. */
void apic__lapic_set_lint(apic_sim *s, apic__lapic *l, int pin, int level);
/* INTA of a pending ExtINT: the 8259A stand-in answers (the caller supplies
   config.extint_vector) and, like an 8259A with one request, drops INTR:
   a LINT pin that raised it reads inactive until the host raises it again.
   Without a pending ExtINT it changes nothing. */
void apic__lapic_extint_ack(apic__lapic *l);
/* Sets ESR bits and raises the LVT error interrupt (SDM 10.5.3). */
void apic__lapic_error(apic_sim *s, apic__lapic *l, uint32_t bits);

/* Register table entry: the one place names, offsets and masks live. */
typedef struct apic__lapic_reg {
  const char *name;
  uint16_t off;       /* xAPIC offset of the first register of the group */
  uint8_t count;      /* registers in the group (ISR0..7 = 8) */
  uint8_t access;     /* APIC__ACC_* */
  uint32_t reset;     /* value after power-up */
  const char *sdm;    /* section that defines it */
} apic__lapic_reg;

#define APIC__ACC_R       0x01u
#define APIC__ACC_W       0x02u
#define APIC__ACC_XAPIC   0x04u /* exists in xAPIC mode */
#define APIC__ACC_X2APIC  0x08u /* exists in x2APIC mode */
#define APIC__ACC_X2RO    0x10u /* read-only in x2APIC mode */

const apic__lapic_reg *apic__lapic_reg_find(uint32_t off);
/* Fills slot[off / 16] with 1 + the table row of each register (0 = none). */
void apic__lapic_slots(uint8_t slot[APIC_REG_PAGE / APIC_REG_STRIDE]);
/* ICR delivery status: send pending (SDM 10.6.1). */
int apic__lapic_send_pending(const apic_sim *s, const apic__lapic *l);
extern const apic__lapic_reg apic__lapic_regs[];
extern const unsigned apic__lapic_nregs;

#endif
