/*
 * api.c - the public calls that reach into one core or one I/O APIC from
 * outside: host register access, embedded-mode interrupt acknowledge, and
 * installing guest programs and handlers.
 *
 * Every argument is checked here, before the register models see it: a bad
 * CPU index, offset or pin is an API error with a message; a register
 * access the SDM calls illegal is left to the model (ESR bit, #GP).
 */
#include <stdio.h>
#include <string.h>
#include "sim.h"

#define CHECK_SIM(s) do { if (!(s)) return APIC_E_ARG; } while (0)

static int check_cpu(apic_sim *s, uint32_t cpu) {
  if (cpu >= s->ncpus)
    return apic__fail(s, APIC_E_CPU, "cpu %u out of range (machine has %u cores)", cpu, s->ncpus);
  return APIC_OK;
}

static int check_off(apic_sim *s, uint32_t off) {
  if (off >= APIC_REG_PAGE)
    return apic__fail(s, APIC_E_REG, "offset 0x%x is outside the 4 KiB APIC page", off);
  if (off & (APIC_REG_STRIDE - 1))
    return apic__fail(s, APIC_E_ALIGN, "offset 0x%x is not on a 16-byte register boundary "
                      "(SDM 10.4.1)", off);
  return APIC_OK;
}

/* After a host-side change a sleeping core may have become runnable. */
static void after_access(apic_sim *s, uint32_t cpu) {
  apic__kick(s, cpu);
}

int apic_lapic_read(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t *val) {
  CHECK_SIM(s);
  if (!val) return apic__fail(s, APIC_E_ARG, "val is NULL");
  int rc = check_cpu(s, cpu);
  if (!rc) rc = check_off(s, off);
  if (rc) return rc;
  return apic__lapic_mmio_read(s, &s->cpus[cpu].apic, off, val);
}

int apic_lapic_write(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t val) {
  CHECK_SIM(s);
  int rc = check_cpu(s, cpu);
  if (!rc) rc = check_off(s, off);
  if (rc) return rc;
  rc = apic__lapic_mmio_write(s, &s->cpus[cpu].apic, off, val);
  after_access(s, cpu);
  return apic__check_nomem(s, rc);
}

int apic_lapic_rdmsr(apic_sim *s, uint32_t cpu, uint32_t msr, uint64_t *val) {
  CHECK_SIM(s);
  if (!val) return apic__fail(s, APIC_E_ARG, "val is NULL");
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  return apic__lapic_rdmsr(s, &s->cpus[cpu].apic, msr, val);
}

int apic_lapic_wrmsr(apic_sim *s, uint32_t cpu, uint32_t msr, uint64_t val) {
  CHECK_SIM(s);
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  rc = apic__lapic_wrmsr(s, &s->cpus[cpu].apic, msr, val);
  after_access(s, cpu);
  return apic__check_nomem(s, rc);
}

int apic_lapic_set_lint(apic_sim *s, uint32_t cpu, uint32_t pin, int level) {
  CHECK_SIM(s);
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  if (pin > 1) return apic__fail(s, APIC_E_PIN, "LINT pin %u: only 0 (LINT0) and 1 (LINT1)", pin);
  apic__lapic_set_lint(s, &s->cpus[cpu].apic, (int)pin, level != 0);
  return apic__check_nomem(s, APIC_OK);
}

const char *apic_lapic_reg_name(uint32_t off) {
  const apic__lapic_reg *r = apic__lapic_reg_find(off);
  if (!r || (off & (APIC_REG_STRIDE - 1))) return NULL;
  if (r->count == 1) return r->name;
  static const char *const group[3][8] = {  /* read-only string table */
    {"ISR0", "ISR1", "ISR2", "ISR3", "ISR4", "ISR5", "ISR6", "ISR7"},
    {"TMR0", "TMR1", "TMR2", "TMR3", "TMR4", "TMR5", "TMR6", "TMR7"},
    {"IRR0", "IRR1", "IRR2", "IRR3", "IRR4", "IRR5", "IRR6", "IRR7"}};
  int g = r->off == APIC_REG_ISR0 ? 0 : r->off == APIC_REG_TMR0 ? 1 : 2;
  return group[g][(off - r->off) / APIC_REG_STRIDE];
}

int apic_lapic_state_get(apic_sim *s, uint32_t cpu, apic_lapic_state *o) {
  CHECK_SIM(s);
  if (!o) return apic__fail(s, APIC_E_ARG, "out is NULL");
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  const apic__lapic *l = &s->cpus[cpu].apic;
  memset(o, 0, sizeof *o);
  o->id = l->id;
  o->version = l->version;
  o->tpr = l->tpr;
  o->apr = apic__lapic_apr(l);
  o->ppr = apic__lapic_ppr(l);
  o->ldr = l->ldr;
  o->dfr = l->dfr;
  o->svr = l->svr;
  o->esr = l->esr;
  memcpy(o->irr, l->irr, sizeof o->irr);
  memcpy(o->isr, l->isr, sizeof o->isr);
  memcpy(o->tmr, l->tmr, sizeof o->tmr);
  o->lvt_cmci = l->lvt[APIC__LVT_CMCI];
  o->lvt_timer = l->lvt[APIC__LVT_TIMER];
  o->lvt_thermal = l->lvt[APIC__LVT_THERMAL];
  o->lvt_perf = l->lvt[APIC__LVT_PERF];
  o->lvt_lint0 = l->lvt[APIC__LVT_LINT0];
  o->lvt_lint1 = l->lvt[APIC__LVT_LINT1];
  o->lvt_error = l->lvt[APIC__LVT_ERROR];
  o->icr_lo = l->icr_lo | (apic__lapic_send_pending(s, l) ? APIC_ICR_DS : 0);
  o->icr_hi = l->icr_hi;
  o->timer_icr = l->timer_icr;
  o->timer_ccr = apic__lapic_timer_ccr(s, l, s->now);
  o->timer_next = l->timer_next;
  o->ds_until = l->ds_until;
  o->sends_pending = l->sends_pending;
  o->sipi_vector = l->sipi_vector;
  o->extint_pending = l->extint_pending;
  o->timer_dcr = l->timer_dcr;
  o->apic_base = l->base;
  o->x2apic = (uint8_t)apic__lapic_x2apic(l);
  o->nmi_pending = l->nmi_pending;
  o->init_pending = l->init_pending;
  o->sipi_pending = l->sipi_pending;
  o->smi_pending = l->smi_pending;
  o->wait_sipi = l->wait_sipi;
  return APIC_OK;
}

int apic_core_state_get(apic_sim *s, uint32_t cpu, apic_core_state *o) {
  CHECK_SIM(s);
  if (!o) return apic__fail(s, APIC_E_ARG, "out is NULL");
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  const apic_cpu *c = &s->cpus[cpu];
  static const uint8_t run_of[] = {  /* core state -> public apic_core_run */
    [APIC__CORE_NOPROG] = APIC_CORE_NOPROG, [APIC__CORE_RUN] = APIC_CORE_RUNNING,
    [APIC__CORE_HALT] = APIC_CORE_HALTED, [APIC__CORE_SPIN] = APIC_CORE_RUNNING,
    [APIC__CORE_DONE] = APIC_CORE_DONE, [APIC__CORE_WAIT_SIPI] = APIC_CORE_WAIT_SIPI};
  memset(o, 0, sizeof *o);
  o->run = run_of[c->state];
  o->if_flag = c->if_flag;
  o->nmi_blocked = c->nmi_blocked;
  o->in_smm = c->in_smm;
  for (uint32_t i = 0; i < c->depth; i++) {  /* handlers that have started */
    const apic__frame *f = &c->frames[i];
    if (f->kind == APIC__FRAME_PROGRAM || f->kind == APIC__FRAME_CALL || !f->entered) continue;
    if (o->nest < APIC_CORE_MAX_NEST) o->vectors[o->nest] = f->vector;
    o->nest++;
  }
  return APIC_OK;
}

/* ---- I/O APIC ---- */

static int check_io(apic_sim *s, uint32_t io, uint32_t pin, int want_pin) {
  if (io >= s->nioapics)
    return apic__fail(s, APIC_E_IOAPIC, "I/O APIC %u out of range (machine has %u)", io,
                      s->nioapics);
  if (want_pin && pin >= s->ioapics[io].pins)
    return apic__fail(s, APIC_E_PIN, "pin %u out of range (I/O APIC %u has %u pins)", pin, io,
                      s->ioapics[io].pins);
  return APIC_OK;
}

int apic_ioapic_read(apic_sim *s, uint32_t io, uint32_t off, uint32_t *val) {
  CHECK_SIM(s);
  if (!val) return apic__fail(s, APIC_E_ARG, "val is NULL");
  int rc = check_io(s, io, 0, 0);
  return rc ? rc : apic__ioapic_read(s, &s->ioapics[io], off, val);
}

int apic_ioapic_write(apic_sim *s, uint32_t io, uint32_t off, uint32_t val) {
  CHECK_SIM(s);
  int rc = check_io(s, io, 0, 0);
  return rc ? rc : apic__check_nomem(s, apic__ioapic_write(s, &s->ioapics[io], off, val));
}

int apic_ioapic_rte_get(apic_sim *s, uint32_t io, uint32_t pin, uint64_t *rte) {
  CHECK_SIM(s);
  if (!rte) return apic__fail(s, APIC_E_ARG, "rte is NULL");
  int rc = check_io(s, io, pin, 1);
  if (rc) return rc;
  *rte = s->ioapics[io].rte[pin];
  return APIC_OK;
}

int apic_ioapic_rte_set(apic_sim *s, uint32_t io, uint32_t pin, uint64_t rte) {
  CHECK_SIM(s);
  int rc = check_io(s, io, pin, 1);
  if (rc) return rc;
  apic__ioapic_rte_write(s, &s->ioapics[io], pin, rte);
  return apic__check_nomem(s, APIC_OK);
}

int apic_ioapic_get_pin(apic_sim *s, uint32_t io, uint32_t pin, int *level) {
  CHECK_SIM(s);
  if (!level) return apic__fail(s, APIC_E_ARG, "level is NULL");
  int rc = check_io(s, io, pin, 1);
  if (rc) return rc;
  *level = s->ioapics[io].level[pin];
  return APIC_OK;
}

int apic_ioapic_set_pin(apic_sim *s, uint32_t io, uint32_t pin, int level) {
  CHECK_SIM(s);
  int rc = check_io(s, io, pin, 1);
  if (rc) return rc;
  apic__ioapic_set_pin(s, &s->ioapics[io], pin, level != 0);
  return apic__check_nomem(s, APIC_OK);
}

int apic_ioapic_set_pin_at(apic_sim *s, uint32_t io, uint32_t pin, int level, uint64_t cycle) {
  CHECK_SIM(s);
  int rc = check_io(s, io, pin, 1);
  if (rc) return rc;
  if (cycle < s->now)
    return apic__fail(s, APIC_E_TIME, "I/O APIC %u pin %u: cycle %llu is before now (%llu)",
                      io, pin, (unsigned long long)cycle, (unsigned long long)s->now);
  if (cycle > APIC_CYCLE_MAX)
    return apic__fail(s, APIC_E_TIME, "I/O APIC %u pin %u: cycle %llu is past APIC_CYCLE_MAX "
                      "(%llu), the last cycle the clock reaches", io, pin,
                      (unsigned long long)cycle, (unsigned long long)APIC_CYCLE_MAX);
  rc = apic__pin_at(s, io, pin, level, cycle);
  if (rc) s->nomem = 0;
  return rc ? apic__fail(s, rc, "out of memory scheduling a pin change") : APIC_OK;
}

/* ---- embedded mode ---- */

/* The host takes interrupts only for cores it runs itself: on a core with
   a guest program the core model takes them, and an ack from outside would
   leave an ISR bit that no handler ends. */
static int check_embedded(apic_sim *s, uint32_t cpu, const char *call) {
  const apic_cpu *c = &s->cpus[cpu];
  if (c->state == APIC__CORE_NOPROG && !c->depth) return APIC_OK;
  return apic__fail(s, APIC_E_STATE, "%s: cpu %u runs a guest program, which takes its own "
                    "interrupts (the call is for cores the host runs)", call, cpu);
}

int apic_sim_pending(apic_sim *s, uint32_t cpu, int if_flag, apic_intr_kind *kind,
                     uint8_t *vector) {
  CHECK_SIM(s);
  if (!kind || !vector) return apic__fail(s, APIC_E_ARG, "kind and vector must not be NULL");
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  const apic_cpu *c = &s->cpus[cpu];
  const apic__lapic *l = &c->apic;
  *kind = APIC_INTR_NONE;
  *vector = 0;
  int v;
  if (l->init_pending) *kind = APIC_INTR_INIT;
  else if (l->wait_sipi) {
    if (l->sipi_pending) { *kind = APIC_INTR_SIPI; *vector = l->sipi_vector; }
  } else if (l->smi_pending && !c->in_smm) *kind = APIC_INTR_SMI;
  else if (l->nmi_pending && !c->nmi_blocked) { *kind = APIC_INTR_NMI; *vector = 2; }
  else if (if_flag && l->extint_pending) { *kind = APIC_INTR_EXTINT; *vector = s->cfg.extint_vector; }
  else if (if_flag && (v = apic__lapic_deliverable(l)) >= 0) {
    *kind = APIC_INTR_FIXED;
    *vector = (uint8_t)v;
  }
  return APIC_OK;
}

int apic_sim_ack(apic_sim *s, uint32_t cpu, apic_intr_kind kind, uint8_t *vector) {
  CHECK_SIM(s);
  if (!vector) return apic__fail(s, APIC_E_ARG, "vector is NULL");
  int rc = check_cpu(s, cpu);
  if (!rc) rc = check_embedded(s, cpu, "apic_sim_ack");
  if (rc) return rc;
  apic_cpu *c = &s->cpus[cpu];
  apic__lapic *l = &c->apic;
  static const uint32_t taken_event[] = {  /* read-only: what a trace sees */
    [APIC_INTR_EXTINT] = APIC_EV_EXTINT, [APIC_INTR_NMI] = APIC_EV_NMI,
    [APIC_INTR_SMI] = APIC_EV_SMI, [APIC_INTR_INIT] = APIC_EV_INIT,
    [APIC_INTR_SIPI] = APIC_EV_SIPI};
  if (kind > APIC_INTR_FIXED && kind <= APIC_INTR_SIPI && apic__tracing(s)) {
    int pending = kind == APIC_INTR_EXTINT ? l->extint_pending : kind == APIC_INTR_NMI
                ? l->nmi_pending : kind == APIC_INTR_SMI ? l->smi_pending
                : kind == APIC_INTR_INIT ? l->init_pending : l->sipi_pending;
    if (pending)
      apic__event(s, taken_event[kind], cpu, kind == APIC_INTR_SIPI ? l->sipi_vector
                  : kind == APIC_INTR_EXTINT ? s->cfg.extint_vector : 0, 0, 0);
  }
  switch (kind) {
  case APIC_INTR_FIXED: {
    int v = apic__lapic_ack(s, l);
    /* nothing deliverable any more: the spurious vector (SDM 10.9) */
    *vector = (uint8_t)(v >= 0 ? v : (int)(l->svr & APIC_SVR_VECTOR_MASK));
    return APIC_OK;
  }
  case APIC_INTR_EXTINT:
    apic__lapic_extint_ack(l);
    *vector = s->cfg.extint_vector;
    return APIC_OK;
  case APIC_INTR_NMI:
    if (!l->nmi_pending) break;  /* apic_sim_nmi_return ends the blocking */
    l->nmi_pending = 0;
    c->nmi_blocked = 1;
    *vector = 2;
    return APIC_OK;
  case APIC_INTR_SMI:
    if (!l->smi_pending) break;
    l->smi_pending = 0;
    *vector = 0;
    return APIC_OK;
  case APIC_INTR_INIT:
    if (!l->init_pending) break;
    l->init_pending = 0;
    apic__lapic_init_reset(s, l);
    l->wait_sipi = 1;
    c->nmi_blocked = c->in_smm = 0;  /* INIT resets the processor */
    *vector = 0;
    return APIC_OK;
  case APIC_INTR_SIPI:
    if (!l->sipi_pending) break;
    l->sipi_pending = 0;
    l->wait_sipi = 0;
    *vector = l->sipi_vector;
    return APIC_OK;
  default:
    return apic__fail(s, APIC_E_ARG, "unknown interrupt kind %d", (int)kind);
  }
  return apic__fail(s, APIC_E_STATE, "no %s pending on cpu %u",
                    kind == APIC_INTR_NMI ? "NMI" : kind == APIC_INTR_SMI ? "SMI"
                    : kind == APIC_INTR_INIT ? "INIT" : "SIPI", cpu);
}

int apic_sim_nmi_return(apic_sim *s, uint32_t cpu) {
  CHECK_SIM(s);
  int rc = check_cpu(s, cpu);
  if (!rc) rc = check_embedded(s, cpu, "apic_sim_nmi_return");
  if (rc) return rc;
  if (s->cpus[cpu].nmi_blocked && apic__tracing(s))  /* as an NMI handler's IRET */
    apic__event(s, APIC_EV_HANDLER_EXIT, cpu, 2, 0, APIC_INTR_NMI);
  s->cpus[cpu].nmi_blocked = 0;
  return APIC_OK;
}

/* ---- guest programs ---- */

int apic_sim_set_program(apic_sim *s, uint32_t cpu, apic_guest_fn fn, void *arg) {
  CHECK_SIM(s);
  if (!fn) return apic__fail(s, APIC_E_ARG, "program function is NULL");
  int rc = check_cpu(s, cpu);
  if (rc) return rc;
  apic_cpu *c = &s->cpus[cpu];
  if (c->depth)
    return apic__fail(s, APIC_E_STATE, "cpu %u already runs a program", cpu);
  if (c->state == APIC__CORE_WAIT_SIPI)  /* only a SIPI starts it (SDM 8.4) */
    return apic__fail(s, APIC_E_STATE, "cpu %u waits for a start-up IPI", cpu);
  if (apic__cpu_frame_push(s, c, fn, arg, APIC__FRAME_PROGRAM, 0)) {
    s->nomem = 0;  /* pushed nothing: the call changed nothing */
    return apic__fail(s, APIC_E_NOMEM, "out of memory for cpu %u's frames", cpu);
  }
  if (c->if_flag && apic__tracing(s)) apic__event(s, APIC_EV_IF_CHANGE, cpu, 0, 0, 1);
  c->if_flag = 0;
  c->state = APIC__CORE_RUN;
  if (apic__tracing(s)) apic__event(s, APIC_EV_PROGRAM_START, cpu, 0, 0, 0);
  apic__cpu_schedule(s, c, s->now);
  return s->nomem ? (s->nomem = 0, apic__fail(s, APIC_E_NOMEM, "out of memory")) : APIC_OK;
}

int apic_sim_set_handler(apic_sim *s, uint32_t cpu, uint8_t vector, apic_guest_fn fn,
                         void *arg) {
  CHECK_SIM(s);
  apic__handler *h = &s->idt[vector];
  if (cpu != APIC_NONE) {
    int rc = check_cpu(s, cpu);
    if (rc) return rc;
    apic_cpu *c = &s->cpus[cpu];
    if (!c->idt) {
      c->idt = apic__alloc(s, NULL, 256 * sizeof *c->idt);
      if (!c->idt) return apic__fail(s, APIC_E_NOMEM, "out of memory for cpu %u's vector table", cpu);
      memset(c->idt, 0, 256 * sizeof *c->idt);
    }
    h = &c->idt[vector];
  }
  /* two programs of a scenario on one vector of one core: the later one
     would silently take the other's interrupts */
  if (s->install_tag && h->owner && h->owner != s->install_tag) {
    char where[32] = "every cpu";
    if (cpu != APIC_NONE) snprintf(where, sizeof where, "cpu %u", cpu);
    return apic__fail(s, APIC_E_STATE, "vector 0x%02x on %s is already handled by programs[%u]",
                      vector, where, h->owner - 1);
  }
  h->fn = fn;
  h->arg = arg;
  h->owner = s->install_tag;
  return APIC_OK;
}

int apic_sim_set_startup(apic_sim *s, uint8_t page, apic_guest_fn fn, void *arg) {
  CHECK_SIM(s);
  s->startup[page].fn = fn;
  s->startup[page].arg = arg;
  return APIC_OK;
}

int apic_sim_set_smi_handler(apic_sim *s, apic_guest_fn fn, void *arg) {
  CHECK_SIM(s);
  s->smi.fn = fn;
  s->smi.arg = arg;
  return APIC_OK;
}
