/* Making a VM and taking it apart (vmx/create.c). */
#ifndef VMX_CREATE_H
#define VMX_CREATE_H

#include <stdbool.h>
#include <stddef.h>

#include "vmx/core/vm.h"

/* Make VM (its config parsed, its id and VPID set) from module MOD, with
 * INITRD if not NULL, with NVCPUS vCPUs, and set up vCPU 0 on this CPU;
 * false with a one-line reason in ERR. */
bool vm_create(struct vm *vm, const struct machine *m, const struct vm_module *mod, const struct vm_module *initrd,
	       unsigned nvcpus, char *err, size_t errlen);

/* After every vCPU has left its run loop and the APs have torn down
 * their own VMCSs: everything but the vCPUs' pages (vm_free_vcpus, once
 * no vCPU can send another an IPI). */
void vm_destroy(struct vm *vm);
void vm_free_vcpus(struct vm *vm);

#endif
