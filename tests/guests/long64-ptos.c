/*
 * A machine's OS that is hard on the hypervisor (issue 12, findings 6, 7
 * and 13): run as the passthrough VM (built at 16 MiB, load=0x1000000), it
 * owns the real local APIC and the MSRs the hypervisor passes through.
 * One test per run, chosen by its command line:
 *   test=nmi-movss   a self-NMI (ICR written through the hypervisor) from
 *                    the instruction after MOV SS: the hypervisor takes
 *                    the NMI while the guest is in the MOV SS shadow; it
 *                    must reach the guest once, after the shadow
 *   test=nmi-sti     the same in the STI shadow (which blocks NMI
 *                    injection on some CPUs, and in Bochs)
 *   test=nmi-step    the self-NMI's ICR write with TF set: its single-step
 *                    #DB is due first (SDM vol. 3A, 6.9), so the NMI may
 *                    not be injected on the VM entry that delivers the
 *                    trap (such an entry discards it)
 *   test=nmi-nested  the NMI handler sends itself a second NMI: it must
 *                    come after the handler's IRET, never inside it
 *                    (blocking by NMI kept across the hypervisor's
 *                    injection)
 *   test=leave-state leave the CPU as no hypervisor wants it: an
 *                    interrupt in service without EOI, TPR 15, the LVTs
 *                    changed, the APIC software-disabled, turned off
 *                    (which must fault) and in x2APIC mode (if offered),
 *                    another PAT, the MTRRs' default type and first
 *                    variable range changed, SPEC_CTRL and MC0_CTL2 set
 *                    (if offered); then end
 *   test=x2apic-init [ap=N]
 *                    start the AP with APIC id N (default 1) on a loop
 *                    that counts and exits, turn x2APIC mode on, then
 *                    write an INIT for the AP through the MMIO ICR, which
 *                    in x2APIC mode is no APIC register and sends nothing
 *                    (SDM vol. 3A, 11.12): the AP must go on counting
 * Each prints what it saw and ends through the exit hypercall with its
 * failure count (status=0: all as expected).
 */
#include "guest64.h"

#define APIC_BASE_MSR 0x1b
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN (1ull << 11)
#define APIC_ID 0x20
#define APIC_TPR 0x80
#define APIC_SVR 0xf0
#define APIC_ISR 0x100
#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define ICR_NMI 0x4400	 /* level assert, delivery mode NMI, physical destination */
#define ICR_FIXED 0x4000 /* | vector */
#define ICR_INIT 0x4500	 /* level assert, delivery mode INIT */
#define ICR_SIPI 0x4600	 /* | the start page */
#define UNACKED_VECTOR 0xf8 /* the hypervisor's own signal (0xf2) is in its priority class */


static volatile uint32_t *const apic = (volatile uint32_t *)0xfee00000ull;

static uint32_t apic_read(unsigned off)
{
	return apic[off / 4];
}

/* A write to the APIC page exits (the hypervisor checks and does it). */
static void apic_write(unsigned off, uint32_t v)
{
	apic[off / 4] = v;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* --- NMIs --------------------------------------------------------------- */

static volatile unsigned nmis, nested;
static volatile bool in_nmi, resend;
static volatile uint64_t nmi_rip[4];
extern char nmi_entry[], unacked_entry[], movss_write[], movss_after[], movss_next[], sti_write[], sti_after[],
	sti_next[], step_after[];

/* Vector 2 and the unacknowledged interrupt: the runtime's IDT entries
 * end the guest on anything unexpected, so these two are replaced. */
__asm__(".text\n"
	"nmi_entry:\n\t"
	"pushq %rax\n\tpushq %rcx\n\tpushq %rdx\n\tpushq %rsi\n\tpushq %rdi\n\t"
	"pushq %r8\n\tpushq %r9\n\tpushq %r10\n\tpushq %r11\n\t"
	"movq 72(%rsp), %rdi\n\t" /* the interrupted RIP; RSP is 16-aligned here */
	"call nmi_seen\n\t"
	"popq %r11\n\tpopq %r10\n\tpopq %r9\n\tpopq %r8\n\tpopq %rdi\n\t"
	"popq %rsi\n\tpopq %rdx\n\tpopq %rcx\n\tpopq %rax\n\t"
	"iretq\n"
	"unacked_entry:\n\t"
	"iretq\n");

void nmi_seen(uint64_t rip);
void nmi_seen(uint64_t rip)
{
	if (in_nmi)
		nested++;
	in_nmi = true;
	if (nmis < 4)
		nmi_rip[nmis] = rip;
	nmis++;
	if (resend) {
		/* A second NMI now, while this one is being handled; exits
		 * after it give the hypervisor every chance to inject it too
		 * early. */
		resend = false;
		apic_write(APIC_ICR_LOW, ICR_NMI);
		uint32_t r[4];
		for (int i = 0; i < 3; i++)
			cpuid(0, 0, r);
	}
	in_nmi = false;
}

static void set_gate(unsigned vec, void *handler)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) d;
	__asm__ volatile("sidt %0" : "=m"(d));
	uint64_t a = (uint64_t)handler;
	uint32_t *g = (uint32_t *)(d.base + vec * 16);
	g[0] = (uint32_t)(a & 0xffff) | 0x08u << 16;
	g[1] = (uint32_t)(a & 0xffff0000u) | 0x8e00u;
	g[2] = (uint32_t)(a >> 32);
	g[3] = 0;
}

static void nmi_setup(void)
{
	set_gate(2, nmi_entry);
	apic_write(APIC_ICR_HIGH, apic_read(APIC_ID) & 0xff000000u);
}


/* After a self-NMI written at WRITE inside a shadow: one exit (a
 * hypervisor that kept the NMI would inject it there), then exactly one
 * NMI, taken right after the shadow (AFTER, or NEXT if the CPU holds it
 * one more instruction). */
static uint64_t shadow_result(const char *test, const char *write, const char *after, const char *next)
{
	uint32_t r[4];
	cpuid(0, 0, r);
	print("%s: %u NMI(s), first at RIP %#llx (write %#llx, next %#llx, %#llx)", test, nmis,
	      (unsigned long long)nmi_rip[0], (unsigned long long)(uint64_t)write, (unsigned long long)(uint64_t)after,
	      (unsigned long long)(uint64_t)next);
	CHECK(nmis == 1, "%s: expected 1 NMI, got %u", test, nmis);
	CHECK(nmi_rip[0] == (uint64_t)after || nmi_rip[0] == (uint64_t)next,
	      "%s: the NMI came at %#llx, not right after the shadow", test, (unsigned long long)nmi_rip[0]);
	return failures;
}
/* The self-NMI's ICR write is the instruction right after MOV SS: the
 * VM exit it causes reports blocking by MOV SS. */
static uint64_t test_nmi_movss(void)
{
	nmi_setup();
	__asm__ volatile("movl %k0, %%ss\n"
			 "movss_write:\n\t"
			 "movl %1, (%2)\n"
			 "movss_after:\n\t"
			 "nop\n"
			 "movss_next:"
			 :
			 : "r"(0x10), "r"(ICR_NMI), "r"(&apic[APIC_ICR_LOW / 4])
			 : "memory");
	return shadow_result("nmi-movss", movss_write, movss_after, movss_next);
}

/* The same from the STI shadow (interrupts were off: STI blocks for one
 * instruction). */
static uint64_t test_nmi_sti(void)
{
	nmi_setup();
	__asm__ volatile("sti\n"
			 "sti_write:\n\t"
			 "movl %0, (%1)\n"
			 "sti_after:\n\t"
			 "nop\n"
			 "sti_next:\n\t"
			 "cli"
			 :
			 : "r"(ICR_NMI), "r"(&apic[APIC_ICR_LOW / 4])
			 : "memory");
	return shadow_result("nmi-sti", sti_write, sti_after, sti_next);
}

/* 0: the #DB came right after the ICR write; 1: one instruction late
 * (the NMI came first and the trap was lost); 2: none. */
static uint64_t test_nmi_step(void)
{
	nmi_setup();
	int late = 0;
	__asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\t"
			 "movl %1, (%2)\n"
			 "step_after:\n\t"
			 "nop\n"
			 "2:\tnop\n\t"
			 "movl $2, %0\n\t"
			 "jmp 4f\n"
			 "3:\tmovl $1, %0\n"
			 "4:\n\t" EXTABLE(step_after, 4b) EXTABLE(2b, 3b)
			 : "+m"(late)
			 : "r"(ICR_NMI), "r"(&apic[APIC_ICR_LOW / 4])
			 : "memory");
	uint32_t r[4];
	cpuid(0, 0, r);
	print("nmi-step: %u NMI(s), first at RIP %#llx (after the write: %#llx); %s", nmis,
	      (unsigned long long)nmi_rip[0], (unsigned long long)(uint64_t)step_after,
	      late == 0 ? "#DB right after the write" : late == 1 ? "#DB one instruction late" : "no #DB");
	CHECK(late == 0, "nmi-step: the single-step trap of the ICR write was lost");
	CHECK(nmis == 1, "nmi-step: expected 1 NMI, got %u", nmis);
	CHECK(nmi_rip[0] != (uint64_t)step_after, "nmi-step: the NMI came before the #DB");
	return failures;
}

static uint64_t test_nmi_nested(void)
{
	nmi_setup();
	resend = true;
	apic_write(APIC_ICR_LOW, ICR_NMI);
	uint32_t r[4];
	for (int i = 0; i < 3 && nmis < 2; i++)
		cpuid(0, 0, r);
	print("nmi-nested: %u NMI(s), %u inside the handler", nmis, nested);
	CHECK(nmis == 2, "nmi-nested: expected 2 NMIs, got %u", nmis);
	CHECK(nested == 0, "nmi-nested: %u NMI(s) came while the first was being handled", nested);
	return failures;
}

/* --- Leaving the CPU in a state of its own ------------------------------ */

static uint64_t test_leave_state(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	bool x2apic = r[2] & (1u << 21), mtrr = r[3] & (1u << 12), mca = r[3] & (1u << 14);
	cpuid(7, 0, r);
	bool spec_ctrl = r[3] & (1u << 26 | 1u << 27 | 1u << 31);

	/* An interrupt taken and never acknowledged: its priority class
	 * (15) stays in service. */
	set_gate(UNACKED_VECTOR, unacked_entry);
	apic_write(APIC_ICR_HIGH, apic_read(APIC_ID) & 0xff000000u);
	apic_write(APIC_ICR_LOW, ICR_FIXED | UNACKED_VECTOR);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	bool in_service = apic_read(APIC_ISR + (UNACKED_VECTOR / 32) * 16) & (1u << (UNACKED_VECTOR % 32));
	print("leave-state: vector %#x in service without EOI: %s", UNACKED_VECTOR, in_service ? "yes" : "no");
	CHECK(in_service, "leave-state: the self-IPI was not taken");

	apic_write(APIC_TPR, 0xff);
	apic_write(APIC_LVT_TIMER, 0x20030); /* periodic, vector 0x30, unmasked, no count */
	apic_write(APIC_LVT_LINT0, 0x10000); /* masked */
	apic_write(APIC_LVT_LINT1, 0x10000);
	apic_write(APIC_LVT_ERROR, 0x10031);
	apic_write(APIC_SVR, apic_read(APIC_SVR) & ~0x100u); /* software-disabled */
	print("leave-state: TPR %#x, SVR %#x, LVT LINT0 %#x", apic_read(APIC_TPR), apic_read(APIC_SVR),
	      apic_read(APIC_LVT_LINT0));
	/* Turning the APIC off, the invalid state (x2APIC without enable):
	 * the hypervisor signals other CPUs through this APIC, so both are
	 * refused with #GP; then x2APIC mode, which is the OS's to turn on,
	 * and back to xAPIC, which faults on the CPU too. */
	uint64_t base = rdmsr(APIC_BASE_MSR);
	int off = try_wrmsr(APIC_BASE_MSR, base & ~(APIC_BASE_EN | APIC_BASE_EXTD));
	int invalid = try_wrmsr(APIC_BASE_MSR, (base & ~APIC_BASE_EN) | APIC_BASE_EXTD);
	print("leave-state: APIC off: %s, invalid state: %s, APIC_BASE %#llx", off == VEC_GP ? "#GP" : "done",
	      invalid == VEC_GP ? "#GP" : "done", (unsigned long long)rdmsr(APIC_BASE_MSR));
	CHECK(off == VEC_GP && invalid == VEC_GP, "leave-state: a WRMSR of APIC_BASE turning the APIC off was not refused");
	if (x2apic) {
		wrmsr(APIC_BASE_MSR, rdmsr(APIC_BASE_MSR) | APIC_BASE_EXTD);
		int back = try_wrmsr(APIC_BASE_MSR, rdmsr(APIC_BASE_MSR) & ~APIC_BASE_EXTD);
		print("leave-state: x2APIC mode on, APIC_BASE %#llx; back to xAPIC: %s",
		      (unsigned long long)rdmsr(APIC_BASE_MSR), back == VEC_GP ? "#GP" : "done");
		CHECK(back == VEC_GP, "leave-state: x2APIC back to xAPIC did not fault");
	}
	wrmsr(0x277, 0x0000000000000000ull); /* PAT: all uncacheable */
	if (mtrr) {
		uint64_t cap = rdmsr(0xfe);
		wrmsr(0x2ff, (rdmsr(0x2ff) & ~0xffull) | 1u << 11 | 1); /* MTRRs on, default WC */
		if (cap & 0xff) {
			wrmsr(0x200, 0x0000000000000000ull | 5); /* range 0: 0 as WP */
			wrmsr(0x201, 0xfffff000ull | 1u << 11);	 /* 4 KiB, valid */
		}
		print("leave-state: MTRR default type %#llx, range 0 %#llx/%#llx", (unsigned long long)rdmsr(0x2ff),
		      (unsigned long long)rdmsr(0x200), (unsigned long long)rdmsr(0x201));
	}
	if (spec_ctrl) {
		wrmsr(0x48, 1); /* IBRS */
		print("leave-state: SPEC_CTRL %#llx", (unsigned long long)rdmsr(0x48));
	}
	if (mca && (rdmsr(0x179) & (1u << 10)) && (rdmsr(0x179) & 0xff)) {
		wrmsr(0x280, 1u << 30 | 1); /* MC0_CTL2: CMCI on, threshold 1 */
		print("leave-state: MC0_CTL2 %#llx", (unsigned long long)rdmsr(0x280));
	}
	print("leave-state: done, leaving");
	return failures;
}

/* --- An INIT its APIC never sent ------------------------------------------ */

#define HC_MEMORY_MAP 5

struct map_entry {
	uint64_t addr, size;
	uint32_t type, zero;
};

extern char ap16_start[], ap16_count[], ap16_end[];

/* The AP's code, copied to a page below 1 MiB and started there by a
 * start-up IPI (real mode, CS = the page): count, and exit (CPUID) so the
 * hypervisor sees the AP often. */
__asm__(".text\n"
	".code16\n"
	"ap16_start:\n\t"
	"movw %cs, %ax\n\t"
	"movw %ax, %ds\n"
	"1:\tlock incl ap16_count - ap16_start\n\t"
	"xorl %eax, %eax\n\t"
	"cpuid\n\t"
	"jmp 1b\n\t"
	".balign 4\n"
	"ap16_count:\n\t"
	".long 0\n"
	"ap16_end:\n"
	".code64\n");

/* A page of RAM below 1 MiB, from the OS's memory map (not page 0, with
 * the real-mode IVT and BIOS data); 0 if none. */
static uint64_t low_page(void)
{
	static struct map_entry map[64];
	uint64_t n = vmcall3(HC_MEMORY_MAP, (uint64_t)map, sizeof(map)), best = 0;
	for (uint64_t i = 0; n != HC_ERROR && i < n && i < 64; i++) {
		uint64_t end = map[i].addr + map[i].size;
		if (end > 0x9f000)
			end = 0x9f000;
		end &= ~0xfffull;
		if (map[i].type == 1 && end >= 0x2000 && end - 0x1000 >= map[i].addr && end - 0x1000 > best)
			best = end - 0x1000;
	}
	return best;
}

/* Whether *COUNT still moves, given the AP many of its exits' time (a
 * start-up IPI's log line alone takes Bochs a while). */
static bool counting(volatile uint32_t *count)
{
	uint32_t r[4];
	for (int i = 0; i < 2000; i++)
		cpuid(0, 0, r);
	uint32_t c = *count;
	for (int i = 0; i < 200000 && *count == c; i++)
		cpuid(0, 0, r);
	return *count != c;
}

static uint64_t test_x2apic_init(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	unsigned ap = (unsigned)arg_u64("ap", 1);
	uint64_t page = low_page();
	if (!(r[2] & (1u << 21)) || !page) {
		print("x2apic-init: %s", page ? "the CPU has no x2APIC" : "no free page below 1 MiB");
		return 1;
	}
	memcpy((void *)page, ap16_start, (size_t)(ap16_end - ap16_start));
	volatile uint32_t *count = (volatile uint32_t *)(page + (uint64_t)(ap16_count - ap16_start));
	apic_write(APIC_ICR_HIGH, ap << 24);
	apic_write(APIC_ICR_LOW, ICR_SIPI | (uint32_t)(page >> 12));
	if (!counting(count)) {
		print("x2apic-init: the AP (APIC id %u) did not start at %#llx", ap, (unsigned long long)page);
		return 1;
	}
	print("x2apic-init: the AP (APIC id %u) runs at %#llx", ap, (unsigned long long)page);
	wrmsr(APIC_BASE_MSR, rdmsr(APIC_BASE_MSR) | APIC_BASE_EXTD);
	print("x2apic-init: x2APIC mode on (APIC_BASE %#llx): INIT to APIC id %u through the MMIO ICR",
	      (unsigned long long)rdmsr(APIC_BASE_MSR), ap);
	apic_write(APIC_ICR_HIGH, ap << 24);
	apic_write(APIC_ICR_LOW, ICR_INIT);
	bool runs = counting(count);
	CHECK(runs, "x2apic-init: the AP stopped: it was reset by an INIT its APIC never sent");
	print("x2apic-init: the AP %s (count %u)", runs ? "goes on" : "stopped", *count);
	return failures;
}

static const struct guest_test tests[] = {
	{ "nmi-movss", test_nmi_movss },
	{ "nmi-sti", test_nmi_sti },
	{ "nmi-step", test_nmi_step },
	{ "nmi-nested", test_nmi_nested },
	{ "leave-state", test_leave_state },
	{ "x2apic-init", test_x2apic_init },
};

uint64_t guest_main(void)
{
	return run_test("ptos", tests, sizeof(tests) / sizeof(tests[0]));
}
