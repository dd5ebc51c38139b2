/*
 * What the hypervisor says about a VM when it has ended: the VM-END line
 * (README, "Output lines": the stable interface tests and users read)
 * and, with stats=1, its exit statistics.
 */
#include "vmx/report.h"

#include "drivers/console.h"
#include "drivers/format.h"
#include "vmx/core/stats.h"
#include "vmx/hw/exitinfo.h"


/* The one VM-END line: name, cause, status, exits, and a count for each
 * exit reason that occurred, in reason order. */
void print_vm_end(const struct vm *vm)
{
	uint64_t exits = 0, count[EXIT_REASON_MAX] = { 0 };
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		exits += v->exits;
		for (unsigned r = 0; r < EXIT_REASON_MAX; r++)
			count[r] += v->exit_count[r];
	}
	char line[600];
	int n = fmt_snprintf(line, sizeof(line), "VM-END name=%s cause=%s status=%llu exits=%llu", vm->cfg.name,
			     vm_cause_name(vm->cause), (unsigned long long)vm->status, (unsigned long long)exits);
	if (vm->nvcpus > 1)
		n += fmt_snprintf(line + n, sizeof(line) - n, " vcpus=%u", vm->nvcpus);
	for (unsigned r = 0; r < EXIT_REASON_MAX && n < (int)sizeof(line); r++)
		if (count[r])
			n += fmt_snprintf(line + n, sizeof(line) - n, " %s=%llu", exit_reason_name(r),
					  (unsigned long long)count[r]);
	log_info("%s", line);
}

static void print_top(const char *vm, const char *who, const char *what, const struct stats_key *table,
		      uint64_t untracked)
{
	struct stats_key top[STATS_TOP];
	char line[200];
	unsigned n = stats_top(table, top);
	int len = fmt_snprintf(line, sizeof(line), "VM %s: %stop %s:", vm, who, what);

	for (unsigned i = 0; i < n; i++)
		len += fmt_snprintf(line + len, sizeof(line) - len, " %#x=%u", top[i].key, top[i].count);
	if (!n)
		fmt_snprintf(line + len, sizeof(line) - len, " none");
	else if (untracked)
		fmt_snprintf(line + len, sizeof(line) - len, " (and %llu exits on %s the table had no room for)",
			     (unsigned long long)untracked, what);
	log_info("%s", line);
}

/* stats=1: one line per exit reason that occurred, with the ticks spent in
 * the exit handler, then the ports and MSRs that exited most. A VM with
 * several vCPUs has a column for the vCPU, and their lists one by one. */
void print_vm_stats(const struct vm *vm)
{
	const char *name = vm->cfg.name;
	bool multi = vm->nvcpus > 1;

	log_info("VM %s: exit statistics (ticks: TSC ticks in the exit handler)", name);
	if (multi)
		log_info("VM %s:   %4s %-20s %10s %14s %10s", name, "vcpu", "reason", "count", "total ticks", "mean");
	else
		log_info("VM %s:   %-20s %10s %14s %10s", name, "reason", "count", "total ticks", "mean");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		for (unsigned r = 0; v && r < EXIT_REASON_MAX; r++) {
			if (!v->exit_count[r])
				continue;
			unsigned long long total = v->stats.ticks[r], mean = total / v->exit_count[r];
			if (multi)
				log_info("VM %s:   %4u %-20s %10u %14llu %10llu", name, i, exit_reason_name(r),
					 v->exit_count[r], total, mean);
			else
				log_info("VM %s:   %-20s %10u %14llu %10llu", name, exit_reason_name(r), v->exit_count[r],
					 total, mean);
		}
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		char who[16] = "";
		if (!v)
			continue;
		if (multi)
			fmt_snprintf(who, sizeof(who), "vCPU %u: ", i);
		print_top(name, who, "ports", v->stats.ports, v->stats.ports_untracked);
		print_top(name, who, "MSRs", v->stats.msrs, v->stats.msrs_untracked);
	}
}
