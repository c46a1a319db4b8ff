/* Links the installed library and delivers one IPI: proves headers, library
   and package files fit together. */
#include <stdio.h>
#include <apicsim/apicsim.h>

int main(void) {
  apic_config cfg;
  apic_config_default(&cfg, 2);
  apic_sim *s;
  char why[128];
  if (apic_sim_create(&s, &cfg, why, sizeof why)) { puts(why); return 1; }
  apic_lapic_write(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  apic_lapic_write(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  apic_lapic_write(s, 0, APIC_REG_ICR_LO, 0x50);
  apic_sim_run(s, 10000);
  apic_intr_kind k;
  uint8_t v;
  apic_sim_pending(s, 1, 1, &k, &v);
  apic_sim_destroy(s);
  printf("apicsim %s: pending vector 0x%x\n", apic_version(), v);
  return k == APIC_INTR_FIXED && v == 0x50 ? 0 : 1;
}
