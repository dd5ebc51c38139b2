#include "drivers/acpi.h"

#include "arch-x86/string.h"
#include "arch-x86/unaligned.h"

struct acpi_info hv_acpi;

#define SDT_HEADER_LEN 36
#define TABLE_MAX_LEN (16u << 20) /* larger is taken as corruption */

static const uint8_t *ptr(uint64_t pa)
{
	return (const uint8_t *)(uintptr_t)pa;
}

bool acpi_checksum_ok(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

bool acpi_rsdp_valid(const void *p, size_t avail)
{
	const uint8_t *r = p;

	if (avail < 20 || memcmp(r, "RSD PTR ", 8) || !acpi_checksum_ok(r, 20))
		return false;
	if (r[15] < 2) /* ACPI 1.0: 20 bytes, RSDT only */
		return true;
	if (avail < 36) /* ACPI 2.0+: the length field and the XSDT address (found by tests/fuzz/fuzz_acpi) */
		return false;
	uint32_t len = rd32(r + 20);
	return len >= 36 && len <= avail && acpi_checksum_ok(r, len);
}

uint64_t acpi_scan_rsdp(uint64_t base, uint64_t len)
{
	for (uint64_t a = base; a + 20 <= base + len; a += 16)
		if (acpi_rsdp_valid(ptr(a), base + len - a))
			return a;
	return 0;
}

/* Where tables may be read: [lo, limit). */
struct window {
	uint64_t lo, limit;
};

/* The table at PA if its header, length and checksum hold; else NULL. */
static const uint8_t *table_at(struct acpi_info *ai, uint64_t pa, struct window w)
{
	uint64_t limit = w.limit;
	if (pa == 0 || pa < w.lo || pa >= limit || limit - pa < SDT_HEADER_LEN)
		return NULL;
	const uint8_t *t = ptr(pa);
	uint32_t len = rd32(t + 4);
	if (len < SDT_HEADER_LEN || len > TABLE_MAX_LEN || len > limit - pa || !acpi_checksum_ok(t, len)) {
		ai->bad_tables++;
		return NULL;
	}
	return t;
}

static void parse_madt(struct acpi_info *ai, const uint8_t *t)
{
	uint32_t len = rd32(t + 4);

	if (len < 44)
		return;
	ai->have_madt = true;
	ai->madt_addr = (uintptr_t)t;
	ai->lapic_base = rd32(t + 36);
	for (uint32_t off = 44; off + 2 <= len;) {
		const uint8_t *e = t + off;
		uint8_t type = e[0], elen = e[1];
		if (elen < 2 || elen > len - off)
			break; /* malformed: stop rather than loop or overrun */
		if (type == 0 && elen >= 8) { /* processor local APIC */
			uint32_t flags = rd32(e + 4);
			if (flags & 1) { /* enabled */
				if (ai->ncpus < ACPI_MAX_CPUS)
					ai->apic_id[ai->ncpus] = e[3];
				ai->ncpus++;
			} else {
				ai->ncpus_disabled++;
			}
		} else if (type == 9 && elen >= 16) { /* processor local x2APIC */
			uint32_t flags = rd32(e + 8);
			if (flags & 1) {
				if (ai->ncpus < ACPI_MAX_CPUS)
					ai->apic_id[ai->ncpus] = rd32(e + 4);
				ai->ncpus++;
			} else {
				ai->ncpus_disabled++;
			}
		} else if (type == 1 && elen >= 12) { /* IOAPIC */
			if (ai->nioapics < ACPI_MAX_IOAPICS) {
				ai->ioapic[ai->nioapics].id = e[2];
				ai->ioapic[ai->nioapics].addr = rd32(e + 4);
				ai->ioapic[ai->nioapics].gsi_base = rd32(e + 8);
				ai->nioapics++;
			}
		} else if (type == 5 && elen >= 12) { /* local APIC address override */
			ai->lapic_base = rd64(e + 4);
		}
		off += elen;
	}
}

unsigned acpi_madt_restrict(uint8_t *madt, const uint32_t *keep, unsigned nkeep)
{
	uint32_t len = rd32(madt + 4);
	unsigned disabled = 0;

	for (uint32_t off = 44; off + 2 <= len;) {
		uint8_t *e = madt + off;
		uint8_t type = e[0], elen = e[1];
		if (elen < 2 || elen > len - off)
			break;
		/* The flags and the APIC ID of a local APIC or x2APIC entry. */
		uint8_t *flags = type == 0 && elen >= 8 ? e + 4 : type == 9 && elen >= 16 ? e + 8 : NULL;
		uint32_t id = type == 0 ? e[3] : flags ? rd32(e + 4) : 0;
		bool kept = false;
		for (unsigned i = 0; flags && i < nkeep; i++)
			kept |= keep[i] == id;
		if (flags && !kept && (flags[0] & 1)) {
			flags[0] &= (uint8_t)~1u;
			disabled++;
		}
		off += elen;
	}
	/* The bytes, the checksum at offset 9 included, sum to zero. */
	uint8_t sum = 0;
	madt[9] = 0;
	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + madt[i]);
	madt[9] = (uint8_t)-sum;
	return disabled;
}

static struct acpi_gas gas_at(const uint8_t *p)
{
	return (struct acpi_gas){ p[0], p[1], p[2], p[3], rd64(p + 4) };
}

/* An IO-port GAS for a legacy 32-bit block address, as older FADTs give. */
static struct acpi_gas gas_io(uint32_t port)
{
	return (struct acpi_gas){ ACPI_SPACE_IO, 16, 0, 2, port };
}

/* AML PkgLength (ACPI 20.2.4): returns the bytes it occupies, 0 if bad. */
static size_t pkg_length_bytes(const uint8_t *p, size_t avail)
{
	if (avail == 0)
		return 0;
	size_t n = 1 + (p[0] >> 6);
	return n <= avail ? n : 0;
}

/* One AML integer data object: Zero, One, Ones, or BytePrefix + byte. */
static bool aml_byte(const uint8_t *p, size_t avail, uint8_t *v, size_t *used)
{
	if (avail >= 1 && (p[0] == 0x00 || p[0] == 0x01)) {
		*v = p[0];
		*used = 1;
		return true;
	}
	if (avail >= 2 && p[0] == 0x0a) {
		*v = p[1];
		*used = 2;
		return true;
	}
	return false;
}

bool acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typ_a, uint8_t *typ_b)
{
	for (size_t i = 0; i + 4 < len; i++) {
		if (memcmp(aml + i, "_S5_", 4))
			continue;
		/* Name(_S5_, Package(n) {a, b, ...}): 0x08 NameOp before the name
		 * (maybe with a '\' root prefix), 0x12 PackageOp after it. */
		if (i == 0 || (aml[i - 1] != 0x08 && !(i >= 2 && aml[i - 1] == '\\' && aml[i - 2] == 0x08)))
			continue;
		size_t p = i + 4;
		if (p >= len || aml[p] != 0x12)
			continue;
		p++;
		size_t pl = pkg_length_bytes(aml + p, len - p);
		if (!pl)
			return false;
		p += pl + 1; /* PkgLength, NumElements */
		size_t used;
		if (p >= len || !aml_byte(aml + p, len - p, typ_a, &used))
			return false;
		p += used;
		if (!aml_byte(aml + p, len - p, typ_b, &used))
			*typ_b = *typ_a;
		return true;
	}
	return false;
}

static void parse_fadt(struct acpi_info *ai, const uint8_t *t, struct window w)
{
	uint32_t len = rd32(t + 4);

	if (len < 116)
		return;
	ai->have_fadt = true;
	ai->smi_cmd = rd32(t + 48);
	ai->acpi_enable = t[52];
	ai->acpi_disable = t[53];
	ai->s4bios_req = t[54];
	ai->pstate_cnt = t[55];
	ai->cst_cnt = t[95];
	ai->hw_reduced = rd32(t + 112) & (1u << 20); /* HW_REDUCED_ACPI */
	ai->pm1a_cnt = gas_io(rd32(t + 64));
	ai->pm1b_cnt = gas_io(rd32(t + 68));
	uint64_t dsdt = rd32(t + 40);
	if (len >= 129) {
		ai->reset_supported = rd32(t + 112) & (1u << 10); /* RESET_REG_SUP */
		ai->reset_reg = gas_at(t + 116);
		ai->reset_value = t[128];
	}
	if (len >= 148 && rd64(t + 140))
		dsdt = rd64(t + 140); /* X_DSDT */
	/* The extended PM1 control blocks win when they are filled in. */
	if (len >= 184 && rd64(t + 172 + 4))
		ai->pm1a_cnt = gas_at(t + 172);
	if (len >= 196 && rd64(t + 184 + 4))
		ai->pm1b_cnt = gas_at(t + 184);
	if (len >= 256)
		ai->sleep_control = gas_at(t + 244); /* SLEEP_CONTROL_REG (ACPI 5.0+) */

	const uint8_t *d = table_at(ai, dsdt, w);
	if (d && !memcmp(d, "DSDT", 4))
		ai->have_s5 = acpi_find_s5(d + SDT_HEADER_LEN, rd32(d + 4) - SDT_HEADER_LEN, &ai->slp_typ_a,
					   &ai->slp_typ_b);
}

/* The first MCFG entry of segment 0 that covers bus 0: the one the
 * chipset's own functions are in (PCI Firmware 3.2, table 4-3). */
static void parse_mcfg(struct acpi_info *ai, const uint8_t *t)
{
	uint32_t len = rd32(t + 4);

	for (uint32_t off = 44; off + 16 <= len; off += 16) {
		const uint8_t *e = t + off;
		if (rd16(e + 8) != 0 || e[10] != 0 || e[11] < e[10])
			continue;
		ai->have_mcfg = true;
		ai->mcfg_base = rd64(e);
		ai->mcfg_bus_start = e[10];
		ai->mcfg_bus_end = e[11];
		return;
	}
}

bool acpi_parse(uint64_t rsdp_addr, uint64_t lo, uint64_t limit, struct acpi_info *ai)
{
	const struct window w = { lo, limit };

	memset(ai, 0, sizeof(*ai));
	if (rsdp_addr == 0 || rsdp_addr < lo || rsdp_addr >= limit || limit - rsdp_addr < 20)
		return false;
	const uint8_t *r = ptr(rsdp_addr);
	if (!acpi_rsdp_valid(r, limit - rsdp_addr))
		return false;
	ai->rsdp_addr = rsdp_addr;
	ai->revision = r[15];
	memcpy(ai->oem, r + 9, 6);

	/* The XSDT (64-bit entries) when the RSDP is ACPI 2.0+ and gives one,
	 * else the RSDT (32-bit entries). */
	uint64_t root = rd32(r + 16);
	unsigned esize = 4;
	if (ai->revision >= 2 && rd64(r + 24)) {
		root = rd64(r + 24);
		esize = 8;
	}
	const uint8_t *rt = table_at(ai, root, w);
	if (!rt)
		return false;
	uint32_t n = (rd32(rt + 4) - SDT_HEADER_LEN) / esize;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = rt + SDT_HEADER_LEN + i * esize;
		const uint8_t *t = table_at(ai, esize == 8 ? rd64(e) : rd32(e), w);
		if (!t)
			continue;
		ai->tables++;
		if (!memcmp(t, "APIC", 4) && !ai->have_madt)
			parse_madt(ai, t);
		else if (!memcmp(t, "FACP", 4) && !ai->have_fadt)
			parse_fadt(ai, t, w);
		else if (!memcmp(t, "MCFG", 4) && !ai->have_mcfg)
			parse_mcfg(ai, t);
	}
	return true;
}
