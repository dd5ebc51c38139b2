/* The MOV to CR0/CR3/CR4 rules the hypervisor applies when such a write
 * exits (vmx/exit/cr.c): faults, PDPTE loads, TLB flushes. */
#include "unit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/exit/cr.h"

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

/* PAE paging outside IA-32e mode: CR0.PG, CR4.PAE, PDPTEs from CR3. */
static const struct cr_state pae32 = { CR0_PE | CR0_PG | 0x10, 0x2000, CR4_PAE, 0, false };

static void pae_paging_is_not_ia32e_mode(void **state)
{
	(void)state;
	assert_true(pae_paging(CR0_PE | CR0_PG, CR4_PAE, 0));
	assert_true(pae_paging(CR0_PE | CR0_PG, CR4_PAE, EFER_NXE));
	assert_false(pae_paging(CR0_PE | CR0_PG, CR4_PAE, EFER_LME | EFER_LMA));
	assert_false(pae_paging(CR0_PE | CR0_PG, CR4_PAE, EFER_LME)); /* PG with LME is IA-32e mode */
	assert_false(pae_paging(CR0_PE, CR4_PAE, 0));
	assert_false(pae_paging(CR0_PE | CR0_PG, CR4_PSE, 0));
}

static void pdptes_load_on_cd_nw_pg(void **state)
{
	(void)state;
	uint64_t cr0 = pae32.cr0;
	/* The review's case: a CR0.CD write (it exits) under PAE paging. */
	assert_true(cr_write_loads_pdptes(&pae32, cr0 | CR0_CD, pae32.cr4));
	assert_true(cr_write_loads_pdptes(&pae32, cr0 | CR0_CD | CR0_NW, pae32.cr4));
	struct cr_state cd = pae32;
	cd.cr0 |= CR0_CD;
	assert_true(cr_write_loads_pdptes(&cd, cr0, cd.cr4)); /* clearing it too */
	/* Paging switched on with PAE, not with LME (IA-32e mode). */
	struct cr_state off = pae32;
	off.cr0 &= ~CR0_PG;
	assert_true(cr_write_loads_pdptes(&off, cr0, off.cr4));
	off.efer = EFER_LME;
	assert_false(cr_write_loads_pdptes(&off, cr0, off.cr4));
	/* Bits outside the list, or no PAE paging after the write. */
	assert_false(cr_write_loads_pdptes(&pae32, cr0 | 8, pae32.cr4)); /* TS */
	assert_false(cr_write_loads_pdptes(&pae32, cr0 & ~CR0_WP, pae32.cr4));
	assert_false(cr_write_loads_pdptes(&pae32, cr0 & ~CR0_PG, pae32.cr4));
	assert_false(cr_write_loads_pdptes(&long64, long64.cr0 | CR0_CD, long64.cr4));
	assert_false(cr_write_loads_pdptes(&prot32, prot32.cr0 | CR0_CD, prot32.cr4)); /* 32-bit paging */
}

static void pdptes_load_on_pae_pge_pse_smep(void **state)
{
	(void)state;
	uint64_t cr0 = pae32.cr0, cr4 = pae32.cr4;
	assert_true(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_PGE));
	assert_true(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_PSE));
	assert_true(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_SMEP));
	assert_true(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_SMEP | CR4_OSXSAVE));
	struct cr_state smep = pae32;
	smep.cr4 |= CR4_SMEP;
	assert_true(cr_write_loads_pdptes(&smep, cr0, cr4));
	assert_true(cr_write_loads_pdptes(&prot32, prot32.cr0, CR4_PAE)); /* PAE turned on */
	assert_false(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_OSXSAVE));
	assert_false(cr_write_loads_pdptes(&pae32, cr0, cr4 | CR4_SMAP));
	assert_false(cr_write_loads_pdptes(&pae32, cr0, 0)); /* PAE off: 32-bit paging after */
	assert_false(cr_write_loads_pdptes(&long64, long64.cr0, long64.cr4 | CR4_PGE));
}

static void flushes_of_cr0_writes(void **state)
{
	(void)state;
	uint64_t cr0 = pae32.cr0, cr4 = pae32.cr4;
	assert_int_equal(cr_write_flush(&pae32, cr0 & ~CR0_PG, cr4), CR_FLUSH_ALL);
	assert_int_equal(cr_write_flush(&compat, compat.cr0 & ~CR0_PG, compat.cr4), CR_FLUSH_ALL);
	struct cr_state off = pae32;
	off.cr0 &= ~CR0_PG;
	assert_int_equal(cr_write_flush(&off, cr0, cr4), CR_FLUSH_ALL); /* kept for paging on, see cr.c */
	assert_int_equal(cr_write_flush(&pae32, cr0 | CR0_CD, cr4), CR_FLUSH_NONE);
	assert_int_equal(cr_write_flush(&pae32, cr0 | CR0_CD | CR0_NW, cr4), CR_FLUSH_NONE);
	assert_int_equal(cr_write_flush(&pae32, cr0 & ~CR0_WP, cr4), CR_FLUSH_NONE);
	assert_int_equal(cr_write_flush(&long64, long64.cr0 | CR0_CD, long64.cr4), CR_FLUSH_NONE);
}

static void flushes_of_cr4_writes(void **state)
{
	(void)state;
	uint64_t cr0 = pae32.cr0, cr4 = pae32.cr4;
	assert_int_equal(cr_write_flush(&pae32, cr0, cr4 | CR4_PGE), CR_FLUSH_ALL);
	struct cr_state pge = long64;
	pge.cr4 |= CR4_PGE;
	assert_int_equal(cr_write_flush(&pge, pge.cr0, CR4_PAE | CR4_OSXSAVE), CR_FLUSH_ALL);
	struct cr_state pcid = long64;
	pcid.cr4 |= CR4_PCIDE;
	assert_int_equal(cr_write_flush(&pcid, pcid.cr0, CR4_PAE | CR4_OSXSAVE), CR_FLUSH_ALL);
	assert_int_equal(cr_write_flush(&long64, long64.cr0, CR4_PAE | CR4_PCIDE), CR_FLUSH_NONE);
	assert_int_equal(cr_write_flush(&pae32, cr0, 0), CR_FLUSH_PCID); /* PAE changed */
	assert_int_equal(cr_write_flush(&prot32, prot32.cr0, CR4_PAE), CR_FLUSH_PCID);
	assert_int_equal(cr_write_flush(&pae32, cr0, cr4 | CR4_SMEP | CR4_OSXSAVE), CR_FLUSH_PCID);
	struct cr_state smep = pae32;
	smep.cr4 |= CR4_SMEP;
	assert_int_equal(cr_write_flush(&smep, cr0, cr4), CR_FLUSH_NONE); /* SMEP 1 -> 0 */
	assert_int_equal(cr_write_flush(&pae32, cr0, cr4 | CR4_PSE), CR_FLUSH_NONE);
	assert_int_equal(cr_write_flush(&pae32, cr0, cr4 | CR4_SMAP | CR4_OSXSAVE), CR_FLUSH_NONE);
}

static void cr3_bit_63_with_pcide(void **state)
{
	(void)state;
	struct cr_state pcid = long64;
	pcid.cr4 |= CR4_PCIDE;
	uint64_t keep = 0x5000 | 3 | CR3_NOFLUSH;
	/* With PCIDE: no flush, bit 63 not stored, no #GP. */
	assert_true(cr3_write_ok(&pcid, keep, 46));
	assert_int_equal(cr3_written(&pcid, keep), 0x5003);
	assert_int_equal(cr3_write_flush(&pcid, keep), CR_FLUSH_NONE);
	assert_int_equal(cr3_write_flush(&pcid, 0x5003), CR_FLUSH_PCID);
	/* Without it bit 63 is reserved, and every load flushes. */
	assert_false(cr3_write_ok(&long64, keep, 46));
	assert_int_equal(cr3_write_flush(&long64, 0x5000), CR_FLUSH_PCID);
	assert_int_equal(cr3_written(&long64, 0x5018), 0x5018);
	/* Bits above the physical-address width, with or without PCIDE. */
	assert_false(cr3_write_ok(&pcid, 0x5000 | (1ull << 46), 46));
	assert_false(cr3_write_ok(&long64, 0x5000 | (1ull << 46), 46));
	assert_true(cr3_write_ok(&long64, 0x5000 | (1ull << 45), 46));
	assert_true(cr3_write_ok(&pae32, 0xffffffe0, 36));
}

/* A present PDPTE's reserved bits: 2:1, 8:5 and MAXPHYADDR up. */
static void pdpte_reserved_bits(void **state)
{
	(void)state;
	assert_true(pdpte_ok(0x12345001ull, 39));
	assert_true(pdpte_ok(0x7fffffff000ull | 1, 43));
	assert_false(pdpte_ok(0x3, 39));		/* R/W */
	assert_false(pdpte_ok(0x81, 39));		/* PS */
	assert_false(pdpte_ok((1ull << 39) | 1, 39));	/* above the width */
	assert_false(pdpte_ok((1ull << 45) | 1, 39));
	assert_false(pdpte_ok((1ull << 63) | 1, 52));	/* XD is reserved here */
	assert_true(pdpte_ok((1ull << 45) | 2, 39));	/* not present: anything */
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
		cmocka_unit_test(pae_paging_is_not_ia32e_mode),
		cmocka_unit_test(pdptes_load_on_cd_nw_pg),
		cmocka_unit_test(pdptes_load_on_pae_pge_pse_smep),
		cmocka_unit_test(flushes_of_cr0_writes),
		cmocka_unit_test(flushes_of_cr4_writes),
		cmocka_unit_test(cr3_bit_63_with_pcide),
		cmocka_unit_test(pdpte_reserved_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
