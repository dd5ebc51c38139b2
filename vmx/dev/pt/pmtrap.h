/*
 * The machine's registers through which a passthrough OS could put it to
 * sleep behind the hypervisor (it would wake in firmware with VMX off and
 * go on outside it), reset it, or move those registers where the
 * hypervisor does not look; and the decoding of a write against them,
 * byte by byte, so that no access size or alignment slips past.
 *
 * Registers are in one of three spaces: ports, physical memory, and PCI
 * configuration space, which is addressed here as an ECAM offset
 * (bus << 20 | device << 15 | function << 12 | register; PCI Express Base
 * 5.0, 7.2.2), whichever way (0xCF8/0xCFC or ECAM) the write came.
 *
 * Pure logic, unit tested and fuzzed on the host: every address, size and
 * value here is the guest's.
 */
#ifndef VMX_PMTRAP_H
#define VMX_PMTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acpi_info;

enum pm_space { PM_IO, PM_MEM, PM_PCI };

enum pm_kind {
	PM_PM1A_CNT,   /* SLP_TYP in bits 12:10, SLP_EN bit 13 (ACPI 6.4, 4.8.3.2.1) */
	PM_PM1B_CNT,
	PM_SLEEP_CTL,  /* hardware-reduced: SLP_TYP 4:2, SLP_EN bit 5 (4.8.3.7) */
	PM_RESET_REG,  /* the FADT's RESET_REG: RESET_VALUE resets (4.8.3.6) */
	PM_RESET_CF9,  /* reset control: RST_CPU (bit 2) resets */
	PM_RESET_KBC,  /* keyboard controller command: 0xF0-0xFE with bit 0 clear pulse reset */
	PM_KBC_DATA,   /* keyboard controller data: after command 0xD1, bit 0 clear resets */
	PM_RESET_FAST, /* port 0x92 (fast A20 and reset): bit 0 set resets (INIT) */
	PM_SMI_CMD,    /* SMI command: only the FADT's own values go through */
	PM_GUARD,      /* a chipset register that places the ones above */
};

struct pm_reg {
	uint8_t kind, space, len; /* len: 1 to 4 bytes */
	uint64_t addr;
	uint32_t value, mask;	  /* PM_GUARD: bits MASK must keep VALUE */
};

/* 9 from the FADT and the legacy ports, 2 for each of the 3 chipsets' PM
 * bases, 2 for PCIEXBAR. */
#define PM_MAX_REGS 20
#define PM_MAX_SMI_VALUES 4

struct pm_regs {
	struct pm_reg reg[PM_MAX_REGS];
	unsigned n;
	bool have_s5;
	uint8_t s5_a, s5_b;   /* SLP_TYPa and SLP_TYPb of \_S5 */
	uint8_t reset_value;
	uint8_t smi_ok[PM_MAX_SMI_VALUES];
	unsigned nsmi_ok;
	/* The keyboard controller's last command, until a data byte takes
	 * it (pm_track): what that byte means depends on it. The one field
	 * that changes while the VM runs. */
	uint8_t kbc_cmd;
};

/* Add a register of LEN bytes; false when full or LEN is not 1-4. */
bool pm_add(struct pm_regs *r, enum pm_kind kind, enum pm_space space, uint64_t addr, unsigned len);

/* Add a guard: the LEN-byte configuration register at CFG must keep the
 * bits MASK of VALUE. */
bool pm_add_guard(struct pm_regs *r, uint64_t cfg, unsigned len, uint32_t value, uint32_t mask);

/* The registers the FADT names (PM1a/b control, sleep control, reset,
 * SMI command) and the legacy ones every PC has (0xCF9, the keyboard
 * controller's 0x64 and 0x60, 0xB2). */
void pm_regs_from_acpi(struct pm_regs *r, const struct acpi_info *a);

/* The bytes of a write of SIZE (1-8) bytes of VAL at ADDR that land on
 * [REG, REG+LEN) (LEN 1-4): in the register's byte order in *RVAL, 0xff
 * for each of them in *RMASK. False if none does. */
bool pm_overlap(uint64_t addr, unsigned size, uint64_t val, uint64_t reg, unsigned len, uint32_t *rval,
		uint32_t *rmask);

enum pm_verdict {
	PM_FORWARD,  /* nothing watched changes: the write goes to the hardware */
	PM_REFUSE,   /* dropped: a guard would move, or an SMI command not allowed */
	PM_RESET,    /* the OS resets the machine */
	PM_POWEROFF, /* SLP_EN with the S5 type */
	PM_SLEEP,    /* SLP_EN with any other type: the hypervisor cannot resume */
};

struct pm_decision {
	enum pm_verdict verdict;
	const struct pm_reg *reg; /* the register that decided; NULL to forward */
	uint32_t value;		  /* its bytes as written */
	unsigned typ;		  /* PM_SLEEP, PM_POWEROFF: the sleep type */
};

/* What a write of SIZE (1-8) bytes of VAL at ADDR in SPACE does: the
 * strongest verdict of any register it touches (the order above). */
struct pm_decision pm_decide(const struct pm_regs *r, enum pm_space space, uint64_t addr, unsigned size,
			     uint64_t val);

/* A write of SIZE bytes of VAL at ADDR in SPACE went to the hardware: the
 * state later decisions depend on follows it (a command to the keyboard
 * controller waits for its data byte; a data byte takes it). The caller
 * makes the decision, the write and this one step for other CPUs. */
void pm_track(struct pm_regs *r, enum pm_space space, uint64_t addr, unsigned size, uint64_t val);

/* PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2): an
 * access of SIZE bytes at PORT, CONFIG_ADDRESS being CF8. The part of it
 * that reaches the data window 0xCFC-0xCFF goes to configuration space at
 * *CFG (an ECAM offset), *CFG_SIZE bytes of *CFG_VAL. False when none of
 * it does, or CF8's enable bit (31) is clear. */
bool pm_cf8_access(uint32_t cf8, uint16_t port, unsigned size, uint32_t val, uint64_t *cfg, unsigned *cfg_size,
		   uint32_t *cfg_val);

/* The configuration (ECAM) offset of a bus's device, function, register. */
static inline uint64_t pm_cfg(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	return (uint64_t)bus << 20 | (uint64_t)dev << 15 | (uint64_t)fn << 12 | off;
}

/*
 * The chipset registers that hold the base of the ACPI PM I/O block
 * (PM1a_CNT is at base + 4 on each): the PIIX4's function 3 (PMBA, bits
 * 15:6, PIIX4 datasheet 7.2.1), the ICH's LPC bridge (PMBASE, 15:7, ICH9
 * 13.1.10) and the PCH's PMC (ABASE, 15:8, 100 Series PCH vol. 2, 4.2),
 * each with its decode-enable bit. READ gets 32 bits of configuration
 * space. Each one that is there and holds PM1 (the base equals PM1's
 * under its mask) is added as a guard. Returns how many were added.
 */
typedef uint32_t pm_cfg_read_fn(void *ctx, uint64_t cfg);
unsigned pm_add_chipset_guards(struct pm_regs *r, uint16_t pm1_port, pm_cfg_read_fn *read, void *ctx);

/* The Intel host bridge's PCIEXBAR (00:00.0, 0x60), which turns the ECAM
 * window on and places it, added as a guard wherever the bridge has one,
 * on or off, named by an MCFG or not: an OS that opened or moved the
 * window could reach the guarded registers through pages the hypervisor
 * does not watch. *WINDOW: the window's base when it is on, else 0. */
bool pm_add_ecam_guard(struct pm_regs *r, pm_cfg_read_fn *read, void *ctx, uint64_t *window);

/* A short name for a register kind ("PM1a_CNT", "SMI_CMD", ...). */
const char *pm_kind_name(enum pm_kind k);

#endif
