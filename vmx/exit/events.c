/*
 * Event exits: NMIs, external interrupts (other CPUs' signals), INIT and
 * start-up IPIs, the preemption timer, the virtual APIC's exits and the
 * interrupt and NMI windows. What must wait for the run loop becomes a
 * request (enum vcpu_request), served before the next entry.
 */
#include "vmx/exit/exit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "vmx/core/guest.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "arch-x86/apic.h"
#include "arch-x86/percpu/gdt.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "vmx/dev/lapic.h"
#include "vmx/dev/bus.h"
#include "vmx/exit/mmio.h"
#include "vmx/hw/caps.h"

/* After an NMI's exit the CPU blocks NMIs until an IRET (SDM vol. 3C,
 * 28.1): one to the next instruction ends that, so an NMI that comes
 * while the hypervisor runs on (another CPU's stop among them) is taken
 * at once (arch-x86/percpu/idt.c counts it) rather than at the next VM entry,
 * or never if this VM ends. */
static __attribute__((noinline, cold)) void nmi_unblock(void)
{
	__asm__ volatile("movq %%rsp, %%rax\n\t"
			 "pushq %0\n\t"
			 "pushq %%rax\n\t"
			 "pushfq\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "iretq\n"
			 "1:"
			 :
			 : "i"(GDT_DATA), "i"(GDT_CODE)
			 : "rax", "memory", "cc");
}

/* An NMI while the guest ran (NMI exiting): the machine's own OS's, to
 * be injected when it can take it (vcpu.c, pass_nmi); an isolated VM has
 * no NMI source. */
void handle_exception_nmi(struct vcpu *v)
{
	uint32_t info = vmcs_read32(VM_EXIT_INTR_INFO);
	if ((info & 0x700) == INTR_TYPE_NMI) {
		if (smp_stopping())
			smp_stop_self(); /* another CPU took a hypervisor exception */
		if (v->vm->cfg.passthrough)
			percpu_inc32(nmi_pending);
		else
			log_warn("VM %s: NMI while the guest ran (no NMI source is expected)", v->vm->cfg.name);
		nmi_unblock();
		return;
	}
	log_err("VM %s: unexpected exception exit, interruption info %#x at RIP %#llx", v->vm->cfg.name, info,
		(unsigned long long)guest_rip());
	vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EXCEPTION_NMI);
}

/* An isolated VM's exit on an interrupt to this CPU: the hypervisor
 * masks the PICs, so it is another CPU's signal (vm_kick): an IPI for this
 * vCPU, or the VM's end. "Acknowledge interrupt on exit" took the vector
 * from the APIC, which awaits its EOI. */
void handle_external_interrupt(struct vcpu *v)
{
	uint32_t info = vmcs_read32(VM_EXIT_INTR_INFO);
	if ((info & 0xff) != 0xff) /* a spurious vector is never in service */
		apic_eoi();
	if ((info & 0xff) != KICK_VECTOR)
		log_debug("VM %s: external interrupt, info %#x", v->vm->cfg.name, info);
	if (!vm_stopping(v) && v->lapic.ops)
		vcpu_request(v, REQ_EVENT); /* an IPI may be in its IRR */
}

/* INIT to a CPU in VMX non-root operation is an exit, not a reset (SDM
 * vol. 3C, 25.2): the vCPU is to go where INIT would put it, waiting for
 * a start-up IPI; the run loop does that (vcpu_serve), and only for an
 * INIT that the VM's own guest sent: one left pending from an earlier VM
 * on this CPU finds no count. */
void handle_init(struct vcpu *v)
{
	if (!vm_stopping(v))
		vcpu_request(v, REQ_INIT);
}

/* A start-up IPI to a vCPU waiting for one (25.2): the run loop starts it
 * (vcpu_serve) if the guest sent it. */
void handle_sipi(struct vcpu *v)
{
	/* Bochs 2.7 masks SMIs for the wait and its SIPI exit skips the
	 * unmasking, so from then on every exit on this CPU reports blocking
	 * by SMI, which a VM entry outside SMM refuses (26.3.1.5). Seen here
	 * first, whatever the SIPI was: this CPU's run loops clear it after
	 * each exit from now on (on_exit_smi), and this one is entered again
	 * to take that on. A CPU that does not do this never pays for it. */
	uint32_t intr = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & INTERRUPTIBILITY_SMI) {
		vmcs_write32(GUEST_INTERRUPTIBILITY_INFO, intr & ~INTERRUPTIBILITY_SMI);
		if (!percpu_read8(smi_stuck)) {
			log_info("VM %s: this CPU reports blocking by SMI after a SIPI exit (an emulator's quirk): "
				 "cleared after each exit on it from now on",
				 v->vm->cfg.name);
			percpu_write8(smi_stuck, 1);
			vcpu_request(v, REQ_REENTER);
		}
	}
	if (!vm_stopping(v))
		vcpu_request(v, REQ_SIPI);
}

/* The timer fires every ~100 ms of guest time, or sooner for the local
 * APIC's timer: fire that, and check the VM's limit. */
void handle_preemption_timer(struct vcpu *v)
{
	uint64_t now = rdtsc(), next = hv_vmx.preemption_slice;

	if (vm_stopping(v))
		return; /* another vCPU ended the VM */
	if (v->lapic.ops)
		v->lapic.ops->timer_check(v, now);
	if (v->lapic.deadline) {
		uint64_t left = (v->lapic.deadline - now) >> vmx_preemption_timer_rate(&hv_vmx_caps);
		if (left < next)
			next = left ? left : 1;
	}
	if (v->deadline_tsc && now >= v->deadline_tsc) {
		log_err("VM %s: time limit of %llu s reached at RIP %#llx (module key timeout=)", v->vm->cfg.name,
			(unsigned long long)v->vm->cfg.timeout, (unsigned long long)guest_rip());
		vm_end(v, CAUSE_TIMEOUT, v->vm->cfg.timeout);
		return;
	}
	vmcs_write32(VMX_PREEMPTION_TIMER_VALUE, (uint32_t)next);
}

void handle_apic_write(struct vcpu *v)
{
	if (!v->lapic.ops || !v->lapic.ops->write_exit) { /* only on APIC virtualization */
		log_err("VM %s: APIC-write exit without a virtualized local APIC", v->vm->cfg.name);
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_APIC_WRITE);
		return;
	}
	v->lapic.ops->write_exit(v, (unsigned)vmcs_readnat(EXIT_QUALIFICATION));
}

/* With APIC virtualization: an access it does not virtualize (the
 * timer's current count, reserved offsets). Types 0 and 1 are linear
 * reads and writes (SDM vol. 3C, table 28-6), done from the instruction;
 * anything else is not emulated. */
void handle_apic_access(struct vcpu *v)
{
	uint64_t qual = vmcs_readnat(EXIT_QUALIFICATION);
	unsigned type = (qual >> 12) & 0xf;
	if (type > 1) {
		log_err("VM %s: local-APIC access of type %u at offset %#x is not emulated", v->vm->cfg.name, type,
			(unsigned)(qual & 0xfff));
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_APIC_ACCESS);
		return;
	}
	uint64_t gpa = APIC_DEFAULT_BASE | (qual & 0xfff);
	const struct mmio_region *r = bus_find_mmio(v->vm, gpa, type == 1);
	if (!r) { /* a VM on APIC virtualization always has its APIC on the bus */
		log_err("VM %s: local-APIC access at offset %#x and no APIC on the bus", v->vm->cfg.name,
			(unsigned)(qual & 0xfff));
		vm_end(v, CAUSE_ERROR, EXIT_APIC_ACCESS);
		return;
	}
	mmio_emulate(v, gpa, r, EXIT_APIC_ACCESS);
}

/* The guest can take an interrupt now, or lowered its TPR below a pending
 * one: the run loop delivers it. The machine's OS has no virtual APIC:
 * its interrupt window is for an NMI (vcpu.c, pass_nmi). */
void handle_interrupt_ready(struct vcpu *v)
{
	if (v->lapic.ops)
		vcpu_request(v, REQ_EVENT);
	else
		handle_nmi_window(v);
}

/* The machine's OS can take the NMI waiting for it now (an NMI-window or
 * interrupt-window exit): the window is closed, and the run loop injects
 * it (vmx/vcpu.c, pass_nmi). */
void handle_nmi_window(struct vcpu *v)
{
	vcpu_set_windows(v, 0, PROC_NMI_WINDOW_EXITING | PROC_INTERRUPT_WINDOW_EXITING);
}
