/* The one instruction decoder for device registers in memory (vmx/exit/mmio.c). */
#ifndef VMX_EXIT_MMIO_H
#define VMX_EXIT_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* Decode the instruction at RIP that touched guest-physical GPA into an
 * access record, have region R's device do it, load a read's value into
 * the register and complete the instruction. An instruction that is not
 * emulated ends the VM (cause=unhandled-exit status=STATUS) with its
 * bytes. */
void mmio_emulate(struct vcpu *v, uint64_t gpa, const struct mmio_region *r, unsigned status);

#endif
