/* The machine's physical memory as the hypervisor owns it: the frame pool
 * over usable RAM, and what was kept out of it. */
#ifndef MM_PHYS_H
#define MM_PHYS_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/mbi.h"
#include "mm/frame.h"

#define PHYS_MAX_RANGES 128

struct phys_info {
	struct mem_range usable[PHYS_MAX_RANGES]; /* what the pool was built over */
	size_t nusable;
	uint64_t firmware_usable; /* RAM the memory map calls usable */
	uint64_t top;		  /* end of the highest RAM or ACPI range in the map */
	uint64_t image_base, image_end;
	uint64_t bitmap_base, bitmap_bytes;
	const char *source; /* "multiboot2 memory map" or "EFI memory map" */
};

extern struct frame_pool hv_frames;
extern struct phys_info hv_phys;

/* Build the frame pool from the boot information. False (after logging
 * why) when there is no usable memory for even the bitmap. */
bool phys_init(const struct mbi *m);

/* One zeroed 4 KiB frame from the pool, or 0. */
uint64_t phys_alloc_page(void);

/* Give COUNT frames at PA back to the pool, cleared. Every frame the
 * hypervisor frees goes this way, never straight to frame_free. */
void phys_free(uint64_t pa, uint64_t count);

/* Physical address to pointer: all RAM is identity-mapped. */
static inline void *phys_to_virt(uint64_t pa) { return (void *)(uintptr_t)pa; }

/* Page-table callbacks (mm/pagetable.h) over the frame pool, shared by
 * the host's tables and every EPT. */
uint64_t pt_pool_alloc(void *ctx);
void pt_pool_release(void *ctx, uint64_t pa);

#endif
