/*
 * The architectural rules for MOV to CR0 and CR4 that the hypervisor must
 * apply itself when such a write exits (it changes a bit the host owns:
 * the CPU then checks nothing). Pure logic, unit-tested on the host.
 */
#ifndef VMX_CR_H
#define VMX_CR_H

#include <stdbool.h>
#include <stdint.h>

/* The vCPU's state a write is checked against: CR0/CR4 as the guest sees
 * them, CR3, EFER, and whether it runs 64-bit code (LMA and CS.L). */
struct cr_state {
	uint64_t cr0, cr3, cr4, efer;
	bool code64;
};

/* May the guest write VAL to CR0? False: #GP(0). */
bool cr0_write_ok(const struct cr_state *s, uint64_t val);

/* May the guest write VAL to CR4, on a CPU whose CR4 may hold ALLOWED
 * (its fixed-1 bits, less those hidden from guests)? False: #GP(0). */
bool cr4_write_ok(const struct cr_state *s, uint64_t val, uint64_t allowed);

#endif
