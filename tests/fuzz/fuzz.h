/*
 * libFuzzer harnesses for the parsers of untrusted bytes (issue 6). Each
 * fuzz_*.c defines LLVMFuzzerTestOneInput over the same sources the unit
 * tests build for the host (-DHV_HOST_TEST), with ASan and UBSan.
 * make fuzz runs each for FUZZ_SECONDS; make test runs each briefly over
 * its committed seed corpus (tests/fuzz/corpus/NAME).
 */
#ifndef TESTS_FUZZ_H
#define TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* DATA as a NUL-terminated string (the caller frees it). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

#endif
