/*
 * test_ioapic.c - the 82093AA I/O APIC (lib/ioapic.c): the direct and
 * indirect register file (datasheet 3.1, 3.2), then the redirection rules
 * driven through the engine: edge and level pins, polarity, masking, remote
 * IRR and its EOI (local APIC EOI message or the version 0x20 EOIR), and the
 * delivery modes an entry can send.
 *
 * Section names: "82093AA x.y" is the I/O APIC datasheet, "SDM 10.x" the
 * Intel SDM Vol. 3A APIC chapter, "item n" a row of docs/SDM-CHOICES.md.
 */
#include <string.h>
#include "testutil.h"

/* Fields regs.h does not name (82093AA 3.2.1-3.2.3). */
#define IOAPIC_ID_SHIFT      24           /* ID and ARB: bits 27:24 */
#define IOAPIC_ID_MASK       (0xFu << IOAPIC_ID_SHIFT)
#define IOAPIC_VER_MRE_SHIFT 16           /* VER: max redirection entry 23:16 */
#define IOAPIC_VER_VERSION   0xFFu        /* VER: version bits 7:0 */
#define IOREGSEL_MASK        0xFFu        /* 3.1.1: bits 7:0 */
#define RTE_HIGH_SHIFT       32
#define RTE_LOW_RESERVED     0xFFFE0000u  /* 3.2.4: bits 31:17 reserved */
#define RTE_HIGH_DEST_MASK   0xFF000000u  /* bits 63:56 in the high dword */

#define IO0   0u
#define VEC   0x40
#define VEC2  0x51
#define NCPUS 4u

/* ---- helpers ---- */

static uint32_t redtbl_lo(uint32_t pin) { return APIC_IOAPIC_REDTBL + 2 * pin; }
static uint32_t redtbl_hi(uint32_t pin) { return APIC_IOAPIC_REDTBL + 2 * pin + 1; }

static uint64_t rte_make(uint8_t vec, uint32_t dm, uint64_t flags, uint8_t dest) {
  return (uint64_t)vec | ((uint64_t)dm << APIC_RTE_DM_SHIFT) | flags |
         ((uint64_t)dest << APIC_RTE_DEST_SHIFT);
}

/* Indirect register access: IOREGSEL, then IOWIN (82093AA 3.1). */
static uint32_t io_rd(apic_sim *s, uint32_t io, uint32_t idx) {
  uint32_t v = 0xDEADBEEFu;
  ck_assert_int_eq(apic_ioapic_write(s, io, APIC_IOAPIC_IOREGSEL, idx), APIC_OK);
  ck_assert_int_eq(apic_ioapic_read(s, io, APIC_IOAPIC_IOWIN, &v), APIC_OK);
  return v;
}

static void io_wr(apic_sim *s, uint32_t io, uint32_t idx, uint32_t val) {
  ck_assert_int_eq(apic_ioapic_write(s, io, APIC_IOAPIC_IOREGSEL, idx), APIC_OK);
  ck_assert_int_eq(apic_ioapic_write(s, io, APIC_IOAPIC_IOWIN, val), APIC_OK);
}

static uint64_t rte_get(apic_sim *s, uint32_t io, uint32_t pin) {
  uint64_t r = 0;
  ck_assert_int_eq(apic_ioapic_rte_get(s, io, pin, &r), APIC_OK);
  return r;
}

static void rte_set(apic_sim *s, uint32_t io, uint32_t pin, uint64_t r) {
  ck_assert_int_eq(apic_ioapic_rte_set(s, io, pin, r), APIC_OK);
}

static void pin(apic_sim *s, uint32_t io, uint32_t p, int level) {
  ck_assert_int_eq(apic_ioapic_set_pin(s, io, p, level), APIC_OK);
}

static apic_lapic_state lstate(apic_sim *s, uint32_t cpu) {
  apic_lapic_state st;
  ck_assert_int_eq(apic_lapic_state_get(s, cpu, &st), APIC_OK);
  return st;
}

static int irr_has(apic_sim *s, uint32_t cpu, uint8_t v) {
  apic_lapic_state st = lstate(s, cpu);
  return tu_vec(st.irr, v);
}

static void run_idle(apic_sim *s) {
  ck_assert_int_eq(apic_sim_run(s, UINT64_MAX), APIC_RUN_IDLE);
}

static apic_config base_config(uint8_t version) {
  apic_config cfg = tu_config(NCPUS, APIC_BUS_XAPIC, APIC_MODEL_XAPIC);
  cfg.ioapic_version[0] = version;
  return cfg;
}

/* A 4-core xapic machine, local APICs software-enabled, log attached. */
static apic_sim *machine(tu_log *log, uint8_t version) {
  apic_config cfg = base_config(version);
  apic_sim *s = tu_sim(&cfg, log);
  tu_enable_all(s);
  return s;
}

/* Accepts the pending fixed interrupt on cpu (INTA) and returns its vector. */
static uint8_t ack(apic_sim *s, uint32_t cpu) {
  apic_intr_kind k;
  uint8_t v = 0;
  ck_assert_int_eq(apic_sim_pending(s, cpu, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_FIXED);
  ck_assert_int_eq(apic_sim_ack(s, cpu, APIC_INTR_FIXED, &v), APIC_OK);
  return v;
}

static size_t count_from(const tu_log *log, uint32_t kind, size_t from) {
  size_t n = 0;
  for (size_t i = from; i < log->n; i++) n += log->ev[i].kind == kind;
  return n;
}

/* ---- direct registers (82093AA 3.1) ---- */

/* 82093AA 3.1.1: IOREGSEL holds the index in bits 7:0; 31:8 are reserved. */
START_TEST(ioregsel_reads_back_bits_7_0) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  uint32_t v = 0;
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_IOREGSEL, APIC_IOAPIC_REDTBL + 3), APIC_OK);
  ck_assert_int_eq(apic_ioapic_read(s, IO0, APIC_IOAPIC_IOREGSEL, &v), APIC_OK);
  ck_assert_uint_eq(v, APIC_IOAPIC_REDTBL + 3);
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_IOREGSEL, 0xABCD0000u | APIC_IOAPIC_VER),
                   APIC_OK);
  ck_assert_int_eq(apic_ioapic_read(s, IO0, APIC_IOAPIC_IOREGSEL, &v), APIC_OK);
  ck_assert_uint_eq(v, APIC_IOAPIC_VER & IOREGSEL_MASK);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.1: only IOREGSEL, IOWIN (and EOIR on 0x20) exist: others APIC_E_REG. */
START_TEST(unknown_direct_offset_is_reg_error) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  uint32_t v = 0;
  uint32_t bad[] = {APIC_IOAPIC_IOREGSEL + 4, APIC_IOAPIC_IOWIN + 0x10, APIC_IOAPIC_EOIR + 0x10};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(apic_ioapic_read(s, IO0, bad[i], &v), APIC_E_REG);
    ck_assert_int_eq(apic_ioapic_write(s, IO0, bad[i], 0), APIC_E_REG);
  }
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.1: ID register, bits 27:24 read/write, all else reads 0. */
START_TEST(id_register_bits_27_24_writable) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.ioapic_id[0] = 0x9;
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ID), 0x9u << IOAPIC_ID_SHIFT);
  io_wr(s, IO0, APIC_IOAPIC_ID, 0xFFFFFFFFu);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ID), IOAPIC_ID_MASK);
  io_wr(s, IO0, APIC_IOAPIC_ID, 0x03u << IOAPIC_ID_SHIFT);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ID), 0x03u << IOAPIC_ID_SHIFT);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.2: VER = max redirection entry (pins - 1) in 23:16, version in 7:0. */
static const struct { uint32_t pins; uint8_t version; } ver_cases[] = {
  {8, APIC_IOAPIC_VERSION_82093AA}, {24, APIC_IOAPIC_VERSION_82093AA},
  {24, APIC_IOAPIC_VERSION_EOI}, {120, APIC_IOAPIC_VERSION_EOI},
  {120, APIC_IOAPIC_VERSION_82093AA}, {1, APIC_IOAPIC_VERSION_EOI},
};

START_TEST(ver_register_version_and_max_entry) {
  apic_config cfg = base_config(ver_cases[_i].version);
  cfg.ioapic_pins[0] = ver_cases[_i].pins;
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t v = io_rd(s, IO0, APIC_IOAPIC_VER);
  ck_assert_uint_eq(v & IOAPIC_VER_VERSION, ver_cases[_i].version);
  ck_assert_uint_eq((v >> IOAPIC_VER_MRE_SHIFT) & 0xFFu, ver_cases[_i].pins - 1);
  ck_assert_uint_eq(v, ((ver_cases[_i].pins - 1) << IOAPIC_VER_MRE_SHIFT) | ver_cases[_i].version);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.2, 3.2.3: VER and ARB are read only. */
START_TEST(ver_and_arb_read_only) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_82093AA);
  cfg.ioapic_id[0] = 0x6;
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t ver = io_rd(s, IO0, APIC_IOAPIC_VER);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ARB), 0x6u << IOAPIC_ID_SHIFT);
  io_wr(s, IO0, APIC_IOAPIC_VER, 0xFFFFFFFFu);
  io_wr(s, IO0, APIC_IOAPIC_ARB, 0x0Au << IOAPIC_ID_SHIFT);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_VER), ver);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ARB), 0x6u << IOAPIC_ID_SHIFT);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.3: writing the ID register loads the arbitration ID too. */
START_TEST(id_write_loads_arb) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  io_wr(s, IO0, APIC_IOAPIC_ID, 0x0Bu << IOAPIC_ID_SHIFT);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ARB), 0x0Bu << IOAPIC_ID_SHIFT);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2: an index with no register (0x03, past the last entry) reads 0. */
START_TEST(unimplemented_index_reads_zero) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.ioapic_pins[0] = 8;
  apic_sim *s = tu_sim(&cfg, NULL);
  ck_assert_uint_eq(io_rd(s, IO0, APIC_IOAPIC_ARB + 1), 0);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(8)), 0);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_hi(8)), 0);
  io_wr(s, IO0, redtbl_lo(8), VEC);  /* ignored: no entry 8 */
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(8)), 0);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(7)), (uint32_t)APIC_RTE_MASKED);
  apic_sim_destroy(s);
}
END_TEST

/* ---- redirection table (82093AA 3.2.4) ---- */

/* item 7 / 82093AA 3.2.4: every entry resets to 0x0000000000010000 (masked only). */
START_TEST(rte_reset_value) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.nioapics = 2;
  cfg.ioapic_pins[1] = 120;
  apic_sim *s = tu_sim(&cfg, NULL);
  for (uint32_t io = 0; io < 2; io++)
    for (uint32_t p = 0; p < cfg.ioapic_pins[io]; p++) {
      ck_assert_uint_eq(rte_get(s, io, p), 0x0000000000010000ull);
      ck_assert_uint_eq(rte_get(s, io, p), APIC_RTE_MASKED);
      ck_assert_uint_eq(io_rd(s, io, redtbl_lo(p)), 0x00010000u);
      ck_assert_uint_eq(io_rd(s, io, redtbl_hi(p)), 0);
    }
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4: low dword at 0x10+2n, high dword at 0x11+2n through IOWIN. */
START_TEST(redtbl_low_high_via_iowin) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  uint32_t lo = VEC | (APIC_DM_LOWEST << APIC_RTE_DM_SHIFT) | (uint32_t)APIC_RTE_DESTMODE |
                (uint32_t)APIC_RTE_POLARITY | (uint32_t)APIC_RTE_TRIGGER |
                (uint32_t)APIC_RTE_MASKED;
  io_wr(s, IO0, redtbl_hi(5), 0xA5u << 24);
  io_wr(s, IO0, redtbl_lo(5), lo);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(5)), lo);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_hi(5)), 0xA5u << 24);
  ck_assert_uint_eq(rte_get(s, IO0, 5), ((uint64_t)0xA5 << APIC_RTE_DEST_SHIFT) | lo);
  /* neighbours untouched */
  ck_assert_uint_eq(rte_get(s, IO0, 4), APIC_RTE_MASKED);
  ck_assert_uint_eq(rte_get(s, IO0, 6), APIC_RTE_MASKED);
  /* and the convenience call writes what IOWIN reads */
  rte_set(s, IO0, 6, rte_make(VEC2, APIC_DM_FIXED, APIC_RTE_MASKED, 0x3C));
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(6)), VEC2 | (uint32_t)APIC_RTE_MASKED);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_hi(6)), 0x3Cu << 24);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4: delivery status (12) and remote IRR (14) are read only;
   bits 55:17 are reserved. */
START_TEST(rte_read_only_and_reserved_bits) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  io_wr(s, IO0, redtbl_lo(2), 0xFFFFFFFFu);
  io_wr(s, IO0, redtbl_hi(2), 0xFFFFFFFFu);
  uint32_t lo = io_rd(s, IO0, redtbl_lo(2));
  ck_assert_uint_eq(lo & (uint32_t)APIC_RTE_DS, 0);
  ck_assert_uint_eq(lo & (uint32_t)APIC_RTE_REMOTE_IRR, 0);
  ck_assert_uint_eq(lo & RTE_LOW_RESERVED, 0);
  ck_assert_uint_eq(lo, 0xFFFFFFFFu & ~(uint32_t)(APIC_RTE_DS | APIC_RTE_REMOTE_IRR) &
                            ~RTE_LOW_RESERVED);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_hi(2)), RTE_HIGH_DEST_MASK);
  /* the same through apic_ioapic_rte_set */
  rte_set(s, IO0, 3, ~0ull);
  ck_assert_uint_eq(rte_get(s, IO0, 3), ((uint64_t)RTE_HIGH_DEST_MASK << RTE_HIGH_SHIFT) | lo);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4: RTE writes are reported (a = pin, b = low dword). */
START_TEST(rte_write_event) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  io_wr(s, IO0, redtbl_lo(9), VEC | (uint32_t)APIC_RTE_MASKED);
  const apic_event *e = tu_find(&log, APIC_EV_RTE_WRITE, APIC_NONE, VEC, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->a, 9);
  ck_assert_uint_eq(e->b, VEC | (uint32_t)APIC_RTE_MASKED);
  ck_assert_uint_eq(e->src, IO0);
  ck_assert_uint_eq(e->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.1: EOIR (0x40) exists only on version 0x20 parts. */
START_TEST(eoir_only_in_version_0x20) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_82093AA);
  uint32_t v = 0;
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_EOIR, VEC), APIC_E_REG);
  ck_assert_int_eq(apic_ioapic_read(s, IO0, APIC_IOAPIC_EOIR, &v), APIC_E_REG);
  ck_assert_ptr_nonnull(strstr(apic_sim_errmsg(s), "0x40"));
  apic_sim_destroy(s);
  s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_EOIR, VEC), APIC_OK);
  apic_sim_destroy(s);
}
END_TEST

/* docs/SDM-CHOICES.md item 21: the EOI register of version 0x20 is
   write-only; a read returns 0 and changes nothing. */
START_TEST(eoir_reads_zero) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  uint32_t v = 0xDEADBEEFu;
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_IOREGSEL, APIC_IOAPIC_VER), APIC_OK);
  ck_assert_int_eq(apic_ioapic_read(s, IO0, APIC_IOAPIC_EOIR, &v), APIC_OK);
  ck_assert_uint_eq(v, 0);
  ck_assert_int_eq(apic_ioapic_read(s, IO0, APIC_IOAPIC_IOREGSEL, &v), APIC_OK);
  ck_assert_uint_eq(v, APIC_IOAPIC_VER);  /* IOREGSEL untouched by the read */
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h I/O APIC calls (API contract): an index past nioapics is
   APIC_E_IOAPIC on every call. */
START_TEST(bad_ioapic_index) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.nioapics = 2;
  apic_sim *s = tu_sim(&cfg, NULL);
  uint32_t v;
  uint64_t r;
  ck_assert_int_eq(apic_ioapic_read(s, 2, APIC_IOAPIC_IOWIN, &v), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_write(s, 2, APIC_IOAPIC_IOREGSEL, 0), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_rte_get(s, 2, 0, &r), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_rte_set(s, 2, 0, 0), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_set_pin(s, 2, 0, 1), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, APIC_MAX_IOAPICS, 0, 1, 10), APIC_E_IOAPIC);
  ck_assert_int_eq(apic_ioapic_read(s, 1, APIC_IOAPIC_IOWIN, &v), APIC_OK);
  apic_sim_destroy(s);
  cfg.nioapics = 0;
  s = tu_sim(&cfg, NULL);
  ck_assert_int_eq(apic_ioapic_read(s, 0, APIC_IOAPIC_IOWIN, &v), APIC_E_IOAPIC);
  apic_sim_destroy(s);
}
END_TEST

/* apicsim.h I/O APIC calls (API contract): a pin past the I/O APIC's
   entries is APIC_E_PIN; a failed call changes nothing. */
START_TEST(bad_pin) {
  tu_log log = {0};
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.ioapic_pins[0] = 8;
  apic_sim *s = tu_sim(&cfg, &log);
  uint64_t r;
  ck_assert_int_eq(apic_ioapic_rte_get(s, IO0, 8, &r), APIC_E_PIN);
  ck_assert_int_eq(apic_ioapic_rte_set(s, IO0, 8, VEC), APIC_E_PIN);
  ck_assert_int_eq(apic_ioapic_set_pin(s, IO0, 8, 1), APIC_E_PIN);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 200, 1, 10), APIC_E_PIN);
  ck_assert_uint_eq(log.n, 0);
  ck_assert_uint_eq(apic_sim_next_event(s), UINT64_MAX);
  ck_assert_int_eq(apic_ioapic_rte_get(s, IO0, 7, &r), APIC_OK);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* apicsim.h apic_ioapic_set_pin_at (API contract): a pin change scheduled
   in the past is APIC_E_TIME. */
START_TEST(set_pin_at_past_is_time_error) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  ck_assert_int_eq(apic_sim_run(s, 1000), APIC_RUN_IDLE);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 0, 1, 999), APIC_E_TIME);
  ck_assert_uint_eq(apic_sim_next_event(s), UINT64_MAX);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 0, 1, 1000), APIC_OK);
  ck_assert_uint_eq(apic_sim_next_event(s), 1000);
  apic_sim_destroy(s);
}
END_TEST

/* ---- behaviour through the engine ---- */

/* 82093AA 3.2.4 bit 15 (edge): a message on the inactive->active edge only;
   holding the line or the falling edge sends nothing. */
START_TEST(edge_sends_on_active_edge_only) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 1, rte_make(VEC, APIC_DM_FIXED, 0, 2));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  uint64_t t = 1000;
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 1, 1, t), APIC_OK);
  run_idle(s);
  const apic_config *cfg = apic_sim_config(s);
  const apic_event *e = tu_find(&log, APIC_EV_IRR_SET, 2, VEC, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->cycle, t + cfg->timing.ioapic_latency);
  ck_assert_uint_eq(e->a, 0);  /* edge: TMR clear */
  ck_assert(!tu_vec(lstate(s, 2).tmr, VEC));
  for (uint32_t c = 0; c < NCPUS; c++) ck_assert_int_eq(irr_has(s, c, VEC), c == 2);
  /* still high, then the falling edge: nothing more */
  pin(s, IO0, 1, 1);
  pin(s, IO0, 1, 0);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  /* the next rising edge sends again (coalesced: IRR already set) */
  pin(s, IO0, 1, 1);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 2);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_COALESCED, 2, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 13: polarity 1 = low active; the edge is high->low. */
START_TEST(polarity_low_active) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  pin(s, IO0, 4, 1);  /* idle level of a low-active line */
  rte_set(s, IO0, 4, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_POLARITY, 1));
  pin(s, IO0, 4, 1);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  pin(s, IO0, 4, 0);  /* active */
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  ck_assert(irr_has(s, 1, VEC));
  pin(s, IO0, 4, 1);  /* back to inactive: the rising edge sends nothing */
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 13/15: a low-active level entry sends while the pin is 0. */
START_TEST(polarity_low_active_level) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  pin(s, IO0, 4, 1);
  rte_set(s, IO0, 4, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_POLARITY | APIC_RTE_TRIGGER, 3));
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  pin(s, IO0, 4, 0);
  run_idle(s);
  ck_assert(irr_has(s, 3, VEC));
  ck_assert(tu_vec(lstate(s, 3).tmr, VEC));
  ck_assert_uint_eq(rte_get(s, IO0, 4) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 16: an edge while masked is lost, not sent on unmask. */
START_TEST(masked_edge_lost) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  uint64_t r = rte_make(VEC, APIC_DM_FIXED, 0, 0);
  rte_set(s, IO0, 0, r | APIC_RTE_MASKED);
  pin(s, IO0, 0, 1);
  pin(s, IO0, 0, 0);
  pin(s, IO0, 0, 1);  /* left high across the unmask */
  run_idle(s);
  rte_set(s, IO0, 0, r);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  ck_assert(!irr_has(s, 0, VEC));
  ck_assert_uint_eq(rte_get(s, IO0, 0), r);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 15/16: a masked level stays pending on the line and is
   delivered (with TMR set) once unmasked. */
START_TEST(masked_level_held_until_unmask) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  uint64_t r = rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 2);
  rte_set(s, IO0, 7, r | APIC_RTE_MASKED);
  pin(s, IO0, 7, 1);
  ck_assert_int_eq(apic_sim_run(s, 5000), APIC_RUN_IDLE);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  ck_assert(!irr_has(s, 2, VEC));
  rte_set(s, IO0, 7, r);
  ck_assert_uint_eq(rte_get(s, IO0, 7) & APIC_RTE_DS, APIC_RTE_DS);
  run_idle(s);
  const apic_event *e = tu_find(&log, APIC_EV_IRR_SET, 2, VEC, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->cycle, 5000 + apic_sim_config(s)->timing.ioapic_latency);
  ck_assert_uint_eq(e->a, 1);  /* level: TMR */
  ck_assert(tu_vec(lstate(s, 2).tmr, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 12/14: delivery status is set while the message is on
   its way; remote IRR is set when a local APIC accepts the level interrupt. */
START_TEST(level_remote_irr_set_on_acceptance) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  uint32_t lat = apic_sim_config(s)->timing.ioapic_latency;
  rte_set(s, IO0, 3, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));
  ck_assert_int_eq(apic_sim_run(s, 100), APIC_RUN_IDLE);
  pin(s, IO0, 3, 1);
  uint64_t r = rte_get(s, IO0, 3);
  ck_assert_uint_eq(r & APIC_RTE_DS, APIC_RTE_DS);
  ck_assert_uint_eq(r & APIC_RTE_REMOTE_IRR, 0);
  ck_assert_uint_eq(io_rd(s, IO0, redtbl_lo(3)) & (uint32_t)APIC_RTE_DS, (uint32_t)APIC_RTE_DS);
  ck_assert_int_eq(apic_sim_run(s, 100 + lat - 1), APIC_RUN_LIMIT);
  ck_assert_uint_eq(rte_get(s, IO0, 3) & (APIC_RTE_DS | APIC_RTE_REMOTE_IRR), APIC_RTE_DS);
  run_idle(s);
  r = rte_get(s, IO0, 3);
  ck_assert_uint_eq(r & APIC_RTE_DS, 0);
  ck_assert_uint_eq(r & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  const apic_event *set = tu_find(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, VEC, 0);
  ck_assert_ptr_nonnull(set);
  ck_assert_uint_eq(set->cycle, 100 + lat);
  ck_assert_uint_eq(set->a, 3);
  ck_assert_uint_eq(set->src, IO0);
  ck_assert_uint_eq(set->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  ck_assert(irr_has(s, 1, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14: while remote IRR is set the entry sends nothing, even
   if the line drops and rises again. */
START_TEST(level_not_resent_while_remote_irr) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 3, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));
  pin(s, IO0, 3, 1);
  run_idle(s);
  ck_assert_uint_eq(rte_get(s, IO0, 3) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  pin(s, IO0, 3, 0);
  pin(s, IO0, 3, 1);
  rte_set(s, IO0, 3, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));  /* rewrite */
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_COALESCED, APIC_NONE, -1), 0);
  apic_stats st;
  apic_sim_stats(s, &st);
  ck_assert_uint_eq(st.messages, 1);
  ck_assert_uint_eq(rte_get(s, IO0, 3) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14 + SDM 10.8.5: the local APIC's EOI of a level vector
   sends an EOI message; it clears remote IRR and, the line still asserted,
   the interrupt is sent again. */
START_TEST(lapic_eoi_clears_remote_irr_and_resends) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_82093AA);
  uint32_t lat = apic_sim_config(s)->timing.ioapic_latency;
  rte_set(s, IO0, 5, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 2));
  pin(s, IO0, 5, 1);
  run_idle(s);
  ck_assert_uint_eq(ack(s, 2), VEC);
  ck_assert_int_eq(apic_sim_run(s, 10000), APIC_RUN_IDLE);
  size_t mark = log.n;
  tu_wr(s, 2, APIC_REG_EOI, 0);
  const apic_event *em = tu_find(&log, APIC_EV_EOI_MSG, 2, VEC, mark);
  ck_assert_ptr_nonnull(em);
  ck_assert_uint_eq(em->cycle, 10000);
  ck_assert_uint_eq(rte_get(s, IO0, 5) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  run_idle(s);
  const apic_event *clr = tu_find(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(clr);
  ck_assert_uint_eq(clr->cycle, 10000 + lat);
  ck_assert_uint_eq(clr->a, 5);
  const apic_event *again = tu_find(&log, APIC_EV_IRR_SET, 2, VEC, mark);
  ck_assert_ptr_nonnull(again);
  ck_assert_uint_eq(again->cycle, 10000 + 2 * (uint64_t)lat);
  ck_assert_uint_eq(count_from(&log, APIC_EV_REMOTE_IRR_SET, mark), 1);
  ck_assert_uint_eq(rte_get(s, IO0, 5) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14: with the line already de-asserted the EOI only clears
   remote IRR; nothing is sent again. */
START_TEST(eoi_after_deassert_does_not_resend) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_82093AA);
  rte_set(s, IO0, 5, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 2));
  pin(s, IO0, 5, 1);
  run_idle(s);
  ck_assert_uint_eq(ack(s, 2), VEC);
  pin(s, IO0, 5, 0);
  tu_wr(s, 2, APIC_REG_EOI, 0);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 2);  /* intr + EOI */
  ck_assert_uint_eq(rte_get(s, IO0, 5) & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), 0);
  ck_assert(!irr_has(s, 2, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.5 + 82093AA 3.2.4: an EOI of a vector the entry does not use
   leaves its remote IRR set. */
START_TEST(eoi_other_vector_keeps_remote_irr) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 5, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 2));
  pin(s, IO0, 5, 1);
  run_idle(s);
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_EOIR, VEC2), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(rte_get(s, IO0, 5) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, -1), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.5 (suppress EOI broadcast, SVR bit 12) + EOIR of version 0x20:
   the local EOI sends no message; the EOIR write clears remote IRR at once
   and the still-asserted line is sent again. */
START_TEST(eoir_write_clears_remote_irr_with_suppressed_broadcast) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  uint32_t lat = apic_sim_config(s)->timing.ioapic_latency;
  tu_wr(s, 1, APIC_REG_SVR, APIC_SVR_ENABLE | APIC_SVR_EOI_SUPPRESS | 0xFF);
  ck_assert_uint_eq(tu_rd(s, 1, APIC_REG_SVR) & APIC_SVR_EOI_SUPPRESS, APIC_SVR_EOI_SUPPRESS);
  rte_set(s, IO0, 6, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));
  pin(s, IO0, 6, 1);
  run_idle(s);
  ck_assert_uint_eq(ack(s, 1), VEC);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI, 1, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI_MSG, APIC_NONE, -1), 0);
  ck_assert_uint_eq(rte_get(s, IO0, 6) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  uint64_t t = apic_sim_now(s) + 100;
  ck_assert_int_eq(apic_sim_run(s, t), APIC_RUN_IDLE);
  size_t mark = log.n;
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_EOIR, VEC), APIC_OK);
  const apic_event *clr = tu_find(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC, mark);
  ck_assert_ptr_nonnull(clr);
  ck_assert_uint_eq(clr->cycle, t);
  ck_assert_uint_eq(rte_get(s, IO0, 6) & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), APIC_RTE_DS);
  run_idle(s);
  const apic_event *again = tu_find(&log, APIC_EV_IRR_SET, 1, VEC, mark);
  ck_assert_ptr_nonnull(again);
  ck_assert_uint_eq(again->cycle, t + lat);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* item 8 / 82093AA 3.2.4: a level interrupt accepted by two logical
   destinations; the first EOI message already clears remote IRR. */
START_TEST(first_eoi_clears_remote_irr) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_82093AA);
  tu_wr(s, 0, APIC_REG_LDR, 0x01u << 24);
  tu_wr(s, 1, APIC_REG_LDR, 0x02u << 24);
  rte_set(s, IO0, 2, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER | APIC_RTE_DESTMODE, 0x03));
  pin(s, IO0, 2, 1);
  run_idle(s);
  ck_assert(irr_has(s, 0, VEC));
  ck_assert(irr_has(s, 1, VEC));
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, VEC), 1);
  pin(s, IO0, 2, 0);
  ck_assert_uint_eq(ack(s, 0), VEC);
  ck_assert_uint_eq(ack(s, 1), VEC);
  tu_wr(s, 0, APIC_REG_EOI, 0);  /* only cpu 0 EOIs */
  run_idle(s);
  ck_assert_uint_eq(rte_get(s, IO0, 2) & APIC_RTE_REMOTE_IRR, 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC), 1);
  ck_assert(tu_vec(lstate(s, 1).isr, VEC));
  /* the second EOI finds nothing left to clear */
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI_MSG, APIC_NONE, VEC), 2);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14: an EOI clears every entry with that vector and
   remote IRR set (shared vector on two pins). */
START_TEST(eoi_clears_all_entries_with_vector) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 10, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 0));
  rte_set(s, IO0, 11, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));
  pin(s, IO0, 10, 1);
  pin(s, IO0, 11, 1);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, VEC), 2);
  pin(s, IO0, 10, 0);
  pin(s, IO0, 11, 0);
  ck_assert_int_eq(apic_ioapic_write(s, IO0, APIC_IOAPIC_EOIR, VEC), APIC_OK);
  ck_assert_uint_eq(rte_get(s, IO0, 10) & APIC_RTE_REMOTE_IRR, 0);
  ck_assert_uint_eq(rte_get(s, IO0, 11) & APIC_RTE_REMOTE_IRR, 0);
  const apic_event *c1 = tu_find(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC, 0);
  ck_assert_ptr_nonnull(c1);
  ck_assert_uint_eq(c1->a, 10);
  const apic_event *c2 = tu_find(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC,
                                 (size_t)(c1 - log.ev) + 1);
  ck_assert_ptr_nonnull(c2);
  ck_assert_uint_eq(c2->a, 11);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14: a level message no local APIC accepts leaves remote
   IRR clear and delivery status idle (lib/ioapic.c: not re-sent in a loop). */
START_TEST(level_without_taker_leaves_remote_irr_clear) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 0, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 0x30));
  pin(s, IO0, 0, 1);
  run_idle(s);
  ck_assert_uint_eq(rte_get(s, IO0, 0) & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_NOTARGET, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, -1), 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* SDM 10.8.4: "Upon acceptance of an interrupt into the IRR, the
   corresponding TMR bit is cleared for edge-triggered interrupts and set for
   level-triggered interrupts. If a TMR bit is set when an EOI cycle for its
   corresponding interrupt vector is generated, an EOI message is sent";
   82093AA 3.2.4 bit 14: remote IRR is set when the local APIC accepts the
   level interrupt. A level message that finds its vector already pending as
   an edge (xAPIC: accepted, merged into the IRR bit) is accepted all the
   same, so the I/O APIC sets remote IRR; the TMR must then say level, or the
   EOI sends no EOI message and the entry stays blocked for ever. */
START_TEST(level_coalesced_into_edge_sets_tmr) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_82093AA);
  rte_set(s, IO0, 2, rte_make(VEC, APIC_DM_FIXED, 0, 1));                 /* edge */
  rte_set(s, IO0, 3, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1));  /* level */
  pin(s, IO0, 2, 1);
  run_idle(s);
  ck_assert(irr_has(s, 1, VEC));
  ck_assert(!tu_vec(lstate(s, 1).tmr, VEC));
  pin(s, IO0, 3, 1);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_COALESCED, 1, VEC), 1);
  ck_assert_uint_eq(rte_get(s, IO0, 3) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  ck_assert(tu_vec(lstate(s, 1).tmr, VEC));
  pin(s, IO0, 3, 0);
  ck_assert_uint_eq(ack(s, 1), VEC);
  tu_wr(s, 1, APIC_REG_EOI, 0);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_EOI_MSG, 1, VEC), 1);
  ck_assert_uint_eq(rte_get(s, IO0, 3) & APIC_RTE_REMOTE_IRR, 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 14 (lib/ioapic.c decision): making the entry edge
   triggered clears a stuck remote IRR. */
START_TEST(switch_to_edge_clears_remote_irr) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_82093AA);
  uint64_t lvl = rte_make(VEC, APIC_DM_FIXED, APIC_RTE_TRIGGER, 1);
  rte_set(s, IO0, 8, lvl);
  pin(s, IO0, 8, 1);
  run_idle(s);
  pin(s, IO0, 8, 0);
  ck_assert_uint_eq(rte_get(s, IO0, 8) & APIC_RTE_REMOTE_IRR, APIC_RTE_REMOTE_IRR);
  rte_set(s, IO0, 8, (lvl & ~APIC_RTE_TRIGGER) | APIC_RTE_MASKED);
  ck_assert_uint_eq(rte_get(s, IO0, 8) & APIC_RTE_REMOTE_IRR, 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_CLR, APIC_NONE, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bit 12 (lib/ioapic.c): an edge while the previous message of
   the pin is still on its way merges with it. */
START_TEST(edge_during_delivery_merges) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 1, rte_make(VEC, APIC_DM_FIXED, 0, 0));
  pin(s, IO0, 1, 1);
  pin(s, IO0, 1, 0);
  pin(s, IO0, 1, 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_PIN, APIC_NONE, -1), 3);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC), 1);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, 0, VEC), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 000: fixed, physical, to exactly the APIC ID. */
START_TEST(fixed_physical_routing) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 12, rte_make(VEC, APIC_DM_FIXED, 0, 3));
  pin(s, IO0, 12, 1);
  run_idle(s);
  for (uint32_t c = 0; c < NCPUS; c++) ck_assert_int_eq(irr_has(s, c, VEC), c == 3);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 000, bit 11 = 1: fixed logical reaches every
   matching APIC (flat model, SDM 10.6.2.2). */
START_TEST(fixed_logical_routing_reaches_all) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  for (uint32_t c = 0; c < NCPUS; c++) tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
  rte_set(s, IO0, 12, rte_make(VEC, APIC_DM_FIXED, APIC_RTE_DESTMODE, 0x0A));
  pin(s, IO0, 12, 1);
  run_idle(s);
  for (uint32_t c = 0; c < NCPUS; c++) ck_assert_int_eq(irr_has(s, c, VEC), c == 1 || c == 3);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 001 + SDM 10.6.2.4: lowest priority goes to the
   one destination with the lowest priority. */
START_TEST(lowest_priority_routing) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  static const uint32_t tpr[NCPUS] = {0x50, 0x40, 0x20, 0x30};
  for (uint32_t c = 0; c < NCPUS; c++) {
    tu_wr(s, c, APIC_REG_LDR, (1u << c) << 24);
    tu_wr(s, c, APIC_REG_TPR, tpr[c]);
  }
  rte_set(s, IO0, 13, rte_make(VEC, APIC_DM_LOWEST, APIC_RTE_DESTMODE, 0x0F));
  pin(s, IO0, 13, 1);
  run_idle(s);
  for (uint32_t c = 0; c < NCPUS; c++) ck_assert_int_eq(irr_has(s, c, VEC), c == 2);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_IRR_SET, APIC_NONE, VEC), 1);
  /* change the priorities: the next edge goes elsewhere */
  tu_wr(s, 2, APIC_REG_SVR, APIC_SVR_ENABLE | APIC_SVR_FOCUS_OFF | 0xFF);
  tu_wr(s, 2, APIC_REG_TPR, 0xF0);
  pin(s, IO0, 13, 0);
  pin(s, IO0, 13, 1);
  run_idle(s);
  ck_assert(irr_has(s, 3, VEC));
  ck_assert(!irr_has(s, 0, VEC) && !irr_has(s, 1, VEC));
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 100 (NMI): taken as NMI; a level NMI entry is
   treated as edge, so remote IRR is never set. */
START_TEST(nmi_entry) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 14, rte_make(0, APIC_DM_NMI, APIC_RTE_TRIGGER, 2));
  pin(s, IO0, 14, 1);
  run_idle(s);
  ck_assert_uint_eq(lstate(s, 2).nmi_pending, 1);
  ck_assert_uint_eq(lstate(s, 1).nmi_pending, 0);
  ck_assert_uint_eq(rte_get(s, IO0, 14) & (APIC_RTE_REMOTE_IRR | APIC_RTE_DS), 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_REMOTE_IRR_SET, APIC_NONE, -1), 0);
  apic_intr_kind k;
  uint8_t v;
  ck_assert_int_eq(apic_sim_pending(s, 2, 0, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NMI);
  ck_assert_uint_eq(v, 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 111 (ExtINT): the vector comes from the 8259A
   stand-in (config.extint_vector), not from the entry. */
START_TEST(extint_entry) {
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.extint_vector = 0x38;
  apic_sim *s = tu_sim(&cfg, NULL);
  tu_enable_all(s);
  rte_set(s, IO0, 0, rte_make(0, APIC_DM_EXTINT, 0, 0));
  pin(s, IO0, 0, 1);
  run_idle(s);
  apic_intr_kind k;
  uint8_t v;
  ck_assert_int_eq(apic_sim_pending(s, 0, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_EXTINT);
  ck_assert_uint_eq(v, 0x38);
  ck_assert_int_eq(apic_sim_pending(s, 0, 0, &k, &v), APIC_OK);  /* maskable: IF=0 */
  ck_assert_int_eq(k, APIC_INTR_NONE);
  ck_assert_int_eq(apic_sim_pending(s, 1, 1, &k, &v), APIC_OK);
  ck_assert_int_eq(k, APIC_INTR_NONE);
  ck_assert_int_eq(apic_sim_ack(s, 0, APIC_INTR_EXTINT, &v), APIC_OK);
  ck_assert_uint_eq(v, 0x38);
  ck_assert_uint_eq(lstate(s, 0).irr[0x38 >> 5], 0);  /* never entered the IRR */
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 010 (SMI) and 101 (INIT). */
START_TEST(smi_and_init_entries) {
  apic_sim *s = machine(NULL, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 15, rte_make(0, APIC_DM_SMI, 0, 1));
  rte_set(s, IO0, 16, rte_make(0, APIC_DM_INIT, 0, 3));
  pin(s, IO0, 15, 1);
  pin(s, IO0, 16, 1);
  run_idle(s);
  ck_assert_uint_eq(lstate(s, 1).smi_pending, 1);
  ck_assert_uint_eq(lstate(s, 3).init_pending, 1);
  ck_assert_uint_eq(lstate(s, 1).init_pending, 0);
  ck_assert_uint_eq(lstate(s, 3).smi_pending, 0);
  apic_sim_destroy(s);
}
END_TEST

/* 82093AA 3.2.4 bits 10:8 = 011 reserved (lib/ioapic.c): sends nothing. */
START_TEST(reserved_delivery_mode_sends_nothing) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  rte_set(s, IO0, 0, rte_make(VEC, 3, 0, 0));
  pin(s, IO0, 0, 1);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 0);
  ck_assert_uint_eq(rte_get(s, IO0, 0) & APIC_RTE_DS, 0);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2: each I/O APIC of the machine has its own registers and pins;
   messages and events carry its index. */
START_TEST(second_ioapic_independent) {
  tu_log log = {0};
  apic_config cfg = base_config(APIC_IOAPIC_VERSION_EOI);
  cfg.nioapics = 2;
  cfg.ioapic_pins[1] = 8;
  cfg.ioapic_version[1] = APIC_IOAPIC_VERSION_82093AA;
  cfg.ioapic_id[1] = 0xC;
  apic_sim *s = tu_sim(&cfg, &log);
  tu_enable_all(s);
  ck_assert_uint_eq(io_rd(s, 1, APIC_IOAPIC_VER), (7u << IOAPIC_VER_MRE_SHIFT) | 0x11u);
  ck_assert_uint_eq(io_rd(s, 1, APIC_IOAPIC_ID), 0xCu << IOAPIC_ID_SHIFT);
  rte_set(s, 1, 3, rte_make(VEC2, APIC_DM_FIXED, 0, 1));
  ck_assert_uint_eq(rte_get(s, 0, 3), APIC_RTE_MASKED);
  pin(s, 0, 3, 1);  /* masked on I/O APIC 0 */
  pin(s, 1, 3, 1);
  run_idle(s);
  ck_assert(irr_has(s, 1, VEC2));
  const apic_event *e = tu_find(&log, APIC_EV_MSG_SEND, APIC_NONE, VEC2, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->src, 1);
  ck_assert_uint_eq(e->flags & APIC_EVF_IOAPIC, APIC_EVF_IOAPIC);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_MSG_SEND, APIC_NONE, -1), 1);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

/* 82093AA 3.2.4: pin level changes are reported (a = pin, b = level). */
START_TEST(pin_events) {
  tu_log log = {0};
  apic_sim *s = machine(&log, APIC_IOAPIC_VERSION_EOI);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 17, 1, 300), APIC_OK);
  ck_assert_int_eq(apic_ioapic_set_pin_at(s, IO0, 17, 0, 700), APIC_OK);
  run_idle(s);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_PIN, APIC_NONE, -1), 2);
  const apic_event *up = tu_find(&log, APIC_EV_PIN, APIC_NONE, -1, 0);
  ck_assert_uint_eq(up->cycle, 300);
  ck_assert_uint_eq(up->a, 17);
  ck_assert_uint_eq(up->b, 1);
  const apic_event *down = tu_find(&log, APIC_EV_PIN, APIC_NONE, -1, (size_t)(up - log.ev) + 1);
  ck_assert_uint_eq(down->cycle, 700);
  ck_assert_uint_eq(down->b, 0);
  /* setting the same level again is no change */
  pin(s, IO0, 17, 0);
  ck_assert_uint_eq(tu_count(&log, APIC_EV_PIN, APIC_NONE, -1), 2);
  apic_sim_destroy(s);
  tu_log_free(&log);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ioapic");
  TCase *regs = tcase_create("registers");
  tcase_add_test(regs, ioregsel_reads_back_bits_7_0);
  tcase_add_test(regs, unknown_direct_offset_is_reg_error);
  tcase_add_test(regs, id_register_bits_27_24_writable);
  tcase_add_loop_test(regs, ver_register_version_and_max_entry, 0,
                      (int)(sizeof ver_cases / sizeof ver_cases[0]));
  tcase_add_test(regs, ver_and_arb_read_only);
  tcase_add_test(regs, id_write_loads_arb);
  tcase_add_test(regs, unimplemented_index_reads_zero);
  tcase_add_test(regs, rte_reset_value);
  tcase_add_test(regs, redtbl_low_high_via_iowin);
  tcase_add_test(regs, rte_read_only_and_reserved_bits);
  tcase_add_test(regs, rte_write_event);
  tcase_add_test(regs, eoir_only_in_version_0x20);
  tcase_add_test(regs, eoir_reads_zero);
  tcase_add_test(regs, bad_ioapic_index);
  tcase_add_test(regs, bad_pin);
  tcase_add_test(regs, set_pin_at_past_is_time_error);
  suite_add_tcase(s, regs);

  TCase *eng = tcase_create("delivery");
  tcase_add_test(eng, edge_sends_on_active_edge_only);
  tcase_add_test(eng, polarity_low_active);
  tcase_add_test(eng, polarity_low_active_level);
  tcase_add_test(eng, masked_edge_lost);
  tcase_add_test(eng, masked_level_held_until_unmask);
  tcase_add_test(eng, level_remote_irr_set_on_acceptance);
  tcase_add_test(eng, level_not_resent_while_remote_irr);
  tcase_add_test(eng, lapic_eoi_clears_remote_irr_and_resends);
  tcase_add_test(eng, eoi_after_deassert_does_not_resend);
  tcase_add_test(eng, eoi_other_vector_keeps_remote_irr);
  tcase_add_test(eng, eoir_write_clears_remote_irr_with_suppressed_broadcast);
  tcase_add_test(eng, first_eoi_clears_remote_irr);
  tcase_add_test(eng, eoi_clears_all_entries_with_vector);
  tcase_add_test(eng, level_without_taker_leaves_remote_irr_clear);
  tcase_add_test(eng, level_coalesced_into_edge_sets_tmr);
  tcase_add_test(eng, switch_to_edge_clears_remote_irr);
  tcase_add_test(eng, edge_during_delivery_merges);
  tcase_add_test(eng, fixed_physical_routing);
  tcase_add_test(eng, fixed_logical_routing_reaches_all);
  tcase_add_test(eng, lowest_priority_routing);
  tcase_add_test(eng, nmi_entry);
  tcase_add_test(eng, extint_entry);
  tcase_add_test(eng, smi_and_init_entries);
  tcase_add_test(eng, reserved_delivery_mode_sends_nothing);
  tcase_add_test(eng, second_ioapic_independent);
  tcase_add_test(eng, pin_events);
  suite_add_tcase(s, eng);

  return tu_run(s);
}
