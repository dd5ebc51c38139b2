/*
 * The one page-table walker: 4-level x86-64 tables, used for the host's
 * own paging and for EPT, which share the shape (512 8-byte entries a
 * level, a page-size bit 7 for 2 MiB and 1 GiB leaves) and differ only in
 * which bits mean "present" and what a table entry carries
 * (SDM vol. 3A, 5.5 "4-level paging"; vol. 3C, 29.3.2 "EPT translation").
 *
 *   63            48 47     39 38     30 29     21 20     12 11         0
 *  +----------------+---------+---------+---------+---------+------------+
 *  |  sign / zero   |  PML4   |  PDPT   |   PD    |   PT    |   offset   |
 *  +----------------+---------+---------+---------+---------+------------+
 *                    level 4   level 3   level 2   level 1
 *
 * Entries are plain uint64_t with mask helpers, not bitfields. Tables come
 * from, and return to, the caller through callbacks, so the walker runs
 * on the host in unit tests with a fake frame pool; they are read and
 * written at their physical address (the hypervisor's memory is mapped
 * 1:1).
 */
#ifndef MM_PAGETABLE_H
#define MM_PAGETABLE_H

#include <stdbool.h>
#include <stdint.h>

#define PT_ENTRIES 512
#define PT_LARGE (1ull << 7)			 /* PS in PDE/PDPTE; bit 7 in EPT too */
#define PT_ADDR_MASK 0x000ffffffffff000ull	 /* bits 51:12 */

/* Bytes mapped by one entry at LEVEL (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB). */
static inline uint64_t pt_level_size(unsigned level)
{
	return 1ull << (12 + 9 * (level - 1));
}

static inline unsigned pt_index(uint64_t addr, unsigned level)
{
	return (addr >> (12 + 9 * (level - 1))) & 511;
}

struct pt_format {
	const char *name;
	uint64_t present;     /* an entry with any of these bits is present */
	uint64_t table_flags; /* flags of an entry that points to a table */
};

struct pt {
	const struct pt_format *fmt;
	uint64_t root;	     /* physical address of the level-4 table */
	unsigned max_leaf;   /* largest leaf level allowed (1, 2 or 3) */
	uint64_t (*alloc)(void *ctx);	       /* a zeroed 4 KiB table, or 0 */
	void (*release)(void *ctx, uint64_t pa);
	void *ctx;
	uint64_t tables;     /* tables allocated, root included */
};

/* Allocate the root table. False if out of memory. */
bool pt_init(struct pt *pt);

/*
 * The entry that maps ADDR at LEVEL. With CREATE, missing tables on the way
 * are allocated, and a large leaf on the way is split into a table of
 * smaller leaves with the same flags. NULL if absent (without CREATE), or
 * if a table could not be allocated.
 */
uint64_t *pt_walk(struct pt *pt, uint64_t addr, unsigned level, bool create);

/*
 * Map [va, va+size) to [pa, pa+size) with LEAF flags (PT_LARGE is added
 * for large leaves), each piece with the largest page that alignment, the
 * remaining size and max_leaf allow. All three must be 4 KiB-aligned.
 * False if out of memory (what was mapped stays mapped).
 */
bool pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t leaf);

/* Remove [va, va+size) (4 KiB-aligned): large leaves that cover it only
 * partly are split, tables left empty are not reclaimed. False if a split
 * ran out of memory. */
bool pt_unmap(struct pt *pt, uint64_t va, uint64_t size);

/* Translate VA: true and *PA (and the leaf's flags and level) if mapped. */
bool pt_translate(struct pt *pt, uint64_t va, uint64_t *pa, uint64_t *flags, unsigned *level);

/* Release every table (not the memory the leaves map). */
void pt_destroy(struct pt *pt);

#endif
