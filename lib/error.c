/*
 * error.c - names and messages of error codes and event kinds, built from
 * the X-macro lists in apicsim.h so that they can never disagree.
 */
#include "apicsim/apicsim.h"

const char *apic_version(void) { return APICSIM_VERSION; }

const char *apic_strerror(int err) {
  switch (err) {
  case APIC_OK: return "success";
  case APIC_GP: return "general-protection fault (#GP) in the guest";
#define APIC__S(name, code, msg) case code: return msg;
  APIC_ERRNO_MAP(APIC__S)
#undef APIC__S
  default: return "unknown error";
  }
}

const char *apic_err_name(int err) {
  switch (err) {
  case APIC_OK: return "APIC_OK";
  case APIC_GP: return "APIC_GP";
#define APIC__N(name, code, msg) case code: return "APIC_E_" #name;
  APIC_ERRNO_MAP(APIC__N)
#undef APIC__N
  default: return "APIC_E_UNKNOWN";
  }
}

const char *apic_event_name(uint32_t kind) {
  static const char *const names[] = {
#define APIC__EN(name, str, doc) str,
    APIC_EVENT_MAP(APIC__EN)
#undef APIC__EN
  };
  return kind < APIC_EV__COUNT ? names[kind] : "unknown";
}
