/*
 * A passthrough VM: the machine's own OS (Linux) under the hypervisor.
 *   - guest-physical = host-physical: EPT maps the firmware's RAM, ACPI and
 *     NVS ranges write-back and every other address up to the top of the
 *     memory map (at least 4 GiB: APIC, IOAPIC, HPET, PCI holes) uncached,
 *     except the hypervisor's own memory (its image and every frame it has
 *     allocated), which is not mapped and is missing from the guest's e820;
 *   - ports and interrupts go straight to the hardware: no external
 *     interrupt, NMI or HLT exits; the I/O bitmap traps only the registers
 *     of vmx/dev/pt/pmtrap.h: the FADT's PM1 control, sleep control, reset and
 *     SMI command registers, 0xCF9, 0xB2 and the keyboard controller
 *     (0x64), to see the OS power off (cause=poweroff) or reset
 *     (cause=reboot), and PCI configuration mechanism #1 (0xCF8-0xCFF).
 *     Every access that touches one is decoded byte by byte; what sets no
 *     SLP_EN, resets nothing and moves nothing is forwarded as it was
 *     made. A sleep state other than S5 ends the VM: the hypervisor cannot
 *     resume. SMI commands other than the FADT's own values, and writes
 *     that would move the PM registers (the chipset's PM base, the ECAM
 *     window) are dropped with one warning. Those registers in memory,
 *     and their ECAM pages, are read-only in EPT, their writes emulated;
 *   - the boot information is read-only and the other modules (later
 *     VMs' images) are not mapped;
 *   - the local APIC is the real one, read directly; its page is
 *     read-only in EPT and ICR writes are checked so that the OS cannot
 *     start other CPUs outside VMX: INIT and start-up IPIs reach only the
 *     VM's own CPUs, which wait for them in VMX non-root operation
 *     (vmx/dev/pt/ptio.c).
 */
#ifndef VMX_LOAD_PASSTHROUGH_H
#define VMX_LOAD_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* Memory map, identity slots and EPT of a passthrough VM: the machine's
 * RAM less the hypervisor's and M's other modules; its watched registers
 * (vmx/dev/pt/ptio.h) found and their pages read-only. */
bool passthrough_memory(struct vm *vm, const struct machine *m, char *err, size_t errlen);

/* Give back the EPT-table reserve and the watched registers' state. */
void passthrough_release(struct vm *vm);

/* Once every vCPU has its CPU: say which CPUs the OS gets, and if that is
 * not every CPU the MADT lists, mark the others disabled there, so the OS
 * does not wait for CPUs it cannot start. */
void passthrough_cpus(struct vm *vm);

#endif
