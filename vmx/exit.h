/* VM exits: one const table indexed by basic exit reason. */
#ifndef VMX_EXIT_H
#define VMX_EXIT_H

#include <stdint.h>

#include "vmx/vm.h"

/* Count, dispatch and handle one exit with full exit reason REASON. */
void handle_exit(struct vcpu *v, uint32_t reason);

/* The port-IO exit (vmx/io.c). */
void handle_io(struct vcpu *v);

/* End V's VM for an access to guest-physical GPA outside its RAM. */
void end_ept_violation(struct vcpu *v, uint64_t gpa, const char *access);

#endif
