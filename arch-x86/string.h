/* The memory and string primitives the freestanding image provides (gcc
 * may emit calls to memcpy/memset/memmove/memcmp itself). */
#ifndef ARCH_X86_STRING_H
#define ARCH_X86_STRING_H

#include <stddef.h>

#ifdef HV_HOST_TEST
#include <string.h>
#else
void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
#endif

#endif
