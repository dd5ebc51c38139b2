/* Hypervisor options, the word tokenizer, numbers and sizes, and the
 * formatter behind every console line. */
#include "unit.h"

#include <stdio.h>

#include "drivers/args.h"
#include "boot/options.h"
#include "drivers/format.h"
#include "drivers/uart.h"

static char diags[8][200];
static int ndiags;

static void collect(void *ctx, const char *msg)
{
	(void)ctx;
	if (ndiags < 8)
		snprintf(diags[ndiags], sizeof(diags[0]), "%s", msg);
	ndiags++;
}

static int parse(const char *cmdline, struct hv_options *o)
{
	ndiags = 0;
	return options_parse(cmdline, o, collect, NULL);
}

static void test_defaults(void **state)
{
	(void)state;
	struct hv_options o;
	assert_int_equal(parse(NULL, &o), 0);
	assert_int_equal(o.console_port, COM1_PORT);
	assert_int_equal(o.on_exit, ON_EXIT_POWEROFF);
	assert_int_equal(o.loglevel, LOG_INFO);
	assert_false(o.stats);
	assert_false(o.console_hold);
	assert_int_equal(parse("   ", &o), 0);
}

static void test_known_options(void **state)
{
	(void)state;
	struct hv_options o;
	assert_int_equal(parse("console=com2 on_exit=halt loglevel=debug", &o), 0);
	assert_int_equal(o.console_port, COM2_PORT);
	assert_int_equal(o.on_exit, ON_EXIT_HALT);
	assert_int_equal(o.loglevel, LOG_DEBUG);
	assert_int_equal(parse("console=0x2e8\ton_exit=reboot", &o), 0);
	assert_int_equal(o.console_port, 0x2e8);
	assert_int_equal(o.on_exit, ON_EXIT_REBOOT);
	assert_int_equal(parse("console=none", &o), 0);
	assert_int_equal(o.console_port, 0);
	assert_int_equal(parse("stats=1 console_hold=1", &o), 0);
	assert_true(o.stats);
	assert_true(o.console_hold);
	assert_int_equal(o.console_port, COM1_PORT);
	assert_int_equal(parse("stats=1 stats=0", &o), 0);
	assert_false(o.stats);
	assert_int_equal(parse("stats=yes stats", &o), 2);
	assert_false(o.stats);
	assert_int_equal(parse("selftest=stuck-stop", &o), 0);
	assert_true(o.selftest_stuck_stop);
	assert_false(o.selftest_fault);
	assert_string_equal(on_exit_name(ON_EXIT_REBOOT), "reboot");
}

static void test_unknown_option_warns_and_goes_on(void **state)
{
	(void)state;
	struct hv_options o;
	assert_int_equal(parse("frobnicate=3 on_exit=halt verbose", &o), 2);
	assert_string_equal(diags[0], "unknown option 'frobnicate' ignored");
	assert_string_equal(diags[1], "unknown option 'verbose' ignored");
	assert_int_equal(o.on_exit, ON_EXIT_HALT);
}

static void test_bad_values_keep_default(void **state)
{
	(void)state;
	struct hv_options o;
	assert_int_equal(parse("console=com9 on_exit=explode console=0x10000 console loglevel=", &o), 5);
	assert_non_null(strstr(diags[0], "bad value for option 'console': 'com9'"));
	assert_non_null(strstr(diags[1], "'on_exit': 'explode' (expected poweroff, halt or reboot)"));
	assert_non_null(strstr(diags[2], "'0x10000'"));
	assert_non_null(strstr(diags[3], "option 'console': ''"));
	assert_non_null(strstr(diags[4], "option 'loglevel'"));
	assert_int_equal(o.console_port, COM1_PORT);
	assert_int_equal(o.on_exit, ON_EXIT_POWEROFF);
	/* prefixes of a name are not the name */
	assert_int_equal(parse("on_exit=poweroffx console=com", &o), 2);
}

static void test_no_diag_callback(void **state)
{
	(void)state;
	struct hv_options o;
	assert_int_equal(options_parse("bad=1 worse", &o, NULL, NULL), 2);
}

static void test_tokenizer(void **state)
{
	(void)state;
	const char *p = "  a=1 b  =c d= e==f  ";
	struct arg a;
	assert_true(args_next(&p, &a));
	assert_true(arg_is(&a, "a") && arg_value_is(&a, "1"));
	assert_true(args_next(&p, &a));
	assert_true(arg_is(&a, "b") && a.value == NULL);
	assert_true(args_next(&p, &a));
	assert_true(a.key_len == 0 && arg_value_is(&a, "c"));
	assert_true(args_next(&p, &a));
	assert_true(arg_is(&a, "d") && a.value != NULL && a.value_len == 0);
	assert_true(args_next(&p, &a));
	assert_true(arg_is(&a, "e") && arg_value_is(&a, "=f"));
	assert_false(args_next(&p, &a));
	assert_false(args_next(&p, &a));
}

static void test_numbers_and_sizes(void **state)
{
	(void)state;
	uint64_t v;
	assert_true(parse_u64("0", 1, &v) && v == 0);
	assert_true(parse_u64("0x7C00", 6, &v) && v == 0x7c00);
	assert_true(parse_u64("18446744073709551615", 20, &v) && v == UINT64_MAX);
	assert_false(parse_u64("18446744073709551616", 20, &v));
	assert_false(parse_u64("0x", 2, &v));
	assert_false(parse_u64("", 0, &v));
	assert_false(parse_u64("12a", 3, &v));
	assert_false(parse_u64("-1", 2, &v));
	assert_true(parse_size("16M", 3, &v) && v == 16ull << 20);
	assert_true(parse_size("4g", 2, &v) && v == 4ull << 30);
	assert_true(parse_size("640K", 4, &v) && v == 640ull << 10);
	assert_true(parse_size("4096", 4, &v) && v == 4096);
	assert_true(parse_size("0x10M", 5, &v) && v == 16ull << 20);
	assert_false(parse_size("M", 1, &v));
	assert_false(parse_size("17179869184G", 12, &v)); /* 2^34 G overflows */
	assert_false(parse_size("12T", 3, &v));
}

/* The formatter without the compiler's format checking, for inputs the
 * checker rightly rejects. */
static int unchecked_format(char *b, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fmt_vsnprintf(b, n, fmt, ap);
	va_end(ap);
	return r;
}

static void test_format(void **state)
{
	(void)state;
	char b[64];
	assert_int_equal(fmt_snprintf(b, sizeof(b), "%d %i %u", -42, 7, 3000000000u), 16);
	assert_string_equal(b, "-42 7 3000000000");
	fmt_snprintf(b, sizeof(b), "%#llx %08x %-4s| %5s %.3s", 0x1234abcdULL, 0xbeef, "ab", "cd", "truncate");
	assert_string_equal(b, "0x1234abcd 0000beef ab  |    cd tru");
	fmt_snprintf(b, sizeof(b), "%lld %zu %c %% %p", (long long)INT64_MIN, (size_t)99, 'x', (void *)0x10);
	assert_string_equal(b, "-9223372036854775808 99 x % 0x10");
	fmt_snprintf(b, sizeof(b), "%hhx %hx %X %#018llx", 0x1ff, 0x12345, 0xabc, 0xfee00000ull);
	assert_string_equal(b, "ff 2345 ABC 0x00000000fee00000");
	unchecked_format(b, sizeof(b), "[%*d] [%-*d] %s", 4, 7, 3, 8, (char *)NULL);
	assert_string_equal(b, "[   7] [8  ] (null)");
	/* truncation: returns the full length, always terminates */
	assert_int_equal(fmt_snprintf(b, 5, "hello world"), 11);
	assert_string_equal(b, "hell");
	assert_int_equal(fmt_snprintf(b, 1, "abc"), 3);
	assert_string_equal(b, "");
	unchecked_format(b, sizeof(b), "%q %", 1);
	assert_string_equal(b, "%q ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_known_options),
		cmocka_unit_test(test_unknown_option_warns_and_goes_on),
		cmocka_unit_test(test_bad_values_keep_default),
		cmocka_unit_test(test_no_diag_callback),
		cmocka_unit_test(test_tokenizer),
		cmocka_unit_test(test_numbers_and_sizes),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
