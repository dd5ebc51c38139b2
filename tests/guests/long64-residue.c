/*
 * What one VM leaves behind for the next (issue 12, finding 1). Two
 * modes, run one after the other in a boot test:
 *
 *   test=mark marker=M   an isolated VM: writes M into the first quadword
 *                        of every page of its RAM from 2 MiB to 64 KiB
 *                        below the top (its image and stack are below and
 *                        above), then ends with M in every general
 *                        register but RAX and RBX, which the hypervisor
 *                        keeps in its vCPU page
 *   test=scan marker=M   the machine's own OS (passthrough, at 16 MiB):
 *                        gets its memory map (hypercall 5) and counts the
 *                        pages of its RAM, outside its own image and
 *                        stack, with M in any of their first 16
 *                        quadwords; the count is the exit status
 *
 * Before the fix the scan found the marker in every page the first VM
 * wrote: its frames went back to the pool, and to the next VM, as they
 * were.
 */
#include "guest64.h"

#define HC_MEMORY_MAP 5
#define PAGE 4096ull
#define MiB (1ull << 20)

extern char _start[], __bss_end[];

struct map_entry {
	uint64_t addr, size;
	uint32_t type, zero;
};

static struct map_entry map[64];

static unsigned memory_map(void)
{
	uint64_t n = vmcall3(HC_MEMORY_MAP, (uint64_t)map, sizeof(map));
	if (n == HC_ERROR) {
		print("residue: the memory-map hypercall failed");
		return 0;
	}
	return n < 64 ? (unsigned)n : 64;
}

static uint64_t stack_top(void)
{
	uint64_t rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	return (rsp + 64 * 1024) & ~(PAGE - 1);
}

static uint64_t test_mark(uint64_t m)
{
	uint64_t top = 0;
	unsigned n = memory_map();
	for (unsigned i = 0; i < n; i++)
		if (map[i].type == 1 && map[i].addr + map[i].size > top)
			top = map[i].addr + map[i].size;
	uint64_t pages = 0;
	for (uint64_t a = 2 * MiB; a + 64 * 1024 <= top; a += PAGE, pages++)
		*(volatile uint64_t *)a = m;
	print("residue: marked %llu pages", (unsigned long long)pages);
	/* The registers go to the vCPU page at the exit. */
	register uint64_t r8 __asm__("r8") = m, r9 __asm__("r9") = m, r10 __asm__("r10") = m,
			  r11 __asm__("r11") = m, r12 __asm__("r12") = m, r13 __asm__("r13") = m,
			  r14 __asm__("r14") = m, r15 __asm__("r15") = m;
	__asm__ volatile("push %%rbp\n\t"
			 "mov %%rcx, %%rbp\n\t"
			 "vmcall\n\t"
			 "pop %%rbp"
			 :
			 : "a"(HC_EXIT), "b"(0), "c"(m), "d"(m), "S"(m), "D"(m), "r"(r8), "r"(r9), "r"(r10),
			   "r"(r11), "r"(r12), "r"(r13), "r"(r14), "r"(r15)
			 : "memory");
	return 1; /* not reached */
}

static uint64_t test_scan(uint64_t m)
{
	uint64_t own_lo = (uint64_t)_start & ~(PAGE - 1), own_hi = ((uint64_t)__bss_end + PAGE - 1) & ~(PAGE - 1);
	uint64_t st_hi = stack_top(), st_lo = st_hi - 128 * 1024;
	uint64_t pages = 0, found = 0, first = 0;
	unsigned n = memory_map();

	for (unsigned i = 0; i < n; i++) {
		if (map[i].type != 1)
			continue;
		uint64_t a = (map[i].addr + PAGE - 1) & ~(PAGE - 1), end = (map[i].addr + map[i].size) & ~(PAGE - 1);
		for (; a < end; a += PAGE) {
			if ((a >= own_lo && a < own_hi) || (a >= st_lo && a < st_hi))
				continue;
			pages++;
			const volatile uint64_t *p = (const volatile uint64_t *)a;
			for (unsigned q = 0; q < 16; q++) {
				if (p[q] == m) {
					if (!found++)
						first = a;
					break;
				}
			}
		}
	}
	print("residue: %llu of %llu pages of RAM hold the marker (first at %#llx)", (unsigned long long)found,
	      (unsigned long long)pages, (unsigned long long)first);
	return found;
}

uint64_t guest_main(void)
{
	uint64_t m = arg_u64("marker", 0x5ec4e75ec4e75ec4ull);
	if (arg_is("test", "mark"))
		return test_mark(m);
	if (arg_is("test", "scan"))
		return test_scan(m);
	print("residue: no test=mark|scan given");
	return 1;
}
