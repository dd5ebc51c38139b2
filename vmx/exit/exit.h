/*
 * VM exits: one const table indexed by basic exit reason (vmx/exit/exit.c)
 * and its policies, one file each: cpuid, msr, control registers (CR),
 * port IO, MMIO and EPT violations, hypercalls and events. Each handler
 * either lets the guest go on (its instruction completed, or an
 * exception queued) or ends the VM with vm_end; work that must wait for
 * the run loop becomes a request (enum vcpu_request).
 */
#ifndef VMX_EXIT_EXIT_H
#define VMX_EXIT_EXIT_H

#include <stdint.h>

#include "vmx/core/vm.h"
#include "vmx/hw/vmcs.h"

typedef void (*exit_handler)(struct vcpu *v);
extern const exit_handler exit_table[EXIT_REASON_MAX];

/* An exit whose reason has high bits set (a failed VM entry, a pending
 * MTF), out of line. */
void exit_unusual(struct vcpu *v, uint32_t reason);

/*
 * Count and handle the current exit: one VMREAD for the reason, two
 * counters and the ring of recent reasons, one indirect call through the
 * table. A reason with any high bit set fails the bounds check and goes
 * the slow way. Inline: the run loop's on_exit (vmx/vcpu.c) is the whole
 * exit path but the handler.
 */
static inline void exit_handle(struct vcpu *v)
{
	uint32_t reason = vmcs_read32(VM_EXIT_REASON);

	v->last_exit[v->exits++ % LAST_EXITS] = (uint16_t)reason;
	if (__builtin_expect(reason < EXIT_REASON_MAX, 1)) {
		v->exit_count[reason]++;
		exit_table[reason](v);
	} else {
		exit_unusual(v, reason);
	}
}

/* The handlers the table names, by the file that has each. */
/* control.c */
void handle_cr(struct vcpu *v);
/* io.c */
void handle_io(struct vcpu *v);
/* mmio.c */
void handle_ept_violation(struct vcpu *v);
/* vmcall.c */
void handle_vmcall(struct vcpu *v);
/* events.c */
void handle_exception_nmi(struct vcpu *v);
void handle_external_interrupt(struct vcpu *v);
void handle_init(struct vcpu *v);
void handle_sipi(struct vcpu *v);
void handle_preemption_timer(struct vcpu *v);
void handle_apic_write(struct vcpu *v);
void handle_apic_access(struct vcpu *v);
void handle_interrupt_ready(struct vcpu *v);
void handle_nmi_window(struct vcpu *v);


/* End V's VM for an access to guest-physical GPA outside its RAM. */
void end_ept_violation(struct vcpu *v, uint64_t gpa, const char *access);

#endif
