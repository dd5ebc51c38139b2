/*
 * The physical frame allocator: a bitmap over the span of usable RAM,
 * one bit per 4 KiB frame (1 = free). Allocations are runs of frames
 * with a power-of-two alignment, so the same pool serves page tables
 * (1 frame), VMX regions, and guest RAM in 2 MiB or 1 GiB pieces.
 *
 * Pure logic: the bitmap's memory is the caller's, so the pool is unit
 * tested on the host.
 */
#ifndef MM_FRAME_H
#define MM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/memmap.h"

struct frame_pool {
	uint64_t base;	  /* physical address of the frame of bit 0 */
	uint64_t nframes; /* bits in the bitmap */
	uint64_t *bits;
	/* statistics, in frames */
	uint64_t total, free, min_free;
	uint64_t allocs, frees, failures;
	volatile int lock; /* CPUs allocate for their VMs at the same time */
};

/* Bytes of bitmap needed to cover RANGES (sorted, as memmap_usable gives). */
size_t frame_bitmap_bytes(const struct mem_range *ranges, size_t n);

/* Make every page of RANGES free, using BITMAP (frame_bitmap_bytes long).
 * The page at physical 0 is never handed out: 0 means "no frame". */
void frame_pool_init(struct frame_pool *p, const struct mem_range *ranges, size_t n, uint64_t *bitmap);

/* Take [base, end) out of the pool (e.g. the bitmap's own memory). */
void frame_reserve(struct frame_pool *p, uint64_t base, uint64_t end);

/* COUNT contiguous frames aligned to ALIGN bytes (a power of two, at least
 * 4 KiB); returns the physical address, or 0 when no such run is free. */
uint64_t frame_alloc(struct frame_pool *p, uint64_t count, uint64_t align);

/* Is the frame at ADDR (inside the pool's span) free? */
bool frame_is_free(const struct frame_pool *p, uint64_t addr);

/* Return COUNT frames at ADDR. Freeing a frame that is already free, or one
 * outside the pool's span, is a caller bug: it returns false and changes
 * nothing. */
bool frame_free(struct frame_pool *p, uint64_t addr, uint64_t count);

#endif
