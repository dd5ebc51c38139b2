/*
 * The ports a test guest ends or marks its run with:
 *   0xf4    debug exit (QEMU's isa-debug-exit): writing v ends the VM with
 *           cause=debug-exit status=v
 *   0x8900  the bytes of "Shutdown" end the VM (cause=shutdown-port), as
 *           on Bochs (vmx/dev/shutdown.h)
 *   0x80    POST codes, ignored
 */
#include "vmx/dev/pc.h"

#include "vmx/dev/bus.h"
#include "vmx/dev/shutdown.h"

static void debug_exit_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)dev, (void)port, (void)size;
	if (!in)
		vm_end(v, CAUSE_DEBUG_EXIT, *val);
	else
		*val = 0;
}

static void shutdown_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)port, (void)size;
	if (in) {
		*val = ~0u;
		return;
	}
	if (shutdown_feed(dev, (char)*val))
		vm_end(v, CAUSE_SHUTDOWN_PORT, 0);
}

static void post_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)v, (void)dev, (void)port, (void)size;
	if (in)
		*val = ~0u;
}

bool debugexit_attach(struct vm *vm)
{
	unsigned *shutdown_len = bus_state(vm, sizeof(*shutdown_len)); /* bytes of "Shutdown" seen in order */
	return shutdown_len && bus_add_ports(vm, 0xf4, 1, debug_exit_port, NULL, NULL) &&
	       bus_add_ports(vm, 0x8900, 1, shutdown_port, shutdown_len, NULL) &&
	       bus_add_ports(vm, 0x80, 1, post_port, NULL, NULL);
}
