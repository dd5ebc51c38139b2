/*
 * An event delivered onto the local APIC page (issue 12, finding 9), with
 * the APIC emulated (apicv=off: every access to its page is an EPT
 * violation). RSP points into the APIC page when a MOV faults (#GP: a
 * non-canonical address), so the CPU pushes the exception frame there. The
 * hypervisor used to emulate that exit as the MOV at RIP: a write to an
 * APIC register, RIP moved past it, and the #GP lost, so the guest went
 * on. It must end the VM instead: no instruction made that access.
 */
#include "guest64.h"

uint64_t guest_main(void)
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
