#include "mm/pagetable.h"

#include <stddef.h>

/* Tables are reached at their physical address: the hypervisor maps its
 * memory 1:1 (mm/paging.c), and the unit tests' pool hands out host
 * pointers as addresses. */
static uint64_t *table(struct pt *pt, uint64_t pa)
{
	(void)pt;
	return (uint64_t *)(uintptr_t)(pa & PT_ADDR_MASK);
}

static bool present(const struct pt *pt, uint64_t e)
{
	return (e & pt->fmt->present) != 0;
}

static uint64_t new_table(struct pt *pt)
{
	uint64_t pa = pt->alloc(pt->ctx);
	if (pa)
		pt->tables++;
	return pa;
}

bool pt_init(struct pt *pt)
{
	pt->tables = 0;
	pt->root = new_table(pt);
	return pt->root != 0;
}

/* Replace the large leaf *E at LEVEL by a table of 512 leaves one level
 * down that map the same range with the same flags. */
static bool split(struct pt *pt, uint64_t *e, unsigned level)
{
	uint64_t pa = new_table(pt);
	if (!pa)
		return false;
	uint64_t *t = table(pt, pa);
	uint64_t flags = *e & ~PT_ADDR_MASK;
	uint64_t base = *e & PT_ADDR_MASK;
	if (level - 1 == 1)
		flags &= ~PT_LARGE; /* 4 KiB leaves have no page-size bit */
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		t[i] = (base + i * pt_level_size(level - 1)) | flags;
	*e = pa | pt->fmt->table_flags;
	return true;
}

uint64_t *pt_walk(struct pt *pt, uint64_t addr, unsigned level, bool create)
{
	uint64_t *t = table(pt, pt->root);

	for (unsigned l = 4; l > level; l--) {
		uint64_t *e = &t[pt_index(addr, l)];
		if (!present(pt, *e)) {
			if (!create)
				return NULL;
			uint64_t pa = new_table(pt);
			if (!pa)
				return NULL;
			*e = pa | pt->fmt->table_flags;
		} else if (*e & PT_LARGE) {
			if (!create)
				return NULL;
			if (!split(pt, e, l))
				return NULL;
		}
		t = table(pt, *e);
	}
	return &t[pt_index(addr, level)];
}

/* Release the table at PA, a table of LEVEL, and every table below it. */
static void release_tree(struct pt *pt, uint64_t pa, unsigned level)
{
	uint64_t *t = table(pt, pa);

	if (level > 1) {
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			if (present(pt, t[i]) && !(t[i] & PT_LARGE))
				release_tree(pt, t[i] & PT_ADDR_MASK, level - 1);
	}
	pt->release(pt->ctx, pa);
	pt->tables--;
}

/* The largest leaf level (up to max_leaf) that ADDR's alignment and the
 * remaining SIZE allow. */
static unsigned leaf_level(const struct pt *pt, uint64_t addr, uint64_t size)
{
	unsigned level = pt->max_leaf;
	while (level > 1 && (addr & (pt_level_size(level) - 1) || size < pt_level_size(level)))
		level--;
	return level;
}

/* Set the leaves for [va, va+size) to pa|LEAF, or clear them (UNMAP), with
 * the largest pages alignment allows; a table under a slot now covered by
 * one leaf (or nothing) is freed. One walk serves the rest of its table:
 * the page size can only grow where VA crosses into the next table, and
 * shrinks only when less than a page of it is left. */
static bool set_leaves(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t leaf, bool unmap)
{
	while (size) {
		unsigned level = leaf_level(pt, unmap ? va : va | pa, size);
		uint64_t step = pt_level_size(level);
		uint64_t *e = pt_walk(pt, va, level, true);
		if (!e)
			return false;
		do {
			if (level > 1 && present(pt, *e) && !(*e & PT_LARGE))
				release_tree(pt, *e & PT_ADDR_MASK, level - 1);
			*e++ = unmap ? 0 : pa | leaf | (level > 1 ? PT_LARGE : 0);
			va += step;
			pa += step;
			size -= step;
		} while (size >= step && pt_index(va, level) != 0);
	}
	return true;
}

bool pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t leaf)
{
	return set_leaves(pt, va, pa, size, leaf, false);
}

bool pt_unmap(struct pt *pt, uint64_t va, uint64_t size)
{
	return set_leaves(pt, va, 0, size, 0, true);
}

bool pt_translate(struct pt *pt, uint64_t va, uint64_t *pa, uint64_t *flags, unsigned *level)
{
	uint64_t *t = table(pt, pt->root);

	for (unsigned l = 4; l >= 1; l--) {
		uint64_t e = t[pt_index(va, l)];
		if (!present(pt, e))
			return false;
		if (l == 1 || (e & PT_LARGE)) {
			uint64_t off = va & (pt_level_size(l) - 1);
			*pa = ((e & PT_ADDR_MASK) & ~(pt_level_size(l) - 1)) + off;
			if (flags)
				*flags = e & ~PT_ADDR_MASK;
			if (level)
				*level = l;
			return true;
		}
		t = table(pt, e);
	}
	return false;
}

void pt_destroy(struct pt *pt)
{
	if (pt->root)
		release_tree(pt, pt->root, 4);
	pt->root = 0;
}
