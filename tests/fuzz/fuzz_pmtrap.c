/* The decoding of a passthrough OS's writes against the power registers
 * (vmx/dev/pt/pmtrap.c): the first bytes are an ACPI description (register
 * addresses, spaces, S5 types, SMI values) and a chipset's configuration
 * space; the rest is writes, 14 bytes each (space, size, address, value),
 * and port accesses through CONFIG_ADDRESS; the writes forwarded are
 * tracked (the keyboard controller's pending command). Contracts checked: a verdict
 * names its register exactly when it is not "forward", that register is
 * one of the set and the write touches it. */
#include "fuzz.h"

#include "drivers/acpi.h"
#include "vmx/dev/pt/pmtrap.h"

struct in {
	const uint8_t *d;
	size_t n;
};

static uint64_t take(struct in *in, size_t k)
{
	uint64_t v = 0;
	if (k > in->n)
		k = in->n;
	memcpy(&v, in->d, k);
	in->d += k;
	in->n -= k;
	return v;
}

static struct acpi_gas gas(struct in *in)
{
	uint8_t space = (uint8_t)take(in, 1) & 3;
	return (struct acpi_gas){ space, 8, 0, 1, take(in, 4) | (take(in, 1) << 32) };
}

static uint32_t cfg_space[64];

/* Configuration space from the input: 64 dwords, repeated. */
static uint32_t read_cfg(void *ctx, uint64_t cfg)
{
	(void)ctx;
	return cfg_space[((cfg >> 2) ^ (cfg >> 12) ^ (cfg >> 15)) & 63];
}

static void check(const struct pm_regs *r, struct pm_decision d, enum pm_space space, uint64_t addr, unsigned size,
		  uint64_t val)
{
	if ((d.verdict == PM_FORWARD) != (d.reg == NULL))
		abort();
	if (!d.reg)
		return;
	uint32_t v, m;
	if (d.reg < r->reg || d.reg >= r->reg + r->n || d.reg->space != space ||
	    !pm_overlap(addr, size, val, d.reg->addr, d.reg->len, &v, &m) || v != d.value || (v & ~m))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct acpi_info a = { 0 };
	a.rsdp_addr = 1;
	a.have_fadt = take(&in, 1) & 1;
	a.pm1a_cnt = gas(&in);
	a.pm1b_cnt = gas(&in);
	a.sleep_control = gas(&in);
	a.reset_reg = gas(&in);
	a.reset_supported = take(&in, 1) & 1;
	a.reset_value = (uint8_t)take(&in, 1);
	a.smi_cmd = (uint32_t)take(&in, 4);
	a.acpi_enable = (uint8_t)take(&in, 1);
	a.acpi_disable = (uint8_t)take(&in, 1);
	a.pstate_cnt = (uint8_t)take(&in, 1);
	a.cst_cnt = (uint8_t)take(&in, 1);
	a.have_s5 = take(&in, 1) & 1;
	a.slp_typ_a = (uint8_t)take(&in, 1);
	a.slp_typ_b = (uint8_t)take(&in, 1);
	struct pm_regs r;
	pm_regs_from_acpi(&r, (take(&in, 1) & 1) ? NULL : &a);
	for (unsigned i = 0; i < 64; i++)
		cfg_space[i] = (uint32_t)take(&in, 4);
	pm_add_chipset_guards(&r, (uint16_t)a.pm1a_cnt.address, read_cfg, NULL);
	uint64_t window;
	take(&in, 8); /* once an MCFG base: the seeds keep their layout */
	pm_add_ecam_guard(&r, read_cfg, NULL, &window);
	if (window & 0x3ffffff)
		abort(); /* a window is 64 MiB-aligned */
	if (r.n > PM_MAX_REGS)
		abort();
	while (in.n) {
		enum pm_space space = (enum pm_space)(take(&in, 1) % 3);
		unsigned sz = (unsigned)take(&in, 1) % 10; /* 0 and 9: refused sizes too */
		uint64_t addr = take(&in, 4) | (take(&in, 1) << 32), val = take(&in, 8);
		if (addr & (1ull << 39))
			addr = ~addr; /* near the top of the address space */
		struct pm_decision d = pm_decide(&r, space, addr, sz, val);
		check(&r, d, space, addr, sz, val);
		if (d.verdict == PM_FORWARD) /* as the hypervisor does after the write */
			pm_track(&r, space, addr, sz, val);
		uint64_t cfg;
		unsigned n;
		uint32_t cv;
		if (pm_cf8_access((uint32_t)(val >> 32), (uint16_t)addr, sz, (uint32_t)val, &cfg, &n, &cv)) {
			if (n < 1 || n > 4 || (cfg & 0xfff) + n > 0x100 || (n < 4 && cv >> (8 * n)))
				abort();
			check(&r, pm_decide(&r, PM_PCI, cfg, n, cv), PM_PCI, cfg, n, cv);
		}
	}
	return 0;
}
