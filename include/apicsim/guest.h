/*
 * apicsim/guest.h - macros that let a guest program read like the kernel
 * code it models, while the engine runs it one step at a time.
 *
 * A guest function is resumable (protothread style): APIC_BEGIN/APIC_END
 * wrap its body, and every APIC_YIELD ends the current step and resumes
 * right after it on the next one. C locals do not survive a yield: keep
 * state in the argument struct or in APIC_L(c, i), the frame's own locals.
 * Do not yield inside a nested switch statement. A guest function calls
 * another with APIC_CALL, which runs it in a frame of its own.
 *
 *   static int send_ipi_mask(apic_cpu *c, void *arg) {
 *     struct ipi *a = arg;
 *     APIC_BEGIN(c);
 *     APIC_SPIN_ICR_IDLE(c);                      // safe_apic_wait_icr_idle()
 *     APIC_WRITE(c, APIC_REG_ICR_HI, a->dest << 24);
 *     APIC_WRITE(c, APIC_REG_ICR_LO, a->vector);
 *     APIC_END(c);
 *   }
 */
#ifndef APICSIM_GUEST_H
#define APICSIM_GUEST_H

#include "apicsim.h"

#define APIC_BEGIN(c) switch (*apic_cpu_pc(c)) { case 0:
/* __COUNTER__ (GCC, Clang, MSVC) gives each yield its own resume label. */
#define APIC_YIELD(c) APIC__YIELD_AT(c, __COUNTER__ + 1)
#define APIC__YIELD_AT(c, n)                                                 \
  do { *apic_cpu_pc(c) = (n); return APIC_STEP; case (n):; } while (0)
#define APIC_END(c) } return APIC_DONE

/* The frame's locals, preserved across yields. */
#define APIC_L(c, i) (apic_cpu_locals(c)[i])

/* One operation, then end the step. */
#define APIC_DO(c, op) do { op; APIC_YIELD(c); } while (0)
#define APIC_WRITE(c, off, v) APIC_DO(c, apic_cpu_write((c), (off), (v)))
#define APIC_EOI(c) APIC_WRITE(c, APIC_REG_EOI, 0)
#define APIC_CLI(c) APIC_DO(c, apic_cpu_cli(c))
#define APIC_STI(c) APIC_DO(c, apic_cpu_sti(c))
#define APIC_HLT(c) APIC_DO(c, apic_cpu_hlt(c))
#define APIC_PAUSE(c) APIC_DO(c, apic_cpu_pause(c))
#define APIC_WORK(c, n) APIC_DO(c, apic_cpu_work((c), (n)))
#define APIC_STORE(c, p, v) APIC_DO(c, apic_cpu_store((c), (p), (v)))
#define APIC_MARK(c, s) apic_cpu_mark((c), (s))
/* Runs another resumable function to its end, then continues here. */
#define APIC_CALL(c, fn, arg) APIC_DO(c, apic_cpu_call((c), (fn), (arg)))

/* Spin with PAUSE until cond holds; the core sleeps until a store to p. */
#define APIC_SPIN_UNTIL(c, p, cond)                                          \
  do { while (!(cond)) { apic_cpu_wait((c), (p)); APIC_YIELD(c); } } while (0)

/* Poll the ICR delivery status until idle (xAPIC; x2APIC has no such bit). */
#define APIC_SPIN_ICR_IDLE(c)                                                \
  do {                                                                       \
    while (apic_cpu_read((c), APIC_REG_ICR_LO) & APIC_ICR_DS) {              \
      apic_cpu_pause(c);                                                     \
      APIC_YIELD(c);                                                         \
    }                                                                        \
  } while (0)

#endif
