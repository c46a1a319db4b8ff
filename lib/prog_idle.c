/*
 * prog_idle.c - "idle": the kernel's idle loop. Linux cpu_idle() ->
 * default_idle() -> safe_halt(), i.e. STI; HLT with the STI shadow closing
 * the race between the two: an interrupt that arrives after the STI is taken
 * right after the HLT, never lost (SDM 6.8.3). Forever.
 */
#include "progs.h"

static int idle_loop(apic_cpu *c, void *arg) {
  (void)arg;
  APIC_BEGIN(c);
  APIC_WRITE(c, APIC_REG_SVR, APIC__PROG_SVR);
  for (;;) {
    APIC_STI(c);
    APIC_HLT(c);
  }
  APIC_END(c);
}

int apic__prog_start_idle(apic_sim *s, uint32_t cpu) {
  return apic_sim_set_program(s, cpu, idle_loop, NULL);
}

static int install(apic_sim *s, const uint32_t *cpus, uint32_t n, const apic_args *a,
                   void **state, char *why, size_t why_size) {
  (void)a;
  *state = NULL;
  for (uint32_t i = 0; i < n; i++) {
    int rc = apic__prog_start_idle(s, cpus[i]);
    if (rc) {
      snprintf(why, why_size, "idle on cpu %u: %s", cpus[i], apic_sim_errmsg(s));
      return rc;
    }
  }
  return APIC_OK;
}

static unsigned check(void *state, int *done, char *msg, size_t n) {
  (void)state;
  *done = 1;  /* idling never ends, and never fails */
  snprintf(msg, n, "idle loop: nothing to check");
  return 0;
}

static void destroy(void *state) { (void)state; }

const apic_prog_def apic__prog_idle = {
  "idle", "STI; HLT forever: wakes for every interrupt and goes back to sleep",
  "Linux default_idle() / safe_halt()", NULL, 0, install, check, destroy};
