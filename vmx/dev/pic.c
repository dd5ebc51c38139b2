/*
 * The two 8259 PICs at 0x20/0x21 and 0xa0/0xa1, as far as an OS that
 * masks them needs: the mask registers, and a command port that reads 0
 * (nothing requested or in service). They raise no interrupt.
 */
#include "vmx/dev/pc.h"

#include "vmx/dev/bus.h"

static void pic_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	uint8_t *mask = &((uint8_t *)dev)[port >= 0xa0];

	(void)v, (void)size;
	if (!(port & 1)) {
		if (in)
			*val = 0; /* command: no interrupt requested or in service */
	} else if (in) {
		*val = *mask;
	} else {
		*mask = (uint8_t)*val;
	}
}

bool pic_attach(struct vm *vm)
{
	uint8_t *mask = bus_state(vm, 2);
	if (!mask)
		return false;
	mask[0] = mask[1] = 0xff; /* all masked, as firmware leaves them */
	return bus_add_ports(vm, 0x20, 2, pic_port, mask, NULL) && bus_add_ports(vm, 0xa0, 2, pic_port, mask, NULL);
}
