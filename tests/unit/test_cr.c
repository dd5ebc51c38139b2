/* The MOV to CR0/CR4 rules the hypervisor applies when such a write
 * exits (vmx/cr.c). */
#include "unit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/cr.h"

#define CR0_LONG (CR0_PE | CR0_PG | CR0_WP | 0x10)
#define CR4_ALL 0x00ff7fffull /* a CPU with every bit up to 23 (VMXE not offered) */

static const struct cr_state long64 = { CR0_LONG, 0x1000, CR4_PAE, EFER_LME | EFER_LMA | EFER_NXE, true };
static const struct cr_state compat = { CR0_LONG, 0x1000, CR4_PAE, EFER_LME | EFER_LMA, false };
static const struct cr_state prot32 = { CR0_PE | CR0_PG | 0x10, 0x1000, 0, 0, false };

static void cr0_reserved_and_combinations(void **state)
{
	(void)state;
	assert_true(cr0_write_ok(&long64, CR0_LONG | CR0_CD));
	assert_false(cr0_write_ok(&long64, CR0_LONG | (1ull << 32)));
	assert_false(cr0_write_ok(&long64, CR0_LONG | (1ull << 63)));
	assert_false(cr0_write_ok(&prot32, CR0_PG | 0x10));		    /* PG without PE */
	assert_false(cr0_write_ok(&long64, CR0_LONG | CR0_NW));	    /* NW without CD */
	assert_true(cr0_write_ok(&long64, CR0_LONG | CR0_NW | CR0_CD));
}

static void cr0_pg_clear_only_from_compatibility_mode(void **state)
{
	(void)state;
	assert_false(cr0_write_ok(&long64, CR0_LONG & ~CR0_PG));
	assert_false(cr0_write_ok(&long64, (CR0_LONG & ~CR0_PG) | CR0_CD));
	assert_true(cr0_write_ok(&compat, CR0_LONG & ~CR0_PG));
	struct cr_state pcid = compat;
	pcid.cr4 |= CR4_PCIDE;
	assert_false(cr0_write_ok(&pcid, CR0_LONG & ~CR0_PG));
	assert_true(cr0_write_ok(&prot32, CR0_PE | 0x10));
}

static void cr0_pg_with_lme_needs_pae(void **state)
{
	(void)state;
	struct cr_state s = { CR0_PE | 0x10, 0x1000, 0, EFER_LME, false };
	assert_false(cr0_write_ok(&s, CR0_PE | CR0_PG | 0x10));
	s.cr4 = CR4_PAE;
	assert_true(cr0_write_ok(&s, CR0_PE | CR0_PG | 0x10));
}

static void cr0_wp_stays_with_cet(void **state)
{
	(void)state;
	struct cr_state s = long64;
	s.cr4 |= CR4_CET;
	assert_false(cr0_write_ok(&s, CR0_LONG & ~CR0_WP));
	assert_true(cr0_write_ok(&long64, CR0_LONG & ~CR0_WP));
}

static void cr4_reserved_and_not_offered(void **state)
{
	(void)state;
	assert_true(cr4_write_ok(&long64, CR4_PAE | CR4_OSXSAVE, CR4_ALL));
	assert_false(cr4_write_ok(&long64, CR4_PAE | (1ull << 31), CR4_ALL));
	assert_false(cr4_write_ok(&long64, CR4_PAE | (1ull << 63), CR4_ALL));
	assert_false(cr4_write_ok(&long64, CR4_PAE | CR4_VMXE, CR4_ALL & ~CR4_VMXE));
	assert_false(cr4_write_ok(&long64, CR4_PAE | CR4_OSXSAVE, CR4_ALL & ~CR4_OSXSAVE));
}

static void cr4_pae_and_la57_fixed_in_ia32e_mode(void **state)
{
	(void)state;
	assert_false(cr4_write_ok(&long64, 0, CR4_ALL));
	assert_false(cr4_write_ok(&long64, CR4_PAE | CR4_LA57, CR4_ALL));
	assert_false(cr4_write_ok(&compat, CR4_PAE | CR4_LA57, CR4_ALL));
	struct cr_state five = long64;
	five.cr4 |= CR4_LA57;
	assert_false(cr4_write_ok(&five, CR4_PAE, CR4_ALL));
	assert_true(cr4_write_ok(&five, CR4_PAE | CR4_LA57 | CR4_OSXSAVE, CR4_ALL));
	assert_true(cr4_write_ok(&prot32, CR4_LA57, CR4_ALL)); /* outside IA-32e mode it may change */
}

static void cr4_pcide_in_ia32e_mode_from_pcid_0(void **state)
{
	(void)state;
	assert_true(cr4_write_ok(&long64, CR4_PAE | CR4_PCIDE, CR4_ALL));
	assert_false(cr4_write_ok(&prot32, CR4_PCIDE, CR4_ALL));
	struct cr_state s = long64;
	s.cr3 |= 5;
	assert_false(cr4_write_ok(&s, CR4_PAE | CR4_PCIDE, CR4_ALL));
	s.cr4 |= CR4_PCIDE; /* already on: CR3's low bits are its PCID */
	assert_true(cr4_write_ok(&s, CR4_PAE | CR4_PCIDE | CR4_OSXSAVE, CR4_ALL));
}

static void cr4_cet_needs_wp(void **state)
{
	(void)state;
	assert_true(cr4_write_ok(&long64, CR4_PAE | CR4_CET, CR4_ALL));
	struct cr_state s = long64;
	s.cr0 &= ~CR0_WP;
	assert_false(cr4_write_ok(&s, CR4_PAE | CR4_CET, CR4_ALL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cr0_reserved_and_combinations),
		cmocka_unit_test(cr0_pg_clear_only_from_compatibility_mode),
		cmocka_unit_test(cr0_pg_with_lme_needs_pae),
		cmocka_unit_test(cr0_wp_stays_with_cet),
		cmocka_unit_test(cr4_reserved_and_not_offered),
		cmocka_unit_test(cr4_pae_and_la57_fixed_in_ia32e_mode),
		cmocka_unit_test(cr4_pcide_in_ia32e_mode_from_pcid_0),
		cmocka_unit_test(cr4_cet_needs_wp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
