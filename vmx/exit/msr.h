/*
 * Guest MSRs. The MSR bitmap lets the guest read and write, without an
 * exit, only MSRs whose guest values the VMCS switches (FS/GS base,
 * SYSENTER) or that are harmless to read (TSC, PAT); the SYSCALL MSRs pass
 * through too and are reset between VMs. Everything else exits and is
 * emulated here:
 *   EFER              validated, kept in the VMCS guest field
 *   PAT (write)       validated (each entry a valid memory type), VMCS
 *   TSC (write)       becomes the TSC offset
 *   FEATURE_CONTROL   reads as locked with VMX off; writes #GP
 *   APIC_BASE         reads as the xAPIC at 0xfee00000, enabled, BSP
 *   IA32_VMX_*        #GP (VMX is hidden)
 *   anything else     #GP
 */
#ifndef VMX_MSR_H
#define VMX_MSR_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* Fill the VM's 4 KiB MSR bitmap (SDM vol. 3C, 25.6.9). A passthrough VM
 * (the machine's OS) also reaches the local APIC's MSRs, the MTRRs (read),
 * and the CPU's identification and mitigation MSRs directly. */
void msr_bitmap_init(uint8_t *bitmap, bool passthrough);

/* Emulate RDMSR/WRMSR of MSR for V. False: inject #GP. */
bool msr_read(struct vcpu *v, uint32_t msr, uint64_t *value);
bool msr_write(struct vcpu *v, uint32_t msr, uint64_t value);

/* Reset the pass-through MSRs the VMCS does not switch, so nothing of one
 * VM reaches the next. */
void msr_reset_unswitched(void);

#endif
