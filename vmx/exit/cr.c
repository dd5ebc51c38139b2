#include "vmx/exit/cr.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"

/* SDM vol. 2B, MOV to/from control registers (its exceptions), and vol.
 * 3A, 2.5 and 5.1.1 (enabling and changing paging modes). */
bool cr0_write_ok(const struct cr_state *s, uint64_t val)
{
	if (val >> 32)
		return false; /* reserved */
	if ((val & CR0_PG) && !(val & CR0_PE))
		return false;
	if ((val & CR0_NW) && !(val & CR0_CD))
		return false;
	if (!(val & CR0_PG) && (s->cr0 & CR0_PG)) {
		if (s->code64)
			return false; /* IA-32e mode is left from compatibility mode only */
		if (s->cr4 & CR4_PCIDE)
			return false; /* PCIDE goes first (vol. 3A, 5.10.1) */
	}
	if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (s->efer & EFER_LME) && !(s->cr4 & CR4_PAE))
		return false; /* IA-32e paging needs PAE */
	if (!(val & CR0_WP) && (s->cr4 & CR4_CET))
		return false; /* CET needs write protection (vol. 1, 18.2) */
	return true;
}

bool cr4_write_ok(const struct cr_state *s, uint64_t val, uint64_t allowed)
{
	bool lma = s->efer & EFER_LMA;

	if (val & ~allowed)
		return false; /* reserved, or not offered */
	if (lma && !(val & CR4_PAE))
		return false; /* leaving PAE in IA-32e mode */
	if (lma && ((val ^ s->cr4) & CR4_LA57))
		return false; /* the paging depth is fixed while IA-32e mode is on */
	if ((val & CR4_PCIDE) && !(s->cr4 & CR4_PCIDE) && (!lma || (s->cr3 & 0xfff)))
		return false; /* PCIDs only in IA-32e mode, and from PCID 0 */
	if ((val & CR4_CET) && !(s->cr0 & CR0_WP))
		return false;
	return true;
}

/* With CR4.PCIDE, bit 63 of the source says "keep this PCID's
 * translations" and is not stored (vol. 3A, 5.10.4.1; vol. 2B, MOV CR);
 * otherwise it is a reserved bit as every bit above the physical-address
 * width is. */
bool cr3_write_ok(const struct cr_state *s, uint64_t val, unsigned maxphy)
{
	return maxphy >= 64 || !(cr3_written(s, val) >> maxphy);
}

uint64_t cr3_written(const struct cr_state *s, uint64_t val)
{
	return (s->cr4 & CR4_PCIDE) ? val & ~CR3_NOFLUSH : val;
}

/* Vol. 3A, 5.1.1. EFER.LME with paging on is IA-32e mode, whether paging
 * was on already (VM entry requires LMA = LME then, vol. 3C, 27.3.1.1) or
 * the write turns it on (vol. 3A, 10.8.5). */
/* Vol. 3A, 5.4.1 and table 5-8: bits 2:1, 8:5 and 63:MAXPHYADDR. */
bool pdpte_ok(uint64_t pdpte, unsigned maxphy)
{
	uint64_t reserved = 0x1e6ull | (maxphy >= 64 ? 0 : ~0ull << maxphy);
	return !(pdpte & 1) || !(pdpte & reserved);
}

bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LME);
}

/* Vol. 3A, 5.4.1: PAE paging in use after the write, and it changes CD,
 * NW, PG, PAE, PGE, PSE or SMEP. A write that only sets CD reloads them
 * too: the guest may have changed a PDPTE in memory since its last CR3
 * load, and the CPU would take the new one. */
bool cr_write_loads_pdptes(const struct cr_state *s, uint64_t cr0, uint64_t cr4)
{
	const uint64_t cr0_bits = CR0_CD | CR0_NW | CR0_PG, cr4_bits = CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP;

	return pae_paging(cr0, cr4, s->efer) && (((cr0 ^ s->cr0) & cr0_bits) || ((cr4 ^ s->cr4) & cr4_bits));
}

/* Vol. 3A, 5.10.4.1. MOV to CR0 flushes everything when it clears PG,
 * and nothing else is required of it (CD, NW, WP: no). MOV to CR4
 * flushes everything when it changes PGE or clears PCIDE, and the current
 * PCID when it changes PAE or sets SMEP. Paging turned on is not on the
 * list; it flushes all the same, because nothing promises that what the
 * CPU cached for the VPID while paging was off (linear addresses are then
 * guest-physical ones) goes on a VM entry with VPIDs, and flushing more
 * is always allowed. */
enum cr_flush cr_write_flush(const struct cr_state *s, uint64_t cr0, uint64_t cr4)
{
	uint64_t cr4_set = cr4 & ~s->cr4, cr4_cleared = s->cr4 & ~cr4;

	if (((cr0 ^ s->cr0) & CR0_PG) || ((cr4 ^ s->cr4) & CR4_PGE) || (cr4_cleared & CR4_PCIDE))
		return CR_FLUSH_ALL;
	if (((cr4 ^ s->cr4) & CR4_PAE) || (cr4_set & CR4_SMEP))
		return CR_FLUSH_PCID;
	return CR_FLUSH_NONE;
}

/* Vol. 3A, 5.10.4.1: the non-global translations of the PCID it loads
 * (PCID 0 without PCIDE), unless PCIDE is on and bit 63 is set. */
enum cr_flush cr3_write_flush(const struct cr_state *s, uint64_t val)
{
	return (s->cr4 & CR4_PCIDE) && (val & CR3_NOFLUSH) ? CR_FLUSH_NONE : CR_FLUSH_PCID;
}
