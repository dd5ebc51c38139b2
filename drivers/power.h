/* Ending the machine: power-off, reset, halt (the on_exit option). */
#ifndef DRIVERS_POWER_H
#define DRIVERS_POWER_H

#include "boot/options.h"
#include "drivers/acpi.h"

/* ACPI facts for power-off and reset; NULL when there is no ACPI. */
void power_init(const struct acpi_info *ai);

__attribute__((noreturn)) void power_off(void);
__attribute__((noreturn)) void power_reboot(void);
__attribute__((noreturn)) void power_exit(enum on_exit how);

#endif
