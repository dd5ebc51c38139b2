/* Exit statistics (stats=1): counting ports and MSRs, and the top five. */
#include "unit.h"

#include "vmx/core/stats.h"

static struct stats_key table[STATS_KEYS];
static uint64_t untracked;

static int setup(void **state)
{
	(void)state;
	memset(table, 0, sizeof(table));
	untracked = 0;
	return 0;
}

static void count_n(uint32_t key, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		stats_count_key(table, &untracked, key);
}

static void test_top_is_sorted_by_count(void **state)
{
	(void)state;
	struct stats_key top[STATS_TOP];

	count_n(0x3f8, 10);
	count_n(0x3fd, 30);
	count_n(0x80, 1);
	count_n(0xcf8, 7);
	count_n(0x21, 20);
	count_n(0x510, 2);
	count_n(0x3f9, 3);
	assert_int_equal(stats_top(table, top), STATS_TOP);
	uint32_t want_key[] = { 0x3fd, 0x21, 0x3f8, 0xcf8, 0x3f9 };
	uint32_t want_count[] = { 30, 20, 10, 7, 3 };
	for (unsigned i = 0; i < STATS_TOP; i++) {
		assert_int_equal(top[i].key, want_key[i]);
		assert_int_equal(top[i].count, want_count[i]);
	}
	assert_int_equal(untracked, 0);
}

static void test_ties_go_to_the_lower_key(void **state)
{
	(void)state;
	struct stats_key top[STATS_TOP];

	count_n(0xc0000080, 4);
	count_n(0x10, 4);
	count_n(0x277, 4);
	assert_int_equal(stats_top(table, top), 3);
	assert_int_equal(top[0].key, 0x10);
	assert_int_equal(top[1].key, 0x277);
	assert_int_equal(top[2].key, 0xc0000080);
}

static void test_empty_table_has_no_top(void **state)
{
	(void)state;
	struct stats_key top[STATS_TOP];
	assert_int_equal(stats_top(table, top), 0);
}

/* Key 0 is a real port: a slot is free by its count, not its key. */
static void test_key_zero_counts(void **state)
{
	(void)state;
	struct stats_key top[STATS_TOP];

	count_n(0, 3);
	assert_int_equal(stats_top(table, top), 1);
	assert_int_equal(top[0].key, 0);
	assert_int_equal(top[0].count, 3);
}

/* Many more distinct keys than slots: the exits that find no slot within
 * STATS_PROBES count as untracked, none is lost, and a key already in the
 * table keeps counting. */
static void test_full_table_counts_untracked(void **state)
{
	(void)state;
	struct stats_key top[STATS_TOP];
	uint64_t tracked = 0;

	count_n(0x3f8, 2);
	for (uint32_t k = 0; k < 4 * STATS_KEYS; k++)
		count_n(0x10000 + k, 1);
	for (unsigned i = 0; i < STATS_KEYS; i++)
		tracked += table[i].count;
	assert_true(untracked >= 3 * STATS_KEYS);
	assert_int_equal(tracked + untracked, 2 + 4 * STATS_KEYS);
	count_n(0x3f8, 9);
	assert_int_equal(stats_top(table, top), STATS_TOP);
	assert_int_equal(top[0].key, 0x3f8);
	assert_int_equal(top[0].count, 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_top_is_sorted_by_count, setup),
		cmocka_unit_test_setup(test_ties_go_to_the_lower_key, setup),
		cmocka_unit_test_setup(test_empty_table_has_no_top, setup),
		cmocka_unit_test_setup(test_key_zero_counts, setup),
		cmocka_unit_test_setup(test_full_table_counts_untracked, setup),
	};
	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
