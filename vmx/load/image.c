#include "vmx/load/image.h"

#include "arch-x86/string.h"
#include "arch-x86/unaligned.h"
#include "drivers/format.h"

/* Multiboot header flags the loader honours (spec 3.1.2): 0 page-align
 * modules, 1 memory information, 2 video mode (a request; no video
 * information is given), 16 the a.out-kludge address fields. Any other
 * bit in 0-15 is a requirement it cannot meet. */
#define MB_FLAG_AOUT (1u << 16)
#define MB_FLAGS_UNDERSTOOD 0x7u

#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA_LSB 1
#define ET_EXEC 2
#define EM_386 3
#define EM_X86_64 62
#define PT_LOAD 1

const char *image_format_name(enum image_format f)
{
	static const char *const names[] = {
		[IMAGE_FLAT] = "flat binary",
		[IMAGE_ELF32] = "ELF32",
		[IMAGE_ELF64] = "ELF64",
		[IMAGE_MULTIBOOT] = "multiboot",
		[IMAGE_BZIMAGE] = "Linux bzImage",
	};
	return names[f];
}

/* Does [off, off+n) lie within a file of LEN bytes? */
static bool in_file(uint64_t off, uint64_t n, uint64_t len)
{
	return off <= len && n <= len - off;
}

/* Add a segment after checking it against the file and the others. */
static bool add_segment(struct image_info *ii, struct image_segment s, uint64_t len, char *err, size_t errlen)
{
	if (!in_file(s.file_off, s.file_len, len)) {
		fmt_snprintf(err, errlen, "segment at file offset %#llx (%llu bytes) runs past the end of the file",
			     (unsigned long long)s.file_off, (unsigned long long)s.file_len);
		return false;
	}
	if (s.file_len > s.mem_len || s.gpa + s.mem_len < s.gpa) {
		fmt_snprintf(err, errlen, "segment at %#llx has a bad size", (unsigned long long)s.gpa);
		return false;
	}
	if (s.mem_len == 0)
		return true;
	for (unsigned i = 0; i < ii->nseg; i++) {
		const struct image_segment *o = &ii->seg[i];
		if (s.gpa < o->gpa + o->mem_len && o->gpa < s.gpa + s.mem_len) {
			fmt_snprintf(err, errlen, "segments at %#llx and %#llx overlap", (unsigned long long)o->gpa,
				     (unsigned long long)s.gpa);
			return false;
		}
	}
	if (ii->nseg == IMAGE_MAX_SEGMENTS) {
		fmt_snprintf(err, errlen, "more than %u loadable segments", IMAGE_MAX_SEGMENTS);
		return false;
	}
	ii->seg[ii->nseg++] = s;
	return true;
}

/* ELF32 or ELF64 executable: PT_LOAD segments at their physical addresses;
 * the entry point, a virtual address, is translated through the segment
 * that holds it (identity for most kernels). */
static bool parse_elf(const uint8_t *img, uint64_t len, struct image_info *ii, char *err, size_t errlen)
{
	/* The class byte decides the header's size: a file too short for
	 * the smaller (ELF32) header has no class to read (found by
	 * tests/fuzz/fuzz_image). */
	bool is64 = len > 4 && img[4] == ELF_CLASS64;
	uint64_t ehsize = is64 ? 64 : 52, entry, phoff;
	unsigned phentsize, phnum, want_machine = is64 ? EM_X86_64 : EM_386;

	if (len < ehsize || (img[4] != ELF_CLASS32 && img[4] != ELF_CLASS64) || img[5] != ELF_DATA_LSB) {
		fmt_snprintf(err, errlen, "truncated or unsupported ELF header");
		return false;
	}
	if (rd16(img + 16) != ET_EXEC || rd16(img + 18) != want_machine) {
		fmt_snprintf(err, errlen, "ELF file is not an %s executable", is64 ? "x86-64" : "i386");
		return false;
	}
	entry = is64 ? rd64(img + 24) : rd32(img + 24);
	phoff = is64 ? rd64(img + 32) : rd32(img + 28);
	phentsize = rd16(img + (is64 ? 54 : 42));
	phnum = rd16(img + (is64 ? 56 : 44));
	if (phentsize < (is64 ? 56u : 32u) || phnum == 0 || !in_file(phoff, (uint64_t)phentsize * phnum, len)) {
		fmt_snprintf(err, errlen, "ELF program headers are missing or truncated");
		return false;
	}

	ii->format = is64 ? IMAGE_ELF64 : IMAGE_ELF32;
	bool entry_found = false;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;
		if (rd32(ph) != PT_LOAD)
			continue;
		struct image_segment s;
		uint64_t vaddr;
		if (is64) {
			s = (struct image_segment){ rd64(ph + 8), rd64(ph + 32), rd64(ph + 24), rd64(ph + 40) };
			vaddr = rd64(ph + 16);
		} else {
			s = (struct image_segment){ rd32(ph + 4), rd32(ph + 16), rd32(ph + 12), rd32(ph + 20) };
			vaddr = rd32(ph + 8);
		}
		if (!add_segment(ii, s, len, err, errlen))
			return false;
		if (!entry_found && entry >= vaddr && entry - vaddr < s.mem_len) {
			ii->entry = s.gpa + (entry - vaddr);
			entry_found = true;
		}
	}
	if (ii->nseg == 0) {
		fmt_snprintf(err, errlen, "ELF file has no loadable segment");
		return false;
	}
	if (!entry_found) {
		fmt_snprintf(err, errlen, "ELF entry point %#llx is outside every loadable segment",
			     (unsigned long long)entry);
		return false;
	}
	return true;
}

/* Offset of a valid multiboot header in the first 8 KiB, or -1. */
static int64_t find_multiboot(const uint8_t *img, uint64_t len)
{
	for (uint64_t off = 0; off + 12 <= len && off + 12 <= MULTIBOOT_SEARCH; off += 4) {
		uint32_t magic = rd32(img + off), flags = rd32(img + off + 4), sum = rd32(img + off + 8);
		if (magic == MULTIBOOT_HEADER_MAGIC && (uint32_t)(magic + flags + sum) == 0)
			return (int64_t)off;
	}
	return -1;
}

/* The a.out kludge (spec 3.1.3): the file from the header's file offset
 * back to load_addr is loaded there, up to load_end_addr (0: the end of
 * the file), then zeroed up to bss_end_addr (0: none). */
static bool parse_aout(const uint8_t *img, uint64_t len, uint64_t hoff, struct image_info *ii, char *err,
		       size_t errlen)
{
	if (!in_file(hoff, 32, len)) {
		fmt_snprintf(err, errlen, "multiboot header with address fields is truncated");
		return false;
	}
	uint32_t header_addr = rd32(img + hoff + 12), load_addr = rd32(img + hoff + 16);
	uint32_t load_end = rd32(img + hoff + 20), bss_end = rd32(img + hoff + 24);
	ii->entry = rd32(img + hoff + 28);
	if (header_addr < load_addr || header_addr - load_addr > hoff) {
		fmt_snprintf(err, errlen, "multiboot header_addr %#x is not inside the image loaded at %#x", header_addr,
			     load_addr);
		return false;
	}
	uint64_t file_off = hoff - (header_addr - load_addr);
	uint64_t file_len = load_end ? (uint64_t)load_end - load_addr : len - file_off;
	if (load_end && load_end < load_addr) {
		fmt_snprintf(err, errlen, "multiboot load_end_addr %#x is below load_addr %#x", load_end, load_addr);
		return false;
	}
	uint64_t mem_len = bss_end ? (uint64_t)bss_end - load_addr : file_len;
	if (bss_end && bss_end < load_addr + file_len) {
		fmt_snprintf(err, errlen, "multiboot bss_end_addr %#x is below the loaded data", bss_end);
		return false;
	}
	if (!add_segment(ii, (struct image_segment){ file_off, file_len, load_addr, mem_len }, len, err, errlen))
		return false;
	if (ii->entry < load_addr || ii->entry - load_addr >= mem_len) {
		fmt_snprintf(err, errlen, "multiboot entry_addr %#llx is outside the loaded image",
			     (unsigned long long)ii->entry);
		return false;
	}
	return true;
}

bool image_parse(const uint8_t *img, uint64_t len, struct image_info *ii, char *err, size_t errlen)
{
	static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };

	memset(ii, 0, sizeof(*ii));
	int64_t mb = find_multiboot(img, len);
	if (mb >= 0) {
		ii->mb_flags = rd32(img + mb + 4);
		uint32_t unknown = ii->mb_flags & 0xffff & ~MB_FLAGS_UNDERSTOOD;
		if (unknown) {
			fmt_snprintf(err, errlen, "multiboot kernel requires features this loader lacks (flags %#x)",
				     unknown);
			return false;
		}
		if (ii->mb_flags & MB_FLAG_AOUT) {
			ii->mb_aout = true;
			if (!parse_aout(img, len, (uint64_t)mb, ii, err, errlen))
				return false;
		} else if (len < 4 || memcmp(img, elf_magic, 4) || len < 5 || img[4] != ELF_CLASS32) {
			fmt_snprintf(err, errlen, "multiboot kernel is neither ELF32 nor uses the a.out address fields");
			return false;
		} else if (!parse_elf(img, len, ii, err, errlen)) {
			return false;
		}
		ii->format = IMAGE_MULTIBOOT;
		return true;
	}
	if (len >= 4 && !memcmp(img, elf_magic, 4))
		return parse_elf(img, len, ii, err, errlen);
	if (bzimage_detect(img, len)) {
		ii->format = IMAGE_BZIMAGE;
		return bzimage_parse(img, len, &ii->linux, err, errlen);
	}
	/* A Linux setup header whose boot flag is gone is a damaged kernel,
	 * not code to run. (The flag alone is any boot sector: a flat
	 * real-mode guest.) */
	if (len >= 0x206 && !memcmp(img + 0x202, "HdrS", 4)) {
		fmt_snprintf(err, errlen, "a Linux setup header (HdrS) without the 0xAA55 boot flag: a damaged bzImage");
		return false;
	}
	ii->format = IMAGE_FLAT;
	return true;
}

void image_extent(const struct image_info *ii, uint64_t *lo, uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (unsigned i = 0; i < ii->nseg; i++) {
		if (ii->seg[i].gpa < *lo)
			*lo = ii->seg[i].gpa;
		if (ii->seg[i].gpa + ii->seg[i].mem_len > *hi)
			*hi = ii->seg[i].gpa + ii->seg[i].mem_len;
	}
}
