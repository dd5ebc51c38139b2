/*
 * fw_cfg at 0x510 (selector) and 0x511 (data), as on QEMU's pc machine
 * (QEMU docs/specs/fw_cfg.rst): the signature, the VM's CPU count and
 * its RAM size, for test kernels written for QEMU.
 */
#include "vmx/dev/pc.h"

#include "vmx/dev/bus.h"

struct fwcfg {
	uint16_t selector;
	uint32_t offset;
};

enum { FW_CFG_SIGNATURE = 0x00, FW_CFG_ID = 0x01, FW_CFG_RAM_SIZE = 0x03, FW_CFG_NB_CPUS = 0x05,
       FW_CFG_MAX_CPUS = 0x0f };

static uint8_t fwcfg_byte(const struct vm *vm, struct fwcfg *f)
{
	uint64_t item = 0;
	unsigned size = 0;
	switch (f->selector) {
	case FW_CFG_SIGNATURE: item = 0x554d4551; size = 4; break; /* "QEMU" */
	case FW_CFG_ID: item = 1; size = 4; break;		   /* traditional interface */
	case FW_CFG_RAM_SIZE: item = vm->cfg.mem; size = 8; break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS: item = vm->nvcpus; size = 2; break;
	}
	uint32_t off = f->offset++;
	return off < size ? (uint8_t)(item >> (8 * off)) : 0;
}

static void fwcfg_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	struct fwcfg *f = dev;

	(void)size;
	if (port == 0x510) {
		if (in) {
			*val = f->selector;
		} else {
			f->selector = (uint16_t)*val;
			f->offset = 0;
		}
	} else if (in) {
		*val = fwcfg_byte(v->vm, f);
	}
}

bool fwcfg_attach(struct vm *vm)
{
	struct fwcfg *f = bus_state(vm, sizeof(*f));
	return f && bus_add_ports(vm, 0x510, 2, fwcfg_port, f, NULL);
}
