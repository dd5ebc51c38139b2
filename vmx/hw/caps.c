#include "vmx/hw/caps.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"

enum vmx_verdict vmx_verdict(const struct vmx_caps *c)
{
	if (!c->vmx)
		return VMX_ABSENT;
	/* With the lock bit set, VMXON outside SMX raises #GP unless bit 2
	 * is set too (SDM vol. 3C, 24.7 "Enabling and entering VMX"). */
	if ((c->feature_control & FEATURE_CONTROL_LOCK) && !(c->feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX))
		return VMX_DISABLED_BY_FIRMWARE;
	if (!cpu_has_ept(c))
		return VMX_NO_EPT;
	if (!(c->ept_vpid & EPT_CAP_WALK4) || !(c->ept_vpid & EPT_CAP_WB))
		return VMX_NO_EPT_WALK;
	if (!cpu_has_unrestricted_guest(c))
		return VMX_NO_UNRESTRICTED_GUEST;
	return VMX_USABLE;
}

const char *vmx_verdict_text(enum vmx_verdict v)
{
	switch (v) {
	case VMX_USABLE:
		return "VMX usable";
	case VMX_ABSENT:
		return "no VMX: this CPU does not offer Intel VT-x (CPUID.1:ECX.VMX = 0). Run on an Intel CPU with VT-x; "
		       "under KVM/QEMU use -enable-kvm -cpu host,+vmx with nested=1 set for kvm_intel";
	case VMX_DISABLED_BY_FIRMWARE:
		return "VMX disabled by firmware: IA32_FEATURE_CONTROL is locked with VMX off. Enable \"Intel "
		       "Virtualization Technology\" (VT-x) in the BIOS/UEFI setup, then power-cycle and boot again";
	case VMX_NO_EPT:
		return "VMX feature missing: EPT (extended page tables), which holds every guest's memory. Use a CPU "
		       "from Nehalem (2008) on; under KVM/QEMU enable ept=1 for kvm_intel";
	case VMX_NO_EPT_WALK:
		return "VMX feature missing: EPT with a 4-level walk and write-back paging structures "
		       "(IA32_VMX_EPT_VPID_CAP bits 6 and 14)";
	case VMX_NO_UNRESTRICTED_GUEST:
		return "VMX feature missing: unrestricted guest, needed to run real-mode and unpaged guests. Use a CPU "
		       "from Westmere (2010) on; under KVM/QEMU enable unrestricted_guest=1 for kvm_intel";
	}
	return "?";
}

bool vmx_adjust_controls(uint64_t cap, uint32_t required, uint32_t optional, uint32_t *out, uint32_t *missing)
{
	uint32_t must_be_1 = (uint32_t)cap, may_be_1 = (uint32_t)(cap >> 32);

	*missing = required & ~may_be_1;
	*out = ((required | optional) & may_be_1) | must_be_1;
	return *missing == 0;
}

bool xcr0_valid(uint64_t val, uint64_t supported)
{
	if (!(val & XCR0_X87) || (val & ~supported))
		return false;
	if ((val & XCR0_AVX) && !(val & XCR0_SSE))
		return false;
	if ((val & XCR0_AVX512) && ((val & XCR0_AVX512) != XCR0_AVX512 || !(val & XCR0_AVX)))
		return false;
	if ((val & XCR0_MPX) && (val & XCR0_MPX) != XCR0_MPX)
		return false;
	return !(val & XCR0_AMX) || (val & XCR0_AMX) == XCR0_AMX;
}
