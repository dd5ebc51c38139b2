#include "boot/options.h"

#include <stdbool.h>

#include "drivers/args.h"
#include "drivers/format.h"
#include "drivers/uart.h"

static const char *const on_exit_names[] = {
	[ON_EXIT_POWEROFF] = "poweroff",
	[ON_EXIT_HALT] = "halt",
	[ON_EXIT_REBOOT] = "reboot",
};

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

const char *on_exit_name(enum on_exit e)
{
	return on_exit_names[e];
}

/* Index of A's value in NAMES, or -1. */
static int value_index(const struct arg *a, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (arg_value_is(a, names[i]))
			return i;
	return -1;
}

static bool parse_console(const struct arg *a, struct hv_options *o)
{
	uint64_t port;

	if (arg_value_is(a, "com1"))
		o->console_port = COM1_PORT;
	else if (arg_value_is(a, "com2"))
		o->console_port = COM2_PORT;
	else if (arg_value_is(a, "none"))
		o->console_port = 0;
	else if (a->value && parse_u64(a->value, a->value_len, &port) && port > 0 && port <= 0xfff8)
		o->console_port = (uint16_t)port;
	else
		return false;
	return true;
}

static bool parse_on_exit(const struct arg *a, struct hv_options *o)
{
	int i = value_index(a, on_exit_names, 3);
	if (i < 0)
		return false;
	o->on_exit = (enum on_exit)i;
	return true;
}

static bool parse_loglevel(const struct arg *a, struct hv_options *o)
{
	int i = value_index(a, level_names, 4);
	if (i < 0)
		return false;
	o->loglevel = (enum log_level)i;
	return true;
}

static bool parse_ept(const struct arg *a, struct hv_options *o)
{
	static const char *const names[] = { [EPT_EAGER] = "eager", [EPT_LAZY] = "lazy" };
	int i = value_index(a, names, 2);
	if (i < 0)
		return false;
	o->ept = (enum ept_policy)i;
	return true;
}

static bool parse_apicv(const struct arg *a, struct hv_options *o)
{
	static const char *const names[] = { "on", "off" };
	int i = value_index(a, names, 2);
	if (i < 0)
		return false;
	o->apicv_off = i == 1;
	return true;
}

/* A 0/1 option into *FLAG. */
static bool parse_flag(const struct arg *a, bool *flag)
{
	static const char *const names[] = { "0", "1" };
	int i = value_index(a, names, 2);
	if (i < 0)
		return false;
	*flag = i == 1;
	return true;
}

static bool parse_stats(const struct arg *a, struct hv_options *o)
{
	return parse_flag(a, &o->stats);
}

static bool parse_console_hold(const struct arg *a, struct hv_options *o)
{
	return parse_flag(a, &o->console_hold);
}

static bool parse_selftest(const struct arg *a, struct hv_options *o)
{
	if (arg_value_is(a, "fault"))
		o->selftest_fault = true;
	else if (arg_value_is(a, "entry-failure"))
		o->selftest_entry_failure = true;
	else if (arg_value_is(a, "ept-build"))
		o->selftest_ept_build = true;
	else if (arg_value_is(a, "stuck-stop"))
		o->selftest_stuck_stop = true;
	else
		return false;
	return true;
}

static const struct option_desc {
	const char *name;
	const char *values; /* for the error message */
	bool (*parse)(const struct arg *a, struct hv_options *o);
} option_table[] = {
	{ "console", "com1, com2, none or an IO port like 0x3f8", parse_console },
	{ "on_exit", "poweroff, halt or reboot", parse_on_exit },
	{ "loglevel", "error, warn, info or debug", parse_loglevel },
	{ "ept", "eager or lazy", parse_ept },
	{ "apicv", "on or off", parse_apicv },
	{ "stats", "0 or 1", parse_stats },
	{ "console_hold", "0 or 1", parse_console_hold },
	{ "selftest", "fault, entry-failure, ept-build or stuck-stop", parse_selftest },
};

int options_parse(const char *cmdline, struct hv_options *o, options_diag_fn diag, void *ctx)
{
	static const struct hv_options defaults = {
		.console_port = COM1_PORT,
		.on_exit = ON_EXIT_POWEROFF,
		.loglevel = LOG_INFO,
		.ept = EPT_EAGER,
	};
	struct arg a;
	char msg[200];
	int problems = 0;

	*o = defaults;
	if (!cmdline)
		return 0;
	while (args_next(&cmdline, &a)) {
		const struct option_desc *d = NULL;
		for (unsigned i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
			if (arg_is(&a, option_table[i].name))
				d = &option_table[i];
		if (!d)
			fmt_snprintf(msg, sizeof(msg), "unknown option '%.*s' ignored", (int)a.key_len, a.key);
		else if (!d->parse(&a, o))
			fmt_snprintf(msg, sizeof(msg), "bad value for option '%s': '%.*s' (expected %s); keeping the default",
				     d->name, (int)a.value_len, a.value ? a.value : "", d->values);
		else
			continue;
		problems++;
		if (diag)
			diag(ctx, msg);
	}
	return problems;
}
