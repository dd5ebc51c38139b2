#include "drivers/power.h"

#include "arch-x86/cpu.h"
#include "drivers/console.h"

static const struct acpi_info *acpi;

void power_init(const struct acpi_info *ai)
{
	acpi = ai;
}

#define PM1_SCI_EN (1u << 0)
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_EN (1u << 13)

static uint16_t gas_read16(const struct acpi_gas *g)
{
	if (g->space == ACPI_SPACE_IO)
		return inw((uint16_t)g->address);
	return *(volatile uint16_t *)(uintptr_t)g->address;
}

static void gas_write16(const struct acpi_gas *g, uint16_t v)
{
	if (g->space == ACPI_SPACE_IO)
		outw((uint16_t)g->address, v);
	else
		*(volatile uint16_t *)(uintptr_t)g->address = v;
}

static void gas_write8(const struct acpi_gas *g, uint8_t v)
{
	if (g->space == ACPI_SPACE_IO)
		outb((uint16_t)g->address, v);
	else
		*(volatile uint8_t *)(uintptr_t)g->address = v;
}

/* Enter S5 through PM1x_CNT (ACPI 4.8.3.2.1, 7.4.2). On hardware the
 * firmware may own the PM registers until ACPI mode is switched on through
 * SMI_CMD (ACPI 4.8.2.1); emulators start in ACPI mode already. */
static void acpi_s5(void)
{
	if (!acpi || !acpi->have_fadt || !acpi->have_s5 || !acpi->pm1a_cnt.address)
		return;
	if (!(gas_read16(&acpi->pm1a_cnt) & PM1_SCI_EN) && acpi->smi_cmd && acpi->acpi_enable) {
		outb((uint16_t)acpi->smi_cmd, acpi->acpi_enable);
		for (unsigned i = 0; i < 1000000 && !(gas_read16(&acpi->pm1a_cnt) & PM1_SCI_EN); i++)
			cpu_relax();
	}
	gas_write16(&acpi->pm1a_cnt, (uint16_t)(acpi->slp_typ_a << PM1_SLP_TYP_SHIFT | PM1_SLP_EN));
	if (acpi->pm1b_cnt.address)
		gas_write16(&acpi->pm1b_cnt, (uint16_t)(acpi->slp_typ_b << PM1_SLP_TYP_SHIFT | PM1_SLP_EN));
	for (unsigned i = 0; i < 1000000; i++)
		cpu_relax();
}

void power_off(void)
{
	log_info("powering off");
	console_flush();
	acpi_s5();
	/* Fallbacks for emulators whose ACPI power-off did not take: Bochs'
	 * shutdown port, QEMU's isa-debug-exit (if configured). */
	for (const char *s = "Shutdown"; *s; s++)
		outb(0x8900, (uint8_t)*s);
	outb(0xf4, 0);
	log_err("power-off failed (no ACPI S5 and no emulator shutdown port): halting");
	cpu_halt_forever();
}

void power_reboot(void)
{
	log_info("rebooting");
	console_flush();
	/* ACPI reset register (ACPI 4.8.3.6), then the PCI reset control
	 * register 0xCF9 (full reset), then the keyboard controller's pulse
	 * of the reset line, then a triple fault. */
	if (acpi && acpi->reset_supported && acpi->reset_reg.address &&
	    (acpi->reset_reg.space == ACPI_SPACE_IO || acpi->reset_reg.space == ACPI_SPACE_MEMORY))
		gas_write8(&acpi->reset_reg, acpi->reset_value);
	for (unsigned i = 0; i < 100000; i++)
		cpu_relax();
	outb(0xcf9, 0x02);
	outb(0xcf9, 0x06);
	for (unsigned i = 0; i < 100000; i++)
		cpu_relax();
	outb(0x64, 0xfe);
	for (unsigned i = 0; i < 100000; i++)
		cpu_relax();
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) no_idt = { 0, 0 };
	__asm__ volatile("lidt %0; int3" : : "m"(no_idt));
	cpu_halt_forever();
}

void power_exit(enum on_exit how)
{
	switch (how) {
	case ON_EXIT_POWEROFF:
		power_off();
	case ON_EXIT_REBOOT:
		power_reboot();
	case ON_EXIT_HALT:
		break;
	}
	log_info("halted (on_exit=halt)");
	console_flush();
	cpu_halt_forever();
}
