/*
 * The host CPU state the machine's own OS (the passthrough VM) can change
 * directly and the hypervisor relies on after it (issue 12, finding 7):
 * the local APIC the hypervisor's IPIs go through (software enable and
 * spurious vector, TPR, LVTs, timer, nothing in service), the memory
 * types (MTRRs, PAT), IA32_SPEC_CTRL and the banks' MCi_CTL2. Each CPU
 * takes a snapshot of its own at boot, before any VM; when the OS leaves
 * a CPU the hypervisor puts it back there; after every VM the isolation
 * check compares (vmx/isolation.c).
 */
#ifndef ARCH_X86_HOSTSTATE_H
#define ARCH_X86_HOSTSTATE_H

#include <stdbool.h>

/* Take this CPU's snapshot (at boot, its local APIC already enabled). */
void host_state_save(void);

/* Put this CPU's snapshot back. The APIC stays in x2APIC mode if the OS
 * turned it on: the hypervisor's IPIs work in both modes, and the way
 * back to xAPIC mode (through the APIC disabled) is one some CPUs never
 * come back from. False, after one error line, where the state cannot be
 * trusted (the APIC is off, more MTRRs than the snapshot holds). */
bool host_state_restore(void);

/* Compare this CPU's state with its snapshot after VM NAME; every
 * difference is an isolation error line. True if none. */
bool host_state_check(const char *name);

/* How many registers host_state_check compares on this CPU. */
unsigned host_state_count(void);

#endif
