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

/* Load IMAGE (and INITRD, if INITRD.data) as the VM's configuration says;
 * false with a one-line reason in ERR. */
bool loader_load(struct vm *vm, struct blob image, struct blob initrd, struct boot_state *bs, char *err,
		 size_t errlen);



#endif
