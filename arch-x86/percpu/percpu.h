/*
 * Per-CPU data: every CPU the hypervisor runs on has a struct cpu, and its
 * GS base points at it, so this_cpu() is one load (%gs:0 holds the
 * struct's own address). The boot CPU is cpus[0]; the others follow in
 * MADT order as arch-x86/percpu/smp.c starts them.
 */
#ifndef ARCH_X86_PERCPU_H
#define ARCH_X86_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "arch-x86/percpu/gdt.h"

#define MAX_CPUS 64
#define AP_STACK_SIZE 16384 /* an AP's stack, from the frame pool */

struct cpu {
	struct cpu *self; /* first: %gs:0 */
	unsigned id;	  /* 0 for the boot CPU, then in MADT order */
	uint32_t apic_id;
	volatile bool online; /* set by the CPU itself once it is up */
	volatile bool failed; /* set by the CPU itself if it could not come up */
	uint64_t gdt[GDT_ENTRIES];
	struct tss tss;
	uint64_t ist_base; /* IST stacks (IST_COUNT x IST_STACK_SIZE) */
	uint64_t stack_top; /* an AP's own stack; the boot CPU's is in boot/start.S */
	uint64_t vmxon_region;
	/* Events the exit path checks, in one word so that one GS-relative
	 * load tests them all (percpu_read64(attention), vmx/vcpu.c). */
	union {
		volatile uint64_t attention;
		struct {
			volatile uint32_t nmi_pending; /* NMIs that arrived in VMX root operation */
			volatile uint8_t vmcs_failed;  /* a VMREAD/VMWRITE failed (vmx/hw/vmcs.h) */
		};
	};
	uint8_t smi_stuck; /* exits report blocking by SMI (vmx/exit/events.c, handle_sipi) */
	unsigned trap_depth;	       /* exceptions being reported on this CPU */
};

extern struct cpu cpus[MAX_CPUS];
/* Slots used in cpus[]: the boot CPU and every AP tried. A CPU that did
 * not come up keeps its slot (and its stacks: it may still wake), so
 * cpu ids are never reused; cpus[i].online says which are up. */
extern unsigned ncpus;

/* One field of this CPU's struct cpu in one GS-relative instruction, for
 * the exit path and the NMI handler (no pointer load, and an increment
 * is a single instruction no interrupt can split). 8- and 32-bit fields. */
#define PERCPU_OFF(field) __builtin_offsetof(struct cpu, field)
#define percpu_read8(field)                                                                         \
	__extension__({                                                                             \
		uint8_t v_;                                                                         \
		__asm__ volatile("movb %%gs:%c1, %0" : "=q"(v_) : "i"(PERCPU_OFF(field)) : "memory"); \
		v_;                                                                                 \
	})
#define percpu_write8(field, v) \
	__asm__ volatile("movb %0, %%gs:%c1" : : "qi"((uint8_t)(v)), "i"(PERCPU_OFF(field)) : "memory")
#define percpu_read32(field)                                                                       \
	__extension__({                                                                            \
		uint32_t v_;                                                                       \
		__asm__ volatile("movl %%gs:%c1, %0" : "=r"(v_) : "i"(PERCPU_OFF(field)) : "memory"); \
		v_;                                                                                \
	})
#define percpu_write32(field, v) \
	__asm__ volatile("movl %0, %%gs:%c1" : : "ri"((uint32_t)(v)), "i"(PERCPU_OFF(field)) : "memory")
#define percpu_read64(field)                                                                       \
	__extension__({                                                                            \
		uint64_t v_;                                                                       \
		__asm__ volatile("movq %%gs:%c1, %0" : "=r"(v_) : "i"(PERCPU_OFF(field)) : "memory"); \
		v_;                                                                                \
	})
#define percpu_inc32(field) __asm__ volatile("incl %%gs:%c0" : : "i"(PERCPU_OFF(field)) : "memory")
#define percpu_dec32(field) __asm__ volatile("decl %%gs:%c0" : : "i"(PERCPU_OFF(field)) : "memory")

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* How many CPUs are up (cpus[i].online). */
unsigned cpus_online(void);

/* Make C this CPU's: its GS base, its id and APIC id. */
void percpu_enter(struct cpu *c, unsigned id, uint32_t apic_id);

/* This CPU's GDT and TSS, for the VMCS host-state area (SDM vol. 3C,
 * 27.5.2). */
uint64_t gdt_base(void);
uint64_t tss_base(void);

/* Load C's own GDT and TSS on this CPU (arch-x86/percpu/gdt.h). */
void percpu_load_gdt(struct cpu *c);

#endif
