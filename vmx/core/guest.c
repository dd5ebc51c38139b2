#include "vmx/core/guest.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/hw/caps.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

uint64_t vcpu_gpr(struct vcpu *v, unsigned n)
{
	return n == REG_RSP ? vmcs_readnat(GUEST_RSP) : v->regs.gpr[n];
}

void vcpu_set_gpr(struct vcpu *v, unsigned n, uint64_t value)
{
	if (n == REG_RSP)
		vmcs_writenat(GUEST_RSP, value);
	else
		v->regs.gpr[n] = value;
}

#define DEBUGCTL_BTF (1ull << 1)
#define PENDING_DBG_BS (1ull << 14)

/* Queue a hardware exception for the next VM entry (vcpu_inject). */
static void inject_hw_exception(uint8_t vector, bool has_error, uint32_t error)
{
	uint32_t info = vector | INTR_TYPE_HW_EXCEPTION | INTR_INFO_VALID;
	if (has_error && (vmcs_readnat(GUEST_CR0) & CR0_PE)) {
		info |= INTR_INFO_DELIVER_CODE;
		vmcs_write32(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
	}
	vmcs_write32(VM_ENTRY_INTR_INFO, info);
}

_Static_assert(RETIRE_SHADOWS == (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS), "vmx/core/retire.h");

bool guest_code64(void)
{
	return (vmcs_read64(GUEST_IA32_EFER) & EFER_LMA) && (vmcs_read32(GUEST_CS_AR_BYTES) & AR_L);
}

/* The rare completions (vmx/core/retire.h). A shadow must end: the HLT
 * activity state or an injected interrupt with such blocking is an
 * invalid guest state (SDM vol. 3C, 27.3.1.5). A single-step trap is
 * delivered by VM entry from the pending debug exceptions' BS bit
 * (27.7.3; vol. 3B, 19.2.4 on DR6.BS). */
void guest_skip_done(uint64_t len)
{
	uint64_t rip = vmcs_readnat(GUEST_RIP), rflags = vmcs_readnat(GUEST_RFLAGS);
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	bool code64 = guest_code64();
	bool btf = (rflags & RFLAGS_TF) && (vmcs_read64(GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF);
	unsigned la_bits = code64 && (vmcs_readnat(GUEST_CR4) & CR4_LA57) ? 57 : 48;
	struct retire r = retire_insn(rip, len, code64, la_bits, rflags, intr, btf);
	if (r.gp) {
		inject_hw_exception(VEC_GP, true, 0);
		return;
	}
	vmcs_writenat(GUEST_RIP, r.rip);
	if (r.rflags != rflags)
		vmcs_writenat(GUEST_RFLAGS, r.rflags);
	if (r.intr != intr)
		vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, r.intr);
	if (r.single_step)
		vmcs_writenat(GUEST_PENDING_DBG_EXCEPTIONS, vmcs_readnat(GUEST_PENDING_DBG_EXCEPTIONS) | PENDING_DBG_BS);
}

void guest_halt(void)
{
	guest_skip(1); /* ends any shadow HLT sat in: see guest_skip_done */
	vmcs_write32(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
}

void guest_inject(uint8_t vector, bool has_error, uint32_t error)
{
	inject_hw_exception(vector, has_error, error);
}

/* The IDT-vectoring information says which event the exit interrupted
 * (an exception the CPU or the hypervisor raised, an interrupt); it is
 * delivered again on the next entry (SDM vol. 3C, 28.2.4, 30.2.5). */
void guest_requeue_event(void)
{
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

void vcpu_set_windows(struct vcpu *v, uint32_t on, uint32_t off)
{
	uint32_t c = (v->proc_controls | on) & ~off;
	if (c == v->proc_controls)
		return;
	v->proc_controls = c;
	vmcs_write32(CPU_BASED_VM_EXEC_CONTROL, c);
}

uint64_t guest_cr0_host_bits(void)
{
	const struct vmx_caps *c = &hv_vmx_caps;
	return (c->cr0_fixed0 & ~(CR0_PE | CR0_PG)) | (~c->cr0_fixed1 & 0xffffffffull) | CR0_CD | CR0_NW;
}

uint64_t guest_real_cr0(uint64_t guest)
{
	const struct vmx_caps *c = &hv_vmx_caps;
	return vmx_fixed_bits(guest & ~(CR0_CD | CR0_NW), c->cr0_fixed0 & ~(CR0_PE | CR0_PG), c->cr0_fixed1);
}
