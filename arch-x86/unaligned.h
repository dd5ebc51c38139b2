/* Little-endian values at any alignment, for parsing untrusted bytes (boot
 * information, ACPI tables, kernel images) without alignment traps or
 * strict-aliasing surprises. */
#ifndef ARCH_X86_UNALIGNED_H
#define ARCH_X86_UNALIGNED_H

#include <stdint.h>

#include "arch-x86/string.h"

static inline uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

#endif
