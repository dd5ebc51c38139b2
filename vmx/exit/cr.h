/*
 * The architectural rules for MOV to CR0, CR3 and CR4 that the hypervisor
 * must apply itself when such a write exits (it changes a bit the host
 * owns, or CR3 loads exit: the CPU then checks and does nothing): which
 * values fault, whether the PAE PDPTEs are loaded again, and which cached
 * translations go. Pure logic, unit-tested on the host.
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

/* May the guest write VAL to CR3 on a CPU with MAXPHY physical-address
 * bits? False: #GP(0). */
bool cr3_write_ok(const struct cr_state *s, uint64_t val, unsigned maxphy);

/* What CR3 holds after the guest writes VAL to it. */
uint64_t cr3_written(const struct cr_state *s, uint64_t val);

/* May a PAE PDPTE hold this with MAXPHY physical-address bits? A present
 * one with a reserved bit is #GP for the write that loads it. */
bool pdpte_ok(uint64_t pdpte, unsigned maxphy);

/* Is PAE paging in use with these CR0, CR4 and EFER? */
bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer);

/* Does a MOV to CR0 or CR4 from S that leaves CR0 = CR0 and CR4 = CR4
 * load the four PDPTEs from CR3? */
bool cr_write_loads_pdptes(const struct cr_state *s, uint64_t cr0, uint64_t cr4);

/* The cached translations (TLBs and paging-structure caches) a control
 * register write must drop, least first. */
enum cr_flush {
	CR_FLUSH_NONE,
	CR_FLUSH_PCID, /* one PCID's: the current one, or for CR3 the one it names */
	CR_FLUSH_ALL,  /* every PCID's, global translations too */
};

/* ... after a MOV to CR0 or CR4 from S that leaves CR0 and CR4 so. */
enum cr_flush cr_write_flush(const struct cr_state *s, uint64_t cr0, uint64_t cr4);

/* ... after the guest writes VAL to CR3. */
enum cr_flush cr3_write_flush(const struct cr_state *s, uint64_t val);

#endif
