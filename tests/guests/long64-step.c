/*
 * Single-step across instructions the hypervisor completes (issue 12,
 * finding 10). With RFLAGS.TF set, each of CPUID, IN, OUT, RDMSR, WRMSR
 * and VMCALL must be followed by its #DB with RIP just after it, as on
 * hardware, though the instruction exited and the hypervisor advanced
 * RIP. So must CPUID in a MOV SS shadow: MOV SS holds the trap back until
 * the instruction after it is done, and that shadow must end with it.
 *
 * An instruction that makes an interrupt pending (a self-IPI's ICR write,
 * which the hypervisor completes) must still trap first: the #DB is due
 * after it, before the interrupt (SDM vol. 3A, 6.9), so the hypervisor
 * may not inject the interrupt on the VM entry that would deliver the
 * trap (such an entry discards it).
 *
 * Completing an instruction that ends at the top of the canonical lower
 * half (a CPUID at 0x7ffffffffffe) must not leave a non-canonical RIP,
 * which VM entry refuses: it is #GP at the instruction.
 *
 * POPF that sets TF traps after the instruction that follows it: the one
 * under test. A #DB right after it ("1:") is right; one an instruction
 * late ("2:") means the hypervisor lost the trap.
 */
#include "guest64.h"

#define MSR_EFER 0xc0000080
#define APIC_BASE 0xfee00000ull
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR_LOW 0x300
#define IPI_VECTOR 0x40
#define ICR_TO_SELF (1u << 18) /* destination shorthand 01 (SDM vol. 3A, 11.6.1) */

static volatile uint32_t *const apic = (volatile uint32_t *)APIC_BASE;
static volatile uint64_t irq_rip;
static volatile unsigned irqs, steps_before_irq;

/* Linear 0x7ffffffff000, the last page below the canonical hole: PML4
 * entry 255, then entry 511 at each level, onto TOP_PAGE. */
static uint64_t top_pdpt[512] __attribute__((aligned(4096)));
static uint64_t top_pd[512] __attribute__((aligned(4096)));
static uint64_t top_pt[512] __attribute__((aligned(4096)));
static uint8_t top_page[4096] __attribute__((aligned(4096)));
#define TOP_CPUID 0x7ffffffffffeull

static void map_top(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(cr3 & ~0xfffull);
	pml4[255] = (uint64_t)top_pdpt | 3;
	top_pdpt[511] = (uint64_t)top_pd | 3;
	top_pd[511] = (uint64_t)top_pt | 3;
	top_pt[511] = (uint64_t)top_page | 3;
	top_page[0xffe] = 0x0f; /* CPUID */
	top_page[0xfff] = 0xa2;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static void on_ipi(struct trap_frame *f)
{
	irq_rip = f->rip;
	steps_before_irq = (unsigned)fault_count[1];
	irqs++;
	apic[APIC_EOI / 4] = 0;
}

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

	apic[APIC_SVR / 4] = 0x1ff; /* software-enabled, spurious vector 0xff */
	irq_handler = on_ipi;
	unsigned before = (unsigned)fault_count[1];
	uint32_t icr = IPI_VECTOR | ICR_TO_SELF;
	__asm__ volatile("sti");
	STEP("a self-IPI's ICR write", "movl %%eax, (%%rdx)", "+a"(icr) : "d"(&apic[APIC_ICR_LOW / 4]));
	for (unsigned spin = 0; !irqs && spin < 1000000; spin++)
		__asm__ volatile("pause");
	__asm__ volatile("cli");
	CHECK(irqs == 1, "FAIL: the self-IPI came %u times", irqs);
	CHECK(steps_before_irq == before + 1, "FAIL: the self-IPI came at RIP %#llx before the #DB of the ICR write",
	      (unsigned long long)irq_rip);

	map_top();
	fault_vector = NO_FAULT;
	__asm__ volatile("xorl %%eax, %%eax\n\t"
			 "jmp *%0\n"
			 "1:\n\t" EXTABLE(0x7ffffffffffe, 1b)
			 :
			 : "r"(TOP_CPUID)
			 : "rax", "rbx", "rcx", "rdx", "memory");
	print("step: CPUID at %#llx, the last canonical bytes: fault vector %d", (unsigned long long)TOP_CPUID,
	      fault_vector);
	CHECK(fault_vector == VEC_GP, "FAIL: CPUID at the top of the canonical range: no #GP");
	print("step: %u instructions single-stepped, %u failed", steps, failures);
	return failures;
}
