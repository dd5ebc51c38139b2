/*
 * ACPI: what the hypervisor needs from the firmware's tables. The RSDP
 * (from the multiboot2 tag, else the legacy BIOS scan), the MADT for the
 * CPUs, IOAPICs and the local APIC base, the FADT (with the DSDT's \_S5
 * object) for power-off, reset and the registers a passthrough OS could
 * sleep through, and the MCFG for where PCI configuration space is in
 * memory. ACPI 6.4, chapter 5.
 *
 * Tables are read through their physical addresses (all RAM is
 * identity-mapped); every address and length is checked against
 * LIMIT before it is read, and every table's checksum is verified.
 */
#ifndef DRIVERS_ACPI_H
#define DRIVERS_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 256
#define ACPI_MAX_IOAPICS 8

/* Generic Address Structure (ACPI 5.2.3.2). */
struct acpi_gas {
	uint8_t space; /* 0 system memory, 1 system IO */
	uint8_t bit_width, bit_offset, access_size;
	uint64_t address;
};
#define ACPI_SPACE_MEMORY 0
#define ACPI_SPACE_IO 1

struct acpi_info {
	uint64_t rsdp_addr;
	unsigned revision;
	char oem[7];
	unsigned tables, bad_tables;

	bool have_madt;
	uint64_t madt_addr; /* where the MADT is (acpi_madt_restrict) */
	uint64_t lapic_base;
	unsigned ncpus, ncpus_disabled;
	uint32_t apic_id[ACPI_MAX_CPUS];
	unsigned nioapics;
	struct {
		uint32_t id, addr, gsi_base;
	} ioapic[ACPI_MAX_IOAPICS];

	bool have_fadt;
	uint32_t smi_cmd;
	/* The values the OS may write to SMI_CMD (0: none given). */
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt, cst_cnt;
	bool hw_reduced; /* HW_REDUCED_ACPI: no PM1 blocks, sleep by SLEEP_CONTROL_REG */
	struct acpi_gas pm1a_cnt, pm1b_cnt;
	struct acpi_gas sleep_control; /* ACPI 5.0+ FADT; address 0 if none */
	bool reset_supported;
	struct acpi_gas reset_reg;
	uint8_t reset_value;

	bool have_s5;
	uint8_t slp_typ_a, slp_typ_b;

	/* PCI segment 0's enhanced configuration (ECAM) window, from the
	 * MCFG: bus B's space at mcfg_base + (B << 20) for B in
	 * [mcfg_bus_start, mcfg_bus_end] (PCI Firmware 3.2, 4.1.2). */
	bool have_mcfg;
	uint64_t mcfg_base;
	uint8_t mcfg_bus_start, mcfg_bus_end;
};

/* What boot found (valid when hv_acpi.rsdp_addr != 0). */
extern struct acpi_info hv_acpi;

bool acpi_checksum_ok(const void *p, size_t len);

/* Is there a valid RSDP (signature, checksums, length) at P, with AVAIL
 * bytes readable? */
bool acpi_rsdp_valid(const void *p, size_t avail);

/* Scan [base, base+len) on 16-byte boundaries for a valid RSDP (ACPI
 * 5.2.5.1); 0 if none. */
uint64_t acpi_scan_rsdp(uint64_t base, uint64_t len);

/* Read the tables reachable from the RSDP at RSDP_ADDR; nothing outside
 * [LO, LIMIT) is read (the hypervisor: 0 to the top of its mapping; the
 * fuzz harness: its buffer). False when the RSDP or its root table is
 * unusable. */
bool acpi_parse(uint64_t rsdp_addr, uint64_t lo, uint64_t limit, struct acpi_info *out);

/* Mark disabled, in the MADT at MADT (its length and checksum already
 * checked), every processor local APIC and local x2APIC entry whose APIC
 * ID is not among the NKEEP in KEEP, and fix the checksum: an OS that
 * reads it then starts only those CPUs (ACPI 6.4, 5.2.12.2). Returns how
 * many entries it disabled. */
unsigned acpi_madt_restrict(uint8_t *madt, const uint32_t *keep, unsigned nkeep);

/* Decode the SLP_TYPa/b values of \_S5 from AML bytes (the DSDT). */
bool acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typ_a, uint8_t *typ_b);

#endif
