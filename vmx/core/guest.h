/* A vCPU: its VMCS, guest state, the VMLAUNCH/VMRESUME loop, and the
 * helpers exit handlers share. */
#ifndef VMX_VCPU_H
#define VMX_VCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch-x86/cpu.h"
#include "vmx/load/loader.h"
#include "vmx/core/retire.h"
#include "vmx/core/vm.h"
#include "vmx/hw/vmcs.h"

/* Fill V's VMCS (allocated, V's index and APIC id set) on this CPU, the
 * one it will run on: controls, host state, and guest state from BS; with
 * BS NULL, an AP's: waiting for a start-up IPI. */
bool vcpu_init(struct vcpu *v, struct vm *vm, const struct boot_state *bs, char *err, size_t errlen);

/* The guest state after INIT: waiting for a start-up IPI. */
void vcpu_reset_init(struct vcpu *v);

/* A start-up IPI with VECTOR ends the wait: real mode at VV00:0000 (SDM
 * vol. 3A, 9.4.4). */
void vcpu_start_at(struct vcpu *v, unsigned vector);

/* Take one from a count other CPUs add to (the INITs and start-up IPIs
 * sent to a vCPU); false if it is zero. */
static inline bool count_take(volatile uint32_t *count)
{
	uint32_t n = __atomic_load_n(count, __ATOMIC_ACQUIRE);
	while (n && !__atomic_compare_exchange_n(count, &n, n - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	return n != 0;
}

/* Take an INIT another vCPU sent (its count): the vCPU goes where INIT
 * puts a CPU, waiting for a start-up IPI (SDM vol. 3A, 9.1). False if
 * none was sent. */
bool vcpu_take_init(struct vcpu *v);

/* Enter the guest until the VM ends (v->cause is set); with STATS, time
 * each exit (stats=1). */
void vcpu_run(struct vcpu *v, bool stats);

void vcpu_destroy(struct vcpu *v);

/* Does the current vCPU run 64-bit code (CS.L in IA-32e mode)? */
bool vcpu_code64(void);

/* vcpu_skip's rare half: RIP across 4 GiB, TF or RF, or a shadow. */
void vcpu_skip_done(uint64_t len);

/* Complete the guest's exiting instruction of LEN bytes as the CPU would
 * have (vmx/core/retire.h): RIP past it; a single-step trap due after it, RF
 * cleared, an STI or MOV SS shadow it sat in over. Inline: it is most of a
 * fast exit's work. The rare cases (vmx/core/retire.h) cost two reads to
 * rule out, one at a time, and read again what they need, so that the
 * common case keeps only RIP live. */
static inline void vcpu_skip(uint64_t len)
{
	uint64_t rip = vmcs_readnat(GUEST_RIP), next = rip + len;
	if (__builtin_expect(!((next ^ rip) >> 32), 1) &&
	    __builtin_expect(!(vmcs_readnat(GUEST_RFLAGS) & RETIRE_RFLAGS), 1) &&
	    __builtin_expect(!(vmcs_read32(GUEST_INTERRUPTIBILITY_INFO) & RETIRE_SHADOWS), 1))
		vmcs_writenat(GUEST_RIP, next);
	else
		vcpu_skip_done(len);
}

/* Complete the guest's HLT: the vCPU waits in the HLT activity state until
 * an interrupt is injected (or the VM's time limit ends it). */
void vcpu_halt(struct vcpu *v);

/* The rest of an exit, out of the fast path (vmx/core/guest.c): deliver pending
 * interrupts and NMIs, end the VM on a failed VMX instruction. Nonzero
 * when the VM has ended. */
int vcpu_attend(struct vcpu *v);

/* The machine's OS can take the NMI waiting for it now (an NMI-window or
 * interrupt-window exit): the window is closed, and vcpu_attend injects. */
void vcpu_nmi_window(struct vcpu *v);

/* Queue a hardware exception for the next VM entry (SDM vol. 3C, 26.6).
 * The error code is delivered only in protected mode, as the CPU does. */
void vcpu_inject(struct vcpu *v, uint8_t vector, bool has_error, uint32_t error);

/* CR0 bits the host owns (the guest/host mask), and the real CR0 for the
 * value GUEST as the guest sees it. */
uint64_t vcpu_cr0_host_bits(void);
uint64_t vcpu_real_cr0(uint64_t guest);

/* CR0 as the guest last set it: the read shadow holds the bits the host
 * owns (the guest/host mask), GUEST_CR0 the others (SDM vol. 3C, 25.6.6). */
static inline uint64_t guest_cr0(void)
{
	uint64_t mask = vmcs_readnat(CR0_GUEST_HOST_MASK);
	return (vmcs_readnat(CR0_READ_SHADOW) & mask) | (vmcs_readnat(GUEST_CR0) & ~mask);
}

static inline uint64_t guest_cr4(void)
{
	uint64_t mask = vmcs_readnat(CR4_GUEST_HOST_MASK);
	return (vmcs_readnat(CR4_READ_SHADOW) & mask) | (vmcs_readnat(GUEST_CR4) & ~mask);
}

/* The guest's current privilege level: SS.DPL (SDM vol. 3A, 5.5). Inline:
 * the VMCALL path uses it. */
static inline unsigned vcpu_cpl(void)
{
	return (vmcs_read32(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/* Guest general register N (RSP from the VMCS). */
uint64_t vcpu_gpr(struct vcpu *v, unsigned n);
void vcpu_set_gpr(struct vcpu *v, unsigned n, uint64_t value);

/* Fetch and decode the MOV at the guest's RIP that touched a device
 * register (vmx/hw/exitinfo.h); false if it is not one. */
struct mmio_insn;
bool vcpu_decode_mmio(struct vcpu *v, struct mmio_insn *m);

/* Exception vectors used by the handlers. */
enum { VEC_UD = 6, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14 };

#endif
