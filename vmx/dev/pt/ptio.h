/*
 * The passthrough VM's watched registers (vmx/dev/pt/ptio.c), a device on
 * its bus: the trapped ports (power, reset, SMI command, the keyboard
 * controller, PCI configuration mechanism #1), the pages of power
 * registers in memory (read-only in its EPT, their writes emulated), and
 * the local APIC's ICR and APIC_BASE, where INIT and start-up IPIs may
 * only go to the VM's own CPUs (they start them in VMX non-root
 * operation) and the APIC may not be turned off.
 */
#ifndef VMX_DEV_PT_PTIO_H
#define VMX_DEV_PT_PTIO_H

#include <stdbool.h>

#include "vmx/core/vm.h"

/* Find the registers (ACPI, the chipset) and register them on VM's bus;
 * false when out of memory or the bus is full. */
bool ptio_attach(struct vm *vm);

#endif
