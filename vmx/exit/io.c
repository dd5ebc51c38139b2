/*
 * The port-IO exit: IN/OUT of 1, 2 and 4 bytes, and INS/OUTS with and
 * without REP in either direction, moving data through the guest's own
 * segments and paging with the checks its CPU makes after the exit: the
 * segment's type and limit, the page rights at the guest's CPL, the
 * accessed and dirty flags (vmx/core/gwalk.h; SDM vol. 3C, 28.2.1 and 28.2.5;
 * vol. 2B, INS/OUTS).
 *
 * A REP string instruction is done in batches that stay within one page;
 * while RCX is not zero the guest re-executes it (RIP is not advanced), so
 * a huge count costs the hypervisor one batch per exit, never a hang.
 */
#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/exit/decode.h"
#include "vmx/core/memory.h"
#include "vmx/dev/bus.h"
#include "vmx/exit/exit.h"
#include "vmx/core/guestmem.h"
#include "vmx/core/guest.h"
#include "arch-x86/spinlock.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "drivers/console.h"

#define STRIO_BATCH_MAX 4096 /* elements per exit */
#define SEG_ES 0

/* IN/OUT of AL, AX or EAX. The byte forms have one encoding each in every
 * mode, E4/E6 ib (2 bytes) and EC/EE (1 byte), so their length follows
 * from the qualification and the VMREAD of the instruction length is
 * saved, as for CPUID (exit.c); the word and dword forms may carry an
 * operand-size prefix, so theirs is read. */
static inline __attribute__((always_inline)) void io_simple(struct vcpu *v, struct io_qual q)
{
	uint64_t *rax = &v->regs.gpr[REG_RAX];
	uint32_t val = (uint32_t)*rax;

	port_access(v, q.port, q.size, q.in, &val);
	if (q.in) {
		if (q.size == 4)
			*rax = val; /* a 32-bit result zero-extends into RAX */
		else if (q.size == 2)
			*rax = (*rax & ~0xffffull) | val;
		else
			*rax = (*rax & ~0xffull) | val;
	}
	if (v->cause == CAUSE_RUNNING)
		guest_skip(q.size == 1 ? 1u + q.imm : vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
}

/* A memory operand's fault, as the CPU raises it: #PF with CR2, #GP(0),
 * or #SS(0); outside RAM ends the VM. GMEM_RETRY raises nothing: the
 * guest runs the instruction again. */
static void io_fault(struct vcpu *v, enum gmem_result r, const struct gmem_fault *f, bool in, unsigned seg)
{
	if (r == GMEM_PAGE_FAULT) {
		__asm__ volatile("mov %0, %%cr2" : : "r"(f->addr)); /* CR2 is not switched by VMX */
		guest_inject(VEC_PF, true, f->error_code);
	} else if (r == GMEM_NONCANONICAL) {
		guest_inject(seg == GW_SEG_SS ? VEC_SS : VEC_GP, true, 0);
	} else if (r == GMEM_OUTSIDE_RAM) {
		end_ept_violation(v, f->gpa, in ? "write" : "read");
	}
}

/* Move one element between port and guest memory at LINEAR (or HVA, when
 * the batch's page is already translated). An INS checks that it may
 * write the element before it reads the port: a faulting INS takes no
 * data from the device. False when the VM ended or the element faulted. */
static bool io_element(struct vcpu *v, const struct port_device *d, struct io_qual q, uint64_t linear, uint8_t *hva,
		       unsigned seg)
{
	uint32_t val = 0;
	struct gmem_fault f;
	enum gmem_result r = GMEM_OK;

	if (!q.in) {
		if (hva)
			__builtin_memcpy(&val, hva, q.size);
		else
			r = guest_read(v, linear, &val, q.size, GW_READ, &f);
		if (r == GMEM_OK)
			port_call(v, d, q.port, q.size, false, &val);
	} else {
		if (!hva)
			r = guest_write(v, linear, NULL, q.size, GW_WRITE, &f);
		if (r == GMEM_OK) {
			port_call(v, d, q.port, q.size, true, &val);
			if (hva)
				__builtin_memcpy(hva, &val, q.size);
			else
				r = guest_write(v, linear, &val, q.size, GW_WRITE, &f);
		}
	}
	if (r != GMEM_OK) {
		io_fault(v, r, &f, q.in, seg);
		return false;
	}
	return v->cause == CAUSE_RUNNING;
}

/* The guest's mode for its segmentation (SDM vol. 3A, 3.4 and 6.3). */
static enum gw_cpu_mode seg_mode(bool long64, uint64_t rflags)
{
	if (long64)
		return (vmcs_readnat(GUEST_CR4) & CR4_LA57) ? GW_MODE_64_LA57 : GW_MODE_64;
	if (!(vmcs_readnat(GUEST_CR0) & CR0_PE) || (rflags & RFLAGS_VM))
		return GW_MODE_REAL;
	return GW_MODE_PROTECTED;
}

/* How many of a batch's N elements from OFFSET pass the segment checks
 * (the first does). A segment's valid offsets are one range, so if the
 * last passes, all do. */
static uint64_t seg_passing(const struct gw_seg *s, unsigned seg, enum gw_cpu_mode mode, uint64_t offset,
			    int64_t step, uint64_t n, unsigned size, unsigned access)
{
	uint64_t la, k = n - 1;

	if (gw_segment(s, seg, mode, offset + (uint64_t)(step * (int64_t)k), size, access, &la) == GW_SEG_OK)
		return n;
	for (k = 1; k < n; k++)
		if (gw_segment(s, seg, mode, offset + (uint64_t)(step * (int64_t)k), size, access, &la) != GW_SEG_OK)
			break;
	return k;
}

/* Out of line: its frame would otherwise weigh on every IN and OUT. */
static __attribute__((noinline)) void io_string(struct vcpu *v, struct io_qual q)
{
	/* The address size and segment come from the VM-exit instruction
	 * information, which the CPU fills for INS/OUTS only if
	 * IA32_VMX_BASIC bit 54 says so (SDM vol. 3D, A.1). */
	if (!(hv_vmx_caps.basic & VMX_BASIC_INOUT)) {
		log_err("VM %s: INS/OUTS at RIP %#llx: this CPU does not report their operands (IA32_VMX_BASIC bit 54)",
			v->vm->cfg.name, (unsigned long long)guest_rip());
		vm_end(v, CAUSE_ERROR, EXIT_IO);
		return;
	}
	uint32_t info = vmcs_read32(VMX_INSTRUCTION_INFO);
	uint64_t amask = insn_info_addr_mask(info);
	uint64_t rflags = vmcs_readnat(GUEST_RFLAGS);
	bool down = rflags & RFLAGS_DF;
	unsigned reg = q.in ? REG_RDI : REG_RSI;
	unsigned seg = q.in ? SEG_ES : insn_info_segment(info); /* INS always writes ES:rDI */
	bool long64 = (vmcs_read64(GUEST_IA32_EFER) & EFER_LMA) && (vmcs_read32(GUEST_CS_AR_BYTES) & (1u << 13));
	uint64_t count = q.rep ? v->regs.gpr[REG_RCX] & amask : 1;
	int64_t step = down ? -(int64_t)q.size : q.size;
	unsigned access = q.in ? GW_WRITE : GW_READ;

	if (count) {
		/* The CPU checks the operand's segment and paging only after the
		 * exit (SDM vol. 3C, 26.1.1): here, as it would. All fields of a
		 * segment register are 2 apart in each table. */
		if (seg > 5)
			seg = SEG_ES;
		struct gw_seg s = { vmcs_read_raw((enum vmcs_field)(GUEST_ES_BASE + 2 * seg)),
				    (uint32_t)vmcs_read_raw((enum vmcs_field)(GUEST_ES_LIMIT + 2 * seg)),
				    (uint32_t)vmcs_read_raw((enum vmcs_field)(GUEST_ES_AR_BYTES + 2 * seg)) };
		enum gw_cpu_mode mode = seg_mode(long64, rflags);
		uint64_t off = v->regs.gpr[reg] & amask, linear;
		if (gw_segment(&s, seg, mode, off, q.size, access, &linear) != GW_SEG_OK) {
			guest_inject(seg == GW_SEG_SS ? VEC_SS : VEC_GP, true, 0);
			return;
		}
		uint64_t n = strio_batch(count, linear, q.size, down, STRIO_BATCH_MAX);
		/* Nor past the point where a 16- or 32-bit offset register wraps
		 * (a 64-bit one cannot wrap within a page). */
		if (amask != ~0ull) {
			uint64_t before_wrap = down ? off / q.size + 1 : (amask - off) / q.size + 1;
			if (n > before_wrap)
				n = before_wrap;
		}
		/* The segment's limit may end the batch early: the elements
		 * before the first that fails are done, then the fault. */
		uint64_t seg_ok = seg_passing(&s, seg, mode, off, step, n, q.size, access);
		/* A batch on one page is translated once, with the access's
		 * rights; if that faults, the first element raises it. */
		uint8_t *hva = NULL;
		uint64_t gpa;
		struct gmem_fault f;
		if (seg_ok > 1 && guest_translate(v, linear, access, &gpa, &f) == GMEM_OK) {
			uint64_t lo = down ? gpa - (seg_ok - 1) * q.size : gpa;
			uint8_t *p = gpa_to_hva(v->vm, lo, seg_ok * q.size);
			hva = p ? p + (gpa - lo) : NULL;
		}
		/* The batch stays on one page: no linear address in it wraps. */
		const struct port_device *d = bus_port(v->vm, q.port);
		uint64_t done = 0;
		while (done < seg_ok) {
			uint64_t l = linear + (uint64_t)(step * (int64_t)done);
			if (!io_element(v, d, q, l, hva ? hva + step * (int64_t)done : NULL, seg))
				break; /* the VM ended, or the element faulted (and is not done) */
			done++;
		}
		if (done == seg_ok && seg_ok < n)
			guest_inject(seg == GW_SEG_SS ? VEC_SS : VEC_GP, true, 0);
		v->regs.gpr[reg] = masked_add(v->regs.gpr[reg], step * (int64_t)done, amask);
		if (q.rep)
			v->regs.gpr[REG_RCX] = masked_add(v->regs.gpr[REG_RCX], -(int64_t)done, amask);
		if (done < n || (q.rep && (v->regs.gpr[REG_RCX] & amask)))
			return; /* faulted, ended, or more to do: RIP stays on the instruction */
	}
	if (v->cause == CAUSE_RUNNING)
		guest_skip(vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
}

static inline __attribute__((always_inline)) void io_exit(struct vcpu *v)
{
	struct io_qual q = decode_io(vmcs_readnat(EXIT_QUALIFICATION));

	if (q.string)
		io_string(v, q);
	else
		io_simple(v, q);
}

/* The device models are the VM's, not the vCPU's: with several vCPUs,
 * one at a time. Out of line, so a VM with one pays a test only. */
static __attribute__((noinline, cold)) void io_exit_shared(struct vcpu *v)
{
	spin_lock(&v->vm->lock);
	io_exit(v);
	spin_unlock(&v->vm->lock);
}

void handle_io(struct vcpu *v)
{
	if (__builtin_expect(v->vm->nvcpus > 1, 0))
		io_exit_shared(v);
	else
		io_exit(v);
}
