/* The multiboot2 boot-information parser, fed well-formed and broken blocks. */
#include "unit.h"

#include "boot/mbi.h"

/* A block under construction: 8-byte header, then tags. */
struct builder {
	uint8_t buf[4096] __attribute__((aligned(8)));
	uint32_t len;
};

static void b_init(struct builder *b)
{
	memset(b, 0, sizeof(*b));
	b->len = 8;
}

/* Append a tag of TYPE with PAYLOAD; SIZE_FIELD overrides the size written
 * in the tag (0: the true size). */
static void b_tag(struct builder *b, uint32_t type, const void *payload, uint32_t plen, uint32_t size_field)
{
	uint32_t size = 8 + plen;
	memcpy(b->buf + b->len, &type, 4);
	uint32_t sz = size_field ? size_field : size;
	memcpy(b->buf + b->len + 4, &sz, 4);
	if (plen)
		memcpy(b->buf + b->len + 8, payload, plen);
	b->len += (size + 7) & ~7u;
}

static void b_end(struct builder *b)
{
	b_tag(b, 0, NULL, 0, 0);
	memcpy(b->buf, &b->len, 4);
}

static void b_string(struct builder *b, uint32_t type, const char *s)
{
	b_tag(b, type, s, (uint32_t)strlen(s) + 1, 0);
}

static void b_module(struct builder *b, uint32_t start, uint32_t end, const char *args)
{
	uint8_t p[256];
	memcpy(p, &start, 4);
	memcpy(p + 4, &end, 4);
	strcpy((char *)p + 8, args);
	b_tag(b, 3, p, 8 + (uint32_t)strlen(args) + 1, 0);
}

struct mmap_entry {
	uint64_t base, len;
	uint32_t type, reserved;
};

static void b_mmap(struct builder *b, const struct mmap_entry *e, unsigned n)
{
	uint8_t p[1024];
	uint32_t esize = 24, version = 0;
	memcpy(p, &esize, 4);
	memcpy(p + 4, &version, 4);
	memcpy(p + 8, e, n * sizeof(*e));
	b_tag(b, 6, p, 8 + n * 24, 0);
}

static void test_well_formed(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	b_string(&b, 1, "console=com2 on_exit=halt");
	b_string(&b, 2, "GRUB 2.06");
	b_module(&b, 0x200000, 0x201000, "name=a mem=32M");
	b_module(&b, 0x300000, 0x300000, ""); /* zero-length module is fine */
	struct mmap_entry e[] = { { 0, 0x9fc00, 1, 0 }, { 0x100000, 0x7ff00000, 1, 0 }, { 0xfffc0000, 0x40000, 2, 0 } };
	b_mmap(&b, e, 3);
	b_tag(&b, 99, "xyz", 3, 0); /* unknown tag: skipped */
	b_end(&b);

	assert_int_equal(mbi_parse(b.buf, 0x10000, &m), MBI_OK);
	assert_string_equal(m.cmdline, "console=com2 on_exit=halt");
	assert_string_equal(m.loader_name, "GRUB 2.06");
	assert_int_equal(m.nmods, 2);
	assert_int_equal(m.mods[0].start, 0x200000);
	assert_int_equal(m.mods[0].end, 0x201000);
	assert_string_equal(m.mods[0].cmdline, "name=a mem=32M");
	assert_string_equal(m.mods[1].cmdline, "");
	assert_int_equal(m.mmap_count, 3);
	assert_int_equal(m.unknown_tags, 1);
	assert_int_equal(m.bad_tags, 0);
	assert_int_equal(m.size, b.len);
	assert_int_equal(m.addr, 0x10000);

	struct mem_range r[4];
	uint64_t top;
	assert_int_equal(mbi_usable_ranges(&m, r, 4, &top), 2);
	assert_int_equal(r[1].base, 0x100000);
	assert_int_equal(r[1].end, 0x80000000);
	assert_int_equal(top, 0x80000000); /* the reserved range does not count */
}

static void test_bad_header(void **state)
{
	(void)state;
	struct mbi m;
	uint32_t small[4] = { 8, 0, 0, 0 };
	assert_int_equal(mbi_parse(small, 0, &m), MBI_BAD_HEADER);
	uint32_t odd[6] = { 20, 0, 0, 8, 0, 0 };
	assert_int_equal(mbi_parse(odd, 0, &m), MBI_BAD_HEADER);
	uint32_t huge[4] = { 0xfffffff8u, 0, 0, 8 };
	assert_int_equal(mbi_parse(huge, 0, &m), MBI_BAD_HEADER);
}

static void test_tag_runs_past_end(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	b_string(&b, 1, "a=1");
	b_tag(&b, 2, "GRUB", 5, 4000); /* claims far more than the block */
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_TRUNCATED);
	assert_string_equal(m.cmdline, "a=1"); /* what came before is kept */
	assert_null(m.loader_name);
}

static void test_tag_size_below_header(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	b_tag(&b, 1, "", 0, 4); /* size 4 < 8: would loop forever if trusted */
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_TRUNCATED);
}

static void test_missing_end_tag(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	b_string(&b, 1, "x");
	memcpy(b.buf, &b.len, 4); /* no end tag */
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_TRUNCATED);
	assert_string_equal(m.cmdline, "x");
}

static void test_malformed_tags_ignored(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	b_tag(&b, 1, "abc", 3, 0);	/* command line without a NUL */
	uint32_t mod[3] = { 0x5000, 0x4000, 0 }; /* end before start */
	b_tag(&b, 3, mod, 9, 0);
	uint32_t mm[2] = { 20, 0 };	/* entry size not a multiple of 8 */
	b_tag(&b, 6, mm, 8, 0);
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_OK);
	assert_int_equal(m.bad_tags, 3);
	assert_null(m.cmdline);
	assert_int_equal(m.nmods, 0);
	assert_null(m.mmap);
}

static void test_too_many_modules(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	b_init(&b);
	for (unsigned i = 0; i < MBI_MAX_MODULES + 3; i++)
		b_module(&b, 0x100000 * (i + 1), 0x100000 * (i + 1) + 10, "k=v");
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_OK);
	assert_int_equal(m.nmods, MBI_MAX_MODULES);
	assert_int_equal(m.mods_dropped, 3);
}

static void test_efi_memory_map(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	struct {
		uint32_t type, pad;
		uint64_t phys, virt, pages, attr;
	} d[] = {
		{ 7, 0, 0x100000, 0, 0x100, 0 },    /* conventional */
		{ 4, 0, 0x200000, 0, 0x10, 0 },	    /* boot services data: free after exit */
		{ 9, 0, 0x300000, 0, 0x1, 0 },	    /* ACPI reclaim: not free, but RAM */
		{ 11, 0, 0xfe000000, 0, 0x100, 0 }, /* MMIO: neither */
		{ 7, 0, 0x100000000, 0, 0x40000, 0 }, /* 1 GiB above 4 GiB */
	};
	uint8_t p[8 + sizeof(d)];
	uint32_t dsize = 40, ver = 1;
	memcpy(p, &dsize, 4);
	memcpy(p + 4, &ver, 4);
	memcpy(p + 8, d, sizeof(d));
	b_init(&b);
	b_tag(&b, 17, p, sizeof(p), 0);
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_OK);
	assert_int_equal(m.efi_count, 5);

	struct mem_range r[8];
	uint64_t top;
	assert_int_equal(mbi_usable_ranges(&m, r, 8, &top), 3);
	assert_int_equal(r[0].base, 0x100000);
	assert_int_equal(r[0].end, 0x200000);
	assert_int_equal(r[1].base, 0x200000);
	assert_int_equal(r[2].base, 0x100000000);
	assert_int_equal(r[2].end, 0x140000000);
	assert_int_equal(top, 0x140000000);
}

static void test_mmap_preferred_and_count_beyond_max(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	struct mmap_entry e[] = { { 0x100000, 0x1000, 1, 0 }, { 0x200000, 0x1000, 1, 0 }, { 0x300000, 0, 1, 0 },
				  { 0x400000, 0x1000, 1, 0 } };
	b_init(&b);
	b_mmap(&b, e, 4);
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_OK);
	struct mem_range r[2];
	uint64_t top;
	/* three non-empty usable entries; only two fit */
	assert_int_equal(mbi_usable_ranges(&m, r, 2, &top), 3);
	assert_int_equal(r[1].base, 0x200000);
}

static void test_acpi_tag(void **state)
{
	(void)state;
	struct builder b;
	struct mbi m;
	uint8_t rsdp1[20] = "RSD PTR ";
	uint8_t rsdp2[36] = "RSD PTR ";
	rsdp2[15] = 2;
	b_init(&b);
	b_tag(&b, 15, rsdp2, sizeof(rsdp2), 0);
	b_tag(&b, 14, rsdp1, sizeof(rsdp1), 0);
	b_tag(&b, 14, rsdp1, 10, 0); /* too short for an RSDP */
	b_end(&b);
	assert_int_equal(mbi_parse(b.buf, 0, &m), MBI_OK);
	assert_int_equal(m.rsdp_len, 36); /* the ACPI 2.0 copy wins */
	assert_int_equal(m.bad_tags, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_tag_runs_past_end),
		cmocka_unit_test(test_tag_size_below_header),
		cmocka_unit_test(test_missing_end_tag),
		cmocka_unit_test(test_malformed_tags_ignored),
		cmocka_unit_test(test_too_many_modules),
		cmocka_unit_test(test_efi_memory_map),
		cmocka_unit_test(test_mmap_preferred_and_count_beyond_max),
		cmocka_unit_test(test_acpi_tag),
	};
	return cmocka_run_group_tests_name("mbi", tests, NULL, NULL);
}
