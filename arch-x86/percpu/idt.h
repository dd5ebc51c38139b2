/* Interrupts and exceptions taken by the hypervisor itself. */
#ifndef ARCH_X86_IDT_H
#define ARCH_X86_IDT_H

#include <stdint.h>

/* Saved by arch-x86/percpu/vectors.S, in push order reversed. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	/* pushed by the CPU (SDM vol. 3A, 7.14.2, 64-bit mode) */
	uint64_t rip, cs, rflags, rsp, ss;
};

void idt_init(void);
/* Load the IDT idt_init built on this CPU (the APs share it). */
void idt_load(void);

/* NMIs taken while the hypervisor ran (vector 2): not errors, since with a
 * passthrough OS they belong to it; the run loop passes them on. */

/* Called by the common stub for every vector. */
void trap(struct trap_frame *tf);

#endif
