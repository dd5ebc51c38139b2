/* The one VM entry/exit routine (vmx/hw/entry.S, which says how it works). */
#ifndef VMX_HW_ENTRY_H
#define VMX_HW_ENTRY_H

struct vcpu;

/* Enter the guest whose registers are at V (struct guest_regs first in
 * it) with VMLAUNCH, or VMRESUME once LAUNCHED, and call ON_EXIT(V) on
 * each exit until it returns nonzero: then 0. 1 and 2: the entry failed
 * with VMfailValid, VMfailInvalid. */
int vmx_run(struct vcpu *v, int launched, int (*on_exit)(struct vcpu *));

/* Where every exit lands: HOST_RIP. */
extern char vmx_exit_point[];

#endif
