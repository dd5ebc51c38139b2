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

/* Pages for V's APIC, on APIC virtualization if HW; false if out of
 * memory. */
bool lapic_init(struct vcpu *v, bool hw);
/* Back to the power-up state: an INIT. */
void lapic_reset(struct vcpu *v);
void lapic_destroy(struct vcpu *v);

/* The APIC-write exit: the CPU wrote register OFFSET of the virtual-APIC
 * page (APIC virtualization). */
void lapic_write_exit(struct vcpu *v, unsigned offset);

/* On VM's bus: the APIC page (an access the CPU did not virtualize, or
 * any access in emulated mode), IA32_APIC_BASE and the x2APIC MSRs
 * 0x800-0x8ff. */
bool lapic_attach(struct vm *vm);

/* CR8 (the TPR's priority class) in emulated mode. */
uint64_t lapic_cr8_read(struct vcpu *v);
void lapic_cr8_write(struct vcpu *v, uint64_t val);

/* The timer's deadline, if any, for the preemption timer. */
void lapic_timer_check(struct vcpu *v, uint64_t now);

/* Inject the highest pending interrupt if the guest can take it now, else
 * ask for an interrupt-window exit; while one still waits it asks the run
 * loop again (REQ_EVENT). */
void lapic_deliver(struct vcpu *v);

/* Is an interrupt waiting in V's IRR? */
bool lapic_irr_pending(struct vcpu *v);

/* HLT with interrupts enabled: true if something will wake the guest
 * (the vCPU is put in the HLT state), false if nothing can. */
bool lapic_halt(struct vcpu *v);

#endif
