/*
 * test_dest.c - which local APICs a message reaches (lib/dest.c): SDM 10.6.2
 * "Determining IPI Destination" (physical, logical flat and cluster,
 * broadcast, shorthands), 10.12.10 x2APIC logical destinations, and
 * 10.6.2.4 lowest-priority arbitration (focus processor, APR, ties).
 *
 * Deliveries are observed through the IRR (apic_lapic_state_get) after the
 * run, or by counting APIC_EV_IRR_SET per core. "item n" is a row of
 * docs/SDM-CHOICES.md.
 */
#include <string.h>
#include "testutil.h"

#define VEC  0x61
#define VEC2 0x72

/* ---- helpers ---- */

static apic_lapic_state lstate(apic_sim *s, uint32_t cpu) {
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, cpu, &st), APIC_OK);
  return st;
}

static int irr_has(apic_sim *s, uint32_t cpu, uint8_t v) {
  apic_lapic_state st = lstate(s, cpu);
  return tu_vec(st.irr, v);
}

/* Bit c set when core c (< 32) has v in its IRR. */
static uint32_t irr_mask(apic_sim *s, uint8_t v) {
  uint32_t m = 0, n = apic_sim_ncpus(s);
  ck_assert_uint_le(n, 32);
  for (uint32_t c = 0; c < n; c++) m |= (uint32_t)irr_has(s, c, v) << c;
  return m;
}

/* Number of cores with v in IRR. */
static uint32_t irr_count(apic_sim *s, uint8_t v) {
  uint32_t k = 0;
  for (uint32_t c = 0; c < apic_sim_ncpus(s); c++) k += (uint32_t)irr_has(s, c, v);
  return k;
}

static void run_idle(apic_sim *s) {
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
}

/* Sends an IPI from core `from` as its mode requires, then runs to idle. */
static void ipi(apic_sim *s, uint32_t from, uint32_t dest, uint32_t lo) {
  if (lstate(s, from).x2apic) {
    ck_assert_int_eq(apic_lapic_wrmsr(s, from, APIC_MSR_X2APIC(APIC_REG_ICR_LO),
                                      ((uint64_t)dest << 32) | lo), APIC_OK);
  } else {
    tu_wr(s, from, APIC_REG_ICR_HI, dest << APIC_ICR_DEST_SHIFT);
    tu_wr(s, from, APIC_REG_ICR_LO, lo);
  }
  run_idle(s);
}

static uint32_t fixed(uint8_t v) { return APIC_ICR_LO(v, APIC_DM_FIXED, 0); }
static uint32_t fixed_logical(uint8_t v) { return APIC_ICR_LO(v, APIC_DM_FIXED, APIC_ICR_DESTMODE); }
static uint32_t lowest_logical(uint8_t v) {
  return APIC_ICR_LO(v, APIC_DM_LOWEST, APIC_ICR_DESTMODE);
}

static apic_sim *machine(uint32_t n, apic_bus_kind bus, apic_model model, tu_log *log) {
  apic_config cfg = tu_config(n, bus, model);
  apic_sim *s = tu_sim(&cfg, log);
  tu_enable_all(s);
  return s;
}

static apic_sim *xapic4(tu_log *log) {
  return machine(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC, log);
}

static void flat_ldrs(apic_sim *s) {
  for (uint32_t c = 0; c < apic_sim_ncpus(s); c++) tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
}

/* Accepts the pending fixed interrupt (INTA), then EOIs it. */
static uint8_t ack_eoi(apic_sim *s, uint32_t cpu) {
  uint8_t v = 0;
  ck_assert_int_eq(apic_sim_ack(s, cpu, APIC_INTR_FIXED, &v), APIC_OK);
  tu_wr(s, cpu, APIC_REG_EOI, 0);
  return v;
}

/* Accepts the pending fixed interrupt and leaves it in service. */
static uint8_t ack_only(apic_sim *s, uint32_t cpu) {
  uint8_t v = 0;
  ck_assert_int_eq(apic_sim_ack(s, cpu, APIC_INTR_FIXED, &v), APIC_OK);
  return v;
}

static uint32_t only_core(apic_sim *s, uint8_t v) {
  uint32_t who = APIC_NONE;
  for (uint32_t c = 0; c < apic_sim_ncpus(s); c++)
    if (irr_has(s, c, v)) {
      ck_assert_uint_eq(who, APIC_NONE);
      who = c;
    }
  ck_assert_uint_ne(who, APIC_NONE);
  return who;
}

/* ---- physical (SDM 10.6.2.1) ---- */

/* SDM 10.6.2.1: a physical destination reaches the one APIC with that ID. */
START_TEST(physical_unicast) {
  apic_sim *s = xapic4(NULL);
  ipi(s, 0, 2, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  ipi(s, 3, 0, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 0);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.1: config.apic_ids: the match is on the APIC ID, not the index. */
START_TEST(physical_uses_apic_id_not_index) {
  static const uint32_t ids[4] = {0x10, 0x03, 0x22, 0x01};
  apic_config cfg = tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.apic_ids = ids;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  ipi(s, 0, 0x22, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  ipi(s, 0, 0x01, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 3);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.1: xAPIC physical 0xFF is the broadcast, sender included. */
START_TEST(physical_broadcast_xapic_ff) {
  apic_sim *s = xapic4(NULL);
  ipi(s, 1, 0xFF, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.1: on an xAPIC 0x0F is the ID 15, not a broadcast. */
START_TEST(physical_0f_is_unicast_on_xapic) {
  tu_log log = {0};
  apic_sim *s = machine(17, APIC_BUS_XAPIC, APIC_MODEL_XAPIC, &log);
  ipi(s, 0, 0x0F, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 15);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.6.2.1: P6 APIC IDs are 4 bits; physical 0xF is the broadcast on
   the APIC bus, and a destination written 0xFF is seen as 0xF. */
START_TEST(physical_broadcast_p6_0f) {
  apic_sim *s = machine(4, APIC_BUS_P6, APIC_MODEL_P6, NULL);
  ipi(s, 0, 0x0F, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu);
  ipi(s, 2, 0xFF, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 0xFu);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.12.9: in x2APIC mode 0xFFFFFFFF is the broadcast; 0xFF is the ID 255. */
START_TEST(physical_broadcast_x2apic) {
  tu_log log = {0};
  apic_config cfg = tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, &log);
  tu_enable_all(s);
  ipi(s, 0, 0xFFFFFFFFu, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu);
  ipi(s, 0, 0xFF, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC2), 1);
  ipi(s, 3, 2, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.6.2.1 + 10.4.6: software may change the xAPIC ID; messages follow
   the new ID from then on. */
START_TEST(apic_id_write_is_honoured) {
  tu_log log = {0};
  apic_sim *s = xapic4(&log);
  tu_wr(s, 1, APIC_REG_ID, 0x20u << 24);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_ID), 0x20u << 24);
  ipi(s, 0, 0x20, fixed(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 1);
  ipi(s, 0, 0x01, fixed(VEC2));  /* old ID: nobody */
  ck_assert_uint_eq(irr_mask(s, VEC2), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC2), 1);
  /* two APICs with the same ID both take a physical message */
  tu_wr(s, 3, APIC_REG_ID, 0x20u << 24);
  ipi(s, 0, 0x20, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), (1u << 1) | (1u << 3));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* ---- logical (SDM 10.6.2.2) ---- */

/* SDM 10.6.2.2 flat model: DFR 0xFFFFFFFF, LDR bits 31:24 a bitmask, match
   when LDR AND MDA != 0. */
START_TEST(logical_flat) {
  apic_sim *s = xapic4(NULL);
  for (uint32_t c = 0; c < 4; c++) ck_assert_uint_eq(tu_rd(s, c, APIC_REG_DFR), APIC_DFR_FLAT);
  flat_ldrs(s);
  tu_wr(s, 3, APIC_REG_LDR, 0x05u << 24);  /* core 3 in groups 0 and 2 */
  ipi(s, 0, 0x05, fixed_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 0) | (1u << 2) | (1u << 3));
  ipi(s, 0, 0x02, fixed_logical(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 1);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.1 (ICR destination 63:56 in logical mode) + 10.6.2.2: a P6 APIC
   uses all 8 MDA bits in logical mode, only 4 in physical mode. */
START_TEST(logical_flat_p6_uses_8_bits) {
  apic_sim *s = machine(4, APIC_BUS_P6, APIC_MODEL_P6, NULL);
  tu_wr(s, 1, APIC_REG_LDR, 0x10u << 24);
  tu_wr(s, 2, APIC_REG_LDR, 0x80u << 24);
  tu_wr(s, 3, APIC_REG_LDR, 0x01u << 24);
  ipi(s, 0, 0x90, fixed_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 1) | (1u << 2));
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.2 cluster model: DFR 0x0FFFFFFF, MDA high nibble = cluster,
   low nibble = members of the cluster. */
START_TEST(logical_cluster) {
  apic_sim *s = machine(6, APIC_BUS_XAPIC, APIC_MODEL_XAPIC, NULL);
  static const uint32_t ldr[6] = {0x11, 0x12, 0x14, 0x21, 0x22, 0x01};
  for (uint32_t c = 0; c < 6; c++) {
    tu_wr(s, c, APIC_REG_DFR, APIC_DFR_CLUSTER);
    tu_wr(s, c, APIC_REG_LDR, ldr[c] << 24);
  }
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_DFR), APIC_DFR_CLUSTER);
  ipi(s, 0, 0x13, fixed_logical(VEC));  /* cluster 1, members 0 and 1 */
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 0) | (1u << 1));
  ipi(s, 0, 0x22, fixed_logical(VEC2));  /* cluster 2, member 1 */
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 4);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.2 cluster model: cluster 0xF addresses every cluster. */
START_TEST(logical_cluster_f_all_clusters) {
  apic_sim *s = machine(6, APIC_BUS_XAPIC, APIC_MODEL_XAPIC, NULL);
  static const uint32_t ldr[6] = {0x11, 0x12, 0x14, 0x21, 0x22, 0x01};
  for (uint32_t c = 0; c < 6; c++) {
    tu_wr(s, c, APIC_REG_DFR, APIC_DFR_CLUSTER);
    tu_wr(s, c, APIC_REG_LDR, ldr[c] << 24);
  }
  ipi(s, 0, 0xF1, fixed_logical(VEC));  /* member 0 of every cluster */
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 0) | (1u << 3) | (1u << 5));
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.2: matching uses the DFR at arrival: switching flat -> cluster
   changes which APICs a logical destination reaches. */
START_TEST(dfr_change_is_honoured) {
  apic_sim *s = xapic4(NULL);
  tu_wr(s, 2, APIC_REG_LDR, 0x13u << 24);
  ipi(s, 0, 0x01, fixed_logical(VEC));  /* flat: bit 0 of 0x13 */
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  tu_wr(s, 2, APIC_REG_DFR, APIC_DFR_CLUSTER);
  ipi(s, 0, 0x01, fixed_logical(VEC2));  /* cluster 0 now: not cluster 1 */
  ck_assert_uint_eq(irr_mask(s, VEC2), 0);
  apic_sim_destroy(s);
}
END_TEST

/* item 4 / SDM 10.6.2.2: logical 0xFF reaches every APIC, LDR 0 included. */
START_TEST(logical_ff_reaches_ldr_zero) {
  apic_sim *s = xapic4(NULL);
  ck_assert_uint_eq(apic_sim_config(s)->quirks.logical_ff_all, 1);
  tu_wr(s, 1, APIC_REG_LDR, 0x02u << 24);  /* cores 0, 2, 3 keep LDR 0 */
  ipi(s, 0, 0xFF, fixed_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu);
  /* in cluster mode too */
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_DFR, APIC_DFR_CLUSTER);
  ipi(s, 0, 0xFF, fixed_logical(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 0xFu);
  apic_sim_destroy(s);
}
END_TEST

/* item 4 / SDM 10.6.2.2 with quirks.logical_ff_all = 0: the literal rule,
   LDR AND MDA != 0, so an APIC with LDR 0 gets nothing. */
START_TEST(logical_ff_literal_quirk) {
  apic_config cfg = tu_config(4, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.quirks.logical_ff_all = 0;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  tu_wr(s, 1, APIC_REG_LDR, 0x02u << 24);
  tu_wr(s, 3, APIC_REG_LDR, 0x80u << 24);
  ipi(s, 0, 0xFF, fixed_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 1) | (1u << 3));
  /* physical 0xFF stays the broadcast */
  ipi(s, 0, 0xFF, fixed(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 0xFu);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.2: on P6 a logical 0x0F is a group of four, not the physical
   broadcast ID 0xF. */
START_TEST(logical_0f_p6_is_not_broadcast) {
  apic_config cfg = tu_config(6, APIC_BUS_P6, APIC_MODEL_P6);
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  tu_wr(s, 0, APIC_REG_LDR, 0x01u << 24);
  tu_wr(s, 1, APIC_REG_LDR, 0x08u << 24);
  tu_wr(s, 2, APIC_REG_LDR, 0x10u << 24);
  tu_wr(s, 3, APIC_REG_LDR, 0x20u << 24);
  tu_wr(s, 4, APIC_REG_LDR, 0x02u << 24);  /* core 5 keeps LDR 0 */
  ipi(s, 0, 0x0F, fixed_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), (1u << 0) | (1u << 1) | (1u << 4));
  apic_sim_destroy(s);
}
END_TEST

/* ---- x2APIC (SDM 10.12.10) ---- */

/* SDM 10.12.10.2: the x2APIC LDR is derived: cluster = ID[19:4] in 31:16,
   member bit 1 << ID[3:0]. */
START_TEST(x2apic_ldr_derived) {
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, NULL);
  static const uint32_t ids[] = {0, 15, 16, 37, 79};
  for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    uint32_t id = ids[i];
    apic_lapic_state st = lstate(s, id);
    ck_assert_uint_eq(st.x2apic, 1);
    ck_assert_uint_eq(st.ldr, ((id >> 4) << 16) | (1u << (id & 0xF)));
    uint64_t v = 0;
    ck_assert_int_eq(apic_lapic_rdmsr(s, id, APIC_MSR_X2APIC(APIC_REG_LDR), &v), APIC_OK);
    ck_assert_uint_eq(v, st.ldr);
  }
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.12.10.2: x2APIC logical dest[31:16] = cluster, [15:0] = members;
   80 cores span clusters 0..4. */
START_TEST(x2apic_cluster_80_cores) {
  tu_log log = {0};
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, &log);
  tu_enable_all(s);
  ipi(s, 0, (2u << 16) | 0x8005u, fixed_logical(VEC));  /* IDs 32, 34, 47 */
  ck_assert_uint_eq(irr_count(s, VEC), 3);
  ck_assert(irr_has(s, 32, VEC) && irr_has(s, 34, VEC) && irr_has(s, 47, VEC));
  ipi(s, 5, (4u << 16) | 0xFFFFu, fixed_logical(VEC2));  /* 64..79 */
  ck_assert_uint_eq(irr_count(s, VEC2), 16);
  for (uint32_t c = 64; c < 80; c++) ck_assert(irr_has(s, c, VEC2));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC2), 16);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.12.10.2: a member bit beyond the existing cores and a cluster with
   no cores match nobody. */
START_TEST(x2apic_cluster_empty) {
  tu_log log = {0};
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, &log);
  tu_enable_all(s);
  ipi(s, 0, (5u << 16) | 0x0001u, fixed_logical(VEC));
  ck_assert_uint_eq(irr_count(s, VEC), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.12.9: x2APIC physical unicast uses the 32-bit ID. */
START_TEST(x2apic_physical_unicast_80_cores) {
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  ipi(s, 3, 70, fixed(VEC));
  ck_assert_uint_eq(irr_count(s, VEC), 1);
  ck_assert(irr_has(s, 70, VEC));
  apic_sim_destroy(s);
}
END_TEST

/* item 18: I/O APIC messages to x2APIC-mode APICs: physical 8-bit dest is the
   x2APIC ID; logical is cluster 0 with the 8 bits as members; 0xFF broadcast. */
START_TEST(ioapic_to_x2apic) {
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 0, VEC | (70ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 0, 1), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(irr_count(s, VEC), 1);
  ck_assert(irr_has(s, 70, VEC));
  /* logical 0x06: x2APIC IDs 1 and 2 (cluster 0), not 17/18 (cluster 1) */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 1, VEC2 | APIC_RTE_DESTMODE |
                                       (0x06ull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 1, 1), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(irr_count(s, VEC2), 2);
  ck_assert(irr_has(s, 1, VEC2) && irr_has(s, 2, VEC2));
  /* physical 0xFF: every core */
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 2, 0x83 | (0xFFull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 2, 1), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(irr_count(s, 0x83), 80);
  apic_sim_destroy(s);
}
END_TEST

/* ---- shorthands (SDM 10.6.1, ICR bits 19:18) ---- */

/* SDM 10.6.1: shorthand self: only the sender, whatever the destination field. */
START_TEST(shorthand_self) {
  apic_sim *s = xapic4(NULL);
  ipi(s, 2, 0xFF, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.1: all including self. */
START_TEST(shorthand_all_including_self) {
  apic_sim *s = xapic4(NULL);
  ipi(s, 1, 3, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_ALL)));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.1: all excluding self. */
START_TEST(shorthand_all_but_self) {
  apic_sim *s = xapic4(NULL);
  ipi(s, 1, 1, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  ck_assert_uint_eq(irr_mask(s, VEC), 0xFu & ~(1u << 1));
  /* NMI to all others too */
  ipi(s, 3, 0, APIC_ICR_LO(0, APIC_DM_NMI, APIC_ICR_SH(APIC_SH_OTHERS)));
  for (uint32_t c = 0; c < 4; c++) ck_assert_uint_eq(lstate(s, c).nmi_pending, c != 3);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.1 in x2APIC mode: shorthands on 80 cores. */
START_TEST(shorthand_x2apic) {
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  ipi(s, 41, 0, APIC_ICR_LO(VEC, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_OTHERS)));
  ck_assert_uint_eq(irr_count(s, VEC), 79);
  ck_assert(!irr_has(s, 41, VEC));
  ipi(s, 41, 0, APIC_ICR_LO(VEC2, APIC_DM_FIXED, APIC_ICR_SH(APIC_SH_SELF)));
  ck_assert_uint_eq(irr_count(s, VEC2), 1);
  ck_assert(irr_has(s, 41, VEC2));
  apic_sim_destroy(s);
}
END_TEST

/* ---- lowest priority (SDM 10.6.2.4) ---- */

/* SDM 10.6.2.4: the APIC with the lowest TPR (APR) takes it, and only it. */
START_TEST(lowest_priority_picks_lowest_tpr) {
  tu_log log = {0};
  apic_sim *s = xapic4(&log);
  flat_ldrs(s);
  static const uint32_t tpr[4] = {0x50, 0x20, 0x40, 0x30};
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  for (uint32_t c = 0; c < 4; c++) ck_assert_uint_eq(tu_rd(s, c, APIC_REG_APR), tpr[c]);
  ipi(s, 0, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  /* only among the destination: without core 1, core 3 */
  ipi(s, 0, 0x0D, lowest_logical(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 3);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 32 / SDM 10.6.2.1, 10.6.2.2: a broadcast with lowest priority "is not
   supported ... and must not be configured by software". The model still
   delivers it once, to the lowest-priority APIC of all: physical 0xFF and
   logical 0xFF (cluster model) alike, from a core or from an I/O APIC. */
START_TEST(lowest_priority_broadcast_picks_one) {
  apic_sim *s = xapic4(NULL);
  static const uint32_t tpr[4] = {0x50, 0x40, 0x20, 0x30};
  for (uint32_t c = 0; c < 4; c++) {
    tu_wr(s, c, APIC_REG_TPR, tpr[c]);
    tu_wr(s, c, APIC_REG_DFR, APIC_DFR_CLUSTER);
    tu_wr(s, c, APIC_REG_LDR, (0x10u | (1u << c)) << 24);
  }
  ipi(s, 0, 0xFF, APIC_ICR_LO(VEC, APIC_DM_LOWEST, 0));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  ipi(s, 1, 0xFF, lowest_logical(VEC2));  /* core 2's APR is now class 6 (VEC pending) */
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 3);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 0, 0, 0x83 | ((uint64_t)APIC_DM_LOWEST << APIC_RTE_DM_SHIFT) |
                                       (0xFFull << APIC_RTE_DEST_SHIFT)), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 0, 0, 1), APIC_OK);
  run_idle(s);  /* APRs now 0x50, 0x40, 0x60, 0x70 */
  ck_assert_uint_eq(irr_mask(s, 0x83), 1u << 1);
  apic_sim_destroy(s);
}
END_TEST

/* item 33 / SDM 10.6.1 (Table 10-3 note 4): with lowest priority and the
   all-excluding-self shorthand "the IPI may be redirected back to the
   issuing processor". The model never sends it back: the sender, with the
   lowest priority of all, is passed over for the lowest of the others. */
START_TEST(lowest_priority_all_but_self_skips_the_sender) {
  apic_sim *s = xapic4(NULL);
  static const uint32_t tpr[4] = {0x10, 0x50, 0x30, 0x40};
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  ipi(s, 0, 0, APIC_ICR_LO(VEC, APIC_DM_LOWEST, APIC_ICR_SH(APIC_SH_OTHERS)));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.4 + item 1: APR counts the in-service class: a core with TPR 0
   but class 9 in service loses to a core with TPR 0x30. */
START_TEST(lowest_priority_uses_apr_isr_class) {
  apic_sim *s = xapic4(NULL);
  flat_ldrs(s);
  ipi(s, 1, 0, fixed(0x95));
  ck_assert_uint_eq(ack_only(s, 0), 0x95);
  ck_assert_uint_eq(tu_rd(s, 0, APIC_REG_APR) & 0xF0, 0x90);
  tu_wr(s, 1, APIC_REG_TPR, 0x30);
  tu_wr(s, 2, APIC_REG_TPR, 0x50);
  tu_wr(s, 3, APIC_REG_TPR, 0x50);
  ipi(s, 2, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 1);
  apic_sim_destroy(s);
}
END_TEST

/* item 20 / SDM 10.6.2.4: the focus processor (vector already in service)
   wins even with the highest priority. */
START_TEST(focus_processor_wins) {
  apic_sim *s = xapic4(NULL);
  flat_ldrs(s);
  ipi(s, 0, 2, fixed(VEC));
  ck_assert_uint_eq(ack_only(s, 2), VEC);
  static const uint32_t tpr[4] = {0x10, 0x20, 0xE0, 0x30};
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  ipi(s, 1, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  ck_assert(tu_vec(lstate(s, 2).isr, VEC));
  /* a different vector has no focus: lowest TPR */
  ipi(s, 1, 0x0F, lowest_logical(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 1u << 0);
  apic_sim_destroy(s);
}
END_TEST

/* item 20 / SDM 10.6.2.4: also a vector pending in IRR makes the focus. */
START_TEST(focus_processor_pending_in_irr) {
  tu_log log = {0};
  apic_sim *s = xapic4(&log);
  flat_ldrs(s);
  tu_wr(s, 3, APIC_REG_TPR, 0xD0);
  ipi(s, 0, 3, fixed(VEC));
  ipi(s, 1, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 3);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_COALESCED, 3, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 20 / SDM 10.9 (SVR bit 9 "focus processor checking"): with focus
   checking off, the lowest APR wins even over the core serving the vector. */
START_TEST(focus_off_uses_apr) {
  apic_sim *s = xapic4(NULL);
  flat_ldrs(s);
  ipi(s, 0, 2, fixed(VEC));
  ck_assert_uint_eq(ack_only(s, 2), VEC);
  static const uint32_t tpr[4] = {0x40, 0x20, 0xE0, 0x30};
  for (uint32_t c = 0; c < 4; c++) {
    tu_wr(s, c, APIC_REG_SVR, APIC_SVR_ENABLE | APIC_SVR_FOCUS_OFF | 0xFF);
    tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  }
  ipi(s, 3, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 1);
  apic_sim_destroy(s);
}
END_TEST

/* item 16 / SDM 10.6.2.4: xapic ties rotate: the first tied core after the
   previous winner, in core order. */
START_TEST(lowest_priority_ties_rotate) {
  apic_sim *s = xapic4(NULL);
  flat_ldrs(s);
  static const uint8_t vecs[6] = {0x61, 0x62, 0x63, 0x64, 0x65, 0x66};
  /* expected winners; core 1 is made busier before the second message */
  static const uint32_t want[6] = {0, 2, 3, 0, 1, 2};
  for (int i = 0; i < 6; i++) {
    if (i == 1) tu_wr(s, 1, APIC_REG_TPR, 0x20);
    if (i == 3) tu_wr(s, 1, APIC_REG_TPR, 0x00);
    ipi(s, 3, 0x0F, lowest_logical(vecs[i]));
    uint32_t who = only_core(s, vecs[i]);
    ck_assert_msg(who == want[i], "message %d went to core %u, expected %u", i, who, want[i]);
    ck_assert_uint_eq(ack_eoi(s, who), vecs[i]);
    run_idle(s);
  }
  apic_sim_destroy(s);
}
END_TEST

/* item 16 / SDM 10.6.2.4, 10.7: on the P6 bus a tie goes to the highest
   arbitration ID; the sender's own bus arbitration rotates the IDs first. */
START_TEST(lowest_priority_ties_p6_highest_arb_id) {
  /* sender 0 wins the bus with ID 0: IDs stay 0,1,2,3 -> core 3 */
  apic_sim *s = machine(4, APIC_BUS_P6, APIC_MODEL_P6, NULL);
  flat_ldrs(s);
  ipi(s, 0, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 3);
  apic_sim_destroy(s);
  /* sender 3 wins with ID 3: it drops to 0, cores 0..2 move to 1..3 -> core 2 */
  s = machine(4, APIC_BUS_P6, APIC_MODEL_P6, NULL);
  flat_ldrs(s);
  ipi(s, 3, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 2);
  apic_sim_destroy(s);
}
END_TEST

/* SDM 10.6.2.4 on the P6 bus: a lower TPR still beats the arbitration ID. */
START_TEST(lowest_priority_p6_lowest_tpr) {
  apic_sim *s = machine(4, APIC_BUS_P6, APIC_MODEL_P6, NULL);
  flat_ldrs(s);
  static const uint32_t tpr[4] = {0x50, 0x20, 0x40, 0x30};
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  ipi(s, 0, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 1);
  apic_sim_destroy(s);
}
END_TEST

/* item 10 / SDM 10.4.7.2: a software-disabled APIC takes no part in
   lowest-priority arbitration, and drops fixed messages. */
START_TEST(sw_disabled_excluded) {
  tu_log log = {0};
  apic_sim *s = xapic4(&log);
  flat_ldrs(s);
  static const uint32_t tpr[4] = {0x50, 0x10, 0x40, 0x30};
  for (uint32_t c = 0; c < 4; c++) tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  tu_wr(s, 1, APIC_REG_SVR, 0xFF);  /* software disable core 1 */
  ipi(s, 0, 0x0F, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 1u << 3);
  ipi(s, 0, 0x0F, fixed_logical(VEC2));
  ck_assert_uint_eq(irr_mask(s, VEC2), 0xFu & ~(1u << 1));
  const apic_event *d = tu_find(&log, APIC_EV_MSG_DROPPED, 1, VEC2, 0);
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq(d->a, APIC_DROP_DISABLED);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.6.2.4: when every destination is software-disabled the lowest-
   priority message finds nobody. */
START_TEST(lowest_priority_all_disabled_no_target) {
  tu_log log = {0};
  apic_sim *s = xapic4(&log);
  flat_ldrs(s);
  tu_wr(s, 1, APIC_REG_SVR, 0xFF);
  tu_wr(s, 2, APIC_REG_SVR, 0xFF);
  ipi(s, 0, 0x06, lowest_logical(VEC));
  ck_assert_uint_eq(irr_mask(s, VEC), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.6.2.4 in x2APIC cluster mode: the lowest TPR among the cluster members. */
START_TEST(lowest_priority_x2apic_cluster) {
  apic_config cfg = tu_config(80, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.x2apic = 1;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  for (uint32_t c = 48; c < 52; c++)
    ck_assert_int_eq(apic_lapic_wrmsr(s, c, APIC_MSR_X2APIC(APIC_REG_TPR),
                                      c == 50 ? 0x10 : 0x40), APIC_OK);
  ck_assert_int_eq(apic_lapic_wrmsr(s, 0, APIC_MSR_X2APIC(APIC_REG_TPR), 0x00), APIC_OK);
  ipi(s, 0, (3u << 16) | 0x000Fu, lowest_logical(VEC));  /* IDs 48..51 */
  ck_assert_uint_eq(irr_count(s, VEC), 1);
  ck_assert(irr_has(s, 50, VEC));
  apic_sim_destroy(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("dest");
  TCase *phys = tcase_create("physical");
  tcase_add_test(phys, physical_unicast);
  tcase_add_test(phys, physical_uses_apic_id_not_index);
  tcase_add_test(phys, physical_broadcast_xapic_ff);
  tcase_add_test(phys, physical_0f_is_unicast_on_xapic);
  tcase_add_test(phys, physical_broadcast_p6_0f);
  tcase_add_test(phys, physical_broadcast_x2apic);
  tcase_add_test(phys, apic_id_write_is_honoured);
  suite_add_tcase(s, phys);

  TCase *lg = tcase_create("logical");
  tcase_add_test(lg, logical_flat);
  tcase_add_test(lg, logical_flat_p6_uses_8_bits);
  tcase_add_test(lg, logical_cluster);
  tcase_add_test(lg, logical_cluster_f_all_clusters);
  tcase_add_test(lg, dfr_change_is_honoured);
  tcase_add_test(lg, logical_ff_reaches_ldr_zero);
  tcase_add_test(lg, logical_ff_literal_quirk);
  tcase_add_test(lg, logical_0f_p6_is_not_broadcast);
  suite_add_tcase(s, lg);

  TCase *x2 = tcase_create("x2apic");
  tcase_add_test(x2, x2apic_ldr_derived);
  tcase_add_test(x2, x2apic_cluster_80_cores);
  tcase_add_test(x2, x2apic_cluster_empty);
  tcase_add_test(x2, x2apic_physical_unicast_80_cores);
  tcase_add_test(x2, ioapic_to_x2apic);
  suite_add_tcase(s, x2);

  TCase *sh = tcase_create("shorthand");
  tcase_add_test(sh, shorthand_self);
  tcase_add_test(sh, shorthand_all_including_self);
  tcase_add_test(sh, shorthand_all_but_self);
  tcase_add_test(sh, shorthand_x2apic);
  suite_add_tcase(s, sh);

  TCase *lp = tcase_create("lowest_priority");
  tcase_add_test(lp, lowest_priority_picks_lowest_tpr);
  tcase_add_test(lp, lowest_priority_broadcast_picks_one);
  tcase_add_test(lp, lowest_priority_all_but_self_skips_the_sender);
  tcase_add_test(lp, lowest_priority_uses_apr_isr_class);
  tcase_add_test(lp, focus_processor_wins);
  tcase_add_test(lp, focus_processor_pending_in_irr);
  tcase_add_test(lp, focus_off_uses_apr);
  tcase_add_test(lp, lowest_priority_ties_rotate);
  tcase_add_test(lp, lowest_priority_ties_p6_highest_arb_id);
  tcase_add_test(lp, lowest_priority_p6_lowest_tpr);
  tcase_add_test(lp, sw_disabled_excluded);
  tcase_add_test(lp, lowest_priority_all_disabled_no_target);
  tcase_add_test(lp, lowest_priority_x2apic_cluster);
  suite_add_tcase(s, lp);

  return tu_run(s);
}
