/*
 * progs.c - the registry of built-in guest programs and their typed
 * arguments (include/apicsim/programs.h). The programs themselves live in
 * lib/prog_*.c, one file per kernel path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apicsim/programs.h"
#include "progs.h"
#include "sim.h"

static char *dup_str(const char *v) {  /* strdup is not C11 */
  size_t n = strlen(v) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, v, n);
  return p;
}

static const apic_prog_def *const table[] = {
  &apic__prog_idle,
  &apic__prog_linux_send_ipi_mask,
  &apic__prog_linux_send_ipi_allbutself,
  &apic__prog_nt_hal_request_ipi,
  &apic__prog_debugger_freeze,
  &apic__prog_device_irq,
  &apic__prog_timer_tick,
  &apic__prog_mailbox_call_function,
  &apic__prog_tlb_shootdown_scoreboard,
  &apic__prog_ipi_generic_call_barrier,
};

void apic__sim_install_tag(apic_sim *s, uint32_t tag) { s->install_tag = tag; }

const apic_prog_def *const *apic_prog_all(unsigned *n) {
  if (n) *n = sizeof table / sizeof table[0];
  return table;
}

const apic_prog_def *apic_prog_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i]->name, name)) return table[i];
  return NULL;
}

int apic_args_index(const apic_prog_def *def, const char *name) {
  for (unsigned i = 0; def && name && i < def->nargs; i++)
    if (!strcmp(def->args[i].name, name)) return (int)i;
  return -1;
}

void apic_args_init(apic_args *a, const apic_prog_def *def) {
  if (!a) return;
  memset(a, 0, sizeof *a);
  a->def = def;
  for (unsigned i = 0; def && i < def->nargs && i < APIC_ARGS_MAX; i++) {
    const apic_arg_spec *sp = &def->args[i];
    if (!sp->deflt) continue;
    a->set[i] = 1;
    a->i[i] = sp->deflt_int;
    if (sp->type == APIC_ARG_STRING) a->str[i] = dup_str(sp->deflt);
  }
}

void apic_args_free(apic_args *a) {
  if (!a) return;
  for (unsigned i = 0; i < APIC_ARGS_MAX; i++) {
    free(a->cpus[i]);
    free(a->str[i]);
  }
  memset(a, 0, sizeof *a);
}

static int lookup(const apic_args *a, const char *name, apic_arg_type type, char *why, size_t n) {
  if (!a || !a->def) {
    snprintf(why, n, "%s", a ? "arguments not set up for a program (apic_args_init with a "
             "NULL def)" : "args is NULL");
    return -1;
  }
  int k = apic_args_index(a->def, name);
  if (k < 0) {
    snprintf(why, n, "program %s has no argument '%s'", a->def->name, name);
    return -1;
  }
  if (a->def->args[k].type != type) {
    static const char *const tn[] = {"an integer", "a boolean", "a list of cpus", "a string"};
    snprintf(why, n, "argument '%s' of %s must be %s", name, a->def->name,
             tn[a->def->args[k].type]);
    return -1;
  }
  return k;
}

int apic_args_set_int(apic_args *a, const char *name, int64_t v, char *why, size_t n) {
  int k = a ? apic_args_index(a->def, name) : -1;
  apic_arg_type type = k >= 0 && a->def->args[k].type == APIC_ARG_BOOL ? APIC_ARG_BOOL
                                                                       : APIC_ARG_INT;
  if ((k = lookup(a, name, type, why, n)) < 0) return APIC_E_ARG;
  const apic_arg_spec *sp = &a->def->args[k];
  int64_t lo = type == APIC_ARG_BOOL ? 0 : sp->min, hi = type == APIC_ARG_BOOL ? 1 : sp->max;
  if (v < lo || v > hi) {
    snprintf(why, n, "argument '%s' of %s is %lld, outside %lld..%lld", name, a->def->name,
             (long long)v, (long long)lo, (long long)hi);
    return APIC_E_ARG;
  }
  a->i[k] = v;
  a->set[k] = 1;
  return APIC_OK;
}

int apic_args_set_cpus(apic_args *a, const char *name, const uint32_t *cpus, uint32_t count,
                       uint32_t ncpus, char *why, size_t n) {
  int k = lookup(a, name, APIC_ARG_CPUS, why, n);
  if (k < 0) return APIC_E_ARG;
  if (!cpus && count) {
    snprintf(why, n, "argument '%s' of %s: %u cpus but the list is NULL", name, a->def->name,
             count);
    return APIC_E_ARG;
  }
  for (uint32_t i = 0; i < count; i++)
    if (cpus[i] >= ncpus) {
      snprintf(why, n, "argument '%s' of %s names cpu %u; the machine has %u cores", name,
               a->def->name, cpus[i], ncpus);
      return APIC_E_ARG;
    }
  uint32_t *copy = malloc((count ? count : 1) * sizeof *copy);
  if (!copy) {
    snprintf(why, n, "out of memory");
    return APIC_E_NOMEM;
  }
  if (count) memcpy(copy, cpus, count * sizeof *copy);
  free(a->cpus[k]);
  a->cpus[k] = copy;
  a->ncpus[k] = count;
  a->set[k] = 1;
  return APIC_OK;
}

int apic_args_set_str(apic_args *a, const char *name, const char *v, char *why, size_t n) {
  int k = lookup(a, name, APIC_ARG_STRING, why, n);
  if (k < 0) return APIC_E_ARG;
  if (!v) {
    snprintf(why, n, "argument '%s' of %s: the value is NULL", name, a->def->name);
    return APIC_E_ARG;
  }
  const char *c = a->def->args[k].choices;
  size_t len = strlen(v);
  for (const char *p = c; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t w = bar ? (size_t)(bar - p) : strlen(p);
    if (w == len && !strncmp(p, v, w)) {
      char *copy = dup_str(v);
      if (!copy) { snprintf(why, n, "out of memory"); return APIC_E_NOMEM; }
      free(a->str[k]);
      a->str[k] = copy;
      a->set[k] = 1;
      return APIC_OK;
    }
    p = bar ? bar + 1 : p + w;
  }
  snprintf(why, n, "argument '%s' of %s is \"%s\"; expected one of %s", name, a->def->name, v,
           c ? c : "(none)");
  return APIC_E_ARG;
}

int apic_args_complete(const apic_args *a, char *why, size_t n) {
  if (!a || !a->def) {
    snprintf(why, n, "%s", a ? "arguments not set up for a program" : "args is NULL");
    return APIC_E_ARG;
  }
  for (unsigned i = 0; i < a->def->nargs; i++)
    if (!a->set[i]) {
      snprintf(why, n, "program %s needs argument '%s' (%s)", a->def->name,
               a->def->args[i].name, a->def->args[i].doc);
      return APIC_E_ARG;
    }
  return APIC_OK;
}

int64_t apic_args_int(const apic_args *a, const char *name) {
  int k = a ? apic_args_index(a->def, name) : -1;
  return k < 0 ? 0 : a->i[k];
}

const uint32_t *apic_args_cpus(const apic_args *a, const char *name, uint32_t *count) {
  int k = a ? apic_args_index(a->def, name) : -1;
  if (count) *count = k < 0 ? 0 : a->ncpus[k];
  return k < 0 ? NULL : a->cpus[k];
}

const char *apic_args_str(const apic_args *a, const char *name) {
  int k = a ? apic_args_index(a->def, name) : -1;
  return k < 0 ? NULL : a->str[k];
}

/* ---- helpers shared by the programs ---- */

static void irr_count_hook(void *ud, const apic_event *ev) {
  apic__irr_count *c = ud;
  if (ev->vector != c->vector || ev->cpu >= c->ncpus) return;
  if (ev->kind == APIC_EV_IRR_SET) c->set[ev->cpu]++;
  else if (ev->kind == APIC_EV_IRR_COALESCED) c->coalesced[ev->cpu]++;
  else if (ev->kind == APIC_EV_MSG_DROPPED) c->dropped[ev->cpu]++;
}

static void irr_count_release(apic__irr_count *c) {
  free(c->set);
  free(c->coalesced);
  free(c->dropped);
  c->set = c->coalesced = c->dropped = NULL;
}

int apic__irr_count_init(apic__irr_count *c, apic_sim *s, uint8_t vector) {
  c->ncpus = apic_sim_ncpus(s);
  c->vector = vector;
  c->set = calloc(c->ncpus, sizeof *c->set);
  c->coalesced = calloc(c->ncpus, sizeof *c->coalesced);
  c->dropped = calloc(c->ncpus, sizeof *c->dropped);
  if (!c->set || !c->coalesced || !c->dropped) {
    irr_count_release(c);
    return APIC_E_NOMEM;
  }
  int rc = apic_sim_add_hook(s, irr_count_hook, NULL, c);
  if (rc) irr_count_release(c);
  return rc;
}

void apic__irr_count_free(apic__irr_count *c, apic_sim *s) {
  if (s) apic_sim_remove_hook(s, irr_count_hook, c);
  irr_count_release(c);
}

int apic__prog_msg_in_flight(const apic_sim *s, uint8_t vector) {
  for (uint32_t i = 0; i < s->nmsgs; i++) {  /* a slot in use holds references */
    const apic__msgslot *ms = &s->msgs[i];
    if (ms->refs && ms->m.vector == vector &&
        (ms->m.kind == APIC__MSG_EOI || ms->m.mode == APIC_DM_FIXED ||
         ms->m.mode == APIC_DM_LOWEST))
      return 1;
  }
  return 0;
}

int apic__prog_vector_state(apic_sim *s, uint32_t cpu, uint8_t vector) {
  apic_lapic_state st;
  if (apic_lapic_state_get(s, cpu, &st)) return APIC__VEC_IDLE;
  /* a handler frame exists from the acceptance on, before the first step */
  const apic_cpu *c = &s->cpus[cpu];
  for (uint32_t i = 0; i < c->depth; i++)
    if (c->frames[i].kind == APIC__FRAME_INTR && c->frames[i].vector == vector)
      return APIC__VEC_LIVE;
  uint32_t bit = 1u << (vector & 31);
  if (st.isr[vector >> 5] & bit) return APIC__VEC_STUCK;
  return st.irr[vector >> 5] & bit ? APIC__VEC_LIVE : APIC__VEC_IDLE;
}

int apic__prog_quiescent(apic_sim *s, const apic__irr_count *c, uint32_t cpu, uint32_t sent) {
  int v = apic__prog_vector_state(s, cpu, c->vector);
  if (v == APIC__VEC_STUCK) return 1;  /* what still arrives waits behind it */
  if (v == APIC__VEC_LIVE) return 0;
  return sent <= c->set[cpu] + c->coalesced[cpu] + c->dropped[cpu] ||
         !apic__prog_msg_in_flight(s, c->vector);
}

uint32_t apic__prog_in_flight(apic_sim *s, const apic__irr_count *c, uint32_t cpu,
                              uint32_t sent, uint32_t handled) {
  uint64_t got = (uint64_t)handled + c->coalesced[cpu];
  uint64_t missing = got < sent ? sent - got : 0;
  if (missing <= c->dropped[cpu] || apic__prog_quiescent(s, c, cpu, sent)) return 0;
  return (uint32_t)(missing - c->dropped[cpu]);  /* a dropped one is lost at once */
}

void apic__prog_ipi_violation(apic_sim *s, const apic__irr_count *c, uint32_t cpu,
                              uint32_t sent, uint32_t handled, uint32_t in_flight, char *msg,
                              size_t n) {
  uint32_t coal = c->coalesced[cpu];
  uint64_t got = (uint64_t)handled + coal, lost = sent - got - in_flight;
  int w = snprintf(msg, n, "cpu %u: %u IPIs of vector 0x%02x sent, %u handled + %u coalesced",
                   cpu, sent, c->vector, handled, coal);
  if (w < 0 || (size_t)w >= n) return;
  msg += w, n -= (size_t)w;
  if (got > sent)
    w = snprintf(msg, n, ": more than sent");
  else if (apic__prog_vector_state(s, cpu, c->vector) == APIC__VEC_STUCK)
    w = snprintf(msg, n, "; %llu lost: the vector stays in service with no handler running "
                 "(no EOI), PPR blocks it", (unsigned long long)lost);
  else if (c->dropped[cpu])
    w = snprintf(msg, n, "; %llu lost: %u dropped by the receiving APIC",
                 (unsigned long long)lost, c->dropped[cpu]);
  else
    w = snprintf(msg, n, "; %llu lost: none pending or on its way", (unsigned long long)lost);
  if (in_flight && w >= 0 && (size_t)w < n)
    snprintf(msg + w, n - (size_t)w, " (%u more in flight)", in_flight);
}

void apic__prog_ipi_summary(uint64_t total, uint64_t in_flight, uint8_t vector,
                            const char *also, const char *tail, char *msg, size_t n) {
  if (!in_flight)
    snprintf(msg, n, "%llu IPIs of vector 0x%02x: every one handled or coalesced%s%s",
             (unsigned long long)total, vector, also, tail);
  else
    snprintf(msg, n, "%llu IPIs of vector 0x%02x: %llu handled or coalesced, %llu in flight "
             "when the run stopped, none lost%s%s", (unsigned long long)total, vector,
             (unsigned long long)(total - in_flight), (unsigned long long)in_flight, also,
             tail);
}

int apic__prog_install_failed(apic_sim *s, int rc, char *why, size_t why_size) {
  snprintf(why, why_size, "installing: %s", rc == APIC_E_NOMEM ? "out of memory"
                                                               : apic_sim_errmsg(s));
  return rc;
}
