/*
 * cpu.c - the guest core: runs a program as resumable C steps and takes
 * interrupts at instruction boundaries.
 *
 * A core is a stack of frames: its program at the bottom, one frame per
 * interrupt handler being run above it. Each engine step calls the top
 * frame's function once; the operations it performs (register access, HLT,
 * a store...) add their cycles to c->cost, and the next step is scheduled
 * that many cycles later. Effects of an operation take place at the start
 * of its step.
 *
 * At every boundary, before the step, the core checks in SDM priority order
 * (SDM 6.9 "Priority Among Simultaneous Exceptions and Interrupts"): INIT
 * (held while in SMM until RSM, SDM 34.5), SMI, NMI (unless blocked: since
 * an NMI until the next IRET, SDM 6.7.1; in SMM until RSM or an IRET there,
 * SDM 34.8), then
 * maskable interrupts if IF=1 and no STI shadow: ExtINT from the 8259A
 * stand-in, then the highest IRR vector whose class is above PPR (SDM
 * 10.8.3.1). Taking one pushes a handler frame with IF cleared (an
 * interrupt gate) and costs timing.accept.
 *
 * A halted core (HLT), a finished program, a core spinning on memory
 * (apic_cpu_wait) and a core waiting for SIPI have no step scheduled: they
 * cost nothing until apic__kick (something arrived) or a store wakes them.
 */
#include <string.h>
#include "sim.h"
#include "trace_rec.h"

static apic__frame *top(apic_cpu *c) { return &c->frames[c->depth - 1]; }

static int is_handler(const apic__frame *f) {
  return f->kind != APIC__FRAME_PROGRAM && f->kind != APIC__FRAME_CALL;
}

/* Nesting depth of the top handler frame: handler frames below it (0 = it
   interrupted the program, or a core whose program has finished). */
static uint32_t nesting(const apic_cpu *c) {
  uint32_t n = 0;
  for (uint32_t i = 0; i + 1u < c->depth; i++) n += (uint32_t)is_handler(&c->frames[i]);
  return n;
}

void apic__cpu_schedule(apic_sim *s, apic_cpu *c, uint64_t t) {
  c->step_gen++;
  c->step_at = t;
  apic__schedule(s, t, APIC__EV_STEP, c->index, 0, c->step_gen);
}

int apic__cpu_frame_push(apic_sim *s, apic_cpu *c, apic_guest_fn fn, void *arg,
                         uint8_t kind, uint16_t vector) {
  if (c->depth >= APIC__MAX_FRAMES) {  /* the guest's stack overflows */
    s->fault = 1;
    return apic__fail(s, APIC_E_STATE, "cpu %u: calls and interrupt handlers nest deeper than "
                      "%u frames at cycle %llu (unbounded recursion or nesting?)", c->index,
                      APIC__MAX_FRAMES, (unsigned long long)s->now);
  }
  if (c->depth == c->cap) {
    uint32_t cap = c->cap ? c->cap * 2u : 4u;
    if (cap > APIC__MAX_FRAMES) cap = APIC__MAX_FRAMES;
    apic__frame *f = apic__alloc(s, c->frames, cap * sizeof *f);
    if (!f) { s->nomem = 1; return APIC_E_NOMEM; }
    c->frames = f;
    c->cap = (uint16_t)cap;
  }
  apic__frame *f = &c->frames[c->depth++];
  memset(f, 0, sizeof *f);
  f->fn = fn;
  f->arg = arg;
  f->kind = kind;
  f->vector = vector;
  f->entered = kind == APIC__FRAME_PROGRAM || kind == APIC__FRAME_CALL;
  f->saved_if = c->if_flag;
  f->saved_state = c->state;
  f->saved_nmi = c->nmi_blocked;
  return APIC_OK;
}

void apic__cpu_free(apic_sim *s, apic_cpu *c) {
  apic__alloc(s, c->frames, 0);
  apic__alloc(s, c->idt, 0);
  c->frames = NULL;
  c->idt = NULL;
  c->depth = c->cap = 0;
}

/* ---- spin waits: a hash of address -> cores waiting on it ---- */

static uint32_t bucket(const apic_sim *s, const volatile void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0x9E3779B1u;
  return (uint32_t)(x >> 7) & s->watch_mask;
}

static void unwatch(apic_sim *s, apic_cpu *c) {
  uint32_t *link = &s->watch_head[bucket(s, c->watch)];
  while (*link != APIC_NONE && *link != c->index) link = &s->cpus[*link].watch_next;
  if (*link == c->index) *link = c->watch_next;
  c->watch_next = APIC_NONE;
  c->watch = NULL;
  s->spinning--;
}

void apic__cpu_wake_watchers(apic_sim *s, const volatile void *p) {
  uint32_t *link = &s->watch_head[bucket(s, p)];
  while (*link != APIC_NONE) {
    apic_cpu *w = &s->cpus[*link];
    if (w->watch != p) { link = &w->watch_next; continue; }
    *link = w->watch_next;
    w->watch_next = APIC_NONE;
    w->watch = NULL;
    s->spinning--;
    w->state = APIC__CORE_RUN;
    /* the spinner sees the store within one PAUSE iteration */
    if (w->step_at == UINT64_MAX) apic__cpu_schedule(s, w, s->now + s->cfg.timing.pause);
  }
}

/* ---- what can the core take now? ---- */

static int maskable_ready(const apic_cpu *c) {
  return c->if_flag && !c->shadow &&
         (c->apic.extint_pending || apic__lapic_deliverable(&c->apic) >= 0);
}

/* NMI is blocked by an NMI until the next IRET (SDM 6.7.1), and by SMM
   until RSM or an IRET in SMM (SDM 34.8): one that arrives waits. */
static int nmi_open(const apic_cpu *c) {
  return !c->nmi_blocked && c->in_smm != APIC_SMM_NMI_BLOCKED;
}

/* SMM inhibits INIT until RSM (SDM 34.5: "... and INIT operations are
   inhibited when the processor enters SMM"); unlike NMI, an IRET in SMM
   does not end it. */
static int init_open(const apic_cpu *c) {
  return c->apic.init_pending && c->in_smm == APIC_SMM_OFF;
}

static int has_work(const apic_cpu *c) {
  const apic__lapic *l = &c->apic;
  if (c->state == APIC__CORE_WAIT_SIPI) return l->init_pending || l->sipi_pending;
  return init_open(c) || (l->smi_pending && !c->in_smm) ||
         (l->nmi_pending && nmi_open(c)) || maskable_ready(c);
}

void apic__kick(apic_sim *s, uint32_t cpu) {
  apic_cpu *c = &s->cpus[cpu];
  if (c->state == APIC__CORE_NOPROG || c->state == APIC__CORE_RUN) return;
  if (c->step_at != UINT64_MAX || !has_work(c)) return;
  uint32_t delay = c->state == APIC__CORE_SPIN || c->state == APIC__CORE_WAIT_SIPI
                       ? 0 : s->cfg.timing.wake;
  apic__cpu_schedule(s, c, s->now + delay);
}

/* ---- interrupt entry ---- */

/* No handler installed: EOI a vector the local APIC put in service, IRET. */
static int default_handler(apic_cpu *c, void *arg) {
  (void)arg;
  if (top(c)->kind == APIC__FRAME_INTR) apic_cpu_write(c, APIC_REG_EOI, 0);
  return APIC_DONE;
}

static const apic__handler *handler_for(apic_sim *s, apic_cpu *c, uint32_t vector) {
  if (vector == APIC_VECTOR_SMI) return &s->smi;
  if (c->idt && c->idt[vector].fn) return &c->idt[vector];
  return &s->idt[vector];
}

/* A core's event with a and b (trace_rec.h: out of line on purpose). */
static APIC__NOINLINE void trace_ab(apic_sim *s, uint32_t kind, const apic_cpu *c, uint32_t a,
                                    uint32_t b) {
  apic__event_inline(s, kind, c->index, 0, a, b);
}

/* Every change of IF is an event, so a trace reader can follow it. */
static void set_if(apic_sim *s, apic_cpu *c, uint8_t v) {
  if (c->if_flag != v && apic__tracing(s)) trace_ab(s, APIC_EV_IF_CHANGE, c, v, c->if_flag);
  c->if_flag = v;
}

/* HANDLER_ENTER/EXIT carry the frame's kind as an apic_intr_kind in b. */
static uint32_t intr_kind(const apic__frame *f) {
  return f->kind == APIC__FRAME_NMI ? APIC_INTR_NMI
       : f->kind == APIC__FRAME_SMI ? APIC_INTR_SMI
       : f->kind == APIC__FRAME_EXTINT ? APIC_INTR_EXTINT : APIC_INTR_FIXED;
}

static void enter(apic_sim *s, apic_cpu *c, uint8_t kind, uint32_t vector,
                  uint32_t ev_kind) {
  const apic__handler *h = handler_for(s, c, vector);
  apic_guest_fn fn = h->fn;
  if (!fn) {
    fn = default_handler;
    s->stats.unhandled++;
    if (apic__tracing(s)) apic__event(s, APIC_EV_UNHANDLED, c->index, (uint8_t)vector, 0, 0);
  }
  if (c->state == APIC__CORE_SPIN) unwatch(s, c);
  uint8_t resume = c->state == APIC__CORE_DONE ? APIC__CORE_DONE : APIC__CORE_RUN;
  /* SDM 34.10 auto HALT restart: by default the RSM of an SMI taken in HLT
     returns to the HLT, so the core halts again */
  if (kind == APIC__FRAME_SMI && c->state == APIC__CORE_HALT) resume = APIC__CORE_HALT;
  c->state = resume;  /* HLT ends when an interrupt is taken */
  if (apic__cpu_frame_push(s, c, fn, h->arg, kind, (uint16_t)vector)) return;
  top(c)->saved_state = resume;
  set_if(s, c, 0);  /* an interrupt gate */
  c->state = APIC__CORE_RUN;
  if (ev_kind != APIC_EV__COUNT && apic__tracing(s))  /* SMI: a = 1, SMM entered */
    apic__event(s, ev_kind, c->index, (uint8_t)vector, kind == APIC__FRAME_SMI, 0);
  apic__cpu_schedule(s, c, s->now + s->cfg.timing.accept);
}

static void do_init(apic_sim *s, apic_cpu *c) {
  apic__lapic *l = &c->apic;
  if (c->state == APIC__CORE_SPIN) unwatch(s, c);
  apic__lapic_init_reset(s, l);
  l->wait_sipi = 1;
  c->depth = 0;
  set_if(s, c, 0);
  c->shadow = c->nmi_blocked = c->in_smm = c->halted = 0;
  c->state = APIC__CORE_WAIT_SIPI;
  if (apic__tracing(s)) apic__event(s, APIC_EV_INIT, c->index, 0, 0, 0);
}

static void do_sipi(apic_sim *s, apic_cpu *c) {
  apic__lapic *l = &c->apic;
  uint8_t page = l->sipi_vector;
  l->sipi_pending = 0;
  l->wait_sipi = 0;
  const apic__handler *h = &s->startup[page];
  c->state = APIC__CORE_DONE;  /* no program at that page: the core idles */
  if (h->fn && apic__cpu_frame_push(s, c, h->fn, h->arg, APIC__FRAME_PROGRAM, 0) == APIC_OK) {
    c->state = APIC__CORE_RUN;
    apic__cpu_schedule(s, c, s->now + s->cfg.timing.insn);
  }
  if (apic__tracing(s))  /* a = 1 if a program started at the page */
    apic__event(s, APIC_EV_SIPI, c->index, page, c->state == APIC__CORE_RUN, 0);
}

/* A halted core leaves HLT before it takes what woke it. */
static void leave_halt(apic_sim *s, apic_cpu *c) {
  if (!c->halted) return;
  c->halted = 0;
  if (apic__tracing(s)) trace_ab(s, APIC_EV_WAKE, c, 0, 0);
}

/* Takes the highest-priority pending event; returns 1 if it did. */
static int boundary(apic_sim *s, apic_cpu *c) {
  apic__lapic *l = &c->apic;
  if (c->halted && has_work(c)) leave_halt(s, c);
  if (init_open(c)) {
    l->init_pending = 0;
    do_init(s, c);
    if (l->sipi_pending) do_sipi(s, c);
    return 1;
  }
  if (c->state == APIC__CORE_WAIT_SIPI) {
    if (l->sipi_pending) do_sipi(s, c);
    return 1;
  }
  if (l->smi_pending && !c->in_smm) {
    l->smi_pending = 0;
    c->in_smm = APIC_SMM_NMI_BLOCKED;
    enter(s, c, APIC__FRAME_SMI, APIC_VECTOR_SMI, APIC_EV_SMI);
    return 1;
  }
  if (l->nmi_pending && nmi_open(c)) {
    l->nmi_pending = 0;
    c->nmi_blocked = 1;
    enter(s, c, APIC__FRAME_NMI, 2, APIC_EV_NMI);
    return 1;
  }
  if (c->shadow) { c->shadow = 0; return 0; }
  if (!c->if_flag) return 0;
  if (l->extint_pending) {
    apic__lapic_extint_ack(l);
    enter(s, c, APIC__FRAME_EXTINT, s->cfg.extint_vector, APIC_EV_EXTINT);
    return 1;
  }
  int v = apic__lapic_ack(s, l);
  if (v < 0) return 0;
  enter(s, c, APIC__FRAME_INTR, (uint32_t)v, APIC_EV__COUNT);
  return 1;
}

/* HANDLER_ENTER or HANDLER_EXIT of the top frame f; an exit from SMM says
   in x the NMI blocking RSM restores. */
static APIC__NOINLINE void trace_handler(apic_sim *s, uint32_t kind, const apic_cpu *c,
                                         const apic__frame *f) {
  const apic_event r = {
      .cycle = s->now, .kind = kind, .cpu = c->index, .src = c->index,
      .vector = (uint8_t)f->vector, .a = nesting(c), .b = intr_kind(f),
      .x = kind == APIC_EV_HANDLER_EXIT && f->kind == APIC__FRAME_SMI ? f->saved_nmi : 0};
  apic__emit_inline(s, r);
}

static void iret(apic_sim *s, apic_cpu *c) {
  apic__frame *f = top(c);
  if (apic__tracing(s)) trace_handler(s, APIC_EV_HANDLER_EXIT, c, f);
  if (f->kind == APIC__FRAME_SMI) {
    /* RSM: NMI blocking is as before SMM, even if an IRET in SMM ended it
       (SDM 34.8: "If NMIs were blocked before the SMI occurred, they are
       blocked after execution of RSM") */
    c->in_smm = APIC_SMM_OFF;
    c->nmi_blocked = f->saved_nmi;
  } else {  /* any IRET ends NMI blocking, SMM's too (SDM 6.7.1, 34.8) */
    c->nmi_blocked = 0;
    if (c->in_smm) c->in_smm = APIC_SMM_AFTER_IRET;
  }
  uint8_t state = f->saved_state, saved_if = f->saved_if;
  c->depth--;
  c->cost += s->cfg.timing.iret;
  c->state = c->depth && state != APIC__CORE_DONE ? APIC__CORE_RUN : APIC__CORE_DONE;
  set_if(s, c, saved_if);
  if (c->depth && state == APIC__CORE_HALT) {  /* RSM back into HLT (SDM 34.10) */
    c->state = APIC__CORE_HALT;
    c->halted = 1;
    if (apic__tracing(s)) trace_ab(s, APIC_EV_HALT, c, c->if_flag, 0);
  }
}

/* The top frame returned APIC_DONE: a call returns to its caller (which
   finishes too if it had), a handler IRETs, a program ends. */
static void frame_done(apic_sim *s, apic_cpu *c) {
  while (top(c)->kind == APIC__FRAME_CALL) {
    c->depth--;
    c->cost += s->cfg.timing.insn;  /* RET */
    if (!top(c)->finished) return;
  }
  if (top(c)->kind == APIC__FRAME_PROGRAM) {
    c->depth--;
    c->state = APIC__CORE_DONE;
    if (apic__tracing(s)) apic__event(s, APIC_EV_PROGRAM_DONE, c->index, 0, 0, 0);
  } else {
    iret(s, c);
  }
}

/* The step called a function: its frame goes on top now that the caller's
   step is over (its yield saved the caller's resume point). */
static void push_call(apic_sim *s, apic_cpu *c, int caller_done) {
  apic_guest_fn fn = c->call_fn;
  c->call_fn = NULL;
  top(c)->finished = (uint8_t)caller_done;
  uint16_t vector = top(c)->vector;
  apic__cpu_frame_push(s, c, fn, c->call_arg, APIC__FRAME_CALL, vector);
}

void apic__cpu_step(apic_sim *s, apic_cpu *c) {
  c->step_at = UINT64_MAX;
  if (boundary(s, c)) return;
  if (c->state != APIC__CORE_RUN || c->depth == 0) return;  /* nothing to run */
  apic__frame *f = top(c);
  if (!f->entered) {  /* a handler's first step */
    f->entered = 1;
    s->stats.handlers++;
    if (apic__tracing(s)) trace_handler(s, APIC_EV_HANDLER_ENTER, c, f);
  }
  c->cost = 0;
  int r = f->fn(c, f->arg);
  if (s->fault) {  /* a bad call: the run stops at this step, its frame as it was */
    c->call_fn = NULL;
    return;
  }
  if (c->cost == 0) c->cost = s->cfg.timing.insn;
  if (c->call_fn) push_call(s, c, r == APIC_DONE);
  else if (r == APIC_DONE) frame_done(s, c);
  uint64_t next = s->now + c->cost;
  if (c->state == APIC__CORE_RUN) {
    apic__cpu_schedule(s, c, next);
  } else if (has_work(c)) {  /* e.g. STI; HLT with an interrupt pending */
    apic__cpu_schedule(s, c, next);
  }
}

/* ---- operations a guest step performs ---- */

uint32_t apic_cpu_index(const apic_cpu *c) { return c->index; }
apic_sim *apic_cpu_sim(apic_cpu *c) { return c->sim; }
uint64_t apic_cpu_now(const apic_cpu *c) { return c->sim->now; }
uint8_t apic_cpu_vector(const apic_cpu *c) {
  return c->depth ? (uint8_t)c->frames[c->depth - 1].vector : 0;
}
uint32_t *apic_cpu_pc(apic_cpu *c) { return &top(c)->pc; }

void apic_cpu_call(apic_cpu *c, apic_guest_fn fn, void *arg) {
  apic_sim *s = c->sim;
  c->cost += s->cfg.timing.insn;  /* CALL */
  if (!fn || c->call_fn) {
    s->fault = 1;
    apic__fail(s, APIC_E_STATE, "cpu %u: %s at cycle %llu", c->index,
               fn ? "two apic_cpu_call in one step" : "apic_cpu_call with a NULL function",
               (unsigned long long)s->now);
    return;
  }
  c->call_fn = fn;
  c->call_arg = arg;
}
uint64_t *apic_cpu_locals(apic_cpu *c) { return top(c)->locals; }
int apic_cpu_x2apic(const apic_cpu *c) { return apic__lapic_x2apic(&c->apic); }
int apic_cpu_if(const apic_cpu *c) { return c->if_flag; }

static void gp(apic_cpu *c, uint32_t msr) {
  if (apic__tracing(c->sim)) apic__event(c->sim, APIC_EV_GP_FAULT, c->index, 0, msr, 0);
}

int apic_cpu_rdmsr(apic_cpu *c, uint32_t msr, uint64_t *val) {
  c->cost += c->sim->cfg.timing.msr_read;
  int r = apic__lapic_rdmsr(c->sim, &c->apic, msr, val);
  if (r == APIC_GP) gp(c, msr);
  return r;
}

int apic_cpu_wrmsr(apic_cpu *c, uint32_t msr, uint64_t val) {
  c->cost += c->sim->cfg.timing.msr_write;
  int r = apic__lapic_wrmsr(c->sim, &c->apic, msr, val);
  if (r == APIC_GP) gp(c, msr);
  return r;
}

uint32_t apic_cpu_read(apic_cpu *c, uint32_t off) {
  if (apic__lapic_x2apic(&c->apic)) {
    uint64_t v = 0;
    if (off == APIC_REG_ICR_HI) {  /* the high half of the 64-bit ICR */
      apic_cpu_rdmsr(c, APIC_MSR_X2APIC(APIC_REG_ICR_LO), &v);
      return (uint32_t)(v >> 32);
    }
    apic_cpu_rdmsr(c, APIC_MSR_X2APIC(off), &v);
    return (uint32_t)v;
  }
  uint32_t v = 0;
  c->cost += c->sim->cfg.timing.mmio_read;
  apic__lapic_mmio_read(c->sim, &c->apic, off & (APIC_REG_PAGE - 1) & ~(APIC_REG_STRIDE - 1), &v);
  return v;
}

void apic_cpu_write(apic_cpu *c, uint32_t off, uint32_t val) {
  if (apic__lapic_x2apic(&c->apic)) {
    apic_cpu_wrmsr(c, APIC_MSR_X2APIC(off), val);
    return;
  }
  c->cost += c->sim->cfg.timing.mmio_write;
  apic__lapic_mmio_write(c->sim, &c->apic, off & (APIC_REG_PAGE - 1) & ~(APIC_REG_STRIDE - 1), val);
}

void apic_cpu_send_ipi(apic_cpu *c, uint32_t dest, uint32_t icr_lo) {
  if (apic__lapic_x2apic(&c->apic)) {
    apic_cpu_wrmsr(c, APIC_MSR_X2APIC(APIC_REG_ICR_LO), ((uint64_t)dest << 32) | icr_lo);
    return;
  }
  apic_cpu_write(c, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
  apic_cpu_write(c, APIC_REG_ICR_LO, icr_lo);
}

void apic_cpu_cli(apic_cpu *c) {
  c->cost += c->sim->cfg.timing.insn;
  set_if(c->sim, c, 0);
}

void apic_cpu_sti(apic_cpu *c) {
  c->cost += c->sim->cfg.timing.insn;
  if (!c->if_flag) c->shadow = 1;  /* SDM 6.8.3: recognised after the next instruction */
  set_if(c->sim, c, 1);
}

void apic_cpu_hlt(apic_cpu *c) {
  c->cost += c->sim->cfg.timing.insn;
  c->state = APIC__CORE_HALT;
  c->halted = 1;
  if (apic__tracing(c->sim)) trace_ab(c->sim, APIC_EV_HALT, c, c->if_flag, 0);
}

void apic_cpu_pause(apic_cpu *c) { c->cost += c->sim->cfg.timing.pause; }
void apic_cpu_work(apic_cpu *c, uint32_t cycles) { c->cost += cycles; }

uint32_t apic_cpu_load(apic_cpu *c, const volatile uint32_t *p) {
  c->cost += c->sim->cfg.timing.mem;
  return *p;
}

void apic_cpu_store(apic_cpu *c, volatile uint32_t *p, uint32_t v) {
  c->cost += c->sim->cfg.timing.mem;
  *p = v;
  apic__cpu_wake_watchers(c->sim, p);
}

#define RMW(name, expr)                                                      \
  uint32_t apic_cpu_##name(apic_cpu *c, volatile uint32_t *p, uint32_t v) {  \
    c->cost += c->sim->cfg.timing.atomic;                                    \
    uint32_t old = *p;                                                       \
    *p = (expr);                                                             \
    apic__cpu_wake_watchers(c->sim, p);                                      \
    return old;                                                              \
  }
RMW(fetch_add, old + v)
RMW(fetch_and, old & v)
RMW(fetch_or, old | v)
RMW(xchg, v)

void apic_cpu_wait(apic_cpu *c, const volatile void *p) {
  apic_sim *s = c->sim;
  c->cost += s->cfg.timing.pause;
  if (c->state == APIC__CORE_SPIN) unwatch(s, c);
  c->state = APIC__CORE_SPIN;
  c->watch = p;
  uint32_t b = bucket(s, p);
  c->watch_next = s->watch_head[b];
  s->watch_head[b] = c->index;
  s->spinning++;
}

void apic_cpu_mark(apic_cpu *c, const char *label) {
  apic_sim *s = c->sim;
  if (!apic__tracing(s)) return;
  apic_event ev = {0};
  ev.kind = APIC_EV_MARKER; ev.cpu = c->index; ev.src = c->index; ev.text = label;
  apic__emit(s, &ev);
}
