/*
 * The port bus of an isolated VM and its device models:
 *   0x3f8-0x3ff  COM1, a 16550 register model; output goes to the console
 *                as lines "NAME| text"
 *   0xf4         debug exit (QEMU's isa-debug-exit): writing v ends the VM
 *                with cause=debug-exit status=v
 *   0x8900       the bytes of "Shutdown" end the VM (cause=shutdown-port)
 *   0x80         POST codes, ignored
 *   0x20/0x21, 0xa0/0xa1  PIC command (reads 0) and mask registers
 *   0xcf8, 0xcfc-0xcff    PCI configuration: no devices (reads all ones)
 *   0x510/0x511  fw_cfg: signature, CPU count and RAM size, as QEMU's pc
 * Any other port reads all ones and drops writes; it is counted and listed
 * when the VM ends.
 */
#ifndef VMX_DEVICES_H
#define VMX_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* An isolated VM's devices on its bus, in their reset state. */
void devices_init(struct vm *vm);

/* A port map that gives every port to one model: port_fns[0]. */
extern const uint8_t bus_one_device[0x10000];

/* One port access of SIZE bytes by the guest: OUT of *VAL, or IN into *VAL.
 * Inline: it is most of an IN or OUT exit. */
static inline void port_access(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	uint32_t mask = ~0u >> (32 - 8 * size);

	if (!in)
		*val &= mask; /* an OUT of AL or AX carries only that much */
	struct vm *vm = v->vm;
	vm->port_fns[vm->port_map[port]](v, port, size, in, val);
	if (in)
		*val &= mask;
}

/* Print the guest's output that has no newline yet, and the ports that
 * nothing handled. */
void devices_finish(struct vm *vm);

/* Print one line of the guest's output: "NAME| text". */
void guest_output(struct vm *vm, const char *text, unsigned len);

#endif
