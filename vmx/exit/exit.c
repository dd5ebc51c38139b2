/*
 * Exit handlers. Each is called with the exit already counted; it either
 * lets the guest go on (advancing RIP past the instruction, or injecting
 * an exception) or ends the VM with vm_end(). Reasons the table does not
 * name end the VM with cause=unhandled-exit: nothing is skipped silently.
 *
 * Instruction lengths: CPUID, VMCALL, RDMSR, WRMSR, HLT, INVD, WBINVD and
 * XSETBV have one encoding, so RIP advances by that length and the hot
 * path saves the VMREAD of VM_EXIT_INSTRUCTION_LEN (as Jailhouse does); a
 * guest that adds redundant prefixes to them resumes inside the
 * instruction, which affects only that guest.
 */
#include "vmx/exit/exit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "mm/pagetable.h"
#include "vmx/core/guest.h"
#include "vmx/dev/lapic.h"
#include "vmx/exit/cpuid.h"
#include "vmx/exit/msr.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

#define LEN_CPUID 2
#define LEN_RDMSR 2
#define LEN_WRMSR 2
#define LEN_HLT 1
#define LEN_INVD 2
#define LEN_WBINVD 2
#define LEN_XSETBV 3

void end_ept_violation(struct vcpu *v, uint64_t gpa, const char *access)
{
	log_err("VM %s: ept-violation: %s of guest-physical %#llx (outside its RAM) at RIP %#llx", v->vm->cfg.name,
		access, (unsigned long long)gpa, (unsigned long long)guest_rip());
	vm_end(v, CAUSE_EPT_VIOLATION, gpa);
}

static void handle_cpuid(struct vcpu *v)
{
	cpuid_emulate(v->regs.gpr, v->apic_id);
	guest_skip(LEN_CPUID);
}

static void handle_hlt(struct vcpu *v)
{
	/* With interrupts on and the local APIC's timer armed (or an
	 * interrupt pending), the vCPU waits in the HLT state for it. With
	 * interrupts on and nothing armed it waits too, as a CPU would, until
	 * the VM's time limit ends it (cause=timeout); with no time limit
	 * that wait would be forever, so the VM stops. With interrupts off
	 * the VM has stopped. */
	if (vmcs_readnat(GUEST_RFLAGS) & RFLAGS_IF) {
		if (v->lapic.ops && v->lapic.ops->halt(v))
			return;
		if (v->deadline_tsc) {
			log_info("VM %s: HLT with interrupts enabled and no interrupt source: waiting for the time limit",
				 v->vm->cfg.name);
			guest_halt();
			return;
		}
		log_info("VM %s: HLT with interrupts enabled, no interrupt source and no time limit: VM stopped",
			 v->vm->cfg.name);
	} else if (v->index) {
		/* An AP that halts with interrupts off is done, as an OS parks
		 * its CPUs; the VM goes on until its boot vCPU ends it. An INIT
		 * can still wake it. */
		log_info("VM %s: vCPU %u halted with interrupts off: it waits for INIT", v->vm->cfg.name, v->index);
		guest_halt();
		vm_vcpu_idle(v);
		return;
	}
	vm_end(v, CAUSE_HLT, 0);
}

static void handle_triple_fault(struct vcpu *v)
{
	char list[LAST_EXITS * 24] = "";
	size_t n = 0;

	/* The exits before this one, oldest first (the ring's newest entry
	 * is the triple fault itself). */
	uint64_t earlier = v->exits - 1 < LAST_EXITS - 1 ? v->exits - 1 : LAST_EXITS - 1;
	for (uint64_t k = earlier; k >= 1; k--) {
		const char *name = exit_reason_name(v->last_exit[(v->exits - 1 - k) % LAST_EXITS]);
		size_t l = strlen(name);
		memcpy(list + n, name, l);
		n += l;
		list[n++] = k > 1 ? ' ' : '\0';
	}
	log_err("VM %s: triple fault at RIP %#llx; exits before it: %s", v->vm->cfg.name, (unsigned long long)guest_rip(),
		n ? list : "(none)");
	vm_end(v, CAUSE_TRIPLE_FAULT, 0);
}


static void handle_rdmsr(struct vcpu *v)
{
	uint64_t value;
	if (!msr_read(v, (uint32_t)v->regs.gpr[REG_RCX], &value)) {
		guest_inject(VEC_GP, true, 0);
		return;
	}
	v->regs.gpr[REG_RAX] = (uint32_t)value;
	v->regs.gpr[REG_RDX] = value >> 32;
	guest_skip(LEN_RDMSR);
}

static void handle_wrmsr(struct vcpu *v)
{
	uint64_t value = (uint32_t)v->regs.gpr[REG_RAX] | v->regs.gpr[REG_RDX] << 32;
	if (!msr_write(v, (uint32_t)v->regs.gpr[REG_RCX], value)) {
		guest_inject(VEC_GP, true, 0);
		return;
	}
	guest_skip(LEN_WRMSR);
}

static void handle_xsetbv(struct vcpu *v)
{
	uint64_t val = (uint32_t)v->regs.gpr[REG_RAX] | v->regs.gpr[REG_RDX] << 32;

	if (!hv_vmx.xsave || (uint32_t)v->regs.gpr[REG_RCX] != 0 || guest_cpl() || !xcr0_valid(val, hv_vmx.xcr0_supported)) {
		guest_inject(VEC_GP, true, 0);
		return;
	}
	if (!xsetbv_safe(0, val)) { /* validated above; fault-safe all the same */
		guest_inject(VEC_GP, true, 0);
		return;
	}
	v->xcr0 = val;
	guest_skip(LEN_XSETBV);
}

/* INVD would drop dirty lines of other VMs and the hypervisor: it is done
 * as WBINVD. Isolated VMs' RAM is coherent write-back memory, so for them
 * both are no-ops; the machine's own OS needs the real flush (MTRR
 * changes, devices that do not snoop). */
static void handle_invd(struct vcpu *v)
{
	if (v->vm->cfg.passthrough)
		__asm__ volatile("wbinvd" ::: "memory");
	guest_skip(LEN_INVD);
}

static void handle_wbinvd(struct vcpu *v)
{
	if (v->vm->cfg.passthrough)
		__asm__ volatile("wbinvd" ::: "memory");
	guest_skip(LEN_WBINVD);
}

/* Guests do not see VMX: its instructions fault as on a CPU without it. */
static void handle_vmx_instruction(struct vcpu *v)
{
	(void)v;
	guest_inject(VEC_UD, false, 0);
}

static void handle_rdpmc(struct vcpu *v)
{
	(void)v;
	guest_inject(VEC_GP, true, 0); /* no performance counters are offered */
}

static void handle_ept_misconfig(struct vcpu *v)
{
	uint64_t gpa = vmcs_read64(GUEST_PHYSICAL_ADDRESS);

	log_err("VM %s: EPT misconfiguration at guest-physical %#llx (a hypervisor bug); entries:", v->vm->cfg.name,
		(unsigned long long)gpa);
	for (unsigned level = 4; level >= 1; level--) {
		uint64_t *e = pt_walk(&v->vm->ept, gpa, level, false);
		if (!e)
			break;
		log_err("  level %u: %#018llx", level, (unsigned long long)*e);
		if (*e & PT_LARGE)
			break;
	}
	vm_end(v, CAUSE_ERROR, gpa);
}

/* A reason the table has no handler for ends the VM, naming it. */
static void handle_unknown(struct vcpu *v)
{
	unsigned basic = vmcs_read32(VM_EXIT_REASON) & 0xffff;
	log_err("VM %s: unhandled exit: reason %u (%s), qualification %#llx, at RIP %#llx", v->vm->cfg.name, basic,
		exit_reason_name(basic), (unsigned long long)vmcs_readnat(EXIT_QUALIFICATION),
		(unsigned long long)guest_rip());
	vm_end(v, CAUSE_UNHANDLED_EXIT, basic);
}

/* Every basic reason has an entry, so the fast path needs no test for a
 * missing one (GCC's range designator, then the handled reasons). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
const exit_handler exit_table[EXIT_REASON_MAX] = {
	[0 ... EXIT_REASON_MAX - 1] = handle_unknown,
	[EXIT_EXCEPTION_NMI] = handle_exception_nmi,
	[EXIT_EXTERNAL_INTERRUPT] = handle_external_interrupt,
	[EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_INIT] = handle_init,
	[EXIT_SIPI] = handle_sipi,
	[EXIT_INTERRUPT_WINDOW] = handle_interrupt_ready,
	[EXIT_NMI_WINDOW] = handle_nmi_window,
	[EXIT_CPUID] = handle_cpuid,
	[EXIT_GETSEC] = handle_vmx_instruction,
	[EXIT_HLT] = handle_hlt,
	[EXIT_INVD] = handle_invd,
	[EXIT_RDPMC] = handle_rdpmc,
	[EXIT_VMCALL] = handle_vmcall,
	[EXIT_VMCLEAR] = handle_vmx_instruction,
	[EXIT_VMLAUNCH] = handle_vmx_instruction,
	[EXIT_VMPTRLD] = handle_vmx_instruction,
	[EXIT_VMPTRST] = handle_vmx_instruction,
	[EXIT_VMREAD] = handle_vmx_instruction,
	[EXIT_VMRESUME] = handle_vmx_instruction,
	[EXIT_VMWRITE] = handle_vmx_instruction,
	[EXIT_VMXOFF] = handle_vmx_instruction,
	[EXIT_VMXON] = handle_vmx_instruction,
	[EXIT_CR_ACCESS] = handle_cr,
	[EXIT_IO] = handle_io,
	[EXIT_RDMSR] = handle_rdmsr,
	[EXIT_WRMSR] = handle_wrmsr,
	[EXIT_MWAIT] = handle_vmx_instruction, /* MONITOR/MWAIT are hidden: #UD */
	[EXIT_MONITOR] = handle_vmx_instruction,
	[EXIT_TPR_BELOW_THRESHOLD] = handle_interrupt_ready,
	[EXIT_APIC_ACCESS] = handle_apic_access,
	[EXIT_APIC_WRITE] = handle_apic_write,
	[EXIT_EPT_VIOLATION] = handle_ept_violation,
	[EXIT_EPT_MISCONFIG] = handle_ept_misconfig,
	[EXIT_INVEPT] = handle_vmx_instruction,
	[EXIT_PREEMPTION_TIMER] = handle_preemption_timer,
	[EXIT_INVVPID] = handle_vmx_instruction,
	[EXIT_WBINVD] = handle_wbinvd,
	[EXIT_XSETBV] = handle_xsetbv,
	[EXIT_VMFUNC] = handle_vmx_instruction,
};
#pragma GCC diagnostic pop

static void entry_failure(struct vcpu *v, uint32_t reason)
{
	unsigned basic = reason & 0xffff;
	log_err("VM %s: VM entry failed: %s (exit reason %u), qualification %#llx", v->vm->cfg.name,
		basic == EXIT_INVALID_GUEST_STATE ? "invalid guest state"
		: basic == EXIT_MSR_LOADING	  ? "MSR loading"
						  : "machine-check event",
		basic, (unsigned long long)vmcs_readnat(EXIT_QUALIFICATION));
	vmcs_dump();
	vm_end(v, CAUSE_ENTRY_FAILURE, basic);
}

/* Exits the fast path does not take: failed VM entries and reasons with
 * extra bits set (enclave, pending MTF: dispatched as usual). Out of line
 * and cold: it keeps the fast path's frame small. */
void exit_unusual(struct vcpu *v, uint32_t reason)
{
	unsigned basic = reason & 0xffff;

	if (basic < EXIT_REASON_MAX)
		v->exit_count[basic]++;
	if (reason & EXIT_REASON_ENTRY_FAILURE)
		entry_failure(v, reason);
	else if (basic < EXIT_REASON_MAX)
		exit_table[basic](v);
	else
		handle_unknown(v);
}
