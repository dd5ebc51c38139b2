#include "vmx/dev/lapic.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "arch-x86/string.h"
#include "arch-x86/tsc.h"
#include "drivers/console.h"
#include "mm/phys.h"
#include "vmx/dev/bus.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/core/guest.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

#define APIC_VERSION_VALUE 0x00050014u /* version 0x14, 6 LVT entries */
#define LVT_TIMER_PERIODIC (1u << 17)
#define RFLAGS_IF_BIT (1ull << 9)

static uint32_t *reg(struct vcpu *v, unsigned off)
{
	return (uint32_t *)((uint8_t *)phys_to_virt(v->lapic.page) + off);
}

/* What the APIC holds after power-up or INIT (SDM vol. 3A, 11.4.7.1):
 * software-disabled, every LVT masked, the timer stopped; the ID stays. */
static void lapic_reset(struct vcpu *v)
{
	struct vlapic *l = &v->lapic;

	memset(phys_to_virt(l->page), 0, PAGE_SIZE);
	*reg(v, APIC_ID) = v->apic_id << 24;
	*reg(v, APIC_VERSION) = APIC_VERSION_VALUE;
	*reg(v, APIC_DFR) = 0xffffffff;
	*reg(v, APIC_SVR) = 0xff;
	for (unsigned off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10)
		*reg(v, off) = LVT_MASKED;
	l->apic_base = APIC_DEFAULT_BASE | APIC_BASE_EN | (v->index ? 0 : APIC_BASE_BSP);
	l->deadline = l->period = 0;
	vcpu_take_request(v, REQ_EVENT);
}

static const struct lapic_ops lapic_emulated, lapic_virtualized;

bool lapic_init(struct vcpu *v, bool hw)
{
	struct vlapic *l = &v->lapic;

	l->page = phys_alloc_page();
	if (!l->page)
		return false;
	lapic_reset(v);
	l->ops = hw ? &lapic_virtualized : &lapic_emulated;
	/* On APIC virtualization the VM's EPT maps 0xFEE00000 to its
	 * APIC-access page (vmx/create.c), which the CPU recognizes by address
	 * (30.4); else that page stays out of EPT and each access faults. */
	l->hw = hw;
	return true;
}

void lapic_destroy(struct vcpu *v)
{
	struct vlapic *l = &v->lapic;
	if (l->page)
		phys_free(l->page, 1);
	l->page = 0;
}

/* Highest vector set in the 256-bit register at OFF (ISR, IRR), or -1. */
static int highest(struct vcpu *v, unsigned off)
{
	for (int i = 7; i >= 0; i--) {
		uint32_t w = *reg(v, off + i * 0x10);
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

/* Atomic: other vCPUs' CPUs set bits in this vCPU's IRR. */
static void set_bit_in(struct vcpu *v, unsigned off, unsigned vector, bool on)
{
	uint32_t *w = reg(v, off + (vector / 32) * 0x10);
	if (on)
		__atomic_fetch_or(w, 1u << (vector % 32), __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(w, ~(1u << (vector % 32)), __ATOMIC_RELEASE);
}

/* An interrupt with VECTOR arrives at V's APIC: IRR, to be delivered. V
 * may run on another CPU: it is made to exit, and delivers it then. */
static void accept(struct vcpu *v, unsigned vector)
{
	if (vector < 16 || !(*reg(v, APIC_SVR) & SVR_ENABLED))
		return; /* illegal vectors and a disabled APIC drop it */
	set_bit_in(v, APIC_IRR, vector, true);
	vcpu_request(v, REQ_EVENT);
	vm_vcpu_wakes(v);
	if (v->cpu != this_cpu()->id)
		vm_kick(v, false);
}

/* Interrupt-window exiting on or off (the controls as written). */
static void set_window(struct vcpu *v, bool on)
{
	vcpu_set_windows(v, on ? PROC_INTERRUPT_WINDOW_EXITING : 0, on ? 0 : PROC_INTERRUPT_WINDOW_EXITING);
}

/* Inject the highest pending interrupt if the guest can take it now,
 * else ask for an interrupt-window exit; while one still waits it asks
 * the run loop again (REQ_EVENT). On APIC virtualization (VIRTUALIZED)
 * the TPR threshold is cleared once one is injected. */
static void deliver(struct vcpu *v, bool virtualized)
{
	/* A CPU waiting for SIPI takes no interrupt (SDM vol. 3C, 25.4.2);
	 * it is disabled anyway until the guest enables it. */
	if (vmcs_read32(GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI) {
		vcpu_request(v, REQ_EVENT); /* still waiting */
		return;
	}
	int irr = highest(v, APIC_IRR);

	if (irr < 0) {
		set_window(v, false);
		return;
	}
	/* Until it is delivered, every exit looks again (vcpu_serve). */
	vcpu_request(v, REQ_EVENT);
	/* Processor priority: TPR or the highest in service (11.8.3.1). */
	int isr = highest(v, APIC_ISR);
	unsigned tpr = *reg(v, APIC_TPR) & 0xff;
	unsigned ppr = isr >= 0 && (unsigned)(isr & 0xf0) > (tpr & 0xf0) ? (unsigned)(isr & 0xf0) : tpr;
	if ((unsigned)(irr & 0xf0) <= (ppr & 0xf0)) {
		/* Blocked by priority: if by TPR, exit when the guest lowers it
		 * below this class (TPR threshold, 30.1.2). */
		vmcs_write32(TPR_THRESHOLD, isr >= 0 && (unsigned)(isr & 0xf0) >= (tpr & 0xf0) ? 0 : (unsigned)irr >> 4);
		set_window(v, false);
		return;
	}
	uint64_t rflags = vmcs_readnat(GUEST_RFLAGS);
	uint32_t blocking = vmcs_read32(GUEST_INTERRUPTIBILITY_INFO) & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
	bool event_queued = vmcs_read32(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID;
	/* A #DB trap due after the last instruction (a single step over one
	 * the hypervisor completed, vcpu_skip) comes before an interrupt
	 * (SDM vol. 3A, 6.9), and a VM entry that injects one discards it
	 * (vol. 3C, 27.7.3): the interrupt waits for the window, whose exit
	 * comes after the #DB is delivered (27.7.5). */
	bool debug_trap = vmcs_readnat(GUEST_PENDING_DBG_EXCEPTIONS) != 0;
	if (!(rflags & RFLAGS_IF_BIT) || blocking || event_queued || debug_trap) {
		set_window(v, true); /* exit as soon as it can take one */
		return;
	}
	set_bit_in(v, APIC_IRR, (unsigned)irr, false);
	set_bit_in(v, APIC_ISR, (unsigned)irr, true);
	vmcs_write32(VM_ENTRY_INTR_INFO, (unsigned)irr | INTR_TYPE_EXTERNAL | INTR_INFO_VALID);
	if (virtualized)
		vmcs_write32(TPR_THRESHOLD, 0);
	vmcs_write32(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE); /* an interrupt ends HLT */
	bool more = highest(v, APIC_IRR) >= 0;
	if (!more)
		vcpu_take_request(v, REQ_EVENT);
	set_window(v, more);
}

/* The timer's clock is the TSC divided by the divide configuration
 * (11.5.4: bits 0, 1 and 3 encode 2, 4, ..., 128, or 1): its log2. */
static unsigned divide_shift(struct vcpu *v)
{
	uint32_t d = *reg(v, APIC_TIMER_DIVIDE);
	unsigned code = (d & 3) | ((d >> 1) & 4);
	return code == 7 ? 0 : code + 1;
}

static uint64_t timer_ticks(struct vcpu *v, uint32_t count)
{
	return (uint64_t)count << divide_shift(v);
}

static void timer_arm(struct vcpu *v)
{
	struct vlapic *l = &v->lapic;
	uint32_t count = *reg(v, APIC_TIMER_INITIAL);
	uint32_t lvt = *reg(v, APIC_LVT_TIMER);

	l->deadline = 0;
	l->period = 0;
	if (!count)
		return;
	uint64_t ticks = timer_ticks(v, count);
	l->deadline = rdtsc() + ticks;
	if (lvt & LVT_TIMER_PERIODIC)
		l->period = ticks;
	/* Wake up for it: the preemption timer counts TSC >> rate (A.6). */
	uint64_t pt = ticks >> vmx_preemption_timer_rate(&hv_vmx_caps);
	if (pt < hv_vmx.preemption_slice)
		vmcs_write32(VMX_PREEMPTION_TIMER_VALUE, pt ? (uint32_t)pt : 1);
}

static void lapic_timer_check(struct vcpu *v, uint64_t now)
{
	struct vlapic *l = &v->lapic;

	if (!l->deadline || now < l->deadline)
		return;
	uint32_t lvt = *reg(v, APIC_LVT_TIMER);
	if (!(lvt & LVT_MASKED))
		accept(v, lvt & 0xff);
	if (l->period) /* missed periods coalesce into one interrupt */
		l->deadline += ((now - l->deadline) / l->period + 1) * l->period;
	else
		l->deadline = 0;
}

/* Does the ICR's destination DEST name T (SDM vol. 3A, 11.6.2)? Physical
 * mode: its APIC ID, or the broadcast ID; logical mode: the flat model's
 * bit mask against its LDR. */
static bool destined(struct vcpu *t, uint32_t low, uint32_t dest, bool x2apic)
{
	if (low & ICR_LOGICAL)
		return !x2apic && (dest & (*reg(t, APIC_LDR) >> 24)) != 0;
	return dest == (x2apic ? 0xffffffffu : 0xffu) || dest == t->apic_id;
}

/* An IPI V's guest sent through ICR (11.6.1), to the vCPUs of its VM:
 * fixed and lowest-priority interrupts into their IRRs; INIT and start-up
 * as real ones to their CPUs, where they cause INIT and SIPI exits
 * (vmx/exit/exit.c), as the guest would see them on hardware. NMI, SMI and
 * the rest are not modelled: dropped, with a warning. An IPI that names
 * no vCPU of the VM (an INIT to a CPU outside it) is dropped. */
static void send_ipi(struct vcpu *v, uint32_t low, uint32_t dest)
{
	struct vm *vm = v->vm;
	unsigned shorthand = icr_shorthand(low), mode = icr_mode(low), vector = low & 0xff, sent = 0;
	bool x2apic = v->lapic.apic_base & APIC_BASE_EXTD;

	if (mode == ICR_MODE_INIT && !(low & ICR_LEVEL_ASSERT))
		return; /* INIT level de-assert: no effect since the Pentium 4 */
	if (mode != ICR_MODE_FIXED && mode != ICR_MODE_LOWEST && mode != ICR_MODE_INIT && mode != ICR_MODE_SIPI) {
		log_warn("VM %s: vCPU %u sent an IPI with delivery mode %u, which is not modelled: dropped", vm->cfg.name,
			 v->index, mode);
		return;
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		bool to = shorthand == ICR_SELF		  ? t == v
			  : shorthand == ICR_ALL		  ? true
			  : shorthand == ICR_ALL_BUT_SELF ? t != v
							  : destined(t, low, dest, x2apic);
		if (!to)
			continue;
		sent++;
		if (mode == ICR_MODE_FIXED || mode == ICR_MODE_LOWEST) {
			accept(t, vector);
			if (mode == ICR_MODE_LOWEST)
				break; /* one of them: the first */
		} else if (t != v && vm_post_init_sipi(t, mode, (uint8_t)vector)) {
			/* (To itself: no effect.) */
			apic_send(cpus[t->cpu].apic_id, mode == ICR_MODE_INIT ? ICR_INIT : ICR_STARTUP | vector);
		}
	}
	if (!sent && !__atomic_fetch_add(&vm->dropped_ipis, 1, __ATOMIC_RELAXED))
		log_warn("VM %s: vCPU %u sent an IPI (ICR %#x, destination %#x) to no vCPU of the VM (it has %u): "
			 "dropped (later ones are dropped without a word)",
			 vm->cfg.name, v->index, low, dest, vm->nvcpus);
}

/* A write the CPU made to the virtual-APIC page (trap-like, 30.4.3.3). */
static void register_written(struct vcpu *v, unsigned off, uint32_t val)
{
	switch (off) {
	case APIC_EOI: {
		int isr = highest(v, APIC_ISR);
		if (isr >= 0)
			set_bit_in(v, APIC_ISR, (unsigned)isr, false);
		vcpu_request(v, REQ_EVENT); /* something below may now go */
		break;
	}
	case APIC_TIMER_INITIAL:
	case APIC_LVT_TIMER:
	case APIC_TIMER_DIVIDE:
		if (off == APIC_TIMER_INITIAL || !(val & LVT_MASKED))
			timer_arm(v);
		break;
	case APIC_ICR_LOW:
		/* xAPIC: the destination is ICR_HIGH's top byte; x2APIC: all of
		 * it (lapic_msr_write stores it there). */
		send_ipi(v, val,
			 (v->lapic.apic_base & APIC_BASE_EXTD) ? *reg(v, APIC_ICR_HIGH) : *reg(v, APIC_ICR_HIGH) >> 24);
		*reg(v, APIC_ICR_LOW) = val & ~ICR_PENDING; /* delivered: idle */
		break;
	case APIC_SELF_IPI:
		accept(v, val & 0xff);
		break;
	case APIC_SVR:
	case APIC_TPR:
		vcpu_request(v, REQ_EVENT);
		break;
	default:
		break;
	}
}

static void lapic_write_exit(struct vcpu *v, unsigned offset)
{
	offset &= 0xff0;
	register_written(v, offset, *reg(v, offset));
}

static uint32_t timer_current(struct vcpu *v)
{
	uint64_t now = rdtsc(), left = v->lapic.deadline > now ? v->lapic.deadline - now : 0;
	return (uint32_t)(left >> divide_shift(v));
}

/* Registers software may write (SDM vol. 3A, table 11-1). */
static bool writable(unsigned off)
{
	switch (off) {
	case APIC_TPR: case APIC_EOI: case APIC_LDR: case APIC_DFR: case APIC_SVR: case 0x280: case 0x2f0:
	case APIC_ICR_LOW: case APIC_ICR_HIGH: case APIC_TIMER_INITIAL: case APIC_TIMER_DIVIDE:
		return true;
	default:
		return off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR;
	}
}

static bool lapic_mmio(struct vcpu *v, void *dev, struct mmio_access *a)
{
	(void)dev; /* the state is the vCPU's own */
	unsigned off = a->gpa & 0xfff;

	/* APIC registers are 32-bit and 16-byte aligned (SDM vol. 3A, 11.4.1);
	 * narrower or wider accesses are not supported, as on hardware. */
	if (a->size != 4 || (off & 3)) {
		log_err("VM %s: %s of %u bytes at local-APIC offset %#x: its registers are read and written 32 bits "
			"at a time, at RIP %#llx",
			v->vm->cfg.name, a->write ? "write" : "read", a->size, off,
			(unsigned long long)guest_rip());
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_APIC_ACCESS);
		return false;
	}
	unsigned aligned = off & 0xff0;
	if (a->write) {
		if (writable(aligned)) {
			*reg(v, aligned) = (uint32_t)a->value;
			register_written(v, aligned, (uint32_t)a->value);
		}
	} else {
		a->value = aligned == APIC_TIMER_CURRENT ? timer_current(v)
			   : aligned == APIC_EOI	     ? 0 /* write-only */
							     : *reg(v, aligned);
	}
	return true;
}

static uint64_t lapic_cr8_read(struct vcpu *v)
{
	return (*reg(v, APIC_TPR) >> 4) & 0xf;
}

static void lapic_cr8_write(struct vcpu *v, uint64_t val)
{
	*reg(v, APIC_TPR) = (uint32_t)(val << 4);
	vcpu_request(v, REQ_EVENT);
}

/* x2APIC: MSR 0x800 + offset/16 (SDM vol. 3A, 11.12.1.2). */
static bool lapic_msr_read(struct vcpu *v, void *dev, uint32_t msr, uint64_t *value)
{
	(void)dev;
	struct vlapic *l = &v->lapic;
	if (msr == MSR_IA32_APIC_BASE) {
		*value = l->apic_base;
		return true;
	}
	if (!(l->apic_base & APIC_BASE_EXTD))
		return false;
	unsigned off = (msr - 0x800) << 4;
	if (off == APIC_TIMER_CURRENT) {
		*value = timer_current(v);
		return true;
	}
	if (off == APIC_ID) {
		*value = v->apic_id; /* x2APIC ID: 32 bits */
		return true;
	}
	if (off == APIC_EOI || off == APIC_SELF_IPI || off > APIC_TIMER_DIVIDE)
		return false; /* write-only or absent */
	*value = *reg(v, off);
	if (off == APIC_ICR_LOW)
		*value |= (uint64_t)*reg(v, APIC_ICR_HIGH) << 32;
	return true;
}

static bool lapic_msr_write(struct vcpu *v, void *dev, uint32_t msr, uint64_t value)
{
	(void)dev;
	struct vlapic *l = &v->lapic;
	if (msr == MSR_IA32_APIC_BASE) {
		/* The base stays at 0xFEE00000; enable and x2APIC mode may
		 * change (leaving x2APIC needs a disable first, 11.12.5). */
		if ((value & ~0xfffull) != APIC_DEFAULT_BASE || (value & 0x2ff))
			return false;
		bool extd = value & APIC_BASE_EXTD, en = value & APIC_BASE_EN;
		if ((extd && !en) || (!extd && (l->apic_base & APIC_BASE_EXTD) && en))
			return false;
		l->apic_base = (value & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP); /* BSP is read-only */
		return true;
	}
	if (!(l->apic_base & APIC_BASE_EXTD))
		return false;
	unsigned off = (msr - 0x800) << 4;
	switch (off) {
	case APIC_TPR:
	case APIC_EOI:
	case APIC_SVR:
	case APIC_LVT_TIMER:
	case APIC_LVT_LINT0:
	case APIC_LVT_LINT1:
	case APIC_LVT_ERROR:
	case APIC_TIMER_INITIAL:
	case APIC_TIMER_DIVIDE:
	case APIC_SELF_IPI:
		*reg(v, off) = (uint32_t)value;
		register_written(v, off, (uint32_t)value);
		return true;
	case APIC_ICR_LOW:
		*reg(v, APIC_ICR_HIGH) = (uint32_t)(value >> 32);
		*reg(v, APIC_ICR_LOW) = (uint32_t)value;
		register_written(v, off, (uint32_t)value);
		return true;
	default:
		return false;
	}
}

static bool lapic_halt(struct vcpu *v)
{
	struct vlapic *l = &v->lapic;
	/* Without the preemption timer nothing would bring the CPU back from
	 * the guest's HLT state. With other vCPUs, an IPI from one may. */
	if (!hv_vmx.preemption_timer || (!l->deadline && highest(v, APIC_IRR) < 0 && v->vm->nvcpus == 1))
		return false;
	guest_halt();
	vcpu_request(v, REQ_EVENT);
	if (!l->deadline)
		vm_vcpu_idle(v); /* only an IPI can wake it (one in its IRR already counts) */
	return true;
}

static bool lapic_irr_pending(struct vcpu *v)
{
	return highest(v, APIC_IRR) >= 0;
}

static void deliver_emulated(struct vcpu *v)
{
	deliver(v, false);
}

static void deliver_virtualized(struct vcpu *v)
{
	deliver(v, true);
}

static const struct lapic_ops lapic_emulated = {
	.irr_pending = lapic_irr_pending,
	.deliver = deliver_emulated,
	.timer_check = lapic_timer_check,
	.halt = lapic_halt,
	.cr8_read = lapic_cr8_read,
	.cr8_write = lapic_cr8_write,
	.write_exit = NULL, /* accesses are EPT violations (lapic_mmio) */
	.reset = lapic_reset,
};

static const struct lapic_ops lapic_virtualized = {
	.irr_pending = lapic_irr_pending,
	.deliver = deliver_virtualized,
	.timer_check = lapic_timer_check,
	.halt = lapic_halt,
	.cr8_read = lapic_cr8_read,
	.cr8_write = lapic_cr8_write,
	.write_exit = lapic_write_exit,
	.reset = lapic_reset,
};

bool lapic_attach(struct vm *vm)
{
	/* Each vCPU's APIC is at the same address; its state is the vCPU's
	 * (lapic_init). */
	return bus_add_mmio(vm, APIC_DEFAULT_BASE, PAGE_SIZE, false, lapic_mmio, NULL) &&
	       bus_add_msrs(vm, MSR_IA32_APIC_BASE, MSR_IA32_APIC_BASE, lapic_msr_read, lapic_msr_write, NULL) &&
	       bus_add_msrs(vm, 0x800, 0x8ff, lapic_msr_read, lapic_msr_write, NULL);
}
