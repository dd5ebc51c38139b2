/* An isolated VM's devices (vmx/dev/pc.h), attached in port order. */
#include "vmx/dev/pc.h"

#include "vmx/dev/lapic.h"

bool pc_attach(struct vm *vm)
{
	return debugexit_attach(vm) && pic_attach(vm) && uart_attach(vm) && fwcfg_attach(vm) && pci_attach(vm) &&
	       lapic_attach(vm);
}
