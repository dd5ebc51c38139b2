/*
 * Evidence that guests cannot reach the hypervisor (docs/security.md).
 * At boot: a random 64-bit secret is kept in the hypervisor's memory, its
 * text and read-only data are summed, and the host MSRs it depends on are
 * read. After every VM: the sum and the MSRs must be as they were. A test
 * greps all guest output for the secret, which the boot report prints.
 */
#ifndef VMX_ISOLATION_H
#define VMX_ISOLATION_H

#include <stdbool.h>

/* Pick the secret, take the sum and the boot CPU's MSRs; log them. */
void isolation_init(void);

/* Take this CPU's watched MSRs (each AP, once it is up). */
void isolation_cpu_init(void);

/* After VM NAME ended: log an error for any change; false if one. */
bool isolation_check(const char *name);

/* The closing line after the last VM. */
void isolation_report(unsigned vms);

#endif
