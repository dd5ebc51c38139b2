#include "vmx/dev/bus.h"

#include "arch-x86/string.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/frame.h"
#include "mm/memmap.h"
#include "mm/phys.h"

#define PORT_MAP_PAGES (0x10000 / PAGE_SIZE)

/* Index 0 of every bus: a port no device registered. */
static void no_device(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	struct bus *b = &v->vm->bus;
	(void)dev, (void)size;
	if (in)
		*val = ~0u;
	for (unsigned i = 0; i < b->nunhandled; i++) {
		if (b->unhandled[i].port == port) {
			in ? b->unhandled[i].reads++ : b->unhandled[i].writes++;
			return;
		}
	}
	if (b->nunhandled == VM_MAX_PORTS_LISTED) {
		b->unhandled_dropped++;
		return;
	}
	b->unhandled[b->nunhandled++] = (struct port_count){ port, in ? 1u : 0u, in ? 0u : 1u };
}

bool bus_init(struct vm *vm)
{
	struct bus *b = &vm->bus;
	uint64_t map = frame_alloc(&hv_frames, PORT_MAP_PAGES, PAGE_SIZE);
	uint64_t state = phys_alloc_page();

	if (!map || !state) {
		if (map)
			phys_free(map, PORT_MAP_PAGES);
		if (state)
			phys_free(state, 1);
		return false;
	}
	b->port_map = phys_to_virt(map);
	memset(b->port_map, 0, 0x10000);
	b->state = phys_to_virt(state);
	b->ports[0] = (struct port_device){ no_device, NULL };
	b->nports = 1;
	return true;
}

void bus_destroy(struct vm *vm)
{
	struct bus *b = &vm->bus;
	if (b->port_map)
		phys_free((uintptr_t)b->port_map, PORT_MAP_PAGES); /* identity-mapped (mm/phys.h) */
	if (b->state)
		phys_free((uintptr_t)b->state, 1);
	b->port_map = NULL;
	b->state = NULL;
}

void *bus_state(struct vm *vm, size_t size)
{
	struct bus *b = &vm->bus;
	size_t at = align_up(b->state_used, 16);
	if (size > PAGE_SIZE || at > PAGE_SIZE - size)
		return NULL;
	b->state_used = (unsigned)(at + size);
	return b->state + at; /* zeroed with the page */
}

/* Make PORT exit (SDM vol. 3C, 25.6.4: bitmap A 0-0x7fff, B the rest). */
static void trap_port(struct vm *vm, uint16_t port)
{
	uint8_t *bitmap = phys_to_virt(port < 0x8000 ? vm->io_bitmap_a : vm->io_bitmap_b);
	port &= 0x7fff;
	bitmap[port / 8] |= (uint8_t)(1u << (port % 8));
}

static bool add_ports(struct vm *vm, uint16_t first, unsigned count, port_fn *fn, void *dev,
		      void (*finish)(struct vm *vm, void *dev), bool trap)
{
	struct bus *b = &vm->bus;
	unsigned k = 1;
	while (k < b->nports && !(b->ports[k].fn == fn && b->ports[k].dev == dev && b->finish[k] == finish))
		k++; /* a model with several ranges is one device */
	if (k == BUS_PORT_DEVICES || first + count > 0x10000)
		return false;
	if (k == b->nports) {
		b->ports[k] = (struct port_device){ fn, dev };
		b->finish[b->nports++] = finish;
	}
	for (unsigned p = first; p < first + count; p++) {
		b->port_map[p] = (uint8_t)k;
		if (trap)
			trap_port(vm, (uint16_t)p);
	}
	return true;
}

bool bus_add_ports(struct vm *vm, uint16_t first, unsigned count, port_fn *fn, void *dev,
		   void (*finish)(struct vm *vm, void *dev))
{
	return add_ports(vm, first, count, fn, dev, finish, true);
}

bool bus_route_ports(struct vm *vm, uint16_t first, unsigned count, port_fn *fn, void *dev)
{
	return add_ports(vm, first, count, fn, dev, NULL, false);
}

bool bus_add_mmio(struct vm *vm, uint64_t base, uint64_t len, bool writes_only, mmio_fn *fn, void *dev)
{
	struct bus *b = &vm->bus;
	if (b->nmmio == BUS_MMIO_REGIONS)
		return false;
	b->mmio[b->nmmio++] = (struct mmio_region){ base, len, writes_only, fn, dev };
	return true;
}

bool bus_add_msrs(struct vm *vm, uint32_t first, uint32_t last, msr_read_fn *read, msr_write_fn *write, void *dev)
{
	struct bus *b = &vm->bus;
	if (b->nmsrs == BUS_MSR_RANGES)
		return false;
	b->msrs[b->nmsrs++] = (struct msr_range){ first, last, read, write, dev };
	return true;
}

const struct mmio_region *bus_find_mmio(const struct vm *vm, uint64_t gpa, bool write)
{
	const struct bus *b = &vm->bus;
	for (unsigned i = 0; i < b->nmmio; i++) {
		const struct mmio_region *r = &b->mmio[i];
		if (gpa >= r->base && gpa - r->base < r->len && (write || !r->writes_only))
			return r;
	}
	return NULL;
}

const struct msr_range *bus_find_msr(const struct vm *vm, uint32_t msr)
{
	const struct bus *b = &vm->bus;
	for (unsigned i = 0; i < b->nmsrs; i++)
		if (msr >= b->msrs[i].first && msr <= b->msrs[i].last)
			return &b->msrs[i];
	return NULL;
}

void bus_finish(struct vm *vm)
{
	struct bus *b = &vm->bus;
	char line[300] = "";
	int n = 0;

	for (unsigned i = 1; i < b->nports; i++)
		if (b->finish[i])
			b->finish[i](vm, b->ports[i].dev);
	if (!b->nunhandled)
		return;
	unsigned i;
	for (i = 0; i < b->nunhandled; i++) {
		char one[40];
		int l = fmt_snprintf(one, sizeof(one), " %#x(in %u, out %u)", b->unhandled[i].port, b->unhandled[i].reads,
				     b->unhandled[i].writes);
		if (n + l >= (int)sizeof(line))
			break; /* whole entries only */
		memcpy(line + n, one, (size_t)l + 1);
		n += l;
	}
	log_warn("VM %s: ports with no device:%s%s", vm->cfg.name, line,
		 b->unhandled_dropped || i < b->nunhandled ? " and more" : "");
}
