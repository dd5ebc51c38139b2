#include "mm/frame.h"

#include "arch-x86/spinlock.h"

#include "arch-x86/string.h"

static bool bit_free(const struct frame_pool *p, uint64_t i)
{
	return p->bits[i / 64] >> (i % 64) & 1;
}

static void set_bits(struct frame_pool *p, uint64_t first, uint64_t count, bool free)
{
	for (uint64_t i = first; i < first + count; i++) {
		if (i % 64 == 0 && first + count - i >= 64) { /* a whole word */
			p->bits[i / 64] = free ? ~0ull : 0;
			i += 63;
			continue;
		}
		if (free)
			p->bits[i / 64] |= 1ull << (i % 64);
		else
			p->bits[i / 64] &= ~(1ull << (i % 64));
	}
}

size_t frame_bitmap_bytes(const struct mem_range *ranges, size_t n)
{
	if (n == 0)
		return 8;
	uint64_t frames = (ranges[n - 1].end - ranges[0].base) >> PAGE_SHIFT;
	return (size_t)((frames + 63) / 64 * 8);
}

void frame_pool_init(struct frame_pool *p, const struct mem_range *ranges, size_t n, uint64_t *bitmap)
{
	memset(p, 0, sizeof(*p));
	p->bits = bitmap;
	if (n == 0) {
		bitmap[0] = 0;
		return;
	}
	p->base = ranges[0].base;
	p->nframes = (ranges[n - 1].end - p->base) >> PAGE_SHIFT;
	memset(bitmap, 0, (p->nframes + 63) / 64 * 8);
	for (size_t i = 0; i < n; i++) {
		uint64_t first = (ranges[i].base - p->base) >> PAGE_SHIFT;
		uint64_t count = (ranges[i].end - ranges[i].base) >> PAGE_SHIFT;
		set_bits(p, first, count, true);
		p->total += count;
	}
	p->free = p->total;
	if (p->base == 0 && p->nframes && bit_free(p, 0)) {
		set_bits(p, 0, 1, false);
		p->total--;
		p->free--;
	}
	p->min_free = p->free;
}

bool frame_is_free(const struct frame_pool *p, uint64_t addr)
{
	if (addr < p->base || (addr - p->base) >> PAGE_SHIFT >= p->nframes)
		return false; /* not the pool's */
	return bit_free(p, (addr - p->base) >> PAGE_SHIFT);
}

static void frame_reserve_unlocked(struct frame_pool *p, uint64_t base, uint64_t end)
{
	base = align_down(base, PAGE_SIZE);
	end = align_up(end, PAGE_SIZE);
	for (uint64_t a = base; a < end; a += PAGE_SIZE) {
		if (a < p->base || a - p->base >= p->nframes << PAGE_SHIFT)
			continue;
		uint64_t i = (a - p->base) >> PAGE_SHIFT;
		if (bit_free(p, i)) {
			set_bits(p, i, 1, false);
			p->total--;
			p->free--;
		}
	}
	if (p->min_free > p->free)
		p->min_free = p->free;
}

/* Index of the first frame at or after I whose address is ALIGN-aligned. */
static uint64_t next_aligned(const struct frame_pool *p, uint64_t i, uint64_t align)
{
	uint64_t addr = align_up(p->base + (i << PAGE_SHIFT), align);
	return (addr - p->base) >> PAGE_SHIFT;
}

static uint64_t frame_alloc_unlocked(struct frame_pool *p, uint64_t count, uint64_t align)
{
	if (count == 0 || count > p->free || align < PAGE_SIZE || (align & (align - 1))) {
		p->failures++;
		return 0;
	}
	uint64_t i = next_aligned(p, 0, align);
	while (i + count <= p->nframes && i + count > i) {
		/* Skip whole used words quickly when looking for single frames. */
		if (!bit_free(p, i)) {
			uint64_t w = i / 64;
			if (p->bits[w] == 0)
				i = next_aligned(p, (w + 1) * 64, align);
			else
				i = next_aligned(p, i + 1, align);
			continue;
		}
		uint64_t j = i + 1;
		while (j < i + count && bit_free(p, j))
			j++;
		if (j == i + count) {
			set_bits(p, i, count, false);
			p->free -= count;
			if (p->free < p->min_free)
				p->min_free = p->free;
			p->allocs++;
			return p->base + (i << PAGE_SHIFT);
		}
		i = next_aligned(p, j + 1, align); /* frame j is used */
	}
	p->failures++;
	return 0;
}

static bool frame_free_unlocked(struct frame_pool *p, uint64_t addr, uint64_t count)
{
	if (addr % PAGE_SIZE || addr < p->base || count == 0)
		return false;
	uint64_t first = (addr - p->base) >> PAGE_SHIFT;
	if (first + count > p->nframes || first + count < first)
		return false;
	for (uint64_t i = first; i < first + count; i++)
		if (bit_free(p, i))
			return false;
	set_bits(p, first, count, true);
	p->free += count;
	p->frees++;
	return true;
}

/* One allocator for all CPUs: each public call under the pool's lock. */
void frame_reserve(struct frame_pool *p, uint64_t base, uint64_t end)
{
	spin_lock(&p->lock);
	frame_reserve_unlocked(p, base, end);
	spin_unlock(&p->lock);
}

uint64_t frame_alloc(struct frame_pool *p, uint64_t count, uint64_t align)
{
	spin_lock(&p->lock);
	uint64_t r = frame_alloc_unlocked(p, count, align);
	spin_unlock(&p->lock);
	return r;
}

bool frame_free(struct frame_pool *p, uint64_t addr, uint64_t count)
{
	spin_lock(&p->lock);
	bool r = frame_free_unlocked(p, addr, count);
	spin_unlock(&p->lock);
	return r;
}
