/* Segments of the hypervisor: a flat 64-bit GDT and a TSS whose IST
 * stacks catch #DF, NMI and #MC on a known-good stack. */
#ifndef ARCH_X86_GDT_H
#define ARCH_X86_GDT_H

#include <stdint.h>

#define GDT_CODE 0x08
#define GDT_DATA 0x10
#define GDT_TSS 0x18

/* IST slots (1-based, as the IDT gate encodes them). */
enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, IST_COUNT = 3 };
#define IST_STACK_SIZE 8192

/* 64-bit TSS (SDM vol. 3A, 8.7 "Task management in 64-bit mode"). */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");

#define GDT_ENTRIES 5 /* null, code, data, the 16-byte TSS descriptor */

/* Fill a CPU's GDT and TSS (IST stacks from IST_BASE up) and load them on
 * this CPU: GDT, segment registers, task register. */
void gdt_init(uint64_t gdt[GDT_ENTRIES], struct tss *tss, uint64_t ist_base);

#endif
