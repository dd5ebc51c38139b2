/*
 * Linux's x86 boot protocol (Documentation/arch/x86/boot.rst, version 2.12
 * and later) for a bzImage: the setup header checks, and the boot_params
 * ("zero page", Documentation/arch/x86/zero-page.rst) the loader hands the
 * kernel. Pure logic, unit tested with malformed headers.
 *
 * Fields the loader sets in boot_params:
 *   0x1f1..   the setup header, copied from the image (up to 0x202 + the
 *             byte at 0x201)
 *   0x210     type_of_loader = 0xff (no registered loader id)
 *   0x211     loadflags: LOADED_HIGH kept, KEEP_SEGMENTS and CAN_USE_HEAP
 *             clear (the 64-bit entry does not use the real-mode heap)
 *   0x218/0x21c ramdisk_image / ramdisk_size, 0x0c0/0x0c4 their high halves
 *   0x228     cmd_line_ptr, 0x0c8 its high half
 *   0x070     acpi_rsdp_addr (protocol 2.14+), when the loader knows it
 *   0x1e8     e820_entries, 0x2d0 e820_table (20 bytes each, at most 128)
 */
#ifndef VMX_BZIMAGE_H
#define VMX_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/memmap.h"

#define LINUX_MIN_VERSION 0x020c
#define LINUX_BOOT_PARAMS_SIZE 4096
#define LINUX_E820_MAX 128

struct linux_header {
	uint16_t version;
	uint8_t setup_sects, loadflags, hdr_end; /* hdr_end: the byte at 0x201 */
	uint32_t code32_start, initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	uint8_t relocatable;
	uint16_t xloadflags;
	uint64_t pref_address;
	uint64_t pm_offset, pm_len; /* the protected-mode kernel within the file */
};

#define XLF_KERNEL_64 (1u << 0)
#define LOADFLAGS_LOADED_HIGH (1u << 0)


/* Is IMG a bzImage (boot flag 0xAA55 and "HdrS")? */
bool bzimage_detect(const uint8_t *img, uint64_t len);

/* Check the setup header and read it into H; false with a reason. */
bool bzimage_parse(const uint8_t *img, uint64_t len, struct linux_header *h, char *err, size_t errlen);

/* Fill the zero page BP (LINUX_BOOT_PARAMS_SIZE bytes). */
void bzimage_boot_params(uint8_t *bp, const uint8_t *img, const struct linux_header *h, uint64_t cmdline_pa,
			 uint64_t initrd_pa, uint64_t initrd_len, const struct e820_entry *e820, unsigned n,
			 uint64_t rsdp);

#endif
