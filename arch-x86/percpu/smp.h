/*
 * Starting the other CPUs (SDM vol. 3A, 9.4): every enabled local APIC in
 * the MADT but the boot CPU's gets INIT, then two start-up IPIs that point
 * it at the trampoline (arch-x86/percpu/trampoline.S). Each AP sets up its own
 * struct cpu, GDT, TSS and IDT, then runs MAIN(cpu), which must not
 * return; once MAIN has marked the CPU online the next AP starts. A CPU
 * that does not come online within 100 ms is reported and left out.
 */
#ifndef ARCH_X86_SMP_H
#define ARCH_X86_SMP_H

#include "arch-x86/apic.h"
#include "arch-x86/percpu/percpu.h"

/* Start the APs through the page of RAM at LOW_PAGE (below 1 MiB, free
 * for the start-up code while this runs); returns how many CPUs are
 * online, the boot CPU included. Each AP runs MAIN on its own stack, its
 * per-CPU data entered; MAIN loads its GDT and IDT and sets C->online. */
unsigned smp_start(uint64_t low_page, void (*main)(struct cpu *c));


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
