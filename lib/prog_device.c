/*
 * prog_device.c - "device_irq": a device interrupting through an I/O APIC
 * line, and its driver's interrupt handler.
 *
 * Install does what Linux's I/O APIC setup does for one IRQ
 * (arch/x86/kernel/apic/io_apic.c ioapic_write_entry() /
 * __ioapic_write_entry(): the high dword, the destination, first, then the
 * low dword, through IOREGSEL/IOWIN; 82093AA 3.2.4), with the line's
 * trigger and polarity (edge/high for ISA, level/low for PCI INTx) and a
 * physical destination (one core) or a logical flat one (a set of cores,
 * LDR = 1 << cpu as Linux's flat mode sets it; fixed or lowest priority,
 * SDM 10.6.2.4). In x2APIC mode the LDR follows from the APIC ID, and an
 * 8-bit destination reaches cluster 0, IDs 0..7, only.
 *
 * The device raises its line `count` times, `period` cycles apart, from
 * `first` cycles after install (apic_ioapic_set_pin_at). An edge device
 * drops the line again after half a period; a level device keeps it
 * asserted until the driver acknowledges it.
 *
 * The driver's handler (Linux handle_fasteoi_irq / handle_edge_irq around
 * the driver's ISR): the ISR reads the device's status register, which
 * clears its "interrupt pending" flag and, for a level line, makes the
 * device deassert it. An edge line is acked first (handle_edge_irq calls
 * irq_ack, the local APIC EOI, before the ISR: an edge arriving meanwhile
 * is latched in IRR again); a level line is EOId after the ISR
 * (handle_fasteoi_irq), and the EOI message clears the entry's remote IRR
 * (82093AA 3.2.4 bit 14): a line still asserted then would be sent again.
 *
 * The check: every assertion of the line was handled exactly once (a
 * handler run that found the device pending), no run found it idle or
 * ran beyond the assertions (no duplicates, no storm), every scheduled
 * raise was a separate interrupt, and remote IRR is clear once nothing is
 * on its way. In a run that stopped first, an interrupt whose message is on
 * its way (delivery status), pending or in service on a driver core, whose
 * handler runs, or whose EOI goes back to the I/O APIC, is in flight, not
 * lost, and the device not done.
 *
 * Bug "no_ack": the handler EOIs without reading the device. A level line
 * stays asserted, and every EOI sends it again: an interrupt storm, which
 * never ends by itself (run to a cycle limit).
 */
#include <stdlib.h>
#include <string.h>
#include "progs.h"

typedef struct dev {
  apic_sim *s;
  uint32_t *cpus, n;    /* the driver's cores */
  uint32_t io, pin, count, work;
  uint8_t vector;
  int level, active_low, no_ack, asserted;
  uint64_t last_raise;  /* cycle of the last scheduled assertion */
  uint32_t pending;     /* the device's status register: interrupt pending */
  uint32_t raised;      /* assertions of the line the I/O APIC saw */
  uint32_t runs, acked, idle_runs;  /* handler runs; found pending; found idle */
} dev;

/* The device side: each assertion of the line sets its pending flag. */
static void line_hook(void *ud, const apic_event *ev) {
  dev *d = ud;
  if (ev->kind != APIC_EV_PIN || !(ev->flags & APIC_EVF_IOAPIC) || ev->src != d->io ||
      ev->a != d->pin)
    return;
  int now = (ev->b != 0) != d->active_low;
  if (now && !d->asserted) {
    d->raised++;
    d->pending = 1;
  }
  d->asserted = now;
}

/* The driver's interrupt handler. */
static int device_isr(apic_cpu *c, void *arg) {
  dev *d = arg;
  APIC_BEGIN(c);
  d->runs++;
  if (!d->level) APIC_EOI(c);  /* handle_edge_irq: irq_ack (apic_eoi) before the ISR */
  if (!d->no_ack) {
    /* read the status register (read-to-clear): the device stops asserting */
    if (apic_cpu_xchg(c, &d->pending, 0)) {
      d->acked++;
      if (d->level) apic_ioapic_set_pin(apic_cpu_sim(c), d->io, d->pin, d->active_low);
    } else {
      d->idle_runs++;
    }
    APIC_YIELD(c);
  }
  APIC_WORK(c, d->work);  /* the driver's work */
  if (d->level) APIC_EOI(c);  /* handle_fasteoi_irq: irq_eoi after the ISR; EOI message */
  APIC_END(c);
}

static const apic_arg_spec args[] = {
  {"ioapic", APIC_ARG_INT, 0, APIC_MAX_IOAPICS - 1, NULL, "0", 0, "I/O APIC index"},
  {"pin", APIC_ARG_INT, 0, APIC_IOAPIC_MAX_PINS - 1, NULL, "16", 16, "input pin (line)"},
  {"vector", APIC_ARG_INT, 16, 255, NULL, "0x41", 0x41, "vector in the redirection entry"},
  {"trigger", APIC_ARG_STRING, 0, 0, "edge|level", "level", 0, "trigger mode"},
  {"polarity", APIC_ARG_STRING, 0, 0, "high|low", "low", 0, "active level of the line"},
  {"delivery", APIC_ARG_STRING, 0, 0, "fixed|lowest", "fixed", 0, "delivery mode"},
  {"dest_mode", APIC_ARG_STRING, 0, 0, "physical|logical", "physical", 0,
   "physical: one core; logical: flat logical set"},
  {"dest", APIC_ARG_CPUS, 0, 0, NULL, "", 0,
   "cores the entry targets, among the program's cpus (empty: the program's cpus; "
   "physical: the first)"},
  {"count", APIC_ARG_INT, 1, 100000, NULL, "10", 10, "interrupts the device raises"},
  {"period", APIC_ARG_INT, 100, 100000000, NULL, "20000", 20000, "cycles between them"},
  {"first", APIC_ARG_INT, 0, 100000000, NULL, "1000", 1000,
   "cycles after install of the first one"},
  {"work", APIC_ARG_INT, 0, 100000000, NULL, "200", 200, "cycles of the driver's ISR"},
  {"bug", APIC_ARG_STRING, 0, 0, "none|no_ack", "none", 0,
   "no_ack: the handler never acknowledges the device (level: interrupt storm)"},
};

static void destroy(void *state) {
  dev *d = state;
  if (!d) return;
  apic_sim_remove_hook(d->s, line_hook, d);
  free(d->cpus);
  free(d);
}

static int has(const uint32_t *v, uint32_t n, uint32_t x) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == x) return 1;
  return 0;
}

/* The destination field for dest (and the LDRs it needs); APIC_NONE if none. */
static uint32_t destination(apic_sim *s, const uint32_t *dst, uint32_t nd, int logical,
                            char *why, size_t why_size) {
  apic_lapic_state st;
  uint32_t field = 0;
  if (!logical) {  /* the APIC ID; 0xFF (P6: 0xF) would be a broadcast */
    uint32_t bcast = apic_sim_config(s)->model == APIC_MODEL_P6 ? 0xFu : 0xFFu;
    apic_lapic_state_get(s, dst[0], &st);
    if (nd > 1) {
      snprintf(why, why_size, "dest_mode physical names one core; dest has %u", nd);
      return APIC_NONE;
    }
    if (st.id >= bcast) {
      snprintf(why, why_size, "cpu %u: APIC ID 0x%x does not fit a physical I/O APIC "
               "destination (0x%x is the broadcast)", dst[0], st.id, bcast);
      return APIC_NONE;
    }
    return st.id;
  }
  for (uint32_t i = 0; i < nd; i++) {
    apic_lapic_state_get(s, dst[i], &st);
    if (st.x2apic) {  /* cluster 0, members 0..7 only (SDM 10.12.10.2) */
      if (st.ldr >> 16 || !(st.ldr & 0xFFu)) {
        snprintf(why, why_size, "x2APIC: cpu %u's logical ID 0x%x is outside what an 8-bit "
                 "destination reaches (cluster 0, IDs 0..7)", dst[i], st.ldr);
        return APIC_NONE;
      }
      field |= st.ldr & 0xFFu;
    } else if (dst[i] >= 8) {
      snprintf(why, why_size, "flat logical mode gives cpus 0..7 a logical ID; dest has cpu "
               "%u", dst[i]);
      return APIC_NONE;
    } else {
      field |= 1u << dst[i];
    }
  }
  return field;
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  const apic_config *cfg = apic_sim_config(s);
  uint32_t io = (uint32_t)apic_args_int(a, "ioapic"), pin = (uint32_t)apic_args_int(a, "pin");
  uint32_t nd;
  const uint32_t *dst = apic_args_cpus(a, "dest", &nd);
  int logical = !strcmp(apic_args_str(a, "dest_mode"), "logical");
  if (!n) { snprintf(why, why_size, "no cpus to run the driver on"); return APIC_E_ARG; }
  if (io >= cfg->nioapics) {
    snprintf(why, why_size, "ioapic %u: the machine has %u I/O APICs", io, cfg->nioapics);
    return APIC_E_ARG;
  }
  if (pin >= cfg->ioapic_pins[io]) {
    snprintf(why, why_size, "pin %u: I/O APIC %u has pins 0..%u", pin, io,
             cfg->ioapic_pins[io] - 1);
    return APIC_E_ARG;
  }
  if (!nd) { dst = cpus; nd = logical ? n : 1; }
  for (uint32_t i = 0; i < nd; i++)
    if (!has(cpus, n, dst[i])) {
      snprintf(why, why_size, "dest cpu %u is not one of the program's cpus", dst[i]);
      return APIC_E_ARG;
    }
  uint32_t field = destination(s, dst, nd, logical, why, why_size);
  if (field == APIC_NONE) return APIC_E_ARG;
  dev *d = calloc(1, sizeof *d);
  if (!d) { snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  d->s = s;
  d->cpus = malloc(n * sizeof *d->cpus);
  if (!d->cpus) { free(d); snprintf(why, why_size, "out of memory"); return APIC_E_NOMEM; }
  memcpy(d->cpus, cpus, n * sizeof *cpus);
  d->n = n;
  d->io = io;
  d->pin = pin;
  d->vector = (uint8_t)apic_args_int(a, "vector");
  d->level = !strcmp(apic_args_str(a, "trigger"), "level");
  d->active_low = !strcmp(apic_args_str(a, "polarity"), "low");
  d->no_ack = !strcmp(apic_args_str(a, "bug"), "no_ack");
  d->count = (uint32_t)apic_args_int(a, "count");
  d->work = (uint32_t)apic_args_int(a, "work");
  uint64_t period = (uint64_t)apic_args_int(a, "period");
  uint64_t t0 = apic_sim_now(s) + (uint64_t)apic_args_int(a, "first");
  d->last_raise = t0 + (d->count - 1) * period;
  /* the line idles inactive; then the entry, high dword first */
  int rc = apic_ioapic_set_pin(s, io, pin, d->active_low);
  uint64_t dm = !strcmp(apic_args_str(a, "delivery"), "lowest") ? APIC_DM_LOWEST
                                                                 : APIC_DM_FIXED;
  uint64_t lo = d->vector | dm << APIC_RTE_DM_SHIFT | (logical ? APIC_RTE_DESTMODE : 0) |
                (d->active_low ? APIC_RTE_POLARITY : 0) | (d->level ? APIC_RTE_TRIGGER : 0);
  uint32_t sel = APIC_IOAPIC_REDTBL + 2 * pin;
  if (!rc) rc = apic_ioapic_write(s, io, APIC_IOAPIC_IOREGSEL, sel + 1);
  if (!rc) rc = apic_ioapic_write(s, io, APIC_IOAPIC_IOWIN, field << (APIC_RTE_DEST_SHIFT - 32));
  if (!rc) rc = apic_ioapic_write(s, io, APIC_IOAPIC_IOREGSEL, sel);
  if (!rc) rc = apic_ioapic_write(s, io, APIC_IOAPIC_IOWIN, (uint32_t)lo);
  if (!rc) rc = apic_sim_add_hook(s, line_hook, NULL, d);
  for (uint32_t i = 0; !rc && logical && i < nd; i++) {  /* flat: LDR = 1 << cpu */
    apic_lapic_state st;
    apic_lapic_state_get(s, dst[i], &st);
    if (st.x2apic) continue;
    apic_lapic_write(s, dst[i], APIC_REG_DFR, APIC_DFR_FLAT);
    rc = apic_lapic_write(s, dst[i], APIC_REG_LDR, (1u << dst[i]) << APIC_ICR_DEST_SHIFT);
  }
  for (uint32_t i = 0; !rc && i < n; i++) {
    rc = apic_sim_set_handler(s, cpus[i], d->vector, device_isr, d);
    if (!rc) rc = apic__prog_start_idle(s, cpus[i]);
  }
  for (uint32_t k = 0; !rc && k < d->count; k++) {  /* the device's activity */
    uint64_t t = t0 + k * period;
    rc = apic_ioapic_set_pin_at(s, io, pin, !d->active_low, t);
    if (!rc && !d->level)  /* an edge device's pulse: half a period */
      rc = apic_ioapic_set_pin_at(s, io, pin, d->active_low, t + period / 2);
  }
  if (rc) {
    snprintf(why, why_size, "installing: %s", apic_sim_errmsg(s));
    destroy(d);
    return rc;
  }
  *state = d;
  return APIC_OK;
}

/* Is the device's interrupt still on its way: its message (delivery status),
   the vector pending or its handler running on one of the driver's cores, or
   an EOI going back to the I/O APIC? */
static int in_flight(dev *d, uint64_t rte) {
  if (rte & APIC_RTE_DS) return 1;
  for (uint32_t i = 0; i < d->n; i++)
    if (apic__prog_vector_state(d->s, d->cpus[i], d->vector) == APIC__VEC_LIVE) return 1;
  return apic__prog_msg_in_flight(d->s, d->vector);
}

/* Each assertion handled exactly once, or still in flight; remote IRR clear
   once nothing is. */
static unsigned check(void *state, int *done, char *msg, size_t n) {
  dev *d = state;
  uint64_t rte = 0;
  apic_ioapic_rte_get(d->s, d->io, d->pin, &rte);
  int past = apic_sim_now(d->s) > d->last_raise, flying = in_flight(d, rte);
  uint32_t fly = flying && d->acked < d->raised ? d->raised - d->acked : 0;
  *done = d->raised == d->count && d->acked == d->count && !d->asserted && !flying;
  unsigned bad = 0;
  if (d->idle_runs && bad++ == 0)
    snprintf(msg, n, "%u handler runs found the device idle: an interrupt handled twice",
             d->idle_runs);
  if (d->runs > d->raised && bad++ == 0)
    snprintf(msg, n, "%u handler runs for %u interrupts raised: handled more than raised "
             "(%s)", d->runs, d->raised, d->level && d->asserted
             ? "interrupt storm: the line is still asserted" : "duplicate delivery");
  if (d->acked + fly < d->raised && bad++ == 0)
    snprintf(msg, n, "%u interrupts raised, %u acknowledged by the driver: %u lost or "
             "never acknowledged", d->raised, d->acked, d->raised - d->acked);
  if (past && d->raised < d->count && bad++ == 0)
    snprintf(msg, n, "the device raised %u interrupts, the line showed %u assertions: the "
             "line was still asserted when the next came", d->count, d->raised);
  if ((rte & APIC_RTE_REMOTE_IRR) && !flying && bad++ == 0)
    snprintf(msg, n, "I/O APIC %u pin %u: remote IRR still set with no interrupt or EOI on "
             "its way", d->io, d->pin);
  if (!bad) {
    char mid[80];
    if (fly) snprintf(mid, sizeof mid, ", %u in flight when the run stopped", fly);
    else if (flying) snprintf(mid, sizeof mid, ", the last in flight (handler or EOI) when "
                              "the run stopped");
    else snprintf(mid, sizeof mid, ", remote IRR clear");
    snprintf(msg, n, "%u of %u device interrupts on I/O APIC %u pin %u (%s): each handled "
             "once%s%s", d->acked, d->count, d->io, d->pin, d->level ? "level" : "edge", mid,
             *done ? "" : " (device not finished)");
  }
  return bad;
}

const apic_prog_def apic__prog_device_irq = {
  "device_irq",
  "a device raising an I/O APIC line; the driver's handler acks the device, then EOI",
  "Linux io_apic.c __ioapic_write_entry, handle_fasteoi_irq / handle_edge_irq",
  args, sizeof args / sizeof args[0], install, check, destroy};
