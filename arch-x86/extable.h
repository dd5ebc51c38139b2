/*
 * Exception fixups, as Linux's exception table: a host instruction that
 * runs with operands a guest chose (WRMSR and XSETBV on its behalf) is
 * listed with the address to resume at should it fault, so a fault the
 * guest provoked becomes the #GP the guest would have had, never a
 * hypervisor exception. The table is the image's .extable section
 * (linker.ld), searched by trap() in arch-x86/percpu/idt.c.
 */
#ifndef ARCH_X86_EXTABLE_H
#define ARCH_X86_EXTABLE_H

#include <stdbool.h>
#include <stdint.h>

/* An entry for inline assembly: a fault at INSN resumes at FIXUP. */
#define EXTABLE_ENTRY(insn, fixup) \
	".pushsection .extable, \"a\"\n\t.balign 8\n\t.quad " insn ", " fixup "\n\t.popsection\n\t"

/* WRMSR that reports a fault (#GP: an MSR the CPU lacks, a reserved bit,
 * an invalid state) instead of taking it. */
static inline bool wrmsr_safe(uint32_t msr, uint64_t v)
{
	__asm__ goto("1: wrmsr\n\t" EXTABLE_ENTRY("1b", "%l[fault]")
		     :
		     : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
		     : "memory"
		     : fault);
	return true;
fault:
	return false;
}

/* XSETBV likewise (#GP for a value the CPU refuses). */
static inline bool xsetbv_safe(uint32_t index, uint64_t v)
{
	__asm__ goto("1: xsetbv\n\t" EXTABLE_ENTRY("1b", "%l[fault]")
		     :
		     : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
		     : "memory"
		     : fault);
	return true;
fault:
	return false;
}

#endif
