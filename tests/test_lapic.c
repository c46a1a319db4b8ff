/*
 * test_lapic.c - the local APIC register model (lib/lapic.c) against the
 * Intel SDM Vol. 3A APIC chapter (chapter 10 numbering; chapter 11 in
 * editions since 2022, same subsections).
 *
 * Every test names the SDM section it checks, or the docs/SDM-CHOICES.md
 * item where the SDM leaves the behaviour open. Tests drive the model the
 * way a host would: MMIO offsets (apic_lapic_read/write), MSRs
 * (apic_lapic_rdmsr/wrmsr), embedded-mode INTA (apic_sim_pending/ack), time
 * (apic_sim_run), the LINT0/LINT1 input pins (apic_lapic_set_lint) and the
 * event hook.
 *
 * Timing facts the tests rely on (apic_config_default): on the xapic bus an
 * IPI leaves the sender timing.post cycles after the ICR write and reaches
 * the receivers timing.xapic_latency cycles later; the timer input clock is
 * timing.timer_div = 1 core cycle per tick before the divider.
 */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* Long enough for any message on the xapic bus (post + latency = 700). */
#define SETTLE 2000u
/* Long enough for any message on the p6 serial bus. */
#define SETTLE_P6 100000u

/* One machine per test; the checked teardown frees it. */
static apic_sim *S;
static tu_log LOG;

static void teardown(void) {
  apic_sim_destroy(S);
  S = NULL;
  tu_log_free(&LOG);
}

static apic_sim *mk_cfg(const apic_config *cfg) {
  S = tu_sim(cfg, &LOG);
  return S;
}

/* n xAPIC cores on the xapic bus (the defaults). */
static apic_sim *mk(uint32_t n) {
  apic_config cfg = tu_config(n, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  return mk_cfg(&cfg);
}

/* n P6 cores on the P6 serial bus. */
static apic_sim *mk_p6(uint32_t n) {
  apic_config cfg = tu_config(n, APIC_BUS_P6, APIC_MODEL_P6);
  return mk_cfg(&cfg);
}

static void run_to(apic_sim *s, uint64_t t) {
  ck_assert_int_ge(apic_sim_run(s, t), 0);
  ck_assert_uint_eq(apic_sim_now(s), t);
}

static void run_for(apic_sim *s, uint64_t d) { run_to(s, apic_sim_now(s) + d); }

static apic_lapic_state st(apic_sim *s, uint32_t cpu) {
  apic_lapic_state o;
  ck_assert_int_eq(apic_lapic_state_get(s, cpu, &o), APIC_OK);
  return o;
}

static int irr(apic_sim *s, uint32_t cpu, uint8_t v) { apic_lapic_state o = st(s, cpu); return tu_vec(o.irr, v); }
static int isr(apic_sim *s, uint32_t cpu, uint8_t v) { apic_lapic_state o = st(s, cpu); return tu_vec(o.isr, v); }
static int tmr(apic_sim *s, uint32_t cpu, uint8_t v) { apic_lapic_state o = st(s, cpu); return tu_vec(o.tmr, v); }

/* Bit of vector v read through the MMIO register group at base (ISR/TMR/IRR). */
static int mmio_vec(apic_sim *s, uint32_t cpu, uint32_t base, uint8_t v) {
  return (int)((tu_rd(s, cpu, base + (uint32_t)(v >> 5) * APIC_REG_STRIDE) >> (v & 31)) & 1u);
}

/* SDM 10.5.3: write ESR (latching the errors seen so far), then read it. */
static uint32_t esr_latch(apic_sim *s, uint32_t cpu) {
  tu_wr(s, cpu, APIC_REG_ESR, 0);
  return tu_rd(s, cpu, APIC_REG_ESR);
}

/* An xAPIC IPI through ICR_HI then ICR_LO (SDM 10.6.1). */
static void ipi(apic_sim *s, uint32_t from, uint32_t dest, uint32_t lo) {
  tu_wr(s, from, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
  tu_wr(s, from, APIC_REG_ICR_LO, lo);
}

/* Fixed, physical, edge IPI that has arrived when this returns. */
static void send_fixed(apic_sim *s, uint32_t from, uint32_t dest, uint8_t v) {
  ipi(s, from, dest, APIC_ICR_LO(v, APIC_DM_FIXED, 0));
  run_for(s, SETTLE);
}

static apic_intr_kind pending(apic_sim *s, uint32_t cpu, uint8_t *v) {
  apic_intr_kind k;
  uint8_t vv;
  ck_assert_int_eq(apic_sim_pending(s, cpu, 1, &k, &vv), APIC_OK);
  if (v) *v = vv;
  return k;
}

static uint8_t ack_fixed(apic_sim *s, uint32_t cpu) {
  uint8_t v = 0;
  ck_assert_int_eq(apic_sim_ack(s, cpu, APIC_INTR_FIXED, &v), APIC_OK);
  return v;
}

/* Puts v in service on cpu (sent from another core, then INTA). */
static void in_service(apic_sim *s, uint32_t cpu, uint8_t v) {
  send_fixed(s, cpu == 0 ? 1 : 0, cpu, v);
  uint8_t pv;
  ck_assert_int_eq(pending(s, cpu, &pv), APIC_INTR_FIXED);
  ck_assert_uint_eq(pv, v);
  ck_assert_uint_eq(ack_fixed(s, cpu), v);
}

/* Drives cpu 0's LINT0 input (SDM 10.5.1). */
static void lint0(apic_sim *s, int level) {
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 0, level), APIC_OK);
}

static uint64_t rdmsr(apic_sim *s, uint32_t cpu, uint32_t msr) {
  uint64_t v = 0;
  ck_assert_int_eq(apic_lapic_rdmsr(s, cpu, msr, &v), APIC_OK);
  return v;
}

static void wrmsr(apic_sim *s, uint32_t cpu, uint32_t msr, uint64_t v) {
  ck_assert_int_eq(apic_lapic_wrmsr(s, cpu, msr, v), APIC_OK);
}

#define X2(reg) APIC_MSR_X2APIC(reg)
#define LVT_MODE(m) ((uint32_t)(m) << APIC_LVT_TIMER_SHIFT)
#define DCR_DIV1 0xBu  /* Figure 10-10: 1011b = divide by 1 */

/* ======================================================================
 * Register page
 * ==================================================================== */

/* SDM 10.4.7.1: after power-up DFR is all ones, SVR 0xFF, every LVT entry
   masked (0x00010000), everything else 0. */
START_TEST(reset_values_10_4_7_1) {
  apic_sim *s = mk(2);
  static const uint32_t lvts[] = {APIC_REG_LVT_CMCI, APIC_REG_LVT_TIMER, APIC_REG_LVT_THERMAL,
                                  APIC_REG_LVT_PERF, APIC_REG_LVT_LINT0, APIC_REG_LVT_LINT1,
                                  APIC_REG_LVT_ERROR};
  for (uint32_t cpu = 0; cpu < 2; cpu++) {
    ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_ID), cpu << APIC_ICR_DEST_SHIFT);
    ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_DFR), 0xFFFFFFFFu);
    ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_SVR), 0xFFu);
    for (size_t i = 0; i < sizeof lvts / sizeof lvts[0]; i++)
      ck_assert_uint_eq(tu_rd(s, cpu, lvts[i]), APIC_LVT_MASKED);
    static const uint32_t zero[] = {APIC_REG_TPR, APIC_REG_APR, APIC_REG_PPR, APIC_REG_LDR,
                                    APIC_REG_ESR, APIC_REG_ICR_LO, APIC_REG_ICR_HI,
                                    APIC_REG_TIMER_ICR, APIC_REG_TIMER_CCR, APIC_REG_TIMER_DCR};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
      ck_assert_msg(tu_rd(s, cpu, zero[i]) == 0, "%s not 0", apic_lapic_reg_name(zero[i]));
    for (uint32_t i = 0; i < 8; i++) {
      ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_ISR0 + i * APIC_REG_STRIDE), 0);
      ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_TMR0 + i * APIC_REG_STRIDE), 0);
      ck_assert_uint_eq(tu_rd(s, cpu, APIC_REG_IRR0 + i * APIC_REG_STRIDE), 0);
    }
  }
  /* the reads above touched only real registers: no error was logged */
  ck_assert_uint_eq(esr_latch(s, 0), 0);
}
END_TEST

/* SDM 10.4.8, Figure 10-7: integrated APIC version 1xH, max LVT entry 6
   (seven entries, CMCI included) and the EOI-broadcast-suppression bit. */
START_TEST(version_xapic_10_4_8) {
  apic_sim *s = mk(1);
  uint32_t v = tu_rd(s, 0, APIC_REG_VER);
  ck_assert_uint_eq(v & 0xF0u, 0x10u);
  ck_assert_uint_eq((v >> APIC_VER_MAXLVT_SHIFT) & 0xFFu, 6);
  ck_assert_uint_ne(v & APIC_VER_EOI_SUPPRESS, 0);
  ck_assert_uint_eq(st(s, 0).version, v);
}
END_TEST

/* SDM 10.4.8: P6 family has 5 LVT entries (max LVT 4) and no suppress bit. */
START_TEST(version_p6_10_4_8) {
  apic_sim *s = mk_p6(1);
  uint32_t v = tu_rd(s, 0, APIC_REG_VER);
  ck_assert_uint_eq(v & 0xF0u, 0x10u);
  ck_assert_uint_eq((v >> APIC_VER_MAXLVT_SHIFT) & 0xFFu, 4);
  ck_assert_uint_eq(v & APIC_VER_EOI_SUPPRESS, 0);
}
END_TEST

/* SDM 10.5.1 / 10.5.3: P6 has no LVT thermal or CMCI entry; touching them is
   an illegal register access (ESR bit 7). On xAPIC they exist. */
START_TEST(p6_has_no_thermal_cmci_10_5_1) {
  apic_sim *s = mk_p6(1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_THERMAL), 0);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_CMCI), 0);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);
  tu_wr(s, 0, APIC_REG_LVT_THERMAL, 0x40);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_PERF), APIC_LVT_MASKED);  /* present */
  ck_assert_uint_eq(esr_latch(s, 0), 0);
  teardown();

  s = mk(1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_THERMAL), APIC_LVT_MASKED);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_CMCI), APIC_LVT_MASKED);
  ck_assert_uint_eq(esr_latch(s, 0), 0);
}
END_TEST

/* SDM Table 10-1: VER, APR, PPR, ISR, TMR, IRR and the current count are
   read only; writes are ignored (and are no illegal register access). */
START_TEST(readonly_registers_ignore_writes_table_10_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x51);
  tu_wr(s, 1, APIC_REG_TIMER_ICR, 100000);
  uint32_t ver = tu_rd(s, 1, APIC_REG_VER);
  tu_wr(s, 1, APIC_REG_VER, ~ver);
  tu_wr(s, 1, APIC_REG_PPR, 0xF0);
  tu_wr(s, 1, APIC_REG_APR, 0xF0);
  for (uint32_t i = 0; i < 8; i++) {
    tu_wr(s, 1, APIC_REG_ISR0 + i * APIC_REG_STRIDE, 0xFFFFFFFFu);
    tu_wr(s, 1, APIC_REG_TMR0 + i * APIC_REG_STRIDE, 0xFFFFFFFFu);
    tu_wr(s, 1, APIC_REG_IRR0 + i * APIC_REG_STRIDE, 0xFFFFFFFFu);
  }
  uint32_t ccr = tu_rd(s, 1, APIC_REG_TIMER_CCR);
  tu_wr(s, 1, APIC_REG_TIMER_CCR, 7);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_VER), ver);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x50);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x50);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_TIMER_CCR), ccr);
  apic_lapic_state o = st(s, 1);
  for (uint32_t i = 0; i < 8; i++) {
    ck_assert_uint_eq(o.isr[i], i == 2 ? 1u << (0x51 - 64) : 0u);
    ck_assert_uint_eq(o.tmr[i], 0);
    ck_assert_uint_eq(o.irr[i], 0);
  }
  ck_assert_uint_eq(esr_latch(s, 1), 0);
}
END_TEST

/* SDM Table 10-1: EOI is write only; a read gives 0 and does not end the
   interrupt in service. */
START_TEST(eoi_reads_zero_table_10_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x61);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_EOI), 0);
  ck_assert(isr(s, 1, 0x61));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI, APIC_NONE, -1), 0);
}
END_TEST

/* SDM 10.5.3 (ESR bit 7, illegal register address): reserved offsets,
   SELF_IPI in xAPIC mode and offsets past the last register read 0, ignore
   writes and log the error. */
START_TEST(unknown_offsets_set_illegal_reg_10_5_3) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  static const uint32_t bad[] = {0x000, 0x010, 0x040, 0x050, 0x060, 0x070, 0x290, 0x2E0,
                                 0x3A0, 0x3D0, APIC_REG_SELF_IPI, 0x400, 0x800, 0xFF0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_uint_eq(esr_latch(s, 0), 0);
    ck_assert_uint_eq(esr_latch(s, 0), 0);
    uint32_t v = 0xDEAD;
    ck_assert_int_eq(apic_lapic_read(s, 0, bad[i], &v), APIC_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_msg(esr_latch(s, 0) == APIC_ESR_ILLEGAL_REG, "read 0x%x", bad[i]);
    tu_wr(s, 0, bad[i], 0x41);
    ck_assert_msg(esr_latch(s, 0) == APIC_ESR_ILLEGAL_REG, "write 0x%x", bad[i]);
  }
  /* the SELF_IPI write above sent nothing */
  run_for(s, SETTLE);
  ck_assert(!irr(s, 0, 0x41));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
}
END_TEST

/* API errors (apicsim.h): misaligned offsets (SDM 10.4.1: registers are
   16-byte aligned), offsets outside the 4 KiB page, bad core index. A failed
   call changes nothing and logs no ESR error. */
START_TEST(api_errors_10_4_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  uint32_t v = 0;
  ck_assert_int_eq(apic_lapic_read(s, 0, APIC_REG_TPR + 4, &v), APIC_E_ALIGN);
  ck_assert_int_eq(apic_lapic_write(s, 0, APIC_REG_TPR + 1, 0x50), APIC_E_ALIGN);
  ck_assert_int_eq(apic_lapic_read(s, 0, APIC_REG_PAGE, &v), APIC_E_REG);
  ck_assert_int_eq(apic_lapic_write(s, 0, APIC_REG_PAGE + APIC_REG_TPR, 0x50), APIC_E_REG);
  ck_assert_int_eq(apic_lapic_read(s, 2, APIC_REG_TPR, &v), APIC_E_CPU);
  ck_assert_int_eq(apic_lapic_write(s, 2, APIC_REG_TPR, 0x50), APIC_E_CPU);
  ck_assert_int_eq(apic_lapic_rdmsr(s, 2, APIC_MSR_APIC_BASE, &(uint64_t){0}), APIC_E_CPU);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 2, APIC_MSR_APIC_BASE, 0), APIC_E_CPU);
  ck_assert_int_eq(apic_lapic_read(s, 0, APIC_REG_TPR, NULL), APIC_E_ARG);
  apic_intr_kind k;
  uint8_t vec;
  ck_assert_int_eq(apic_sim_pending(s, 2, 1, &k, &vec), APIC_E_CPU);
  ck_assert_int_eq(apic_sim_ack(s, 2, APIC_INTR_FIXED, &vec), APIC_E_CPU);
  ck_assert_int_eq(apic_lapic_state_get(s, 2, &(apic_lapic_state){0}), APIC_E_CPU);
  ck_assert_str_ne(apic_sim_errmsg(s), "");
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0);
  ck_assert_uint_eq(esr_latch(s, 0), 0);
}
END_TEST

/* SDM Table 10-1 names, as dumps print them. */
START_TEST(reg_name_table_10_1) {
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_ID), "ID");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_TPR), "TPR");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_SVR), "SVR");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_ISR0), "ISR0");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_ISR0 + 3 * APIC_REG_STRIDE), "ISR3");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_TMR0 + 5 * APIC_REG_STRIDE), "TMR5");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_IRR0 + 7 * APIC_REG_STRIDE), "IRR7");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_LVT_TIMER), "LVT_TIMER");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_TIMER_DCR), "TIMER_DCR");
  ck_assert_str_eq(apic_lapic_reg_name(APIC_REG_SELF_IPI), "SELF_IPI");
  ck_assert_ptr_null(apic_lapic_reg_name(0x000));
  ck_assert_ptr_null(apic_lapic_reg_name(0x040));
  ck_assert_ptr_null(apic_lapic_reg_name(APIC_REG_TPR + 4));
  ck_assert_ptr_null(apic_lapic_reg_name(APIC_REG_PAGE));
}
END_TEST

/* SDM 10.4.6: the xAPIC ID sits in bits 31:24 (8 bits; P6: 4 bits, 27:24). */
START_TEST(id_field_width_10_4_6) {
  apic_sim *s = mk(2);
  tu_wr(s, 1, APIC_REG_ID, 0xA5FFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ID), 0xA5000000u);
  ck_assert_uint_eq(st(s, 1).id, 0xA5);
  teardown();
  s = mk_p6(2);
  tu_wr(s, 1, APIC_REG_ID, 0xA5FFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ID), 0x05000000u);
}
END_TEST

/* SDM 10.6.2.2 (LDR bits 31:24, DFR model bits 31:28, rest reserved ones)
   and 10.8.3.1 (TPR bits 7:0). */
START_TEST(ldr_dfr_tpr_write_masks_10_6_2_2) {
  apic_sim *s = mk(1);
  tu_wr(s, 0, APIC_REG_LDR, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LDR), 0xFF000000u);
  tu_wr(s, 0, APIC_REG_DFR, 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_DFR), APIC_DFR_CLUSTER);
  tu_wr(s, 0, APIC_REG_DFR, APIC_DFR_FLAT);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_DFR), APIC_DFR_FLAT);
  tu_wr(s, 0, APIC_REG_TPR, 0xFFFFFF42u);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0x42);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TPR, 0, -1), 1);
  ck_assert_uint_eq(tu_find(&LOG, APIC_EV_TPR, 0, -1, 0)->a, 0x42);
}
END_TEST

/* ======================================================================
 * Error status register (SDM 10.5.3)
 * ==================================================================== */

#define RESERVED_REG 0x040u  /* Table 10-1: 040H-070H are reserved */
#define ERR_VEC 0xE3u        /* the LVT error entry's vector in these tests */

/* A read of a reserved register: the "illegal register address" error. */
static void illegal_reg_read(apic_sim *s) {
  uint32_t v;
  ck_assert_int_eq(apic_lapic_read(s, 0, RESERVED_REG, &v), APIC_OK);
}

/* SDM 10.5.3: "The ESR is a write/read register. Before attempt to read from
   the ESR, software should first write to it." Errors are invisible until
   the write, which latches them and clears the accumulator. */
START_TEST(esr_write_before_read_10_5_3) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  illegal_reg_read(s);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), 0);               /* not yet visible */
  ck_assert_uint_eq(st(s, 0).esr, 0);
  tu_wr(s, 0, APIC_REG_ESR, 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), APIC_ESR_ILLEGAL_REG);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), APIC_ESR_ILLEGAL_REG);  /* reads keep it */
  tu_wr(s, 0, APIC_REG_ESR, 0);  /* second write: accumulator was cleared */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), 0);
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.esr_errors, 1);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ESR_ERROR, 0, -1), 1);
}
END_TEST

/* SDM 10.5.3: errors after a latch wait for the next write; several errors
   between writes accumulate. */
START_TEST(esr_accumulates_between_writes_10_5_3) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  illegal_reg_read(s);
  tu_wr(s, 0, APIC_REG_ESR, 0);                               /* latches bit 7 */
  ipi(s, 0, 1, APIC_ICR_LO(0x05, APIC_DM_FIXED, 0));          /* send illegal vector */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), APIC_ESR_ILLEGAL_REG);
  tu_wr(s, 0, APIC_REG_ESR, 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ESR), APIC_ESR_SEND_ILLEGAL);
  illegal_reg_read(s);
  ipi(s, 0, 1, APIC_ICR_LO(0x0F, APIC_DM_FIXED, 0));
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_SEND_ILLEGAL | APIC_ESR_ILLEGAL_REG);
}
END_TEST

/* SDM 10.5.3 (ESR bit 6, receive illegal vector): a message with a vector
   below 16 that reaches an APIC (here from the I/O APIC, which has no send
   check) is logged by the receiver and not placed in IRR. */
START_TEST(recv_illegal_vector_10_5_3) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  uint64_t rte = 0x05 | (1ull << APIC_RTE_DEST_SHIFT);  /* fixed, edge, to APIC 1 */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 3, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 3, 1), APIC_OK);
  run_for(s, SETTLE);
  ck_assert_uint_eq(esr_latch(s, 1), APIC_ESR_RECV_ILLEGAL);
  ck_assert_uint_eq(esr_latch(s, 0), 0);
  apic_lapic_state o = st(s, 1);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(o.irr[i], 0);
  const apic_event *e = tu_find(&LOG, APIC_EV_MSG_DROPPED, 1, 0x05, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, APIC_DROP_ILLEGAL);
}
END_TEST

/* SDM 10.5.3 / 10.5.1: an error raises the LVT error interrupt when that
   entry is not masked; masked, the error is still logged in ESR. */
START_TEST(lvt_error_interrupt_10_5_3) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_ERROR, APIC_LVT_MASKED | ERR_VEC);
  illegal_reg_read(s);
  ck_assert(!irr(s, 0, ERR_VEC));
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);
  tu_wr(s, 0, APIC_REG_LVT_ERROR, ERR_VEC);
  illegal_reg_read(s);
  ck_assert(irr(s, 0, ERR_VEC));
  ck_assert(mmio_vec(s, 0, APIC_REG_IRR0, ERR_VEC));
  ck_assert(!tmr(s, 0, ERR_VEC));
  uint8_t pv;
  ck_assert_int_eq(pending(s, 0, &pv), APIC_INTR_FIXED);
  ck_assert_uint_eq(pv, ERR_VEC);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);
}
END_TEST

/* SDM 10.5.3: the ESR write "clears any previously logged errors and
   updates the ESR with any errors detected since the last write to the
   ESR. This write also rearms the APIC error interrupt triggering
   mechanism." After an error interrupt has been raised, further errors are
   logged but raise no interrupt until software writes the ESR (as Linux's
   error handler does); docs/SDM-CHOICES.md item 29 says what a masked error
   does. */
START_TEST(esr_write_rearms_error_interrupt_10_5_3) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_ERROR, ERR_VEC);
  illegal_reg_read(s); /* first error */
  ck_assert(irr(s, 0, ERR_VEC));
  ck_assert_uint_eq(ack_fixed(s, 0), ERR_VEC);
  tu_wr(s, 0, APIC_REG_EOI, 0);
  illegal_reg_read(s); /* not rearmed yet */
  ck_assert(!irr(s, 0, ERR_VEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ESR_ERROR, 0, -1), 2); /* still logged */
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_ILLEGAL_REG);      /* the write rearms */
  illegal_reg_read(s);
  ck_assert(irr(s, 0, ERR_VEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_SET, 0, ERR_VEC), 2);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_COALESCED, 0, ERR_VEC), 0);
}
END_TEST

/* docs/SDM-CHOICES.md item 29: an error logged while the LVT error entry is
   masked issues no interrupt and so does not use up the trigger: the first
   error after unmasking raises one. */
START_TEST(esr_masked_error_keeps_trigger_armed) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_ERROR, APIC_LVT_MASKED | ERR_VEC);
  illegal_reg_read(s);
  ck_assert(!irr(s, 0, ERR_VEC));
  tu_wr(s, 0, APIC_REG_LVT_ERROR, ERR_VEC);
  illegal_reg_read(s);
  ck_assert(irr(s, 0, ERR_VEC));
}
END_TEST

/* ======================================================================
 * Task, processor and arbitration priority (SDM 10.8.3.1, 10.6.2.4)
 * ==================================================================== */

/* SDM 10.8.3.1: with nothing in service PPR = TPR. */
START_TEST(ppr_is_tpr_when_isr_empty_10_8_3_1) {
  apic_sim *s = mk(1);
  tu_wr(s, 0, APIC_REG_TPR, 0x47);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_PPR), 0x47);
  ck_assert_uint_eq(st(s, 0).ppr, 0x47);
}
END_TEST

/* SDM 10.8.3.1: ISRV class above TPR class: PPR = ISRV[7:4], PPR[3:0] = 0. */
START_TEST(ppr_is_isrv_class_when_higher_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x5A);
  tu_wr(s, 1, APIC_REG_TPR, 0x3C);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x50);
}
END_TEST

/* SDM 10.8.3.1: TPR class above ISRV class: PPR = TPR (both nibbles). */
START_TEST(ppr_is_tpr_when_tpr_class_higher_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x5A);
  tu_wr(s, 1, APIC_REG_TPR, 0x65);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x65);
}
END_TEST

/* SDM 10.8.3.1: "If TPR[7:4] >= ISRV[7:4], PPR[7:0] = TPR[7:0]": with equal
   classes PPR is TPR, even when TPR's sub-class is below ISRV's. */
START_TEST(ppr_equal_class_is_tpr_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x5A);
  tu_wr(s, 1, APIC_REG_TPR, 0x53);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x53);
  tu_wr(s, 1, APIC_REG_TPR, 0x5F);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x5F);
  tu_wr(s, 1, APIC_REG_TPR, 0x4F);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x50);
}
END_TEST

/* SDM 10.8.3.1: PPR follows the ISR as EOIs retire nested interrupts. */
START_TEST(ppr_follows_eoi_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0x21);
  in_service(s, 1, 0x51);
  in_service(s, 1, 0x81);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x80);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x50);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_PPR), 0x21);
  ck_assert_uint_ge(tu_count(&LOG, APIC_EV_PPR, 1, -1), 4);
}
END_TEST

/* SDM 10.6.2.4 and docs/SDM-CHOICES.md item 1: APR is the maximum of the
   TPR, ISRV and IRRV classes (not the literal bitwise AND), and APR = TPR
   when TPR's class is >= IRRV's and > ISRV's. */
START_TEST(apr_takes_max_of_classes) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0);
  in_service(s, 1, 0x71);
  /* TPR 0x8x, ISRV 0x7x: the literal AND gives class 0; max gives TPR */
  tu_wr(s, 1, APIC_REG_TPR, 0x85);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x85);
  ck_assert_uint_eq(st(s, 1).apr, 0x85);
  /* TPR below ISRV: ISRV class, low nibble 0 */
  tu_wr(s, 1, APIC_REG_TPR, 0x23);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x70);
  /* TPR class equal to ISRV class: not "> ISRV", so the class */
  tu_wr(s, 1, APIC_REG_TPR, 0x7C);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x70);
  /* a pending IRR vector above both wins */
  tu_wr(s, 1, APIC_REG_TPR, 0xFF);  /* keep 0x93 in IRR */
  send_fixed(s, 0, 1, 0x93);
  tu_wr(s, 1, APIC_REG_TPR, 0x23);
  ck_assert(irr(s, 1, 0x93));
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x90);
  /* TPR class equal to IRRV class and above ISRV: TPR */
  tu_wr(s, 1, APIC_REG_TPR, 0x9E);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0x9E);
  /* TPR above everything */
  tu_wr(s, 1, APIC_REG_TPR, 0xA2);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_APR), 0xA2);
}
END_TEST

/* ======================================================================
 * Interrupt acceptance (SDM 10.8.3, 10.8.4, 10.8.5, 10.9)
 * ==================================================================== */

/* SDM 10.6.1 / 10.8.4: a fixed IPI sets the receiver's IRR bit (edge: TMR
   clear) when it arrives, and only there. */
START_TEST(fixed_ipi_sets_irr_10_8_4) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  run_to(s, 100);
  ipi(s, 0, 1, APIC_ICR_LO(0x41, APIC_DM_FIXED, 0));
  const apic_timing *t = &apic_sim_config(s)->timing;
  run_to(s, 100 + t->post + t->xapic_latency - 1);
  ck_assert(!irr(s, 1, 0x41));
  run_to(s, 100 + t->post + t->xapic_latency);
  ck_assert(irr(s, 1, 0x41));
  ck_assert(mmio_vec(s, 1, APIC_REG_IRR0, 0x41));
  ck_assert(!tmr(s, 1, 0x41));
  ck_assert(!irr(s, 0, 0x41));
  const apic_event *e = tu_find(&LOG, APIC_EV_IRR_SET, 1, 0x41, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_SET, APIC_NONE, -1), 1);
}
END_TEST

/* SDM 10.8.3.1: the processor is offered the highest IRR vector only if its
   class is above PPR[7:4]; and only with IF set. */
START_TEST(pending_needs_class_above_ppr_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x45);
  send_fixed(s, 0, 1, 0x43);          /* same class as the one in service */
  uint8_t v = 0;
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_NONE);
  send_fixed(s, 0, 1, 0x4F);
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_NONE);
  send_fixed(s, 0, 1, 0x51);          /* higher class: deliverable */
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_FIXED);
  ck_assert_uint_eq(v, 0x51);
  apic_intr_kind k;
  ck_assert_int_eq(apic_sim_pending(s, 1, 0, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);  /* IF = 0 */
}
END_TEST

/* SDM 10.8.4: INTA moves the highest deliverable vector from IRR to ISR. */
START_TEST(ack_moves_irr_to_isr_10_8_4) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  send_fixed(s, 0, 1, 0x41);
  send_fixed(s, 0, 1, 0x62);
  ck_assert_uint_eq(ack_fixed(s, 1), 0x62);
  ck_assert(!irr(s, 1, 0x62));
  ck_assert(isr(s, 1, 0x62));
  ck_assert(mmio_vec(s, 1, APIC_REG_ISR0, 0x62));
  ck_assert(irr(s, 1, 0x41));
  ck_assert(!isr(s, 1, 0x41));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ACCEPT, 1, 0x62), 1);
  /* 0x41 is below the class now in service */
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
}
END_TEST

/* SDM 10.8.5: an EOI write clears the highest-priority ISR bit only. */
START_TEST(eoi_clears_highest_isr_only_10_8_5) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x41);
  in_service(s, 1, 0x61);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert(!isr(s, 1, 0x61));
  ck_assert(isr(s, 1, 0x41));
  const apic_event *e = tu_find(&LOG, APIC_EV_EOI, 1, -1, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->vector, 0x61);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert(!isr(s, 1, 0x41));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI, 1, -1), 2);
}
END_TEST

/* SDM 10.8.5: an EOI with nothing in service changes nothing. */
START_TEST(eoi_with_empty_isr_ignored_10_8_5) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0xFF);
  send_fixed(s, 0, 1, 0x41);
  apic_lapic_state before = st(s, 1);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_for(s, SETTLE);
  apic_lapic_state after = st(s, 1);
  ck_assert_int_eq(memcmp(before.irr, after.irr, sizeof before.irr), 0);
  ck_assert_int_eq(memcmp(before.isr, after.isr, sizeof before.isr), 0);
  ck_assert(irr(s, 1, 0x41));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI, APIC_NONE, -1), 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI_MSG, APIC_NONE, -1), 0);
}
END_TEST

/* SDM 10.8.4: on Pentium 4/Xeon further interrupts of a vector already
   pending in IRR collapse into the one IRR bit. */
START_TEST(irr_coalesces_same_vector_10_8_4) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  ipi(s, 0, 1, APIC_ICR_LO(0x41, APIC_DM_FIXED, 0));
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x41, APIC_DM_FIXED, 0));
  run_for(s, SETTLE);
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.coalesced, 1);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_COALESCED, 1, 0x41), 1);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_SET, 1, 0x41), 1);
  ck_assert_uint_eq(ack_fixed(s, 1), 0x41);
  ck_assert(!irr(s, 1, 0x41));  /* one interrupt, not two */
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
}
END_TEST

/* SDM 10.8.4: P6 APICs take at most one interrupt per vector in IRR and
   reject further ones (the sender retries on the APIC bus) instead of
   collapsing them; the retried message lands once IRR is free. */
START_TEST(p6_rejects_second_same_vector_10_8_4) {
  apic_sim *s = mk_p6(2);
  tu_enable_all(s);
  ipi(s, 0, 1, APIC_ICR_LO(0x41, APIC_DM_FIXED, 0));
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x41, APIC_DM_FIXED, 0));
  run_for(s, SETTLE_P6);
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.coalesced, 0);
  ck_assert_uint_gt(stt.retries, 0);
  ck_assert_uint_ne(tu_rd(s, 0, APIC_REG_ICR_LO) & APIC_ICR_DS, 0);  /* still trying */
  ck_assert_uint_eq(ack_fixed(s, 1), 0x41);
  run_for(s, SETTLE_P6);
  ck_assert(isr(s, 1, 0x41));
  ck_assert(irr(s, 1, 0x41));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO) & APIC_ICR_DS, 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_IRR_SET, 1, 0x41), 2);
}
END_TEST

/* SDM 10.8.4: a vector can be queued twice: once in ISR, once in IRR; the
   second waits for the EOI of the first (same class as PPR). */
START_TEST(vector_in_isr_and_irr_10_8_4) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, 0x41);
  send_fixed(s, 0, 1, 0x41);
  ck_assert(isr(s, 1, 0x41));
  ck_assert(irr(s, 1, 0x41));
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.coalesced, 0);
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  uint8_t v;
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_FIXED);
  ck_assert_uint_eq(v, 0x41);
}
END_TEST

/* SDM 10.8.3.1: raising TPR to the vector's class holds it pending in IRR;
   lowering TPR below the class releases it. */
START_TEST(tpr_holds_vector_pending_10_8_3_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0x40);
  send_fixed(s, 0, 1, 0x4E);
  ck_assert(irr(s, 1, 0x4E));
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
  tu_wr(s, 1, APIC_REG_TPR, 0x9F);
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
  tu_wr(s, 1, APIC_REG_TPR, 0x3F);
  uint8_t v;
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_FIXED);
  ck_assert_uint_eq(v, 0x4E);
}
END_TEST

/* SDM 10.9: an INTA with nothing deliverable (nothing pending, or TPR raised
   after the interrupt was signalled) returns the spurious vector from SVR
   and leaves ISR and IRR alone. */
START_TEST(spurious_vector_when_nothing_deliverable_10_9) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | 0xEF);
  ck_assert_uint_eq(ack_fixed(s, 1), 0xEF);
  send_fixed(s, 0, 1, 0x41);
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_FIXED);
  tu_wr(s, 1, APIC_REG_TPR, 0x50);  /* the race of SDM 10.9 */
  ck_assert_uint_eq(ack_fixed(s, 1), 0xEF);
  ck_assert(irr(s, 1, 0x41));
  apic_lapic_state o = st(s, 1);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(o.isr[i], 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ACCEPT, 1, -1), 0);
}
END_TEST

/* ======================================================================
 * Level-triggered interrupts and EOI messages (SDM 10.8.4, 10.8.5)
 * ==================================================================== */

#define LVL_PIN 5u
#define LVL_VEC 0x61u

/* I/O APIC pin LVL_PIN: fixed, physical, level, active high, to APIC ID 1. */
static void level_irq_to_cpu1(apic_sim *s) {
  uint64_t rte = LVL_VEC | APIC_RTE_TRIGGER | (1ull << APIC_RTE_DEST_SHIFT);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, LVL_PIN, rte), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, LVL_PIN, 1), APIC_OK);
  run_for(s, SETTLE);
}

static uint64_t rte_of(apic_sim *s, uint32_t pin) {
  uint64_t r = 0;
  ck_assert_int_eq(apic_ioapic_rte_get(s, 0, pin, &r), APIC_OK);
  return r;
}

/* SDM 10.8.4: acceptance of a level-triggered interrupt sets its TMR bit. */
START_TEST(ioapic_level_sets_tmr_10_8_4) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  level_irq_to_cpu1(s);
  ck_assert(irr(s, 1, LVL_VEC));
  ck_assert(tmr(s, 1, LVL_VEC));
  ck_assert(mmio_vec(s, 1, APIC_REG_TMR0, LVL_VEC));
  const apic_event *e = tu_find(&LOG, APIC_EV_IRR_SET, 1, LVL_VEC, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, 1);
  ck_assert(rte_of(s, LVL_PIN) & APIC_RTE_REMOTE_IRR);
}
END_TEST

/* SDM 10.8.5: the EOI of a level-triggered vector (TMR set) is broadcast to
   the I/O APICs, which clear remote IRR. */
START_TEST(level_eoi_sends_eoi_message_10_8_5) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  level_irq_to_cpu1(s);
  ck_assert_uint_eq(ack_fixed(s, 1), LVL_VEC);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, LVL_PIN, 0), APIC_OK);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI_MSG, 1, LVL_VEC), 1);
  run_for(s, SETTLE);
  ck_assert(!(rte_of(s, LVL_PIN) & APIC_RTE_REMOTE_IRR));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, -1), 1);
}
END_TEST

/* SDM 10.8.5: with SVR bit 12 (suppress EOI broadcast, offered when VER
   bit 24 is set) a level EOI sends no EOI message; remote IRR stays set. */
START_TEST(eoi_broadcast_suppressed_10_8_5) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | APIC_SVR_EOI_SUPPRESS | 0xFF);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), APIC_SVR_ENABLE | APIC_SVR_EOI_SUPPRESS | 0xFF);
  level_irq_to_cpu1(s);
  ck_assert_uint_eq(ack_fixed(s, 1), LVL_VEC);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  ck_assert(!isr(s, 1, LVL_VEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI, 1, LVL_VEC), 1);
  run_for(s, SETTLE);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI_MSG, APIC_NONE, -1), 0);
  ck_assert(rte_of(s, LVL_PIN) & APIC_RTE_REMOTE_IRR);
}
END_TEST

/* SDM 10.8.5: the EOI of an edge-triggered vector sends no EOI message. */
START_TEST(edge_eoi_sends_no_message_10_8_5) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  in_service(s, 1, LVL_VEC);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_for(s, SETTLE);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI, 1, LVL_VEC), 1);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI_MSG, APIC_NONE, -1), 0);
}
END_TEST

/* docs/SDM-CHOICES.md item 5 (Table 10-3 note 2): a fixed IPI with the
   trigger bit set to level is sent edge: TMR stays clear and its EOI sends
   no EOI message. */
START_TEST(level_ipi_is_sent_edge) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  ipi(s, 0, 1, APIC_ICR_LO(0x72, APIC_DM_FIXED, APIC_ICR_TRIGGER | APIC_ICR_LEVEL));
  run_for(s, SETTLE);
  ck_assert(irr(s, 1, 0x72));
  ck_assert(!tmr(s, 1, 0x72));
  ck_assert_uint_eq(tu_find(&LOG, APIC_EV_IRR_SET, 1, 0x72, 0)->a, 0);
  ck_assert_uint_eq(ack_fixed(s, 1), 0x72);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_for(s, SETTLE);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_EOI_MSG, APIC_NONE, -1), 0);
}
END_TEST

/* ======================================================================
 * Spurious-interrupt vector register, software enable (SDM 10.4.7.2, 10.9)
 * ==================================================================== */

/* SDM 10.4.7.2 and docs/SDM-CHOICES.md item 9: software disable sets every
   LVT mask bit; while disabled the masks cannot be cleared; re-enabling
   leaves them set until software clears them. */
START_TEST(sw_disable_masks_lvt_and_stays_masked) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  static const uint32_t lvts[] = {APIC_REG_LVT_CMCI, APIC_REG_LVT_TIMER, APIC_REG_LVT_THERMAL,
                                  APIC_REG_LVT_PERF, APIC_REG_LVT_LINT0, APIC_REG_LVT_LINT1,
                                  APIC_REG_LVT_ERROR};
  const size_t n = sizeof lvts / sizeof lvts[0];
  for (size_t i = 0; i < n; i++) {
    tu_wr(s, 0, lvts[i], 0x40 + (uint32_t)i);
    ck_assert_uint_eq(tu_rd(s, 0, lvts[i]), 0x40 + (uint32_t)i);
  }
  tu_wr(s, 0, APIC_REG_SVR, 0xFF);  /* software disable */
  for (size_t i = 0; i < n; i++)
    ck_assert_uint_eq(tu_rd(s, 0, lvts[i]), APIC_LVT_MASKED | (0x40 + (uint32_t)i));
  for (size_t i = 0; i < n; i++) {
    tu_wr(s, 0, lvts[i], 0x50);
    ck_assert_uint_eq(tu_rd(s, 0, lvts[i]), APIC_LVT_MASKED | 0x50);  /* vector taken, mask kept */
  }
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  for (size_t i = 0; i < n; i++)
    ck_assert_uint_eq(tu_rd(s, 0, lvts[i]), APIC_LVT_MASKED | 0x50);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, 0x50);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), 0x50);
}
END_TEST

/* SDM 10.4.7.2 and docs/SDM-CHOICES.md item 10: a software-disabled APIC
   drops fixed messages but takes NMI (and INIT, SMI, SIPI). */
START_TEST(sw_disabled_drops_fixed_keeps_nmi) {
  apic_sim *s = mk(2);
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);  /* cpu 1 stays disabled */
  send_fixed(s, 0, 1, 0x41);
  ck_assert(!irr(s, 1, 0x41));
  const apic_event *e = tu_find(&LOG, APIC_EV_MSG_DROPPED, 1, 0x41, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, APIC_DROP_DISABLED);
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.dropped, 1);
  ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_NMI, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(st(s, 1).nmi_pending, 1);
  uint8_t v;
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_NMI);
  ck_assert_uint_eq(v, 2);
  ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_SMI, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(st(s, 1).smi_pending, 1);
}
END_TEST

/* SDM 10.4.7.2: software disable holds pending IRR/ISR state, and the APIC
   can still send IPIs. */
START_TEST(sw_disabled_holds_irr_and_sends_10_4_7_2) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  send_fixed(s, 0, 1, 0x41);
  in_service(s, 1, 0x81);
  tu_wr(s, 1, APIC_REG_SVR, 0xFF);
  ck_assert(irr(s, 1, 0x41));
  ck_assert(isr(s, 1, 0x81));
  send_fixed(s, 1, 0, 0x55);  /* disabled sender */
  ck_assert(irr(s, 0, 0x55));
}
END_TEST

/* SDM 10.9, Figure 10-23: on P6 the spurious vector bits 3:0 are hardwired
   to 1 (only 7:4 writable). On xAPIC all 8 bits are writable. */
START_TEST(p6_svr_low_nibble_reads_ones_10_9) {
  apic_sim *s = mk_p6(1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR), 0xFF);
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0x20);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR), APIC_SVR_ENABLE | 0x2F);
  ck_assert_uint_eq(ack_fixed(s, 0), 0x2F);  /* the spurious vector delivered */
  teardown();
  s = mk(1);
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0x20);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR), APIC_SVR_ENABLE | 0x20);
}
END_TEST

/* SDM 10.9, Figure 10-23: bit 9 (focus processor checking) is writable on
   both generations; bit 12 (EOI-broadcast suppression) only where VER bit
   24 offers it; other bits reserved. */
START_TEST(svr_focus_and_suppress_bits_10_9) {
  apic_sim *s = mk(1);
  tu_wr(s, 0, APIC_REG_SVR, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR),
                    APIC_SVR_EOI_SUPPRESS | APIC_SVR_FOCUS_OFF | APIC_SVR_ENABLE | 0xFF);
  tu_wr(s, 0, APIC_REG_SVR, APIC_SVR_ENABLE | 0xFF);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR) & APIC_SVR_FOCUS_OFF, 0);
  teardown();
  s = mk_p6(1);
  tu_wr(s, 0, APIC_REG_SVR, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_SVR), APIC_SVR_FOCUS_OFF | APIC_SVR_ENABLE | 0xFF);
}
END_TEST

/* ======================================================================
 * Interrupt command register (SDM 10.6.1, Tables 10-3 and 10-4)
 * ==================================================================== */

/* SDM 10.6.1, Figure 10-12: delivery status reads "send pending" from the
   ICR_LO write until the message has left (timing.post on the xapic bus). */
START_TEST(icr_delivery_status_10_6_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  run_to(s, 500);
  uint32_t lo = APIC_ICR_LO(0x41, APIC_DM_FIXED, 0);
  ipi(s, 0, 1, lo);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO), lo | APIC_ICR_DS);
  ck_assert_uint_eq(st(s, 0).icr_lo, lo | APIC_ICR_DS);
  uint32_t post = apic_sim_config(s)->timing.post;
  run_to(s, 500 + post - 1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO), lo | APIC_ICR_DS);
  run_to(s, 500 + post);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO), lo);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_MSG_DONE, 0, 0x41), 1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_HI), 1u << APIC_ICR_DEST_SHIFT);
  /* software cannot set the read-only delivery status bit */
  tu_wr(s, 0, APIC_REG_ICR_HI, 7u << APIC_ICR_DEST_SHIFT);  /* nobody */
  tu_wr(s, 0, APIC_REG_ICR_LO, lo | APIC_ICR_DS);
  run_for(s, SETTLE);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO), lo);
}
END_TEST

/* SDM 10.6.1, Figure 10-12: ICR_HI holds only the destination field,
   bits 63:56 (31:24 of ICR_HI); ICR_LO keeps vector, delivery mode,
   destination mode, level and trigger. On P6 the field is 8 bits too (the
   logical MDA); only physical matching uses bits 59:56 (dest.c). */
START_TEST(icr_hi_dest_field_mask_10_6_1) {
  apic_sim *s = mk(1);
  tu_wr(s, 0, APIC_REG_ICR_HI, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_HI), 0xFF000000u);
  tu_wr(s, 0, APIC_REG_ICR_LO, 0xFFFFFFFFu & ~(APIC_ICR_DM_MASK | APIC_ICR_SH_MASK));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO) & ~APIC_ICR_DS, 0x0000C8FFu);  /* Fig 10-12 */
  teardown();
  s = mk_p6(1);
  tu_wr(s, 0, APIC_REG_ICR_HI, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_HI), 0xFF000000u);
}
END_TEST

/* SDM 10.5.3 and docs/SDM-CHOICES.md item 12: a fixed IPI with a vector
   below 16 sets "send illegal vector" (ESR bit 5) on the sender and is not
   sent; the receiver logs nothing. */
START_TEST(send_illegal_vector) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  for (uint8_t v = 0; v < 16; v += 5) {
    ipi(s, 0, 1, APIC_ICR_LO(v, APIC_DM_FIXED, 0));
    ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO) & APIC_ICR_DS, 0);
    run_for(s, SETTLE);
    ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_SEND_ILLEGAL);
  }
  ipi(s, 0, 1, APIC_ICR_LO(0x03, APIC_DM_LOWEST, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_SEND_ILLEGAL);
  ck_assert_uint_eq(esr_latch(s, 1), 0);
  apic_lapic_state o = st(s, 1);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(o.irr[i], 0);
  apic_stats stt;
  apic_sim_stats(s, &stt);
  ck_assert_uint_eq(stt.messages, 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
}
END_TEST

/* SDM 10.5.3, ESR bits 5 and 6: "Send Illegal Vector" is set by a write to
   the ICR (or SELF IPI) with a vector below 16, and "Receive Illegal Vector"
   by an illegal vector "in an interrupt generated locally from the local
   vector table or via a self IPI". A self IPI with vector 0-15 (ICR self
   shorthand, xAPIC) sets both; nothing reaches IRR. */
START_TEST(self_ipi_illegal_vector_sets_send_and_receive_10_5_3) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x07, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  run_for(s, SETTLE);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_SEND_ILLEGAL | APIC_ESR_RECV_ILLEGAL);
  ck_assert_uint_eq(esr_latch(s, 1), 0);
  apic_lapic_state o = st(s, 0);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(o.irr[i], 0);
  /* a fixed IPI to another APIC stays a sender-only error (SDM-CHOICES 12) */
  ipi(s, 0, 1, APIC_ICR_LO(0x07, APIC_DM_FIXED, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(esr_latch(s, 0), APIC_ESR_SEND_ILLEGAL);
}
END_TEST

/* Checks that an ICR_LO write was refused as an invalid combination. */
static void expect_not_sent(apic_sim *s, uint32_t lo, const char *what) {
  size_t inv = tu_count(&LOG, APIC_EV_ICR_INVALID, 0, -1);
  size_t sent = tu_count(&LOG, APIC_EV_MSG_SEND, APIC_NONE, -1);
  tu_wr(s, 0, APIC_REG_ICR_LO, lo);
  ck_assert_msg(tu_rd(s, 0, APIC_REG_ICR_LO) == lo, "%s: ICR keeps the value, idle", what);
  run_for(s, SETTLE);
  ck_assert_msg(tu_count(&LOG, APIC_EV_ICR_INVALID, 0, -1) == inv + 1, "%s: icr_invalid", what);
  ck_assert_msg(tu_count(&LOG, APIC_EV_MSG_SEND, APIC_NONE, -1) == sent, "%s: sent", what);
  for (uint32_t c = 0; c < apic_sim_ncpus(s); c++) {
    apic_lapic_state o = st(s, c);
    ck_assert_msg(!o.nmi_pending && !o.init_pending && !o.smi_pending && !o.sipi_pending,
                  "%s: cpu %u took it", what, c);
    for (int i = 0; i < 8; i++) ck_assert_msg(o.irr[i] == 0, "%s: IRR on cpu %u", what, c);
  }
}

/* Tables 10-3/10-4 and docs/SDM-CHOICES.md item 3: INIT with the self
   shorthand is invalid and is not sent. */
START_TEST(icr_self_init_is_not_sent) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  expect_not_sent(s, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_SH(APIC_SH_SELF) | APIC_ICR_LEVEL),
                  "self INIT");
  const apic_event *e = tu_find(&LOG, APIC_EV_ICR_INVALID, 0, -1, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_SH(APIC_SH_SELF) | APIC_ICR_LEVEL));
}
END_TEST

/* Tables 10-3/10-4 and docs/SDM-CHOICES.md item 3: every other combination
   the tables call invalid is not sent either: self or all-including-self
   with anything but fixed; reserved delivery modes 011 and 111. */
START_TEST(icr_invalid_combinations) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  static const uint32_t modes[] = {APIC_DM_LOWEST, APIC_DM_SMI, APIC_DM_NMI, APIC_DM_INIT,
                                   APIC_DM_STARTUP};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    expect_not_sent(s, APIC_ICR_LO(0x41, modes[i], APIC_ICR_SH(APIC_SH_SELF)), "self");
    expect_not_sent(s, APIC_ICR_LO(0x41, modes[i], APIC_ICR_SH(APIC_SH_ALL)), "all incl self");
  }
  expect_not_sent(s, APIC_ICR_LO(0x41, 3u, 0), "reserved mode 011");
  expect_not_sent(s, APIC_ICR_LO(0x41, APIC_DM_EXTINT, 0), "reserved mode 111");
  expect_not_sent(s, APIC_ICR_LO(0x41, 3u, APIC_ICR_SH(APIC_SH_OTHERS)), "011 to others");
  /* the valid neighbours are sent: fixed to self, NMI to all-excluding-self */
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x41, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0, APIC_DM_NMI, APIC_ICR_SH(APIC_SH_OTHERS)));
  run_for(s, SETTLE);
  ck_assert(irr(s, 0, 0x41));
  ck_assert(!irr(s, 1, 0x41));
  ck_assert_uint_eq(st(s, 1).nmi_pending, 1);
  ck_assert_uint_eq(st(s, 0).nmi_pending, 0);
}
END_TEST

/* SDM 10.6.1 and docs/SDM-CHOICES.md item 14: INIT level de-assert (INIT,
   trigger level, level bit 0) is sent only on P6; it does not put the
   receiver in INIT. On xAPIC it is not sent. */
START_TEST(init_deassert_p6_only) {
  const uint32_t lo = APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_TRIGGER);
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_ICR_HI, 1u << APIC_ICR_DEST_SHIFT);
  expect_not_sent(s, lo, "xAPIC INIT de-assert");
  teardown();

  s = mk_p6(2);
  tu_enable_all(s);
  ipi(s, 0, 1, lo);
  run_for(s, SETTLE_P6);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ICR_INVALID, APIC_NONE, -1), 0);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_MSG_SEND, APIC_NONE, -1), 1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_ICR_LO) & APIC_ICR_DS, 0);
  apic_lapic_state o = st(s, 1);
  ck_assert_uint_eq(o.init_pending, 0);
  ck_assert_uint_eq(o.wait_sipi, 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), APIC_SVR_ENABLE | 0xFF);  /* not reset */
}
END_TEST

/* SDM 10.6.1 (INIT level de-assert: "sent to all processors, regardless of
   the value in the destination field or the destination shorthand field")
   and docs/SDM-CHOICES.md item 14: every P6 APIC resets its arbitration ID
   to its APIC ID. Seen through a lowest-priority tie, which the highest
   arbitration ID wins (SDM 10.7). */
START_TEST(p6_init_deassert_resyncs_every_arb_id) {
  apic_sim *s = mk_p6(3);
  tu_enable_all(s);
  /* core 2 wins the bus: arbitration IDs 0,1,2 -> 1,2,0 */
  send_fixed(s, 2, 0, 0x41);
  run_for(s, SETTLE_P6);
  /* de-assert addressed to APIC 1 only: core 0 wins (IDs -> 0,2,1), then all
     must resync to 0,1,2 */
  ipi(s, 0, 1, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_TRIGGER));
  run_for(s, SETTLE_P6);
  /* core 0 wins with ID 0 (no change); cores 1 and 2 tie on APR 0 */
  tu_wr(s, 0, APIC_REG_ICR_LO, APIC_ICR_LO(0x51, APIC_DM_LOWEST, APIC_ICR_SH(APIC_SH_OTHERS)));
  run_for(s, SETTLE_P6);
  ck_assert(irr(s, 2, 0x51));
  ck_assert(!irr(s, 1, 0x51));
}
END_TEST

/* SDM 10.6.1 (delivery mode NMI): an NMI IPI makes NMI pending on the
   target regardless of IF, TPR or the vector field. */
START_TEST(nmi_ipi_delivery_10_6_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0xFF);
  ipi(s, 0, 1, APIC_ICR_LO(0x33, APIC_DM_NMI, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(st(s, 1).nmi_pending, 1);
  ck_assert_uint_eq(st(s, 0).nmi_pending, 0);
  ck_assert(!irr(s, 1, 0x33));
  apic_intr_kind k;
  uint8_t v;
  ck_assert_int_eq(apic_sim_pending(s, 1, 0, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NMI);
  ck_assert_uint_eq(v, 2);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_NMI, &v), APIC_OK);
  ck_assert_uint_eq(st(s, 1).nmi_pending, 0);
}
END_TEST

/* SDM 10.4.7.3 / 8.4.4 (INIT-SIPI-SIPI): INIT makes INIT pending; taking it
   resets the APIC (ID kept) and the core waits for a SIPI, whose vector is
   the start-up page. */
START_TEST(init_sipi_delivery_10_4_7_3) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0x40);
  tu_wr(s, 1, APIC_REG_LDR, 0x02000000u);
  tu_wr(s, 1, APIC_REG_ID, 0x07000000u);
  ipi(s, 0, 7, APIC_ICR_LO(0, APIC_DM_INIT, APIC_ICR_LEVEL));
  run_for(s, SETTLE);
  apic_lapic_state o = st(s, 1);
  ck_assert_uint_eq(o.init_pending, 1);
  ck_assert_uint_eq(o.wait_sipi, 0);
  uint8_t v;
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_INIT);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_INIT, &v), APIC_OK);
  o = st(s, 1);
  ck_assert_uint_eq(o.init_pending, 0);
  ck_assert_uint_eq(o.wait_sipi, 1);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ID), 0x07000000u);  /* ID survives INIT */
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_TPR), 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_LDR), 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), 0xFF);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_LVT_TIMER), APIC_LVT_MASKED);
  ck_assert_int_eq(pending(s, 1, NULL), APIC_INTR_NONE);
  ipi(s, 0, 7, APIC_ICR_LO(0x9A, APIC_DM_STARTUP, 0));
  run_for(s, SETTLE);
  o = st(s, 1);
  ck_assert_uint_eq(o.sipi_pending, 1);
  ck_assert_int_eq(pending(s, 1, &v), APIC_INTR_SIPI);
  ck_assert_uint_eq(v, 0x9A);
  ck_assert_int_eq(apic_sim_ack(s, 1, APIC_INTR_SIPI, &v), APIC_OK);
  ck_assert_uint_eq(v, 0x9A);
  o = st(s, 1);
  ck_assert_uint_eq(o.sipi_pending, 0);
  ck_assert_uint_eq(o.wait_sipi, 0);
}
END_TEST

/* SDM 8.4.4.1 / 10.6.1: a start-up IPI to a core that is not waiting for
   SIPI (no INIT before it) is ignored. */
START_TEST(sipi_without_init_ignored_10_6_1) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  ipi(s, 0, 1, APIC_ICR_LO(0x9A, APIC_DM_STARTUP, 0));
  run_for(s, SETTLE);
  ck_assert_uint_eq(st(s, 1).sipi_pending, 0);
  const apic_event *e = tu_find(&LOG, APIC_EV_MSG_DROPPED, 1, -1, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, APIC_DROP_NOT_WAITING);
}
END_TEST

/* SDM 10.6.1 (destination shorthand): self reaches only the sender,
   all-excluding-self everybody else, all-including-self everybody. */
START_TEST(icr_shorthands_10_6_1) {
  apic_sim *s = mk(3);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_ICR_HI, 0xFF000000u);  /* ignored with a shorthand */
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x41, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x52, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  tu_wr(s, 1, APIC_REG_ICR_LO, APIC_ICR_LO(0x63, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_ALL)));
  run_for(s, SETTLE);
  ck_assert(!irr(s, 0, 0x41) && irr(s, 1, 0x41) && !irr(s, 2, 0x41));
  ck_assert(irr(s, 0, 0x52) && !irr(s, 1, 0x52) && irr(s, 2, 0x52));
  ck_assert(irr(s, 0, 0x63) && irr(s, 1, 0x63) && irr(s, 2, 0x63));
  const apic_event *e = tu_find(&LOG, APIC_EV_ICR_WRITE, 1, 0x52, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, APIC_ICR_LO(0x52, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
}
END_TEST

/* ======================================================================
 * Local vector table (SDM 10.5.1, Figure 10-8)
 * ==================================================================== */

/* SDM 10.5.1, Figure 10-8: writable fields per entry. Timer: vector, mask,
   timer mode (no delivery mode); LINT0/1: vector, delivery mode, polarity,
   trigger, mask; error: vector and mask only; CMCI/thermal/perf: vector,
   delivery mode, mask. Delivery status and remote IRR are read only. */
START_TEST(lvt_write_masks_10_5_1) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  const uint32_t all = 0xFFFFFFFFu;
  const uint32_t dm_entry = APIC_LVT_VECTOR_MASK | APIC_LVT_DM_MASK | APIC_LVT_MASKED;
  tu_wr(s, 0, APIC_REG_LVT_CMCI, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_CMCI), dm_entry);
  tu_wr(s, 0, APIC_REG_LVT_THERMAL, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_THERMAL), dm_entry);
  tu_wr(s, 0, APIC_REG_LVT_PERF, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_PERF), dm_entry);
  tu_wr(s, 0, APIC_REG_LVT_LINT0, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0),
                    dm_entry | APIC_LVT_POLARITY | APIC_LVT_TRIGGER);
  tu_wr(s, 0, APIC_REG_LVT_LINT1, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT1),
                    dm_entry | APIC_LVT_POLARITY | APIC_LVT_TRIGGER);
  tu_wr(s, 0, APIC_REG_LVT_ERROR, all);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_ERROR), APIC_LVT_VECTOR_MASK | APIC_LVT_MASKED);
  /* timer: all bits but mode bit 18 (mode 11b is reserved) */
  tu_wr(s, 0, APIC_REG_LVT_TIMER, all & ~LVT_MODE(APIC_TIMER_TSCDEADLINE));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER),
                    APIC_LVT_VECTOR_MASK | APIC_LVT_MASKED | LVT_MODE(APIC_TIMER_PERIODIC));
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_TSCDEADLINE) | 0x40);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), LVT_MODE(APIC_TIMER_TSCDEADLINE) | 0x40);
  ck_assert_uint_eq(esr_latch(s, 0), 0);
}
END_TEST

/* SDM 10.5.4.1: P6 has no TSC-deadline mode: timer mode bit 18 is reserved
   and IA32_TSC_DEADLINE does not exist (#GP). */
START_TEST(p6_timer_has_no_tsc_deadline_10_5_4_1) {
  apic_sim *s = mk_p6(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_TSCDEADLINE | APIC_TIMER_PERIODIC) | 0x40);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), LVT_MODE(APIC_TIMER_PERIODIC) | 0x40);
  uint64_t v;
  ck_assert_int_eq(apic_lapic_rdmsr(s, 0, APIC_MSR_TSC_DEADLINE, &v), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 1000), APIC_GP);
}
END_TEST

/* SDM 10.5.1: delivery status (bit 12) and remote IRR (bit 14) are read
   only: software writes neither set nor clear them. Delivery status is
   made visible with the held-timer quirk (docs/SDM-CHOICES.md item 6),
   remote IRR with a level-triggered LINT0 input. */
START_TEST(lvt_readonly_status_bits_10_5_1) {
  apic_config cfg = tu_config(1, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.quirks.timer_masked_hold = 1;
  apic_sim *s = mk_cfg(&cfg);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_TIMER_DCR, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, APIC_LVT_MASKED | 0x40);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 10);
  run_for(s, 10);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), APIC_LVT_DS | APIC_LVT_MASKED | 0x40);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, APIC_LVT_MASKED | 0x41);  /* write DS = 0 */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), APIC_LVT_DS | APIC_LVT_MASKED | 0x41);

  /* LINT0: fixed, level, active high; writes of bit 14 do nothing */
  const uint32_t lint = APIC_LVT_TRIGGER | 0x70;
  tu_wr(s, 0, APIC_REG_LVT_LINT0, lint | APIC_LVT_REMOTE_IRR | APIC_LVT_DS);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0), lint);
  lint0(s, 1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0), lint | APIC_LVT_REMOTE_IRR);
  ck_assert(irr(s, 0, 0x70));
  ck_assert(tmr(s, 0, 0x70));
  tu_wr(s, 0, APIC_REG_LVT_LINT0, lint);  /* write remote IRR = 0 */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0), lint | APIC_LVT_REMOTE_IRR);
  /* only the EOI of the vector clears it (SDM 10.5.1) */
  ck_assert_uint_eq(ack_fixed(s, 0), 0x70);
  lint0(s, 0);
  tu_wr(s, 0, APIC_REG_EOI, 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0), lint);
}
END_TEST

/* SDM 10.5.1 and docs/SDM-CHOICES.md item 19: an LVT entry with a reserved
   delivery mode (001, 011, 110) is stored as written, and when it fires
   nothing is delivered (LINT0 edges make it fire). */
START_TEST(lvt_reserved_mode_does_nothing) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  static const uint32_t reserved[] = {1u, 3u, 6u};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    uint32_t e = (reserved[i] << APIC_LVT_DM_SHIFT) | 0x70;
    tu_wr(s, 0, APIC_REG_LVT_PERF, e);
    ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_PERF), e);
    tu_wr(s, 0, APIC_REG_LVT_LINT0, e);
    ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_LINT0), e);
    lint0(s, 1);
    lint0(s, 0);
    apic_lapic_state o = st(s, 0);
    for (int w = 0; w < 8; w++) ck_assert_uint_eq(o.irr[w], 0);
    ck_assert(!o.nmi_pending && !o.smi_pending && !o.init_pending);
    ck_assert_int_eq(pending(s, 0, NULL), APIC_INTR_NONE);
  }
  ck_assert_uint_eq(esr_latch(s, 0), 0);
  /* the same edge with a fixed entry is delivered (the test can fail) */
  tu_wr(s, 0, APIC_REG_LVT_LINT0, 0x70);
  lint0(s, 1);
  ck_assert(irr(s, 0, 0x70));
  ck_assert(!tmr(s, 0, 0x70));
}
END_TEST


/* SDM 10.5.1: LINT entries route their pin by delivery mode: NMI makes NMI
   pending (LINT1 as Linux sets it up), ExtINT asks the 8259A for the
   vector; polarity 1 makes the pin active low. Pins are 0 and 1 only. */
START_TEST(lint_delivery_modes_10_5_1) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_LINT1, APIC_DM_NMI << APIC_LVT_DM_SHIFT);
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 1, 1), APIC_OK);
  ck_assert_uint_eq(st(s, 0).nmi_pending, 1);
  uint8_t v;
  ck_assert_int_eq(apic_sim_ack(s, 0, APIC_INTR_NMI, &v), APIC_OK);
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 1, 0), APIC_OK);
  ck_assert_uint_eq(st(s, 0).nmi_pending, 0);

  tu_wr(s, 0, APIC_REG_LVT_LINT0, APIC_DM_EXTINT << APIC_LVT_DM_SHIFT);
  lint0(s, 1);
  ck_assert_int_eq(pending(s, 0, &v), APIC_INTR_EXTINT);
  ck_assert_uint_eq(v, apic_sim_config(s)->extint_vector);
  ck_assert_int_eq(apic_sim_ack(s, 0, APIC_INTR_EXTINT, &v), APIC_OK);
  lint0(s, 0);

  /* active low, fixed, edge: fires on the falling edge only */
  tu_wr(s, 0, APIC_REG_LVT_LINT0, APIC_LVT_POLARITY | 0x70);
  lint0(s, 1);
  ck_assert(!irr(s, 0, 0x70));
  lint0(s, 0);
  ck_assert(irr(s, 0, 0x70));

  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 2, 1), APIC_E_PIN);
}
END_TEST

/* SDM 10.5.1: a level-triggered fixed LINT interrupt sets remote IRR when
   accepted and is not raised again until its EOI, even if the pin toggles. */
START_TEST(lint_level_remote_irr_blocks_until_eoi_10_5_1) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_LINT0, APIC_LVT_TRIGGER | 0x70);
  lint0(s, 1);
  ck_assert_uint_eq(ack_fixed(s, 0), 0x70);
  lint0(s, 0);
  lint0(s, 1);                      /* asserted again, remote IRR still set */
  ck_assert(!irr(s, 0, 0x70));
  tu_wr(s, 0, APIC_REG_EOI, 0);     /* EOI clears remote IRR; still asserted */
  ck_assert(irr(s, 0, 0x70));
  ck_assert(tmr(s, 0, 0x70));
  ck_assert_uint_ne(tu_rd(s, 0, APIC_REG_LVT_LINT0) & APIC_LVT_REMOTE_IRR, 0);
}
END_TEST

/* item 34 / SDM 10.5.1: "Level-sensitive interrupts are not supported for
   LINT1", and software should leave its trigger bit 0. The model runs a
   fixed, level-triggered LINT1 as it runs LINT0: remote IRR holds it from
   acceptance to the EOI, which raises it again while the pin stays up. */
START_TEST(lint1_level_runs_as_lint0_10_5_1) {
  apic_sim *s = mk(1);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LVT_LINT1, APIC_LVT_TRIGGER | 0x71);
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 1, 1), APIC_OK);
  ck_assert_uint_eq(ack_fixed(s, 0), 0x71);
  ck_assert_uint_ne(tu_rd(s, 0, APIC_REG_LVT_LINT1) & APIC_LVT_REMOTE_IRR, 0);
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 1, 0), APIC_OK);
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 1, 1), APIC_OK);
  ck_assert(!irr(s, 0, 0x71));      /* held by remote IRR */
  tu_wr(s, 0, APIC_REG_EOI, 0);
  ck_assert(irr(s, 0, 0x71));
  ck_assert(tmr(s, 0, 0x71));
}
END_TEST

/* ======================================================================
 * APIC timer (SDM 10.5.4)
 * ==================================================================== */

#define TVEC 0x40u

/* The timer's interrupt reaches core 0's IRR at cycle t, not a cycle before. */
static void timer_fires_at(apic_sim *s, uint64_t t) {
  run_to(s, t - 1);
  ck_assert_msg(!irr(s, 0, TVEC), "timer fired before cycle %llu", (unsigned long long)t);
  run_to(s, t);
  ck_assert_msg(irr(s, 0, TVEC), "timer did not fire at cycle %llu", (unsigned long long)t);
}

/* Starts the timer at cycle t0 (>0, to catch off-by-t0 errors). */
static void timer_setup(apic_sim *s, uint64_t t0, uint32_t lvt, uint32_t dcr) {
  tu_enable_all(s);
  run_to(s, t0);
  tu_wr(s, 0, APIC_REG_TIMER_DCR, dcr);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, lvt);
}

/* SDM 10.5.4: one-shot: the count reaches 0 after initial x divide input
   clocks; the interrupt is raised exactly then, once. */
START_TEST(timer_oneshot_fires_once_10_5_4) {
  apic_sim *s = mk(1);
  timer_setup(s, 1000, TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 500);
  timer_fires_at(s, 1500);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  ck_assert_uint_eq(ack_fixed(s, 0), TVEC);
  tu_wr(s, 0, APIC_REG_EOI, 0);
  run_to(s, 10000);
  ck_assert(!irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 1);
  ck_assert_uint_eq(tu_find(&LOG, APIC_EV_TIMER_FIRE, 0, -1, 0)->cycle, 1500);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_ICR), 500);  /* initial count kept */
}
END_TEST

/* SDM 10.5.4: the current count starts at the initial count and decrements
   once per divided clock (divide by 2 after reset: DCR = 0). */
START_TEST(timer_ccr_counts_down_10_5_4) {
  apic_sim *s = mk(1);
  timer_setup(s, 100, TVEC, 0);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 1000);
  run_to(s, 100 + 500);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 750);
  run_to(s, 100 + 1998);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 1);
  ck_assert_uint_eq(st(s, 0).timer_ccr, 1);
  ck_assert(!irr(s, 0, TVEC));
  run_to(s, 100 + 2000);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  ck_assert(irr(s, 0, TVEC));
}
END_TEST

/* SDM 10.5.4: periodic mode reloads the current count from the initial
   count and fires every initial x divide clocks. */
START_TEST(timer_periodic_reloads_10_5_4) {
  apic_sim *s = mk(1);
  timer_setup(s, 50, LVT_MODE(APIC_TIMER_PERIODIC) | TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 100);
  run_to(s, 150);
  ck_assert(irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 100);
  ck_assert_uint_eq(ack_fixed(s, 0), TVEC);
  tu_wr(s, 0, APIC_REG_EOI, 0);
  run_to(s, 200);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 50);
  timer_fires_at(s, 250);
  run_to(s, 460);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 4);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 90);
}
END_TEST

/* SDM 10.5.4, Figure 10-10: every divide configuration encoding (bits 0, 1
   and 3) and its divisor. */
START_TEST(timer_divide_all_encodings_10_5_4) {
  static const struct { uint32_t dcr, div; } tab[] = {
    {0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    apic_sim *s = mk(1);
    timer_setup(s, 10, TVEC, tab[i].dcr);
    ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_DCR), tab[i].dcr);
    tu_wr(s, 0, APIC_REG_TIMER_ICR, 7);
    uint64_t fire = 10 + 7ull * tab[i].div;
    run_to(s, fire - 1);
    ck_assert_msg(!irr(s, 0, TVEC), "DCR 0x%x fired early", tab[i].dcr);
    ck_assert_msg(tu_rd(s, 0, APIC_REG_TIMER_CCR) == 1, "DCR 0x%x CCR", tab[i].dcr);
    run_to(s, fire);
    ck_assert_msg(irr(s, 0, TVEC), "DCR 0x%x did not fire at %llu", tab[i].dcr,
                  (unsigned long long)fire);
    teardown();
  }
  /* bit 2 and bits 31:4 are reserved: not stored */
  apic_sim *s = mk(1);
  tu_wr(s, 0, APIC_REG_TIMER_DCR, 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_DCR), APIC_DCR_MASK);
}
END_TEST

/* SDM 10.5.4: writing 0 to the initial count stops the timer. */
START_TEST(timer_initial_zero_stops_10_5_4) {
  apic_sim *s = mk(1);
  timer_setup(s, 10, LVT_MODE(APIC_TIMER_PERIODIC) | TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  run_to(s, 500);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 510);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 0);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  run_to(s, 10000);
  ck_assert(!irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 0);
}
END_TEST

/* SDM 10.5.4: a write to the initial count restarts the count from the new
   value (one-shot re-arm). */
START_TEST(timer_icr_write_restarts_10_5_4) {
  apic_sim *s = mk(1);
  timer_setup(s, 10, TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  run_to(s, 510);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 1000);
  timer_fires_at(s, 1510);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 1);
}
END_TEST

/* docs/SDM-CHOICES.md item 2 (SDM 10.5.4.1 is silent): switching one-shot
   <-> periodic keeps counting; the mode at expiry decides the reload. */
START_TEST(timer_mode_switch_keeps_count) {
  apic_sim *s = mk(1);
  timer_setup(s, 10, TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  run_to(s, 310);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_PERIODIC) | TVEC);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 700);
  timer_fires_at(s, 1010);
  run_to(s, 2010);  /* periodic at expiry: reloaded */
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 2);
  run_to(s, 2310);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);  /* back to one-shot: count kept */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 700);
  run_to(s, 20000);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 3);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
}
END_TEST

/* SDM 10.5.4.1: in TSC-deadline mode a write of IA32_TSC_DEADLINE arms the
   timer; it fires when the TSC reaches the value, and the MSR then reads 0.
   The current count reads 0 and initial-count writes are ignored. */
START_TEST(timer_tsc_deadline_fires_10_5_4_1) {
  apic_sim *s = mk(1);
  timer_setup(s, 100, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 10);  /* ignored */
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_ICR), 0);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 5000);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 5000);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  timer_fires_at(s, 5000);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);
  run_to(s, 50000);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 1);
}
END_TEST

/* SDM 10.5.4.1: a deadline already in the past fires at once; writing 0
   disarms. */
START_TEST(timer_tsc_deadline_past_and_zero_10_5_4_1) {
  apic_sim *s = mk(1);
  timer_setup(s, 10000, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC, DCR_DIV1);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 20000);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 0);
  run_to(s, 30000);
  ck_assert(!irr(s, 0, TVEC));
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 5000);  /* past */
  run_to(s, 30000);                            /* same cycle */
  ck_assert(irr(s, 0, TVEC));
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);
  ck_assert_uint_eq(tu_find(&LOG, APIC_EV_TIMER_FIRE, 0, -1, 0)->cycle, 30000);
}
END_TEST

/* SDM 10.5.4.1 and docs/SDM-CHOICES.md item 2: switching to or from
   TSC-deadline mode disarms the timer and clears IA32_TSC_DEADLINE (and
   the initial count). */
START_TEST(timer_tsc_deadline_switch_disarms) {
  apic_sim *s = mk(1);
  timer_setup(s, 100, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC, DCR_DIV1);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 5000);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);  /* to one-shot */
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC);  /* and back */
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);
  run_to(s, 10000);
  ck_assert(!irr(s, 0, TVEC));
  /* from one-shot with a count running to TSC-deadline */
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 1000);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_ICR), 0);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  run_to(s, 20000);
  ck_assert(!irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 0);
}
END_TEST

/* SDM 10.5.4.1: outside TSC-deadline mode IA32_TSC_DEADLINE reads 0 and
   writes to it are ignored. */
START_TEST(timer_tsc_deadline_msr_ignored_outside_mode_10_5_4_1) {
  apic_sim *s = mk(1);
  timer_setup(s, 100, TVEC, DCR_DIV1);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 1000);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, LVT_MODE(APIC_TIMER_TSCDEADLINE) | TVEC);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);  /* the write was not kept */
  run_to(s, 5000);
  ck_assert(!irr(s, 0, TVEC));
}
END_TEST

/* docs/SDM-CHOICES.md item 30: SDM 10.5.1 (Figure 10-8) calls timer mode 11b
   "reserved" and says no more. The entry keeps what was written (no #GP in
   x2APIC mode: bits 18:17 are a field, not reserved bits, 10.12.1.3) and
   the timer counts as in one-shot mode: it fires once and is not
   reloaded; IA32_TSC_DEADLINE stays inert. */
static apic_sim *mk_x2(void);

START_TEST(timer_reserved_mode_is_one_shot) {
  apic_sim *s = mk(1);
  const uint32_t rsvd = LVT_MODE(APIC_TIMER_TSCDEADLINE | APIC_TIMER_PERIODIC);
  timer_setup(s, 10, rsvd | TVEC, DCR_DIV1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), rsvd | TVEC);
  wrmsr(s, 0, APIC_MSR_TSC_DEADLINE, 50);                 /* ignored: not TSC-deadline */
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_TSC_DEADLINE), 0);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 100);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_ICR), 100);
  timer_fires_at(s, 110);
  run_to(s, 1000);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 0, -1), 1);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TIMER_CCR), 0);
  teardown();
  s = mk_x2();
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_TIMER), rsvd | TVEC), APIC_OK);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_LVT_TIMER)), rsvd | TVEC);
}
END_TEST

/* SDM 10.5.1 and docs/SDM-CHOICES.md item 6: a masked timer expiry is
   dropped (a timer_fire event with a = 1 records it); unmasking later does
   not deliver it. */
START_TEST(masked_timer_expiry_dropped) {
  apic_sim *s = mk(1);
  timer_setup(s, 10, APIC_LVT_MASKED | TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 100);
  run_to(s, 200);
  const apic_event *e = tu_find(&LOG, APIC_EV_TIMER_FIRE, 0, -1, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, 1);
  ck_assert_uint_eq(e->cycle, 110);
  ck_assert(!irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), APIC_LVT_MASKED | TVEC);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);
  run_to(s, 1000);
  ck_assert(!irr(s, 0, TVEC));
}
END_TEST

/* docs/SDM-CHOICES.md item 6: with quirks.timer_masked_hold one masked
   expiry is held in the LVT delivery-status bit and delivered on unmask. */
START_TEST(masked_timer_expiry_held_quirk) {
  apic_config cfg = tu_config(1, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.quirks.timer_masked_hold = 1;
  apic_sim *s = mk_cfg(&cfg);
  timer_setup(s, 10, APIC_LVT_MASKED | TVEC, DCR_DIV1);
  tu_wr(s, 0, APIC_REG_TIMER_ICR, 100);
  run_to(s, 200);
  ck_assert(!irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), APIC_LVT_DS | APIC_LVT_MASKED | TVEC);
  tu_wr(s, 0, APIC_REG_LVT_TIMER, TVEC);
  ck_assert(irr(s, 0, TVEC));
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_LVT_TIMER), TVEC);
}
END_TEST

/* ======================================================================
 * x2APIC mode (SDM 10.12)
 * ==================================================================== */

static const uint32_t X2_IDS[3] = {0x0, 0x300, 0x1234C};

static apic_sim *mk_x2(void) {
  apic_config cfg = tu_config(3, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  cfg.apic_ids = X2_IDS;
  apic_sim *s = mk_cfg(&cfg);
  tu_enable_all(s);
  return s;
}

/* SDM 10.12.1.2: in x2APIC mode the xAPIC MMIO page does not reach the
   APIC: reads give 0, writes are dropped. */
START_TEST(x2apic_mmio_absent_10_12_1_2) {
  apic_sim *s = mk_x2();
  ck_assert_uint_eq(tu_rd(s, 2, APIC_REG_VER), 0);
  ck_assert_uint_eq(tu_rd(s, 2, APIC_REG_SVR), 0);
  tu_wr(s, 2, APIC_REG_TPR, 0x50);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_TPR)), 0);
  tu_wr(s, 2, APIC_REG_ICR_LO, APIC_ICR_LO(0x41, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  run_for(s, SETTLE);
  ck_assert(!irr(s, 2, 0x41));
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_SVR)), APIC_SVR_ENABLE | 0xFF);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_ESR)), 0);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_VER)), st(s, 2).version);
}
END_TEST

/* SDM 10.12.5.1: the x2APIC ID MSR (0x802) holds the full 32-bit ID and is
   read only. */
START_TEST(x2apic_id_32bit_readonly_10_12_5_1) {
  apic_sim *s = mk_x2();
  for (uint32_t c = 0; c < 3; c++) ck_assert_uint_eq(rdmsr(s, c, X2(APIC_REG_ID)), X2_IDS[c]);
  ck_assert_uint_eq(X2(APIC_REG_ID), 0x802);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 2, X2(APIC_REG_ID), 5), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_ID)), 0x1234C);
}
END_TEST

/* SDM 10.12.10.2: the logical x2APIC ID is derived, (ID[19:4] << 16) |
   (1 << ID[3:0]), and the LDR is read only (WRMSR raises #GP). */
START_TEST(x2apic_ldr_derived_readonly_10_12_10_2) {
  apic_sim *s = mk_x2();
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_LDR)), 0x00000001u);
  ck_assert_uint_eq(rdmsr(s, 1, X2(APIC_REG_LDR)), 0x00300001u);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_LDR)), 0x12341000u);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 2, X2(APIC_REG_LDR), 0xFF), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 2, X2(APIC_REG_LDR)), 0x12341000u);
}
END_TEST

/* SDM 10.12.1.2, Table 10-6: DFR (0x80E), ICR_HI (0x831), APR (0x809) and
   RRD (0x80C) do not exist in x2APIC mode: RDMSR and WRMSR raise #GP. */
START_TEST(x2apic_absent_msrs_gp_table_10_6) {
  apic_sim *s = mk_x2();
  static const uint32_t gone[] = {APIC_REG_DFR, APIC_REG_ICR_HI, APIC_REG_APR, APIC_REG_RRD,
                                  0x040, 0x3A0};
  ck_assert_uint_eq(X2(APIC_REG_DFR), 0x80E);
  ck_assert_uint_eq(X2(APIC_REG_ICR_HI), 0x831);
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
    uint64_t v = 0x1234;
    ck_assert_int_eq(apic_lapic_rdmsr(s, 0, X2(gone[i]), &v), APIC_GP);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(gone[i]), 0), APIC_GP);
  }
  /* GP is not an ESR error */
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ESR_ERROR, APIC_NONE, -1), 0);
}
END_TEST

/* SDM 10.12.1.2, Table 10-6: WRMSR of a non-zero value to EOI (or ESR)
   raises #GP; a zero write works. */
START_TEST(x2apic_eoi_nonzero_gp_table_10_6) {
  apic_sim *s = mk_x2();
  wrmsr(s, 0, X2(APIC_REG_SELF_IPI), 0x55);
  run_for(s, SETTLE);
  ck_assert_uint_eq(ack_fixed(s, 0), 0x55);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_EOI), 1), APIC_GP);
  ck_assert(isr(s, 0, 0x55));
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_ESR), 1), APIC_GP);
  wrmsr(s, 0, X2(APIC_REG_EOI), 0);
  ck_assert(!isr(s, 0, 0x55));
  uint64_t v;
  ck_assert_int_eq(apic_lapic_rdmsr(s, 0, X2(APIC_REG_EOI), &v), APIC_GP);  /* write only */
}
END_TEST

/* SDM 10.5.3, ESR bits 5 and 6 (x2APIC, 10.12.11): a SELF IPI register
   write with a vector below 16 sets both "Send Illegal Vector" (a write "to
   SELF IPI register ... with an illegal vector") and "Receive Illegal
   Vector" (an illegal vector "via a self IPI"). */
START_TEST(x2apic_self_ipi_illegal_vector_10_5_3) {
  apic_sim *s = mk_x2();
  wrmsr(s, 0, X2(APIC_REG_SELF_IPI), 0x0E);
  run_for(s, SETTLE);
  wrmsr(s, 0, X2(APIC_REG_ESR), 0);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_ESR)), APIC_ESR_SEND_ILLEGAL | APIC_ESR_RECV_ILLEGAL);
  ck_assert(!irr(s, 0, 0x0E));
}
END_TEST

/* SDM 10.12.1.3 "Reserved Bit Checking" raises #GP for reserved bits only;
   Figure 10-8's delivery status (bit 12) and LINT remote IRR (bit 14) are
   read-only fields, not reserved. A read-modify-write of an LVT entry that
   carries them (Linux masks LINT0 with apic_read | APIC_LVT_MASKED) is
   taken and leaves them as the APIC keeps them. */
START_TEST(x2apic_lvt_rmw_with_read_only_bits_10_12_1_3) {
  apic_sim *s = mk_x2();
  wrmsr(s, 0, X2(APIC_REG_LVT_LINT0), 0x40 | APIC_LVT_TRIGGER);  /* fixed, level */
  ck_assert_int_eq(apic_lapic_set_lint(s, 0, 0, 1), APIC_OK);
  ck_assert_uint_eq(ack_fixed(s, 0), 0x40);
  uint64_t v = rdmsr(s, 0, X2(APIC_REG_LVT_LINT0));
  ck_assert_uint_eq(v & APIC_LVT_REMOTE_IRR, APIC_LVT_REMOTE_IRR);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_LINT0), v | APIC_LVT_MASKED), APIC_OK);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_LVT_LINT0)), v | APIC_LVT_MASKED);
  /* writing the read-only bits as 1 does not set them */
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_LINT1),
                                    APIC_LVT_MASKED | APIC_LVT_REMOTE_IRR | APIC_LVT_DS),
                   APIC_OK);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_LVT_LINT1)), APIC_LVT_MASKED);
  /* bit 14 is reserved (not remote IRR) in the timer and error entries */
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_TIMER),
                                    APIC_LVT_MASKED | APIC_LVT_REMOTE_IRR), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_ERROR),
                                    APIC_LVT_MASKED | APIC_LVT_DS), APIC_OK);
}
END_TEST

/* SDM 10.12.1.2: setting reserved bits (TPR 31:8, LVT, SVR) or the upper 32
   bits of any register but ICR raises #GP and changes nothing. */
START_TEST(x2apic_reserved_bits_gp_10_12_1_2) {
  apic_sim *s = mk_x2();
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_TPR), 0x150), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_TPR)), 0);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_TPR), (1ull << 32) | 0x50), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_TPR)), 0);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_LVT_ERROR), APIC_LVT_DM_MASK | 0x40),
                   APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_LVT_ERROR)), APIC_LVT_MASKED);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_TIMER_ICR), 1ull << 32), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_SVR), 0x4000 | APIC_SVR_ENABLE), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_SELF_IPI), 0x155), APIC_GP);
  wrmsr(s, 0, X2(APIC_REG_TPR), 0x50);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_TPR)), 0x50);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_PPR)), 0x50);
}
END_TEST

/* SDM 10.12.1.2, Table 10-6: WRMSR to a read-only x2APIC register (VER,
   PPR, ISR, TMR, IRR, current count) raises #GP. */
START_TEST(x2apic_readonly_write_gp_table_10_6) {
  apic_sim *s = mk_x2();
  static const uint32_t ro[] = {APIC_REG_VER, APIC_REG_PPR, APIC_REG_ISR0, APIC_REG_TMR0 + 0x70,
                                APIC_REG_IRR0 + 0x10, APIC_REG_TIMER_CCR};
  for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
    ck_assert_msg(apic_lapic_wrmsr(s, 0, X2(ro[i]), 0) == APIC_GP, "%s",
                  apic_lapic_reg_name(ro[i]));
}
END_TEST

/* SDM 10.12.11: the SELF IPI register (0x83F) sends a fixed edge IPI to the
   writer; it is write only (RDMSR raises #GP). */
START_TEST(x2apic_self_ipi_10_12_11) {
  apic_sim *s = mk_x2();
  ck_assert_uint_eq(X2(APIC_REG_SELF_IPI), 0x83F);
  wrmsr(s, 1, X2(APIC_REG_SELF_IPI), 0x66);
  run_for(s, SETTLE);
  ck_assert(irr(s, 1, 0x66));
  ck_assert(!tmr(s, 1, 0x66));
  ck_assert(!irr(s, 0, 0x66));
  ck_assert(!irr(s, 2, 0x66));
  uint64_t v;
  ck_assert_int_eq(apic_lapic_rdmsr(s, 1, X2(APIC_REG_SELF_IPI), &v), APIC_GP);
}
END_TEST

/* SDM 10.12.9: in x2APIC mode the ICR is one 64-bit MSR (0x830) with a
   32-bit destination in bits 63:32. */
START_TEST(x2apic_icr_64bit_32bit_dest_10_12_9) {
  apic_sim *s = mk_x2();
  ck_assert_uint_eq(X2(APIC_REG_ICR_LO), 0x830);
  uint64_t icr = ((uint64_t)0x1234C << 32) | APIC_ICR_LO(0x77, APIC_DM_FIXED, 0);
  wrmsr(s, 0, X2(APIC_REG_ICR_LO), icr);
  ck_assert_uint_eq(rdmsr(s, 0, X2(APIC_REG_ICR_LO)), icr);
  icr = ((uint64_t)0x300 << 32) | APIC_ICR_LO(0x78, APIC_DM_FIXED, 0);
  wrmsr(s, 0, X2(APIC_REG_ICR_LO), icr);
  run_for(s, SETTLE);
  ck_assert(irr(s, 2, 0x77));
  ck_assert(irr(s, 1, 0x78));
  /* the 32-bit destination is not cut to 8 bits (0x300 would become cpu 0's ID 0) */
  ck_assert(!irr(s, 0, 0x77) && !irr(s, 0, 0x78));
  const apic_event *e = tu_find(&LOG, APIC_EV_ICR_WRITE, 0, 0x77, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->dest, 0x1234C);
}
END_TEST

/* SDM 10.12.9 (Figure 10-28): WRMSR to the x2APIC ICR ignores bit 12
   (delivery status is gone) but raises #GP for the reserved bits 13, 16-17
   and 20-31 (10.12.1.3: non-zero writes to reserved bits fault). */
START_TEST(x2apic_icr_reserved_bits_10_12_9) {
  apic_sim *s = mk_x2();
  const uint64_t dest = (uint64_t)0x300 << 32;
  static const uint32_t rsvd[] = {1u << 13, 1u << 16, 1u << 17, 1u << 20, 1u << 31};
  for (size_t i = 0; i < sizeof rsvd / sizeof rsvd[0]; i++)
    ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_ICR_LO),
                                      dest | APIC_ICR_LO(0x79, APIC_DM_FIXED, rsvd[i])), APIC_GP);
  run_for(s, SETTLE);
  ck_assert(!irr(s, 1, 0x79));
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_ICR_WRITE, APIC_NONE, -1), 0);
  wrmsr(s, 0, X2(APIC_REG_ICR_LO), dest | APIC_ICR_LO(0x79, APIC_DM_FIXED, APIC_ICR_DS));
  run_for(s, SETTLE);
  ck_assert(irr(s, 1, 0x79));
}
END_TEST

/* SDM 10.12.1.2: in xAPIC mode the x2APIC MSR range raises #GP. */
START_TEST(x2apic_msrs_gp_in_xapic_mode_10_12_1_2) {
  apic_sim *s = mk(1);
  uint64_t v;
  ck_assert_int_eq(apic_lapic_rdmsr(s, 0, X2(APIC_REG_ID), &v), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, X2(APIC_REG_TPR), 0x10), APIC_GP);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_TPR), 0);
}
END_TEST

/* ======================================================================
 * IA32_APIC_BASE and mode transitions (SDM 10.4.4, 10.12.5)
 * ==================================================================== */

/* SDM 10.4.4, Figure 10-5: base FEE00000H, global enable, BSP flag on the
   bootstrap processor only. */
START_TEST(apic_base_reset_10_4_4) {
  apic_sim *s = mk(2);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_APIC_BASE),
                    APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | APIC_BASE_BSP);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE), APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN);
  ck_assert_uint_eq(st(s, 1).apic_base, APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN);
  /* reserved bits 7:0 and 9 */
  ck_assert_int_eq(apic_lapic_wrmsr(s, 1, APIC_MSR_APIC_BASE,
                                    APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | 1u), APIC_GP);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 1, APIC_MSR_APIC_BASE,
                                    APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | (1u << 9)), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE), APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN);
}
END_TEST

/* SDM 10.12.5, Figure 10-27: xAPIC -> x2APIC (EN=1, EXTD=1) is allowed; the
   ID becomes the x2APIC ID and the LDR is derived. */
START_TEST(apic_base_xapic_to_x2apic_10_12_5) {
  apic_sim *s = mk(2);
  tu_wr(s, 1, APIC_REG_TPR, 0x30);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | APIC_BASE_EXTD);
  ck_assert_uint_eq(st(s, 1).x2apic, 1);
  ck_assert_uint_eq(rdmsr(s, 1, X2(APIC_REG_ID)), 1);
  ck_assert_uint_eq(rdmsr(s, 1, X2(APIC_REG_LDR)), 1u << 1);
  ck_assert_uint_eq(rdmsr(s, 1, X2(APIC_REG_TPR)), 0x30);  /* state kept */
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_TPR), 0);          /* MMIO gone */
  const apic_event *e = tu_find(&LOG, APIC_EV_APIC_MODE, 1, -1, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->x, APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | APIC_BASE_EXTD);
  ck_assert_uint_eq(e->a, APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN);
}
END_TEST

/* SDM 10.12.5: x2APIC -> xAPIC (EN=1, EXTD=0) is an invalid transition:
   #GP, still x2APIC. */
START_TEST(apic_base_x2apic_to_xapic_gp_10_12_5) {
  apic_sim *s = mk(1);
  const uint64_t x2 = APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP;
  wrmsr(s, 0, APIC_MSR_APIC_BASE, x2);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, APIC_MSR_APIC_BASE, x2 & ~(uint64_t)APIC_BASE_EXTD),
                   APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_APIC_BASE), x2);
  ck_assert_uint_eq(st(s, 0).x2apic, 1);
}
END_TEST

/* SDM 10.12.5: disabled -> x2APIC (EN=1, EXTD=1 from EN=0) is invalid, and
   EN=0 with EXTD=1 is an invalid state: both #GP. */
START_TEST(apic_base_invalid_states_gp_10_12_5) {
  apic_sim *s = mk(2);
  const uint64_t a = APIC_BASE_ADDR_DEFAULT;
  ck_assert_int_eq(apic_lapic_wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EXTD), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE), a | APIC_BASE_EN);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a);  /* disable */
  ck_assert_int_eq(apic_lapic_wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN | APIC_BASE_EXTD),
                   APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE), a);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN);  /* disabled -> xAPIC is fine */
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN | APIC_BASE_EXTD);  /* then x2APIC */
  ck_assert_uint_eq(st(s, 1).x2apic, 1);
  /* x2APIC -> disabled is a valid transition */
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a);
  ck_assert_uint_eq(st(s, 1).x2apic, 0);
}
END_TEST

/* SDM 10.4.3 / 10.12.5: clearing the global enable returns the APIC to its
   power-up state (10.4.7.1); while disabled the MMIO page reads 0 and
   messages are not accepted. */
START_TEST(apic_base_disable_reenable_power_up_10_4_3) {
  apic_sim *s = mk(2);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_TPR, 0x40);
  tu_wr(s, 1, APIC_REG_LDR, 0x04000000u);
  tu_wr(s, 1, APIC_REG_DFR, APIC_DFR_CLUSTER);
  tu_wr(s, 1, APIC_REG_LVT_TIMER, 0x40);
  tu_wr(s, 1, APIC_REG_TIMER_ICR, 5000);  /* would fire at 10000 (DCR 0: divide by 2) */
  tu_wr(s, 1, APIC_REG_ID, 0x09000000u);
  send_fixed(s, 0, 9, 0x45);
  ck_assert(irr(s, 1, 0x45));
  const uint64_t a = APIC_BASE_ADDR_DEFAULT;
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), 0);  /* MMIO absent */
  send_fixed(s, 0, 1, 0x46);
  ck_assert(!irr(s, 1, 0x46));
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ID), 1u << APIC_ICR_DEST_SHIFT);  /* initial ID */
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_TPR), 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_LDR), 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_DFR), 0xFFFFFFFFu);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), 0xFF);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_LVT_TIMER), APIC_LVT_MASKED);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_TIMER_ICR), 0);
  ck_assert(!irr(s, 1, 0x45));
  run_for(s, 20000);
  ck_assert_uint_eq(tu_count(&LOG, APIC_EV_TIMER_FIRE, 1, -1), 0);
}
END_TEST

/* SDM 10.4.3 (docs/SDM-CHOICES.md item 25): on the P6 family with the 3-wire
   APIC bus a globally disabled APIC stays disabled until reset; the write
   that sets EN again leaves it clear. */
START_TEST(p6_apic_stays_disabled) {
  apic_sim *s = mk_p6(2);
  const uint64_t a = APIC_BASE_ADDR_DEFAULT;
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE) & APIC_BASE_EN, 0);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE) & APIC_BASE_EN, 0);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR), 0);  /* MMIO still absent */
  /* the same sequence re-enables an xAPIC (SDM 10.4.3 limits it to P6) */
  apic_sim_destroy(s);
  s = mk(2);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a);
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_EN);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE) & APIC_BASE_EN, APIC_BASE_EN);
}
END_TEST

/* SDM 10.12.1: x2APIC needs an x2APIC-capable processor: a P6 APIC raises
   #GP when EXTD is set. */
START_TEST(apic_base_p6_no_x2apic_10_12_1) {
  apic_sim *s = mk_p6(1);
  const uint64_t b = rdmsr(s, 0, APIC_MSR_APIC_BASE);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, APIC_MSR_APIC_BASE, b | APIC_BASE_EXTD), APIC_GP);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_APIC_BASE), b);
  ck_assert_uint_eq(st(s, 0).x2apic, 0);
}
END_TEST

/* SDM 10.4.4, Figure 10-5: the BSP flag is set by hardware and read only. */
START_TEST(apic_base_bsp_read_only_10_4_4) {
  apic_sim *s = mk(2);
  const uint64_t a = APIC_BASE_ADDR_DEFAULT | APIC_BASE_EN;
  wrmsr(s, 1, APIC_MSR_APIC_BASE, a | APIC_BASE_BSP);
  ck_assert_uint_eq(rdmsr(s, 1, APIC_MSR_APIC_BASE), a);
  wrmsr(s, 0, APIC_MSR_APIC_BASE, a);
  ck_assert_uint_eq(rdmsr(s, 0, APIC_MSR_APIC_BASE), a | APIC_BASE_BSP);
}
END_TEST

/* ==================================================================== */

static TCase *tcase(Suite *su, const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, NULL, teardown);
  suite_add_tcase(su, tc);
  return tc;
}

int main(void) {
  Suite *su = suite_create("lapic");
  TCase *tc = tcase(su, "register_page");
  tcase_add_test(tc, reset_values_10_4_7_1);
  tcase_add_test(tc, version_xapic_10_4_8);
  tcase_add_test(tc, version_p6_10_4_8);
  tcase_add_test(tc, p6_has_no_thermal_cmci_10_5_1);
  tcase_add_test(tc, readonly_registers_ignore_writes_table_10_1);
  tcase_add_test(tc, eoi_reads_zero_table_10_1);
  tcase_add_test(tc, unknown_offsets_set_illegal_reg_10_5_3);
  tcase_add_test(tc, api_errors_10_4_1);
  tcase_add_test(tc, reg_name_table_10_1);
  tcase_add_test(tc, id_field_width_10_4_6);
  tcase_add_test(tc, ldr_dfr_tpr_write_masks_10_6_2_2);

  tc = tcase(su, "esr");
  tcase_add_test(tc, esr_write_before_read_10_5_3);
  tcase_add_test(tc, esr_accumulates_between_writes_10_5_3);
  tcase_add_test(tc, recv_illegal_vector_10_5_3);
  tcase_add_test(tc, lvt_error_interrupt_10_5_3);
  tcase_add_test(tc, esr_write_rearms_error_interrupt_10_5_3);
  tcase_add_test(tc, esr_masked_error_keeps_trigger_armed);

  tc = tcase(su, "priority");
  tcase_add_test(tc, ppr_is_tpr_when_isr_empty_10_8_3_1);
  tcase_add_test(tc, ppr_is_isrv_class_when_higher_10_8_3_1);
  tcase_add_test(tc, ppr_is_tpr_when_tpr_class_higher_10_8_3_1);
  tcase_add_test(tc, ppr_equal_class_is_tpr_10_8_3_1);
  tcase_add_test(tc, ppr_follows_eoi_10_8_3_1);
  tcase_add_test(tc, apr_takes_max_of_classes);

  tc = tcase(su, "acceptance");
  tcase_add_test(tc, fixed_ipi_sets_irr_10_8_4);
  tcase_add_test(tc, pending_needs_class_above_ppr_10_8_3_1);
  tcase_add_test(tc, ack_moves_irr_to_isr_10_8_4);
  tcase_add_test(tc, eoi_clears_highest_isr_only_10_8_5);
  tcase_add_test(tc, eoi_with_empty_isr_ignored_10_8_5);
  tcase_add_test(tc, irr_coalesces_same_vector_10_8_4);
  tcase_add_test(tc, p6_rejects_second_same_vector_10_8_4);
  tcase_add_test(tc, vector_in_isr_and_irr_10_8_4);
  tcase_add_test(tc, tpr_holds_vector_pending_10_8_3_1);
  tcase_add_test(tc, spurious_vector_when_nothing_deliverable_10_9);

  tc = tcase(su, "level");
  tcase_add_test(tc, ioapic_level_sets_tmr_10_8_4);
  tcase_add_test(tc, level_eoi_sends_eoi_message_10_8_5);
  tcase_add_test(tc, eoi_broadcast_suppressed_10_8_5);
  tcase_add_test(tc, edge_eoi_sends_no_message_10_8_5);
  tcase_add_test(tc, level_ipi_is_sent_edge);

  tc = tcase(su, "svr");
  tcase_add_test(tc, sw_disable_masks_lvt_and_stays_masked);
  tcase_add_test(tc, sw_disabled_drops_fixed_keeps_nmi);
  tcase_add_test(tc, sw_disabled_holds_irr_and_sends_10_4_7_2);
  tcase_add_test(tc, p6_svr_low_nibble_reads_ones_10_9);
  tcase_add_test(tc, svr_focus_and_suppress_bits_10_9);

  tc = tcase(su, "icr");
  tcase_add_test(tc, icr_delivery_status_10_6_1);
  tcase_add_test(tc, icr_hi_dest_field_mask_10_6_1);
  tcase_add_test(tc, send_illegal_vector);
  tcase_add_test(tc, self_ipi_illegal_vector_sets_send_and_receive_10_5_3);
  tcase_add_test(tc, icr_self_init_is_not_sent);
  tcase_add_test(tc, icr_invalid_combinations);
  tcase_add_test(tc, init_deassert_p6_only);
  tcase_add_test(tc, p6_init_deassert_resyncs_every_arb_id);
  tcase_add_test(tc, nmi_ipi_delivery_10_6_1);
  tcase_add_test(tc, init_sipi_delivery_10_4_7_3);
  tcase_add_test(tc, sipi_without_init_ignored_10_6_1);
  tcase_add_test(tc, icr_shorthands_10_6_1);

  tc = tcase(su, "lvt");
  tcase_add_test(tc, lvt_write_masks_10_5_1);
  tcase_add_test(tc, p6_timer_has_no_tsc_deadline_10_5_4_1);
  tcase_add_test(tc, lvt_readonly_status_bits_10_5_1);
  tcase_add_test(tc, lvt_reserved_mode_does_nothing);
  tcase_add_test(tc, lint_delivery_modes_10_5_1);
  tcase_add_test(tc, lint_level_remote_irr_blocks_until_eoi_10_5_1);
  tcase_add_test(tc, lint1_level_runs_as_lint0_10_5_1);

  tc = tcase(su, "timer");
  tcase_add_test(tc, timer_oneshot_fires_once_10_5_4);
  tcase_add_test(tc, timer_ccr_counts_down_10_5_4);
  tcase_add_test(tc, timer_periodic_reloads_10_5_4);
  tcase_add_test(tc, timer_divide_all_encodings_10_5_4);
  tcase_add_test(tc, timer_initial_zero_stops_10_5_4);
  tcase_add_test(tc, timer_icr_write_restarts_10_5_4);
  tcase_add_test(tc, timer_mode_switch_keeps_count);
  tcase_add_test(tc, timer_tsc_deadline_fires_10_5_4_1);
  tcase_add_test(tc, timer_tsc_deadline_past_and_zero_10_5_4_1);
  tcase_add_test(tc, timer_tsc_deadline_switch_disarms);
  tcase_add_test(tc, timer_tsc_deadline_msr_ignored_outside_mode_10_5_4_1);
  tcase_add_test(tc, timer_reserved_mode_is_one_shot);
  tcase_add_test(tc, masked_timer_expiry_dropped);
  tcase_add_test(tc, masked_timer_expiry_held_quirk);

  tc = tcase(su, "x2apic");
  tcase_add_test(tc, x2apic_mmio_absent_10_12_1_2);
  tcase_add_test(tc, x2apic_id_32bit_readonly_10_12_5_1);
  tcase_add_test(tc, x2apic_ldr_derived_readonly_10_12_10_2);
  tcase_add_test(tc, x2apic_absent_msrs_gp_table_10_6);
  tcase_add_test(tc, x2apic_eoi_nonzero_gp_table_10_6);
  tcase_add_test(tc, x2apic_self_ipi_illegal_vector_10_5_3);
  tcase_add_test(tc, x2apic_lvt_rmw_with_read_only_bits_10_12_1_3);
  tcase_add_test(tc, x2apic_reserved_bits_gp_10_12_1_2);
  tcase_add_test(tc, x2apic_readonly_write_gp_table_10_6);
  tcase_add_test(tc, x2apic_self_ipi_10_12_11);
  tcase_add_test(tc, x2apic_icr_64bit_32bit_dest_10_12_9);
  tcase_add_test(tc, x2apic_icr_reserved_bits_10_12_9);
  tcase_add_test(tc, x2apic_msrs_gp_in_xapic_mode_10_12_1_2);

  tc = tcase(su, "apic_base");
  tcase_add_test(tc, apic_base_reset_10_4_4);
  tcase_add_test(tc, apic_base_xapic_to_x2apic_10_12_5);
  tcase_add_test(tc, apic_base_x2apic_to_xapic_gp_10_12_5);
  tcase_add_test(tc, apic_base_invalid_states_gp_10_12_5);
  tcase_add_test(tc, apic_base_disable_reenable_power_up_10_4_3);
  tcase_add_test(tc, p6_apic_stays_disabled);
  tcase_add_test(tc, apic_base_p6_no_x2apic_10_12_1);
  tcase_add_test(tc, apic_base_bsp_read_only_10_4_4);

  return tu_run(su);
}
