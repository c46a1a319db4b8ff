/*
 * linux_ipi.c - Linux's x86 IPI paths, as apicsim guest programs.
 *
 * Core 0 runs send_IPI_mask() to cores 1-3 the way arch/x86/kernel/apic/
 * ipi.c does in xAPIC mode (__default_send_IPI_dest_field): wait until the
 * ICR is idle, write the destination to ICR2, write the command to ICR,
 * then it sends send_IPI_allbutself() with the all-excluding-self shorthand.
 * Cores 1-7 idle in safe_halt() (STI; HLT). Prints each send, each IRR set
 * with the cycle its message was sent, each handler's start, and what every
 * core handled.
 */
#include <stdio.h>
#include "apicsim/guest.h"

#define CALL_FUNCTION_VECTOR    0xFB
#define RESCHEDULE_VECTOR       0xFD
#define NCPUS 8

typedef struct machine {
  int handled[NCPUS][256];
  uint64_t icr_at[64];        /* ICR write cycle by message order */
  int nicr;
} machine;

static int ipi_handler(apic_cpu *c, void *arg) {
  machine *m = arg;
  APIC_BEGIN(c);
  m->handled[apic_cpu_index(c)][apic_cpu_vector(c)]++;
  APIC_WORK(c, 150);          /* generic_smp_call_function_interrupt() */
  APIC_EOI(c);                /* ack_APIC_irq() */
  APIC_END(c);
}

/* default_send_IPI_mask_sequence_phys(mask = {1,2,3}, CALL_FUNCTION_VECTOR) */
static int cpu0(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  APIC_WORK(c, 500);
  APIC_MARK(c, "send_IPI_mask");
  for (APIC_L(c, 0) = 1; APIC_L(c, 0) <= 3; APIC_L(c, 0)++) {
    APIC_SPIN_ICR_IDLE(c);                                  /* __xapic_wait_icr_idle() */
    APIC_WRITE(c, APIC_REG_ICR_HI, (uint32_t)APIC_L(c, 0) << APIC_ICR_DEST_SHIFT);
    APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(CALL_FUNCTION_VECTOR, APIC_DM_FIXED, 0));
  }
  APIC_MARK(c, "send_IPI_allbutself");
  APIC_SPIN_ICR_IDLE(c);
  APIC_WRITE(c, APIC_REG_ICR_LO, APIC_ICR_LO(RESCHEDULE_VECTOR, APIC_DM_FIXED,
                                             APIC_ICR_SH(APIC_SH_OTHERS)));
  APIC_SPIN_ICR_IDLE(c);
  APIC_END(c);
}

static int idle(apic_cpu *c, void *arg) {   /* cpu_idle() -> safe_halt() */
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  for (;;) {
    APIC_STI(c);
    APIC_HLT(c);
  }
  APIC_END(c);
}

typedef struct lat { uint64_t icr[4096]; } lat;

static void hook(void *ud, const apic_event *e) {
  lat *l = ud;
  if (e->kind == APIC_EV_MSG_SEND && e->msg < 4096) l->icr[e->msg] = e->cycle;
  if (e->kind == APIC_EV_IRR_SET && e->msg < 4096)
    printf("  cycle %6llu  cpu %u  IRR set, vector 0x%02x (message %llu, sent at %llu)\n",
           (unsigned long long)e->cycle, e->cpu, e->vector, (unsigned long long)e->msg,
           (unsigned long long)l->icr[e->msg]);
  if (e->kind == APIC_EV_HANDLER_ENTER)
    printf("  cycle %6llu  cpu %u  handler for 0x%02x starts\n",
           (unsigned long long)e->cycle, e->cpu, e->vector);
  if (e->kind == APIC_EV_MARKER)
    printf("  cycle %6llu  cpu %u  %s\n", (unsigned long long)e->cycle, e->cpu, e->text);
}

int main(void) {
  apic_config cfg;
  apic_config_default(&cfg, NCPUS);
  apic_sim *s;
  char why[256];
  if (apic_sim_create(&s, &cfg, why, sizeof why)) {
    fprintf(stderr, "linux_ipi: %s\n", why);
    return 1;
  }
  static machine m;
  static lat l;
  apic_sim_set_hook(s, hook, &l);
  apic_sim_set_handler(s, APIC_NONE, CALL_FUNCTION_VECTOR, ipi_handler, &m);
  apic_sim_set_handler(s, APIC_NONE, RESCHEDULE_VECTOR, ipi_handler, &m);
  apic_sim_set_program(s, 0, cpu0, NULL);
  for (uint32_t i = 1; i < NCPUS; i++) apic_sim_set_program(s, i, idle, NULL);
  printf("apicsim %s: Linux send_IPI_mask + send_IPI_allbutself on %d cores (xapic bus)\n",
         apic_version(), NCPUS);
  int rc = apic_sim_run(s, 1000000);
  int ok = rc == APIC_RUN_IDLE;
  for (int cpu = 0; cpu < NCPUS; cpu++) {
    int want_call = cpu >= 1 && cpu <= 3, want_resched = cpu != 0;
    printf("cpu %d: CALL_FUNCTION x%d, RESCHEDULE x%d\n", cpu,
           m.handled[cpu][CALL_FUNCTION_VECTOR], m.handled[cpu][RESCHEDULE_VECTOR]);
    ok &= m.handled[cpu][CALL_FUNCTION_VECTOR] == want_call;
    ok &= m.handled[cpu][RESCHEDULE_VECTOR] == want_resched;
  }
  printf("finished at cycle %llu: %s\n", (unsigned long long)apic_sim_now(s),
         ok ? "every IPI handled exactly once" : "UNEXPECTED DELIVERIES");
  apic_sim_destroy(s);
  return ok ? 0 : 1;
}
