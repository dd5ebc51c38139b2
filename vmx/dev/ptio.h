/*
 * The passthrough VM's watched registers (vmx/dev/ptio.c): which ports
 * exit, which pages of power registers are read-only in its EPT, and the
 * local APIC's ICR, where INIT and start-up IPIs may only go to the VM's
 * own CPUs (they start them in VMX non-root operation).
 */
#ifndef VMX_DEV_PTIO_H
#define VMX_DEV_PTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"
#include "vmx/dev/bus.h"

/* Find the registers (ACPI, the chipset) for VM; false when out of
 * memory. ptio_detach gives the state back. */
bool ptio_attach(struct vm *vm);
void ptio_detach(struct vm *vm);

/* The pages to map read-only in the VM's EPT: their number, *PAGES. */
unsigned ptio_trap_pages(const struct vm *vm, const uint64_t **pages);

/* Set the I/O bitmap bits of the trapped ports. */
void ptio_io_bitmap(struct vm *vm);

/* A trapped port access: see power-off or reset, forward the rest. */
void ptio_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);

/* Is GPA on a page of a watched register (read-only in EPT)? */
bool ptio_traps(const struct vm *vm, uint64_t gpa);

/* A write on such a page, or to the local APIC page (read-only in EPT):
 * done as the OS made it unless it would power off, reset, move a
 * watched register or send INIT or SIPI outside the VM. False: the VM
 * ended (the access is not one that is emulated). */
bool ptio_trapped_write(struct vcpu *v, struct mmio_access *a);
bool ptio_apic_write(struct vcpu *v, struct mmio_access *a);

/* A WRMSR to the x2APIC ICR, judged the same way; false: #GP. */
bool ptio_x2apic_icr(struct vcpu *v, uint64_t value);

#endif
