/*
 * A vCPU's life on its CPU: its VMCS set up (controls, host state, the
 * guest state a loader chose or INIT's), the run loop that enters it
 * until its VM ends and serves its pending work (enum vcpu_request)
 * before each entry, and its teardown.
 */
#include "vmx/vcpu.h"

#include <stddef.h>

#include "arch-x86/cpu.h"
#include "arch-x86/percpu/gdt.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "arch-x86/tsc.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/phys.h"
#include "vmx/core/guest.h"
#include "vmx/core/memory.h"
#include "vmx/dev/lapic.h"
#include "vmx/dev/pt/ptpolicy.h"
#include "vmx/exit/exit.h"
#include "vmx/exit/msr.h"
#include "vmx/hw/entry.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

_Static_assert(offsetof(struct vcpu, regs) == 0, "vmx/hw/entry.S gets the vcpu's register area");
_Static_assert(offsetof(struct guest_regs, gpr[REG_RDI]) == REGS_OFF(REG_RDI), "vmx/hw/regs.h offsets");
_Static_assert(offsetof(struct guest_regs, gpr[15]) == REGS_OFF(15), "vmx/hw/regs.h offsets");
_Static_assert(offsetof(struct vcpu, requests) == VCPU_REQUESTS_OFF, "vmx/hw/entry.S tests the request word");
_Static_assert(offsetof(struct cpu, attention) == CPU_ATTENTION_OFF, "vmx/hw/entry.S tests the attention word");

/* Power-on PAT: WB, WT, UC-, UC, repeated (SDM vol. 3A, 13.12.4). */
#define PAT_POWER_ON 0x0007040600070406ull


struct segment {
	uint16_t selector;
	uint64_t base;
	uint32_t limit, ar;
};

static void set_segments(const struct segment *cs, const struct segment *data)
{
	vmcs_write16(GUEST_CS_SELECTOR, cs->selector);
	vmcs_writenat(GUEST_CS_BASE, cs->base);
	vmcs_write32(GUEST_CS_LIMIT, cs->limit);
	vmcs_write32(GUEST_CS_AR_BYTES, cs->ar);
#define DATA_SEG(S)                                             \
	vmcs_write16(GUEST_##S##_SELECTOR, data->selector);     \
	vmcs_writenat(GUEST_##S##_BASE, data->base);            \
	vmcs_write32(GUEST_##S##_LIMIT, data->limit);           \
	vmcs_write32(GUEST_##S##_AR_BYTES, data->ar)
	DATA_SEG(DS);
	DATA_SEG(ES);
	DATA_SEG(SS);
	DATA_SEG(FS);
	DATA_SEG(GS);
#undef DATA_SEG
	vmcs_write16(GUEST_LDTR_SELECTOR, 0);
	vmcs_writenat(GUEST_LDTR_BASE, 0);
	vmcs_write32(GUEST_LDTR_LIMIT, 0);
	vmcs_write32(GUEST_LDTR_AR_BYTES, AR_UNUSABLE);
	/* VM entry needs a usable busy TSS in TR even in real mode (26.3.1.2). */
	vmcs_write16(GUEST_TR_SELECTOR, 0);
	vmcs_writenat(GUEST_TR_BASE, 0);
	vmcs_write32(GUEST_TR_LIMIT, 0xffff);
	vmcs_write32(GUEST_TR_AR_BYTES, AR_TSS_BUSY);
}

/* CR0/CR4 as the guest sees them (the read shadows) and as they really
 * are: the bits VMX fixes are forced, and owned by the host through the
 * guest/host masks, so the guest reads its own values (25.6.6). With
 * unrestricted guest, PE and PG are the guest's (26.3.1.1). CD and NW are
 * the host's too, as in KVM: guest memory's caching is set by the EPT
 * memory types, and the guest reads back what it wrote. CR4.OSXSAVE is the
 * host's as well, as in KVM: the hypervisor sees the guest turn XSAVE on
 * or off (CPUID leaf 1 reports it back). */
static void set_control_registers(uint64_t cr0, uint64_t cr4)
{
	const struct vmx_caps *c = &hv_vmx_caps;

	vmcs_writenat(GUEST_CR0, guest_real_cr0(cr0));
	vmcs_writenat(CR0_READ_SHADOW, cr0);
	vmcs_writenat(CR0_GUEST_HOST_MASK, guest_cr0_host_bits());
	vmcs_writenat(GUEST_CR4, vmx_fixed_bits(cr4, c->cr4_fixed0, c->cr4_fixed1));
	vmcs_writenat(CR4_READ_SHADOW, cr4);
	vmcs_writenat(CR4_GUEST_HOST_MASK,
		      c->cr4_fixed0 | (~c->cr4_fixed1 & 0xffffffffull) | (c->cr4_fixed1 & CR4_OSXSAVE));
}

static void set_guest_state(struct vcpu *v, const struct boot_state *bs)
{
	static const struct segment real_code = { 0, 0, 0xffff, AR_CODE16 }, real_data = { 0, 0, 0xffff, AR_DATA16 },
				    flat_code32 = { 0x08, 0, 0xffffffff, AR_CODE32 },
				    flat_data = { 0x10, 0, 0xffffffff, AR_DATA32 },
				    flat_code64 = { 0x08, 0, 0xffffffff, AR_CODE64 };
	uint64_t efer = 0;

	struct segment cs, ds;
	switch (bs->mode) {
	case MODE_REAL:
		cs = real_code;
		ds = real_data;
		cs.selector = bs->cs;
		cs.base = (uint64_t)bs->cs << 4;
		set_control_registers(0x10, 0); /* ET */
		vmcs_writenat(GUEST_IDTR_BASE, 0);
		vmcs_write32(GUEST_IDTR_LIMIT, 0x3ff); /* the real-mode IVT */
		break;
	case MODE_PROT32:
		cs = flat_code32;
		ds = flat_data;
		set_control_registers(CR0_PE | 0x10, 0);
		vmcs_writenat(GUEST_IDTR_BASE, 0);
		vmcs_write32(GUEST_IDTR_LIMIT, 0);
		break;
	case MODE_LONG64:
	default:
		cs = flat_code64;
		ds = flat_data;
		set_control_registers(CR0_PE | CR0_PG | 0x10, CR4_PAE);
		vmcs_writenat(GUEST_IDTR_BASE, 0);
		vmcs_write32(GUEST_IDTR_LIMIT, 0);
		efer = EFER_LME | EFER_LMA;
		v->entry_controls |= ENTRY_IA32E_MODE_GUEST;
		break;
	}
	if (bs->code_sel) { /* the loader's own GDT (Linux: __BOOT_CS, __BOOT_DS) */
		cs.selector = bs->code_sel;
		ds.selector = bs->data_sel;
	}
	set_segments(&cs, &ds);
	vmcs_writenat(GUEST_CR3, bs->cr3);
	vmcs_writenat(GUEST_GDTR_BASE, bs->gdt_base);
	vmcs_write32(GUEST_GDTR_LIMIT, bs->gdt_limit ? bs->gdt_limit : bs->mode == MODE_REAL ? 0xffff : 0);
	vmcs_write64(GUEST_IA32_EFER, efer);
	vmcs_write64(GUEST_IA32_PAT, PAT_POWER_ON);
	vmcs_write64(GUEST_IA32_DEBUGCTL, 0);
	vmcs_writenat(GUEST_DR7, 0x400);
	vmcs_writenat(GUEST_RSP, bs->rsp);
	vmcs_writenat(GUEST_RIP, bs->rip);
	vmcs_writenat(GUEST_RFLAGS, 0x2); /* interrupts off */
	vmcs_writenat(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write32(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vmcs_write32(GUEST_SYSENTER_CS, 0);
	vmcs_writenat(GUEST_SYSENTER_ESP, 0);
	vmcs_writenat(GUEST_SYSENTER_EIP, 0);
	vmcs_write64(VMCS_LINK_POINTER, ~0ull);
	v->regs = bs->regs;
}

/* The host state a VM exit loads (27.5, 28.5): this CPU as it runs now. */
static void set_host_state(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr;
	__asm__ volatile("sidt %0" : "=m"(idtr));

	vmcs_writenat(HOST_CR0, read_cr0());
	vmcs_writenat(HOST_CR3, read_cr3());
	vmcs_writenat(HOST_CR4, read_cr4());
	vmcs_write16(HOST_CS_SELECTOR, GDT_CODE);
	vmcs_write16(HOST_SS_SELECTOR, GDT_DATA);
	vmcs_write16(HOST_DS_SELECTOR, GDT_DATA);
	vmcs_write16(HOST_ES_SELECTOR, GDT_DATA);
	vmcs_write16(HOST_FS_SELECTOR, 0);
	vmcs_write16(HOST_GS_SELECTOR, 0);
	vmcs_write16(HOST_TR_SELECTOR, GDT_TSS);
	vmcs_writenat(HOST_FS_BASE, 0);
	vmcs_writenat(HOST_GS_BASE, (uintptr_t)this_cpu()); /* per-CPU data (arch-x86/percpu/percpu.h) */
	vmcs_writenat(HOST_TR_BASE, tss_base());
	vmcs_writenat(HOST_GDTR_BASE, gdt_base());
	vmcs_writenat(HOST_IDTR_BASE, idtr.base);
	vmcs_write32(HOST_IA32_SYSENTER_CS, 0);
	vmcs_writenat(HOST_IA32_SYSENTER_ESP, 0);
	vmcs_writenat(HOST_IA32_SYSENTER_EIP, 0);
	vmcs_write64(HOST_IA32_PAT, rdmsr(MSR_IA32_PAT));
	vmcs_write64(HOST_IA32_EFER, rdmsr(MSR_EFER));
	vmcs_writenat(HOST_RIP, (uintptr_t)vmx_exit_point);
}

static void set_controls(struct vcpu *v)
{
	struct vm *vm = v->vm;

	/* A passthrough OS takes its interrupts and NMIs directly and halts
	 * the CPU itself; CR8 is the real APIC's TPR. */
	v->proc_controls = vm->cfg.passthrough ? hv_vmx.proc_passthrough
			   : v->lapic.hw	 ? hv_vmx.proc_apicv
						 : hv_vmx.proc;
	vmcs_write32(PIN_BASED_VM_EXEC_CONTROL, vm->cfg.passthrough ? hv_vmx.pin_passthrough : hv_vmx.pin);
	vmcs_write32(CPU_BASED_VM_EXEC_CONTROL, v->proc_controls);
	vmcs_write32(SECONDARY_VM_EXEC_CONTROL, v->lapic.hw ? hv_vmx.proc2_apicv : hv_vmx.proc2);
	if (v->lapic.hw) {
		vmcs_write64(VIRTUAL_APIC_PAGE_ADDR, v->lapic.page);
		vmcs_write64(APIC_ACCESS_ADDR, vm->apic_access_page);
		vmcs_write32(TPR_THRESHOLD, 0);
	}
	vmcs_write32(VM_EXIT_CONTROLS, hv_vmx.exit);
	vmcs_write32(EXCEPTION_BITMAP, 0);
	vmcs_write32(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write32(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write32(CR3_TARGET_COUNT, 0);
	vmcs_write32(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write32(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write32(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write32(VM_ENTRY_INTR_INFO, 0);
	vmcs_write64(IO_BITMAP_A, vm->io_bitmap_a);
	vmcs_write64(IO_BITMAP_B, vm->io_bitmap_b);
	vmcs_write64(MSR_BITMAP, vm->msr_bitmap);
	vmcs_write64(EPT_POINTER, vm->eptp);
	vmcs_write64(TSC_OFFSET, 0);
	if (hv_vmx.vpid)
		vmcs_write16(VPID, vm->vpid);
	if (hv_vmx.preemption_timer)
		vmcs_write32(VMX_PREEMPTION_TIMER_VALUE, hv_vmx.preemption_slice);
}

/* Put every register VMX does not switch into its reset state, so nothing
 * of the previous VM shows through: x87/SSE/AVX/AVX-512/AMX (XRSTOR from
 * a header with XSTATE_BV = 0 initializes each component in the mask; SDM
 * vol. 1, 13.8), CR2, DR0-DR3, DR6, CR8. The hypervisor never uses them. */
static void cpu_state_reset(struct vcpu *v)
{
	/* Read-only, so every CPU can restore from it at once: FCW 0x37f
	 * (FXRSTOR takes it from memory), MXCSR 0x1f80 (both instructions
	 * do), and an XSAVE header of zeros (XSTATE_BV = 0: every component
	 * to its initial state). */
	static const uint8_t area[16384] __attribute__((aligned(64))) = { [0] = 0x7f, [1] = 0x03, [24] = 0x80,
									   [25] = 0x1f };

	if (hv_vmx.xsave && hv_vmx.xsave_size <= sizeof(area)) {
		xsetbv(0, hv_vmx.xcr0_supported);
		__asm__ volatile("xrstor %0" : : "m"(area), "a"(~0u), "d"(~0u));
		xsetbv(0, XCR0_X87);
	} else {
		__asm__ volatile("fxrstor %0" : : "m"(*(const uint8_t(*)[512])area));
	}
	v->xcr0 = XCR0_X87;
	v->cr8 = 0;
	__asm__ volatile("mov %0, %%cr2\n\t"
			 "mov %0, %%db0\n\t"
			 "mov %0, %%db1\n\t"
			 "mov %0, %%db2\n\t"
			 "mov %0, %%db3\n\t"
			 "mov %1, %%db6"
			 :
			 : "r"(0ull), "r"(0xffff0ff0ull));
}

/* The state INIT puts a CPU in (SDM vol. 3A, table 9-1), waiting for a
 * start-up IPI: real mode at F000:FFF0, CR0 with CD, NW and ET, the
 * general registers zero but EDX, which holds the CPUID signature. The
 * start-up IPI then points CS at the start-up page (vcpu_start_at). */
static void vcpu_reset_init(struct vcpu *v)
{
	static const struct segment reset_code = { 0xf000, 0xffff0000, 0xffff, AR_CODE16 },
				    reset_data = { 0, 0, 0xffff, AR_DATA16 };

	set_segments(&reset_code, &reset_data);
	set_control_registers(CR0_CD | CR0_NW | 0x10, 0);
	vmcs_writenat(GUEST_CR3, 0);
	vmcs_writenat(GUEST_GDTR_BASE, 0);
	vmcs_write32(GUEST_GDTR_LIMIT, 0xffff);
	vmcs_writenat(GUEST_IDTR_BASE, 0);
	vmcs_write32(GUEST_IDTR_LIMIT, 0xffff);
	vmcs_write64(GUEST_IA32_EFER, 0);
	vmcs_write64(GUEST_IA32_DEBUGCTL, 0);
	vmcs_writenat(GUEST_DR7, 0x400);
	vmcs_writenat(GUEST_RSP, 0);
	vmcs_writenat(GUEST_RIP, 0xfff0);
	vmcs_writenat(GUEST_RFLAGS, 0x2);
	vmcs_writenat(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write32(VM_ENTRY_INTR_INFO, 0);
	v->entry_controls &= ~ENTRY_IA32E_MODE_GUEST;
	vmcs_write32(VM_ENTRY_CONTROLS, v->entry_controls);
	memset(&v->regs, 0, sizeof(v->regs));
	v->regs.gpr[REG_RDX] = cpuid(1, 0).eax;
	v->xcr0 = XCR0_X87;
	v->cr8 = 0;
	if (v->lapic.ops)
		v->lapic.ops->reset(v);
	vmcs_write32(GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
	v->waiting_sipi = true;
	vm_vcpu_idle(v);
}

bool vcpu_init(struct vcpu *v, struct vm *vm, const struct boot_state *bs, char *err, size_t errlen)
{
	v->vm = vm;
	v->cause = CAUSE_RUNNING;
	v->cpu = this_cpu()->id; /* HOST_GS_BASE, HOST_TR_BASE, HOST_GDTR_BASE are this CPU's */
	v->entry_controls = hv_vmx.entry;
	*(uint32_t *)phys_to_virt(v->vmcs) = VMX_BASIC_REVISION(hv_vmx_caps.basic);
	enum vmx_result r = vmclear(v->vmcs);
	if (r == VMX_OK)
		r = vmptrld(v->vmcs);
	if (r != VMX_OK) {
		fmt_snprintf(err, errlen, "VMCLEAR/VMPTRLD of the VMCS failed (%s)",
			     r == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid");
		return false;
	}
	vmcs_clear_failed();
	if (!vm->cfg.passthrough && !lapic_init(v, hv_vmx.apicv)) {
		fmt_snprintf(err, errlen, "out of memory for the VM's local APIC");
		return false;
	}
	set_controls(v);
	set_host_state();
	static const struct boot_state waiting = { .mode = MODE_REAL };
	set_guest_state(v, bs ? bs : &waiting);
	vmcs_write32(VM_ENTRY_CONTROLS, v->entry_controls);
	if (!bs)
		vcpu_reset_init(v);
	if (hv_vmx.vpid && invvpid(INVVPID_SINGLE, vm->vpid, 0) != VMX_OK)
		invvpid(INVVPID_ALL, 0, 0);
	cpu_state_reset(v);
	if (vmcs_failed()) {
		fmt_snprintf(err, errlen, "VMCS setup failed (see the VMWRITE error above)");
		return false;
	}
	return true;
}

static void entry_failed(struct vcpu *v, int how)
{
	if (how == 2) {
		log_err("VM %s: VM entry failed: VMfailInvalid (no current VMCS)", v->vm->cfg.name);
	} else {
		uint32_t e = vmcs_read32(VM_INSTRUCTION_ERROR);
		log_err("VM %s: VM entry failed: VM-instruction error %u: %s", v->vm->cfg.name, e,
			vmx_insn_error_name(e));
	}
	vmcs_dump();
	vm_end(v, CAUSE_ENTRY_FAILURE, 0);
}

/* An NMI for the machine's own OS (one that exited, or reached the
 * hypervisor while it ran) is injected only when the OS can take it
 * (vmx/dev/pt/ptpolicy.h, nmi_step), else a window exit brings the vCPU back
 * for it. Virtual-NMI blocking, which the injection sets and the OS's
 * IRET clears (SDM vol. 3C, 25.4.2), keeps a second one out of the OS's
 * handler. An isolated VM has no NMI source: the NMI belongs to no one
 * and is dropped. */
static void pass_nmi(struct vcpu *v)
{
	if (!v->vm->cfg.passthrough) {
		percpu_write32(nmi_pending, 0);
		return;
	}
	if (vmcs_read32(GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI)
		return; /* when it starts: a CPU waiting for SIPI blocks NMIs (SDM vol. 3C, 25.4.2) */
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	struct nmi_view s = {
		.virtual_nmis = hv_vmx.virtual_nmis,
		.event_queued = vmcs_read32(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID,
		.sti = intr & INTERRUPTIBILITY_STI,
		.mov_ss = intr & INTERRUPTIBILITY_MOV_SS,
		.nmi_blocked = intr & INTERRUPTIBILITY_NMI,
		.interrupts_on = vmcs_readnat(GUEST_RFLAGS) & RFLAGS_IF,
		.debug_trap = vmcs_readnat(GUEST_PENDING_DBG_EXCEPTIONS) != 0,
		.after_nmi_window = v->exits && v->last_exit[(v->exits - 1) % LAST_EXITS] == EXIT_NMI_WINDOW,
	};
	switch (nmi_step(&s)) {
	case NMI_WAIT_NMI_WINDOW:
		vcpu_set_windows(v, PROC_NMI_WINDOW_EXITING, 0);
		return;
	case NMI_WAIT_INTR_WINDOW:
		vcpu_set_windows(v, PROC_INTERRUPT_WINDOW_EXITING, PROC_NMI_WINDOW_EXITING);
		return;
	case NMI_WAIT_EXIT:
		return;
	case NMI_INJECT:
		break;
	}
	vcpu_set_windows(v, 0, PROC_NMI_WINDOW_EXITING | PROC_INTERRUPT_WINDOW_EXITING);
	vmcs_write32(VM_ENTRY_INTR_INFO, 2 | INTR_TYPE_NMI | INTR_INFO_VALID);
	/* As on the CPU, one more may wait while this one is handled; the
	 * rest were the same NMI (SDM vol. 3A, 6.7.1). One instruction each
	 * (the NMI handler counts up in between). */
	percpu_dec32(nmi_pending);
	if (percpu_read32(nmi_pending) > 1)
		percpu_write32(nmi_pending, 1);
	if (percpu_read32(nmi_pending) && hv_vmx.virtual_nmis)
		vcpu_set_windows(v, PROC_NMI_WINDOW_EXITING, 0); /* back after this one's IRET */
}

/* Take an INIT another vCPU sent (its count): the vCPU goes where INIT
 * puts a CPU, waiting for a start-up IPI (SDM vol. 3A, 9.1). False if
 * none was sent. */
static bool vcpu_take_init(struct vcpu *v)
{
	if (!count_take(&v->inits_sent))
		return false;
	if (v->waiting_sipi)
		return true; /* INIT in the INIT state changes nothing */
	__atomic_store_n(&v->sipis_sent, 0, __ATOMIC_RELEASE); /* sent before the INIT: moot */
	vcpu_reset_init(v);
	log_info("VM %s: vCPU %u: INIT, waiting for a start-up IPI", v->vm->cfg.name, v->index);
	return true;
}

static void vcpu_start_at(struct vcpu *v, unsigned vector);

/*
 * The run loop's one place for pending work (enum vcpu_request, and this
 * CPU's NMIs and VMX failures): after an exit that left any, and before
 * each entry. Nonzero: leave vmx_run (the VM has ended, or the loop is to
 * enter again with another exit routine).
 */
int vcpu_serve(struct vcpu *v)
{
	/* An INIT another vCPU sent: its INIT exit, or one that came while
	 * this CPU was in VMX root operation, which the CPU holds until the
	 * next VM entry (SDM vol. 3C, 25.2) but an emulator may drop (Bochs
	 * does); taken here either way, and a real one that follows finds
	 * no count left. */
	if (vcpu_take_request(v, REQ_INIT) && v->cause == CAUSE_RUNNING) {
		if (!vcpu_take_init(v))
			log_debug("VM %s: vCPU %u: an INIT no vCPU sent: ignored", v->vm->cfg.name, v->index);
		/* A start-up IPI that came meanwhile found the CPU in VMX root,
		 * not waiting for SIPI, and was discarded: its count remains. */
		if (v->waiting_sipi && count_take(&v->sipis_sent))
			vcpu_start_at(v, v->sipi_vector);
	}
	/* A start-up IPI exit (25.2): one the guest sent starts the vCPU;
	 * the stop signal vm_kick sends is one too, and so is a stale one:
	 * they find no guest's SIPI to match. */
	if (vcpu_take_request(v, REQ_SIPI) && v->cause == CAUSE_RUNNING) {
		if (v->waiting_sipi && count_take(&v->sipis_sent))
			vcpu_start_at(v, v->sipi_vector);
		else
			log_debug("VM %s: vCPU %u: a start-up IPI no vCPU sent: ignored", v->vm->cfg.name, v->index);
	}
	if (vcpu_take_request(v, REQ_EVENT) && v->cause == CAUSE_RUNNING && v->lapic.ops)
		v->lapic.ops->deliver(v); /* asks again while an interrupt still waits */
	if (vmcs_failed()) {
		log_err("VM %s: a VMX instruction failed while handling exit reason %u", v->vm->cfg.name,
			v->last_exit[(v->exits - 1) % LAST_EXITS]);
		vm_end(v, CAUSE_ERROR, 0);
	}
	if (percpu_read32(nmi_pending) && v->cause == CAUSE_RUNNING)
		pass_nmi(v);
	vcpu_take_request(v, REQ_STOP);
	vm_stopping(v);
	return vcpu_take_request(v, REQ_REENTER) || v->cause != CAUSE_RUNNING;
}

/* Every exit, from vmx/hw/entry.S: the exit table's handler (vmx/exit/),
 * reached by a tail call; entry.S then tests the request and attention
 * words itself and calls vcpu_serve only if one is set. */
static void on_exit(struct vcpu *v)
{
	exit_handle(v);
}

/* stats=1: on_exit, timed, with the port or MSR of the exit counted. The
 * ticks run from here to the return, so they leave out the entry
 * routine's register save and restore (a fixed 38 instructions) and the
 * pending work vcpu_serve does after it. */
static void on_exit_timed(struct vcpu *v)
{
	uint64_t start = rdtsc();
	unsigned basic = vmcs_read32(VM_EXIT_REASON) & 0xffff;

	if (basic == EXIT_IO)
		stats_count_key(v->stats.ports, &v->stats.ports_untracked,
				decode_io(vmcs_readnat(EXIT_QUALIFICATION)).port);
	else if (basic == EXIT_RDMSR || basic == EXIT_WRMSR)
		stats_count_key(v->stats.msrs, &v->stats.msrs_untracked, (uint32_t)v->regs.gpr[REG_RCX]);
	exit_handle(v);
	if (basic < EXIT_REASON_MAX)
		v->stats.ticks[basic] += rdtsc() - start;
}

/* Either of them, then blocking by SMI cleared: for CPUs that report it
 * wrongly after a SIPI exit (vmx/exit/events.c, handle_sipi). */
static void on_exit_smi(struct vcpu *v)
{
	if (v->timed)
		on_exit_timed(v);
	else
		exit_handle(v);
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & INTERRUPTIBILITY_SMI)
		vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, intr & ~INTERRUPTIBILITY_SMI);
}

/* A start-up IPI with VECTOR ends the wait: real mode at VV00:0000 (SDM
 * vol. 3A, 9.4.4). */
static void vcpu_start_at(struct vcpu *v, unsigned vector)
{
	vmcs_write16(GUEST_CS_SELECTOR, (uint16_t)(vector << 8));
	vmcs_writenat(GUEST_CS_BASE, (uint64_t)vector << 12);
	vmcs_write32(GUEST_CS_LIMIT, 0xffff);
	vmcs_write32(GUEST_CS_AR_BYTES, AR_CODE16);
	vmcs_writenat(GUEST_RIP, 0);
	/* The wait blocked SMIs and NMIs; a CPU outside SMM may not enter
	 * with SMI blocking (SDM vol. 3C, 26.3.1.5), and the wait is over. */
	vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write32(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	v->waiting_sipi = false;
	/* Any other start-up IPI on its way finds it running and is
	 * discarded by the CPU: none is left to count. */
	__atomic_store_n(&v->sipis_sent, 0, __ATOMIC_RELEASE);
	vm_vcpu_wakes(v);
	log_info("VM %s: vCPU %u (APIC id %u) started at %04x:0000 by a start-up IPI", v->vm->cfg.name, v->index,
		 v->apic_id, vector << 8);
}

void vcpu_run(struct vcpu *v, bool stats)
{
	const struct vm_config *c = &v->vm->cfg;

	/* Every vCPU checks the time limit: vCPU 0 may be waiting for SIPI,
	 * where the preemption timer does not end the wait. */
	if (c->timeout && hv_vmx.preemption_timer)
		v->deadline_tsc = rdtsc() + c->timeout * tsc_hz;
	else if (c->timeout && !v->index)
		log_warn("VM %s: no VMX preemption timer: timeout=%llu is not enforced", c->name,
			 (unsigned long long)c->timeout);
	if (v->cpu != this_cpu()->id) { /* a VMCS runs where it was made: no migration */
		log_err("VM %s: its VMCS was set up on CPU %u, not this one", c->name, v->cpu);
		vm_end(v, CAUSE_ERROR, 0);
		return;
	}
	if (percpu_read32(nmi_pending))
		pass_nmi(v);
	/* A passthrough OS takes interrupts directly: a stop signal from an
	 * earlier VM still pending here would reach it. Taken now, with
	 * interrupts on for one instruction (trap() acknowledges it). */
	if (c->passthrough)
		__asm__ volatile("sti; nop; cli");
	/* In the loop from here (other CPUs signal it), then a look at
	 * whether the VM has ended: a full barrier between the two, as
	 * vm_end has between setting the cause and looking at in_run. */
	__atomic_store_n(&v->in_run, true, __ATOMIC_SEQ_CST);
	v->timed = stats;
	/* A start-up IPI that reached this CPU before the vCPU waited for it
	 * was lost in the hypervisor: taken here instead. */
	if (v->waiting_sipi && count_take(&v->sipis_sent))
		vcpu_start_at(v, v->sipi_vector);
	/* The loop returns when the VM has ended, or to be entered again
	 * with another exit routine. */
	while (!vm_stopping(v) && v->cause == CAUSE_RUNNING) {
		if ((v->requests | percpu_read64(attention)) && vcpu_serve(v))
			continue; /* ended, or to enter with another exit routine */
		int r = vmx_run(v, v->launched, percpu_read8(smi_stuck) ? on_exit_smi : stats ? on_exit_timed : on_exit,
				vcpu_serve);
		if (v->exits)
			v->launched = 1; /* an exit means the launch succeeded */
		if (r) {
			entry_failed(v, r);
			break;
		}
	}
	if (v->stuck_ticks) { /* selftest=stuck-stop: a CPU no stop signal reaches, for a while */
		log_info("selftest=stuck-stop: VM %s: vCPU %u stays in its loop", c->name, v->index);
		uint64_t until = rdtsc() + v->stuck_ticks;
		while (rdtsc() < until)
			__asm__ volatile("pause");
	}
	__atomic_store_n(&v->in_run, false, __ATOMIC_RELEASE);
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v->vmcs)
		return;
	vmclear(v->vmcs);
	phys_free(v->vmcs, 1);
	v->vmcs = 0;
	/* This CPU's cached translations for the VM go: its EPT's tables and
	 * its VPID will be another VM's (each CPU has its own TLBs). */
	if (hv_vmx.vpid)
		invvpid(INVVPID_SINGLE, v->vm->vpid, 0);
	if (v->vm->eptp)
		ept_invalidate(v->vm);
	msr_reset_unswitched();
	cpu_state_reset(v); /* the APIC page goes with the vCPU (vm_free_vcpus), once no vCPU can send it IPIs */
}
