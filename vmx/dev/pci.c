/*
 * PCI configuration mechanism #1 (0xcf8 CONFIG_ADDRESS, 0xcfc-0xcff data)
 * with no device behind it: the address reads back as written and every
 * configuration read is all ones, so an OS's bus scan finds nothing.
 */
#include "vmx/dev/pc.h"

#include "vmx/dev/bus.h"

static void pci_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	uint32_t *address = dev;

	(void)v;
	if (port == 0xcf8 && size == 4) {
		if (in)
			*val = *address;
		else
			*address = *val;
	} else if (in) {
		*val = ~0u; /* no device answers */
	}
}

bool pci_attach(struct vm *vm)
{
	uint32_t *address = bus_state(vm, sizeof(*address));
	return address && bus_add_ports(vm, 0xcf8, 1, pci_port, address, NULL) &&
	       bus_add_ports(vm, 0xcfc, 4, pci_port, address, NULL);
}
