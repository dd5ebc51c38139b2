#include "arch-x86/percpu/gdt.h"

#include "arch-x86/string.h"

struct descriptor_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

void gdt_init(uint64_t gdt[GDT_ENTRIES], struct tss *tss, uint64_t ist_base)
{
	uint64_t t = (uintptr_t)tss;
	uint64_t limit = sizeof(*tss) - 1;

	for (int i = 0; i < IST_COUNT; i++)
		tss->ist[i] = ist_base + (uint64_t)(i + 1) * IST_STACK_SIZE;
	tss->iomap_base = sizeof(*tss); /* no IO permission bitmap */

	gdt[0] = 0;
	gdt[GDT_CODE / 8] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0, present */
	gdt[GDT_DATA / 8] = 0x00cf92000000ffffull; /* data, writable, present */
	/* 16-byte TSS descriptor, type 9 (available 64-bit TSS), present
	 * (SDM vol. 3A, 8.2.3 "TSS descriptor in 64-bit mode"). */
	gdt[GDT_TSS / 8] = (limit & 0xffff) | (t & 0xffffff) << 16 | 0x89ull << 40 | (limit >> 16 & 0xf) << 48 |
			   (t >> 24 & 0xff) << 56;
	gdt[GDT_TSS / 8 + 1] = t >> 32;

	struct descriptor_ptr p = { GDT_ENTRIES * 8 - 1, (uintptr_t)gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w2, %%ds\n\t"
			 "movw %w2, %%es\n\t"
			 "movw %w2, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(GDT_CODE), "r"(GDT_DATA), "r"(GDT_TSS)
			 : "rax", "memory");
}
