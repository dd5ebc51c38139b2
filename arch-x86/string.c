/* memset/memcpy/... for the image: REP STOSB/MOVSB are short and, with
 * ERMSB on modern CPUs, fast for the page-sized blocks the hypervisor
 * clears and copies. Blocks of whole quadwords go by STOSQ/MOVSQ: as fast
 * on hardware, and an eighth of the iterations for an emulator that
 * counts each one (Bochs: clearing a guest's RAM at VM creation). */
#include "arch-x86/string.h"

#include <stdint.h>

void *memset(void *d, int c, size_t n)
{
	void *ret = d;
	if (((uintptr_t)d | n) % 8 == 0) {
		size_t q = n / 8;
		uint64_t v = (uint8_t)c * 0x0101010101010101ull;
		__asm__ volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
	} else {
		__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	}
	return ret;
}

void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	void *ret = d;
	if (((uintptr_t)d | (uintptr_t)s | n) % 8 == 0) {
		size_t q = n / 8;
		__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
	} else {
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	}
	return ret;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n; i++)
		if (p[i] == (unsigned char)c)
			return (void *)(p + i);
	return NULL;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i] || !a[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, SIZE_MAX);
}
