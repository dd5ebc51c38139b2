/*
 * WRMSRs the hypervisor does for the machine's own OS (issue 12, finding
 * 2). Run as the passthrough VM (at 16 MiB). The MSR bitmap makes the
 * x2APIC ICR and IA32_APIC_BASE exit before the CPU checks them, so each
 * of these used to reach a WRMSR in VMX root operation, whose #GP halted
 * the hypervisor and every CPU. Each must be the guest's own #GP:
 *
 *   WRMSR 0x830 (x2APIC ICR) while the APIC is in xAPIC mode
 *   then, in x2APIC mode (if CPUID offers it):
 *   WRMSR 0x830 with reserved bits set (bit 13, bits 17:16, 31:20)
 *   WRMSR IA32_APIC_BASE with EN=0 and EXTD=1 (an invalid state)
 *
 * The guest leaves its APIC in x2APIC mode and ends with its failure
 * count.
 */
#include "guest64.h"

#define MSR_APIC_BASE 0x1b
#define MSR_X2APIC_ICR 0x830
#define EXTD (1ull << 10)
#define EN (1ull << 11)


static void expect_gp(const char *what, uint32_t msr, uint64_t value)
{
	int vec = try_wrmsr(msr, value);
	if (vec != VEC_GP) {
		print("FAIL: %s: %s", what, vec == NO_FAULT ? "no fault" : "another exception");
		failures++;
	} else {
		print("ptmsr: %s: #GP", what);
	}
}

uint64_t guest_main(void)
{
	uint32_t r[4];
	uint64_t base;

	cpuid(1, 0, r);
	bool x2apic = r[2] & (1u << 21);
	if (try_rdmsr(MSR_APIC_BASE, &base) != NO_FAULT || (base & EXTD)) {
		print("FAIL: IA32_APIC_BASE unreadable or already in x2APIC mode");
		return 1;
	}
	expect_gp("x2APIC ICR written in xAPIC mode", MSR_X2APIC_ICR, 0x40);
	if (x2apic) {
		if (try_wrmsr(MSR_APIC_BASE, base | EN | EXTD) != NO_FAULT) {
			print("FAIL: switching to x2APIC mode faulted");
			return failures + 1;
		}
		expect_gp("x2APIC ICR with bit 13 set", MSR_X2APIC_ICR, 0x2040);
		expect_gp("x2APIC ICR with bits 17:16 set", MSR_X2APIC_ICR, 0x30040);
		expect_gp("x2APIC ICR with bits 31:20 set", MSR_X2APIC_ICR, 0xfff00040);
		expect_gp("IA32_APIC_BASE with EN=0 and EXTD=1", MSR_APIC_BASE, (base & ~EN) | EXTD);
	} else {
		print("ptmsr: no x2APIC on this CPU: the x2APIC-mode checks are not run");
	}
	print("ptmsr: %u checks failed", failures);
	return failures;
}
