/* Links the installed library and delivers one IPI: proves headers, library
   and package files fit together. It also touches the trace reader (zlib)
   and the scenario parser (cJSON), so the package must name those too. */
#include <stdio.h>
#include <string.h>
#include <apicsim/apicsim.h>
#include <apicsim/scenario.h>
#include <apicsim/trace.h>

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
  apic_trace *t = NULL;
  int traced = apic_trace_open(&t, "/nonexistent/x.trace", why, sizeof why) == APIC_E_IO;
  const char *json = "{\"machine\": {\"cpus\": 2}}";
  apic_scenario *sc = NULL;
  int parsed = apic_scenario_parse(&sc, json, strlen(json), "c.json", why, sizeof why) == APIC_OK;
  apic_scenario_free(sc);
  printf("apicsim %s: pending vector 0x%x\n", apic_version(), v);
  return k == APIC_INTR_FIXED && v == 0x50 && traced && parsed ? 0 : 1;
}
