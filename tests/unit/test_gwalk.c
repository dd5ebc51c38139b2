/* The guest page walker and segmentation (vmx/core/gwalk.c) over page tables
 * built in a buffer that stands for the guest's RAM: guest-physical 0 is
 * its first byte, and anything past its end is outside RAM. */
#include "unit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/core/gwalk.h"

#define MEM_SIZE (1ull << 20)
#define P 0x1ull
#define W 0x2ull
#define U 0x4ull
#define A 0x20ull
#define D 0x40ull
#define PS 0x80ull
#define XD (1ull << 63)
#define UP (P | W | U) /* an upper level that allows everything */

/* 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000; the page
 * at 0x10000. LA's indices are 0xff, 0x101, 0x1, 0x3. */
#define PML4 0x1000
#define PDPT 0x2000
#define PD 0x3000
#define PT 0x4000
#define PML5 0x5000
#define PAGE 0x10000
#define LA 0x00007fc040203123ull

static uint8_t *mem;
static unsigned maps; /* map() calls, for the callback that races */

static void *map(void *ctx, uint64_t gpa, unsigned size)
{
	(void)ctx;
	maps++;
	if (gpa >= MEM_SIZE || size > MEM_SIZE - gpa)
		return NULL;
	return mem + gpa;
}

static uint64_t *q(uint64_t gpa)
{
	return (uint64_t *)(mem + gpa);
}

static uint32_t *d32(uint64_t gpa)
{
	return (uint32_t *)(mem + gpa);
}

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(4096, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	maps = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

/* A CPU in 64-bit mode, CPL 0, WP, NXE, 46-bit physical addresses. */
static struct gw_paging long4(void)
{
	return (struct gw_paging){ .cr0 = CR0_PE | CR0_PG | CR0_WP,
				   .cr3 = PML4,
				   .cr4 = CR4_PAE,
				   .efer = EFER_LME | EFER_LMA | EFER_NXE,
				   .maxphyaddr = 46,
				   .gbpages = true,
				   .map = map };
}

/* LA -> PAGE through four levels: UPPER on the three upper entries. */
static void build4(uint64_t upper, uint64_t pte)
{
	*q(PML4 + 0xff * 8) = PDPT | upper;
	*q(PDPT + 0x101 * 8) = PD | upper;
	*q(PD + 0x1 * 8) = PT | upper;
	*q(PT + 0x3 * 8) = PAGE | pte;
}

static enum gw_result tr(const struct gw_paging *p, uint64_t la, unsigned access, struct gw_walk *w)
{
	memset(w, 0xee, sizeof(*w));
	return gw_translate(p, la, access, w);
}

static void expect_ok(const struct gw_paging *p, uint64_t la, unsigned access, uint64_t gpa)
{
	struct gw_walk w;
	assert_int_equal(tr(p, la, access, &w), GW_OK);
	assert_int_equal(w.gpa, gpa);
}

static void expect_pf(const struct gw_paging *p, uint64_t la, unsigned access, uint32_t ec)
{
	struct gw_walk w;
	assert_int_equal(tr(p, la, access, &w), GW_PAGE_FAULT);
	assert_int_equal(w.error_code, ec);
}

/* --- modes ---------------------------------------------------------------- */

static void test_no_paging_is_identity(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	p.cr0 = CR0_PE;
	p.cr4 = 0;
	p.efer = 0;
	expect_ok(&p, 0x12345678, GW_WRITE, 0x12345678);
	expect_ok(&p, 0x100000fffull, GW_READ, 0xfff); /* linear addresses are 32-bit */
	assert_int_equal(maps, 0);
}

static void test_4level_4k_page(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	struct gw_walk w;
	assert_int_equal(tr(&p, LA, GW_READ, &w), GW_OK);
	assert_int_equal(w.gpa, PAGE | 0x123);
	assert_int_equal(w.levels, 4);
	assert_int_equal(w.entry_gpa[0], PML4 + 0xff * 8);
	assert_int_equal(w.entry_gpa[3], PT + 3 * 8);
	assert_int_equal(w.entry[3], PAGE | P | W);
}

static void test_4level_2m_and_1g_pages(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	*q(PD + 8) = 0x40000000ull | P | W | PS | 0x1000; /* PAT bit 12: not address */
	expect_ok(&p, LA, GW_WRITE, 0x40000000ull | 0x3123);
	*q(PDPT + 0x101 * 8) = 0x1c0000000ull | P | W | PS;
	expect_ok(&p, LA, GW_WRITE, 0x1c0000000ull | 0x203123);
}

/* Bit 7 of a PTE is PAT, not a page size (SDM vol. 3A, 5.5). */
static void test_pat_bit_of_a_pte_is_not_a_page_size(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W | PS);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
}

static void test_5level(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	p.cr4 |= CR4_LA57;
	p.cr3 = PML5;
	uint64_t la = 0x00fe7fc040203123ull; /* PML5 index 0xfe */
	build4(UP, P | W);
	*q(PML5 + 0xfe * 8) = PML4 | UP;
	expect_ok(&p, la, GW_READ, PAGE | 0x123);
	struct gw_walk w;
	assert_int_equal(tr(&p, la, GW_READ, &w), GW_OK);
	assert_int_equal(w.levels, 5);
	/* 57-bit canonical: bit 56 set extends up */
	assert_int_equal(tr(&p, 0x0100000000000000ull, GW_READ, &w), GW_NONCANONICAL);
	/* PS in a PML5E is reserved */
	*q(PML5 + 0xfe * 8) |= PS;
	expect_pf(&p, la, GW_READ, PF_P | PF_RSVD);
}

static void test_noncanonical_reads_nothing(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	struct gw_walk w;
	assert_int_equal(tr(&p, 0x0000800000000000ull, GW_READ, &w), GW_NONCANONICAL);
	assert_int_equal(tr(&p, 0xffff7fffffffffffull, GW_WRITE, &w), GW_NONCANONICAL);
	assert_int_equal(maps, 0);
	assert_true(gw_canonical(0xffff800000000000ull, false));
	assert_true(gw_canonical(0x00007fffffffffffull, false));
	assert_false(gw_canonical(0x00ff800000000000ull, false));
	assert_true(gw_canonical(0x00ff800000000000ull, true));
	assert_true(gw_canonical(0xff00000000000000ull, true));
	assert_false(gw_canonical(0xfe00000000000000ull, true));
}

/* 32-bit paging: 4-byte entries, CR3 bits 31:12. */
static struct gw_paging paging32(void)
{
	return (struct gw_paging){ .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = 0x1000, .maxphyaddr = 40, .map = map };
}

static void test_32bit_4k_page(void **state)
{
	(void)state;
	struct gw_paging p = paging32();
	uint32_t la = 0xc0403123u; /* PDE 0x301, PTE 0x3 */
	*d32(0x1000 + 0x301 * 4) = 0x2000 | P | W | U;
	*d32(0x2000 + 3 * 4) = 0x7000 | P | W | U | PS; /* bit 7: PAT */
	expect_ok(&p, la, GW_WRITE, 0x7123);
	assert_int_equal(*d32(0x1000 + 0x301 * 4), 0x2000 | P | W | U | A);
	assert_int_equal(*d32(0x2000 + 3 * 4), 0x7000 | P | W | U | PS | A | D);
	/* the high half of the linear address is not looked at */
	expect_ok(&p, 0xffffffff00000000ull | la, GW_READ, 0x7123);
}

static void test_32bit_4m_pages_need_pse(void **state)
{
	(void)state;
	struct gw_paging p = paging32();
	uint32_t la = 0xc0403123u;
	*d32(0x1000 + 0x301 * 4) = 0x0u | P | W | PS;
	/* without CR4.PSE, PS is ignored: the PDE points to a page table at
	 * 0, where the PTE is not present */
	expect_pf(&p, la, GW_READ, 0);
	p.cr4 = CR4_PSE;
	expect_ok(&p, la, GW_READ, 0x003123);
}

/* PSE-36: PDE bits 20:13 are physical bits 39:32, up to MAXPHYADDR (at
 * most 40); the bits above are reserved, and bit 21 always. */
static void test_32bit_pse36(void **state)
{
	(void)state;
	struct gw_paging p = paging32();
	p.cr4 = CR4_PSE;
	uint32_t la = 0xc0403123u;
	uint32_t *pde = d32(0x1000 + 0x301 * 4);
	*pde = 0x00c00000u | 0x5u << 13 | P | W | PS;
	expect_ok(&p, la, GW_READ, 0x500c03123ull);
	*pde = 0x00c00000u | 0xffu << 13 | P | W | PS;
	expect_ok(&p, la, GW_READ, 0xff00c03123ull);
	p.maxphyaddr = 36; /* bits 20:17 now reserved */
	expect_pf(&p, la, GW_READ, PF_P | PF_RSVD);
	*pde = 0x00c00000u | 0xfu << 13 | P | W | PS;
	expect_ok(&p, la, GW_READ, 0xf00c03123ull);
	*pde = 0x00c00000u | 1u << 21 | P | W | PS;
	p.maxphyaddr = 52; /* bit 21 is reserved whatever the width */
	expect_pf(&p, la, GW_WRITE, PF_P | PF_RSVD | PF_W);
}

/* PAE: the PDPTEs come from the state (the VMCS), not memory. */
static struct gw_paging pae(void)
{
	struct gw_paging p = { .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = 0x1000, .cr4 = CR4_PAE,
			       .efer = EFER_NXE, .maxphyaddr = 36, .map = map };
	p.pdpte[3] = 0x3000 | P;
	return p;
}

static void test_pae_4k_and_2m(void **state)
{
	(void)state;
	struct gw_paging p = pae();
	uint32_t la = 0xc0403123u; /* PDPTE 3, PDE 2, PTE 3 */
	*q(0x3000 + 2 * 8) = 0x4000 | UP;
	*q(0x4000 + 3 * 8) = 0x9000 | P | W;
	struct gw_walk w;
	assert_int_equal(tr(&p, la, GW_READ, &w), GW_OK);
	assert_int_equal(w.gpa, 0x9123);
	assert_int_equal(w.levels, 2); /* the PDPTE is not in memory */
	assert_int_equal(*q(0x3000 + 2 * 8), 0x4000 | UP | A);
	assert_int_equal(*q(0x4000 + 3 * 8), 0x9000 | P | W | A);
	assert_int_equal(p.pdpte[3], 0x3000 | P);
	*q(0x3000 + 2 * 8) = 0x00600000u | UP | PS;
	expect_ok(&p, la, GW_READ, 0x603123);
	/* a PDPTE not present, or with reserved bits (2:1, 8:5, above MAXPHYADDR) */
	p.pdpte[3] = 0x3000;
	expect_pf(&p, la, GW_WRITE, PF_W);
	p.pdpte[3] = 0x3000 | P | W;
	expect_pf(&p, la, GW_WRITE, PF_P | PF_RSVD | PF_W);
	p.pdpte[3] = 0x3000 | P | 0x20;
	expect_pf(&p, la, GW_READ, PF_P | PF_RSVD);
	p.pdpte[3] = 0x3000 | P | 1ull << 40;
	expect_pf(&p, la, GW_READ, PF_P | PF_RSVD);
}

/* PAE reserves bits 62:52 too; 4-level paging ignores them. */
static void test_pae_reserves_bits_62_52(void **state)
{
	(void)state;
	struct gw_paging p = pae();
	uint32_t la = 0xc0403123u;
	*q(0x3000 + 2 * 8) = 0x4000 | UP;
	*q(0x4000 + 3 * 8) = 0x9000 | P | 1ull << 55;
	expect_pf(&p, la, GW_READ, PF_P | PF_RSVD);
	struct gw_paging l = long4();
	build4(UP, P | 1ull << 55);
	expect_ok(&l, LA, GW_READ, PAGE | 0x123);
}

/* --- reserved bits ------------------------------------------------------------ */

static void test_reserved_above_maxphyaddr(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W | 1ull << 46);
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	p.maxphyaddr = 47;
	struct gw_walk w;
	assert_int_equal(tr(&p, LA, GW_READ, &w), GW_OK);
	assert_int_equal(w.gpa, 1ull << 46 | PAGE | 0x123);
	/* in an upper level too; and reserved wins over the rights */
	p.maxphyaddr = 40;
	build4(P, P);
	*q(PDPT + 0x101 * 8) |= 1ull << 45;
	p.cpl = 3;
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_RSVD | PF_W | PF_U);
}

static void test_xd_reserved_without_nxe(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | XD);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	p.efer &= ~EFER_NXE;
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	/* and the fetch's I/D bit goes with NXE (no SMEP here) */
	expect_pf(&p, LA, GW_FETCH, PF_P | PF_RSVD);
}

static void test_ps_reserved_in_pml4e(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	*q(PML4 + 0xff * 8) |= PS;
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
}

static void test_1g_page_without_gbpages_is_reserved(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	*q(PDPT + 0x101 * 8) = 0x40000000ull | P | W | PS;
	expect_ok(&p, LA, GW_READ, 0x40203123ull);
	p.gbpages = false;
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
}

static void test_large_page_reserved_bits(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	*q(PDPT + 0x101 * 8) = 0x40000000ull | 1ull << 13 | P | W | PS; /* 29:13 */
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	*q(PDPT + 0x101 * 8) = 0x40000000ull | 1ull << 29 | P | W | PS;
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	*q(PDPT + 0x101 * 8) = PD | UP;
	*q(PD + 8) = 0x200000ull | 1ull << 20 | P | W | PS; /* 20:13 */
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	*q(PD + 8) = 0x200000ull | 1ull << 12 | P | W | PS; /* PAT: allowed */
	expect_ok(&p, LA, GW_READ, 0x203123);
}

/* --- access rights ---------------------------------------------------------------- */

static void test_user_needs_us_at_every_level(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	p.cpl = 3;
	build4(UP, P | W | U);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	build4(UP, P | W);
	expect_pf(&p, LA, GW_READ, PF_P | PF_U);
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W | PF_U);
	build4(P | W, P | W | U); /* the upper levels say supervisor */
	expect_pf(&p, LA, GW_READ, PF_P | PF_U);
	/* not present: P clear */
	build4(UP, W | U);
	expect_pf(&p, LA, GW_READ, PF_U);
}

static void test_rw_and_wp(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | U);
	p.cpl = 3;
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W | PF_U); /* WP does not matter to user writes */
	p.cr0 &= ~CR0_WP;
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W | PF_U);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	p.cpl = 0;
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123); /* supervisor, WP = 0 */
	p.cr0 |= CR0_WP;
	build4(UP, P); /* fresh entries: no A/D from the write before */
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W);
	build4(P | U, P | W | U); /* read-only above */
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W);
	p.cpl = 3;
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W | PF_U);
}

static void test_smep(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | U);
	expect_ok(&p, LA, GW_FETCH, PAGE | 0x123);
	p.cr4 |= CR4_SMEP;
	expect_pf(&p, LA, GW_FETCH, PF_P | PF_ID);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123); /* data is SMAP's business */
	build4(UP, P);
	expect_ok(&p, LA, GW_FETCH, PAGE | 0x123); /* a supervisor page */
	p.cpl = 3;
	build4(UP, P | U);
	expect_ok(&p, LA, GW_FETCH, PAGE | 0x123); /* a user fetch */
}

static void test_smap_and_ac(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W | U);
	p.cr4 |= CR4_SMAP;
	expect_pf(&p, LA, GW_READ, PF_P);
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W);
	expect_ok(&p, LA, GW_FETCH, PAGE | 0x123); /* fetches are SMEP's */
	p.rflags = RFLAGS_AC;
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123);
	/* an implicit supervisor access ignores AC, and is supervisor at CPL 3 */
	expect_pf(&p, LA, GW_READ | GW_IMPLICIT, PF_P);
	p.cpl = 3;
	expect_pf(&p, LA, GW_WRITE | GW_IMPLICIT, PF_P | PF_W);
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123); /* an explicit one is a user access */
	/* AC=1 lifts SMAP, not WP */
	p.cpl = 0;
	build4(UP, P | U);
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W);
	/* supervisor pages are not SMAP's */
	p.rflags = 0;
	build4(UP, P | W);
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123);
}

static void test_nx(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W | XD);
	expect_pf(&p, LA, GW_FETCH, PF_P | PF_ID);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	p.cpl = 3;
	build4(UP, P | W | U | XD);
	expect_pf(&p, LA, GW_FETCH, PF_P | PF_ID | PF_U);
	build4(UP | XD, P | W | U); /* XD in an upper level */
	expect_pf(&p, LA, GW_FETCH, PF_P | PF_ID | PF_U);
	build4(UP, P | U);
	expect_ok(&p, LA, GW_FETCH, PAGE | 0x123);
	/* not present: P clear, I/D set */
	build4(UP, U);
	expect_pf(&p, LA, GW_FETCH, PF_ID | PF_U);
}

/* I/D is reported only with SMEP, or PAE/4-level paging with NXE. */
static void test_fetch_error_code_id_bit(void **state)
{
	(void)state;
	struct gw_paging p = paging32();
	expect_pf(&p, 0x1000, GW_FETCH, 0);
	p.cr4 = CR4_SMEP;
	expect_pf(&p, 0x1000, GW_FETCH, PF_ID);
	struct gw_paging l = long4();
	l.efer &= ~EFER_NXE;
	expect_pf(&l, LA, GW_FETCH, 0);
	l.efer |= EFER_NXE;
	expect_pf(&l, LA, GW_FETCH, PF_ID);
}

static void test_32bit_rights(void **state)
{
	(void)state;
	struct gw_paging p = paging32();
	uint32_t la = 0xc0403123u;
	*d32(0x1000 + 0x301 * 4) = 0x2000 | P | W;
	*d32(0x2000 + 3 * 4) = 0x7000 | P | W | U;
	p.cpl = 3;
	expect_pf(&p, la, GW_READ, PF_P | PF_U); /* the PDE is supervisor */
	*d32(0x1000 + 0x301 * 4) = 0x2000 | P | U;
	expect_pf(&p, la, GW_WRITE, PF_P | PF_W | PF_U);
	expect_ok(&p, la, GW_FETCH, 0x7123); /* no XD in 32-bit paging */
	assert_int_equal(*d32(0x2000 + 3 * 4), 0x7000 | P | W | U | A);
}

/* --- accessed and dirty flags ------------------------------------------------------- */

static void test_accessed_dirty(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
	assert_int_equal(*q(PML4 + 0xff * 8), PDPT | UP | A);
	assert_int_equal(*q(PDPT + 0x101 * 8), PD | UP | A);
	assert_int_equal(*q(PD + 8), PT | UP | A);
	assert_int_equal(*q(PT + 3 * 8), PAGE | P | W | A); /* a read: no D */
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123);
	assert_int_equal(*q(PD + 8), PT | UP | A); /* D only in the last entry */
	assert_int_equal(*q(PT + 3 * 8), PAGE | P | W | A | D);
	/* a large page's entry is the last one */
	*q(PD + 8) = 0x200000 | P | W | PS;
	expect_ok(&p, LA, GW_WRITE, 0x203123);
	assert_int_equal(*q(PD + 8), 0x200000 | P | W | PS | A | D);
}

static void test_nothing_written_on_a_fault(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P);
	uint8_t *before = malloc(MEM_SIZE);
	memcpy(before, mem, MEM_SIZE);
	expect_pf(&p, LA, GW_WRITE, PF_P | PF_W); /* WP, read-only */
	assert_memory_equal(before, mem, MEM_SIZE);
	*q(PT + 3 * 8) = PAGE; /* not present */
	memcpy(before, mem, MEM_SIZE);
	expect_pf(&p, LA, GW_READ, 0);
	assert_memory_equal(before, mem, MEM_SIZE);
	*q(PT + 3 * 8) = PAGE | P | 1ull << 50; /* reserved */
	memcpy(before, mem, MEM_SIZE);
	expect_pf(&p, LA, GW_READ, PF_P | PF_RSVD);
	assert_memory_equal(before, mem, MEM_SIZE);
	free(before);
}

/* Another vCPU that rewrites an entry before the walk reads it: the walk
 * takes what it read, and its update keeps the other vCPU's bit. */
static void *racing_map(void *ctx, uint64_t gpa, unsigned size)
{
	uint64_t *e = map(ctx, gpa, size);
	if (e && gpa == PT + 3 * 8)
		*e ^= 0x200; /* a bit the OS owns (bit 9), flipped on every read */
	return e;
}

static void test_update_keeps_what_was_read(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	p.map = racing_map;
	build4(UP, P | W);
	expect_ok(&p, LA, GW_WRITE, PAGE | 0x123);
	assert_int_equal(*q(PT + 3 * 8), PAGE | P | W | 0x200 | A | D);
}

/* A racer that changes each entry after the walk read it, before its
 * update: the update does not land on the new value (a compare-exchange),
 * the walk restarts, and gives up after a few tries. */
static uint64_t *race_target;
static void *late_racing_map(void *ctx, uint64_t gpa, unsigned size)
{
	if (race_target)
		*race_target ^= 0x400; /* the previous entry read changes under the walk */
	uint64_t *e = map(ctx, gpa, size);
	race_target = gpa == PT + 3 * 8 ? NULL : e;
	return e;
}

static void test_entry_changed_after_the_read(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	p.map = late_racing_map;
	race_target = NULL;
	build4(UP, P | W);
	struct gw_walk w;
	/* every walk finds the upper entries changed when it updates them */
	assert_int_equal(tr(&p, LA, GW_READ, &w), GW_RETRY);
	assert_false(*q(PML4 + 0xff * 8) & A);
	race_target = NULL;
	p.map = map;
	expect_ok(&p, LA, GW_READ, PAGE | 0x123);
}

/* --- outside RAM ------------------------------------------------------------------------ */

static void test_table_outside_ram(void **state)
{
	(void)state;
	struct gw_paging p = long4();
	build4(UP, P | W);
	*q(PD + 8) = 0x7fff0000ull | UP;
	struct gw_walk w;
	assert_int_equal(tr(&p, LA, GW_READ, &w), GW_OUTSIDE_RAM);
	assert_int_equal(w.gpa, 0x7fff0000ull + 3 * 8);
	p.cr3 = 0x12345000ull;
	assert_int_equal(tr(&p, LA, GW_READ, &w), GW_OUTSIDE_RAM);
	assert_int_equal(w.gpa, 0x12345000ull + 0xff * 8);
	assert_false(*q(PML4 + 0xff * 8) & A); /* nothing set on the way */
}

/* --- segmentation -------------------------------------------------------------------------- */

#define AR_DATA_RW 0x93u
#define AR_DATA_RO 0x91u
#define AR_CODE_XO 0x99u
#define AR_CODE_XR 0x9bu
#define AR_DOWN 0x04u
#define AR_B (1u << 14)
#define AR_UNUSABLE (1u << 16)

static enum gw_seg_result seg(uint32_t ar, uint32_t limit, unsigned sreg, enum gw_cpu_mode mode, uint64_t off,
			      unsigned size, unsigned access, uint64_t *la)
{
	struct gw_seg s = { 0x10000, limit, ar };
	return gw_segment(&s, sreg, mode, off, size, access, la);
}

static void test_segment_64bit(void **state)
{
	(void)state;
	uint64_t la;
	struct gw_seg s = { 0x7000000000ull, 0, AR_UNUSABLE };
	/* bases and limits of ES/CS/SS/DS do not apply; FS and GS have bases */
	assert_int_equal(gw_segment(&s, GW_SEG_ES, GW_MODE_64, 0x1000, 4, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(la, 0x1000);
	assert_int_equal(gw_segment(&s, GW_SEG_GS, GW_MODE_64, 0x1000, 4, GW_READ, &la), GW_SEG_OK);
	assert_int_equal(la, 0x7000001000ull);
	/* canonical: every byte */
	assert_int_equal(gw_segment(&s, GW_SEG_ES, GW_MODE_64, 0x0000800000000000ull, 1, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(gw_segment(&s, GW_SEG_ES, GW_MODE_64, 0x00007ffffffffffeull, 4, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(gw_segment(&s, GW_SEG_SS, GW_MODE_64, 0x0000800000000000ull, 1, GW_READ, &la),
			 GW_SEG_SS_FAULT);
	assert_int_equal(gw_segment(&s, GW_SEG_ES, GW_MODE_64_LA57, 0x0000800000000000ull, 1, GW_WRITE, &la),
			 GW_SEG_OK);
	s.base = 0xffff800000000000ull - 0x1000;
	assert_int_equal(gw_segment(&s, GW_SEG_FS, GW_MODE_64, 0x800, 1, GW_READ, &la), GW_SEG_GP);
}

static void test_segment_type(void **state)
{
	(void)state;
	uint64_t la;
	const enum gw_cpu_mode pm = GW_MODE_PROTECTED;
	assert_int_equal(seg(AR_DATA_RW, 0xffff, GW_SEG_ES, pm, 0x10, 1, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(la, 0x10010);
	assert_int_equal(seg(AR_DATA_RO, 0xffff, GW_SEG_ES, pm, 0x10, 1, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RO, 0xffff, GW_SEG_ES, pm, 0x10, 1, GW_READ, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_CODE_XR, 0xffff, GW_SEG_CS, pm, 0x10, 1, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_CODE_XR, 0xffff, GW_SEG_CS, pm, 0x10, 1, GW_READ, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_CODE_XO, 0xffff, GW_SEG_CS, pm, 0x10, 1, GW_READ, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW | AR_UNUSABLE, 0xffff, GW_SEG_DS, pm, 0x10, 1, GW_READ, &la),
			 GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW | AR_UNUSABLE, 0xffff, GW_SEG_SS, pm, 0x10, 1, GW_READ, &la),
			 GW_SEG_SS_FAULT);
	assert_int_equal(seg(AR_DATA_RO, 0xffff, GW_SEG_SS, pm, 0x10, 1, GW_WRITE, &la), GW_SEG_SS_FAULT);
	assert_int_equal(seg(0x8b, 0xffff, GW_SEG_ES, pm, 0x10, 1, GW_READ, &la), GW_SEG_GP); /* a system segment */
	/* real mode: no type checks, the limit still */
	assert_int_equal(seg(AR_DATA_RO | AR_UNUSABLE, 0xffff, GW_SEG_ES, GW_MODE_REAL, 0x10, 1, GW_WRITE, &la),
			 GW_SEG_OK);
	assert_int_equal(seg(AR_DATA_RW, 0xffff, GW_SEG_ES, GW_MODE_REAL, 0xffff, 2, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW, 0xffff, GW_SEG_SS, GW_MODE_REAL, 0xffff, 2, GW_READ, &la), GW_SEG_SS_FAULT);
}

static void test_segment_limits(void **state)
{
	(void)state;
	uint64_t la;
	const enum gw_cpu_mode pm = GW_MODE_PROTECTED;
	/* expand-up: the last byte at the limit */
	assert_int_equal(seg(AR_DATA_RW, 0xfff, GW_SEG_ES, pm, 0xffc, 4, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_DATA_RW, 0xfff, GW_SEG_ES, pm, 0xffd, 4, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW, 0xfff, GW_SEG_ES, pm, 0x1000, 1, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW | AR_B, 0xffffffffu, GW_SEG_ES, pm, 0xfffffffcull, 4, GW_WRITE, &la),
			 GW_SEG_OK);
	assert_int_equal(la, 0xfffcull); /* base + offset wraps at 4 GiB */
	assert_int_equal(seg(AR_DATA_RW | AR_B, 0xffffffffu, GW_SEG_ES, pm, 0xfffffffdull, 4, GW_WRITE, &la),
			 GW_SEG_GP);
	/* expand-down: above the limit, up to 0xffff, or 0xffffffff with B */
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN, 0xfff, GW_SEG_SS, pm, 0xfff, 1, GW_WRITE, &la), GW_SEG_SS_FAULT);
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN, 0xfff, GW_SEG_SS, pm, 0x1000, 1, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN, 0xfff, GW_SEG_ES, pm, 0xfffe, 2, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN, 0xfff, GW_SEG_ES, pm, 0xffff, 2, GW_WRITE, &la), GW_SEG_GP);
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN | AR_B, 0xfff, GW_SEG_ES, pm, 0xffff, 2, GW_WRITE, &la), GW_SEG_OK);
	assert_int_equal(seg(AR_DATA_RW | AR_DOWN | AR_B, 0xfff, GW_SEG_ES, pm, 0xfffffffeull, 4, GW_WRITE, &la),
			 GW_SEG_GP);
	/* a code segment's E bit is conforming, not expand-down */
	assert_int_equal(seg(AR_CODE_XR | AR_DOWN, 0xfff, GW_SEG_CS, pm, 0x10, 1, GW_READ, &la), GW_SEG_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_no_paging_is_identity),
		T(test_4level_4k_page),
		T(test_4level_2m_and_1g_pages),
		T(test_pat_bit_of_a_pte_is_not_a_page_size),
		T(test_5level),
		T(test_noncanonical_reads_nothing),
		T(test_32bit_4k_page),
		T(test_32bit_4m_pages_need_pse),
		T(test_32bit_pse36),
		T(test_pae_4k_and_2m),
		T(test_pae_reserves_bits_62_52),
		T(test_reserved_above_maxphyaddr),
		T(test_xd_reserved_without_nxe),
		T(test_ps_reserved_in_pml4e),
		T(test_1g_page_without_gbpages_is_reserved),
		T(test_large_page_reserved_bits),
		T(test_user_needs_us_at_every_level),
		T(test_rw_and_wp),
		T(test_smep),
		T(test_smap_and_ac),
		T(test_nx),
		T(test_fetch_error_code_id_bit),
		T(test_32bit_rights),
		T(test_accessed_dirty),
		T(test_nothing_written_on_a_fault),
		T(test_update_keeps_what_was_read),
		T(test_entry_changed_after_the_read),
		T(test_table_outside_ram),
		T(test_segment_64bit),
		T(test_segment_type),
		T(test_segment_limits),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
