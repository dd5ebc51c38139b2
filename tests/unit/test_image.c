/* Image-format detection and parsing, fed well-formed and malformed
 * ELF32, ELF64 and multiboot files built in memory. */
#include "unit.h"

#include "vmx/load/image.h"

static uint8_t file[16384];
static char err[200];

static void w16(size_t off, uint16_t v) { memcpy(file + off, &v, 2); }
static void w32(size_t off, uint32_t v) { memcpy(file + off, &v, 4); }
static void w64(size_t off, uint64_t v) { memcpy(file + off, &v, 8); }

/* An ELF64 executable: header, NPH program headers at 64, each loading
 * 0x100 bytes from offset 0x1000 + i*0x100 to paddr 0x200000 + i*0x1000. */
static size_t elf64(unsigned nph, uint64_t entry)
{
	memset(file, 0, sizeof(file));
	memcpy(file, "\x7f" "ELF", 4);
	file[4] = 2;
	file[5] = 1;
	w16(16, 2);
	w16(18, 62);
	w64(24, entry);
	w64(32, 64);
	w16(54, 56);
	w16(56, (uint16_t)nph);
	for (unsigned i = 0; i < nph; i++) {
		size_t ph = 64 + i * 56;
		w32(ph, 1);
		w64(ph + 8, 0x1000 + i * 0x100);
		w64(ph + 16, 0xffffffff80200000ull + i * 0x1000); /* vaddr differs from paddr */
		w64(ph + 24, 0x200000 + i * 0x1000);
		w64(ph + 32, 0x100);
		w64(ph + 40, 0x800);
	}
	return 0x1000 + nph * 0x100;
}

static size_t elf32(unsigned nph, uint32_t entry)
{
	memset(file, 0, sizeof(file));
	memcpy(file, "\x7f" "ELF", 4);
	file[4] = 1;
	file[5] = 1;
	w16(16, 2);
	w16(18, 3);
	w32(24, entry);
	w32(28, 52);
	w16(42, 32);
	w16(44, (uint16_t)nph);
	for (unsigned i = 0; i < nph; i++) {
		size_t ph = 52 + i * 32;
		w32(ph, 1);
		w32(ph + 4, 0x1000 + i * 0x100);
		w32(ph + 8, 0x400000 + i * 0x1000);
		w32(ph + 12, 0x400000 + i * 0x1000);
		w32(ph + 16, 0x100);
		w32(ph + 20, 0x100);
	}
	return 0x1000 + nph * 0x100;
}

static void test_elf64(void **state)
{
	(void)state;
	struct image_info ii;
	size_t len = elf64(2, 0xffffffff80201010ull);
	assert_true(image_parse(file, len, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_ELF64);
	assert_int_equal(ii.nseg, 2);
	assert_int_equal(ii.seg[1].gpa, 0x201000);
	assert_int_equal(ii.seg[1].file_off, 0x1100);
	assert_int_equal(ii.seg[1].mem_len, 0x800); /* BSS after 0x100 file bytes */
	assert_int_equal(ii.entry, 0x201010);	    /* virtual entry through the segment */
	uint64_t lo, hi;
	image_extent(&ii, &lo, &hi);
	assert_int_equal(lo, 0x200000);
	assert_int_equal(hi, 0x201800);
}

static void test_elf_malformed(void **state)
{
	(void)state;
	struct image_info ii;
	size_t len = elf64(2, 0xffffffff80200000ull);
	assert_false(image_parse(file, 40, &ii, err, sizeof(err))); /* truncated header */
	assert_non_null(strstr(err, "truncated"));

	elf64(2, 0xffffffff80200000ull);
	w16(56, 300); /* program headers run past the end */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "program headers"));

	elf64(2, 0xffffffff80200000ull);
	w64(64 + 8, 0x3f00); /* segment data past the end of the file */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "past the end"));

	elf64(2, 0xffffffff80200000ull);
	w64(64 + 56 + 24, 0x200400); /* second segment overlaps the first */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "overlap"));

	elf64(2, 0xffffffff80200000ull);
	w64(64 + 32, 0x900); /* filesz > memsz */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));

	elf64(2, 0xffffffff80200000ull);
	w64(64 + 24, UINT64_MAX - 0x10); /* wraps around the address space */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));

	elf64(2, 0x12345); /* entry outside every segment */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "entry point"));

	elf64(0, 0);
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));

	elf64(2, 0xffffffff80200000ull);
	w16(18, 3); /* ELF64 for i386: refused */
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "x86-64"));

	elf64(20, 0xffffffff80200000ull); /* more segments than supported */
	assert_false(image_parse(file, 0x1000 + 20 * 0x100, &ii, err, sizeof(err)));
}

static void test_elf32_and_flat(void **state)
{
	(void)state;
	struct image_info ii;
	size_t len = elf32(1, 0x400010);
	assert_true(image_parse(file, len, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_ELF32);
	assert_int_equal(ii.entry, 0x400010);
	memset(file, 0x90, 100);
	assert_true(image_parse(file, 100, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_FLAT);
	assert_true(image_parse(file, 0, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_FLAT);
}

/* A multiboot header at OFF with FLAGS (and a.out fields when bit 16). */
static void mb_header(size_t off, uint32_t flags)
{
	w32(off, 0x1badb002u);
	w32(off + 4, flags);
	w32(off + 8, (uint32_t)-(0x1badb002u + flags));
}

static void test_multiboot_elf(void **state)
{
	(void)state;
	struct image_info ii;
	size_t len = elf32(1, 0x400000);
	mb_header(0x1000, 3);
	assert_true(image_parse(file, len, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_MULTIBOOT);
	assert_false(ii.mb_aout);
	assert_int_equal(ii.entry, 0x400000);

	/* a bad checksum is no header: then it is plain ELF32 */
	w32(0x1008, 0);
	assert_true(image_parse(file, len, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_ELF32);

	/* a header beyond the first 8 KiB does not count */
	memset(file, 0, sizeof(file));
	mb_header(8192, 0);
	assert_true(image_parse(file, 8192 + 12, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_FLAT);

	/* unsupported required features */
	elf32(1, 0x400000);
	mb_header(0x1000, 1u << 5);
	assert_false(image_parse(file, len, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "requires features"));

	/* a multiboot header in a file that is neither ELF32 nor a.out */
	memset(file, 0, sizeof(file));
	mb_header(16, 0);
	assert_false(image_parse(file, 64, &ii, err, sizeof(err)));
}

static void test_multiboot_aout(void **state)
{
	(void)state;
	struct image_info ii;
	/* header at file offset 0x20 describing itself at 0x400020, the file
	 * loaded at 0x400000 to its end, BSS to 0x402000, entry 0x400040 */
	memset(file, 0, sizeof(file));
	mb_header(0x20, 1u << 16);
	w32(0x2c, 0x400020);
	w32(0x30, 0x400000);
	w32(0x34, 0);
	w32(0x38, 0x402000);
	w32(0x3c, 0x400040);
	assert_true(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_MULTIBOOT);
	assert_true(ii.mb_aout);
	assert_int_equal(ii.nseg, 1);
	assert_int_equal(ii.seg[0].file_off, 0);
	assert_int_equal(ii.seg[0].file_len, 0x1000);
	assert_int_equal(ii.seg[0].gpa, 0x400000);
	assert_int_equal(ii.seg[0].mem_len, 0x2000);
	assert_int_equal(ii.entry, 0x400040);

	w32(0x34, 0x400800); /* load_end inside the file */
	assert_true(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	assert_int_equal(ii.seg[0].file_len, 0x800);

	w32(0x34, 0x500000); /* load_end beyond the file */
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	w32(0x34, 0x3ff000); /* load_end below load_addr */
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	w32(0x34, 0);
	w32(0x38, 0x400100); /* BSS end below the data */
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	w32(0x38, 0x402000);
	w32(0x2c, 0x300000); /* header_addr below load_addr */
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	w32(0x2c, 0x400020);
	w32(0x3c, 0x900000); /* entry outside the image */
	assert_false(image_parse(file, 0x1000, &ii, err, sizeof(err)));
	assert_non_null(strstr(err, "entry_addr"));
	/* truncated: the address fields cut off by the end of the file */
	assert_false(image_parse(file, 0x30, &ii, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf64),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_elf32_and_flat),
		cmocka_unit_test(test_multiboot_elf),
		cmocka_unit_test(test_multiboot_aout),
	};
	return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
