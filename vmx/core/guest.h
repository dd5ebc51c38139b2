/*
 * The guest state of the vCPU whose VMCS is current on this CPU, as the
 * exit handlers and device models read and change it: its registers, CR0
 * and CR4 as it sees them, CPL, completing its instruction (RIP and what
 * retiring one does), halting it and queueing an exception for it. The
 * guest_* functions act on the current VMCS alone; vcpu_* also take the
 * vCPU, whose general registers are in its struct (vmx/hw/entry.S).
 */
#ifndef VMX_CORE_GUEST_H
#define VMX_CORE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch-x86/cpu.h"
#include "vmx/core/retire.h"
#include "vmx/core/vm.h"
#include "vmx/hw/vmcs.h"

/* The guest's RIP, for messages and decoding. */
static inline uint64_t guest_rip(void)
{
	return vmcs_readnat(GUEST_RIP);
}

/* Does the current vCPU run 64-bit code (CS.L in IA-32e mode)? */
bool guest_code64(void);

/* guest_skip's rare half: RIP across 4 GiB, TF or RF, or a shadow. */
void guest_skip_done(uint64_t len);

/* Complete the guest's exiting instruction of LEN bytes as the CPU would
 * have (vmx/core/retire.h): RIP past it; a single-step trap due after it, RF
 * cleared, an STI or MOV SS shadow it sat in over. Inline: it is most of a
 * fast exit's work. The rare cases (vmx/core/retire.h) cost two reads to
 * rule out, one at a time, and read again what they need, so that the
 * common case keeps only RIP live. */
static inline void guest_skip(uint64_t len)
{
	uint64_t rip = vmcs_readnat(GUEST_RIP), next = rip + len;
	if (__builtin_expect(!((next ^ rip) >> 32), 1) &&
	    __builtin_expect(!(vmcs_readnat(GUEST_RFLAGS) & RETIRE_RFLAGS), 1) &&
	    __builtin_expect(!(vmcs_read32(GUEST_INTERRUPTIBILITY_INFO) & RETIRE_SHADOWS), 1))
		vmcs_writenat(GUEST_RIP, next);
	else
		guest_skip_done(len);
}

/* CR0 bits the host owns (the guest/host mask), and the real CR0 for the
 * value GUEST as the guest sees it. */
uint64_t guest_cr0_host_bits(void);
uint64_t guest_real_cr0(uint64_t guest);

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
static inline unsigned guest_cpl(void)
{
	return (vmcs_read32(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/* Complete the guest's HLT: it waits in the HLT activity state until an
 * interrupt is injected (or the VM's time limit ends it). */
void guest_halt(void);

/* Queue a hardware exception for the next VM entry (SDM vol. 3C, 26.6).
 * The error code is delivered only in protected mode, as the CPU does. */
void guest_inject(uint8_t vector, bool has_error, uint32_t error);

/* An exit in the middle of delivering an event would lose it: queue it
 * again for the next entry from the IDT-vectoring information. */
void guest_requeue_event(void);

/* Turn the exit-when-the-guest-can-take-it controls (interrupt and NMI
 * window) ON and OFF in V's primary controls. */
void vcpu_set_windows(struct vcpu *v, uint32_t on, uint32_t off);

/* Guest general register N (RSP from the VMCS). */
uint64_t vcpu_gpr(struct vcpu *v, unsigned n);
void vcpu_set_gpr(struct vcpu *v, unsigned n, uint64_t value);

/* Exception vectors used by the handlers. */
enum { VEC_UD = 6, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14 };

#endif
