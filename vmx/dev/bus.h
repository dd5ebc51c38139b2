/*
 * A VM's bus, as KVM's io buses: each device model registers the ports,
 * memory-mapped registers and MSRs it owns, with its state, when the VM
 * is created (vmx/create.c), and the exit handlers find it here: port IO
 * through the byte-per-port map (port_access), memory through the MMIO
 * regions (vmx/exit/mmio.c decodes the instruction), MSRs through the
 * ranges (vmx/exit/msr.c). A port no device registered reads all ones
 * and drops writes; it is counted and listed when the VM ends.
 */
#ifndef VMX_DEV_BUS_H
#define VMX_DEV_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* The map and the state page; false when out of memory. bus_destroy
 * gives them back. */
bool bus_init(struct vm *vm);
void bus_destroy(struct vm *vm);

/* SIZE bytes of zeroed state for a device of VM, for its life; NULL when
 * the page is full. */
void *bus_state(struct vm *vm, size_t size);

/* Give ports [FIRST, FIRST+COUNT) to FN with DEV (FINISH, if not NULL,
 * when the VM ends; one device however many ranges it has); their
 * accesses exit (the I/O bitmap's bits). False when the bus is full. */
bool bus_add_ports(struct vm *vm, uint16_t first, unsigned count, port_fn *fn, void *dev,
		   void (*finish)(struct vm *vm, void *dev));

/* The same without making them exit: for a model that takes whatever
 * access exits, wherever it starts (the passthrough VM's, whose I/O
 * bitmap traps some bytes, which a wider access at the port before
 * touches too). */
bool bus_route_ports(struct vm *vm, uint16_t first, unsigned count, port_fn *fn, void *dev);

/* Guest-physical [BASE, BASE+LEN) to FN: every access, or with
 * WRITES_ONLY the writes (the caller keeps it read-only in EPT). */
bool bus_add_mmio(struct vm *vm, uint64_t base, uint64_t len, bool writes_only, mmio_fn *fn, void *dev);

/* MSRs FIRST to LAST to READ and WRITE (either may be NULL). */
bool bus_add_msrs(struct vm *vm, uint32_t first, uint32_t last, msr_read_fn *read, msr_write_fn *write, void *dev);

/* The region that takes an access at GPA (a write if WRITE), or NULL. */
const struct mmio_region *bus_find_mmio(const struct vm *vm, uint64_t gpa, bool write);

/* The range holding MSR, or NULL. */
const struct msr_range *bus_find_msr(const struct vm *vm, uint32_t msr);

/* The model of PORT. */
static inline const struct port_device *bus_port(const struct vm *vm, uint16_t port)
{
	const struct bus *b = &vm->bus;
	return &b->ports[b->port_map[port]];
}

/* One port access of SIZE bytes by the guest to D, PORT's model: OUT of
 * *VAL, or IN into *VAL. A string instruction finds D once per batch. */
static inline __attribute__((always_inline)) void port_call(struct vcpu *v, const struct port_device *d, uint16_t port,
								unsigned size, bool in, uint32_t *val)
{
	/* By table, one load where the shift takes four instructions; SIZE
	 * comes from 3 bits of the exit qualification (1 + 0..7). */
	static const uint32_t masks[9] = { 0, 0xff, 0xffff, 0xffffff, ~0u, ~0u, ~0u, ~0u, ~0u };
	uint32_t mask = masks[size];

	if (!in)
		*val &= mask; /* an OUT of AL or AX carries only that much */
	d->fn(v, d->dev, port, size, in, val);
	if (in)
		*val &= mask;
}

/* The same, the model found from PORT. Inline: it is most of an IN or
 * OUT exit. */
static inline void port_access(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	port_call(v, bus_port(v->vm, port), port, size, in, val);
}

/* The VM has ended: each device's finish, then the ports that nothing
 * handled, in one line. */
void bus_finish(struct vm *vm);

#endif
