/* VMX on this machine: reading the capabilities and enabling VMX. */
#ifndef VMX_VMX_H
#define VMX_VMX_H

#include "vmx/caps.h"

extern struct vmx_caps hv_vmx_caps;

/* Read CPUID and the IA32_VMX_* MSRs into hv_vmx_caps; if
 * IA32_FEATURE_CONTROL is unlocked, turn VMX on in it and lock it.
 * Prints the capability report and returns the verdict. */
enum vmx_verdict vmx_probe(void);

#endif
