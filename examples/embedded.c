/*
 * embedded.c - apicsim inside a host simulator that owns its CPUs and clock.
 *
 * The "host" here is a toy: two CPUs that execute one instruction per cycle.
 * It shows the whole contract (docs/ENGINE.md, "Embedded in a host simulator"):
 *   - guest APIC accesses are forwarded with apic_lapic_write/read;
 *   - at every instruction boundary the host asks apic_sim_pending and takes
 *     the interrupt with apic_sim_ack (the INTA cycle), then EOIs it;
 *   - the host advances the library's clock to its own with apic_sim_run;
 *   - a device raises an I/O APIC pin with apic_ioapic_set_pin_at.
 */
#include <stdio.h>
#include "apicsim/apicsim.h"

#define VEC_IPI  0x41
#define VEC_DISK 0x52

static int check(apic_sim *s, int rc, const char *what) {
  if (rc < 0) fprintf(stderr, "embedded: %s: %s\n", what, apic_sim_errmsg(s));
  return rc;
}

int main(void) {
  apic_config cfg;
  apic_config_default(&cfg, 2);
  apic_sim *s;
  char why[256];
  if (apic_sim_create(&s, &cfg, why, sizeof why)) {
    fprintf(stderr, "embedded: %s\n", why);
    return 1;
  }
  /* The host's firmware enables both APICs and routes pin 4 (a disk) to CPU 1. */
  for (uint32_t cpu = 0; cpu < 2; cpu++)
    check(s, apic_lapic_write(s, cpu, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF), "SVR");
  check(s, apic_ioapic_rte_set(s, 0, 4, VEC_DISK | ((uint64_t)1 << APIC_RTE_DEST_SHIFT)), "RTE");
  check(s, apic_ioapic_set_pin_at(s, 0, 4, 1, 1500), "pin");   /* the disk completes */
  check(s, apic_ioapic_set_pin_at(s, 0, 4, 0, 1600), "pin");

  int if_flag[2] = {1, 1}, taken = 0;
  for (uint64_t cycle = 0; cycle < 5000; cycle++) {
    apic_sim_run(s, cycle);                       /* library catches up to the host */
    if (cycle == 100) {                           /* CPU 0 executes: send an IPI to CPU 1 */
      check(s, apic_lapic_write(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT), "ICR_HI");
      check(s, apic_lapic_write(s, 0, APIC_REG_ICR_LO, VEC_IPI), "ICR_LO");
    }
    for (uint32_t cpu = 0; cpu < 2; cpu++) {      /* instruction boundary */
      apic_intr_kind kind;
      uint8_t vec;
      check(s, apic_sim_pending(s, cpu, if_flag[cpu], &kind, &vec), "pending");
      if (kind != APIC_INTR_FIXED) continue;
      check(s, apic_sim_ack(s, cpu, kind, &vec), "ack");
      printf("cycle %5llu: cpu %u takes vector 0x%02x\n", (unsigned long long)cycle, cpu, vec);
      check(s, apic_lapic_write(s, cpu, APIC_REG_EOI, 0), "EOI");  /* the handler ends */
      taken++;
    }
  }
  apic_stats st;
  apic_sim_stats(s, &st);
  printf("%d interrupts taken, %llu messages, %llu deliveries\n", taken,
         (unsigned long long)st.messages, (unsigned long long)st.deliveries);
  apic_sim_destroy(s);
  return taken == 2 ? 0 : 1;
}
