/* Physical address ranges and the arithmetic that turns a firmware memory
 * map into the RAM the hypervisor may allocate. */
#ifndef MM_MEMMAP_H
#define MM_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096ull
#define PAGE_SHIFT 12
#define MiB (1ull << 20)
#define GiB (1ull << 30)

struct mem_range {
	uint64_t base, end; /* [base, end) */
};

/* Memory types of the BIOS e820 map, which multiboot's memory map, Linux's
 * boot parameters and the hypervisor's own maps share (ACPI 6.4, 15.1). */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4

/* One entry of such a map, as Linux's boot_params.e820_table has it. */
struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/* A range of the firmware's memory map with its type (E820_*). */
struct mem_typed {
	uint64_t base, end;
	uint32_t type;
};

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static inline uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

/*
 * USABLE (any order, may overlap, may be empty or unaligned) minus RESERVED
 * (same), shrunk to whole pages, sorted and merged, into OUT. Returns how
 * many ranges were written (at most MAX). When the result needs more than
 * MAX ranges, the ranges that do not fit are dropped: less RAM, never
 * RAM that is not.
 */
size_t memmap_usable(const struct mem_range *usable, size_t n, const struct mem_range *reserved, size_t m,
		     struct mem_range *out, size_t max);

/* Sum of the lengths of N ranges. */
uint64_t memmap_total(const struct mem_range *r, size_t n);

#endif
