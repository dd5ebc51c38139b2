/*
 * The local APIC of an isolated VM's vCPU, at 0xFEE00000 and (when the
 * guest turns on x2APIC mode) through the x2APIC MSRs. On the CPU's APIC
 * virtualization (SDM vol. 3C, chapter 30), reads of the APIC's registers
 * come from the virtual-APIC page without an exit and writes to EOI, the
 * spurious-vector register, the timer and ICR reach the hypervisor as
 * APIC-write exits after the write; accesses it does not virtualize (the
 * timer's current count) are emulated. Without it (or with apicv=off) the
 * page at 0xFEE00000 is left out of EPT and every access is emulated: the
 * faulting MOV is decoded (vmx/hw/exitinfo.h) and done on the same registers. What is modelled: ID, version, TPR,
 * EOI, SVR, ISR/IRR, LDR/DFR, the LVT timer (one-shot and periodic, on the VMX
 * preemption timer; its clock is the TSC), and IPIs through ICR: fixed
 * and lowest-priority ones to any of the VM's vCPUs, INIT and start-up.
 * Interrupts are injected when the guest can take them, else an
 * interrupt-window exit is asked for.
 */
#ifndef VMX_DEV_LAPIC_H
#define VMX_DEV_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "arch-x86/apic.h"
#include "vmx/core/vm.h"

/* Pages for V's APIC, on APIC virtualization if HW, and its operations
 * table (struct lapic_ops, vmx/core/vm.h) for that mode; false if out of
 * memory. */
bool lapic_init(struct vcpu *v, bool hw);
void lapic_destroy(struct vcpu *v);

/* On VM's bus: the APIC page (an access the CPU did not virtualize, or
 * any access in emulated mode), IA32_APIC_BASE and the x2APIC MSRs
 * 0x800-0x8ff. */
bool lapic_attach(struct vm *vm);

#endif
