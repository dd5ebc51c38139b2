/* ACPI tables as firmware leaves them: the input is mapped at a fixed
 * address, its first bytes are taken as the RSDP, and every pointer in the
 * tables is followed only inside that window; a MADT found is restricted to
 * one CPU. Then the AML of \_S5 alone. */
#include "fuzz.h"

#include <sys/mman.h>

#include "drivers/acpi.h"

#define WINDOW 0x500000000000ull /* the tables' "physical" addresses: clear of ASan's shadow */
#define WINDOW_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *window;
	if (!window) {
		window = mmap((void *)WINDOW, WINDOW_MAX, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (window == MAP_FAILED)
			abort();
	}
	if (size > WINDOW_MAX)
		size = WINDOW_MAX;
	/* The input ends the window, so a read past it is past the end of
	 * the mapping's data: the parser must stop at LIMIT. */
	uint8_t *at = window + WINDOW_MAX - size;
	memcpy(at, data, size);
	struct acpi_info ai;
	if (acpi_parse((uint64_t)at, (uint64_t)at, (uint64_t)at + size, &ai) && ai.have_madt) {
		/* The MADT a passthrough OS with fewer CPUs is given: only the
		 * table's own bytes change, and its checksum still holds. */
		uint8_t *madt = (uint8_t *)(uintptr_t)ai.madt_addr;
		uint32_t len;
		memcpy(&len, madt + 4, 4);
		acpi_madt_restrict(madt, ai.apic_id, ai.ncpus > 1 ? 1 : 0);
		if (!acpi_checksum_ok(madt, len))
			abort();
	}
	uint8_t a, b;
	acpi_find_s5(at, size, &a, &b);
	acpi_scan_rsdp((uint64_t)at, size);
	return 0;
}
