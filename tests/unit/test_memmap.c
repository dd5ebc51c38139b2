/* Turning a firmware memory map into allocatable RAM. */
#include "unit.h"

#include "mm/memmap.h"


static size_t usable(const struct mem_range *u, size_t n, const struct mem_range *r, size_t m, struct mem_range *out,
		     size_t max)
{
	size_t k = memmap_usable(u, n, r, m, out, max);
	/* Whatever the input, the output is sorted, disjoint, non-adjacent
	 * and page-aligned. */
	for (size_t i = 0; i < k; i++) {
		assert_true(out[i].base < out[i].end);
		assert_int_equal(out[i].base % PAGE_SIZE, 0);
		assert_int_equal(out[i].end % PAGE_SIZE, 0);
		if (i)
			assert_true(out[i - 1].end < out[i].base);
	}
	return k;
}

static void test_unsorted_overlapping_zero_length(void **state)
{
	(void)state;
	struct mem_range in[] = {
		{ 8 * MiB, 16 * MiB }, { 1 * MiB, 4 * MiB }, { 3 * MiB, 9 * MiB }, /* overlaps both */
		{ 20 * MiB, 20 * MiB },	/* zero length */
		{ 32 * MiB, 30 * MiB },	/* end before base */
		{ 16 * MiB, 17 * MiB }, /* adjacent: merges */
	};
	struct mem_range out[8];
	size_t k = usable(in, ARRAY_LEN(in), NULL, 0, out, 8);
	assert_int_equal(k, 1);
	assert_int_equal(out[0].base, 1 * MiB);
	assert_int_equal(out[0].end, 17 * MiB);
}

static void test_unaligned_shrinks_inward(void **state)
{
	(void)state;
	struct mem_range in[] = { { 0x1001, 0x5fff }, { 0x9000, 0x9800 } };
	struct mem_range out[4];
	size_t k = usable(in, 2, NULL, 0, out, 4);
	assert_int_equal(k, 1);
	assert_int_equal(out[0].base, 0x2000);
	assert_int_equal(out[0].end, 0x5000);
}

static void test_reserved_module_inside_usable(void **state)
{
	(void)state;
	struct mem_range in[] = { { 1 * MiB, 64 * MiB } };
	struct mem_range resv[] = {
		{ 0, 1 * MiB },			 /* low memory: outside, no effect */
		{ 0x800100, 0x800200 },		 /* module, unaligned: costs its page */
		{ 2 * MiB, 3 * MiB },		 /* the image */
		{ 63 * MiB, 70 * MiB },		 /* tail */
	};
	struct mem_range out[8];
	size_t k = usable(in, 1, resv, ARRAY_LEN(resv), out, 8);
	assert_int_equal(k, 3);
	assert_int_equal(out[0].base, 1 * MiB);
	assert_int_equal(out[0].end, 2 * MiB);
	assert_int_equal(out[1].base, 3 * MiB);
	assert_int_equal(out[1].end, 0x800000);
	assert_int_equal(out[2].base, 0x801000);
	assert_int_equal(out[2].end, 63 * MiB);
	assert_int_equal(memmap_total(out, k), 62 * MiB - 4096 - 1 * MiB);
}

static void test_memory_above_4g(void **state)
{
	(void)state;
	struct mem_range in[] = { { 4 * GiB, 12 * GiB }, { 1 * MiB, 3 * GiB } };
	struct mem_range resv[] = { { 6 * GiB, 7 * GiB } };
	struct mem_range out[8];
	size_t k = usable(in, 2, resv, 1, out, 8);
	assert_int_equal(k, 3);
	assert_int_equal(out[1].base, 4 * GiB);
	assert_int_equal(out[1].end, 6 * GiB);
	assert_int_equal(out[2].base, 7 * GiB);
	assert_int_equal(out[2].end, 12 * GiB);
}

static void test_reserved_covers_everything(void **state)
{
	(void)state;
	struct mem_range in[] = { { 1 * MiB, 2 * MiB }, { 4 * MiB, 5 * MiB } };
	struct mem_range resv[] = { { 0, 8 * MiB } };
	struct mem_range out[4];
	assert_int_equal(usable(in, 2, resv, 1, out, 4), 0);
}

static void test_capacity_drops_ranges_not_overflows(void **state)
{
	(void)state;
	struct mem_range in[] = { { 1 * MiB, 2 * MiB }, { 3 * MiB, 4 * MiB }, { 5 * MiB, 6 * MiB } };
	struct mem_range resv[] = { { 0x180000, 0x181000 } }; /* splits the first */
	struct mem_range out[3];
	size_t k = usable(in, 3, resv, 1, out, 2);
	assert_true(k <= 2);
	/* never more RAM than there is: everything returned is in the input
	 * and outside the reservation */
	for (size_t i = 0; i < k; i++)
		assert_false(out[i].base < 0x181000 && out[i].end > 0x180000);
}

static void test_top_of_address_space(void **state)
{
	(void)state;
	struct mem_range in[] = { { UINT64_MAX - 0x2fff, UINT64_MAX } };
	struct mem_range resv[] = { { UINT64_MAX - 0x100, UINT64_MAX } };
	struct mem_range out[2];
	size_t k = usable(in, 1, resv, 1, out, 2);
	assert_int_equal(k, 1);
	assert_int_equal(out[0].base, UINT64_MAX - 0x2fff);
	assert_int_equal(out[0].end, UINT64_MAX - 0xfff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsorted_overlapping_zero_length),
		cmocka_unit_test(test_unaligned_shrinks_inward),
		cmocka_unit_test(test_reserved_module_inside_usable),
		cmocka_unit_test(test_memory_above_4g),
		cmocka_unit_test(test_reserved_covers_everything),
		cmocka_unit_test(test_capacity_drops_ranges_not_overflows),
		cmocka_unit_test(test_top_of_address_space),
	};
	return cmocka_run_group_tests_name("memmap", tests, NULL, NULL);
}
