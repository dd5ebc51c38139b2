/*
 * The local APIC's architectural layout, for the hypervisor's own APIC
 * (arch-x86/percpu/smp.c, hoststate.c) and the ones it emulates or filters for
 * guests (vmx/dev/lapic.c, vmx/load/passthrough.c, vmx/dev/pt/ptpolicy.c): where it is
 * after reset, its registers by xAPIC MMIO offset (the x2APIC MSR is
 * 0x800 + offset / 16), and the fields of the interrupt command register.
 * Its MSR, IA32_APIC_BASE, is in arch-x86/msr.h.
 */
#ifndef ARCH_X86_APIC_H
#define ARCH_X86_APIC_H

#include <stdint.h>

/* The APIC page after reset (SDM vol. 3A, 11.4.1). */
#define APIC_DEFAULT_BASE 0xfee00000ull

/* Register offsets (table 11-1). */
enum {
	APIC_ID = 0x20,
	APIC_VERSION = 0x30,
	APIC_TPR = 0x80,
	APIC_EOI = 0xb0,
	APIC_LDR = 0xd0,
	APIC_DFR = 0xe0,
	APIC_SVR = 0xf0,
	APIC_ISR = 0x100, /* 8 registers, 0x10 apart; so are TMR and IRR */
	APIC_IRR = 0x200,
	APIC_ICR_LOW = 0x300,
	APIC_ICR_HIGH = 0x310,
	APIC_LVT_TIMER = 0x320,
	APIC_LVT_LINT0 = 0x350,
	APIC_LVT_LINT1 = 0x360,
	APIC_LVT_ERROR = 0x370,
	APIC_TIMER_INITIAL = 0x380,
	APIC_TIMER_CURRENT = 0x390,
	APIC_TIMER_DIVIDE = 0x3e0,
	APIC_SELF_IPI = 0x3f0, /* x2APIC only */
};

#define SVR_ENABLED (1u << 8) /* the APIC is software-enabled (11.4.7.1) */
#define LVT_MASKED (1u << 16)

/* The low word of the interrupt command register (11.6.1): the vector in
 * bits 7:0, the delivery mode in 10:8, logical destination mode in bit
 * 11, delivery status in 12, level assert in 14, the destination
 * shorthand in 19:18. The hypervisor's own IPIs, and the guests' it reads
 * (vmx/dev/lapic.c, vmx/load/passthrough.c), use these. */
enum { ICR_MODE_FIXED = 0, ICR_MODE_LOWEST = 1, ICR_MODE_NMI = 4, ICR_MODE_INIT = 5, ICR_MODE_SIPI = 6 };
enum { ICR_SELF = 1, ICR_ALL = 2, ICR_ALL_BUT_SELF = 3 }; /* 0: the destination field */
#define ICR_LOGICAL (1u << 11)
#define ICR_PENDING (1u << 12)
#define ICR_LEVEL_ASSERT (1u << 14)
static inline unsigned icr_mode(uint32_t low) { return (low >> 8) & 7; }
static inline unsigned icr_shorthand(uint32_t low) { return (low >> 18) & 3; }

#define ICR_FIXED (ICR_LEVEL_ASSERT | ICR_MODE_FIXED << 8)   /* | vector */
#define ICR_INIT (ICR_LEVEL_ASSERT | ICR_MODE_INIT << 8)
#define ICR_STARTUP (ICR_LEVEL_ASSERT | ICR_MODE_SIPI << 8) /* | vector: the page number of the start */

#endif
