#include "vmx/cr.h"

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
