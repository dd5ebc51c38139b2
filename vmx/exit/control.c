/*
 * Control-register exits: MOV to and from CR0, CR3, CR4 and CR8, and
 * LMSW, checked as the CPU checks them (the rules are in vmx/exit/cr.h)
 * and done on the VMCS with what the CPU would also do: enter or leave
 * long mode, load the PAE PDPTEs, flush the guest's TLB.
 */
#include "vmx/exit/exit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "vmx/core/guest.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "arch-x86/vmx_ops.h"
#include "vmx/core/guestmem.h"
#include "vmx/core/memory.h"
#include "vmx/dev/lapic.h"
#include "vmx/exit/cr.h"
#include "vmx/hw/caps.h"

/* What a MOV to CR0, CR3 or CR4 is checked against (vmx/exit/cr.h). */
static struct cr_state cr_state(void)
{
	return (struct cr_state){ guest_cr0(), vmcs_readnat(GUEST_CR3), guest_cr4(), vmcs_read64(GUEST_IA32_EFER),
				  guest_code64() };
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
	vmcs_writenat(GUEST_CR0, guest_real_cr0(val));
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

void handle_cr(struct vcpu *v)
{
	struct cr_qual q = decode_cr(vmcs_readnat(EXIT_QUALIFICATION));
	bool ok = true;

	if (q.type == CR_MOV_TO) {
		/* Read once for the checks; CR8 needs only the code size. */
		struct cr_state st = q.cr == 8 ? (struct cr_state){ .code64 = guest_code64() } : cr_state();
		uint64_t val = vcpu_gpr(v, q.gpr);
		if (!st.code64)
			val = (uint32_t)val; /* 32-bit operand outside 64-bit mode (vol. 2B, MOV CR) */
		if (q.cr == 0)
			ok = guest_write_cr0(v, &st, val);
		else if (q.cr == 4)
			ok = guest_write_cr4(v, &st, val);
		else if (q.cr == 3)
			ok = guest_write_cr3(v, &st, val);
		else if (q.cr == 8 && !(val >> 4) && v->lapic.ops) /* TPR: bits 63:4 reserved */
			v->lapic.ops->cr8_write(v, val);
		else if (q.cr == 8 && !(val >> 4))
			v->cr8 = val;
		else
			ok = false;
	} else if (q.type == CR_MOV_FROM && q.cr == 3) {
		vcpu_set_gpr(v, q.gpr, vmcs_readnat(GUEST_CR3));
	} else if (q.type == CR_MOV_FROM && q.cr == 8) {
		vcpu_set_gpr(v, q.gpr, v->lapic.ops ? v->lapic.ops->cr8_read(v) : v->cr8);
	} else if (q.type == CR_LMSW) {
		/* LMSW sets PE/MP/EM/TS and cannot clear PE. */
		struct cr_state st = cr_state();
		ok = guest_write_cr0(v, &st, (st.cr0 & ~0xeull) | (q.lmsw_data & 0xf) | (st.cr0 & CR0_PE));
	} else {
		ok = false;
	}
	if (!ok) {
		guest_inject(VEC_GP, true, 0);
		return;
	}
	guest_skip(vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
}
