/* The frame allocator over synthetic memory maps. */
#include "unit.h"

#include "mm/frame.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct frame_pool pool;
static uint64_t *bitmap;

static void setup_pool(const struct mem_range *r, size_t n)
{
	free(bitmap);
	bitmap = malloc(frame_bitmap_bytes(r, n));
	frame_pool_init(&pool, r, n, bitmap);
}

static int teardown(void **state)
{
	(void)state;
	free(bitmap);
	bitmap = NULL;
	return 0;
}

static void test_init_counts_only_usable(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 2 * MiB }, { 4 * MiB, 5 * MiB } };
	setup_pool(r, 2);
	assert_int_equal(pool.total, 512);
	assert_int_equal(pool.free, 512);
	/* every allocation lands inside a usable range */
	for (int i = 0; i < 512; i++) {
		uint64_t a = frame_alloc(&pool, 1, PAGE_SIZE);
		assert_true((a >= 1 * MiB && a < 2 * MiB) || (a >= 4 * MiB && a < 5 * MiB));
	}
	assert_int_equal(frame_alloc(&pool, 1, PAGE_SIZE), 0);
	assert_int_equal(pool.free, 0);
	assert_int_equal(pool.failures, 1);
}

static void test_page_zero_never_handed_out(void **state)
{
	(void)state;
	struct mem_range r[] = { { 0, 4 * PAGE_SIZE } };
	setup_pool(r, 1);
	assert_int_equal(pool.total, 3);
	for (int i = 0; i < 3; i++)
		assert_int_not_equal(frame_alloc(&pool, 1, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc(&pool, 1, PAGE_SIZE), 0);
}

static void test_aligned_runs(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 9 * MiB } };
	setup_pool(r, 1);
	uint64_t a = frame_alloc(&pool, 512, 2 * MiB);
	assert_int_equal(a, 2 * MiB);
	uint64_t b = frame_alloc(&pool, 512, 2 * MiB);
	assert_int_equal(b, 4 * MiB);
	/* a single frame takes the lowest free one, below the 2 MiB runs */
	assert_int_equal(frame_alloc(&pool, 1, PAGE_SIZE), 1 * MiB);
	/* 6-8 MiB is the last aligned 2 MiB run; 8-9 MiB is too short */
	assert_int_equal(frame_alloc(&pool, 512, 2 * MiB), 6 * MiB);
	assert_int_equal(frame_alloc(&pool, 512, 2 * MiB), 0);
	assert_true(frame_free(&pool, b, 512));
	assert_int_equal(frame_alloc(&pool, 512, 2 * MiB), 4 * MiB);
}

static void test_run_skips_used_frame(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 1 * MiB + 16 * PAGE_SIZE } };
	setup_pool(r, 1);
	frame_reserve(&pool, 1 * MiB + 2 * PAGE_SIZE, 1 * MiB + 3 * PAGE_SIZE);
	/* 4 contiguous frames cannot start at 0 or 1: first run is 3..6 */
	assert_int_equal(frame_alloc(&pool, 4, PAGE_SIZE), 1 * MiB + 3 * PAGE_SIZE);
	assert_int_equal(pool.free, 16 - 1 - 4);
}

static void test_gigabyte_run_above_4g(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 3 * GiB }, { 4 * GiB, 6 * GiB } };
	setup_pool(r, 2);
	uint64_t a = frame_alloc(&pool, GiB / PAGE_SIZE, GiB);
	assert_int_equal(a, 1 * GiB);
	assert_int_equal(frame_alloc(&pool, GiB / PAGE_SIZE, GiB), 2 * GiB);
	assert_int_equal(frame_alloc(&pool, GiB / PAGE_SIZE, GiB), 4 * GiB);
	assert_int_equal(frame_alloc(&pool, GiB / PAGE_SIZE, GiB), 5 * GiB);
	assert_int_equal(frame_alloc(&pool, GiB / PAGE_SIZE, GiB), 0);
}

static void test_bad_frees_change_nothing(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 2 * MiB } };
	setup_pool(r, 1);
	uint64_t a = frame_alloc(&pool, 2, PAGE_SIZE);
	assert_true(frame_free(&pool, a, 2));
	uint64_t before = pool.free;
	assert_false(frame_free(&pool, a, 1));		/* double free */
	assert_false(frame_free(&pool, a + 1, 1));	/* unaligned */
	assert_false(frame_free(&pool, 0x1000, 1));	/* below the pool */
	assert_false(frame_free(&pool, 3 * MiB, 1));	/* above the pool */
	assert_false(frame_free(&pool, a, UINT64_MAX)); /* wraps */
	assert_int_equal(pool.free, before);
	assert_int_equal(pool.frees, 1);
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct mem_range r[] = { { 1 * MiB, 2 * MiB } };
	setup_pool(r, 1);
	assert_int_equal(frame_alloc(&pool, 0, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc(&pool, 1, 3 * PAGE_SIZE), 0); /* not a power of two */
	assert_int_equal(frame_alloc(&pool, 1, 512), 0);	       /* below a page */
	assert_int_equal(frame_alloc(&pool, 257, PAGE_SIZE), 0); /* more than there is */
	assert_int_equal(frame_alloc(&pool, 200, PAGE_SIZE), 1 * MiB);
	assert_int_equal(frame_alloc(&pool, 57, PAGE_SIZE), 0);
	assert_int_equal(pool.min_free, 56);
	assert_int_equal(pool.failures, 5);
	/* Frames outside the pool are not free, and asking is safe. */
	assert_false(frame_is_free(&pool, 0x8000));
	assert_false(frame_is_free(&pool, 2 * MiB));
	assert_false(frame_is_free(&pool, ~0ull));
	assert_true(frame_is_free(&pool, 2 * MiB - PAGE_SIZE));
	assert_false(frame_is_free(&pool, 1 * MiB));
}

static void test_empty_pool(void **state)
{
	(void)state;
	setup_pool(NULL, 0);
	assert_int_equal(pool.total, 0);
	assert_int_equal(frame_alloc(&pool, 1, PAGE_SIZE), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_init_counts_only_usable, teardown),
		cmocka_unit_test_teardown(test_page_zero_never_handed_out, teardown),
		cmocka_unit_test_teardown(test_aligned_runs, teardown),
		cmocka_unit_test_teardown(test_run_skips_used_frame, teardown),
		cmocka_unit_test_teardown(test_gigabyte_run_above_4g, teardown),
		cmocka_unit_test_teardown(test_bad_frees_change_nothing, teardown),
		cmocka_unit_test_teardown(test_bad_requests, teardown),
		cmocka_unit_test_teardown(test_empty_pool, teardown),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
