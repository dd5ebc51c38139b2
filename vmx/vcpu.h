/* A vCPU's life on its CPU: set up, run, serve its requests, tear down. */
#ifndef VMX_VCPU_H
#define VMX_VCPU_H

#include <stdbool.h>
#include <stddef.h>

#include "vmx/core/vm.h"

/* Fill V's VMCS (allocated, V's index and APIC id set) on this CPU, the
 * one it will run on: controls, host state, and guest state from BS; with
 * BS NULL, an AP's: waiting for a start-up IPI. */
bool vcpu_init(struct vcpu *v, struct vm *vm, const struct boot_state *bs, char *err, size_t errlen);

/* Enter the guest until the VM ends (v->cause is set); with STATS, time
 * each exit (stats=1). */
void vcpu_run(struct vcpu *v, bool stats);

/* Serve V's pending work (enum vcpu_request): nonzero to leave vmx_run. */
int vcpu_serve(struct vcpu *v);

/* Its VMCS cleared and freed, this CPU's cached translations of the VM
 * and the registers VMX does not switch reset; on V's CPU. */
void vcpu_destroy(struct vcpu *v);

#endif
