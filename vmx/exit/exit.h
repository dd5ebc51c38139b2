/* VM exits: one const table indexed by basic exit reason. */
#ifndef VMX_EXIT_H
#define VMX_EXIT_H

#include <stdint.h>

#include "vmx/core/vm.h"

/* Count, dispatch and handle one VM exit (called by vmx/hw/entry.S); nonzero
 * when the VM has ended. The timed variant (stats=1) also accounts the
 * ticks spent and the ports and MSRs exited on (vmx/core/stats.h). */
int vcpu_exit(struct vcpu *v);
int vcpu_exit_timed(struct vcpu *v);
/* Either of them, then blocking by SMI cleared: for CPUs that report it
 * wrongly after a SIPI exit (vmx/exit/exit.c, handle_sipi). */
int vcpu_exit_smi(struct vcpu *v);

/* The port-IO exit (vmx/exit/io.c). */
void handle_io(struct vcpu *v);

/* End V's VM for an access to guest-physical GPA outside its RAM. */
void end_ept_violation(struct vcpu *v, uint64_t gpa, const char *access);

#endif
