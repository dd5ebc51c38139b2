#include "mm/memmap.h"

#include <stdbool.h>

/* Insert [base, end) into the sorted, disjoint, non-adjacent list OUT[0..*n),
 * merging with neighbours. False if it would need more than MAX entries. */
static bool insert_merged(struct mem_range *out, size_t *n, size_t max, uint64_t base, uint64_t end)
{
	size_t i = 0;

	while (i < *n && out[i].end < base)
		i++;
	/* out[i] is the first range that ends at or after base: merge every
	 * range that touches [base, end). */
	size_t j = i;
	while (j < *n && out[j].base <= end) {
		if (out[j].base < base)
			base = out[j].base;
		if (out[j].end > end)
			end = out[j].end;
		j++;
	}
	if (j == i) { /* no overlap: open a slot at i */
		if (*n == max)
			return false;
		for (size_t k = *n; k > i; k--)
			out[k] = out[k - 1];
		(*n)++;
	} else if (j > i + 1) { /* several merged into one: close the gap */
		size_t gone = j - i - 1;
		for (size_t k = i + 1; k + gone < *n; k++)
			out[k] = out[k + gone];
		*n -= gone;
	}
	out[i] = (struct mem_range){ base, end };
	return true;
}

/* Remove [base, end) from the sorted list. A range split in two needs one
 * more slot; without it the upper piece is dropped. */
static void subtract(struct mem_range *out, size_t *n, size_t max, uint64_t base, uint64_t end)
{
	for (size_t i = 0; i < *n; i++) {
		struct mem_range r = out[i];
		if (r.end <= base || r.base >= end)
			continue;
		if (r.base < base && r.end > end) { /* hole in the middle */
			out[i].end = base;
			if (*n < max) {
				for (size_t k = *n; k > i + 1; k--)
					out[k] = out[k - 1];
				out[i + 1] = (struct mem_range){ end, r.end };
				(*n)++;
			}
			return;
		}
		if (r.base < base) {
			out[i].end = base;
		} else if (r.end > end) {
			out[i].base = end;
		} else { /* fully covered: delete */
			for (size_t k = i; k + 1 < *n; k++)
				out[k] = out[k + 1];
			(*n)--;
			i--;
		}
	}
}

size_t memmap_usable(const struct mem_range *usable, size_t n, const struct mem_range *reserved, size_t m,
		     struct mem_range *out, size_t max)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		if (usable[i].end <= usable[i].base)
			continue;
		/* Usable RAM shrinks inward to whole pages. */
		uint64_t base = align_up(usable[i].base, PAGE_SIZE);
		uint64_t end = align_down(usable[i].end, PAGE_SIZE);
		if (base < usable[i].base) /* wrapped at the top of the address space */
			continue;
		if (end > base)
			insert_merged(out, &count, max, base, end);
	}
	for (size_t i = 0; i < m; i++) {
		if (reserved[i].end <= reserved[i].base)
			continue;
		/* Reserved ranges grow outward: a page shared with one is lost. */
		uint64_t base = align_down(reserved[i].base, PAGE_SIZE);
		uint64_t end = align_up(reserved[i].end, PAGE_SIZE);
		if (end < reserved[i].end)
			end = UINT64_MAX & ~(PAGE_SIZE - 1);
		subtract(out, &count, max, base, end);
	}
	return count;
}

uint64_t memmap_total(const struct mem_range *r, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += r[i].end - r[i].base;
	return sum;
}
