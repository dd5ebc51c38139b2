/* The Linux boot protocol: setup-header checks and boot_params, over
 * synthetic bzImages. */
#include "unit.h"

#include "vmx/load/bzimage.h"
#include "vmx/load/image.h"

static uint8_t img[0x8000];
static char err[200];

static void w16(size_t off, uint16_t v) { memcpy(img + off, &v, 2); }
static void w32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }
static void w64(size_t off, uint64_t v) { memcpy(img + off, &v, 8); }

/* A bzImage with protocol VERSION, 4 setup sectors after the boot sector. */
static size_t bzimage(uint16_t version)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = 4;
	w16(0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	w16(0x206, version);
	img[0x211] = 0x01; /* LOADED_HIGH */
	w32(0x214, 0x100000);
	w32(0x22c, 0x7fffffff);
	w32(0x230, 0x200000);
	img[0x234] = 1;
	w16(0x236, 0x7f);
	w32(0x238, 2047);
	w64(0x258, 0x1000000);
	w32(0x260, 0x3000000);
	return sizeof(img);
}

static void test_parse(void **state)
{
	(void)state;
	struct linux_header h;
	size_t len = bzimage(0x020f);
	assert_true(bzimage_detect(img, len));
	assert_true(bzimage_parse(img, len, &h, err, sizeof(err)));
	assert_int_equal(h.version, 0x020f);
	assert_int_equal(h.pm_offset, 5 * 512);
	assert_int_equal(h.pm_len, len - 5 * 512);
	assert_int_equal(h.pref_address, 0x1000000);
	assert_int_equal(h.init_size, 0x3000000);
	assert_true(h.xloadflags & XLF_KERNEL_64);
	assert_int_equal(h.kernel_alignment, 0x200000);

	/* setup_sects 0 means 4 */
	img[0x1f1] = 0;
	assert_true(bzimage_parse(img, len, &h, err, sizeof(err)));
	assert_int_equal(h.pm_offset, 5 * 512);

	/* the image detector sees it */
	struct image_info ii;
	bzimage(0x020f);
	assert_true(image_parse(img, len, &ii, err, sizeof(err)));
	assert_int_equal(ii.format, IMAGE_BZIMAGE);
}

static void test_malformed(void **state)
{
	(void)state;
	struct linux_header h;
	size_t len = bzimage(0x020b); /* 2.11: too old */
	assert_false(bzimage_parse(img, len, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "2.11 is too old"));

	bzimage(0x020f);
	assert_false(bzimage_parse(img, 0x240, &h, err, sizeof(err))); /* truncated header */
	assert_non_null(strstr(err, "truncated"));

	bzimage(0x020f);
	img[0x211] = 0; /* a zImage */
	assert_false(bzimage_parse(img, len, &h, err, sizeof(err)));

	bzimage(0x020f);
	img[0x1f1] = 200; /* setup runs past the end of the file */
	assert_false(bzimage_parse(img, len, &h, err, sizeof(err)));

	bzimage(0x020f);
	img[0x201] = 0xa0; /* header claims to end past 0x290 */
	assert_false(bzimage_parse(img, len, &h, err, sizeof(err)));

	bzimage(0x020f);
	w32(0x230, 0x300000); /* alignment not a power of two */
	assert_false(bzimage_parse(img, len, &h, err, sizeof(err)));

	bzimage(0x020f);
	w16(0x1fe, 0);
	assert_false(bzimage_detect(img, len));
}

static void test_boot_params(void **state)
{
	(void)state;
	struct linux_header h;
	static uint8_t bp[LINUX_BOOT_PARAMS_SIZE];
	size_t len = bzimage(0x020f);
	assert_true(bzimage_parse(img, len, &h, err, sizeof(err)));
	struct e820_entry e[3] = { { 0, 0x9f000, E820_RAM }, { 0x100000, 0x1ff00000, E820_RAM },
				   { 0x1fff0000, 0x10000, E820_ACPI } };
	memset(bp, 0xcc, sizeof(bp));
	bzimage_boot_params(bp, img, &h, 0x8000, 0x123456789000ull, 0x100000, e, 3, 0xf0000);

	assert_memory_equal(bp + 0x202, "HdrS", 4); /* the header copied */
	assert_int_equal(bp[0x210], 0xff);	     /* type_of_loader */
	assert_int_equal(bp[0x211], 0x01);
	uint32_t v32;
	uint64_t v64;
	memcpy(&v32, bp + 0x228, 4);
	assert_int_equal(v32, 0x8000);
	memcpy(&v32, bp + 0x218, 4);
	assert_int_equal(v32, 0x56789000);
	memcpy(&v32, bp + 0x0c0, 4); /* ext_ramdisk_image */
	assert_int_equal(v32, 0x1234);
	memcpy(&v32, bp + 0x21c, 4);
	assert_int_equal(v32, 0x100000);
	memcpy(&v64, bp + 0x070, 8);
	assert_int_equal(v64, 0xf0000);
	assert_int_equal(bp[0x1e8], 3);
	memcpy(&v64, bp + 0x2d0 + 20 + 8, 8); /* second entry's size */
	assert_int_equal(v64, 0x1ff00000);
	memcpy(&v32, bp + 0x2d0 + 40 + 16, 4);
	assert_int_equal(v32, E820_ACPI);
	assert_int_equal(bp[0x1ef], 0); /* sentinel stays 0 */
	assert_int_equal(bp[0x0], 0);	/* the rest is zeroed */

	/* protocol 2.12: no acpi_rsdp_addr field yet */
	bzimage(0x020c);
	assert_true(bzimage_parse(img, len, &h, err, sizeof(err)));
	bzimage_boot_params(bp, img, &h, 0x8000, 0, 0, e, 3, 0xf0000);
	memcpy(&v64, bp + 0x070, 8);
	assert_int_equal(v64, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_boot_params),
	};
	return cmocka_run_group_tests_name("bzimage", tests, NULL, NULL);
}
