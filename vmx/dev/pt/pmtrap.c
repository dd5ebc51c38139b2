#include "vmx/dev/pt/pmtrap.h"

#include "drivers/acpi.h"

#define PM1_SLP_EN (1u << 13)
#define SLEEP_CTL_SLP_EN (1u << 5)
#define CF9_RST_CPU 0x04
/* The 8042 keyboard controller: commands 0xF0-0xFF pulse the output
 * port's bits 3:0 that are clear in the command's, and bit 0 of that
 * port is the CPU's reset line (low: reset); command 0xD1 writes the
 * port with the next byte to the data port (IBM PC AT Technical
 * Reference, keyboard controller commands). */
#define KBC_PULSE 0xf0
#define KBC_RESET_LINE 0x01
#define KBC_WRITE_OUTPUT 0xd1
#define PORT_KBC_DATA 0x60
#define PORT_KBC_CMD 0x64
#define PORT_RESET_CONTROL 0xcf9
/* System control port A: bit 1 gates A20, a 0-to-1 change of bit 0 resets
 * the processor (an INIT on Intel's chipsets); OSes use it as a last
 * resort to reboot (FreeBSD's cpu_reset does). */
#define PORT_FAST_RESET 0x92
#define FAST_RESET 0x01
#define PORT_APM_CNT 0xb2 /* the chipset's APM control port, which raises an SMI */
#define PCI_DATA 0xcfc

bool pm_add(struct pm_regs *r, enum pm_kind kind, enum pm_space space, uint64_t addr, unsigned len)
{
	if (r->n == PM_MAX_REGS || len < 1 || len > 4)
		return false;
	r->reg[r->n++] = (struct pm_reg){ .kind = (uint8_t)kind, .space = (uint8_t)space, .len = (uint8_t)len,
					  .addr = addr };
	return true;
}

bool pm_add_guard(struct pm_regs *r, uint64_t cfg, unsigned len, uint32_t value, uint32_t mask)
{
	if (!pm_add(r, PM_GUARD, PM_PCI, cfg, len))
		return false;
	r->reg[r->n - 1].value = value & mask;
	r->reg[r->n - 1].mask = mask;
	return true;
}

/* A register the FADT gives as a GAS, in port or memory space. */
static void add_gas(struct pm_regs *r, enum pm_kind kind, const struct acpi_gas *g, unsigned len)
{
	if (!g->address)
		return;
	if (g->space == ACPI_SPACE_IO)
		pm_add(r, kind, PM_IO, g->address & 0xffff, len);
	else if (g->space == ACPI_SPACE_MEMORY)
		pm_add(r, kind, PM_MEM, g->address, len);
}

static void allow_smi(struct pm_regs *r, uint8_t value)
{
	if (value && r->nsmi_ok < PM_MAX_SMI_VALUES)
		r->smi_ok[r->nsmi_ok++] = value;
}

void pm_regs_from_acpi(struct pm_regs *r, const struct acpi_info *a)
{
	*r = (struct pm_regs){ 0 };
	/* The data port exits too, reads included: one exit per byte from
	 * the keyboard or mouse. */
	pm_add(r, PM_RESET_KBC, PM_IO, PORT_KBC_CMD, 1);
	pm_add(r, PM_KBC_DATA, PM_IO, PORT_KBC_DATA, 1);
	pm_add(r, PM_RESET_CF9, PM_IO, PORT_RESET_CONTROL, 1);
	pm_add(r, PM_RESET_FAST, PM_IO, PORT_FAST_RESET, 1);
	if (!a || !a->have_fadt) {
		pm_add(r, PM_SMI_CMD, PM_IO, PORT_APM_CNT, 1);
		return;
	}
	/* PM1x_CNT is two bytes (PM1_CNT_LEN; ACPI 6.4, 4.8.3.2.1). */
	add_gas(r, PM_PM1A_CNT, &a->pm1a_cnt, 2);
	add_gas(r, PM_PM1B_CNT, &a->pm1b_cnt, 2);
	add_gas(r, PM_SLEEP_CTL, &a->sleep_control, 1);
	/* RESET_REG is 8 bits wide (ACPI 6.4, table 5.9). */
	if (a->reset_supported)
		add_gas(r, PM_RESET_REG, &a->reset_reg, 1);
	r->reset_value = a->reset_value;
	r->have_s5 = a->have_s5;
	r->s5_a = a->slp_typ_a;
	r->s5_b = a->slp_typ_b;
	/* The SMI command port, and 0xB2 if that is another: the firmware's
	 * SMI handler runs out of the hypervisor's sight and may put the
	 * machine to sleep itself (S4BIOS_REQ, APM suspend). Only the values
	 * an ACPI OS has to send go through (ACPI 6.4, table 5.9). */
	if (a->smi_cmd && a->smi_cmd <= 0xffff)
		pm_add(r, PM_SMI_CMD, PM_IO, a->smi_cmd, 1);
	if (a->smi_cmd != PORT_APM_CNT)
		pm_add(r, PM_SMI_CMD, PM_IO, PORT_APM_CNT, 1);
	allow_smi(r, a->acpi_enable);
	allow_smi(r, a->acpi_disable);
	allow_smi(r, a->pstate_cnt);
	allow_smi(r, a->cst_cnt);
}

bool pm_overlap(uint64_t addr, unsigned size, uint64_t val, uint64_t reg, unsigned len, uint32_t *rval,
		uint32_t *rmask)
{
	uint32_t v = 0, m = 0;
	/* Byte i of the write is at addr + i; byte j of the register at
	 * reg + j. Differences are taken unsigned, so no sum wraps. */
	for (unsigned j = 0; j < len; j++) {
		uint64_t i = reg + j - addr;
		if (reg + j < addr || i >= size)
			continue;
		v |= (uint32_t)((val >> (8 * i)) & 0xff) << (8 * j);
		m |= 0xffu << (8 * j);
	}
	*rval = v;
	*rmask = m;
	return m != 0;
}

/* What the bytes V (MASK written) of register G mean. */
static struct pm_decision judge(const struct pm_regs *r, const struct pm_reg *g, uint32_t v, uint32_t mask)
{
	struct pm_decision d = { PM_FORWARD, g, v, 0 };
	bool allowed = false;

	switch (g->kind) {
	case PM_PM1A_CNT:
	case PM_PM1B_CNT:
		if (mask & v & PM1_SLP_EN) {
			d.typ = (v >> 10) & 7;
			uint8_t s5 = g->kind == PM_PM1A_CNT ? r->s5_a : r->s5_b;
			d.verdict = r->have_s5 && d.typ == s5 ? PM_POWEROFF : PM_SLEEP;
		}
		break;
	case PM_SLEEP_CTL:
		if (mask & v & SLEEP_CTL_SLP_EN) {
			d.typ = (v >> 2) & 7;
			d.verdict = r->have_s5 && d.typ == r->s5_a ? PM_POWEROFF : PM_SLEEP;
		}
		break;
	case PM_RESET_REG:
		if ((uint8_t)v == r->reset_value)
			d.verdict = PM_RESET;
		break;
	case PM_RESET_CF9:
		if (v & CF9_RST_CPU)
			d.verdict = PM_RESET;
		break;
	case PM_RESET_KBC:
		if ((v & KBC_PULSE) == KBC_PULSE && !(v & KBC_RESET_LINE))
			d.verdict = PM_RESET;
		break;
	case PM_RESET_FAST:
		if (v & FAST_RESET)
			d.verdict = PM_RESET;
		break;
	case PM_KBC_DATA:
		if (r->kbc_cmd == KBC_WRITE_OUTPUT && !(v & KBC_RESET_LINE))
			d.verdict = PM_RESET;
		break;
	case PM_SMI_CMD:
		for (unsigned i = 0; i < r->nsmi_ok; i++)
			allowed |= (uint8_t)v == r->smi_ok[i];
		if (!allowed)
			d.verdict = PM_REFUSE;
		break;
	case PM_GUARD:
		if ((v ^ g->value) & mask & g->mask)
			d.verdict = PM_REFUSE;
		break;
	}
	if (d.verdict == PM_FORWARD)
		d.reg = NULL;
	return d;
}

struct pm_decision pm_decide(const struct pm_regs *r, enum pm_space space, uint64_t addr, unsigned size,
			     uint64_t val)
{
	struct pm_decision best = { PM_FORWARD, NULL, 0, 0 };

	if (size < 1 || size > 8)
		return best;
	for (unsigned i = 0; i < r->n && i < PM_MAX_REGS; i++) {
		const struct pm_reg *g = &r->reg[i];
		uint32_t v, mask;
		if (g->space != space || !pm_overlap(addr, size, val, g->addr, g->len, &v, &mask))
			continue;
		struct pm_decision d = judge(r, g, v, mask);
		if (d.verdict > best.verdict)
			best = d;
	}
	return best;
}

void pm_track(struct pm_regs *r, enum pm_space space, uint64_t addr, unsigned size, uint64_t val)
{
	if (size < 1 || size > 8)
		return;
	for (unsigned i = 0; i < r->n && i < PM_MAX_REGS; i++) {
		const struct pm_reg *g = &r->reg[i];
		uint32_t v, mask;
		if (g->space != space || !pm_overlap(addr, size, val, g->addr, g->len, &v, &mask))
			continue;
		/* No port access reaches both (at most 4 bytes, 4 apart). */
		if (g->kind == PM_RESET_KBC)
			r->kbc_cmd = (uint8_t)v;
		else if (g->kind == PM_KBC_DATA)
			r->kbc_cmd = 0;
	}
}

bool pm_cf8_access(uint32_t cf8, uint16_t port, unsigned size, uint32_t val, uint64_t *cfg, unsigned *cfg_size,
		   uint32_t *cfg_val)
{
	uint32_t v, mask;

	if (!(cf8 & (1u << 31)) || size < 1 || size > 4 || !pm_overlap(port, size, val, PCI_DATA, 4, &v, &mask))
		return false;
	/* The written bytes are contiguous: the lowest one and how many. */
	unsigned first = 0, n = 0;
	while (!(mask & (0xffu << (8 * first))))
		first++;
	while (first + n < 4 && (mask & (0xffu << (8 * (first + n)))))
		n++;
	/* CF8: enable 31, bus 23:16, device 15:11, function 10:8, register 7:2. */
	*cfg = pm_cfg((cf8 >> 16) & 0xff, (cf8 >> 11) & 0x1f, (cf8 >> 8) & 7, (cf8 & 0xfc) + first);
	*cfg_size = n;
	*cfg_val = v >> (8 * first);
	return true;
}

/* Where chipsets keep the PM I/O base, and its decode enable. */
static const struct chipset_pm {
	uint8_t dev, fn;
	uint32_t id;	      /* vendor | device << 16; device 0: any Intel function of CLASS */
	uint16_t class;	      /* class << 8 | subclass, when id names no device */
	uint16_t base_mask;   /* the base's bits in the dword at 0x40 */
	uint8_t enable_off, enable_bit;
} chipset_pm[] = {
	{ 1, 3, 0x71138086u, 0, 0xffc0, 0x80, 0x01 },   /* PIIX4 PMBA, PMREGMISC.PMIOSE */
	{ 0x1f, 0, 0x8086, 0x0601, 0xff80, 0x44, 0x80 }, /* ICH LPC PMBASE, ACPI_CNTL.ACPI_EN */
	{ 0x1f, 2, 0x8086, 0x0580, 0xff00, 0x44, 0x80 }, /* PCH PMC ABASE, ACTL.EN */
};
#define PM_BASE_OFF 0x40

unsigned pm_add_chipset_guards(struct pm_regs *r, uint16_t pm1_port, pm_cfg_read_fn *read, void *ctx)
{
	unsigned added = 0;

	for (size_t i = 0; i < sizeof(chipset_pm) / sizeof(chipset_pm[0]); i++) {
		const struct chipset_pm *c = &chipset_pm[i];
		uint32_t id = read(ctx, pm_cfg(0, c->dev, c->fn, 0));
		if (c->id >> 16 ? id != c->id
				: (id & 0xffff) != c->id || read(ctx, pm_cfg(0, c->dev, c->fn, 8)) >> 16 != c->class)
			continue;
		uint32_t base = read(ctx, pm_cfg(0, c->dev, c->fn, PM_BASE_OFF));
		if ((base & c->base_mask) != (pm1_port & c->base_mask))
			continue; /* not where the FADT's PM1 block is: some other function */
		if (!pm_add_guard(r, pm_cfg(0, c->dev, c->fn, PM_BASE_OFF), 4, base, c->base_mask))
			break;
		added++;
		/* Turning the decode off moves nothing; back on, after a
		 * refused move, it is where it was. Guarded all the same, so
		 * the registers stay where the FADT says while the VM runs. */
		unsigned sh = 8 * (c->enable_off & 3);
		uint32_t en = read(ctx, pm_cfg(0, c->dev, c->fn, c->enable_off & ~3u)) >> sh;
		if ((en & c->enable_bit) && pm_add_guard(r, pm_cfg(0, c->dev, c->fn, c->enable_off), 1, en, c->enable_bit))
			added++;
	}
	return added;
}

/* Intel's host bridge: PCIEXBAR at 0x60, base bits 38:26, length 2:1
 * (3:1 from Skylake on), enable 0; bits 25:4 are reserved, zero, in every
 * generation's (Q35/ICH9 MCH, 3 and 4 Series, Core processors). */
#define PCIEXBAR 0x60
#define PCIEXBAR_EN 0x1u
#define PCIEXBAR_BASE_LO 0xfc000000u
#define PCIEXBAR_RESERVED 0x03fffff0u
#define PCIEXBAR_LO_MASK (PCIEXBAR_BASE_LO | 0xfu)
#define HOST_BRIDGE_CLASS 0x0600
#define I440FX 0x1237 /* Bochs' and QEMU's pc */
#define I440BX 0x7190 /* VMware's and others' */

/*
 * Which host bridge has a PCIEXBAR there: Intel's since the 965 chipsets
 * (3 and 4 Series, QEMU's Q35, every Core processor's host bridge). Their
 * device IDs follow no simple rule, and Intel's older bridges keep other
 * registers at 0x60: the 440FX and 440BX their DRAM row boundaries
 * (DRB0-7, which firmware sets when it sizes memory), the 9xx chipsets up
 * to the 945 (PCIEXBAR at 0x48) DRAM registers or nothing. So: an Intel
 * host bridge other than the 440FX and 440BX that emulators present,
 * whose dword there could be a PCIEXBAR (its reserved bits clear). A real
 * one always is; a wrong match costs nothing, as a guard only refuses
 * changes and no OS writes firmware's DRAM registers.
 */
static bool has_pciexbar(pm_cfg_read_fn *read, void *ctx, uint32_t lo)
{
	uint32_t id = read(ctx, pm_cfg(0, 0, 0, 0));
	return (id & 0xffff) == 0x8086 && id >> 16 != I440FX && id >> 16 != I440BX &&
	       read(ctx, pm_cfg(0, 0, 0, 8)) >> 16 == HOST_BRIDGE_CLASS && !(lo & PCIEXBAR_RESERVED);
}

bool pm_add_ecam_guard(struct pm_regs *r, pm_cfg_read_fn *read, void *ctx, uint64_t *window)
{
	uint32_t lo = read(ctx, pm_cfg(0, 0, 0, PCIEXBAR));
	*window = 0;
	if (r->n + 2 > PM_MAX_REGS || !has_pciexbar(read, ctx, lo))
		return false;
	/* The high dword holds base bits from 32 up; all of it is kept
	 * (bits a CPU does not implement read zero and stay so). */
	uint32_t hi = read(ctx, pm_cfg(0, 0, 0, PCIEXBAR + 4));
	pm_add_guard(r, pm_cfg(0, 0, 0, PCIEXBAR), 4, lo, PCIEXBAR_LO_MASK);
	pm_add_guard(r, pm_cfg(0, 0, 0, PCIEXBAR + 4), 4, hi, 0xffffffffu);
	if (lo & PCIEXBAR_EN)
		*window = (uint64_t)hi << 32 | (lo & PCIEXBAR_BASE_LO);
	return true;
}

const char *pm_kind_name(enum pm_kind k)
{
	switch (k) {
	case PM_PM1A_CNT:
		return "PM1a_CNT";
	case PM_PM1B_CNT:
		return "PM1b_CNT";
	case PM_SLEEP_CTL:
		return "SLEEP_CONTROL_REG";
	case PM_RESET_REG:
		return "RESET_REG";
	case PM_RESET_CF9:
		return "reset control (0xcf9)";
	case PM_RESET_KBC:
		return "keyboard controller";
	case PM_KBC_DATA:
		return "keyboard controller data";
	case PM_RESET_FAST:
		return "fast reset (0x92)";
	case PM_SMI_CMD:
		return "SMI command";
	case PM_GUARD:
		return "PM base";
	}
	return "?";
}
