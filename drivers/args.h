/*
 * Words of a command line: "key=value key2 key3=v" separated by blanks.
 * Used for the hypervisor's options and for module arguments.
 */
#ifndef DRIVERS_ARGS_H
#define DRIVERS_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arg {
	const char *key;
	size_t key_len;
	const char *value; /* NULL when the word has no '=' */
	size_t value_len;
};

/* Next word at *P into A and advance *P past it; false at the end. */
bool args_next(const char **p, struct arg *a);

/* Does A's key equal the NUL-terminated NAME? */
bool arg_is(const struct arg *a, const char *name);

/* Does A's value equal the NUL-terminated TEXT? */
bool arg_value_is(const struct arg *a, const char *text);

/* Unsigned number in decimal or 0x-hex, the whole slice; false on junk
 * or overflow. */
bool parse_u64(const char *s, size_t len, uint64_t *out);

/* A size: a number with an optional K, M or G suffix (powers of 1024). */
bool parse_size(const char *s, size_t len, uint64_t *out);

#endif
