/*
 * Starting the other CPUs (SDM vol. 3A, 9.4): every enabled local APIC in
 * the MADT but the boot CPU's gets INIT, then two start-up IPIs that point
 * it at the trampoline (arch-x86/trampoline.S). Each AP sets up its own
 * struct cpu, GDT, TSS and IDT, then runs MAIN(cpu), which must not
 * return; once MAIN has marked the CPU online the next AP starts. A CPU
 * that does not come online within 100 ms is reported and left out.
 */
#ifndef ARCH_X86_SMP_H
#define ARCH_X86_SMP_H

#include "arch-x86/percpu.h"

/* Start the APs through the page of RAM at LOW_PAGE (below 1 MiB, free
 * for the start-up code while this runs); returns how many CPUs are
 * online, the boot CPU included. Each AP runs MAIN on its own stack, its
 * per-CPU data entered; MAIN loads its GDT and IDT and sets C->online. */
unsigned smp_start(uint64_t low_page, void (*main)(struct cpu *c));

/* The low word of the interrupt command register (SDM vol. 3A, 11.6.1):
 * the vector in bits 7:0, the delivery mode in 10:8, logical destination
 * mode in bit 11, delivery status in 12, level assert in 14, the
 * destination shorthand in 19:18. The hypervisor's own IPIs, and the
 * guests' it reads (vmx/lapic.c, vmx/passthrough.c), use these. */
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

/* IPIs through this CPU's local APIC, in xAPIC or x2APIC mode, whichever
 * is on (a passthrough OS may have switched it). */
void apic_send(uint32_t apic_id, uint32_t icr);
/* The local APIC register at OFFSET (its xAPIC MMIO offset): the MMIO
 * page in xAPIC mode, MSR 0x800 + OFFSET/16 in x2APIC mode (SDM vol. 3A,
 * 11.12.1.2), whichever is on. In x2APIC mode a register the APIC does
 * not have faults (the caller knows it has it). */
void apic_write(unsigned offset, uint32_t value);
uint32_t apic_read(unsigned offset);
/* End of interrupt for the vector in service. */
void apic_eoi(void);
/* Software-enable this CPU's local APIC, all priorities accepted: a
 * disabled one takes INIT, NMI and start-up IPIs only (SDM vol. 3A,
 * 11.4.7.2), and the hypervisor's own signal is a fixed interrupt. */
void apic_enable(void);

/* The vector the hypervisor signals another CPU with (vm_kick): an
 * isolated guest exits on it; one that reaches the hypervisor with
 * interrupts on is just acknowledged. */
#define KICK_VECTOR 0xf2

/* Stop this CPU for good (interrupts off, HLT). */
__attribute__((noreturn)) void cpu_park(void);

/* After a hypervisor exception: stop every other CPU with an NMI, so none
 * goes on running VMs on a hypervisor whose state may be broken. Returns
 * how many stopped within 10 ms. */
unsigned smp_stop_others(void);

/* Is a stop under way? An NMI handler (or an NMI exit) that sees it
 * calls smp_stop_self. */
bool smp_stopping(void);
__attribute__((noreturn)) void smp_stop_self(void);

#endif
