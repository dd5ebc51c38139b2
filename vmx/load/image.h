/*
 * Guest image formats, detected from the file: multiboot1 kernels (header
 * in the first 8 KiB; ELF32 or the a.out-kludge address fields), ELF64 and
 * ELF32 executables, Linux bzImages (vmx/load/bzimage.h), else a flat binary. Parsing is pure and checks every
 * offset and size against the file before use, so it is unit tested (and
 * fuzzed) on the host with malformed files.
 *
 * References: ELF (System V gABI, "Program header"), Multiboot
 * Specification 0.6.96 section 3.1 "OS image format".
 */
#ifndef VMX_IMAGE_H
#define VMX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/load/bzimage.h"

#define IMAGE_MAX_SEGMENTS 16
#define MULTIBOOT_HEADER_MAGIC 0x1badb002u
#define MULTIBOOT_BOOT_MAGIC 0x2badb002u
#define MULTIBOOT_SEARCH 8192

enum image_format { IMAGE_FLAT, IMAGE_ELF32, IMAGE_ELF64, IMAGE_MULTIBOOT, IMAGE_BZIMAGE };

/* A piece of the file copied to guest-physical GPA; the MEM_LEN - FILE_LEN
 * bytes after it are zeroed (BSS). */
struct image_segment {
	uint64_t file_off, file_len, gpa, mem_len;
};

struct image_info {
	enum image_format format;
	struct image_segment seg[IMAGE_MAX_SEGMENTS];
	unsigned nseg;
	uint64_t entry;	     /* guest-physical */
	uint32_t mb_flags;   /* multiboot header flags */
	bool mb_aout;	     /* multiboot a.out kludge (flags bit 16) */
	struct linux_header linux; /* IMAGE_BZIMAGE: placed by the loader, no segments */
};

const char *image_format_name(enum image_format f);

/*
 * Detect and parse IMG (LEN bytes). A flat binary is reported as IMAGE_FLAT
 * with no segments (the caller places it). False with a one-line reason in
 * ERR for a file that claims a format and breaks its rules: truncated
 * headers, segments past the end of the file or overlapping each other,
 * an entry point outside every segment, unsupported multiboot flags.
 */
bool image_parse(const uint8_t *img, uint64_t len, struct image_info *ii, char *err, size_t errlen);

/* Lowest and highest+1 guest-physical address the segments occupy. */
void image_extent(const struct image_info *ii, uint64_t *lo, uint64_t *hi);

#endif
