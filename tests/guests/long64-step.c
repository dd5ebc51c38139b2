/*
 * Single-step across instructions the hypervisor completes (issue 12,
 * finding 10). With RFLAGS.TF set, each of CPUID, IN, OUT, RDMSR, WRMSR
 * and VMCALL must be followed by its #DB with RIP just after it, as on
 * hardware, though the instruction exited and the hypervisor advanced
 * RIP. So must CPUID in a MOV SS shadow: MOV SS holds the trap back until
 * the instruction after it is done, and that shadow must end with it.
 *
 * POPF that sets TF traps after the instruction that follows it: the one
 * under test. A #DB right after it ("1:") is right; one an instruction
 * late ("2:") means the hypervisor lost the trap.
 */
#include "guest64.h"

#define MSR_EFER 0xc0000080

static unsigned steps;

/* 0: the #DB came right after INSN; 1: one instruction late; 2: none. */
#define STEP(name, insn, ...)                                                                \
	do {                                                                                 \
		int late = 0;                                                                \
		__asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\t" insn "\n"      \
				 "1:\tnop\n"                                                 \
				 "2:\tnop\n\t"                                               \
				 "movl $2, %[late]\n\t"                                      \
				 "jmp 4f\n"                                                  \
				 "3:\tmovl $1, %[late]\n"                                    \
				 "4:\n\t" EXTABLE(1b, 4b) EXTABLE(2b, 3b)                    \
				 : [late] "+m"(late), ##__VA_ARGS__);                       \
		steps++;                                                                     \
		if (late) {                                                                  \
			print("FAIL: %s with TF: %s", name,                                  \
			      late == 1 ? "#DB one instruction late" : "no #DB");            \
			failures++;                                                          \
		}                                                                            \
	} while (0)

uint64_t guest_main(void)
{
	uint32_t a, b, c, d;
	uint64_t efer;

	if (try_rdmsr(MSR_EFER, &efer) != NO_FAULT)
		return 1;
	STEP("cpuid", "cpuid", "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
	STEP("in", "inb $0x80, %%al", "=a"(a));
	STEP("out", "outb %%al, $0x80", "+a"(a));
	STEP("rdmsr", "rdmsr", "=a"(a), "=d"(d) : "c"(MSR_EFER));
	STEP("wrmsr", "wrmsr", "+a"(a), "+d"(d) : "c"(MSR_EFER));
	STEP("vmcall", "vmcall", "=a"(a) : "a"(2));
	uint16_t ss;
	__asm__ volatile("movw %%ss, %0" : "=r"(ss));
	STEP("cpuid in a MOV SS shadow", "movw %%si, %%ss\n\tcpuid", "=a"(a), "=b"(b), "=c"(c), "=d"(d)
	     : "a"(0), "c"(0), "S"(ss));
	print("step: %u instructions single-stepped, %u failed", steps, failures);
	return failures;
}
