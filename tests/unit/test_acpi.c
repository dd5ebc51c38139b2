/* ACPI table parsing over synthetic tables built in memory below 4 GiB
 * (MAP_32BIT), so that 32-bit RSDT entries can point at them. */
#include "unit.h"

#include <sys/mman.h>

#include "drivers/acpi.h"

static uint8_t *mem;  /* a 64 KiB arena below 4 GiB */
static size_t used;

static int setup(void **state)
{
	(void)state;
	mem = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	assert_true(mem != MAP_FAILED);
	used = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(mem, 65536);
	return 0;
}

static uint8_t *take(size_t n)
{
	uint8_t *p = mem + used;
	used += (n + 15) & ~15ul;
	return p;
}

static uint64_t pa(const void *p)
{
	return (uintptr_t)p;
}

static void fix_checksum(uint8_t *t, size_t len, size_t at)
{
	uint8_t sum = 0;
	t[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += t[i];
	t[at] = (uint8_t)-sum;
}

/* A table with SIG and BODY after the 36-byte header. */
static uint8_t *sdt(const char *sig, const void *body, uint32_t blen)
{
	uint32_t len = 36 + blen;
	uint8_t *t = take(len);
	memcpy(t, sig, 4);
	memcpy(t + 4, &len, 4);
	t[8] = 1;
	memcpy(t + 10, "TESTID", 6);
	memcpy(t + 36, body, blen);
	fix_checksum(t, len, 9);
	return t;
}

static uint8_t *rsdp_v1_at(uint8_t *r, uint32_t rsdt)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "OEMOEM", 6);
	r[15] = 0;
	memcpy(r + 16, &rsdt, 4);
	fix_checksum(r, 20, 8);
	return r;
}

static uint8_t *rsdp_v1(uint32_t rsdt)
{
	return rsdp_v1_at(take(20), rsdt);
}

static uint8_t *rsdp_v2(uint64_t xsdt)
{
	uint8_t *r = take(36);
	uint32_t len = 36;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "OEMOEM", 6);
	r[15] = 2;
	memcpy(r + 20, &len, 4);
	memcpy(r + 24, &xsdt, 8);
	fix_checksum(r, 20, 8);
	fix_checksum(r, 36, 32);
	return r;
}

static uint8_t *madt(void)
{
	uint8_t b[128] = { 0 };
	uint32_t lapic = 0xfee00000, n = 8;
	memcpy(b, &lapic, 4);
	/* entries: 2 enabled CPUs, 1 disabled, 1 IOAPIC, 1 x2APIC enabled */
	uint8_t cpu0[8] = { 0, 8, 0, 0, 1, 0, 0, 0 }, cpu1[8] = { 0, 8, 1, 2, 1, 0, 0, 0 },
		cpu2[8] = { 0, 8, 2, 4, 0, 0, 0, 0 };
	uint8_t io[12] = { 1, 12, 9, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0 };
	uint8_t x2[16] = { 9, 16, 0, 0, 0x00, 0x01, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0 };
	memcpy(b + n, cpu0, 8), n += 8;
	memcpy(b + n, cpu1, 8), n += 8;
	memcpy(b + n, cpu2, 8), n += 8;
	memcpy(b + n, io, 12), n += 12;
	memcpy(b + n, x2, 16), n += 16;
	return sdt("APIC", b, n);
}

static uint8_t *dsdt(void)
{
	/* Name(\_S5, Package(4) {0x05, Zero, Zero, Zero}) among other AML */
	static const uint8_t aml[] = { 0x10, 0x05, '_', 'S', 'B', '_', 0x5b, 0x08, '\\', '_', 'S', '5', '_',
				       0x12, 0x08, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00 };
	return sdt("DSDT", aml, sizeof(aml));
}

static uint8_t *fadt(const uint8_t *dsdt_table, int with_reset)
{
	uint8_t b[244 - 36] = { 0 };
	uint32_t d = (uint32_t)pa(dsdt_table), smi = 0xb2, pm1a = 0x604;
	memcpy(b + 40 - 36, &d, 4);
	memcpy(b + 48 - 36, &smi, 4);
	b[52 - 36] = 0xf1;
	memcpy(b + 64 - 36, &pm1a, 4);
	if (with_reset) {
		uint32_t flags = 1u << 10;
		memcpy(b + 112 - 36, &flags, 4);
		uint8_t reset[12] = { 1, 8, 0, 1, 0xf9, 0x0c, 0, 0, 0, 0, 0, 0 };
		memcpy(b + 116 - 36, reset, 12);
		b[128 - 36] = 6;
	}
	return sdt("FACP", b, sizeof(b));
}

static void test_rsdp_v1_with_rsdt(void **state)
{
	(void)state;
	uint8_t *m = madt(), *f = fadt(dsdt(), 1);
	uint32_t entries[2] = { (uint32_t)pa(m), (uint32_t)pa(f) };
	uint8_t *rsdt = sdt("RSDT", entries, sizeof(entries));
	uint8_t *r = rsdp_v1((uint32_t)pa(rsdt));
	assert_true(acpi_rsdp_valid(r, 20));

	struct acpi_info ai;
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_int_equal(ai.revision, 0);
	assert_string_equal(ai.oem, "OEMOEM");
	assert_int_equal(ai.tables, 2);
	assert_true(ai.have_madt);
	assert_int_equal(ai.lapic_base, 0xfee00000);
	assert_int_equal(ai.ncpus, 3);
	assert_int_equal(ai.ncpus_disabled, 1);
	assert_int_equal(ai.apic_id[1], 2);
	assert_int_equal(ai.apic_id[2], 0x100);
	assert_int_equal(ai.nioapics, 1);
	assert_int_equal(ai.ioapic[0].id, 9);
	assert_int_equal(ai.ioapic[0].addr, 0xfec00000);
	assert_true(ai.have_fadt);
	assert_int_equal(ai.pm1a_cnt.address, 0x604);
	assert_int_equal(ai.pm1a_cnt.space, ACPI_SPACE_IO);
	assert_int_equal(ai.smi_cmd, 0xb2);
	assert_int_equal(ai.acpi_enable, 0xf1);
	assert_true(ai.have_s5);
	assert_int_equal(ai.slp_typ_a, 5);
	assert_int_equal(ai.slp_typ_b, 0);
	assert_true(ai.reset_supported);
	assert_int_equal(ai.reset_reg.address, 0xcf9);
	assert_int_equal(ai.reset_value, 6);
}

/* A passthrough OS with fewer CPUs than the machine: the others are
 * marked disabled, the checksum still holds, and a parse sees only the
 * kept ones. */
static void test_madt_restrict(void **state)
{
	(void)state;
	uint8_t *m = madt(); /* enabled: APIC ids 0, 2 and x2APIC 0x100; one disabled */
	uint32_t len;
	memcpy(&len, m + 4, 4);
	uint32_t keep[] = { 2 };
	assert_int_equal(acpi_madt_restrict(m, keep, 1), 2);
	assert_true(acpi_checksum_ok(m, len));
	uint32_t entries[1] = { (uint32_t)pa(m) };
	uint8_t *r = rsdp_v1((uint32_t)pa(sdt("RSDT", entries, sizeof(entries))));
	struct acpi_info ai;
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_int_equal(ai.madt_addr, pa(m));
	assert_int_equal(ai.ncpus, 1);
	assert_int_equal(ai.apic_id[0], 2);
	assert_int_equal(ai.ncpus_disabled, 3);
	/* Again: nothing more to disable, and all of them kept: none. */
	assert_int_equal(acpi_madt_restrict(m, keep, 1), 0);
	uint32_t all[] = { 0, 2, 0x100 };
	assert_int_equal(acpi_madt_restrict(madt(), all, 3), 0);
}

static void test_rsdp_v2_with_xsdt_and_bad_table(void **state)
{
	(void)state;
	uint8_t *m = madt();
	uint8_t *broken = madt();
	broken[20] ^= 0xff; /* checksum now wrong: ignored */
	uint64_t entries[3] = { pa(broken), pa(m), 0 };
	uint8_t *xsdt = sdt("XSDT", entries, sizeof(entries));
	uint8_t *r = rsdp_v2(pa(xsdt));
	assert_true(acpi_rsdp_valid(r, 36));
	assert_false(acpi_rsdp_valid(r, 30)); /* claims more than is readable */

	struct acpi_info ai;
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_int_equal(ai.revision, 2);
	assert_int_equal(ai.tables, 1);
	assert_int_equal(ai.bad_tables, 1);
	assert_true(ai.have_madt);
	assert_false(ai.have_fadt);
	assert_false(ai.have_s5);
}

static void test_rsdp_checks(void **state)
{
	(void)state;
	uint8_t *r = rsdp_v1(0);
	r[8]++; /* checksum */
	assert_false(acpi_rsdp_valid(r, 20));
	struct acpi_info ai;
	assert_false(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_false(acpi_parse(0, 0, UINT64_MAX, &ai));
	/* a root table that crosses the limit is not read */
	uint8_t *ok = take(20);
	uint8_t *m = madt();
	uint32_t e = (uint32_t)pa(m);
	uint8_t *rsdt = sdt("RSDT", &e, 4);
	rsdp_v1_at(ok, (uint32_t)pa(rsdt));
	assert_false(acpi_parse(pa(ok), 0, pa(rsdt) + 10, &ai));
	assert_true(acpi_parse(pa(ok), 0, pa(rsdt) + 40, &ai));
	assert_int_equal(ai.tables, 1);
}

static void test_scan_finds_aligned_rsdp(void **state)
{
	(void)state;
	uint8_t *area = take(4096);
	memset(area, 0xaa, 4096);
	memcpy(area + 100, "RSD PTR ", 8); /* unaligned: not a candidate */
	uint8_t *r = rsdp_v1(0);
	memcpy(area + 0x230, r, 20);
	assert_int_equal(acpi_scan_rsdp(pa(area), 4096), pa(area) + 0x230);
	assert_int_equal(acpi_scan_rsdp(pa(area), 0x230), 0);
}

static void test_malformed_madt_entry_stops(void **state)
{
	(void)state;
	uint8_t b[64] = { 0 };
	uint8_t cpu[8] = { 0, 8, 0, 0, 1, 0, 0, 0 };
	memcpy(b + 8, cpu, 8);
	b[16] = 0; /* next entry: type 0, length 0 (would loop forever) */
	b[17] = 0;
	memcpy(b + 24, cpu, 8);
	uint8_t *m = sdt("APIC", b, 32);
	uint32_t e = (uint32_t)pa(m);
	uint8_t *r = rsdp_v1((uint32_t)pa(sdt("RSDT", &e, 4)));
	struct acpi_info ai;
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_int_equal(ai.ncpus, 1);
}

static void test_s5_forms(void **state)
{
	(void)state;
	uint8_t a, b;
	static const uint8_t zero_one[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x00, 0x01 };
	assert_true(acpi_find_s5(zero_one, sizeof(zero_one), &a, &b));
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
	/* a method named _S5_ is not the object; truncated package fails */
	static const uint8_t not_name[] = { 0x14, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x00 };
	assert_false(acpi_find_s5(not_name, sizeof(not_name), &a, &b));
	static const uint8_t cut[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02 };
	assert_false(acpi_find_s5(cut, sizeof(cut), &a, &b));
	static const uint8_t multibyte_len[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x40, 0x01, 0x04, 0x0a, 0x07, 0x0a, 0x07 };
	assert_true(acpi_find_s5(multibyte_len, sizeof(multibyte_len), &a, &b));
	assert_int_equal(a, 7);
}

/* An ACPI 6 FADT of a hardware-reduced machine (sleep by
 * SLEEP_CONTROL_REG in memory) with the SMI command values, and an MCFG
 * whose first entry is another segment's. */
static void test_hw_reduced_fadt_and_mcfg(void **state)
{
	(void)state;
	uint8_t b[276 - 36] = { 0 };
	uint32_t smi = 0xb2, flags = 1u << 20;
	memcpy(b + 48 - 36, &smi, 4);
	b[52 - 36] = 0xa0, b[53 - 36] = 0xa1, b[54 - 36] = 0xa2, b[55 - 36] = 0xa3, b[95 - 36] = 0xa4;
	memcpy(b + 112 - 36, &flags, 4);
	uint8_t sleep_ctl[12] = { 0, 8, 0, 1, 0x04, 0x10, 0xd0, 0xfe, 0, 0, 0, 0 };
	memcpy(b + 244 - 36, sleep_ctl, 12);
	uint8_t *f = sdt("FACP", b, sizeof(b));
	uint8_t mb[8 + 32] = { 0 };
	uint64_t other = 0xc0000000, seg0 = 0xe0000000;
	memcpy(mb + 8, &other, 8);
	mb[8 + 8] = 1; /* segment 1 */
	mb[8 + 11] = 0xff;
	memcpy(mb + 24, &seg0, 8);
	mb[24 + 11] = 0x3f; /* buses 0-63 */
	uint8_t *mcfg = sdt("MCFG", mb, sizeof(mb));
	uint32_t entries[2] = { (uint32_t)pa(f), (uint32_t)pa(mcfg) };
	uint8_t *r = rsdp_v1((uint32_t)pa(sdt("RSDT", entries, sizeof(entries))));
	struct acpi_info ai;
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_true(ai.hw_reduced);
	assert_int_equal(ai.pm1a_cnt.address, 0);
	assert_int_equal(ai.sleep_control.space, ACPI_SPACE_MEMORY);
	assert_int_equal(ai.sleep_control.address, 0xfed01004);
	assert_int_equal(ai.acpi_enable, 0xa0);
	assert_int_equal(ai.acpi_disable, 0xa1);
	assert_int_equal(ai.s4bios_req, 0xa2);
	assert_int_equal(ai.pstate_cnt, 0xa3);
	assert_int_equal(ai.cst_cnt, 0xa4);
	assert_true(ai.have_mcfg);
	assert_int_equal(ai.mcfg_base, 0xe0000000);
	assert_int_equal(ai.mcfg_bus_start, 0);
	assert_int_equal(ai.mcfg_bus_end, 0x3f);
	/* An older FADT (244 bytes) has no sleep control register. */
	uint32_t e1 = (uint32_t)pa(fadt(dsdt(), 0));
	r = rsdp_v1((uint32_t)pa(sdt("RSDT", &e1, 4)));
	assert_true(acpi_parse(pa(r), 0, UINT64_MAX, &ai));
	assert_int_equal(ai.sleep_control.address, 0);
	assert_false(ai.hw_reduced);
	assert_false(ai.have_mcfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp_v1_with_rsdt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_restrict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_v2_with_xsdt_and_bad_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_finds_aligned_rsdp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_madt_entry_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hw_reduced_fadt_and_mcfg, setup, teardown),
	};
	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
