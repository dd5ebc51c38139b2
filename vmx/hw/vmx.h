/* VMX on this machine: reading the capabilities and enabling VMX. */
#ifndef VMX_VMX_H
#define VMX_VMX_H

#include "vmx/hw/caps.h"

extern struct vmx_caps hv_vmx_caps;

/* The control words every VMCS starts from, computed once at boot from
 * the capability MSRs, and the features they turned on. */
struct vmx_config {
	uint32_t pin, proc, proc2, exit, entry;
	uint32_t pin_passthrough, proc_passthrough; /* for the machine's own OS */
	bool apicv;			/* APIC virtualization for isolated VMs */
	uint32_t proc_apicv, proc2_apicv; /* the controls with it */
	unsigned ept_max_leaf; /* 3: 1 GiB pages, 2: 2 MiB, 1: 4 KiB only */
	bool vpid, preemption_timer;
	bool virtual_nmis; /* virtual NMIs and NMI-window exiting: the passthrough OS's NMIs go through the hypervisor */
	bool xsave;	       /* host CR4.OSXSAVE set: guests' XCR0 can be loaded */
	uint64_t xcr0_supported; /* XCR0 bits guests may set (known and on this CPU) */
	uint32_t xsave_size;	 /* XSAVE area for all of them */
	uint32_t preemption_slice; /* timer value: about 100 ms between time-limit checks */
};
extern struct vmx_config hv_vmx;

/* Compute hv_vmx; false (after naming each required control the CPU
 * lacks) when a VMCS cannot be set up. */
bool vmx_configure(void);

/* Enter VMX root operation on this CPU (CR0/CR4 fixed bits, VMXON region
 * with the revision id, VMXON). False after logging why. */
bool vmx_on(void);

/* On an AP: FEATURE_CONTROL as on the boot CPU, then VMXON with a region of
 * its own. */
bool vmx_ap_on(void);

/* Read CPUID and the IA32_VMX_* MSRs into hv_vmx_caps; if
 * IA32_FEATURE_CONTROL is unlocked, turn VMX on in it and lock it.
 * Prints the capability report and returns the verdict. */
enum vmx_verdict vmx_probe(void);

#endif
