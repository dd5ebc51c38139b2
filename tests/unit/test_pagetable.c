/* The page-table walker over a fake frame pool: host memory from
 * aligned_alloc, "physical" address = pointer value. */
#include "unit.h"

#include "mm/pagetable.h"

#define KiB4 0x1000ull
#define MiB2 0x200000ull
#define GiB1 0x40000000ull

struct fake_pool {
	unsigned live, limit;
};

static uint64_t fake_alloc(void *ctx)
{
	struct fake_pool *p = ctx;
	if (p->live == p->limit)
		return 0;
	void *t = aligned_alloc(4096, 4096);
	memset(t, 0, 4096);
	p->live++;
	return (uintptr_t)t;
}

static void fake_release(void *ctx, uint64_t pa)
{
	struct fake_pool *p = ctx;
	p->live--;
	free((void *)(uintptr_t)pa);
}

/* EPT-like format: present = any of R/W/X. */
static const struct pt_format ept_like = { "ept", 0x7, 0x7 };
#define LEAF 0x7 | (6 << 3) /* RWX, write-back */

static struct fake_pool pool;
static struct pt pt;

static int setup(void **state)
{
	(void)state;
	pool = (struct fake_pool){ 0, 1000 };
	pt = (struct pt){ .fmt = &ept_like, .max_leaf = 3, .alloc = fake_alloc, .release = fake_release,
			  .ctx = &pool };
	assert_true(pt_init(&pt));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pt_destroy(&pt);
	assert_int_equal(pool.live, 0); /* every table came back */
	assert_int_equal(pt.tables, 0);
	return 0;
}

static void check(uint64_t va, uint64_t want_pa, unsigned want_level)
{
	uint64_t pa, flags;
	unsigned level;
	assert_true(pt_translate(&pt, va, &pa, &flags, &level));
	assert_int_equal(pa, want_pa);
	assert_int_equal(level, want_level);
	assert_int_equal(flags & 0x3f, LEAF);
}

static void test_largest_pages_by_alignment(void **state)
{
	(void)state;
	/* [1G-4K, 2G+2M+4K): a 4K page below 1G, then a 1G page, a 2M page
	 * and a 4K page. */
	assert_true(pt_map(&pt, GiB1 - KiB4, GiB1 - KiB4, KiB4 + GiB1 + MiB2 + KiB4, LEAF));
	check(GiB1 - KiB4 + 5, GiB1 - KiB4 + 5, 1);
	check(GiB1, GiB1, 3);
	check(GiB1 + 12345678, GiB1 + 12345678, 3);
	check(2 * GiB1, 2 * GiB1, 2);
	check(2 * GiB1 + MiB2, 2 * GiB1 + MiB2, 1);
	uint64_t pa;
	assert_false(pt_translate(&pt, 2 * GiB1 + MiB2 + KiB4, &pa, NULL, NULL));
	assert_false(pt_translate(&pt, GiB1 - 2 * KiB4, &pa, NULL, NULL));
}

static void test_misaligned_pa_forces_small_pages(void **state)
{
	(void)state;
	/* va 2M-aligned but pa only 4K-aligned: no large page may be used */
	assert_true(pt_map(&pt, 4 * MiB2, 0x12345000, MiB2, LEAF));
	check(4 * MiB2 + 0x1234, 0x12345000 + 0x1234, 1);
	check(5 * MiB2 - 1, 0x12345000 + MiB2 - 1, 1);
}

static void test_max_leaf_limits_page_size(void **state)
{
	(void)state;
	pt.max_leaf = 2;
	assert_true(pt_map(&pt, 0, 0, GiB1, LEAF));
	check(GiB1 - 1, GiB1 - 1, 2);
	assert_int_equal(pt.tables, 3); /* PML4, PDPT, one PD */
}

static void test_walk_splits_large_leaf(void **state)
{
	(void)state;
	assert_true(pt_map(&pt, 0, 0, GiB1, LEAF));
	check(0x345678, 0x345678, 3);
	uint64_t *e = pt_walk(&pt, 0x345000, 1, true);
	assert_non_null(e);
	/* the 1G leaf became 2M leaves, the one under 0x345000 became 4K */
	check(0x345678, 0x345678, 1);
	check(0x200000 + 0x1000, 0x201000, 1);
	check(0x600000, 0x600000, 2);
	check(GiB1 - 1, GiB1 - 1, 2);
	*e = 0; /* unmap one 4K page */
	uint64_t pa;
	assert_false(pt_translate(&pt, 0x345000, &pa, NULL, NULL));
	check(0x344fff, 0x344fff, 1);
}

static void test_walk_without_create(void **state)
{
	(void)state;
	assert_null(pt_walk(&pt, 0x1000, 1, false));
	assert_int_equal(pt.tables, 1);
	assert_true(pt_map(&pt, 0, 0, MiB2, LEAF));
	assert_null(pt_walk(&pt, 0x1000, 1, false)); /* a 2M leaf, no 4K entry */
	assert_non_null(pt_walk(&pt, 0x1000, 2, false));
}

static void test_large_leaf_replaces_table(void **state)
{
	(void)state;
	assert_true(pt_map(&pt, 0, 0, KiB4, LEAF)); /* PML4, PDPT, PD, PT */
	assert_int_equal(pt.tables, 4);
	assert_true(pt_map(&pt, 0, 0, MiB2, LEAF)); /* the PT is freed */
	assert_int_equal(pt.tables, 3);
	assert_int_equal(pool.live, 3);
	check(0x1000, 0x1000, 2);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	pool.limit = pool.live + 2; /* PDPT and PD, no PT */
	assert_false(pt_map(&pt, 0, 0, KiB4, LEAF));
	assert_int_equal(pool.live, 3);
	pool.limit = 1000;
	assert_true(pt_map(&pt, 0, 0, KiB4, LEAF));
	check(0, 0, 1);
}

static void test_high_addresses(void **state)
{
	(void)state;
	uint64_t va = 0x7fffffe00000ull; /* top 2M of the lower half */
	assert_true(pt_map(&pt, va, 0x4000000000ull, MiB2, LEAF));
	check(va + 0x10, 0x4000000010ull, 2);
	assert_int_equal(pt_index(va, 4), 255);
	assert_int_equal(pt_index(va, 3), 511);
	assert_int_equal(pt_index(va, 2), 511);
}

static void test_lazy_fill_page_by_page(void **state)
{
	(void)state;
	/* As ept_fill does: one 4K leaf per first touch. The first fill
	 * builds the path (PDPT, PD, PT); the rest of that 2M reuse it. */
	for (uint64_t a = 0x200000; a < 0x400000; a += KiB4) {
		assert_true(pt_map(&pt, a, 0x80000000 + a, KiB4, LEAF));
		if (a == 0x200000)
			assert_int_equal(pt.tables, 4);
	}
	assert_int_equal(pt.tables, 4);
	check(0x3ff123, 0x803ff123, 1);
	/* the next 2M needs one more page table */
	assert_true(pt_map(&pt, 0x400000, 0x400000, KiB4, LEAF));
	assert_int_equal(pt.tables, 5);
}

static void test_unmap_hole_in_large_pages(void **state)
{
	(void)state;
	/* 0-2G mapped with 1G pages; punch out [0x40201000, 0x40203000) */
	assert_true(pt_map(&pt, 0, 0, 2 * GiB1, LEAF));
	assert_true(pt_unmap(&pt, 0x40201000, 0x2000));
	uint64_t pa;
	assert_false(pt_translate(&pt, 0x40201000, &pa, NULL, NULL));
	assert_false(pt_translate(&pt, 0x40202fff, &pa, NULL, NULL));
	check(0x40200fff, 0x40200fff, 1); /* the rest of that 2M: 4K leaves */
	check(0x40203000, 0x40203000, 1);
	check(0x40400000, 0x40400000, 2); /* the rest of that 1G: 2M leaves */
	check(0x3fffffff, 0x3fffffff, 3); /* the other 1G untouched */
	/* a whole aligned 2M: one entry cleared, no split below it */
	unsigned long before = pt.tables;
	assert_true(pt_unmap(&pt, 0x40600000, 0x200000));
	assert_int_equal(pt.tables, before);
	assert_false(pt_translate(&pt, 0x40600000, &pa, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_largest_pages_by_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misaligned_pa_forces_small_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_leaf_limits_page_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_splits_large_leaf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_without_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_leaf_replaces_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_fill_page_by_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_hole_in_large_pages, setup, teardown),
	};
	return cmocka_run_group_tests_name("pagetable", tests, NULL, NULL);
}
