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
 * online, the boot CPU included. */
unsigned smp_start(uint64_t low_page, void (*main)(struct cpu *c));

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
