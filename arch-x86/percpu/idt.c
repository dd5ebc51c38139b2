#include "arch-x86/percpu/idt.h"

#include <stddef.h>

#include "arch-x86/cpu.h"
#include "arch-x86/percpu/gdt.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "drivers/console.h"

_Static_assert(offsetof(struct trap_frame, vector) == 15 * 8, "vectors.S pushes 15 registers before the vector");
_Static_assert(offsetof(struct trap_frame, rip) == 17 * 8, "the CPU's frame follows the vector and error code");

#define STUB_SIZE 16
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */

extern char trap_stubs[];

static uint64_t idt[256 * 2] __attribute__((aligned(16)));

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
	"#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor segment overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved (15)", "#MF x87 floating point", "#AC alignment check", "#MC machine check",
	"#XM SIMD floating point", "#VE virtualization exception", "#CP control protection",
};

static void set_gate(unsigned vec, uint64_t handler, unsigned ist)
{
	idt[vec * 2] = (handler & 0xffff) | (uint64_t)GDT_CODE << 16 | (uint64_t)ist << 32 |
		       (uint64_t)GATE_INTERRUPT << 40 | (handler >> 16 & 0xffff) << 48;
	idt[vec * 2 + 1] = handler >> 32;
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		unsigned ist = v == 8 ? IST_DF : v == 2 ? IST_NMI : v == 18 ? IST_MC : 0;
		set_gate(v, (uintptr_t)trap_stubs + v * STUB_SIZE, ist);
	}
	idt_load();
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) p = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}

extern char __image_start[], __image_end[];

/* Is the frame at RBP on a stack of this CPU: the boot CPU's are in the
 * image, an AP's come from the frame pool (its stack and IST stacks)? */
static bool on_a_stack(uint64_t rbp)
{
	const struct cpu *c = this_cpu();
	uint64_t lo = (uintptr_t)__image_start, hi = (uintptr_t)__image_end;

	if (rbp % 8)
		return false;
	if (rbp >= lo && rbp + 16 <= hi)
		return true;
	if (c->stack_top && rbp >= c->stack_top - AP_STACK_SIZE && rbp + 16 <= c->stack_top)
		return true;
	return c->id && rbp >= c->ist_base && rbp + 16 <= c->ist_base + IST_COUNT * IST_STACK_SIZE;
}

/* Follow the RBP chain (the image is built with frame pointers) while each
 * frame lies on one of this CPU's stacks. */
static void stack_trace(uint64_t rbp, uint64_t rip)
{
	log_err("  stack trace (addr2line -e build/hv.elf ADDR):");
	log_err("    %#018llx", (unsigned long long)rip);
	for (int depth = 0; depth < 16; depth++) {
		if (!on_a_stack(rbp))
			break;
		const uint64_t *frame = (const uint64_t *)(uintptr_t)rbp;
		if (frame[1] == 0)
			break;
		log_err("    %#018llx", (unsigned long long)frame[1]);
		if (frame[0] <= rbp) /* stacks grow down: callers' frames are higher */
			break;
		rbp = frame[0];
	}
}

extern const uint64_t __extable_start[], __extable_end[];

/* An instruction listed in the exception table (arch-x86/extable.h)
 * faulted: resume at its fixup, which reports the fault to its caller. */
static bool extable_fixup(struct trap_frame *tf)
{
	for (const uint64_t *e = __extable_start; e < __extable_end; e += 2) {
		if (e[0] == tf->rip) {
			tf->rip = e[1];
			return true;
		}
	}
	return false;
}

void trap(struct trap_frame *tf)
{
	if (tf->vector >= 32) {
		/* An interrupt in the hypervisor's one-instruction window
		 * (vcpu.c, before a passthrough OS runs): the signal meant to
		 * make a guest exit, the spurious vector, or something the
		 * firmware left unmasked. Acknowledged, never fatal. */
		if (tf->vector != 0xff)
			apic_eoi();
		if (tf->vector != KICK_VECTOR && tf->vector != 0xff)
			log_warn("interrupt vector %llu reached the hypervisor: acknowledged and ignored",
				 (unsigned long long)tf->vector);
		return;
	}
	if (tf->vector == 2) { /* NMI: note it and go on (IRET unblocks NMIs) */
		if (smp_stopping())
			smp_stop_self(); /* another CPU took a hypervisor exception */
		percpu_inc32(nmi_pending);
		return;
	}
	if (tf->vector == 13 && extable_fixup(tf)) /* only the #GP the guest provoked; a #MC is reported */
		return;
	const char *name = tf->vector < 32 && exception_names[tf->vector] ? exception_names[tf->vector] : "interrupt";

	/* The report must get out: past console_hold=1, and past a console
	 * lock this CPU held when it faulted. */
	console_break_lock();
	console_release();
	if (++this_cpu()->trap_depth > 1) {
		log_err("exception %s (vector %llu) while reporting an exception at RIP %#llx: halted", name,
			(unsigned long long)tf->vector, (unsigned long long)tf->rip);
		cpu_halt_forever();
	}
	log_err("hypervisor exception: %s (vector %llu), error code %#llx, at RIP %#llx", name,
		(unsigned long long)tf->vector, (unsigned long long)tf->error, (unsigned long long)tf->rip);
	log_err("  rax %016llx rbx %016llx rcx %016llx rdx %016llx", (unsigned long long)tf->rax,
		(unsigned long long)tf->rbx, (unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
	log_err("  rsi %016llx rdi %016llx rbp %016llx rsp %016llx", (unsigned long long)tf->rsi,
		(unsigned long long)tf->rdi, (unsigned long long)tf->rbp, (unsigned long long)tf->rsp);
	log_err("  r8  %016llx r9  %016llx r10 %016llx r11 %016llx", (unsigned long long)tf->r8,
		(unsigned long long)tf->r9, (unsigned long long)tf->r10, (unsigned long long)tf->r11);
	log_err("  r12 %016llx r13 %016llx r14 %016llx r15 %016llx", (unsigned long long)tf->r12,
		(unsigned long long)tf->r13, (unsigned long long)tf->r14, (unsigned long long)tf->r15);
	log_err("  rip %016llx rflags %08llx cs %04llx ss %04llx", (unsigned long long)tf->rip,
		(unsigned long long)tf->rflags, (unsigned long long)tf->cs, (unsigned long long)tf->ss);
	log_err("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx", (unsigned long long)read_cr0(),
		(unsigned long long)read_cr2(), (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
	stack_trace(tf->rbp, tf->rip);
	if (ncpus > 1)
		log_err("hypervisor halted; other CPUs stopped: %u of %u", smp_stop_others(), cpus_online() - 1);
	else
		log_err("hypervisor halted");
	cpu_halt_forever();
}
