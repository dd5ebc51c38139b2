#include "vmx/vmx.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "drivers/console.h"

struct vmx_caps hv_vmx_caps;

static const char *yn(bool b)
{
	return b ? "yes" : "no";
}

/* Take FEATURE_CONTROL as firmware left it; if unlocked, set "VMX outside
 * SMX" and lock it, as firmware normally does (SDM vol. 3C, 24.7). */
static uint64_t feature_control_enable(void)
{
	uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);

	if (fc & FEATURE_CONTROL_LOCK) {
		log_info("IA32_FEATURE_CONTROL %#llx: locked by firmware, VMX outside SMX %s", (unsigned long long)fc,
			 fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX ? "on" : "off");
		return fc;
	}
	uint64_t v = fc | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK;
	wrmsr(MSR_IA32_FEATURE_CONTROL, v);
	v = rdmsr(MSR_IA32_FEATURE_CONTROL);
	log_info("IA32_FEATURE_CONTROL %#llx was unlocked: enabled VMX outside SMX and locked it (now %#llx)",
		 (unsigned long long)fc, (unsigned long long)v);
	return v;
}

static void read_caps(struct vmx_caps *c)
{
	c->basic = rdmsr(MSR_IA32_VMX_BASIC);
	bool t = c->basic & VMX_BASIC_TRUE_CTLS;
	/* The TRUE_ MSRs report the default1 controls that may be 0 (A.2). */
	c->pin = rdmsr(t ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
	c->proc = rdmsr(t ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS);
	c->exit = rdmsr(t ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS);
	c->entry = rdmsr(t ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS);
	c->misc = rdmsr(MSR_IA32_VMX_MISC);
	c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	/* These exist only when the controls that use them can be set (A.3.3,
	 * A.10, A.11); reading them otherwise raises #GP. */
	if (cpu_has_secondary(c)) {
		c->proc2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
		if (ctl_allowed1(c->proc2, PROC2_EPT) || ctl_allowed1(c->proc2, PROC2_VPID))
			c->ept_vpid = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
		if (ctl_allowed1(c->proc2, 1u << 13)) /* enable VM functions */
			c->vmfunc = rdmsr(MSR_IA32_VMX_VMFUNC);
	}
}

enum vmx_verdict vmx_probe(void)
{
	struct vmx_caps *c = &hv_vmx_caps;

	c->vmx = cpuid(1, 0).ecx & (1u << 5);
	if (!c->vmx) {
		log_info("VMX: not present (CPUID.1:ECX.VMX = 0)");
		return vmx_verdict(c);
	}
	c->feature_control = feature_control_enable();
	read_caps(c);

	log_info("VMX: revision %#x, VMCS region %u bytes, true controls %s, INS/OUTS info %s",
		 VMX_BASIC_REVISION(c->basic), VMX_BASIC_REGION_SIZE(c->basic), yn(cpu_has_true_ctls(c)),
		 yn(c->basic & VMX_BASIC_INOUT));
	log_info("VMX: EPT %s (4-level walk %s, WB %s, 2M pages %s, 1G pages %s, A/D bits %s), unrestricted guest %s",
		 yn(cpu_has_ept(c)), yn(c->ept_vpid & EPT_CAP_WALK4), yn(c->ept_vpid & EPT_CAP_WB),
		 yn(cpu_has_ept_2m(c)), yn(cpu_has_ept_1g(c)), yn(cpu_has_ept_ad(c)), yn(cpu_has_unrestricted_guest(c)));
	if (cpu_has_preemption_timer(c))
		log_info("VMX: VPID %s, preemption timer yes (1 tick per 2^%u TSC ticks)", yn(cpu_has_vpid(c)),
			 vmx_preemption_timer_rate(c));
	else
		log_info("VMX: VPID %s, preemption timer no", yn(cpu_has_vpid(c)));
	log_debug("VMX MSRs: basic %#llx pin %#llx proc %#llx proc2 %#llx exit %#llx entry %#llx misc %#llx "
		  "ept/vpid %#llx",
		  (unsigned long long)c->basic, (unsigned long long)c->pin, (unsigned long long)c->proc,
		  (unsigned long long)c->proc2, (unsigned long long)c->exit, (unsigned long long)c->entry,
		  (unsigned long long)c->misc, (unsigned long long)c->ept_vpid);
	return vmx_verdict(c);
}
