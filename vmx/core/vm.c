/*
 * VM events, from any vCPU or CPU: a VM's end (the first cause wins, and
 * every other vCPU is signalled to stop), signals between vCPUs' CPUs,
 * and idle vCPUs (a VM whose vCPUs can no longer wake one another ends).
 */
#include "vmx/core/vm.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "drivers/console.h"

const char *vm_cause_name(enum vm_cause c)
{
	static const char *const names[] = {
		[CAUSE_RUNNING] = "running",
		[CAUSE_DEBUG_EXIT] = "debug-exit",
		[CAUSE_SHUTDOWN_PORT] = "shutdown-port",
		[CAUSE_HLT] = "hlt",
		[CAUSE_TRIPLE_FAULT] = "triple-fault",
		[CAUSE_HYPERCALL] = "hypercall",
		[CAUSE_EPT_VIOLATION] = "ept-violation",
		[CAUSE_ENTRY_FAILURE] = "entry-failure",
		[CAUSE_UNHANDLED_EXIT] = "unhandled-exit",
		[CAUSE_TIMEOUT] = "timeout",
		[CAUSE_POWEROFF] = "poweroff",
		[CAUSE_REBOOT] = "reboot",
		[CAUSE_ERROR] = "error",
	};
	return names[c];
}

void vm_kick(struct vcpu *t, bool sipi)
{
	uint32_t apic_id = cpus[t->cpu].apic_id;
	if (t->cpu == this_cpu()->id)
		return; /* it is in the hypervisor now: it sees the change before it enters */
	if (!t->vm->cfg.passthrough)
		apic_send(apic_id, ICR_FIXED | KICK_VECTOR);
	if (sipi)
		apic_send(apic_id, ICR_STARTUP);
}

/* Signal every other vCPU of the VM that is in its run loop to stop;
 * false if none is. A passthrough OS's vCPUs take interrupts directly, so
 * theirs come from the preemption timer (one slice at most); those
 * waiting for SIPI wake only for a start-up IPI, so they get one too (SDM
 * vol. 3C, 25.5.1: the timer does not end that wait). */
bool vm_signal_stop(struct vm *vm, const struct vcpu *self)
{
	bool any = false;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (t && t != self && __atomic_load_n(&t->in_run, __ATOMIC_SEQ_CST) &&
		    __atomic_load_n(&t->fate, __ATOMIC_ACQUIRE) != FATE_LOST) {
			vcpu_request(t, REQ_STOP);
			vm_kick(t, true);
			any = true;
		}
	}
	return any;
}

void vm_end(struct vcpu *v, enum vm_cause cause, uint64_t status)
{
	if (v->cause != CAUSE_RUNNING)
		return; /* the first cause wins */
	v->cause = cause;
	v->status = status;
	vcpu_request(v, REQ_STOP);
	struct vm *vm = v->vm;
	enum vm_cause running = CAUSE_RUNNING;
	if (__atomic_compare_exchange_n(&vm->cause, &running, cause, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		vm->status = status;
		vm_signal_stop(vm, v);
	}
}

/* Every vCPU of V's VM is halted or waiting for SIPI and none can wake
 * another; the VM has a time limit. Those waiting for SIPI take no
 * preemption-timer exit (SDM vol. 3C, 26.5.1), so the limit is kept here,
 * in VMX root operation on the CPU of the vCPU that went idle last,
 * unless something wakes it first (an NMI for the machine's OS). */
static void wait_time_limit(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (!v->deadline_tsc)
		return; /* no preemption timer: the limit is not enforced (vcpu_run said so) */
	log_info("VM %s: all %u vCPUs halted or waiting for SIPI, with nothing to wake them: waiting for the time "
		 "limit",
		 vm->cfg.name, vm->nvcpus);
	while (rdtsc() < v->deadline_tsc) {
		/* An NMI wakes a halted vCPU, not one waiting for SIPI. */
		if (vm_stopping(v) || !__atomic_load_n(&v->idle, __ATOMIC_SEQ_CST) ||
		    (percpu_read32(nmi_pending) && !v->waiting_sipi))
			return;
		__asm__ volatile("pause");
	}
	log_err("VM %s: time limit of %llu s reached with every vCPU halted or waiting for SIPI (module key timeout=)",
		vm->cfg.name, (unsigned long long)vm->cfg.timeout);
	vm_end(v, CAUSE_TIMEOUT, vm->cfg.timeout);
}

void vm_vcpu_idle(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (vm->nvcpus < 2 || __atomic_exchange_n(&v->idle, true, __ATOMIC_SEQ_CST))
		return;
	unsigned idle = __atomic_add_fetch(&vm->idle_vcpus, 1, __ATOMIC_SEQ_CST);
	/* An IPI accepted just before V was marked: its sender saw V not yet
	 * idle (both sides use full barriers, so one sees the other). */
	if (v->lapic.ops && v->lapic.ops->irr_pending(v)) {
		vm_vcpu_wakes(v);
		return;
	}
	if (idle < vm->nvcpus)
		return;
	if (vm->cfg.timeout) {
		wait_time_limit(v);
		return;
	}
	log_info("VM %s: all %u vCPUs halted or waiting for SIPI, with nothing to wake them and no time limit: VM "
		 "stopped",
		 vm->cfg.name, vm->nvcpus);
	vm_end(v, CAUSE_HLT, 0);
}

void vm_vcpu_wakes(struct vcpu *t)
{
	if (__atomic_exchange_n(&t->idle, false, __ATOMIC_SEQ_CST))
		__atomic_sub_fetch(&t->vm->idle_vcpus, 1, __ATOMIC_SEQ_CST);
}

bool vm_stopping(struct vcpu *v)
{
	enum vm_cause c = __atomic_load_n(&v->vm->cause, __ATOMIC_ACQUIRE);
	if (c == CAUSE_RUNNING)
		return false;
	if (v->cause == CAUSE_RUNNING) {
		v->cause = c;
		v->status = v->vm->status;
		vcpu_request(v, REQ_STOP);
	}
	return true;
}

bool vm_post_init_sipi(struct vcpu *t, unsigned mode, uint8_t vector)
{
	if (mode == ICR_MODE_SIPI) {
		t->sipi_vector = vector;
		__atomic_add_fetch(&t->sipis_sent, 1, __ATOMIC_RELEASE);
		if (t->waiting_sipi)
			vm_vcpu_wakes(t); /* it will run: the VM is not idle while the SIPI flies */
		return true;
	}
	/* INIT to a vCPU in the INIT state changes nothing; a real one would
	 * stay pending and reset it again after its start-up IPI. */
	if (t->waiting_sipi)
		return false;
	__atomic_add_fetch(&t->inits_sent, 1, __ATOMIC_RELEASE);
	vcpu_request(t, REQ_INIT);
	return true;
}
