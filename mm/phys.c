#include "mm/phys.h"

#include "arch-x86/string.h"
#include "drivers/console.h"

struct frame_pool hv_frames;
struct phys_info hv_phys;

extern char __image_start[], __image_end[];

#define LOW_MEMORY_END 0x100000ull /* first MiB: BIOS data, EBDA, option ROMs, AP trampolines */

bool phys_init(const struct mbi *m)
{
	struct phys_info *pi = &hv_phys;
	struct mem_range avail[PHYS_MAX_RANGES];
	struct mem_range resv[4 + MBI_MAX_MODULES];
	size_t nresv = 0;

	pi->source = m->mmap ? "multiboot2 memory map" : m->efi_mmap ? "EFI memory map" : "none";
	size_t navail = mbi_usable_ranges(m, avail, PHYS_MAX_RANGES, &pi->top);
	if (navail > PHYS_MAX_RANGES) {
		log_warn("memory map has %zu usable ranges; using the first %u", navail, PHYS_MAX_RANGES);
		navail = PHYS_MAX_RANGES;
	}
	pi->firmware_usable = memmap_total(avail, navail);

	pi->image_base = (uintptr_t)__image_start;
	pi->image_end = (uintptr_t)__image_end;
	resv[nresv++] = (struct mem_range){ 0, LOW_MEMORY_END };
	resv[nresv++] = (struct mem_range){ pi->image_base, pi->image_end };
	resv[nresv++] = (struct mem_range){ m->addr, m->addr + m->size };
	for (unsigned i = 0; i < m->nmods; i++)
		resv[nresv++] = (struct mem_range){ m->mods[i].start, m->mods[i].end };

	pi->nusable = memmap_usable(avail, navail, resv, nresv, pi->usable, PHYS_MAX_RANGES);

	/* The bitmap goes in the first usable range below 4 GiB that holds it:
	 * only the low 4 GiB are mapped until paging_init runs. */
	pi->bitmap_bytes = align_up(frame_bitmap_bytes(pi->usable, pi->nusable), PAGE_SIZE);
	pi->bitmap_base = 0;
	for (size_t i = 0; i < pi->nusable; i++) {
		struct mem_range r = pi->usable[i];
		if (r.end - r.base >= pi->bitmap_bytes && r.base + pi->bitmap_bytes <= (4ull << 30)) {
			pi->bitmap_base = r.base;
			break;
		}
	}
	if (!pi->nusable || !pi->bitmap_base) {
		log_err("no usable memory: the memory map (%s) leaves no free RAM above 1 MiB outside the image, "
			"boot information and modules",
			pi->source);
		return false;
	}
	frame_pool_init(&hv_frames, pi->usable, pi->nusable, phys_to_virt(pi->bitmap_base));
	frame_reserve(&hv_frames, pi->bitmap_base, pi->bitmap_base + pi->bitmap_bytes);
	return true;
}

uint64_t phys_alloc_page(void)
{
	uint64_t pa = frame_alloc(&hv_frames, 1, PAGE_SIZE);
	if (pa)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

/* Cleared before the pool has them back, so that no frame carries one
 * VM's data, or the hypervisor's, to the next holder: the machine's own
 * OS is given every free frame as it is (docs/security.md, finding 1).
 * Outside the pool's lock: clearing a guest's RAM takes a while. */
void phys_free(uint64_t pa, uint64_t count)
{
	if (!pa || !count)
		return;
	memset(phys_to_virt(pa), 0, count * PAGE_SIZE);
	if (!frame_free(&hv_frames, pa, count))
		log_err("hypervisor bug: freeing %llu frames at %#llx that are not allocated", (unsigned long long)count,
			(unsigned long long)pa);
}

uint64_t pt_pool_alloc(void *ctx)
{
	(void)ctx;
	return phys_alloc_page();
}

void pt_pool_release(void *ctx, uint64_t pa)
{
	(void)ctx;
	phys_free(pa, 1);
}

