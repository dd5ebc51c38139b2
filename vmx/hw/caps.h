/*
 * VMX capabilities, read once at boot into one struct (SDM vol. 3D,
 * appendix A "VMX capability reporting facility"), with one-line
 * predicates. The decoding and the verdict on whether the hypervisor can
 * run are pure logic, unit tested on the host with synthetic MSR values.
 */
#ifndef VMX_CAPS_H
#define VMX_CAPS_H

#include <stdbool.h>
#include <stdint.h>

/* IA32_VMX_BASIC (A.1). */
#define VMX_BASIC_REVISION(b) ((uint32_t)((b) & 0x7fffffff))
#define VMX_BASIC_REGION_SIZE(b) ((uint32_t)(((b) >> 32) & 0x1fff))
#define VMX_BASIC_MEMTYPE(b) ((unsigned)(((b) >> 50) & 0xf))
#define VMX_BASIC_INOUT (1ull << 54)
#define VMX_BASIC_TRUE_CTLS (1ull << 55)

/* Control bits the boot report and the verdict look at (SDM vol. 3C,
 * 25.6). The full sets come with the VMCS code. */
#define PIN_PREEMPTION_TIMER (1u << 6)
#define PROC_ACTIVATE_SECONDARY (1u << 31)
#define PROC2_EPT (1u << 1)
#define PROC2_VPID (1u << 5)
#define PROC2_UNRESTRICTED_GUEST (1u << 7)

/* IA32_VMX_EPT_VPID_CAP (A.10). */
#define EPT_CAP_WALK4 (1ull << 6)
#define EPT_CAP_WB (1ull << 14)
#define EPT_CAP_2M (1ull << 16)
#define EPT_CAP_1G (1ull << 17)
#define EPT_CAP_INVEPT (1ull << 20)
#define EPT_CAP_AD (1ull << 21)
#define EPT_CAP_INVEPT_SINGLE (1ull << 25)
#define EPT_CAP_INVEPT_ALL (1ull << 26)
#define VPID_CAP_INVVPID (1ull << 32)

struct vmx_caps {
	bool vmx;		  /* CPUID.1:ECX.VMX[5] */
	uint64_t feature_control; /* IA32_FEATURE_CONTROL as it stands */
	uint64_t basic, misc;
	/* Control capability MSRs: the TRUE_ ones when basic bit 55 is set.
	 * Low 32 bits: allowed 0-settings; high: allowed 1-settings. */
	uint64_t pin, proc, proc2, exit, entry;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint64_t ept_vpid, vmfunc;
};

/* May the control with bit BIT in capability MSR CAP be 1? */
static inline bool ctl_allowed1(uint64_t cap, uint32_t bit) { return (cap >> 32) & bit; }

static inline bool cpu_has_true_ctls(const struct vmx_caps *c) { return c->basic & VMX_BASIC_TRUE_CTLS; }
static inline bool cpu_has_secondary(const struct vmx_caps *c) { return ctl_allowed1(c->proc, PROC_ACTIVATE_SECONDARY); }
static inline bool cpu_has_ept(const struct vmx_caps *c) { return cpu_has_secondary(c) && ctl_allowed1(c->proc2, PROC2_EPT); }
static inline bool cpu_has_vpid(const struct vmx_caps *c) { return cpu_has_secondary(c) && ctl_allowed1(c->proc2, PROC2_VPID); }
static inline bool cpu_has_unrestricted_guest(const struct vmx_caps *c) { return cpu_has_secondary(c) && ctl_allowed1(c->proc2, PROC2_UNRESTRICTED_GUEST); }
static inline bool cpu_has_preemption_timer(const struct vmx_caps *c) { return ctl_allowed1(c->pin, PIN_PREEMPTION_TIMER); }
static inline bool cpu_has_ept_2m(const struct vmx_caps *c) { return cpu_has_ept(c) && (c->ept_vpid & EPT_CAP_2M); }
static inline bool cpu_has_ept_1g(const struct vmx_caps *c) { return cpu_has_ept(c) && (c->ept_vpid & EPT_CAP_1G); }
static inline bool cpu_has_ept_ad(const struct vmx_caps *c) { return cpu_has_ept(c) && (c->ept_vpid & EPT_CAP_AD); }
/* IA32_VMX_MISC bit 8: VM entry may leave the guest waiting for SIPI (A.6). */
#define VMX_MISC_WAIT_SIPI (1ull << 8)
/* Preemption timer ticks once every 2^rate TSC ticks (A.6). */
static inline unsigned vmx_preemption_timer_rate(const struct vmx_caps *c) { return c->misc & 0x1f; }

/*
 * A control word from capability MSR CAP (A.3-A.5): the bits the CPU
 * forces to 1 (allowed-0 settings), every REQUIRED bit, and each OPTIONAL
 * bit the CPU allows. Returns false with *MISSING = the required bits it
 * does not allow (the word is still computed without them).
 */
bool vmx_adjust_controls(uint64_t cap, uint32_t required, uint32_t optional, uint32_t *out, uint32_t *missing);

/* VALUE with the CR0/CR4 bits that VMX operation fixes (A.7, A.8): bits set
 * in FIXED0 forced on, bits clear in FIXED1 forced off. */
static inline uint64_t vmx_fixed_bits(uint64_t value, uint64_t fixed0, uint64_t fixed1)
{
	return (value | fixed0) & fixed1;
}

/* Is VAL a valid XCR0 on a CPU whose XCR0-settable bits are SUPPORTED?
 * (SDM vol. 1, 13.3; vol. 2C, XSETBV): x87 always on, AVX needs SSE,
 * AVX-512 all three bits and AVX, the MPX bits together, the AMX bits
 * together. The hypervisor executes a guest's XSETBV itself only after
 * this, with SUPPORTED limited to components whose rules are known here,
 * so that it cannot fault. */
bool xcr0_valid(uint64_t val, uint64_t supported);

enum vmx_verdict {
	VMX_USABLE,
	VMX_ABSENT,		 /* CPUID says no VMX */
	VMX_DISABLED_BY_FIRMWARE, /* FEATURE_CONTROL locked with VMX off */
	VMX_NO_EPT,
	VMX_NO_EPT_WALK,	 /* EPT without a 4-level walk or write-back tables */
	VMX_NO_UNRESTRICTED_GUEST,
};

/* Can the hypervisor run on a CPU with these capabilities? */
enum vmx_verdict vmx_verdict(const struct vmx_caps *c);

/* One line for the user: what is missing and what to do about it. */
const char *vmx_verdict_text(enum vmx_verdict v);

#endif
