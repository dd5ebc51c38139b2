/*
 * A passthrough VM: the machine's own OS (Linux) under the hypervisor.
 *   - guest-physical = host-physical: EPT maps the firmware's RAM, ACPI and
 *     NVS ranges write-back and every other address up to the top of the
 *     memory map (at least 4 GiB: APIC, IOAPIC, HPET, PCI holes) uncached,
 *     except the hypervisor's own memory (its image and every frame it has
 *     allocated), which is not mapped and is missing from the guest's e820;
 *   - ports and interrupts go straight to the hardware: no external
 *     interrupt, NMI or HLT exits; the I/O bitmap traps only the ACPI PM1
 *     control ports, the ACPI reset register, 0xCF9 and the keyboard
 *     controller (0x64), to see the OS power off (cause=poweroff) or reset
 *     (cause=reboot); every other access to them is forwarded.
 */
#ifndef VMX_PASSTHROUGH_H
#define VMX_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/vm.h"

struct mbi;

/* Memory map, identity slots and EPT of a passthrough VM. */
bool passthrough_memory(struct vm *vm, const struct mbi *m, char *err, size_t errlen);

/* Set the I/O bitmap bits of the trapped ports. */
void passthrough_io_bitmap(struct vm *vm);

/* A trapped port access: see power-off/reset, forward the rest. */
void passthrough_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);

/* Give back the EPT-table reserve. */
void passthrough_release(struct vm *vm);

#endif
