#include "vmx/isolation.h"

#include <stdint.h>

#include "arch-x86/cpu.h"
#include "arch-x86/percpu/hoststate.h"
#include "arch-x86/msr.h"
#include "arch-x86/percpu/percpu.h"
#include "drivers/console.h"

extern const char __image_start[], __rodata_end[];

/* The secret lives in .data, inside the hypervisor's image, which no
 * guest's EPT maps. */
static volatile uint64_t secret = 1;
static uint64_t image_sum;
static unsigned changes;

/* The host MSRs the hypervisor depends on (issue 6): a guest's WRMSR must
 * never reach them. */
static const struct {
	uint32_t msr;
	const char *name;
	uint64_t mask; /* the bits compared */
} watched[] = {
	{ MSR_EFER, "EFER", ~0ull },
	{ MSR_LSTAR, "LSTAR", ~0ull },
	{ MSR_STAR, "STAR", ~0ull },
	{ MSR_FS_BASE, "FS_BASE", ~0ull },
	{ MSR_GS_BASE, "GS_BASE", ~0ull },
	{ MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", ~0ull },
	{ MSR_IA32_FEATURE_CONTROL, "FEATURE_CONTROL", ~0ull },
	{ MSR_IA32_DEBUGCTL, "DEBUGCTL", ~0ull },
	{ MSR_IA32_PAT, "PAT", ~0ull },
	/* The machine's own OS may enable x2APIC mode (the hypervisor's
	 * IPIs work in both); where the APIC is, that it is on, and the BSP
	 * bit, are the hypervisor's. */
	{ MSR_IA32_APIC_BASE, "APIC_BASE", ~APIC_BASE_EXTD },
};
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))
static uint64_t watched_value[MAX_CPUS][NWATCHED]; /* each CPU's own (GS base differs) */

/* FNV-1a over 64-bit words: the image's text and read-only data. */
static uint64_t sum_image(void)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const uint64_t *p = (const uint64_t *)__image_start; p < (const uint64_t *)__rodata_end; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

/* RDRAND where the CPU has it (CPUID.1:ECX[30]), else the TSC stirred:
 * good enough for a canary no guest can read anyway. */
static uint64_t random64(void)
{
	if (cpuid(1, 0).ecx & (1u << 30)) {
		for (int tries = 0; tries < 10; tries++) {
			uint64_t v;
			bool ok;
			__asm__ volatile("rdrand %0" : "=r"(v), "=@ccc"(ok));
			if (ok && v)
				return v;
		}
	}
	uint64_t x = rdtsc() | 1;
	for (int i = 0; i < 4; i++)
		x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull + rdtsc();
	return x ? x : 1;
}

void isolation_init(void)
{
	secret = random64();
	image_sum = sum_image();
	isolation_cpu_init();
	log_info("isolation: secret %016llx at %#llx; text and read-only data %#llx-%#llx, sum %016llx; %u host MSRs "
		 "and APIC registers watched",
		 (unsigned long long)secret, (unsigned long long)(uintptr_t)&secret,
		 (unsigned long long)(uintptr_t)__image_start, (unsigned long long)(uintptr_t)__rodata_end,
		 (unsigned long long)image_sum, (unsigned)NWATCHED + host_state_count());
}

void isolation_cpu_init(void)
{
	for (unsigned i = 0; i < NWATCHED; i++)
		watched_value[this_cpu()->id][i] = rdmsr(watched[i].msr);
}

bool isolation_check(const char *name)
{
	bool ok = true;
	uint64_t sum = sum_image();

	if (sum != image_sum) {
		log_err("isolation: after VM %s the hypervisor's text or read-only data changed (sum %016llx, was "
			"%016llx)",
			name, (unsigned long long)sum, (unsigned long long)image_sum);
		ok = false;
	}
	const uint64_t *was = watched_value[this_cpu()->id];
	for (unsigned i = 0; i < NWATCHED; i++) {
		uint64_t v = rdmsr(watched[i].msr);
		if ((v ^ was[i]) & watched[i].mask) {
			log_err("isolation: after VM %s the host's %s is %#llx, was %#llx", name, watched[i].name,
				(unsigned long long)v, (unsigned long long)was[i]);
			ok = false;
		}
	}
	/* The local APIC, MTRRs, SPEC_CTRL and MCi_CTL2 (arch-x86/percpu/hoststate.h):
	 * as at boot, the machine's OS's changes put back. */
	ok &= host_state_check(name);
	if (!ok)
		__atomic_add_fetch(&changes, 1, __ATOMIC_RELAXED);
	return ok;
}

void isolation_report(unsigned vms)
{
	if (changes)
		log_err("isolation: the hypervisor changed after %u of %u VMs", changes, vms);
	else
		log_info("isolation: after %u VMs the hypervisor's text, read-only data and watched MSRs are unchanged",
			 vms);
}
