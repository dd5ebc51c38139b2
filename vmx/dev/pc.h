/*
 * An isolated VM's devices, a small PC (each in its own file, its state
 * its own, on the VM's bus):
 *   0x3f8-0x3ff  COM1, a 16550 register model; output goes to the console
 *                as lines "NAME| text" (uart.c)
 *   0xf4         debug exit: writing v ends the VM with cause=debug-exit
 *                status=v; 0x8900 the bytes of "Shutdown" end it
 *                (cause=shutdown-port); 0x80 POST codes, ignored
 *                (debugexit.c)
 *   0x20/0x21, 0xa0/0xa1  PIC command (reads 0) and mask registers (pic.c)
 *   0xcf8, 0xcfc-0xcff    PCI configuration: no devices (pci.c)
 *   0x510/0x511  fw_cfg: signature, CPU count and RAM size, as QEMU's pc
 *                (fwcfg.c)
 *   0xfee00000   the local APIC of each vCPU (lapic.c)
 * Any other port reads all ones and drops writes (vmx/dev/bus.h).
 */
#ifndef VMX_DEV_PC_H
#define VMX_DEV_PC_H

#include <stdbool.h>

#include "vmx/core/vm.h"

/* Every device above on VM's bus; false when out of memory. */
bool pc_attach(struct vm *vm);

bool uart_attach(struct vm *vm);
bool debugexit_attach(struct vm *vm);
bool pic_attach(struct vm *vm);
bool pci_attach(struct vm *vm);
bool fwcfg_attach(struct vm *vm);

/* Print one line of the guest's output: "NAME| text" (uart.c). */
void guest_output(struct vm *vm, const char *text, unsigned len);

#endif
