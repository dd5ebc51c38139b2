#include "vmx/hw/exitinfo.h"

const char *exit_reason_name(unsigned basic)
{
	static const char *const names[] = {
		[EXIT_EXCEPTION_NMI] = "exception",
		[EXIT_EXTERNAL_INTERRUPT] = "extint",
		[EXIT_TRIPLE_FAULT] = "triple_fault",
		[EXIT_INIT] = "init",
		[EXIT_SIPI] = "sipi",
		[5] = "io_smi",
		[6] = "other_smi",
		[EXIT_INTERRUPT_WINDOW] = "irq_window",
		[EXIT_NMI_WINDOW] = "nmi_window",
		[EXIT_TASK_SWITCH] = "task_switch",
		[EXIT_CPUID] = "cpuid",
		[EXIT_GETSEC] = "getsec",
		[EXIT_HLT] = "hlt",
		[EXIT_INVD] = "invd",
		[EXIT_INVLPG] = "invlpg",
		[EXIT_RDPMC] = "rdpmc",
		[EXIT_RDTSC] = "rdtsc",
		[EXIT_RSM] = "rsm",
		[EXIT_VMCALL] = "vmcall",
		[EXIT_VMCLEAR] = "vmclear",
		[EXIT_VMLAUNCH] = "vmlaunch",
		[EXIT_VMPTRLD] = "vmptrld",
		[EXIT_VMPTRST] = "vmptrst",
		[EXIT_VMREAD] = "vmread",
		[EXIT_VMRESUME] = "vmresume",
		[EXIT_VMWRITE] = "vmwrite",
		[EXIT_VMXOFF] = "vmxoff",
		[EXIT_VMXON] = "vmxon",
		[EXIT_CR_ACCESS] = "cr",
		[EXIT_DR_ACCESS] = "dr",
		[EXIT_IO] = "io",
		[EXIT_RDMSR] = "rdmsr",
		[EXIT_WRMSR] = "wrmsr",
		[EXIT_INVALID_GUEST_STATE] = "invalid_guest_state",
		[EXIT_MSR_LOADING] = "msr_loading",
		[EXIT_MWAIT] = "mwait",
		[EXIT_MTF] = "mtf",
		[EXIT_MONITOR] = "monitor",
		[EXIT_PAUSE] = "pause",
		[EXIT_MACHINE_CHECK] = "machine_check",
		[EXIT_TPR_BELOW_THRESHOLD] = "tpr_threshold",
		[EXIT_APIC_ACCESS] = "apic_access",
		[EXIT_EOI_INDUCED] = "eoi",
		[EXIT_GDTR_IDTR] = "gdtr_idtr",
		[EXIT_LDTR_TR] = "ldtr_tr",
		[EXIT_EPT_VIOLATION] = "ept_violation",
		[EXIT_EPT_MISCONFIG] = "ept_misconfig",
		[EXIT_INVEPT] = "invept",
		[EXIT_RDTSCP] = "rdtscp",
		[EXIT_PREEMPTION_TIMER] = "preemption_timer",
		[EXIT_INVVPID] = "invvpid",
		[EXIT_WBINVD] = "wbinvd",
		[EXIT_XSETBV] = "xsetbv",
		[EXIT_APIC_WRITE] = "apic_write",
		[EXIT_RDRAND] = "rdrand",
		[EXIT_INVPCID] = "invpcid",
		[EXIT_VMFUNC] = "vmfunc",
		[EXIT_ENCLS] = "encls",
		[EXIT_RDSEED] = "rdseed",
		[EXIT_PML_FULL] = "pml_full",
		[EXIT_XSAVES] = "xsaves",
		[EXIT_XRSTORS] = "xrstors",
	};
	if (basic < sizeof(names) / sizeof(names[0]) && names[basic])
		return names[basic];
	return "unknown";
}

struct cr_qual decode_cr(uint64_t qual)
{
	return (struct cr_qual){
		.cr = qual & 0xf,
		.type = (enum cr_access)((qual >> 4) & 3),
		.gpr = (qual >> 8) & 0xf,
		.lmsw_data = (uint16_t)(qual >> 16),
	};
}

struct ept_qual decode_ept(uint64_t qual)
{
	return (struct ept_qual){
		.read = qual & 1,
		.write = qual & 2,
		.fetch = qual & 4,
		.allowed = (qual >> 3) & 7,
		.linear_valid = qual & (1u << 7),
		.translated = (qual & (1u << 7)) && (qual & (1u << 8)),
	};
}

const char *ept_access_name(const struct ept_qual *q)
{
	return q->fetch ? "fetch" : q->write ? "write" : "read";
}

uint64_t insn_info_addr_mask(uint32_t info)
{
	switch ((info >> 7) & 7) {
	case 0:
		return 0xffff;
	case 1:
		return 0xffffffff;
	default:
		return ~0ull;
	}
}

unsigned insn_info_segment(uint32_t info)
{
	return (info >> 15) & 7;
}
