/*
 * The scheduler: every boot module that is a VM runs on the online CPUs
 * (cpu= pins, the rest on free CPUs in module order), and HV-END follows
 * the last. It takes the modules and the machine as boot/ found them, not
 * the boot information itself.
 */
#ifndef VMX_SCHED_H
#define VMX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/core/vmconfig.h"

/* The hypervisor's options that reach its VMs (README, "Options"). */
struct vms_options {
	enum ept_policy ept; /* the default of the ept= module key */
	bool stats;	     /* stats=1: time exits, print the tables */
	bool selftest_entry_failure, selftest_stuck_stop;
};

/* Run every module as a VM. The boot CPU calls this; each AP calls
 * vms_ap_worker once it is up, and it returns when there is nothing left
 * to run. Returns the number of VMs that failed. */
unsigned vms_run(const struct machine *m, const struct vms_options *o);
void vms_ap_worker(void);

#endif
