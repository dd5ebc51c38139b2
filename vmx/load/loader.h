/*
 * Putting a guest image into a VM's memory and deciding where its CPU
 * starts, by format (vmx/load/image.h):
 *   flat binary  mode=, load=, entry= decide (defaults in README)
 *   ELF64        long64 at e_entry, segments at their physical addresses
 *   ELF32        prot32 at e_entry
 *   multiboot    prot32 as a multiboot1 loader leaves it: EAX = 0x2BADB002,
 *                EBX = the multiboot information (memory, memory map,
 *                command line, the initrd module) placed in low memory or
 *                after the kernel
 *
 * long64 layout: the hypervisor builds identity-mapping page tables in
 * guest memory at 0x1000-0x7fff (PML4 0x1000, PDPT 0x2000, four page
 * directories 0x3000-0x6fff with 2 MiB pages for the first 4 GiB, and
 * 1 GiB pages in the PDPT above that when the CPU has them), so a long64
 * image must load at 0x10000 or above.
 */
#ifndef VMX_LOADER_H
#define VMX_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmx/load/bzimage.h"
#include "vmx/core/vm.h"

#define LONG64_TABLES_BASE 0x1000
#define LONG64_TABLES_END 0x8000
#define LONG64_MIN_LOAD 0x10000

struct boot_state {
	enum guest_mode mode;
	uint64_t rip, rsp;
	uint16_t cs; /* real mode: the code segment (base = cs * 16) */
	uint64_t cr3;
	uint64_t gdt_base;	    /* a GDT in guest memory (0: none) */
	uint16_t gdt_limit;
	uint16_t code_sel, data_sel; /* 0: the defaults 0x08 and 0x10 */
	struct guest_regs regs;
};

/* A module's bytes. */
struct blob {
	const uint8_t *data;
	uint64_t len;
};

/* Load IMAGE (and INITRD, if INITRD.data) as the VM's configuration says;
 * false with a one-line reason in ERR. */
bool loader_load(struct vm *vm, struct blob image, struct blob initrd, struct boot_state *bs, char *err,
		 size_t errlen);

/* Copy LEN bytes to guest-physical GPA; false if any byte is outside RAM. */
/* The VM's memory map as e820 entries (at most MAX), as Linux's boot
 * parameters and hypercall 5 give it; the number of entries. */
unsigned loader_memory_map(struct vm *vm, struct e820_entry *e, unsigned max);

bool guest_phys_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len);

#endif
