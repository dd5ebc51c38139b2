#include "boot/mbi.h"

#include "arch-x86/string.h"
#include "arch-x86/unaligned.h"

struct tag {
	uint32_t type, size;
};

/* Is there a NUL within [s, s+len)? */
static bool has_nul(const uint8_t *s, size_t len)
{
	return len > 0 && memchr(s, 0, len) != NULL;
}

const char *mbi_status_text(enum mbi_status s)
{
	switch (s) {
	case MBI_OK:
		return "ok";
	case MBI_BAD_HEADER:
		return "bad header (total size)";
	case MBI_TRUNCATED:
		return "truncated (a tag runs past the end, or no end tag)";
	}
	return "?";
}

/* Handle one tag whose SIZE bytes at T are within the block. Returns false
 * if its contents are malformed (it is then ignored). */
static bool parse_tag(struct mbi *m, uint32_t type, const uint8_t *t, uint32_t size)
{
	switch (type) {
	case MBI_TAG_CMDLINE:
	case MBI_TAG_LOADER_NAME:
		if (!has_nul(t + 8, size - 8))
			return false;
		if (type == MBI_TAG_CMDLINE)
			m->cmdline = (const char *)(t + 8);
		else
			m->loader_name = (const char *)(t + 8);
		return true;
	case MBI_TAG_MODULE: {
		if (size < 17 || !has_nul(t + 16, size - 16))
			return false;
		uint64_t start = rd32(t + 8), end = rd32(t + 12);
		if (end < start)
			return false;
		if (m->nmods == MBI_MAX_MODULES) {
			m->mods_dropped++;
			return true;
		}
		m->mods[m->nmods++] = (struct mbi_module){ start, end, (const char *)(t + 16) };
		return true;
	}
	case MBI_TAG_MMAP: {
		if (size < 16)
			return false;
		uint32_t esize = rd32(t + 8);
		if (esize < 24 || esize % 8)
			return false;
		m->mmap = t + 16;
		m->mmap_entry_size = esize;
		m->mmap_count = (size - 16) / esize;
		return true;
	}
	case MBI_TAG_EFI_MMAP: {
		if (size < 16)
			return false;
		uint32_t dsize = rd32(t + 8);
		if (dsize < 40 || dsize % 8) /* EFI_MEMORY_DESCRIPTOR is 40 bytes */
			return false;
		m->efi_mmap = t + 16;
		m->efi_desc_size = dsize;
		m->efi_count = (size - 16) / dsize;
		return true;
	}
	case MBI_TAG_ACPI_OLD:
	case MBI_TAG_ACPI_NEW:
		if (size < 8 + 20) /* an RSDP is at least 20 bytes (ACPI 5.2.5.3) */
			return false;
		/* Prefer the ACPI 2.0+ copy when both are given. */
		if (type == MBI_TAG_ACPI_NEW || !m->rsdp) {
			m->rsdp = t + 8;
			m->rsdp_len = size - 8;
		}
		return true;
	default:
		m->unknown_tags++;
		return true;
	}
}

enum mbi_status mbi_parse(const void *block, uint64_t addr, struct mbi *m)
{
	const uint8_t *b = block;

	memset(m, 0, sizeof(*m));
	m->addr = addr;
	uint32_t total = rd32(b);
	if (total < 16 || total > MBI_MAX_SIZE || total % 8)
		return MBI_BAD_HEADER;
	m->size = total;

	/* Tags start at offset 8 and are 8-byte aligned (spec 3.6.1). */
	for (uint32_t off = 8; off + 8 <= total;) {
		uint32_t type = rd32(b + off), size = rd32(b + off + 4);
		if (size < 8 || size > total - off)
			return MBI_TRUNCATED;
		if (type == MBI_TAG_END)
			return size == 8 ? MBI_OK : MBI_TRUNCATED;
		m->tags++;
		if (!parse_tag(m, type, b + off, size))
			m->bad_tags++;
		off += (size + 7) & ~7u;
	}
	return MBI_TRUNCATED;
}

/* EFI memory types that are free RAM once boot services have exited
 * (UEFI spec, 7.2 "EFI_BOOT_SERVICES.AllocatePages", memory type usage). */
static bool efi_type_usable(uint32_t type)
{
	enum { LOADER_CODE = 1, LOADER_DATA, BS_CODE, BS_DATA, CONVENTIONAL = 7 };
	return type == LOADER_CODE || type == LOADER_DATA || type == BS_CODE || type == BS_DATA ||
	       type == CONVENTIONAL;
}

/* Memory the hypervisor may have to read: RAM and firmware tables, not
 * reserved holes, unusable RAM or MMIO (types 0, 8, 11, 12). */
static bool efi_type_in_top(uint32_t type)
{
	return type != 0 && type != 8 && type != 11 && type != 12;
}

size_t mbi_usable_ranges(const struct mbi *m, struct mem_range *out, size_t max, uint64_t *top)
{
	size_t n = 0;

	*top = 0;
	for (uint32_t i = 0; m->mmap && i < m->mmap_count; i++) {
		const uint8_t *e = m->mmap + (size_t)i * m->mmap_entry_size;
		uint64_t base = rd64(e), len = rd64(e + 8);
		uint32_t type = rd32(e + 16);
		if (len == 0 || base + len < base)
			continue;
		if (type != MBI_MEM_RESERVED && type != MBI_MEM_BADRAM && base + len > *top)
			*top = base + len;
		if (type == MBI_MEM_AVAILABLE) {
			if (n < max)
				out[n] = (struct mem_range){ base, base + len };
			n++;
		}
	}
	if (m->mmap)
		return n;

	for (uint32_t i = 0; m->efi_mmap && i < m->efi_count; i++) {
		const uint8_t *d = m->efi_mmap + (size_t)i * m->efi_desc_size;
		uint32_t type = rd32(d);
		uint64_t base = rd64(d + 8), pages = rd64(d + 24);
		if (pages == 0 || pages > (UINT64_MAX - base) >> 12)
			continue;
		uint64_t end = base + (pages << 12);
		if (efi_type_in_top(type) && end > *top)
			*top = end;
		if (efi_type_usable(type)) {
			if (n < max)
				out[n] = (struct mem_range){ base, end };
			n++;
		}
	}
	return n;
}

/* EFI memory types as e820 types (UEFI spec 2.10, table 7.10; ACPI 6.4,
 * 15.4 "UEFI assumptions and limitations"). */
static uint32_t efi_to_e820(uint32_t type)
{
	switch (type) {
	case 1: case 2: case 3: case 4: case 7:
		return 1;
	case 9:
		return 3;
	case 10:
		return 4;
	case 8:
		return 5;
	default:
		return 2;
	}
}

size_t mbi_typed_map(const struct mbi *m, struct mem_typed *out, size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; m->mmap && i < m->mmap_count && n < max; i++) {
		const uint8_t *e = m->mmap + (size_t)i * m->mmap_entry_size;
		uint64_t base = rd64(e), len = rd64(e + 8);
		uint32_t type = rd32(e + 16);
		if (len == 0 || base + len < base)
			continue;
		out[n++] = (struct mem_typed){ base, base + len, type >= 1 && type <= 5 ? type : 2 };
	}
	for (uint32_t i = 0; !m->mmap && m->efi_mmap && i < m->efi_count && n < max; i++) {
		const uint8_t *d = m->efi_mmap + (size_t)i * m->efi_desc_size;
		uint64_t base = rd64(d + 8), pages = rd64(d + 24);
		if (pages == 0 || pages > (UINT64_MAX - base) >> 12)
			continue;
		out[n++] = (struct mem_typed){ base, base + (pages << 12), efi_to_e820(rd32(d)) };
	}
	/* insertion sort: maps are short and nearly sorted */
	for (size_t i = 1; i < n; i++) {
		struct mem_typed t = out[i];
		size_t j = i;
		while (j > 0 && out[j - 1].base > t.base) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = t;
	}
	return n;
}
