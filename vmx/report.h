/* A VM's end in words (vmx/report.c). */
#ifndef VMX_REPORT_H
#define VMX_REPORT_H

#include "vmx/core/vm.h"

/* The one VM-END line. */
void print_vm_end(const struct vm *vm);

/* stats=1: the exit statistics of each vCPU. */
void print_vm_stats(const struct vm *vm);

#endif
