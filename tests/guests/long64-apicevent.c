/*
 * Accesses to the local APIC page that no instruction made, with the APIC
 * emulated (apicv=off: every access to its page is an EPT violation). The
 * hypervisor used to emulate each as the MOV at RIP: a made-up APIC
 * access, RIP moved past it, and the guest went on. It must end the VM
 * instead. One case per run, chosen by its command line:
 *   test=event  an event delivered there (issue 12, finding 9): RSP points
 *               into the APIC page when a MOV faults (#GP: a non-canonical
 *               address), so the CPU pushes the exception frame there, and
 *               the #GP was lost
 *   test=walk   the guest's own page walk reads a paging structure there: a
 *               page directory on the APIC page (EPT qualification bit 8
 *               clear); a read through it got an APIC register's value
 */
#include "guest64.h"

static uint64_t test_event(void)
{
	print("apicevent: a #GP delivered onto the local APIC page");
	__asm__ volatile("mov %%rsp, %%r12\n\t"
			 "mov $0xfee00800, %%rsp\n"
			 "1:\tmovl %%eax, (%%rbx)\n"
			 "2:\tmov %%r12, %%rsp\n\t" EXTABLE(1b, 2b)
			 :
			 : "a"(0x12345678), "b"(0x8000000000000000ull)
			 : "r12", "memory");
	print("apicevent: FAIL: the VM went on after the event (fault vector %d)", fault_vector);
	return 1;
}

/* Linear 1-2 GiB (PML4 entry 0, PDPT entry 1) through a page directory at
 * the APIC's address: the loader's map of that gigabyte is replaced. */
static uint64_t test_walk(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(cr3 & ~0xfffull);
	uint64_t *pdpt = (uint64_t *)(pml4[0] & 0x000ffffffffff000ull);
	pdpt[1] = 0xfee00000ull | 3; /* present, writable: a page directory */
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	print("apicevent: a read through a page directory on the local APIC page");
	uint32_t x = *(volatile uint32_t *)0x40000000;
	print("apicevent: FAIL: the VM went on after the walk (it read %#x)", x);
	return 1;
}

static const struct guest_test tests[] = {
	{ "event", test_event },
	{ "walk", test_walk },
};

uint64_t guest_main(void)
{
	return run_test("apicevent", tests, sizeof(tests) / sizeof(tests[0]));
}
