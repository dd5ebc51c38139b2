/* The power registers a passthrough OS is watched through (vmx/dev/pt/pmtrap.c):
 * writes of every size and alignment against them, PCI configuration
 * writes through 0xCF8/0xCFC and ECAM against the chipset's PM base. */
#include "unit.h"

#include "drivers/acpi.h"
#include "vmx/dev/pt/pmtrap.h"

/* Bochs' PIIX4: PM1a_CNT at 0xb004, SMI_CMD 0xb2 (ACPI on 0xf1, off 0xf0), S5 type 0. */
static void bochs(struct pm_regs *r)
{
	struct acpi_info a = { 0 };
	a.rsdp_addr = 0xf0000;
	a.have_fadt = true;
	a.pm1a_cnt = (struct acpi_gas){ ACPI_SPACE_IO, 16, 0, 2, 0xb004 };
	a.pm1b_cnt = (struct acpi_gas){ ACPI_SPACE_IO, 16, 0, 2, 0 };
	a.smi_cmd = 0xb2;
	a.acpi_enable = 0xf1;
	a.acpi_disable = 0xf0;
	a.s4bios_req = 0xf2; /* not let through */
	a.have_s5 = true;
	pm_regs_from_acpi(r, &a);
}

static enum pm_verdict io(const struct pm_regs *r, uint64_t port, unsigned size, uint64_t val)
{
	return pm_decide(r, PM_IO, port, size, val).verdict;
}

static void test_overlap(void **state)
{
	(void)state;
	uint32_t v, m;
	assert_true(pm_overlap(0xb004, 2, 0x2001, 0xb004, 2, &v, &m));
	assert_int_equal(v, 0x2001);
	assert_int_equal(m, 0xffff);
	assert_true(pm_overlap(0xb005, 1, 0x24, 0xb004, 2, &v, &m)); /* the high byte alone */
	assert_int_equal(v, 0x2400);
	assert_int_equal(m, 0xff00);
	assert_true(pm_overlap(0xb003, 4, 0xff2000ff, 0xb004, 2, &v, &m)); /* bytes 1-2 of a dword */
	assert_int_equal(v, 0x2000);
	assert_int_equal(m, 0xffff);
	assert_true(pm_overlap(0xb001, 4, 0x00aa0000, 0xb004, 2, &v, &m)); /* only its last byte */
	assert_int_equal(m, 0x00ff);
	assert_int_equal(v, 0);
	assert_false(pm_overlap(0xb000, 4, ~0ull, 0xb004, 2, &v, &m));
	assert_false(pm_overlap(0xb006, 4, ~0ull, 0xb004, 2, &v, &m));
	assert_true(pm_overlap(0x1000, 8, 0x1122334455667788ull, 0x1006, 4, &v, &m)); /* a qword over its start */
	assert_int_equal(v, 0x1122);
	assert_int_equal(m, 0xffff);
	/* Near the top of the address space nothing wraps. */
	assert_false(pm_overlap(UINT64_MAX - 1, 8, ~0ull, 0, 4, &v, &m));
	assert_true(pm_overlap(UINT64_MAX - 3, 4, 0xaabbccdd, UINT64_MAX - 1, 2, &v, &m));
	assert_int_equal(v, 0xaabb);
}

static void test_pm1_any_size_and_alignment(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	assert_int_equal(io(&r, 0xb004, 2, 0x2000), PM_POWEROFF); /* S5 as an OS writes it */
	assert_int_equal(io(&r, 0xb005, 1, 0x20), PM_POWEROFF);
	assert_int_equal(io(&r, 0xb005, 1, 0x24), PM_SLEEP); /* SLP_TYP 1 */
	struct pm_decision d = pm_decide(&r, PM_IO, 0xb005, 1, 0x24);
	assert_int_equal(d.typ, 1);
	assert_int_equal(d.reg->kind, PM_PM1A_CNT);
	assert_int_equal(io(&r, 0xb003, 4, 0xff2000ff), PM_POWEROFF);
	assert_int_equal(io(&r, 0xb002, 4, 0x34000000), PM_SLEEP); /* byte 3 is CNT's high byte: type 5 */
	assert_int_equal(io(&r, 0xb005, 2, 0xff38), PM_SLEEP);	   /* a word at +1, type 6 */
	/* No SLP_EN, or not on CNT: the write goes through as it is. */
	assert_int_equal(io(&r, 0xb004, 1, 0x01), PM_FORWARD);
	assert_int_equal(io(&r, 0xb004, 2, 0x1c01), PM_FORWARD);
	assert_int_equal(io(&r, 0xb004, 1, 0x20), PM_FORWARD); /* bit 5 of the low byte is not SLP_EN */
	assert_int_equal(io(&r, 0xb000, 4, 0x20002000), PM_FORWARD);
	assert_int_equal(io(&r, 0xb006, 2, 0x2000), PM_FORWARD);
	assert_null(pm_decide(&r, PM_IO, 0xb004, 1, 1).reg);
	/* The same address in memory is another register. */
	assert_int_equal(pm_decide(&r, PM_MEM, 0xb004, 2, 0x2000).verdict, PM_FORWARD);
	/* A bad size decides nothing. */
	assert_int_equal(io(&r, 0xb004, 0, 0x2000), PM_FORWARD);
	assert_int_equal(io(&r, 0xb004, 9, 0x2000), PM_FORWARD);
}

static void test_pm1b_and_sleep_control(void **state)
{
	(void)state;
	struct acpi_info a = { 0 };
	a.rsdp_addr = 1;
	a.have_fadt = true;
	a.pm1a_cnt = (struct acpi_gas){ ACPI_SPACE_MEMORY, 16, 0, 2, 0xfed00004 };
	a.pm1b_cnt = (struct acpi_gas){ ACPI_SPACE_IO, 16, 0, 2, 0x804 };
	a.sleep_control = (struct acpi_gas){ ACPI_SPACE_MEMORY, 8, 0, 1, 0xfed01004 };
	a.have_s5 = true;
	a.slp_typ_a = 7;
	a.slp_typ_b = 3;
	struct pm_regs r;
	pm_regs_from_acpi(&r, &a);
	/* PM1a in memory, as a qword that covers it */
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed00000, 8, 0x00003c0000000000ull).verdict, PM_POWEROFF);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed00005, 1, 0x2c).verdict, PM_SLEEP);
	assert_int_equal(pm_decide(&r, PM_IO, 0xfed00005 & 0xffff, 1, 0x3c).verdict, PM_FORWARD);
	/* PM1b: its own S5 type */
	assert_int_equal(io(&r, 0x805, 1, 0x2c), PM_POWEROFF);
	assert_int_equal(io(&r, 0x805, 1, 0x3c), PM_SLEEP);
	/* the hardware-reduced sleep control register: SLP_EN 5, SLP_TYP 4:2 */
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed01004, 1, 0x3c).verdict, PM_POWEROFF);
	struct pm_decision d = pm_decide(&r, PM_MEM, 0xfed01004, 4, 0x24);
	assert_int_equal(d.verdict, PM_SLEEP);
	assert_int_equal(d.typ, 1);
	assert_int_equal(d.reg->kind, PM_SLEEP_CTL);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed01004, 1, 0x1c).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed01000, 8, 0x2000000000ull).verdict, PM_SLEEP); /* type 0 */
	/* Without \_S5 every SLP_EN is a sleep the hypervisor cannot resume. */
	a.have_s5 = false;
	pm_regs_from_acpi(&r, &a);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed01004, 1, 0x3c).verdict, PM_SLEEP);
}

static void test_resets(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	assert_int_equal(io(&r, 0xcf9, 1, 0x06), PM_RESET);
	assert_int_equal(io(&r, 0xcf9, 1, 0x02), PM_FORWARD); /* SYS_RST without RST_CPU */
	assert_int_equal(io(&r, 0xcf8, 2, 0x0400), PM_RESET); /* its byte in a word at 0xcf8 */
	assert_int_equal(io(&r, 0x64, 1, 0xfe), PM_RESET);
	assert_int_equal(io(&r, 0x64, 1, 0xd1), PM_FORWARD);
	assert_int_equal(io(&r, 0x63, 2, 0xfe00), PM_RESET);
	/* the FADT's reset register, in memory */
	struct acpi_info a = { 0 };
	a.rsdp_addr = 1;
	a.have_fadt = true;
	a.reset_supported = true;
	a.reset_reg = (struct acpi_gas){ ACPI_SPACE_MEMORY, 8, 0, 1, 0xfed02000 };
	a.reset_value = 0x0e;
	pm_regs_from_acpi(&r, &a);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed02000, 1, 0x0e).verdict, PM_RESET);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed01fff, 2, 0x0e00).verdict, PM_RESET);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed02000, 1, 0x0f).verdict, PM_FORWARD);
	/* RESET_REG_SUP clear: not watched */
	a.reset_supported = false;
	pm_regs_from_acpi(&r, &a);
	assert_int_equal(pm_decide(&r, PM_MEM, 0xfed02000, 1, 0x0e).verdict, PM_FORWARD);
}

/* A write the hypervisor lets through, as passthrough_port does it. */
static enum pm_verdict io_done(struct pm_regs *r, uint64_t port, unsigned size, uint64_t val)
{
	enum pm_verdict v = io(r, port, size, val);
	if (v == PM_FORWARD)
		pm_track(r, PM_IO, port, size, val);
	return v;
}

/* Every 8042 command that pulses the reset line (0xF0-0xFE with bit 0
 * clear), and the output port written through 0xD1 with bit 0 clear. */
/* Port 0x92: bit 0 resets, bit 1 (A20) and the rest go through, at any
 * width that puts a byte there. */
static void test_fast_reset(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	assert_int_equal(io(&r, 0x92, 1, 0x02), PM_FORWARD);
	assert_int_equal(io(&r, 0x92, 1, 0x00), PM_FORWARD);
	assert_int_equal(io(&r, 0x92, 1, 0x03), PM_RESET);
	assert_int_equal(io(&r, 0x92, 1, 0x01), PM_RESET);
	assert_int_equal(io(&r, 0x91, 2, 0x0100), PM_RESET);
	assert_int_equal(io(&r, 0x90, 4, 0x00020000), PM_FORWARD);
	assert_int_equal(io(&r, 0x93, 1, 0x01), PM_FORWARD);
}

static void test_kbc_resets(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	for (unsigned c = 0xf0; c <= 0xff; c++)
		assert_int_equal(io(&r, 0x64, 1, c), c & 1 ? PM_FORWARD : PM_RESET);
	assert_int_equal(io(&r, 0x64, 1, 0xef), PM_FORWARD);
	assert_int_equal(io(&r, 0x64, 1, 0x0e), PM_FORWARD);
	/* any width or alignment that puts the byte at 0x64 */
	assert_int_equal(io(&r, 0x64, 2, 0x00f0), PM_RESET);
	assert_int_equal(io(&r, 0x63, 2, 0xf400), PM_RESET);
	assert_int_equal(io(&r, 0x61, 4, 0xfa000000), PM_RESET);
	assert_int_equal(io(&r, 0x61, 4, 0xfb000000), PM_FORWARD);
	assert_int_equal(io(&r, 0x62, 2, 0xf0f0), PM_FORWARD); /* 0x62-0x63 only */

	/* 0xD1, then the output port: A20 gating keeps bit 0 set. */
	bochs(&r);
	assert_int_equal(io_done(&r, 0x64, 1, 0xd1), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x60, 1, 0xdf), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x60, 1, 0xde), PM_FORWARD); /* the data byte took the command */
	assert_int_equal(io_done(&r, 0x64, 1, 0xd1), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x60, 1, 0xde), PM_RESET);
	struct pm_decision d = pm_decide(&r, PM_IO, 0x60, 1, 0xde);
	assert_int_equal(d.reg->kind, PM_KBC_DATA);
	assert_int_equal(d.value, 0xde);
	/* ... as a word at 0x60 (0x61 is port B), or a dword ending there */
	assert_int_equal(io(&r, 0x60, 2, 0x00fe), PM_RESET);
	assert_int_equal(io(&r, 0x5d, 4, 0x02000000), PM_RESET);
	assert_int_equal(io(&r, 0x5d, 4, 0x03000000), PM_FORWARD);
	assert_int_equal(io(&r, 0x61, 1, 0x00), PM_FORWARD);
	/* Another command in between replaces 0xD1: Linux's A20 code
	 * writes 0xFF after it. */
	assert_int_equal(io_done(&r, 0x64, 1, 0xff), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x60, 1, 0x00), PM_FORWARD);
	/* a command through a word at 0x63, its byte through a word at 0x5f */
	assert_int_equal(io_done(&r, 0x63, 2, 0xd100), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x5f, 2, 0x0000), PM_RESET);
	/* Reads take nothing: only writes are tracked. Without a pending
	 * command, data bytes go to the keyboard. */
	bochs(&r);
	assert_int_equal(io_done(&r, 0x60, 1, 0xf4), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x64, 1, 0x60), PM_FORWARD); /* write the command byte */
	assert_int_equal(io_done(&r, 0x60, 1, 0x46), PM_FORWARD);
	/* A port write elsewhere leaves the pending command alone. */
	assert_int_equal(io_done(&r, 0x64, 1, 0xd1), PM_FORWARD);
	assert_int_equal(io_done(&r, 0x80, 1, 0x00), PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_MEM, 0x60, 1, 0x00).verdict, PM_FORWARD);
	assert_int_equal(io(&r, 0x60, 1, 0x00), PM_RESET);
}

static void test_smi_command(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	assert_int_equal(io(&r, 0xb2, 1, 0xf1), PM_FORWARD); /* ACPI_ENABLE */
	assert_int_equal(io(&r, 0xb2, 1, 0xf0), PM_FORWARD); /* ACPI_DISABLE */
	assert_int_equal(io(&r, 0xb2, 1, 0xf2), PM_REFUSE);  /* S4BIOS_REQ */
	assert_int_equal(io(&r, 0xb2, 1, 0x5a), PM_REFUSE);
	assert_int_equal(io(&r, 0xb2, 1, 0x00), PM_REFUSE);
	assert_int_equal(io(&r, 0xb2, 2, 0x5af1), PM_FORWARD); /* 0xb3 is APM status, a scratch byte */
	assert_int_equal(io(&r, 0xb1, 2, 0x5a00), PM_REFUSE);
	assert_int_equal(io(&r, 0xb3, 1, 0x5a), PM_FORWARD);
	struct pm_decision d = pm_decide(&r, PM_IO, 0xb0, 4, 0x005a0000);
	assert_int_equal(d.verdict, PM_REFUSE);
	assert_int_equal(d.reg->kind, PM_SMI_CMD);
	assert_int_equal(d.value, 0x5a);
	/* Another SMI command port: both it and 0xB2 are watched. */
	struct acpi_info a = { 0 };
	a.rsdp_addr = 1;
	a.have_fadt = true;
	a.smi_cmd = 0x52e;
	a.acpi_enable = 0xa0;
	a.pstate_cnt = 0x80;
	a.cst_cnt = 0x85;
	pm_regs_from_acpi(&r, &a);
	assert_int_equal(io(&r, 0x52e, 1, 0xa0), PM_FORWARD);
	assert_int_equal(io(&r, 0x52e, 1, 0x80), PM_FORWARD);
	assert_int_equal(io(&r, 0x52e, 1, 0x85), PM_FORWARD);
	assert_int_equal(io(&r, 0x52e, 1, 0x00), PM_REFUSE); /* ACPI_DISABLE 0: none given */
	assert_int_equal(io(&r, 0xb2, 1, 0x42), PM_REFUSE);
	/* No ACPI at all: 0xB2 takes no command. */
	pm_regs_from_acpi(&r, NULL);
	assert_int_equal(io(&r, 0xb2, 1, 0xf1), PM_REFUSE);
	assert_int_equal(io(&r, 0xcf9, 1, 0x06), PM_RESET);
}

/* Sleep beats reset beats refusal, whichever register comes first. */
static void test_strongest_verdict(void **state)
{
	(void)state;
	struct pm_regs r = { 0 };
	assert_true(pm_add(&r, PM_SMI_CMD, PM_IO, 0x100, 1));
	assert_true(pm_add(&r, PM_RESET_KBC, PM_IO, 0x101, 1));
	assert_true(pm_add(&r, PM_PM1A_CNT, PM_IO, 0x102, 2));
	assert_int_equal(io(&r, 0x100, 4, 0x2400fe5a), PM_SLEEP);
	assert_int_equal(io(&r, 0x100, 4, 0x0000fe5a), PM_RESET);
	assert_int_equal(io(&r, 0x100, 4, 0x00000e5a), PM_REFUSE);
	assert_false(pm_add(&r, PM_GUARD, PM_PCI, 0, 5));
	assert_false(pm_add(&r, PM_GUARD, PM_PCI, 0, 0));
	while (r.n < PM_MAX_REGS)
		assert_true(pm_add(&r, PM_RESET_KBC, PM_IO, 0x200 + r.n, 1));
	assert_false(pm_add(&r, PM_RESET_KBC, PM_IO, 0x300, 1));
}

static void test_cf8(void **state)
{
	(void)state;
	uint64_t cfg;
	unsigned n;
	uint32_t v;
	const uint32_t piix4_pm = 0x80000b40; /* 00:01.3, register 0x40 */
	assert_true(pm_cf8_access(piix4_pm, 0xcfc, 4, 0x6001, &cfg, &n, &v));
	assert_int_equal(cfg, pm_cfg(0, 1, 3, 0x40));
	assert_int_equal(n, 4);
	assert_int_equal(v, 0x6001);
	assert_true(pm_cf8_access(piix4_pm, 0xcfd, 1, 0x60, &cfg, &n, &v));
	assert_int_equal(cfg, pm_cfg(0, 1, 3, 0x41));
	assert_int_equal(n, 1);
	assert_int_equal(v, 0x60);
	assert_true(pm_cf8_access(piix4_pm | 3, 0xcfe, 2, 0xbeef, &cfg, &n, &v)); /* CF8 bits 1:0 are not the offset */
	assert_int_equal(cfg, pm_cfg(0, 1, 3, 0x42));
	assert_int_equal(n, 2);
	assert_true(pm_cf8_access(piix4_pm, 0xcfe, 4, 0x11223344, &cfg, &n, &v)); /* past 0xcff: not config */
	assert_int_equal(cfg, pm_cfg(0, 1, 3, 0x42));
	assert_int_equal(n, 2);
	assert_int_equal(v, 0x3344);
	assert_true(pm_cf8_access(piix4_pm, 0xcfa, 4, 0x11223344, &cfg, &n, &v)); /* before 0xcfc */
	assert_int_equal(cfg, pm_cfg(0, 1, 3, 0x40));
	assert_int_equal(n, 2);
	assert_int_equal(v, 0x1122);
	assert_true(pm_cf8_access(0x80fffffc, 0xcfc, 1, 0, &cfg, &n, &v)); /* bus 255, device 31, function 7 */
	assert_int_equal(cfg, pm_cfg(255, 31, 7, 0xfc));
	assert_false(pm_cf8_access(piix4_pm & ~0x80000000u, 0xcfc, 4, 0, &cfg, &n, &v)); /* enable clear */
	assert_false(pm_cf8_access(piix4_pm, 0xcf8, 4, 0, &cfg, &n, &v));
	assert_false(pm_cf8_access(piix4_pm, 0xd00, 4, 0, &cfg, &n, &v));
}

/* A fake configuration space: dwords by ECAM offset, all ones elsewhere. */
struct fake_cfg {
	uint64_t at[16];
	uint32_t val[16];
	unsigned n;
};

static uint32_t fake_read(void *ctx, uint64_t cfg)
{
	struct fake_cfg *f = ctx;
	for (unsigned i = 0; i < f->n; i++)
		if (f->at[i] == (cfg & ~3ull))
			return f->val[i];
	return 0xffffffff;
}

static void fake_set(struct fake_cfg *f, uint64_t cfg, uint32_t val)
{
	f->at[f->n] = cfg;
	f->val[f->n++] = val;
}

static void test_piix4_guard(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	struct fake_cfg f = { 0 };
	fake_set(&f, pm_cfg(0, 1, 3, 0), 0x71138086);
	fake_set(&f, pm_cfg(0, 1, 3, 0x40), 0xb001);
	fake_set(&f, pm_cfg(0, 1, 3, 0x80), 0x01); /* PMIOSE */
	assert_int_equal(pm_add_chipset_guards(&r, 0xb004, fake_read, &f), 2);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x40), 4, 0x6001).verdict, PM_REFUSE);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x41), 1, 0x60).verdict, PM_REFUSE);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x40), 1, 0x81).verdict, PM_REFUSE); /* bits 7:6 */
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x40), 4, 0xb001).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x40), 4, 0xffffb03f).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x42), 2, 0xffff).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x80), 1, 0x00).verdict, PM_REFUSE); /* decode off */
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 3, 0x80), 4, 0xff03).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 1, 2, 0x40), 4, 0x6001).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(1, 1, 3, 0x40), 4, 0x6001).verdict, PM_FORWARD);
	/* A port write of the same numbers is not a configuration write. */
	assert_int_equal(pm_decide(&r, PM_IO, pm_cfg(0, 1, 3, 0x40), 4, 0x6001).verdict, PM_FORWARD);
	/* The same through 0xCF8/0xCFC, as the hypervisor chains them. */
	uint64_t cfg;
	unsigned n;
	uint32_t v;
	assert_true(pm_cf8_access(0x80000b40, 0xcfd, 1, 0x60, &cfg, &n, &v));
	assert_int_equal(pm_decide(&r, PM_PCI, cfg, n, v).verdict, PM_REFUSE);
}

static void test_ich_and_pmc_guards(void **state)
{
	(void)state;
	struct pm_regs r;
	bochs(&r);
	struct fake_cfg f = { 0 };
	/* Q35's ICH9 LPC bridge: PMBASE 0x600 (PM1a_CNT 0x604), ACPI_EN */
	fake_set(&f, pm_cfg(0, 0x1f, 0, 0), 0x29188086);
	fake_set(&f, pm_cfg(0, 0x1f, 0, 8), 0x06010002);
	fake_set(&f, pm_cfg(0, 0x1f, 0, 0x40), 0x601);
	fake_set(&f, pm_cfg(0, 0x1f, 0, 0x44), 0x80);
	/* its SATA controller at 1f.2, whose register 0x40 is no PM base */
	fake_set(&f, pm_cfg(0, 0x1f, 2, 0), 0x29228086);
	fake_set(&f, pm_cfg(0, 0x1f, 2, 8), 0x01060102);
	fake_set(&f, pm_cfg(0, 0x1f, 2, 0x40), 0x601);
	assert_int_equal(pm_add_chipset_guards(&r, 0x604, fake_read, &f), 2);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 0, 0x40), 2, 0x6001).verdict, PM_REFUSE);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 0, 0x40), 1, 0x81).verdict, PM_REFUSE); /* bit 7 */
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 0, 0x40), 1, 0x41).verdict, PM_FORWARD);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 0, 0x44), 1, 0x00).verdict, PM_REFUSE);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 0, 0x44), 4, 0x83).verdict, PM_FORWARD); /* SCI IRQ */
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 2, 0x40), 4, 0x6001).verdict, PM_FORWARD);
	/* A base elsewhere than the FADT's PM1 block: not the one. */
	bochs(&r);
	assert_int_equal(pm_add_chipset_guards(&r, 0xb004, fake_read, &f), 0);
	/* The PCH's PMC at 1f.2 (class 0x0580), decode off: the base only. */
	struct fake_cfg p = { 0 };
	fake_set(&p, pm_cfg(0, 0x1f, 2, 0), 0xa1218086);
	fake_set(&p, pm_cfg(0, 0x1f, 2, 8), 0x05800031);
	fake_set(&p, pm_cfg(0, 0x1f, 2, 0x40), 0x1801);
	fake_set(&p, pm_cfg(0, 0x1f, 2, 0x44), 0x00);
	bochs(&r);
	assert_int_equal(pm_add_chipset_guards(&r, 0x1804, fake_read, &p), 1);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 2, 0x41), 1, 0x19).verdict, PM_REFUSE);
	assert_int_equal(pm_decide(&r, PM_PCI, pm_cfg(0, 0x1f, 2, 0x40), 1, 0x81).verdict, PM_FORWARD); /* 15:8 only */
	/* Nothing there at all */
	struct fake_cfg none = { 0 };
	bochs(&r);
	assert_int_equal(pm_add_chipset_guards(&r, 0xb004, fake_read, &none), 0);
}

/* Q35's host bridge (8086:29c0), its PCIEXBAR as LO, HI. */
static void q35_bridge(struct fake_cfg *f, uint32_t lo, uint32_t hi)
{
	*f = (struct fake_cfg){ 0 };
	fake_set(f, pm_cfg(0, 0, 0, 0), 0x29c08086);
	fake_set(f, pm_cfg(0, 0, 0, 8), 0x06000002);
	fake_set(f, pm_cfg(0, 0, 0, 0x60), lo);
	fake_set(f, pm_cfg(0, 0, 0, 0x64), hi);
}

static enum pm_verdict cfg_write(const struct pm_regs *r, unsigned off, unsigned size, uint64_t val)
{
	return pm_decide(r, PM_PCI, pm_cfg(0, 0, 0, off), size, val).verdict;
}

static void test_ecam_guard(void **state)
{
	(void)state;
	struct pm_regs r;
	struct fake_cfg f;
	uint64_t window;
	/* On, at 0xb0000000 (256 buses): it stays there, MCFG or none. */
	bochs(&r);
	q35_bridge(&f, 0xb0000001, 0);
	assert_true(pm_add_ecam_guard(&r, fake_read, &f, &window));
	assert_int_equal(window, 0xb0000000);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xc0000001), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xb0000000), PM_REFUSE); /* off */
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xb0000003), PM_REFUSE); /* 128 buses */
	assert_int_equal(cfg_write(&r, 0x64, 4, 1), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x67, 1, 0x80), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xb0000001), PM_FORWARD);
	assert_int_equal(cfg_write(&r, 0x60, 8, 0x1b0000001ull), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x68, 4, 0xffffffff), PM_FORWARD);
	/* Skylake and later: length in bits 3:1 (0x6: 4 GiB), base above 4 GiB. */
	bochs(&r);
	q35_bridge(&f, 0x0000000d, 0x40);
	f.val[0] = 0x191f8086;
	assert_true(pm_add_ecam_guard(&r, fake_read, &f, &window));
	assert_int_equal(window, 0x4000000000ull);
	assert_int_equal(cfg_write(&r, 0x60, 1, 0x05), PM_REFUSE);
}

/* A PCIEXBAR that is off (which no MCFG names) is kept off. */
static void test_ecam_guard_off(void **state)
{
	(void)state;
	struct pm_regs r;
	struct fake_cfg f;
	uint64_t window;
	/* Turning it on, or a base set for later, is refused; writing it
	 * as it is goes through. */
	bochs(&r);
	q35_bridge(&f, 0xe0000000, 0);
	assert_true(pm_add_ecam_guard(&r, fake_read, &f, &window));
	assert_int_equal(window, 0);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xe0000001), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x60, 1, 0x01), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x63, 1, 0x10), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x64, 1, 0x01), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0xe0000000), PM_FORWARD);
	/* Off and never set. */
	bochs(&r);
	q35_bridge(&f, 0, 0);
	assert_true(pm_add_ecam_guard(&r, fake_read, &f, &window));
	assert_int_equal(cfg_write(&r, 0x60, 4, 0x80000001), PM_REFUSE);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0), PM_FORWARD);
}

/* Host bridges without a PCIEXBAR at 0x60 get no guard there. */
static void test_ecam_guard_not_there(void **state)
{
	(void)state;
	struct pm_regs r;
	struct fake_cfg f;
	uint64_t window = 1;
	/* the i440FX (Bochs, QEMU's pc): DRAM row boundaries, zero in rows
	 * 0-3 here, which would pass for a PCIEXBAR that is off */
	bochs(&r);
	q35_bridge(&f, 0x00000000, 0x10101010);
	f.val[0] = 0x12378086;
	unsigned n = r.n;
	assert_false(pm_add_ecam_guard(&r, fake_read, &f, &window));
	assert_int_equal(window, 0);
	assert_int_equal(r.n, n);
	assert_int_equal(cfg_write(&r, 0x60, 4, 0x80000001), PM_FORWARD);
	f.val[0] = 0x71908086; /* the 440BX */
	assert_false(pm_add_ecam_guard(&r, fake_read, &f, &window));
	/* Another Intel bridge whose 0x60 holds DRAM boundaries (reserved
	 * bits of a PCIEXBAR set). */
	q35_bridge(&f, 0x20201008, 0x40404040);
	f.val[0] = 0x25708086;
	assert_false(pm_add_ecam_guard(&r, fake_read, &f, &window));
	/* Not Intel's, or not a host bridge. */
	q35_bridge(&f, 0xb0000001, 0);
	f.val[0] = 0x14501022;
	assert_false(pm_add_ecam_guard(&r, fake_read, &f, &window));
	q35_bridge(&f, 0xb0000001, 0);
	f.val[1] = 0x06040000;
	assert_false(pm_add_ecam_guard(&r, fake_read, &f, &window));
	/* Nothing at 00:00.0 */
	struct fake_cfg none = { 0 };
	assert_false(pm_add_ecam_guard(&r, fake_read, &none, &window));
	assert_int_equal(r.n, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_pm1_any_size_and_alignment),
		cmocka_unit_test(test_pm1b_and_sleep_control),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_kbc_resets),
		cmocka_unit_test(test_fast_reset),
		cmocka_unit_test(test_smi_command),
		cmocka_unit_test(test_strongest_verdict),
		cmocka_unit_test(test_cf8),
		cmocka_unit_test(test_piix4_guard),
		cmocka_unit_test(test_ich_and_pmc_guards),
		cmocka_unit_test(test_ecam_guard),
		cmocka_unit_test(test_ecam_guard_off),
		cmocka_unit_test(test_ecam_guard_not_there),
	};
	return cmocka_run_group_tests_name("pmtrap", tests, NULL, NULL);
}
