/*
 * What completing an instruction does to the guest's state, when the
 * hypervisor completes it for the guest (vcpu_skip: CPUID, IN/OUT, RDMSR,
 * an emulated MOV and the rest). Pure, so the unit tests check it on the
 * host (tests/unit/test_retire.c).
 */
#ifndef VMX_RETIRE_H
#define VMX_RETIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "arch-x86/cpu.h"

/* What makes a completion more than RIP + LEN (vcpu_skip tests these, so
 * nearly every exit asks only this much): RFLAGS.TF or RF; blocking by STI
 * (bit 0) or MOV SS (bit 1) in the interruptibility state (SDM vol. 3C,
 * 25.4.2); and a RIP that crosses a 4 GiB boundary, as only 64-bit code
 * may. */
#define RETIRE_RFLAGS (RFLAGS_TF | RFLAGS_RF)
#define RETIRE_SHADOWS 3u

struct retire {
	bool gp;	  /* #GP(0) instead: the next RIP is not canonical */
	uint64_t rip, rflags;
	uint32_t intr;	  /* the interruptibility state */
	bool single_step; /* a single-step #DB is due (pending debug exceptions, BS) */
};

/* The instruction of LEN bytes at RIP is done:
 * - RIP moves past it; outside 64-bit mode EIP is 32 bits wide and wraps
 *   at 4 GiB (SDM vol. 1, 3.5; VM entry refuses a RIP above 4 GiB there,
 *   vol. 3C, 27.3.1.4). In 64-bit code a RIP that would leave the
 *   canonical range (LA_BITS: 48, or 57 with CR4.LA57) is #GP(0) at the
 *   instruction. The CPU would complete it and fault on fetching the
 *   next one, at the non-canonical RIP (Bochs does), but no VM entry may
 *   load such a RIP (27.3.1.4); KVM's emulator faults at the instruction
 *   too, as a near branch there does (vol. 2, JMP).
 * - RF is cleared, as after any instruction that completes (vol. 3A,
 *   19.3.1.1): it only keeps an instruction breakpoint at the instruction
 *   it returned to from firing again.
 * - The STI or MOV SS shadow it sat in is over (vol. 3A, 6.8.3).
 * - With TF set, and BTF clear (the debug-control MSR's single-step on
 *   branches, which this instruction is not), a single-step trap is due
 *   after it (vol. 3B, 19.3.1.4). */
static inline struct retire retire_insn(uint64_t rip, uint64_t len, bool code64, unsigned la_bits, uint64_t rflags,
					uint32_t intr, bool btf)
{
	uint64_t next = rip + len;
	unsigned shift = 64 - la_bits;
	if (code64 && (uint64_t)((int64_t)(next << shift) >> shift) != next)
		return (struct retire){ .gp = true };
	return (struct retire){
		.rip = code64 ? next : next & 0xffffffffull,
		.rflags = rflags & ~RFLAGS_RF,
		.intr = intr & ~RETIRE_SHADOWS,
		.single_step = (rflags & RFLAGS_TF) && !btf,
	};
}

#endif
