#include "vmx/hw/vmx.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/string.h"
#include "arch-x86/vmx_ops.h"
#include "drivers/console.h"
#include "arch-x86/tsc.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "vmx/hw/vmcs.h"

struct vmx_caps hv_vmx_caps;
struct vmx_config hv_vmx;

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
	log_debug("VMX MSRs: CR0 fixed0 %#llx fixed1 %#llx, CR4 fixed0 %#llx fixed1 %#llx",
		  (unsigned long long)c->cr0_fixed0, (unsigned long long)c->cr0_fixed1,
		  (unsigned long long)c->cr4_fixed0, (unsigned long long)c->cr4_fixed1);
	return vmx_verdict(c);
}

/* Names of the controls the hypervisor requires, for the error line. */
static const struct {
	const char *word;
	uint32_t bit;
	const char *name;
} control_names[] = {
	{ "pin-based", PIN_EXTERNAL_INTERRUPT_EXITING, "external-interrupt exiting" },
	{ "pin-based", PIN_NMI_EXITING, "NMI exiting" },
	{ "primary", PROC_HLT_EXITING, "HLT exiting" },
	{ "primary", PROC_USE_IO_BITMAPS, "use I/O bitmaps" },
	{ "primary", PROC_USE_MSR_BITMAPS, "use MSR bitmaps" },
	{ "primary", PROC_ACTIVATE_SECONDARY, "activate secondary controls" },
	{ "secondary", PROC2_EPT, "enable EPT" },
	{ "secondary", PROC2_UNRESTRICTED_GUEST, "unrestricted guest" },
	{ "exit", EXIT_HOST_ADDRESS_SPACE_SIZE, "host address-space size" },
	{ "exit", EXIT_SAVE_IA32_EFER, "save IA32_EFER" },
	{ "exit", EXIT_LOAD_IA32_EFER, "load IA32_EFER" },
	{ "exit", EXIT_SAVE_IA32_PAT, "save IA32_PAT" },
	{ "exit", EXIT_LOAD_IA32_PAT, "load IA32_PAT" },
	{ "entry", ENTRY_LOAD_IA32_EFER, "load IA32_EFER" },
	{ "entry", ENTRY_LOAD_IA32_PAT, "load IA32_PAT" },
};

static bool adjust(const char *word, uint64_t cap, uint32_t required, uint32_t optional, uint32_t *out)
{
	uint32_t missing;

	if (vmx_adjust_controls(cap, required, optional, out, &missing))
		return true;
	for (unsigned i = 0; i < sizeof(control_names) / sizeof(control_names[0]); i++)
		if (!strcmp(control_names[i].word, word) && (missing & control_names[i].bit))
			log_err("VMX feature missing: required %s VM-execution control '%s' (bit %u) cannot be set",
				word, control_names[i].name, __builtin_ctz(control_names[i].bit));
	return false;
}

bool vmx_configure(void)
{
	const struct vmx_caps *c = &hv_vmx_caps;
	struct vmx_config *x = &hv_vmx;
	bool ok = true;

	ok &= adjust("pin-based", c->pin, PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING,
		     PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER, &x->pin);
	/* CR3 load/store exiting are default-1 in the non-TRUE MSR; with
	 * the TRUE MSRs (basic bit 55) they can be cleared, and the exit
	 * handler copes with them either way. */
	ok &= adjust("primary", c->proc,
		     PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY,
		     PROC_USE_TSC_OFFSETTING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_RDPMC_EXITING |
			     PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING,
		     &x->proc);
	ok &= adjust("secondary", c->proc2, PROC2_EPT | PROC2_UNRESTRICTED_GUEST,
		     PROC2_VPID | PROC2_RDTSCP | PROC2_INVPCID | PROC2_XSAVES | PROC2_WBINVD_EXITING, &x->proc2);
	ok &= adjust("exit", c->exit,
		     EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER | EXIT_SAVE_IA32_PAT |
			     EXIT_LOAD_IA32_PAT,
		     EXIT_ACK_INTERRUPT_ON_EXIT | EXIT_SAVE_PREEMPTION_TIMER, &x->exit);
	ok &= adjust("entry", c->entry, ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT, 0, &x->entry);
	if (!ok)
		return false;

	/* The preemption timer is only useful if its value survives exits. */
	x->preemption_timer = (x->pin & PIN_PREEMPTION_TIMER) && (x->exit & EXIT_SAVE_PREEMPTION_TIMER);
	if (!x->preemption_timer) {
		x->pin &= ~PIN_PREEMPTION_TIMER;
		x->exit &= ~EXIT_SAVE_PREEMPTION_TIMER;
	}
	if (x->preemption_timer) {
		/* The timer counts TSC ticks >> rate (A.6). */
		uint64_t slice = (tsc_hz / 10) >> vmx_preemption_timer_rate(c);
		x->preemption_slice = slice > 0xffffffffull ? 0xffffffffu : slice ? (uint32_t)slice : 1;
	}
	x->vpid = x->proc2 & PROC2_VPID;
	/* A virtual local APIC for isolated VMs: TPR shadow (which owns CR8),
	 * virtualized APIC accesses and registers (SDM vol. 3C, 30.1). */
	uint32_t apicv_proc2 = PROC2_VIRTUALIZE_APIC_ACCESSES | PROC2_APIC_REGISTER_VIRT;
	x->apicv = ctl_allowed1(c->proc, PROC_USE_TPR_SHADOW) && (c->proc2 >> 32 & apicv_proc2) == apicv_proc2 &&
		   !((uint32_t)c->proc & (PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING));
	x->proc_apicv = (x->proc | PROC_USE_TPR_SHADOW) & ~(PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
	x->proc2_apicv = x->proc2 | apicv_proc2;
	/* The passthrough OS: no external-interrupt, HLT or CR8 exits, where
	 * the CPU lets these be 0 (allowed-0 settings, A.3). Its NMIs exit,
	 * with virtual NMIs, so that the hypervisor injects each only when
	 * the OS can take it, as it does one that reached the hypervisor:
	 * NMI-window exiting (which needs virtual NMIs, which need NMI
	 * exiting: SDM vol. 3C, 27.2.1.1) says when. Without them the OS
	 * takes its NMIs directly, and one the hypervisor took waits for an
	 * interrupt window or the next exit (vcpu.c, pass_nmi). */
	x->virtual_nmis = (x->pin & PIN_VIRTUAL_NMIS) && ctl_allowed1(c->proc, PROC_NMI_WINDOW_EXITING);
	x->pin_passthrough =
		(x->pin & ~(PIN_EXTERNAL_INTERRUPT_EXITING |
			    (x->virtual_nmis ? 0 : PIN_NMI_EXITING | PIN_VIRTUAL_NMIS))) |
		(uint32_t)c->pin;
	if (!x->virtual_nmis)
		log_info("VMX: no virtual NMIs or NMI-window exiting: the machine's OS takes its NMIs directly; one "
			 "that reaches the hypervisor waits for an interrupt window or the next exit");
	x->proc_passthrough = (x->proc & ~(PROC_HLT_EXITING | PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING)) |
			      (uint32_t)c->proc;
	x->ept_max_leaf = cpu_has_ept_1g(c) ? 3 : cpu_has_ept_2m(c) ? 2 : 1;
	return true;
}


bool vmx_on(void)
{
	const struct vmx_caps *c = &hv_vmx_caps;

	/* XSAVE on the host lets the hypervisor load each guest's XCR0
	 * (CPUID.1:ECX.XSAVE[26]); the host itself never uses SSE/AVX. */
	/* OSFXSR so FXRSTOR also resets the XMM registers between VMs. */
	uint64_t cr4 = read_cr4() | CR4_OSFXSR;
	if (cpuid(1, 0).ecx & (1u << 26)) {
		struct cpuid_regs x = cpuid(0xd, 0);
		cr4 |= CR4_OSXSAVE;
		hv_vmx.xsave = true;
		hv_vmx.xcr0_supported = ((uint64_t)x.edx << 32 | x.eax) & XCR0_KNOWN;
		hv_vmx.xsave_size = x.ecx;
	}
	/* CR0 and CR4 must hold the bits VMX fixes (SDM vol. 3C, 24.8). */
	write_cr0(vmx_fixed_bits(read_cr0(), c->cr0_fixed0, c->cr0_fixed1));
	write_cr4(vmx_fixed_bits(cr4 | CR4_VMXE, c->cr4_fixed0, c->cr4_fixed1));

	uint64_t region = phys_alloc_page();
	if (!region) {
		log_err("out of memory for the VMXON region");
		return false;
	}
	*(uint32_t *)phys_to_virt(region) = VMX_BASIC_REVISION(c->basic);
	enum vmx_result r = vmxon(region);
	if (r != VMX_OK) {
		log_err("VMXON failed (%s): check IA32_FEATURE_CONTROL and the CR0/CR4 fixed bits",
			r == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid: already in VMX operation");
		phys_free(region, 1);
		return false;
	}
	this_cpu()->vmxon_region = region;
	if (this_cpu()->id)
		return true; /* an AP: the boot CPU reported the rest */
	log_info("VMX on: VMXON region at %#llx, EPT pages up to %s, VPID %s, preemption timer %s",
		 (unsigned long long)region,
		 hv_vmx.ept_max_leaf == 3 ? "1 GiB" : hv_vmx.ept_max_leaf == 2 ? "2 MiB" : "4 KiB",
		 hv_vmx.vpid ? "on" : "off", hv_vmx.preemption_timer ? "on" : "off");
	return true;
}

bool vmx_ap_on(void)
{
	uint64_t fc = feature_control_enable();
	if ((fc & FEATURE_CONTROL_LOCK) && !(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
		log_err("VMX disabled by firmware on this CPU (IA32_FEATURE_CONTROL %#llx)", (unsigned long long)fc);
		return false;
	}
	return vmx_on();
}
