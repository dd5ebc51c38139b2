/* The shutdown-port word matcher (vmx/dev/shutdown.h). */
#include "unit.h"

#include "vmx/dev/shutdown.h"

static bool feed(unsigned *len, const char *s, size_t n)
{
	bool done = false;
	for (size_t i = 0; i < n; i++)
		done = shutdown_feed(len, s[i]);
	return done;
}

static void word_ends(void **state)
{
	(void)state;
	unsigned len = 0;
	assert_false(feed(&len, "Shutdow", 7));
	assert_true(shutdown_feed(&len, 'n'));
	assert_int_equal(len, 0);
}

static void restarts_on_s(void **state)
{
	(void)state;
	unsigned len = 0;
	assert_false(feed(&len, "ShutSShutdow", 12));
	assert_true(shutdown_feed(&len, 'n'));
}

static void wrong_byte_resets(void **state)
{
	(void)state;
	unsigned len = 0;
	assert_false(feed(&len, "Shutxdown", 9));
	assert_int_equal(len, 0);
}

/* After the word (another vCPU writing on), and from any state a guest
 * could leave, every byte value keeps the matcher inside the word: under
 * ASan an index past it is an error. */
static void never_past_the_word(void **state)
{
	(void)state;
	for (unsigned start = 0; start < 64; start++) {
		for (int c = 0; c < 256; c++) {
			unsigned len = start;
			shutdown_feed(&len, (char)c);
			assert_true(len < sizeof(SHUTDOWN_WORD) - 1);
		}
	}
	unsigned len = 0;
	assert_true(feed(&len, "Shutdown", 8));
	assert_false(feed(&len, "\0\0\0\0Shut", 8));
	assert_int_equal(len, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(word_ends),
		cmocka_unit_test(restarts_on_s),
		cmocka_unit_test(wrong_byte_resets),
		cmocka_unit_test(never_past_the_word),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
