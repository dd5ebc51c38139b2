/*
 * Per-vCPU exit statistics for hypervisor option stats=1: for each exit
 * reason the ticks spent handling it, and the ports and MSRs that exit
 * most (what kvm_stat and xenalyze give KVM and Xen users). Counting
 * happens in on_exit_timed() (vmx/vcpu.c) only, so with stats off the exit path pays
 * nothing for it.
 */
#ifndef VMX_STATS_H
#define VMX_STATS_H

#include <stdint.h>

#define STATS_EXIT_REASONS 70 /* = EXIT_REASON_MAX */
#define STATS_KEYS 512	      /* distinct ports (or MSRs) counted one by one */
#define STATS_PROBES 32	      /* slots tried before an exit counts as untracked */
#define STATS_TOP 5

struct stats_key {
	uint32_t key;
	uint32_t count; /* 0: free slot */
};

struct exit_stats {
	uint64_t ticks[STATS_EXIT_REASONS]; /* TSC ticks in on_exit, per basic reason */
	struct stats_key ports[STATS_KEYS], msrs[STATS_KEYS];
	uint64_t ports_untracked, msrs_untracked; /* exits past a full table */
};

/* Count one exit on KEY (a port, or an MSR index) in TABLE. */
void stats_count_key(struct stats_key *table, uint64_t *untracked, uint32_t key);

/* The STATS_TOP keys of TABLE by count, highest first; returns how many. */
unsigned stats_top(const struct stats_key *table, struct stats_key top[STATS_TOP]);

#endif
