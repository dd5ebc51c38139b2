/*
 * Hypervisor options, from the multiboot2 command line (see README,
 * "Hypervisor options"). An unknown option or a bad value is reported
 * and otherwise ignored: the boot goes on with the default.
 */
#ifndef BOOT_OPTIONS_H
#define BOOT_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/console.h"
#include "vmx/core/vmconfig.h"

enum on_exit { ON_EXIT_POWEROFF, ON_EXIT_HALT, ON_EXIT_REBOOT };

struct hv_options {
	uint16_t console_port; /* 0: no console */
	enum on_exit on_exit;
	enum log_level loglevel;
	enum ept_policy ept; /* default for VMs without an ept= key */
	bool apicv_off;	     /* apicv=off: emulate guests' local APICs even where the CPU virtualizes them */
	bool stats;	     /* stats=1: a table of exit costs, ports and MSRs when each VM ends */
	bool console_hold;   /* console_hold=1: console output waits in memory until the first VM entry */
	bool selftest_fault;	     /* selftest=fault: a page fault on purpose after the report */
	bool selftest_entry_failure; /* selftest=entry-failure: the first VM's entry fails */
	bool selftest_ept_build;     /* selftest=ept-build: time a 4 GiB guest's eager EPT after the VMs */
	bool selftest_stuck_stop;    /* selftest=stuck-stop: a VM's last vCPU stays in its loop after its end */
};

/* Called once per problem with a one-line message (no prefix). */
typedef void (*options_diag_fn)(void *ctx, const char *msg);

/* Defaults, then every word of CMDLINE (may be NULL). Returns the number of
 * problems reported through DIAG (which may be NULL). */
int options_parse(const char *cmdline, struct hv_options *o, options_diag_fn diag, void *ctx);

const char *on_exit_name(enum on_exit e);

#endif
