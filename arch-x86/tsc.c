#include "arch-x86/tsc.h"

#include <stdbool.h>

#include "arch-x86/cpu.h"

uint64_t tsc_hz;

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE 0x61
/* 5 ms: one PIT period (0.84 us) is 0.02% of it, ample for time limits
 * and guests' APIC timers, and the wait is a fifth of the boot's cost to
 * its first VM entry (docs/performance.md). */
#define CALIBRATE_MS 5

/* PIT channel 2 in mode 0 counts down from the value written and raises
 * its output (port 0x61 bit 5) at zero (Intel 8254 data sheet). */
static bool pit_calibrate(void)
{
	uint16_t count = PIT_HZ * CALIBRATE_MS / 1000;
	uint8_t gate = inb(PIT_GATE);

	outb(PIT_GATE, (gate & ~0x02) | 0x01); /* gate on, speaker off */
	outb(PIT_CMD, 0xb0);		       /* channel 2, lo/hi byte, mode 0 */
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, count >> 8);
	uint64_t t0 = rdtsc();
	for (uint32_t spins = 0; !(inb(PIT_GATE) & 0x20); spins++)
		if (spins > 50000000u) { /* no PIT answers: give up */
			outb(PIT_GATE, gate);
			return false;
		}
	uint64_t t1 = rdtsc();
	outb(PIT_GATE, gate);
	tsc_hz = (t1 - t0) * (1000 / CALIBRATE_MS);
	return tsc_hz != 0;
}

const char *tsc_calibrate(void)
{
	uint32_t max = cpuid(0, 0).eax;

	if (max >= 0x15) {
		struct cpuid_regs r = cpuid(0x15, 0); /* TSC = crystal * EBX / EAX */
		if (r.eax && r.ebx && r.ecx) {
			tsc_hz = (uint64_t)r.ecx * r.ebx / r.eax;
			return "CPUID leaf 0x15";
		}
	}
	if (pit_calibrate())
		return "the PIT";
	if (max >= 0x16 && (cpuid(0x16, 0).eax & 0xffff)) {
		tsc_hz = (uint64_t)(cpuid(0x16, 0).eax & 0xffff) * 1000000;
		return "CPUID leaf 0x16";
	}
	tsc_hz = 1000000000ull;
	return "nothing (assumed 1 GHz)";
}
