/*
 * The multiboot2 boot information (multiboot2 spec, 3.6), parsed
 * defensively: every size and offset is checked against the block's own
 * total_size before it is used, so a malformed block yields an error and
 * whatever was valid before the fault, never an out-of-bounds read.
 */
#ifndef BOOT_MBI_H
#define BOOT_MBI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/memmap.h"

#define MBI_MAX_MODULES 64
#define MBI_MAX_SIZE (16u << 20) /* larger is taken as corruption */

enum mbi_tag_type {
	MBI_TAG_END = 0,
	MBI_TAG_CMDLINE = 1,
	MBI_TAG_LOADER_NAME = 2,
	MBI_TAG_MODULE = 3,
	MBI_TAG_MMAP = 6,
	MBI_TAG_ACPI_OLD = 14,
	MBI_TAG_ACPI_NEW = 15,
	MBI_TAG_EFI_MMAP = 17,
};

enum mbi_status {
	MBI_OK,
	MBI_BAD_HEADER,	   /* total_size too small, too large or not a multiple of 8 */
	MBI_TRUNCATED,	   /* a tag runs past total_size, or no end tag */
};

struct mbi_module {
	uint64_t start, end; /* [start, end) physical */
	const char *cmdline; /* NUL-terminated inside the tag */
};

/* Memory map entry types (multiboot2 spec, 3.6.8). */
enum mbi_mmap_type {
	MBI_MEM_AVAILABLE = 1,
	MBI_MEM_RESERVED = 2,
	MBI_MEM_ACPI_RECLAIMABLE = 3,
	MBI_MEM_NVS = 4,
	MBI_MEM_BADRAM = 5,
};

struct mbi {
	uint64_t addr, size; /* the block itself, to keep it out of the allocator */
	const char *cmdline, *loader_name;
	struct mbi_module mods[MBI_MAX_MODULES];
	unsigned nmods, mods_dropped;

	const uint8_t *mmap; /* entries of the memory map tag */
	uint32_t mmap_entry_size, mmap_count;
	const uint8_t *efi_mmap; /* EFI memory descriptors */
	uint32_t efi_desc_size, efi_count;
	const void *rsdp; /* copy of the ACPI RSDP inside the tag */
	uint32_t rsdp_len;

	unsigned tags, unknown_tags, bad_tags;
};

/* Parse the block at BLOCK, which sits at physical address ADDR. */
enum mbi_status mbi_parse(const void *block, uint64_t addr, struct mbi *out);
const char *mbi_status_text(enum mbi_status s);

/*
 * The machine's RAM as ranges, from the memory map tag, else the EFI memory
 * map tag. Fills at most MAX usable ranges into OUT and returns how many
 * there were (which may exceed MAX); *TOP gets the end of the highest
 * range of RAM or firmware tables (not reserved holes or MMIO), which the
 * host page tables must cover.
 */
size_t mbi_usable_ranges(const struct mbi *m, struct mem_range *out, size_t max, uint64_t *top);

/* A typed range of the firmware's memory map, in e820 terms (1 RAM, 2
 * reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 unusable). */

/* The whole firmware map (memory map tag, else EFI map converted), sorted
 * by base; at most MAX entries (returns how many were written). */
size_t mbi_typed_map(const struct mbi *m, struct mem_typed *out, size_t max);

#endif
