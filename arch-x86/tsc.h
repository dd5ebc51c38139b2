/* The time-stamp counter's rate, for time limits. */
#ifndef ARCH_X86_TSC_H
#define ARCH_X86_TSC_H

#include <stdint.h>

extern uint64_t tsc_hz;

/* The TSC at the multiboot2 entry, the boot's first instruction
 * (boot/start.S). */
extern uint64_t hv_entry_tsc;

/* Measure tsc_hz: CPUID leaf 0x15 when it gives the crystal ratio, else
 * 10 ms of PIT channel 2, else CPUID leaf 0x16, else an assumed 1 GHz.
 * Returns how it was found, for the boot report. */
const char *tsc_calibrate(void);

#endif
