/*
 * sim.h - the engine's state, shared by the files of lib/ (private).
 *
 * One apic_sim holds everything of one machine: no global state. Time is a
 * single clock in core cycles; all future work sits in one event queue
 * (queue.c) ordered by (cycle, kind, core, sequence). A halted or idle core
 * has no event in the queue, so it costs nothing.
 */
#ifndef APICSIM_SIM_H
#define APICSIM_SIM_H

#include <stdint.h>
#include "apicsim/apicsim.h"
#include "lapic.h"
#include "ioapic.h"
#include "msg.h"
#include "queue.h"

/* Core states (what the viewer shows as the lane colour). */
enum {
  APIC__CORE_NOPROG = 0, /* no guest program: embedded mode, the host runs it */
  APIC__CORE_RUN,        /* a step is scheduled */
  APIC__CORE_HALT,       /* HLT: waits for an interrupt */
  APIC__CORE_SPIN,       /* waits on a memory address (apic_cpu_wait) */
  APIC__CORE_DONE,       /* program finished: idles like HLT */
  APIC__CORE_WAIT_SIPI   /* after INIT */
};

enum { /* frame kinds */
  APIC__FRAME_PROGRAM = 0, APIC__FRAME_INTR, APIC__FRAME_NMI, APIC__FRAME_SMI,
  APIC__FRAME_EXTINT,    /* vector from the 8259A stand-in: nothing in ISR */
  APIC__FRAME_CALL       /* a function a program or handler called (apic_cpu_call) */
};
/* Frames a core may hold, calls and handlers together: fixed-vector
   handlers nest at most ~18 deep (16 priority classes, NMI, SMI), but calls
   and ExtINT handlers that STI can go on without end; past the limit the
   run stops with a fault (a stack overflow on real hardware). */
#define APIC__MAX_FRAMES 1024u

typedef struct apic__frame {
  apic_guest_fn fn;
  void *arg;
  uint32_t pc;
  uint16_t vector;
  uint8_t kind;         /* APIC__FRAME_* */
  uint8_t saved_if;     /* IF of the interrupted context, restored by IRET */
  uint8_t saved_state;  /* core state to return to (RUN, DONE, or HALT: an SMI
                           taken in HLT returns to it, SDM 34.10) */
  uint8_t saved_nmi;    /* SMI frame: NMI blocking before SMM, restored by RSM */
  uint8_t entered;      /* handler's first step has run; always 1 for a program
                           or call frame, so a step tests one byte */
  uint8_t finished;     /* returned APIC_DONE in the step that made a call:
                           done as soon as that call returns */
  uint64_t locals[APIC_FRAME_LOCALS];
} apic__frame;

typedef struct apic__handler {
  apic_guest_fn fn;
  void *arg;
  uint32_t owner;       /* the install_tag it was set under, 0: the host's */
} apic__handler;

struct apic_cpu {
  apic__lapic apic;
  apic_sim *sim;
  uint32_t index;
  uint8_t state;          /* APIC__CORE_* */
  uint8_t if_flag;        /* EFLAGS.IF */
  uint8_t shadow;         /* STI shadow: no interrupt before the next step */
  uint8_t nmi_blocked;    /* since an NMI, until the next IRET (SDM 6.7.1) */
  uint8_t in_smm;         /* apic_smm */
  uint8_t halted;         /* HLT executed and not yet woken */
  uint32_t step_gen;      /* bumps to cancel a scheduled step */
  uint64_t step_at;       /* cycle of the scheduled step, UINT64_MAX if none */
  uint64_t cost;          /* cycles charged by the step now running (64 bits: a
                             step's costs, each 32, must not wrap) */
  apic__frame *frames;
  uint16_t depth, cap;
  const volatile void *watch; /* address waited on in APIC__CORE_SPIN */
  uint32_t watch_next;        /* next core waiting on the same hash bucket */
  apic__handler *idt;         /* per-core overrides, or NULL */
  apic_guest_fn call_fn;      /* apic_cpu_call of the running step, or NULL */
  void *call_arg;
};

/* Engine event kinds, in their tie-break order within a cycle. */
enum {
  APIC__EV_PIN = 0,  /* scheduled I/O APIC pin change (a = slot) */
  APIC__EV_BUS,      /* p6 bus: current message finishes */
  APIC__EV_ARRIVE,   /* message reaches receivers (a = msg slot, b = class) */
  APIC__EV_LEFT,     /* message left its sender (a = slot): only in s->left */
  APIC__EV_TIMER,    /* local APIC timer expiry (b = timer_gen) */
  APIC__EV_STEP      /* core instruction boundary (b = step_gen) */
};

typedef struct apic__pinchg {
  uint32_t ioapic, pin, level, next_free;
} apic__pinchg;

typedef struct apic__msgslot {
  apic__msg m;
  uint32_t refs;       /* pending engine events that use it; 0: free */
  uint32_t next_free;  /* free list; p6: next message in the sender's queue */
  uint32_t hits;       /* receivers that took it (for "matched nobody") */
} apic__msgslot;

/* p6 serial bus state (bus_p6.c). */
typedef struct apic__p6bus {
  uint32_t *head;      /* per agent: first queued msg slot (FIFO via next) */
  uint32_t *tail;
  uint32_t *qnext;     /* per msg slot: next in the agent's queue */
  uint32_t waiting;    /* agents with a queued message */
  uint32_t current;    /* msg slot on the bus, or APIC_NONE */
  uint32_t current_agent;
  uint8_t current_arb;  /* its arbitration ID when it won the bus */
  uint64_t busy_since;
} apic__p6bus;

struct apic_sim {
  apic_config cfg;
  char err[256];
  uint64_t now;
  uint64_t seq;          /* event and message sequence numbers */
  uint64_t msg_ids;
  struct { apic_hook_fn fn; apic_quiet_fn quiet; void *ud; uint8_t set, direct; } hooks[APIC_MAX_HOOKS];
  uint32_t nhooks;
  uint32_t ncalled;      /* hooks called per event: all but a direct one */
  struct apic__recorder *rec;  /* the direct hook's trace records (trace_rec.h) */
  struct apic__recorder *rec_first;  /* rec when its hook is the first of the list */
  uint8_t quiet_wanted;  /* call the quiet callbacks before the next event */
  uint8_t in_quiet;      /* the quiet callbacks are being called */
  uint8_t quiet_later;   /* asked for from inside them: after the next event */
  apic_stats stats;

  uint32_t ncpus;
  apic_cpu *cpus;
  apic__ioapic ioapics[APIC_MAX_IOAPICS];
  uint32_t nioapics;

  apic__queue q;
  /* xapic/mesh messages that will have left their senders, for MSG_DONE
     when a hook listens: keyed like APIC__EV_LEFT events and merged with
     q by the loop, but kept apart - the sender's delivery status is
     derived from ds_until, so only hooks need them, and a list that is
     nearly always in order costs less than sorting them among the steps. */
  apic__lane left;
  uint64_t left_t;       /* its least cycle, UINT64_MAX when empty: one test per event */
  apic__msgslot *msgs;
  uint32_t nmsgs, msg_free;
  apic__pinchg *pinchg;
  uint32_t npinchg, pin_free;

  apic__handler idt[256];      /* machine-wide vector table */
  uint32_t install_tag;        /* while a scenario installs programs[tag - 1] */
  apic__handler smi;
  apic__handler startup[256];  /* program per SIPI page */

  /* physical ID lookup (dest.c) */
  uint32_t *id_sorted;   /* cpu indices sorted by APIC ID */
  uint8_t ids_dirty;
  uint8_t ids_identity;  /* core i has APIC ID i, for every i */
  uint32_t lp_last;      /* xapic/mesh lowest priority tie-break rotation */
  uint32_t *scratch;     /* ncpus entries for destination sets */

  /* spin waiters: hash of address -> list of cores */
  uint32_t *watch_head;
  uint32_t watch_mask;
  uint32_t spinning;     /* cores in APIC__CORE_SPIN */

  apic__p6bus p6;
  uint8_t lapic_slot[APIC_REG_PAGE / APIC_REG_STRIDE]; /* register dispatch */
  uint8_t nomem;         /* an allocation failed inside the event loop */
  uint8_t fault;         /* a guest broke a rule the run cannot go on from (err says) */
#define APIC__BROKEN_NOMEM 1
#define APIC__BROKEN_FAULT 2
  uint8_t broken;        /* APIC__BROKEN_*: a run stopped on one of the two above (events
                            were lost or a guest cannot go on); the machine refuses to run */
  uint8_t in_run;        /* apic_sim_run is on the stack (no re-entry) */
  uint8_t in_hook;       /* hooks or quiet callbacks are being called: the list is fixed */
};

/* ---- sink: how the register models talk to the engine ---- */
/* Fills cycle and hands the event to the hooks and the direct writer. */
void apic__emit(apic_sim *s, apic_event *ev);
static inline int apic__tracing(const apic_sim *s) { return s->nhooks != 0; }
/* A message leaves a local APIC or I/O APIC for the interconnect. */
void apic__post(apic_sim *s, const apic__msg *m);
/* The bus models report a posted message (MSG_SEND; leave = 0 if unknown). */
void apic__msg_sent(apic_sim *s, uint32_t slot, uint64_t leave);
/* The timer's expiry cycle changed (timer_next). */
void apic__timer_changed(apic_sim *s, uint32_t cpu);
/* Something arrived that the core may take: wake it if it sleeps. */
void apic__kick(apic_sim *s, uint32_t cpu);
/* An ID, LDR or DFR changed: destination lookups must rebuild. */
void apic__ids_changed(apic_sim *s);
/* Small event constructor used by every emitter. */
void apic__event(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                 uint32_t a, uint32_t b);
/* apic__emit and apic__emit_inline (trace_rec.h) the long way, ev->cycle
   set: to the hooks, the direct writer in its place; and the hooks after a
   direct writer that is first in the list and has recorded ev. */
void apic__emit_slow(apic_sim *s, const apic_event *ev);
void apic__hooks_after_first(apic_sim *s, const apic_event *ev);
void apic__event_hooks_after_first(apic_sim *s, uint32_t kind, uint32_t cpu, uint8_t vector,
                                   uint32_t a, uint32_t b);
/* The hook (fn, ud), just added by a trace writer, is fed through r
   instead of being called; 0, or -1 if another writer's already is. */
int apic__hook_direct(apic_sim *s, apic_hook_fn fn, void *ud, struct apic__recorder *r);
/* trace_write.c: a writer's hook, and what apic_sim_destroy tells an open one */
void apic__trace_on_event(void *ud, const apic_event *ev);
void apic__trace_orphan(void *ud);

void *apic__alloc(apic_sim *s, void *p, size_t n);
int apic__fail(apic_sim *s, int err, const char *fmt, ...);
/* After a host call: an allocation failed inside it -> APIC_E_NOMEM, and
   the machine is marked broken (events were lost). */
int apic__check_nomem(apic_sim *s, int rc);

/* ---- engine parts ---- */
int apic__pin_at(apic_sim *s, uint32_t ioapic, uint32_t pin, int level, uint64_t t);
void apic__schedule(apic_sim *s, uint64_t t, uint32_t kind, uint32_t cpu,
                    uint32_t a, uint32_t b);
uint32_t apic__msg_new(apic_sim *s, const apic__msg *m);
void apic__msg_unref(apic_sim *s, uint32_t slot);

/* delivery of a message that has reached its receivers (sim.c) */
void apic__arrive(apic_sim *s, uint32_t slot, uint32_t cls);
/* the message left its sender (delivery status) */
void apic__left(apic_sim *s, uint32_t slot);
/* ...and will at cycle t: apic__left then, if a hook listens (xapic, mesh). */
void apic__left_at(apic_sim *s, uint64_t t, uint32_t slot);

/* dest.c */
/* Fills s->scratch with the cores a message reaches; returns the count. */
uint32_t apic__dest_resolve(apic_sim *s, const apic__msg *m);
/* Lowest-priority choice among n candidate cores (SDM 10.6.2.4). */
uint32_t apic__dest_lowest(apic_sim *s, const apic__msg *m, const uint32_t *cand,
                           uint32_t n, int p6_arb);
/* Topology distance class for the mesh: 0 self/same core, 1 socket, 2 cross. */
uint32_t apic__topo_class(const apic_sim *s, uint32_t from, uint32_t to);

/* bus.c (xapic, mesh) and bus_p6.c */
void apic__bus_post(apic_sim *s, uint32_t slot);
int apic__p6_init(apic_sim *s);
void apic__p6_free(apic_sim *s);
void apic__p6_post(apic_sim *s, uint32_t slot);
void apic__p6_done(apic_sim *s);
/* Bus cycles of a message as the bus sees it now (focus decides lowest priority). */
uint32_t apic__p6_cycles(apic_sim *s, const apic__msg *m);

/* cpu.c */
void apic__cpu_step(apic_sim *s, apic_cpu *c);
void apic__cpu_wake_watchers(apic_sim *s, const volatile void *p);
int apic__cpu_frame_push(apic_sim *s, apic_cpu *c, apic_guest_fn fn, void *arg,
                         uint8_t kind, uint16_t vector);
void apic__cpu_free(apic_sim *s, apic_cpu *c);
void apic__cpu_schedule(apic_sim *s, apic_cpu *c, uint64_t t);

#endif
