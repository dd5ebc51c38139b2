#include "vmx/exit/cpuid.h"

#include "vmx/core/guestmem.h"

#include <stdbool.h>

#include "arch-x86/cpu.h"
#include "arch-x86/string.h"
#include "vmx/hw/vmcs.h"

#define BASIC_MAX 0x20
#define SUBLEAF_MAX 8
#define EXT_BASE 0x80000000u
#define EXT_MAX 0x20

#define CPUID1_ECX_MONITOR (1u << 3)
#define CPUID1_ECX_VMX (1u << 5)
#define CPUID1_ECX_OSXSAVE (1u << 27)
#define CPUID1_ECX_HYPERVISOR (1u << 31)

static struct cpuid_entry basic[BASIC_MAX][SUBLEAF_MAX];
static struct cpuid_entry ext[EXT_MAX];
static uint32_t basic_max, ext_max;
const struct cpuid_entry *cpuid_fixed[CPUID_FIXED_MAX];
_Static_assert(CPUID_FIXED_MAX == BASIC_MAX, "every fixed basic leaf is in cpuid_fixed");

/* Leaves whose answer depends on ECX (SDM vol. 2A, CPUID). */
static bool indexed(uint32_t leaf)
{
	switch (leaf) {
	case 0x4: case 0x7: case 0xb: case 0xd: case 0xf: case 0x10: case 0x12:
	case 0x14: case 0x17: case 0x18: case 0x1d: case 0x1e: case 0x1f:
		return true;
	}
	return false;
}

static struct cpuid_entry real_cpuid(uint32_t leaf, uint32_t sub)
{
	struct cpuid_regs r = cpuid(leaf, sub);
	return (struct cpuid_entry){ r.eax, r.ebx, r.ecx, r.edx };
}

void cpuid_policy_init(void)
{
	basic_max = cpuid(0, 0).eax;
	if (basic_max >= BASIC_MAX)
		basic_max = BASIC_MAX - 1;
	for (uint32_t l = 0; l <= basic_max; l++)
		for (uint32_t s = 0; s < (indexed(l) ? SUBLEAF_MAX : 1u); s++)
			basic[l][s] = real_cpuid(l, s);
	basic[0][0].eax = basic_max;

	/* MONITOR/MWAIT raise #UD in guests (a guest must not idle the CPU
	 * under the hypervisor), so they are not offered. */
	basic[1][0].ecx &= ~(CPUID1_ECX_VMX | CPUID1_ECX_OSXSAVE | CPUID1_ECX_MONITOR);
	basic[1][0].ecx |= CPUID1_ECX_HYPERVISOR;
	if (basic_max >= 0xa)
		memset(&basic[0xa][0], 0, sizeof(basic[0xa][0]));

	for (uint32_t l = 0; l <= basic_max; l++)
		cpuid_fixed[l] = indexed(l) || l == 1 || l == 0xd ? NULL : &basic[l][0];

	ext_max = cpuid(EXT_BASE, 0).eax;
	if (ext_max < EXT_BASE || ext_max >= EXT_BASE + EXT_MAX)
		ext_max = ext_max < EXT_BASE ? EXT_BASE : EXT_BASE + EXT_MAX - 1;
	for (uint32_t l = EXT_BASE; l <= ext_max; l++)
		ext[l - EXT_BASE] = real_cpuid(l, 0);
	ext[0].eax = ext_max;
	/* Guest-memory accesses walk paging as this CPUID describes it. */
	guestmem_set_cpu(cpuid_guest(EXT_BASE, 0, 0).eax >= 0x80000008u ? cpuid_guest(0x80000008u, 0, 0).eax & 0xff : 36,
			 cpuid_guest(0x80000001u, 0, 0).edx & (1u << 26));
}

struct cpuid_entry cpuid_guest(uint32_t leaf, uint32_t subleaf, uint32_t apic_id)
{
	/* Leaf 0xD's sizes follow the XCR0 (and XSS) in force, which is the
	 * guest's own while it runs: ask the CPU, keeping only the components
	 * the hypervisor lets guests enable. */
	if (leaf == 0xd && leaf <= basic_max) {
		struct cpuid_regs r = cpuid(leaf, subleaf);
		if (subleaf == 0) {
			r.eax &= (uint32_t)XCR0_KNOWN;
			r.edx &= (uint32_t)(XCR0_KNOWN >> 32);
		}
		return (struct cpuid_entry){ r.eax, r.ebx, r.ecx, r.edx };
	}
	if (leaf <= basic_max) {
		struct cpuid_entry e = basic[leaf][indexed(leaf) && subleaf < SUBLEAF_MAX ? subleaf : 0];
		if (indexed(leaf) && subleaf >= SUBLEAF_MAX)
			e = (struct cpuid_entry){ 0, 0, 0, 0 };
		if (leaf == 1 && (vmcs_readnat(GUEST_CR4) & CR4_OSXSAVE))
			e.ecx |= CPUID1_ECX_OSXSAVE;
		if (leaf == 1)
			e.ebx = (e.ebx & 0x00ffffffu) | apic_id << 24;
		if (leaf == 0xb || leaf == 0x1f)
			e.edx = apic_id; /* the x2APIC ID */
		return e;
	}
	if (leaf == HV_CPUID_BASE) {
		struct cpuid_entry e = { HV_CPUID_MAX, 0, 0, 0 };
		memcpy(&e.ebx, HV_CPUID_SIGNATURE, 4);
		memcpy(&e.ecx, HV_CPUID_SIGNATURE + 4, 4);
		memcpy(&e.edx, HV_CPUID_SIGNATURE + 8, 4);
		return e;
	}
	if (leaf == HV_CPUID_MAX)
		return (struct cpuid_entry){ HV_VERSION_NUMBER, 0, 0, 0 };
	if (leaf >= EXT_BASE && leaf <= ext_max)
		return ext[leaf - EXT_BASE];
	if ((leaf & 0xf0000000u) == HV_CPUID_BASE)
		return (struct cpuid_entry){ 0, 0, 0, 0 }; /* the rest of the hypervisor range */
	return basic[basic_max][0];
}
