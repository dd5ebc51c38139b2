/* The one VM entry/exit routine (vmx/hw/entry.S, which says how it works). */
#ifndef VMX_HW_ENTRY_H
#define VMX_HW_ENTRY_H

struct vcpu;

/* Enter the guest whose registers are at V (struct guest_regs first in
 * it, the request word after them) with VMLAUNCH, or VMRESUME once
 * LAUNCHED; on each exit call ON_EXIT(V), then, if V's request word or
 * this CPU's attention word is set, ON_PENDING(V), until that returns
 * nonzero: then 0. 1 and 2: the entry failed with VMfailValid,
 * VMfailInvalid. */
int vmx_run(struct vcpu *v, int launched, void (*on_exit)(struct vcpu *), int (*on_pending)(struct vcpu *));

/* Where every exit lands: HOST_RIP. */
extern char vmx_exit_point[];

#endif
