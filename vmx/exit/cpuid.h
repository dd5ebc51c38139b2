/*
 * What guests see from CPUID: a table filled once at boot from the real
 * CPUID, under the policy below, so a CPUID exit is a table lookup.
 *   - leaf 1: ECX.VMX[5] clear (no nested VMX), ECX.MONITOR[3] clear
 *     (MONITOR/MWAIT raise #UD), ECX.hypervisor[31] set,
 *     ECX.OSXSAVE[27] follows the guest's own CR4.OSXSAVE, EBX[31:24]
 *     the vCPU's APIC ID (as EDX of leaves 0xB and 0x1F);
 *   - leaf 0xA (performance monitoring): all zero, no PMU is virtualized;
 *   - leaf 0xD (XSAVE): asked of the CPU at each exit, since its sizes
 *     depend on the guest's XCR0, limited to the components guests may
 *     enable;
 *   - 0x40000000: highest hypervisor leaf and the signature "hvhypervisor";
 *     0x40000001: EAX = the hypervisor's version;
 *   - a basic leaf above the highest one answers like the highest one, as
 *     Intel CPUs do; every other leaf as the CPU answers it.
 */
#ifndef VMX_CPUID_H
#define VMX_CPUID_H

#include <stdint.h>

#include "vmx/hw/regs.h"

#define HV_CPUID_SIGNATURE "hvhypervisor"
#define HV_CPUID_BASE 0x40000000u
#define HV_CPUID_MAX 0x40000001u
#define HV_VERSION_NUMBER 0x0001u /* 0.1 */

struct cpuid_entry {
	uint32_t eax, ebx, ecx, edx;
};

/* Fill the table from this CPU. */
void cpuid_policy_init(void);

/* The guest's answer for LEAF/SUBLEAF to the vCPU with APIC_ID (leaves 1,
 * 0xB and 0x1F report it); GUEST_CR4 is read only for leaf 1. */
struct cpuid_entry cpuid_guest(uint32_t leaf, uint32_t subleaf, uint32_t apic_id);

/* For each basic leaf below CPUID_FIXED_MAX with one answer whatever ECX
 * and the guest's state: that answer; NULL for the others (indexed
 * leaves, 1 and 0xD, leaves above the CPU's highest). */
#define CPUID_FIXED_MAX 0x20
extern const struct cpuid_entry *cpuid_fixed[CPUID_FIXED_MAX];

/* A CPUID exit: the leaf and subleaf from GPR[RAX], GPR[RCX] (register
 * numbers of vmx/hw/regs.h), the answer into RAX, RBX, RCX and RDX, for the
 * vCPU whose local APIC has APIC_ID. Inline: a fixed leaf is one pointer
 * lookup on the exit path. */
static inline void cpuid_emulate(uint64_t *gpr, uint32_t apic_id)
{
	uint32_t leaf = (uint32_t)gpr[REG_RAX];
	const struct cpuid_entry *f = leaf < CPUID_FIXED_MAX ? cpuid_fixed[leaf] : 0;
	struct cpuid_entry e = f ? *f : cpuid_guest(leaf, (uint32_t)gpr[REG_RCX], apic_id);

	gpr[REG_RAX] = e.eax;
	gpr[REG_RBX] = e.ebx;
	gpr[REG_RCX] = e.ecx;
	gpr[REG_RDX] = e.edx;
}

#endif
