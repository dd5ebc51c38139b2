/*
 * EPT violations: a lazy fill of guest RAM, or an access to a page the
 * hypervisor emulates (the local APIC, the machine's OS's watched
 * registers), done from the instruction at RIP; anything else outside
 * the VM's RAM ends it.
 */
#include "vmx/exit/exit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "vmx/core/guest.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "arch-x86/apic.h"
#include "arch-x86/spinlock.h"
#include "vmx/core/guestmem.h"
#include "vmx/core/memory.h"
#include "vmx/exit/decode.h"
#include "vmx/dev/bus.h"
#include "vmx/exit/mmio.h"

/* Fetch and decode the instruction at RIP that touched a device register
 * (vmx/exit/decode.h); false if it is not one that is emulated. *BYTES
 * gets how many bytes could be fetched, into CODE. */
static bool mmio_decode(struct vcpu *v, struct mmio_insn *m, uint8_t code[15], size_t *bytes)
{
	struct gmem_fault f;
	uint32_t ar = vmcs_read32(GUEST_CS_AR_BYTES);
	/* The code size: real mode 16, else CS.L (64) or CS.D (32 or 16). */
	unsigned bits = !(vmcs_readnat(GUEST_CR0) & CR0_PE) ? 16 : (ar & AR_L) ? 64 : (ar & AR_DB) ? 32 : 16;
	/* CS.base applies outside 64-bit mode only (SDM vol. 1, 3.4.2.1). */
	uint64_t linear = vmcs_readnat(GUEST_RIP);
	if (bits != 64)
		linear = (vmcs_readnat(GUEST_CS_BASE) + linear) & 0xffffffffull;

	/* Up to 15 bytes, fewer if the instruction ends the last page the
	 * guest may fetch from at its CPL. */
	size_t avail = 15;
	while (avail && guest_read(v, linear, code, avail, GW_FETCH, &f) != GMEM_OK)
		avail--;
	*bytes = avail;
	return avail && decode_mmio(code, avail, bits, m);
}


void mmio_emulate(struct vcpu *v, uint64_t gpa, const struct mmio_region *r, unsigned status)
{
	struct mmio_insn m;
	uint8_t code[15];
	size_t bytes = 0;

	if (!mmio_decode(v, &m, code, &bytes)) {
		char hex[15 * 3 + 1] = "";
		for (size_t i = 0; i < bytes && i < 8; i++)
			fmt_snprintf(hex + 3 * i, sizeof(hex) - 3 * i, " %02x", code[i]);
		log_err("VM %s: access to guest-physical %#llx, a device register, by an instruction the hypervisor "
			"does not emulate (bytes%s), at RIP %#llx",
			v->vm->cfg.name, (unsigned long long)gpa, bytes ? hex : " unreadable", (unsigned long long)guest_rip());
		vm_end(v, CAUSE_UNHANDLED_EXIT, status);
		return;
	}
	struct mmio_access a = { .gpa = gpa, .size = m.size, .write = m.write };
	if (m.write)
		a.value = m.reg >= 0 ? vcpu_gpr(v, (unsigned)m.reg) >> (m.high8 ? 8 : 0) : m.imm;
	if (!r->fn(v, r->dev, &a))
		return; /* the device ended the VM, and said why */
	if (!m.write)
		vcpu_set_gpr(v, (unsigned)m.reg, mmio_loaded(vcpu_gpr(v, (unsigned)m.reg), a.value, m.size, m.high8));
	if (v->cause == CAUSE_RUNNING)
		guest_skip(m.len);
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
			v->vm->cfg.name, info, info & 0xff, (unsigned long long)gpa, (unsigned long long)guest_rip());
	else if (!q->translated)
		log_err("VM %s: its page walk touched guest-physical %#llx, a page the hypervisor emulates (a paging "
			"structure there), at RIP %#llx: not emulated",
			v->vm->cfg.name, (unsigned long long)gpa, (unsigned long long)guest_rip());
	else
		return false;
	vm_end(v, CAUSE_EPT_VIOLATION, gpa);
	return true;
}

/* The qualification (what kind of access) is read only where it matters,
 * so a lazy fill costs two VMREADs and the IDT vectoring: reason, address. */
void handle_ept_violation(struct vcpu *v)
{
	uint64_t gpa = vmcs_read64(GUEST_PHYSICAL_ADDRESS);

	if (v->vm->cfg.ept == EPT_LAZY && (v->vm->nvcpus > 1 ? ept_fill_shared(v->vm, gpa) : ept_fill(v->vm, gpa))) {
		guest_requeue_event(); /* then retry the access */
		return;
	}
	struct ept_qual q = decode_ept(vmcs_readnat(EXIT_QUALIFICATION));
	/* A device register (the emulated local APIC, the machine's OS's
	 * watched pages: vmx/dev/bus.h) is done from the instruction. */
	const struct mmio_region *r = bus_find_mmio(v->vm, gpa, q.write);
	if (r) {
		if (!not_the_instructions(v, gpa, &q))
			mmio_emulate(v, gpa, r, EXIT_EPT_VIOLATION);
		return;
	}
	if (v->cause != CAUSE_RUNNING)
		return;
	end_ept_violation(v, gpa, ept_access_name(&q));
}
