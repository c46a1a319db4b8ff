/*
 * apicsim/regs.h - register offsets and bit fields of the local APIC and the
 * 82093AA I/O APIC, spelled as in the Intel SDM Vol. 3A chapter "Advanced
 * Programmable Interrupt Controller" and the 82093AA datasheet.
 *
 * Section numbers in this project follow the SDM Vol. 3A editions in which
 * the APIC chapter is chapter 10 (editions since 2022 call it chapter 11;
 * the subsection numbers are the same).
 *
 * Local APIC register page (xAPIC MMIO offsets; x2APIC MSR = 0x800 + off/16):
 *
 *   0x020 ID        0x030 VER       0x080 TPR       0x090 APR
 *   0x0A0 PPR       0x0B0 EOI       0x0C0 RRD       0x0D0 LDR
 *   0x0E0 DFR       0x0F0 SVR       0x100 ISR0..7   0x180 TMR0..7
 *   0x200 IRR0..7   0x280 ESR       0x2F0 LVT_CMCI  0x300 ICR_LO
 *   0x310 ICR_HI    0x320 LVT_TIMER 0x330 LVT_THERMAL 0x340 LVT_PERF
 *   0x350 LVT_LINT0 0x360 LVT_LINT1 0x370 LVT_ERROR 0x380 TIMER_ICR
 *   0x390 TIMER_CCR 0x3E0 TIMER_DCR 0x3F0 SELF_IPI (x2APIC only)
 */
#ifndef APICSIM_REGS_H
#define APICSIM_REGS_H

/* ---- Local APIC register offsets (SDM Table 10-1) ---- */
#define APIC_REG_ID          0x020u
#define APIC_REG_VER         0x030u
#define APIC_REG_TPR         0x080u
#define APIC_REG_APR         0x090u
#define APIC_REG_PPR         0x0A0u
#define APIC_REG_EOI         0x0B0u
#define APIC_REG_RRD         0x0C0u
#define APIC_REG_LDR         0x0D0u
#define APIC_REG_DFR         0x0E0u
#define APIC_REG_SVR         0x0F0u
#define APIC_REG_ISR0        0x100u
#define APIC_REG_TMR0        0x180u
#define APIC_REG_IRR0        0x200u
#define APIC_REG_ESR         0x280u
#define APIC_REG_LVT_CMCI    0x2F0u
#define APIC_REG_ICR_LO      0x300u
#define APIC_REG_ICR_HI      0x310u
#define APIC_REG_LVT_TIMER   0x320u
#define APIC_REG_LVT_THERMAL 0x330u
#define APIC_REG_LVT_PERF    0x340u
#define APIC_REG_LVT_LINT0   0x350u
#define APIC_REG_LVT_LINT1   0x360u
#define APIC_REG_LVT_ERROR   0x370u
#define APIC_REG_TIMER_ICR   0x380u
#define APIC_REG_TIMER_CCR   0x390u
#define APIC_REG_TIMER_DCR   0x3E0u
#define APIC_REG_SELF_IPI    0x3F0u
#define APIC_REG_STRIDE      0x10u     /* registers sit on 16-byte boundaries */
#define APIC_REG_PAGE        0x1000u   /* size of the xAPIC register page */

/* ---- MSRs (SDM 10.4.4, 10.12.1.2, 10.5.4.1) ---- */
#define APIC_MSR_APIC_BASE     0x01Bu  /* IA32_APIC_BASE */
#define APIC_MSR_TSC_DEADLINE  0x6E0u  /* IA32_TSC_DEADLINE */
#define APIC_MSR_X2APIC_BASE   0x800u  /* x2APIC MSR = base + offset / 16 */
#define APIC_MSR_X2APIC_LAST   0x8FFu
#define APIC_MSR_X2APIC(off)   (APIC_MSR_X2APIC_BASE + ((off) >> 4))

/* IA32_APIC_BASE fields (SDM Figure 10-5, 10.12.1) */
#define APIC_BASE_BSP        (1u << 8)
#define APIC_BASE_EXTD       (1u << 10) /* x2APIC mode */
#define APIC_BASE_EN         (1u << 11) /* global enable */
#define APIC_BASE_ADDR_DEFAULT 0xFEE00000u

/* ---- Delivery modes (ICR, LVT, redirection entry; SDM 10.6.1) ---- */
#define APIC_DM_FIXED    0u
#define APIC_DM_LOWEST   1u
#define APIC_DM_SMI      2u
#define APIC_DM_NMI      4u
#define APIC_DM_INIT     5u
#define APIC_DM_STARTUP  6u
#define APIC_DM_EXTINT   7u

/* ---- Interrupt Command Register (SDM Figure 10-12) ---- */
#define APIC_ICR_VECTOR_MASK  0xFFu
#define APIC_ICR_DM_SHIFT     8
#define APIC_ICR_DM_MASK      (7u << 8)
#define APIC_ICR_DESTMODE     (1u << 11)   /* 1 = logical */
#define APIC_ICR_DS           (1u << 12)   /* delivery status: send pending */
#define APIC_ICR_LEVEL        (1u << 14)   /* 1 = assert */
#define APIC_ICR_TRIGGER      (1u << 15)   /* 1 = level */
#define APIC_ICR_SH_SHIFT     18
#define APIC_ICR_SH_MASK      (3u << 18)
#define APIC_SH_NONE          0u
#define APIC_SH_SELF          1u
#define APIC_SH_ALL           2u           /* all including self */
#define APIC_SH_OTHERS        3u           /* all excluding self */
#define APIC_ICR_DEST_SHIFT   24           /* xAPIC ICR_HI bits 31:24 */
#define APIC_ICR_LO(vec, dm, flags) \
  ((uint32_t)(vec) | ((uint32_t)(dm) << APIC_ICR_DM_SHIFT) | (flags))
#define APIC_ICR_SH(sh)       ((uint32_t)(sh) << APIC_ICR_SH_SHIFT)

/* ---- Local vector table entries (SDM Figure 10-8) ---- */
#define APIC_LVT_VECTOR_MASK  0xFFu
#define APIC_LVT_DM_SHIFT     8
#define APIC_LVT_DM_MASK      (7u << 8)
#define APIC_LVT_DS           (1u << 12)
#define APIC_LVT_POLARITY     (1u << 13)   /* LINT0/1: 1 = active low */
#define APIC_LVT_REMOTE_IRR   (1u << 14)   /* LINT0/1, read only */
#define APIC_LVT_TRIGGER      (1u << 15)   /* LINT0/1: 1 = level */
#define APIC_LVT_MASKED       (1u << 16)
#define APIC_LVT_TIMER_SHIFT  17
#define APIC_LVT_TIMER_MASK   (3u << 17)
#define APIC_TIMER_ONESHOT    0u
#define APIC_TIMER_PERIODIC   1u
#define APIC_TIMER_TSCDEADLINE 2u

/* ---- Spurious-interrupt vector register (SDM Figure 10-23) ---- */
#define APIC_SVR_VECTOR_MASK  0xFFu
#define APIC_SVR_ENABLE       (1u << 8)    /* APIC software enable */
#define APIC_SVR_FOCUS_OFF    (1u << 9)    /* focus processor checking disabled */
#define APIC_SVR_EOI_SUPPRESS (1u << 12)   /* suppress EOI broadcast */

/* ---- Version register (SDM Figure 10-7) ---- */
#define APIC_VER_MAXLVT_SHIFT 16
#define APIC_VER_EOI_SUPPRESS (1u << 24)

/* ---- Destination format (SDM 10.6.2.2) ---- */
#define APIC_DFR_FLAT         0xFFFFFFFFu
#define APIC_DFR_CLUSTER      0x0FFFFFFFu
#define APIC_DFR_MODEL_SHIFT  28

/* ---- Error status register bits (SDM Figure 10-9) ---- */
#define APIC_ESR_SEND_CS      (1u << 0)    /* P6/Pentium only */
#define APIC_ESR_RECV_CS      (1u << 1)    /* P6/Pentium only */
#define APIC_ESR_SEND_ACCEPT  (1u << 2)    /* P6/Pentium only */
#define APIC_ESR_RECV_ACCEPT  (1u << 3)    /* P6/Pentium only */
#define APIC_ESR_REDIR_IPI    (1u << 4)
#define APIC_ESR_SEND_ILLEGAL (1u << 5)
#define APIC_ESR_RECV_ILLEGAL (1u << 6)
#define APIC_ESR_ILLEGAL_REG  (1u << 7)

/* ---- Divide configuration (SDM Figure 10-10): bits 0, 1 and 3 ---- */
#define APIC_DCR_MASK         0xBu

/* ---- I/O APIC (82093AA datasheet, section 3) ---- */
#define APIC_IOAPIC_IOREGSEL  0x00u   /* direct registers (byte offsets) */
#define APIC_IOAPIC_IOWIN     0x10u
#define APIC_IOAPIC_EOIR      0x40u   /* only in version 0x20 */
#define APIC_IOAPIC_ID        0x00u   /* indirect registers (IOREGSEL) */
#define APIC_IOAPIC_VER       0x01u
#define APIC_IOAPIC_ARB       0x02u
#define APIC_IOAPIC_REDTBL    0x10u   /* entry n: 0x10+2n (low), 0x11+2n (high) */
#define APIC_IOAPIC_VERSION_82093AA 0x11u
#define APIC_IOAPIC_VERSION_EOI     0x20u

/* Redirection entry fields (82093AA section 3.2.4) */
#define APIC_RTE_VECTOR_MASK  0xFFull
#define APIC_RTE_DM_SHIFT     8
#define APIC_RTE_DM_MASK      (7ull << 8)
#define APIC_RTE_DESTMODE     (1ull << 11)
#define APIC_RTE_DS           (1ull << 12)   /* read only */
#define APIC_RTE_POLARITY     (1ull << 13)   /* 1 = active low */
#define APIC_RTE_REMOTE_IRR   (1ull << 14)   /* read only */
#define APIC_RTE_TRIGGER      (1ull << 15)   /* 1 = level */
#define APIC_RTE_MASKED       (1ull << 16)
#define APIC_RTE_DEST_SHIFT   56

#endif
