/*
 * msg.h - an interrupt message as it travels on the interconnect.
 *
 * Messages are made by a local APIC (ICR write, LVT-less self IPI, EOI of a
 * level-triggered vector) or an I/O APIC (pin edge or level) and handed to
 * the engine with apic__post(). The interconnect model decides when they
 * leave the sender and when they reach the receivers; destination matching
 * happens on arrival (dest.c), as the receivers' IDs and LDRs are then.
 */
#ifndef APICSIM_MSG_H
#define APICSIM_MSG_H

#include <stdint.h>

enum {
  APIC__MSG_INTR = 0,  /* an interrupt (any delivery mode) */
  APIC__MSG_EOI = 1    /* EOI broadcast to the I/O APICs (level-triggered vector) */
};

typedef struct apic__msg {
  uint64_t id;         /* sequence number assigned when posted (1, 2, ...) */
  uint64_t t_origin;   /* cycle of the ICR write or pin change that made it */
  uint32_t src;        /* sending core index, or I/O APIC index if from_ioapic */
  uint32_t dest;       /* destination field (8-bit xAPIC, 32-bit x2APIC) */
  uint32_t target;     /* chosen core for lowest priority, APIC_NONE until chosen */
  uint32_t retries;    /* p6 bus retries so far */
  uint16_t pin;        /* I/O APIC pin, for remote IRR / delivery status */
  uint8_t kind;        /* APIC__MSG_* */
  uint8_t vector;
  uint8_t mode;        /* APIC_DM_* */
  uint8_t shorthand;   /* APIC_SH_* */
  uint8_t logical;     /* destination mode */
  uint8_t level_trig;  /* trigger mode: 1 = level */
  uint8_t assert_;     /* level bit */
  uint8_t from_ioapic;
  uint8_t x2apic;      /* destination field is a 32-bit x2APIC destination */
} apic__msg;

#endif
