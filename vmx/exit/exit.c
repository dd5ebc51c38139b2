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

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/idt.h"
#include "arch-x86/smp.h"
#include "arch-x86/msr.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "vmx/exit/cpuid.h"
#include "vmx/exit/cr.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/dev/bus.h"
#include "vmx/core/memory.h"
#include "vmx/core/guestmem.h"
#include "vmx/dev/lapic.h"
#include "vmx/load/loader.h"
#include "vmx/exit/msr.h"
#include "vmx/load/passthrough.h"
#include "vmx/core/guest.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

#define LEN_CPUID 2
#define LEN_VMCALL 3
#define LEN_RDMSR 2
#define LEN_WRMSR 2
#define LEN_HLT 1
#define LEN_INVD 2
#define LEN_WBINVD 2
#define LEN_XSETBV 3

/* Hypercalls (README, "Hypercall ABI"): VMCALL with the function in RAX. */
enum { HC_PRINT = 0, HC_EXIT = 1, HC_VERSION = 2, HC_VMCS_COUNTS = 3, HC_CMDLINE = 4, HC_MEMORY_MAP = 5 };
#define HC_PRINT_MAX 4096
#define HC_ERROR (~0ull)

static uint64_t rip(void)
{
	return vmcs_readnat(GUEST_RIP);
}

void end_ept_violation(struct vcpu *v, uint64_t gpa, const char *access)
{
	log_err("VM %s: ept-violation: %s of guest-physical %#llx (outside its RAM) at RIP %#llx", v->vm->cfg.name,
		access, (unsigned long long)gpa, (unsigned long long)rip());
	vm_end(v, CAUSE_EPT_VIOLATION, gpa);
}

static void handle_cpuid(struct vcpu *v)
{
	cpuid_emulate(v->regs.gpr, v->apic_id);
	vcpu_skip(LEN_CPUID);
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
		if (lapic_halt(v))
			return;
		if (v->deadline_tsc) {
			log_info("VM %s: HLT with interrupts enabled and no interrupt source: waiting for the time limit",
				 v->vm->cfg.name);
			vcpu_halt(v);
			return;
		}
		log_info("VM %s: HLT with interrupts enabled, no interrupt source and no time limit: VM stopped",
			 v->vm->cfg.name);
	} else if (v->index) {
		/* An AP that halts with interrupts off is done, as an OS parks
		 * its CPUs; the VM goes on until its boot vCPU ends it. An INIT
		 * can still wake it. */
		log_info("VM %s: vCPU %u halted with interrupts off: it waits for INIT", v->vm->cfg.name, v->index);
		vcpu_halt(v);
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
	log_err("VM %s: triple fault at RIP %#llx; exits before it: %s", v->vm->cfg.name, (unsigned long long)rip(),
		n ? list : "(none)");
	vm_end(v, CAUSE_TRIPLE_FAULT, 0);
}

/* Print RCX bytes at RBX. Hypercall buffers are read and written as the
 * calling kernel's own accesses at CPL 0 would be (SMAP unless RFLAGS.AC,
 * CR0.WP): one it could not touch itself gets HC_ERROR. */
static __attribute__((noinline)) void hypercall_print(struct vcpu *v)
{
	uint64_t addr = v->regs.gpr[REG_RBX], len = v->regs.gpr[REG_RCX];
	char buf[256];
	struct gmem_fault f;

	if (len > HC_PRINT_MAX) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	for (uint64_t done = 0; done < len;) {
		uint64_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		if (guest_read(v, addr + done, buf, n, GW_READ, &f) != GMEM_OK) {
			v->regs.gpr[REG_RAX] = HC_ERROR; /* a bad pointer is the caller's error, not a fault */
			return;
		}
		/* one output line per newline-free run */
		uint64_t start = 0;
		for (uint64_t i = 0; i <= n; i++) {
			if (i == n || buf[i] == '\n') {
				if (i > start || (i < n && buf[i] == '\n'))
					guest_output(v->vm, buf + start, (unsigned)(i - start));
				start = i + 1;
			}
		}
		done += n;
	}
	v->regs.gpr[REG_RAX] = 0;
}

/* The words after "--" on the module's line, NUL-terminated, into the
 * guest's buffer at RBX of RCX bytes (cut to fit); RAX = the full length.
 * How a flat or ELF guest gets its arguments. */
static __attribute__((noinline)) void hypercall_cmdline(struct vcpu *v)
{
	const char *args = v->vm->cfg.kernel_args;
	uint64_t len = strlen(args), size = v->regs.gpr[REG_RCX];
	uint64_t n = len < size ? len : size ? size - 1 : 0;
	struct gmem_fault f;
	char nul = 0;

	if (size && (guest_write(v, v->regs.gpr[REG_RBX], args, n, GW_WRITE, &f) != GMEM_OK ||
		     guest_write(v, v->regs.gpr[REG_RBX] + n, &nul, 1, GW_WRITE, &f) != GMEM_OK)) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	v->regs.gpr[REG_RAX] = len;
}

/* The VM's memory map into the guest's buffer at RBX of RCX bytes, as
 * many 24-byte entries as fit (u64 address, u64 size, u32 e820 type, u32
 * zero); RAX = the number of entries in the map. How a flat guest of
 * either kind finds its RAM (the passthrough OS's is the machine's map
 * less the hypervisor's memory). */
static __attribute__((noinline)) void hypercall_memory_map(struct vcpu *v)
{
	struct e820_entry map[VM_MAX_E820];
	uint64_t out[VM_MAX_E820][3];
	unsigned n = loader_memory_map(v->vm, map, VM_MAX_E820);
	uint64_t room = v->regs.gpr[REG_RCX] / sizeof(out[0]), fit = n < room ? n : room;
	struct gmem_fault f;

	for (unsigned i = 0; i < fit; i++) {
		out[i][0] = map[i].addr;
		out[i][1] = map[i].size;
		out[i][2] = map[i].type; /* and a zero u32 */
	}
	if (fit && guest_write(v, v->regs.gpr[REG_RBX], out, fit * sizeof(out[0]), GW_WRITE, &f) != GMEM_OK) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	v->regs.gpr[REG_RAX] = n;
}

static void handle_vmcall(struct vcpu *v)
{
	/* Hypercalls are for the guest kernel: CPL (SS.DPL) must be 0. */
	if (vcpu_cpl()) {
		vcpu_inject(v, VEC_UD, false, 0);
		return;
	}
	switch (v->regs.gpr[REG_RAX]) {
	case HC_PRINT:
		hypercall_print(v);
		break;
	case HC_EXIT:
		vm_end(v, CAUSE_HYPERCALL, v->regs.gpr[REG_RBX]);
		return;
	case HC_VERSION:
		v->regs.gpr[REG_RAX] = HV_VERSION_NUMBER;
		break;
	case HC_CMDLINE:
		hypercall_cmdline(v);
		break;
	case HC_MEMORY_MAP:
		hypercall_memory_map(v);
		break;
	case HC_VMCS_COUNTS:
		/* The benchmark's counting build: VMREADs and VMWRITEs so far. */
#ifdef HV_COUNT_VMCS
		v->regs.gpr[REG_RAX] = vmcs_reads;
		v->regs.gpr[REG_RBX] = vmcs_writes;
#else
		v->regs.gpr[REG_RAX] = HC_ERROR;
#endif
		break;
	default:
		v->regs.gpr[REG_RAX] = HC_ERROR;
		break;
	}
	vcpu_skip(LEN_VMCALL);
}

static void handle_rdmsr(struct vcpu *v)
{
	uint64_t value;
	if (!msr_read(v, (uint32_t)v->regs.gpr[REG_RCX], &value)) {
		vcpu_inject(v, VEC_GP, true, 0);
		return;
	}
	v->regs.gpr[REG_RAX] = (uint32_t)value;
	v->regs.gpr[REG_RDX] = value >> 32;
	vcpu_skip(LEN_RDMSR);
}

static void handle_wrmsr(struct vcpu *v)
{
	uint64_t value = (uint32_t)v->regs.gpr[REG_RAX] | v->regs.gpr[REG_RDX] << 32;
	if (!msr_write(v, (uint32_t)v->regs.gpr[REG_RCX], value)) {
		vcpu_inject(v, VEC_GP, true, 0);
		return;
	}
	vcpu_skip(LEN_WRMSR);
}

/* What a MOV to CR0, CR3 or CR4 is checked against (vmx/exit/cr.h). */
static struct cr_state cr_state(void)
{
	return (struct cr_state){ guest_cr0(), vmcs_readnat(GUEST_CR3), guest_cr4(), vmcs_read64(GUEST_IA32_EFER),
				  vcpu_code64() };
}

/* PAE paging takes its four PDPTEs from CR3 when a MOV to CR3, or a MOV
 * to CR0 or CR4 that vmx/exit/cr.h says loads them, executes (SDM vol. 3A,
 * 5.4.1); with EPT the CPU keeps them in the VMCS, loading them on entry
 * and storing them on exit (vol. 3C, 27.3.2.4, 28.3.4), so an emulated
 * write must load them from guest memory itself. A present entry with
 * reserved bits is #GP, and the write then changes nothing. */
static bool load_pdptes(struct vcpu *v, uint64_t cr3)
{
	uint64_t pdpte[4];
	unsigned maxphy = guest_maxphyaddr();
	const void *p = gpa_to_hva(v->vm, cr3 & 0xffffffe0ull, sizeof(pdpte));

	if (!p)
		return false;
	memcpy(pdpte, p, sizeof(pdpte));
	for (int i = 0; i < 4; i++)
		if (!pdpte_ok(pdpte[i], maxphy))
			return false;
	vmcs_write64(GUEST_PDPTE0, pdpte[0]);
	vmcs_write64(GUEST_PDPTE1, pdpte[1]);
	vmcs_write64(GUEST_PDPTE2, pdpte[2]);
	vmcs_write64(GUEST_PDPTE3, pdpte[3]);
	return true;
}

/* Drop the guest's cached translations an emulated CR write calls for.
 * Single-context INVVPID is the finest flush that serves every case: it
 * drops all of the VPID's translations, every PCID's and global ones,
 * more than any write asks, which is always allowed (vol. 3A, 5.10.4.1).
 * Without VPIDs every VM entry and exit flushes (vol. 3C, 29.4.3.1). */
static void flush_guest_tlb(struct vcpu *v, enum cr_flush what)
{
	if (what == CR_FLUSH_NONE || !hv_vmx.vpid)
		return;
	if (invvpid(INVVPID_SINGLE, v->vm->vpid, 0) != VMX_OK)
		invvpid(INVVPID_ALL, 0, 0);
}

/* MOV to CR0 that exited because it changes a bit the host owns (NE, CD,
 * NW, or a bit CR0_FIXED1 forbids). Reserved bits and impossible combinations fault
 * as on hardware (SDM vol. 3A, 2.5; vol. 2B, MOV CR); switching paging on
 * with EFER.LME enters long mode (10.8.5), which the emulation must do
 * itself, as it must load the PAE PDPTEs and flush what the CPU would. */
static bool guest_write_cr0(struct vcpu *v, const struct cr_state *st, uint64_t val)
{
	uint64_t old = st->cr0, efer = st->efer;

	if (!cr0_write_ok(st, val))
		return false;
	if (cr_write_loads_pdptes(st, val, st->cr4) && !load_pdptes(v, st->cr3))
		return false;
	bool paging_on = (val & CR0_PG) && !(old & CR0_PG), paging_off = !(val & CR0_PG) && (old & CR0_PG);
	if (paging_on && (efer & EFER_LME)) {
		vmcs_write64(GUEST_IA32_EFER, efer | EFER_LMA);
		v->entry_controls |= ENTRY_IA32E_MODE_GUEST;
		vmcs_write32(VM_ENTRY_CONTROLS, v->entry_controls);
	} else if (paging_off && (efer & EFER_LMA)) {
		vmcs_write64(GUEST_IA32_EFER, efer & ~EFER_LMA);
		v->entry_controls &= ~ENTRY_IA32E_MODE_GUEST;
		vmcs_write32(VM_ENTRY_CONTROLS, v->entry_controls);
	}
	vmcs_writenat(GUEST_CR0, vcpu_real_cr0(val));
	vmcs_writenat(CR0_READ_SHADOW, val);
	flush_guest_tlb(v, cr_write_flush(st, val, st->cr4));
	return true;
}

/* MOV to CR4: VMXE reads 0 and cannot be set (VMX is hidden from guests,
 * so setting it faults as on a CPU without VMX); bits the CPU does not
 * have fault too. */
static bool guest_write_cr4(struct vcpu *v, const struct cr_state *st, uint64_t val)
{
	const struct vmx_caps *c = &hv_vmx_caps;

	if (!cr4_write_ok(st, val, c->cr4_fixed1 & 0xffffffffull & ~CR4_VMXE))
		return false;
	if (cr_write_loads_pdptes(st, st->cr0, val) && !load_pdptes(v, st->cr3))
		return false;
	vmcs_writenat(GUEST_CR4, vmx_fixed_bits(val, c->cr4_fixed0, c->cr4_fixed1));
	vmcs_writenat(CR4_READ_SHADOW, val);
	flush_guest_tlb(v, cr_write_flush(st, st->cr0, val));
	return true;
}

/* MOV to CR3, reached only on CPUs that force CR3-load exiting. */
static bool guest_write_cr3(struct vcpu *v, const struct cr_state *st, uint64_t val)
{
	uint64_t cr3 = cr3_written(st, val);

	if (!cr3_write_ok(st, val, guest_maxphyaddr()))
		return false;
	if (pae_paging(st->cr0, st->cr4, st->efer) && !load_pdptes(v, cr3))
		return false;
	vmcs_writenat(GUEST_CR3, cr3);
	flush_guest_tlb(v, cr3_write_flush(st, val));
	return true;
}

static void handle_cr(struct vcpu *v)
{
	struct cr_qual q = decode_cr(vmcs_readnat(EXIT_QUALIFICATION));
	bool ok = true;

	if (q.type == CR_MOV_TO) {
		/* Read once for the checks; CR8 needs only the code size. */
		struct cr_state st = q.cr == 8 ? (struct cr_state){ .code64 = vcpu_code64() } : cr_state();
		uint64_t val = vcpu_gpr(v, q.gpr);
		if (!st.code64)
			val = (uint32_t)val; /* 32-bit operand outside 64-bit mode (vol. 2B, MOV CR) */
		if (q.cr == 0)
			ok = guest_write_cr0(v, &st, val);
		else if (q.cr == 4)
			ok = guest_write_cr4(v, &st, val);
		else if (q.cr == 3)
			ok = guest_write_cr3(v, &st, val);
		else if (q.cr == 8 && !(val >> 4) && v->lapic.enabled) /* TPR: bits 63:4 reserved */
			lapic_cr8_write(v, val);
		else if (q.cr == 8 && !(val >> 4))
			v->cr8 = val;
		else
			ok = false;
	} else if (q.type == CR_MOV_FROM && q.cr == 3) {
		vcpu_set_gpr(v, q.gpr, vmcs_readnat(GUEST_CR3));
	} else if (q.type == CR_MOV_FROM && q.cr == 8) {
		vcpu_set_gpr(v, q.gpr, v->lapic.enabled ? lapic_cr8_read(v) : v->cr8);
	} else if (q.type == CR_LMSW) {
		/* LMSW sets PE/MP/EM/TS and cannot clear PE. */
		struct cr_state st = cr_state();
		ok = guest_write_cr0(v, &st, (st.cr0 & ~0xeull) | (q.lmsw_data & 0xf) | (st.cr0 & CR0_PE));
	} else {
		ok = false;
	}
	if (!ok) {
		vcpu_inject(v, VEC_GP, true, 0);
		return;
	}
	vcpu_skip(vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
}

static void handle_xsetbv(struct vcpu *v)
{
	uint64_t val = (uint32_t)v->regs.gpr[REG_RAX] | v->regs.gpr[REG_RDX] << 32;

	if (!hv_vmx.xsave || (uint32_t)v->regs.gpr[REG_RCX] != 0 || vcpu_cpl() || !xcr0_valid(val, hv_vmx.xcr0_supported)) {
		vcpu_inject(v, VEC_GP, true, 0);
		return;
	}
	if (!xsetbv_safe(0, val)) { /* validated above; fault-safe all the same */
		vcpu_inject(v, VEC_GP, true, 0);
		return;
	}
	v->xcr0 = val;
	vcpu_skip(LEN_XSETBV);
}

/* INVD would drop dirty lines of other VMs and the hypervisor: it is done
 * as WBINVD. Isolated VMs' RAM is coherent write-back memory, so for them
 * both are no-ops; the machine's own OS needs the real flush (MTRR
 * changes, devices that do not snoop). */
static void handle_invd(struct vcpu *v)
{
	if (v->vm->cfg.passthrough)
		__asm__ volatile("wbinvd" ::: "memory");
	vcpu_skip(LEN_INVD);
}

static void handle_wbinvd(struct vcpu *v)
{
	if (v->vm->cfg.passthrough)
		__asm__ volatile("wbinvd" ::: "memory");
	vcpu_skip(LEN_WBINVD);
}

/* Guests do not see VMX: its instructions fault as on a CPU without it. */
static void handle_vmx_instruction(struct vcpu *v)
{
	vcpu_inject(v, VEC_UD, false, 0);
}

static void handle_rdpmc(struct vcpu *v)
{
	vcpu_inject(v, VEC_GP, true, 0); /* no performance counters are offered */
}

/* An exit in the middle of delivering an event (an exception the CPU or
 * the hypervisor raised, an interrupt) would lose it: the IDT-vectoring
 * information says which, and it is delivered again on the next entry
 * (SDM vol. 3C, 28.2.4, 30.2.5). */
static void reinject_event(struct vcpu *v)
{
	(void)v;
	uint32_t info = vmcs_read32(IDT_VECTORING_INFO);
	if (!(info & INTR_INFO_VALID))
		return;
	unsigned type = (info >> 8) & 7;
	if (info & INTR_INFO_DELIVER_CODE)
		vmcs_write32(VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_read32(IDT_VECTORING_ERROR_CODE));
	if (type == 4 || type == 5 || type == 6) /* software interrupt/exception: re-execute its length */
		vmcs_write32(VM_ENTRY_INSTRUCTION_LEN, vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
	vmcs_write32(VM_ENTRY_INTR_INFO, info & ~(1u << 12)); /* bit 12 is reserved on entry */
}

/* Other vCPUs fill the same tables: one at a time. Out of line, so a VM
 * with one vCPU pays a test only. */
static __attribute__((noinline, cold)) bool ept_fill_shared(struct vm *vm, uint64_t gpa)
{
	spin_lock(&vm->lock);
	bool filled = ept_fill(vm, gpa);
	spin_unlock(&vm->lock);
	return filled;
}

/* An access to the local APIC page (or to a register the machine's OS
 * has trapped) is emulated from the instruction at RIP, but only an
 * access that is the instruction's own data is the instruction's:
 * - one made while delivering an event (the exception frame pushed there,
 *   an IDT or GDT there) has valid IDT-vectoring information (SDM vol. 3C,
 *   28.2.4);
 * - one the guest's page walk made (a paging structure there) has bit 8
 *   of the qualification clear, or bit 7 too (table 28-7).
 * Emulating the MOV at RIP would do the wrong access, and lose the event.
 * The VM ends, as KVM reports it (an internal error). */
static bool not_the_instructions(struct vcpu *v, uint64_t gpa, const struct ept_qual *q)
{
	uint32_t info = vmcs_read32(IDT_VECTORING_INFO);
	if (info & INTR_INFO_VALID)
		log_err("VM %s: delivering event %#x (vector %u) touched guest-physical %#llx, a page the hypervisor "
			"emulates, at RIP %#llx: not emulated",
			v->vm->cfg.name, info, info & 0xff, (unsigned long long)gpa, (unsigned long long)rip());
	else if (!q->translated)
		log_err("VM %s: its page walk touched guest-physical %#llx, a page the hypervisor emulates (a paging "
			"structure there), at RIP %#llx: not emulated",
			v->vm->cfg.name, (unsigned long long)gpa, (unsigned long long)rip());
	else
		return false;
	vm_end(v, CAUSE_EPT_VIOLATION, gpa);
	return true;
}

/* The qualification (what kind of access) is read only where it matters,
 * so a lazy fill costs two VMREADs and the IDT vectoring: reason, address. */
static void handle_ept_violation(struct vcpu *v)
{
	uint64_t gpa = vmcs_read64(GUEST_PHYSICAL_ADDRESS);

	if (v->vm->cfg.ept == EPT_LAZY && (v->vm->nvcpus > 1 ? ept_fill_shared(v->vm, gpa) : ept_fill(v->vm, gpa))) {
		reinject_event(v); /* then retry the access */
		return;
	}
	struct ept_qual q = decode_ept(vmcs_readnat(EXIT_QUALIFICATION));
	if (v->lapic.enabled && !v->lapic.hw && (gpa & ~0xfffull) == APIC_DEFAULT_BASE) {
		if (!not_the_instructions(v, gpa, &q))
			lapic_mmio_exit(v, gpa); /* the emulated local APIC */
		return;
	}
	if (v->vm->cfg.passthrough && (gpa & ~0xfffull) == APIC_DEFAULT_BASE && q.write) {
		if (!not_the_instructions(v, gpa, &q))
			passthrough_apic_write(v, gpa); /* the real APIC, ICR checked */
		return;
	}
	if (v->vm->cfg.passthrough && q.write && passthrough_traps(gpa)) {
		if (!not_the_instructions(v, gpa, &q))
			passthrough_trapped_write(v, gpa); /* a power register in memory, or its ECAM page */
		return;
	}
	if (v->cause != CAUSE_RUNNING)
		return;
	end_ept_violation(v, gpa, ept_access_name(&q));
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

/* After an NMI's exit the CPU blocks NMIs until an IRET (SDM vol. 3C,
 * 28.1): one to the next instruction ends that, so an NMI that comes
 * while the hypervisor runs on (another CPU's stop among them) is taken
 * at once (arch-x86/idt.c counts it) rather than at the next VM entry,
 * or never if this VM ends. */
static __attribute__((noinline, cold)) void nmi_unblock(void)
{
	__asm__ volatile("movq %%rsp, %%rax\n\t"
			 "pushq %0\n\t"
			 "pushq %%rax\n\t"
			 "pushfq\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "iretq\n"
			 "1:"
			 :
			 : "i"(GDT_DATA), "i"(GDT_CODE)
			 : "rax", "memory", "cc");
}

/* An NMI while the guest ran (NMI exiting): the machine's own OS's, to
 * be injected when it can take it (vcpu.c, pass_nmi); an isolated VM has
 * no NMI source. */
static void handle_exception_nmi(struct vcpu *v)
{
	uint32_t info = vmcs_read32(VM_EXIT_INTR_INFO);
	if ((info & 0x700) == INTR_TYPE_NMI) {
		if (smp_stopping())
			smp_stop_self(); /* another CPU took a hypervisor exception */
		if (v->vm->cfg.passthrough)
			percpu_inc32(nmi_pending);
		else
			log_warn("VM %s: NMI while the guest ran (no NMI source is expected)", v->vm->cfg.name);
		nmi_unblock();
		return;
	}
	log_err("VM %s: unexpected exception exit, interruption info %#x at RIP %#llx", v->vm->cfg.name, info,
		(unsigned long long)rip());
	vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EXCEPTION_NMI);
}

/* An isolated VM's exit on an interrupt to this CPU: the hypervisor
 * masks the PICs, so it is another CPU's signal (vm_kick): an IPI for this
 * vCPU, or the VM's end. "Acknowledge interrupt on exit" took the vector
 * from the APIC, which awaits its EOI. */
static void handle_external_interrupt(struct vcpu *v)
{
	uint32_t info = vmcs_read32(VM_EXIT_INTR_INFO);
	if ((info & 0xff) != 0xff) /* a spurious vector is never in service */
		apic_eoi();
	if ((info & 0xff) != KICK_VECTOR)
		log_debug("VM %s: external interrupt, info %#x", v->vm->cfg.name, info);
	if (!vm_stopping(v) && v->lapic.enabled)
		v->lapic.pending = true; /* an IPI may be in its IRR */
}

/* INIT to a CPU in VMX non-root operation is an exit, not a reset (SDM
 * vol. 3C, 25.2): the vCPU goes where INIT would put it, waiting for a
 * start-up IPI. Only an INIT that the VM's own guest sent counts; one
 * left pending from an earlier VM on this CPU does not. */
static void handle_init(struct vcpu *v)
{
	if (vm_stopping(v))
		return;
	if (!vcpu_take_init(v))
		log_debug("VM %s: vCPU %u: an INIT no vCPU sent: ignored", v->vm->cfg.name, v->index);
}

/* A start-up IPI to a vCPU waiting for one (25.2): real mode at VV00:0000
 * for vector VV (SDM vol. 3A, 9.4.4). The stop signal vm_kick sends is
 * one too; so is a stale one, which finds no guest's SIPI to match.
 * Not in the exit table: unusual_exit calls it, and a nonzero return
 * restarts the run loop (see the SMI note below). */
static int handle_sipi(struct vcpu *v)
{
	unsigned vector = (unsigned)vmcs_readnat(EXIT_QUALIFICATION) & 0xff;
	/* Bochs 2.7 masks SMIs for the wait and its SIPI exit skips the
	 * unmasking, so from then on every exit on this CPU reports blocking
	 * by SMI, which a VM entry outside SMM refuses (26.3.1.5). Seen here
	 * first, whatever the SIPI was: this CPU's run loops clear it after
	 * each exit from now on (vcpu_exit_smi), and this one restarts to
	 * take that on. A CPU that does not do this never pays for it. */
	int restart = 0;
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & INTERRUPTIBILITY_SMI) {
		vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, intr & ~INTERRUPTIBILITY_SMI);
		if (!percpu_read8(smi_stuck)) {
			log_info("VM %s: this CPU reports blocking by SMI after a SIPI exit (an emulator's quirk): "
				 "cleared after each exit on it from now on",
				 v->vm->cfg.name);
			percpu_write8(smi_stuck, 1);
			restart = 1;
		}
	}
	if (vm_stopping(v))
		return restart;
	if (!count_take(&v->sipis_sent)) {
		log_debug("VM %s: vCPU %u: a start-up IPI no vCPU sent: ignored", v->vm->cfg.name, v->index);
		return restart;
	}
	vcpu_start_at(v, vector);
	return restart;
}

/* The timer fires every ~100 ms of guest time, or sooner for the local
 * APIC's timer: fire that, and check the VM's limit. */
static void handle_preemption_timer(struct vcpu *v)
{
	uint64_t now = rdtsc(), next = hv_vmx.preemption_slice;

	if (vm_stopping(v))
		return; /* another vCPU ended the VM */
	lapic_timer_check(v, now);
	if (v->lapic.deadline) {
		uint64_t left = (v->lapic.deadline - now) >> vmx_preemption_timer_rate(&hv_vmx_caps);
		if (left < next)
			next = left ? left : 1;
	}
	if (v->deadline_tsc && now >= v->deadline_tsc) {
		log_err("VM %s: time limit of %llu s reached at RIP %#llx (module key timeout=)", v->vm->cfg.name,
			(unsigned long long)v->vm->cfg.timeout, (unsigned long long)rip());
		vm_end(v, CAUSE_TIMEOUT, v->vm->cfg.timeout);
		return;
	}
	vmcs_write32(VMX_PREEMPTION_TIMER_VALUE, (uint32_t)next);
}

static void handle_apic_write(struct vcpu *v)
{
	lapic_write_exit(v, (unsigned)vmcs_readnat(EXIT_QUALIFICATION));
}

static void handle_apic_access(struct vcpu *v)
{
	lapic_access_exit(v, vmcs_readnat(EXIT_QUALIFICATION));
}

/* The guest can take an interrupt now, or lowered its TPR below a pending
 * one: the run loop delivers it. The machine's OS has no virtual APIC:
 * its interrupt window is for an NMI (vcpu.c, pass_nmi). */
static void handle_interrupt_ready(struct vcpu *v)
{
	if (v->lapic.enabled)
		v->lapic.pending = true;
	else
		vcpu_nmi_window(v);
}

typedef void (*exit_handler)(struct vcpu *v);

static const exit_handler exit_table[EXIT_REASON_MAX] = {
	[EXIT_EXCEPTION_NMI] = handle_exception_nmi,
	[EXIT_EXTERNAL_INTERRUPT] = handle_external_interrupt,
	[EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_INIT] = handle_init,
	[EXIT_INTERRUPT_WINDOW] = handle_interrupt_ready,
	[EXIT_NMI_WINDOW] = vcpu_nmi_window,
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

/* Exits the fast path does not take: failed VM entries, SIPI, reasons
 * with extra bits set (enclave, pending MTF: dispatched as usual), and
 * reasons with no handler (the VM ends, naming the reason). Out of line
 * and cold: it keeps vcpu_exit's frame small. Nonzero: leave the run loop
 * though the VM goes on (vcpu_run enters again). */
static __attribute__((noinline, cold)) int unusual_exit(struct vcpu *v, uint32_t reason)
{
	unsigned basic = reason & 0xffff;

	if (basic < EXIT_REASON_MAX)
		v->exit_count[basic]++;
	if (reason & EXIT_REASON_ENTRY_FAILURE) {
		entry_failure(v, reason);
		return 0;
	}
	if (basic == EXIT_SIPI)
		return handle_sipi(v);
	if (basic < EXIT_REASON_MAX && exit_table[basic]) {
		exit_table[basic](v);
		return 0;
	}
	log_err("VM %s: unhandled exit: reason %u (%s), qualification %#llx, at RIP %#llx", v->vm->cfg.name, basic,
		exit_reason_name(basic), (unsigned long long)vmcs_readnat(EXIT_QUALIFICATION),
		(unsigned long long)rip());
	vm_end(v, CAUSE_UNHANDLED_EXIT, basic);
	return 0;
}

/*
 * Every VM exit comes here from vmx/hw/entry.S, the guest's registers in
 * v->regs. The hot path: one VMREAD for the reason, two counters and the
 * ring of recent reasons, one indirect call through the table, and one
 * test for anything pending (vcpu_attend). A reason with any high bit set
 * fails the bounds check and goes the slow way. Returns nonzero when the
 * VM has ended.
 */
int vcpu_exit(struct vcpu *v)
{
	uint32_t reason = vmcs_read32(VM_EXIT_REASON);

	v->last_exit[v->exits++ % LAST_EXITS] = (uint16_t)reason;
	if (__builtin_expect(reason < EXIT_REASON_MAX && exit_table[reason], 1)) {
		v->exit_count[reason]++;
		exit_table[reason](v);
	} else if (unusual_exit(v, reason)) {
		return 1;
	}
	if (__builtin_expect(v->cause != CAUSE_RUNNING || v->lapic.pending || v->inits_sent || percpu_read32(nmi_pending) ||
				     vmcs_failed(),
			     0))
		return vcpu_attend(v);
	return 0;
}

/* stats=1: vcpu_exit, timed, with the port or MSR of the exit counted. The
 * ticks run from here to the return, so they leave out the entry
 * routine's register save and restore (a fixed 38 instructions). */
int vcpu_exit_timed(struct vcpu *v)
{
	uint64_t start = rdtsc();
	unsigned basic = vmcs_read32(VM_EXIT_REASON) & 0xffff;

	if (basic == EXIT_IO)
		stats_count_key(v->stats.ports, &v->stats.ports_untracked,
				decode_io(vmcs_readnat(EXIT_QUALIFICATION)).port);
	else if (basic == EXIT_RDMSR || basic == EXIT_WRMSR)
		stats_count_key(v->stats.msrs, &v->stats.msrs_untracked, (uint32_t)v->regs.gpr[REG_RCX]);
	int ended = vcpu_exit(v);
	if (basic < EXIT_REASON_MAX)
		v->stats.ticks[basic] += rdtsc() - start;
	return ended;
}

int vcpu_exit_smi(struct vcpu *v)
{
	int r = v->timed ? vcpu_exit_timed(v) : vcpu_exit(v);
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & INTERRUPTIBILITY_SMI)
		vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, intr & ~INTERRUPTIBILITY_SMI);
	return r;
}
