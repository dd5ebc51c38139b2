#include "vmx/core/memory.h"

#include "arch-x86/string.h"
#include "mm/frame.h"

#include "arch-x86/cpu.h"
#include "drivers/console.h"
#include "mm/phys.h"
#include "vmx/hw/vmx.h"

const struct mem_slot *slot_find(const struct vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->nslots; i++)
		if (gpa >= vm->slots[i].gpa && gpa - vm->slots[i].gpa < vm->slots[i].size)
			return &vm->slots[i];
	return NULL;
}

void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	const struct mem_slot *s = slot_find(vm, gpa);
	if (!s || len > s->size - (gpa - s->gpa))
		return NULL;
	return phys_to_virt(s->hpa + (gpa - s->gpa));
}

bool guest_phys_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	const uint8_t *s = src;

	while (len) {
		const struct mem_slot *slot = slot_find(vm, gpa);
		if (!slot)
			return false;
		uint64_t n = slot->size - (gpa - slot->gpa);
		if (n > len)
			n = len;
		memcpy(gpa_to_hva(vm, gpa, n), s, n);
		s += n;
		gpa += n;
		len -= n;
	}
	return true;
}

/* The guest's e820: a passthrough VM's map, else its RAM slots (with the
 * legacy hole 0xa0000-0xfffff left out, as a PC's map has it). */
unsigned vm_memory_map(const struct vm *vm, struct e820_entry *e, unsigned max)
{
	unsigned n = 0;
	if (vm->cfg.passthrough) {
		for (unsigned i = 0; i < vm->ne820 && n < max; i++)
			e[n++] = vm->e820[i];
		return n;
	}
	for (unsigned i = 0; i < vm->nslots && n + 2 <= max; i++) {
		uint64_t b = vm->slots[i].gpa, end = b + vm->slots[i].size;
		if (b < 0xa0000)
			e[n++] = (struct e820_entry){ b, (end < 0xa0000 ? end : 0xa0000) - b, E820_RAM };
		if (end > 0x100000) {
			uint64_t lo = b > 0x100000 ? b : 0x100000;
			if (n && e[n - 1].type == E820_RAM && e[n - 1].addr + e[n - 1].size == lo)
				e[n - 1].size += end - lo;
			else
				e[n++] = (struct e820_entry){ lo, end - lo, E820_RAM };
		}
	}
	return n;
}

/* Host frames for up to *CHUNK bytes aligned to ALIGN: the whole chunk if
 * it is free, else halves of it, down to ALIGN. *CHUNK gets what was had. */
static uint64_t alloc_chunk(uint64_t *chunk, uint64_t align)
{
	for (uint64_t c = *chunk; c >= align; c = align_down(c / 2, align)) {
		uint64_t hpa = frame_alloc(&hv_frames, c / 4096, align);
		if (hpa) {
			*chunk = c;
			return hpa;
		}
		if (c == align)
			break;
	}
	return 0;
}

/* Back [gpa, gpa+size) with host frames in the largest aligned chunks the
 * allocator has (1 GiB, 2 MiB, 4 KiB), one slot each, so that EPT can use
 * large pages where both sides are aligned. */
bool vm_add_ram(struct vm *vm, uint64_t gpa, uint64_t size)
{
	while (size) {
		uint64_t hpa = 0, chunk = 0;
		for (uint64_t align = GiB; align >= 4096 && !hpa; align /= 512) {
			if (gpa % align || size < align)
				continue;
			chunk = align_down(size, align);
			hpa = alloc_chunk(&chunk, align);
		}
		if (!hpa)
			return false;
		if (vm->nslots == VM_MAX_SLOTS) {
			phys_free(hpa, chunk / 4096);
			return false;
		}
		memset(phys_to_virt(hpa), 0, chunk);
		vm->slots[vm->nslots++] = (struct mem_slot){ gpa, chunk, hpa };
		gpa += chunk;
		size -= chunk;
	}
	return true;
}

void vm_free_ram(struct vm *vm)
{
	for (unsigned i = 0; !vm->ram_borrowed && i < vm->nslots; i++)
		phys_free(vm->slots[i].hpa, vm->slots[i].size / 4096);
	vm->nslots = 0;
}

bool ept_create_with(struct vm *vm, uint64_t (*alloc)(void *), void (*release)(void *, uint64_t), void *ctx)
{
	vm->ept = (struct pt){
		.fmt = &ept_pt_format,
		.max_leaf = hv_vmx.ept_max_leaf,
		.alloc = alloc,
		.release = release,
		.ctx = ctx,
	};
	if (!pt_init(&vm->ept))
		return false;
	vm->eptp = eptp_of(vm->ept.root);
	return true;
}

/* loglevel=debug: the leaf entry that maps GPA, with its level. */
static void log_leaf(struct vm *vm, uint64_t gpa)
{
	for (unsigned level = 4; level >= 1; level--) {
		uint64_t *e = pt_walk(&vm->ept, gpa, level, false);
		if (!e)
			return;
		if (level == 1 || (*e & PT_LARGE)) {
			log_debug("VM %s: EPT leaf for guest-physical %#llx: %#018llx (level %u)", vm->cfg.name,
				  (unsigned long long)gpa, (unsigned long long)*e, level);
			return;
		}
	}
}

bool ept_create(struct vm *vm)
{
	uint64_t start = rdtsc();

	if (!ept_create_with(vm, pt_pool_alloc, pt_pool_release, NULL))
		return false;
	if (vm->cfg.ept == EPT_EAGER) {
		for (unsigned i = 0; i < vm->nslots; i++) {
			const struct mem_slot *s = &vm->slots[i];
			if (!pt_map(&vm->ept, s->gpa, s->hpa, s->size, EPT_LEAF_RAM))
				return false;
		}
	}
	if (vm->cfg.ept == EPT_EAGER && vm->nslots)
		log_leaf(vm, vm->slots[0].gpa);
	/* The root frame may have served an earlier VM: drop anything the CPU
	 * still caches for this EPTP before the first entry (29.4.3.1). */
	ept_invalidate(vm);
	vm->ept_build_ticks = rdtsc() - start;
	return true;
}

bool ept_fill(struct vm *vm, uint64_t gpa)
{
	const struct mem_slot *s = slot_find(vm, gpa);
	if (!s)
		return false;
	uint64_t page = gpa & ~0xfffull;
	/* One 4 KiB leaf: the walk straight to it, without pt_map's choice
	 * of page size. Not-present to present needs no INVEPT: the CPU does
	 * not cache entries that were not present (29.4.3.1). */
	uint64_t *e = pt_walk(&vm->ept, page, 1, true);
	if (!e)
		return false;
	*e = (s->hpa + (page - s->gpa)) | EPT_LEAF_RAM;
	vm->lazy_fills++;
	return true;
}

void ept_invalidate(struct vm *vm)
{
	ept_flush(vm->eptp);
}

void ept_destroy(struct vm *vm)
{
	if (!vm->ept.root)
		return;
	ept_invalidate(vm);
	pt_destroy(&vm->ept);
}
