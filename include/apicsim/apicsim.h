/*
 * apicsim.h - public API of apicsim, a cycle-level emulator of the x86
 * interrupt architecture (local APICs, I/O APICs and the interconnect that
 * carries interrupt messages between them).
 *
 * Order of this header: export macro, version, errors, types, callbacks,
 * then one section per object (configuration, simulation, local APIC access,
 * I/O APIC access, embedded-mode calls, guest cores, events).
 *
 * Conventions:
 *  - Every call takes the simulation handle first; there is no global state.
 *  - Calls return 0 (APIC_OK) or a negative APIC_E_* code; a failed call
 *    changes nothing, and apic_sim_errmsg() says what was wrong.
 *  - A guest's illegal register access is hardware behaviour, not an API
 *    error: it sets an ESR bit, is ignored, or (x2APIC) raises #GP, which is
 *    reported as the positive return value APIC_GP.
 */
#ifndef APICSIM_H
#define APICSIM_H

#include <stddef.h>
#include <stdint.h>
#include "regs.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(APICSIM_BUILDING) && defined(__GNUC__)
#define APIC_API __attribute__((visibility("default")))
#else
#define APIC_API
#endif

/* ---- Version (the build reads it from here) ---- */
#define APICSIM_VERSION_MAJOR 0
#define APICSIM_VERSION_MINOR 1
#define APICSIM_VERSION_PATCH 0
#define APICSIM_VERSION "0.1.0"
#define APICSIM_VERSION_NUM 0x000100

APIC_API const char *apic_version(void);

/* ---- Errors: one list builds the codes, apic_strerror and apic_err_name ---- */
#define APIC_ERRNO_MAP(X)                                                    \
  X(ARG,      -1, "invalid argument")                                        \
  X(NOMEM,    -2, "out of memory")                                           \
  X(CPU,      -3, "CPU index out of range")                                  \
  X(REG,      -4, "no such register")                                        \
  X(ALIGN,    -5, "misaligned register access")                              \
  X(CONFIG,   -6, "impossible configuration")                                \
  X(VERSION,  -7, "header and library versions differ")                      \
  X(IOAPIC,   -8, "I/O APIC index out of range")                             \
  X(PIN,      -9, "I/O APIC pin out of range")                               \
  X(STATE,   -10, "call not valid in the current state")                     \
  X(TIME,    -11, "cycle is in the past")                                  \
  X(IO,      -12, "file could not be read or written")                       \
  X(FORMAT,  -13, "not an apicsim trace, or a version this reader does not know") \
  X(CORRUPT, -14, "trace is damaged: a checksum, length or record does not hold") \
  X(END,     -15, "no more records")

enum {
  APIC_OK = 0,
#define APIC__E(name, code, msg) APIC_E_##name = code,
  APIC_ERRNO_MAP(APIC__E)
#undef APIC__E
  APIC_GP = 1 /* the guest access raised #GP(0); nothing changed */
};

APIC_API const char *apic_strerror(int err);
APIC_API const char *apic_err_name(int err);

/* ---- Opaque types ---- */
typedef struct apic_sim apic_sim;  /* one simulated machine */
typedef struct apic_cpu apic_cpu;  /* one core, as its guest program sees it */

#define APIC_NONE 0xFFFFFFFFu      /* "no core" / "no value" */

/*
 * The last cycle the clock reaches (2^62: 146 years at 1 GHz). Every later
 * time is now plus a bounded latency, so with the clock at most this high no
 * sum of cycles wraps around into the past; apic_sim_run and
 * apic_ioapic_set_pin_at refuse cycles above it with APIC_E_TIME, and an
 * event that would happen after it (a TSC deadline of UINT64_MAX) is never
 * reached.
 */
#define APIC_CYCLE_MAX (UINT64_C(1) << 62)

/* ---- Processor generations: where the SDM differs between them ---- */
typedef enum apic_model {
  APIC_MODEL_P6 = 0,   /* P6 family: 4-bit IDs, 3-wire APIC bus, retry on full */
  APIC_MODEL_XAPIC = 1 /* Pentium 4 / Xeon and later: 8-bit IDs, x2APIC capable */
} apic_model;

/* ---- Interconnect timing models ---- */
typedef enum apic_bus_kind {
  APIC_BUS_P6 = 0,     /* serial APIC bus: one message at a time */
  APIC_BUS_XAPIC = 1,  /* system bus: parallel, fixed latency */
  APIC_BUS_MESH = 2    /* latency from a sockets x cores topology */
} apic_bus_kind;

/*
 * Every latency, in core cycles. apic_config_default() fills the defaults
 * documented in docs/TIMING.md with where each comes from.
 */
typedef struct apic_timing {
  uint32_t mmio_read;      /* guest read of a local APIC register (xAPIC) */
  uint32_t mmio_write;     /* guest write of a local APIC register (xAPIC) */
  uint32_t msr_read;       /* RDMSR of an x2APIC register */
  uint32_t msr_write;      /* WRMSR of an x2APIC register */
  uint32_t insn;           /* one plain guest step (cli, sti, compute) */
  uint32_t pause;          /* one PAUSE in a spin loop */
  uint32_t mem;            /* shared-memory load or store */
  uint32_t atomic;         /* locked read-modify-write */
  uint32_t accept;         /* IRR->ISR and vectoring to the handler's first step */
  uint32_t iret;           /* return from a handler */
  uint32_t wake;           /* leaving HLT when an interrupt arrives */
  uint32_t post;           /* ICR write until the message leaves (xapic, mesh) */
  uint32_t xapic_latency;  /* xapic: message leave -> arrival at receivers */
  uint32_t p6_clock_div;   /* p6: core cycles per APIC bus cycle */
  uint32_t mesh_same_core; /* mesh: between SMT threads of one core */
  uint32_t mesh_same_socket;
  uint32_t mesh_cross_socket;
  uint32_t ioapic_latency; /* I/O APIC to local APIC, and EOI back (xapic, mesh) */
  uint32_t timer_div;      /* core cycles per APIC timer input clock tick,
                              1..APIC_TIMER_DIV_MAX */
} apic_timing;

/* Choices where the SDM leaves behaviour open (docs/SDM-CHOICES.md). */
typedef struct apic_quirks {
  uint8_t logical_ff_all;   /* logical dest 0xFF reaches APICs whose LDR is 0 */
  uint8_t timer_masked_hold;/* a masked timer expiry is held, not dropped */
} apic_quirks;

#define APIC_MAX_IOAPICS 8
#define APIC_MAX_CPUS    65536u
#define APIC_IOAPIC_MAX_PINS 120u /* REDTBL index 0x10+2n must fit in IOREGSEL */

/* The largest timing.timer_div: the longest timer period, initial count
   0xFFFFFFFF divided by 128, is then 2^59 cycles, well inside the clock. */
#define APIC_TIMER_DIV_MAX (1u << 20)

typedef void *(*apic_realloc_fn)(void *ud, void *ptr, size_t size);

typedef struct apic_config {
  uint32_t api_version;     /* APICSIM_VERSION_NUM, checked by create */
  uint32_t struct_size;     /* sizeof(apic_config), checked by create */
  uint32_t ncpus;           /* 1..APIC_MAX_CPUS (x2APIC); 15 (P6); 255 (xAPIC) */
  apic_model model;
  uint8_t x2apic;           /* cores start in x2APIC mode (needs APIC_MODEL_XAPIC) */
  apic_bus_kind bus;
  uint32_t sockets;         /* mesh topology: sockets x cores x threads = ncpus */
  uint32_t threads_per_core;
  uint32_t nioapics;        /* 0..APIC_MAX_IOAPICS */
  uint32_t ioapic_pins[APIC_MAX_IOAPICS];    /* 1..120, default 24 */
  uint8_t ioapic_version[APIC_MAX_IOAPICS];  /* 0x11 or 0x20 */
  uint8_t ioapic_id[APIC_MAX_IOAPICS];
  const uint32_t *apic_ids; /* optional ncpus initial APIC IDs; NULL = 0..n-1 */
  uint8_t extint_vector;    /* vector the 8259A stand-in returns for ExtINT */
  double freq_ghz;          /* only used to print nanoseconds */
  uint64_t seed;
  apic_timing timing;
  apic_quirks quirks;
  apic_realloc_fn alloc;    /* optional allocator (realloc semantics, size 0 frees) */
  void *alloc_ud;
} apic_config;

/* Fills every field with its documented default for ncpus cores (cfg NULL:
   does nothing). Timing fields may be 0 except insn (so that every guest
   step takes time), p6_clock_div and timer_div. */
APIC_API void apic_config_default(apic_config *cfg, uint32_t ncpus);

/* ---- Events: every state change flows through one hook ---- */
#define APIC_EVENT_MAP(X)                                                    \
  X(ICR_WRITE,     "icr_write",     "guest wrote ICR (a=ICR low, b=ICR high, msg=the message it sends, 0 if none)")\
  X(ICR_INVALID,   "icr_invalid",   "ICR combination the SDM calls invalid: not sent")\
  X(MSG_SEND,      "msg_send",      "message enters the interconnect (a=p6 bus cycles, b=0 interrupt/1 EOI, x=cycle it leaves the sender if known)")\
  X(MSG_ARB,       "msg_arb",       "p6 bus arbitration won (a=winner arb id, b=waiting)")\
  X(MSG_RETRY,     "msg_retry",     "message rejected, will retry (a=retry count)")\
  X(MSG_DONE,      "msg_done",      "message left the sender: delivery status idle")\
  X(MSG_NOTARGET,  "msg_notarget",  "message matched no APIC")\
  X(IRR_SET,       "irr_set",       "vector set in IRR (a=1 if level/TMR)")\
  X(IRR_COALESCED, "irr_coalesced", "vector already pending in IRR: merged (a=1 if level: TMR set)")\
  X(MSG_DROPPED,   "msg_dropped",   "receiver ignored the message (a=reason)")\
  X(ACCEPT,        "accept",        "IRR->ISR at an instruction boundary")\
  X(HANDLER_ENTER, "handler_enter", "handler's first step (a=depth, b=apic_intr_kind)")\
  X(HANDLER_EXIT,  "handler_exit",  "handler returned: IRET (a=depth, b=apic_intr_kind; SMI: RSM, x=1 if it restores NMI blocking)")\
  X(EOI,           "eoi",           "EOI cleared ISR bit (vector)")\
  X(EOI_MSG,       "eoi_msg",       "EOI message to the I/O APICs (vector)")\
  X(TPR,           "tpr",           "TPR written (a=new, b=old)")\
  X(PPR,           "ppr",           "PPR changed (a=new, b=old)")\
  X(PIN,           "pin",           "I/O APIC pin level (a=pin, b=level)")\
  X(RTE_WRITE,     "rte_write",     "redirection entry written (a=pin, b=low)")\
  X(REMOTE_IRR_SET,"remote_irr_set","I/O APIC remote IRR set (a=pin)")\
  X(REMOTE_IRR_CLR,"remote_irr_clr","I/O APIC remote IRR cleared (a=pin)")\
  X(TIMER_FIRE,    "timer_fire",    "APIC timer expired (a=1 if masked)")\
  X(NMI,           "nmi",           "NMI taken")\
  X(INIT,          "init",          "INIT taken: core waits for SIPI")\
  X(SIPI,          "sipi",          "start-up taken (vector = page, a=1 if a program started)")\
  X(SMI,           "smi",           "SMI taken (a=1 if the core entered SMM)")\
  X(EXTINT,        "extint",        "ExtINT taken from the 8259A stand-in")\
  X(ESR_ERROR,     "esr_error",     "error logged in ESR (a=bits)")\
  X(HALT,          "halt",          "core executed HLT")\
  X(WAKE,          "wake",          "halted core woke")\
  X(IF_CHANGE,     "if",            "interrupt flag changed (a=new IF, b=old)")\
  X(MARKER,        "marker",        "guest marker (text)")\
  X(PROGRAM_DONE,  "program_done",  "core's program finished")\
  X(PROGRAM_START, "program_start", "a program was installed on the core")\
  X(UNHANDLED,     "unhandled",     "vector with no handler: default EOI+iret")\
  X(GP_FAULT,      "gp_fault",      "guest register access raised #GP (a=msr, b=1 if the host's: a scenario's stimulus)")\
  X(APIC_MODE,     "apic_mode",     "IA32_APIC_BASE changed (x=new, a=old low)")\
  X(REG,           "reg",           "register value changed (a=offset, b=new value)")\
  X(RESET,         "reset",         "INIT or disable: IRR, ISR, TMR and pending inputs cleared")\
  X(TIMER_ARM,     "timer_arm",     "timer (re)armed (x=expiry cycle, 0 = disarmed)")\
  X(PENDING,       "pending",       "NMI/SMI/INIT/SIPI/ExtINT latched (a=apic_intr_kind)")\
  X(WITHDRAWN,     "withdrawn",     "level-sensitive input went inactive before it was taken: no longer pending (a=apic_intr_kind)")

typedef enum apic_event_kind {
#define APIC__EV(name, str, doc) APIC_EV_##name,
  APIC_EVENT_MAP(APIC__EV)
#undef APIC__EV
  APIC_EV__COUNT
} apic_event_kind;

/* Reasons for APIC_EV_MSG_DROPPED (in event.a). */
#define APIC_DROP_DISABLED 1u  /* receiving APIC software-disabled */
#define APIC_DROP_ILLEGAL  2u  /* vector 0..15: receive illegal vector */
#define APIC_DROP_NOT_WAITING 3u /* SIPI to a core not waiting for SIPI */

/* Message kinds (APIC_EV_MSG_SEND's b). */
#define APIC_MSG_INTERRUPT 0u
#define APIC_MSG_EOI       1u

/* Event flags (event.flags). */
#define APIC_EVF_LOGICAL  (1u << 0)
#define APIC_EVF_LEVEL    (1u << 1)   /* level-triggered */
#define APIC_EVF_ASSERT   (1u << 2)   /* level bit */
#define APIC_EVF_SH_SHIFT 3           /* shorthand, 2 bits */
#define APIC_EVF_IOAPIC   (1u << 5)   /* src is an I/O APIC index */

typedef struct apic_event {
  uint64_t cycle;
  uint64_t msg;      /* id of the message this event belongs to (0 = none) */
  uint32_t kind;     /* apic_event_kind */
  uint32_t cpu;      /* core it happened on, or APIC_NONE */
  uint32_t src;      /* sending core, or I/O APIC index with APIC_EVF_IOAPIC */
  uint32_t dest;     /* destination field of the message */
  uint32_t flags;    /* APIC_EVF_* */
  uint8_t vector;
  uint8_t mode;      /* APIC_DM_* of the message */
  uint32_t a, b;     /* per-kind values, see APIC_EVENT_MAP */
  uint64_t x;        /* per-kind 64-bit value (TIMER_ARM, APIC_MODE) */
  const char *text;  /* APIC_EV_MARKER only; valid during the hook call */
} apic_event;

typedef void (*apic_hook_fn)(void *ud, const apic_event *ev);

APIC_API const char *apic_event_name(uint32_t kind);

/* ---- Simulation ---- */

/*
 * Creates a machine. On failure returns a negative code, sets *out to NULL,
 * and writes the reason into why (if why_size > 0).
 */
APIC_API int apic_sim_create(apic_sim **out, const apic_config *cfg,
                             char *why, size_t why_size);
/* Frees the machine (NULL: nothing). Called from inside a guest step, hook
   or quiet callback it does nothing (apic_sim_errmsg says so). A trace
   writer still open keeps working: its close finishes the file. */
APIC_API void apic_sim_destroy(apic_sim *s);
/* Detail of the last failed call on this simulation. */
APIC_API const char *apic_sim_errmsg(const apic_sim *s);
APIC_API uint32_t apic_sim_ncpus(const apic_sim *s);
APIC_API uint64_t apic_sim_now(const apic_sim *s);
APIC_API const apic_config *apic_sim_config(const apic_sim *s);

/*
 * Installs a state-change hook in place of the one the previous call
 * installed (fn NULL: just removes that one). Hooks added with
 * apic_sim_add_hook - a trace writer's, a library program's - stay.
 * Returns APIC_E_STATE when there is no such hook and every slot is taken.
 * Hooks are called in the order they were installed (a trace writer's
 * too, whichever way the engine feeds it). None of the hook
 * functions may be called from inside a hook or quiet callback
 * (APIC_E_STATE): the list stays fixed while it is being called.
 */
APIC_API int apic_sim_set_hook(apic_sim *s, apic_hook_fn fn, void *ud);

/*
 * Adds a hook (up to APIC_MAX_HOOKS; each gets every event in order).
 * quiet, if not NULL, is called between two engine events after any hook
 * asked for it with apic_sim_request_quiet: a point where no operation is
 * half done, so the whole machine state matches the events seen so far
 * (the trace writer takes its snapshots there); it may access registers,
 * and so send IPIs, as the host does between two runs. Returns
 * APIC_E_STATE when full.
 */
#define APIC_MAX_HOOKS 16
typedef void (*apic_quiet_fn)(void *ud, apic_sim *s);
APIC_API int apic_sim_add_hook(apic_sim *s, apic_hook_fn fn, apic_quiet_fn quiet, void *ud);
/* Removes the last hook added with apic_sim_add_hook(fn, ud) (one added
   twice is removed once); the one apic_sim_set_hook installed stays, even
   with the same fn and ud. APIC_E_ARG if there is none. */
APIC_API int apic_sim_remove_hook(apic_sim *s, apic_hook_fn fn, void *ud);
/* Asked for from inside a quiet callback, the next quiet point comes after
   the next event (or at the start of the next run), never at once. */
APIC_API void apic_sim_request_quiet(apic_sim *s);

typedef enum apic_run_status {
  APIC_RUN_IDLE = 0,   /* nothing left to happen: every core halted or done */
  APIC_RUN_LIMIT = 1,  /* reached the cycle limit with events still pending */
  APIC_RUN_STUCK = 2   /* no event pending but cores spin on memory: deadlock */
} apic_run_status;

/*
 * Runs until `until` (absolute cycle) or until nothing is left to happen.
 * Returns an apic_run_status (>= 0) or a negative error. `until` is at most
 * APIC_CYCLE_MAX (APIC_E_TIME above it), or UINT64_MAX: until nothing is
 * left, and at most to APIC_CYCLE_MAX (APIC_RUN_LIMIT if events remain
 * after it). A run never moves the clock back: an `until` before now
 * processes nothing.
 */
APIC_API int apic_sim_run(apic_sim *s, uint64_t until);
/* Cycle of the next pending event, or UINT64_MAX if none. */
APIC_API uint64_t apic_sim_next_event(const apic_sim *s);

typedef struct apic_stats {
  uint64_t events;        /* engine events processed */
  uint64_t messages;      /* interrupt messages sent (IPIs, I/O APIC, EOI) */
  uint64_t deliveries;    /* vectors set in an IRR or NMI/INIT/SIPI/SMI taken */
  uint64_t coalesced;     /* deliveries merged into an already-set IRR bit */
  uint64_t dropped;       /* messages a receiver ignored */
  uint64_t retries;       /* p6 bus retries */
  uint64_t handlers;      /* handler entries */
  uint64_t unhandled;     /* vectors with no installed handler */
  uint64_t bus_busy_cycles; /* cycles the p6 bus carried a message */
  uint64_t esr_errors;
} apic_stats;

APIC_API void apic_sim_stats(const apic_sim *s, apic_stats *out);

/* ---- Local APIC register access (host side: debugger, host simulator) ---- */
/*
 * xAPIC MMIO access at a byte offset in the 4 KiB page (16-byte aligned).
 * Acts as the core's own access would, at the current cycle. In x2APIC mode
 * MMIO does not reach the APIC: reads give 0 and writes are dropped.
 */
APIC_API int apic_lapic_read(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t *val);
APIC_API int apic_lapic_write(apic_sim *s, uint32_t cpu, uint32_t off, uint32_t val);
/* RDMSR / WRMSR: IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC 0x800..0x8FF. */
APIC_API int apic_lapic_rdmsr(apic_sim *s, uint32_t cpu, uint32_t msr, uint64_t *val);
APIC_API int apic_lapic_wrmsr(apic_sim *s, uint32_t cpu, uint32_t msr, uint64_t val);
/* Drives the core's LINT0 (pin 0) or LINT1 (pin 1) input to a raw level;
   what it does depends on LVT_LINT0/1 (SDM 10.5.1: fixed, NMI, SMI, INIT,
   ExtINT; edge or level, polarity). */
APIC_API int apic_lapic_set_lint(apic_sim *s, uint32_t cpu, uint32_t pin, int level);
/* Register name for an xAPIC offset ("TPR", "ISR3"...), or NULL. */
APIC_API const char *apic_lapic_reg_name(uint32_t off);

/* A read-only copy of a local APIC's architectural state, for tools. */
typedef struct apic_lapic_state {
  uint32_t id, version, tpr, apr, ppr, ldr, dfr, svr, esr;
  uint32_t irr[8], isr[8], tmr[8];
  uint32_t lvt_cmci, lvt_timer, lvt_thermal, lvt_perf, lvt_lint0, lvt_lint1, lvt_error;
  uint32_t icr_lo, icr_hi, timer_icr, timer_ccr, timer_dcr;
  uint64_t apic_base;
  uint64_t timer_next;   /* cycle the timer expires, 0 = disarmed */
  uint64_t ds_until;     /* xapic/mesh: ICR delivery status is busy until then */
  uint32_t sends_pending;/* p6: messages waiting for or on the bus */
  uint8_t x2apic, nmi_pending, init_pending, sipi_pending, smi_pending, wait_sipi;
  uint8_t sipi_vector, extint_pending;
} apic_lapic_state;

APIC_API int apic_lapic_state_get(apic_sim *s, uint32_t cpu, apic_lapic_state *out);

/* What a core is doing, for tools (the viewer's lane colour). */
typedef enum apic_core_run {
  APIC_CORE_NOPROG = 0,  /* no guest program: embedded mode */
  APIC_CORE_RUNNING,     /* executing its program or a handler */
  APIC_CORE_HALTED,      /* HLT (a core spinning on memory counts as running) */
  APIC_CORE_DONE,        /* program finished; idles like HLT */
  APIC_CORE_WAIT_SIPI    /* after INIT */
} apic_core_run;

/* apic_core_state.in_smm (SDM 34.8): SMM blocks NMI until RSM, or until an
   IRET that SMM code runs, which ends that blocking for the rest of SMM. */
typedef enum apic_smm {
  APIC_SMM_OFF = 0,        /* not in SMM */
  APIC_SMM_NMI_BLOCKED,    /* in SMM: NMIs wait for RSM */
  APIC_SMM_AFTER_IRET      /* in SMM after an IRET: NMIs are taken */
} apic_smm;

#define APIC_CORE_MAX_NEST 32  /* handler vectors reported in apic_core_state */
typedef struct apic_core_state {
  uint8_t run;           /* apic_core_run */
  uint8_t if_flag;
  uint8_t nmi_blocked;   /* by an NMI until the next IRET of any handler (SDM 6.7.1) */
  uint8_t in_smm;        /* apic_smm */
  uint32_t nest;         /* handlers that have started, innermost last */
  uint16_t vectors[APIC_CORE_MAX_NEST]; /* their vectors (2 = NMI, 256 = SMI) */
} apic_core_state;

APIC_API int apic_core_state_get(apic_sim *s, uint32_t cpu, apic_core_state *out);

/* ---- I/O APIC ---- */
/* Byte access at IOREGSEL (0x00), IOWIN (0x10), EOIR (0x40, version 0x20). */
APIC_API int apic_ioapic_read(apic_sim *s, uint32_t ioapic, uint32_t off, uint32_t *val);
APIC_API int apic_ioapic_write(apic_sim *s, uint32_t ioapic, uint32_t off, uint32_t val);
/* Convenience: whole redirection entry (through IOREGSEL/IOWIN semantics). */
APIC_API int apic_ioapic_rte_get(apic_sim *s, uint32_t ioapic, uint32_t pin, uint64_t *rte);
APIC_API int apic_ioapic_rte_set(apic_sim *s, uint32_t ioapic, uint32_t pin, uint64_t rte);
/* Drives an input pin to a raw electrical level (0 or 1) now. */
APIC_API int apic_ioapic_set_pin(apic_sim *s, uint32_t ioapic, uint32_t pin, int level);
/* Raw level of an input pin. */
APIC_API int apic_ioapic_get_pin(apic_sim *s, uint32_t ioapic, uint32_t pin, int *level);
/* Schedules a pin level change at an absolute cycle, now..APIC_CYCLE_MAX
   (APIC_E_TIME outside). */
APIC_API int apic_ioapic_set_pin_at(apic_sim *s, uint32_t ioapic, uint32_t pin,
                                    int level, uint64_t cycle);

/* ---- Embedded mode: the host owns the CPUs (no guest program installed) ---- */
typedef enum apic_intr_kind {
  APIC_INTR_NONE = 0,
  APIC_INTR_FIXED,   /* maskable vector from IRR, deliverable above PPR */
  APIC_INTR_EXTINT,  /* maskable, vector from the 8259A stand-in */
  APIC_INTR_NMI,
  APIC_INTR_SMI,
  APIC_INTR_INIT,
  APIC_INTR_SIPI     /* core waits for SIPI and one arrived (vector = page) */
} apic_intr_kind;

/*
 * What the core would take at an instruction boundary, highest priority
 * first (INIT, SMI, NMI, then ExtINT and fixed when if_flag is 1).
 */
APIC_API int apic_sim_pending(apic_sim *s, uint32_t cpu, int if_flag,
                              apic_intr_kind *kind, uint8_t *vector);
/*
 * The INTA cycle / taking of the pending event returned by apic_sim_pending:
 * for FIXED moves IRR->ISR and returns the vector, or the spurious vector if
 * nothing is deliverable any more (SDM 10.9); NMI/SMI/INIT/SIPI are consumed.
 */
APIC_API int apic_sim_ack(apic_sim *s, uint32_t cpu, apic_intr_kind kind, uint8_t *vector);
/* Tells the model the host's NMI handler returned (unblocks NMI).
   apic_sim_ack and apic_sim_nmi_return are for cores with no guest program:
   on one that has one (or had: it may be done or wait for SIPI) they are
   APIC_E_STATE, since the core model takes its own interrupts. */
APIC_API int apic_sim_nmi_return(apic_sim *s, uint32_t cpu);

/* ---- Guest programs ---- */
/*
 * A guest program or handler is a resumable function: each call performs one
 * step (at most one operation below) and returns APIC_STEP to be resumed, or
 * APIC_DONE when finished (for a handler: IRET). apicsim/guest.h has macros
 * that make such functions read like straight-line kernel code.
 */
#define APIC_STEP 0
#define APIC_DONE 1
typedef int (*apic_guest_fn)(apic_cpu *c, void *arg);

/* Runs fn(arg) on cpu from cycle 0 (or now). */
APIC_API int apic_sim_set_program(apic_sim *s, uint32_t cpu, apic_guest_fn fn, void *arg);
/*
 * Installs the handler for a vector (2 = NMI). cpu = APIC_NONE sets the
 * machine-wide table, like one IDT shared by all cores; a per-core entry
 * overrides it.
 */
APIC_API int apic_sim_set_handler(apic_sim *s, uint32_t cpu, uint8_t vector,
                                  apic_guest_fn fn, void *arg);
/* The program a core starts after INIT + SIPI with start-up vector `page`. */
APIC_API int apic_sim_set_startup(apic_sim *s, uint8_t page, apic_guest_fn fn, void *arg);
#define APIC_VECTOR_SMI 256u  /* pseudo-vector for the SMM handler */
APIC_API int apic_sim_set_smi_handler(apic_sim *s, apic_guest_fn fn, void *arg);

/* Operations a guest step may perform (each costs its timing field). */
APIC_API uint32_t apic_cpu_index(const apic_cpu *c);
APIC_API apic_sim *apic_cpu_sim(apic_cpu *c);
APIC_API uint64_t apic_cpu_now(const apic_cpu *c);
APIC_API uint8_t apic_cpu_vector(const apic_cpu *c); /* vector of the running handler */
APIC_API uint32_t *apic_cpu_pc(apic_cpu *c);        /* resume point of this frame */
/*
 * Calls another guest function: when this step ends, fn(c, arg) runs in a
 * frame of its own (its own pc and locals) from the core's next step, and
 * when it returns APIC_DONE the caller resumes after its yield. Interrupts
 * nest above it as above any code. One call per step (APIC_CALL in guest.h
 * does it and yields); a NULL fn, a second call in a step, or more than
 * 1024 frames of calls and handlers stop the run with APIC_E_STATE.
 */
APIC_API void apic_cpu_call(apic_cpu *c, apic_guest_fn fn, void *arg);
#define APIC_FRAME_LOCALS 4
APIC_API uint64_t *apic_cpu_locals(apic_cpu *c);    /* this frame's locals */
APIC_API int apic_cpu_x2apic(const apic_cpu *c);    /* APIC in x2APIC mode */

/* Register access: MMIO offsets; on an x2APIC core they go through the MSRs. */
APIC_API uint32_t apic_cpu_read(apic_cpu *c, uint32_t off);
APIC_API void apic_cpu_write(apic_cpu *c, uint32_t off, uint32_t val);
APIC_API int apic_cpu_rdmsr(apic_cpu *c, uint32_t msr, uint64_t *val);
APIC_API int apic_cpu_wrmsr(apic_cpu *c, uint32_t msr, uint64_t val);
/* Sends an IPI the way the mode requires (two MMIO writes or one WRMSR). */
APIC_API void apic_cpu_send_ipi(apic_cpu *c, uint32_t dest, uint32_t icr_lo);
APIC_API void apic_cpu_cli(apic_cpu *c);
APIC_API void apic_cpu_sti(apic_cpu *c);        /* one-instruction interrupt shadow */
APIC_API int apic_cpu_if(const apic_cpu *c);
APIC_API void apic_cpu_hlt(apic_cpu *c);
APIC_API void apic_cpu_pause(apic_cpu *c);
APIC_API void apic_cpu_work(apic_cpu *c, uint32_t cycles);
/* Shared memory: plain C data, with the cost of an access. Stores wake
   cores waiting on that address with apic_cpu_wait. */
APIC_API uint32_t apic_cpu_load(apic_cpu *c, const volatile uint32_t *p);
APIC_API void apic_cpu_store(apic_cpu *c, volatile uint32_t *p, uint32_t v);
APIC_API uint32_t apic_cpu_fetch_add(apic_cpu *c, volatile uint32_t *p, uint32_t v);
APIC_API uint32_t apic_cpu_fetch_and(apic_cpu *c, volatile uint32_t *p, uint32_t v);
APIC_API uint32_t apic_cpu_fetch_or(apic_cpu *c, volatile uint32_t *p, uint32_t v);
APIC_API uint32_t apic_cpu_xchg(apic_cpu *c, volatile uint32_t *p, uint32_t v);
/* Spin with PAUSE until a store to p (or an interrupt) happens. */
APIC_API void apic_cpu_wait(apic_cpu *c, const volatile void *p);
/* Labels a phase in the trace; label must outlive the hook call only. */
APIC_API void apic_cpu_mark(apic_cpu *c, const char *label);

#ifdef __cplusplus
}
#endif
#endif
