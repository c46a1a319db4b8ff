/*
 * ioapic.h - the 82093AA I/O APIC model (private).
 *
 * Pure state plus the datasheet's rules. Outgoing interrupt messages are
 * handed to the engine with apic__post(); the engine reports back with
 * apic__ioapic_delivered() when a message from a pin was accepted (or
 * found no taker), and with apic__ioapic_eoi() when an EOI message arrives.
 */
#ifndef APICSIM_IOAPIC_H
#define APICSIM_IOAPIC_H

#include <stdint.h>
#include "apicsim/apicsim.h"

typedef struct apic__ioapic {
  uint32_t index;     /* which I/O APIC of the machine */
  uint32_t pins;      /* redirection entries, 1..APIC_IOAPIC_MAX_PINS */
  uint8_t version;    /* 0x11 (82093AA) or 0x20 (adds the EOI register) */
  uint8_t id;         /* 4-bit I/O APIC ID (ID register bits 27:24) */
  uint8_t arb_id;     /* arbitration ID (ARB register bits 27:24) */
  uint8_t regsel;     /* IOREGSEL */
  uint64_t *rte;      /* pins redirection entries */
  uint8_t *level;     /* raw electrical level of each pin */
} apic__ioapic;

/* rte and level arrays are allocated by the engine (pins entries each). */
void apic__ioapic_init(apic__ioapic *io, uint32_t index, uint32_t pins,
                       uint8_t version, uint8_t id, uint64_t *rte, uint8_t *level);
int apic__ioapic_read(apic_sim *s, apic__ioapic *io, uint32_t off, uint32_t *val);
int apic__ioapic_write(apic_sim *s, apic__ioapic *io, uint32_t off, uint32_t val);
void apic__ioapic_rte_write(apic_sim *s, apic__ioapic *io, uint32_t pin, uint64_t rte);
void apic__ioapic_set_pin(apic_sim *s, apic__ioapic *io, uint32_t pin, int level);
/* An EOI message (or an EOIR write) for vector: clears matching remote IRR. */
void apic__ioapic_eoi(apic_sim *s, apic__ioapic *io, uint8_t vector);
/* An INIT level de-assert went by on the bus: the arbitration ID is
   reloaded from the I/O APIC ID (ARB register, 82093AA 3.2.3). */
void apic__ioapic_init_deassert(apic__ioapic *io);
/* The message sent for pin finished: accepted by a local APIC or not. */
void apic__ioapic_delivered(apic_sim *s, apic__ioapic *io, uint32_t pin, int accepted);

#endif
