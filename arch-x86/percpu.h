/*
 * Per-CPU data: every CPU the hypervisor runs on has a struct cpu, and its
 * GS base points at it, so this_cpu() is one load (%gs:0 holds the
 * struct's own address). The boot CPU is cpus[0]; the others follow in
 * MADT order as arch-x86/smp.c starts them.
 */
#ifndef ARCH_X86_PERCPU_H
#define ARCH_X86_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "arch-x86/gdt.h"

#define MAX_CPUS 64

struct cpu {
	struct cpu *self; /* first: %gs:0 */
	unsigned id;	  /* 0 for the boot CPU, then in MADT order */
	uint32_t apic_id;
	volatile bool online; /* set by the CPU itself once it is up */
	uint64_t gdt[5];
	struct tss tss;
	uint64_t ist_base; /* IST stacks (IST_COUNT x IST_STACK_SIZE) */
	uint64_t stack_top; /* an AP's own stack; the boot CPU's is in boot/start.S */
	uint64_t vmxon_region;
};

extern struct cpu cpus[MAX_CPUS];
extern unsigned ncpus; /* CPUs set up: the boot CPU and every AP started */

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* Make C this CPU's: its GS base, its id and APIC id. */
void percpu_enter(struct cpu *c, unsigned id, uint32_t apic_id);

#endif
