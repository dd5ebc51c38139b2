/*
 * A guest kernel with a user task (issue 12, finding 3): the hypervisor
 * moves INS/OUTS data and hypercall buffers through the guest's page
 * tables, and must apply the rights the guest's own CPU would.
 *
 * It builds its own 4-level page tables (4 KiB pages over its 4 MiB), a
 * GDT with user code and data and a TSS (RSP0), and an IDT gate that ring
 * 3 may call (vector 0x80) to come back to ring 0. Then:
 *   from ring 3 with IOPL 3
 *     REP INSB and INSB into a read-only supervisor page: #PF, error 0x7
 *     (present, write, user), CR2 there, RCX unchanged, the page unchanged
 *     REP OUTSB and OUTSB of a supervisor page holding a secret to COM1:
 *     #PF, error 0x5, and the secret never reaches the serial log
 *   at CPL 0
 *     REP INSB into the read-only page with CR0.WP = 1: #PF, error 0x3;
 *     with WP = 0 it writes; the command-line hypercall into it with
 *     WP = 1 fails (-1)
 *     with CR4.SMAP (if CPUID offers it) REP INSB into a user page: #PF
 *     0x3 with RFLAGS.AC = 0, done after STAC; the print hypercall from a
 *     user page fails with AC = 0
 *     REP INSB sets the accessed and dirty flags of the page's PTE, REP
 *     OUTSB the accessed flag only
 * It prints a summary line and ends with its failure count as status.
 */
#include "guest64.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define CR0_WP (1ull << 16)
#define CR4_SMAP (1ull << 21)
#define LSR (COM1 + 5)
#define LSR_IDLE 0x60 /* THR and transmitter empty: what INSB from the LSR reads */
#define RAM (4ull << 20)


#define PAGE __attribute__((aligned(4096)))
static uint64_t pml4[512] PAGE, pdpt[512] PAGE, pd[512] PAGE, pt[RAM >> 21][512] PAGE;
static uint8_t ro_page[4096] PAGE;     /* supervisor, read-only */
static uint8_t secret_page[4096] PAGE; /* supervisor, the kernel's secret */
static uint8_t user_page[4096] PAGE;   /* user, writable: SMAP */
static uint8_t ad_in_page[4096] PAGE, ad_out_page[4096] PAGE; /* A and D clear, never touched */
uint8_t user_stack[4096] PAGE; /* named in run_user */
static uint8_t kernel_stack[4096] PAGE; /* RSP0: exceptions and INT 0x80 from ring 3 */
static uint32_t tss[26] __attribute__((aligned(16))); /* 104 bytes; RSP0 at offset 4 */
static const char secret[] = "user-secret-3f9c1a7e-kernel-only\n";

/* 0x08/0x10 as the runtime's (its IDT gates use 0x08), then ring 3's. */
static uint64_t gdt[7] __attribute__((aligned(16))) = {
	0,
	0x00af9a000000ffffull, /* 0x08: 64-bit code, DPL 0 */
	0x00cf92000000ffffull, /* 0x10: data, DPL 0 */
	0x00cff2000000ffffull, /* 0x18: data, DPL 3 */
	0x00affa000000ffffull, /* 0x20: 64-bit code, DPL 3 */
	0, 0,		       /* 0x28: the TSS (16 bytes) */
};

/* What ring 3 starts with and ends with (run_user). */
struct uregs {
	uint64_t rip, rdi, rsi, rcx, rdx;
};
struct uregs ur;
uint64_t kernel_rsp;
void run_user(void);
void user_return(void);
extern char user_code[], user_rep_insb[], user_insb[], user_rep_outsb[], user_outsb[];

/* run_user: enter ring 3 at ur.rip with ur's RDI/RSI/RCX/RDX, IOPL 3 and
 * interrupts off, on user_stack; INT 0x80 there (user_return) saves RDI,
 * RSI and RCX back into ur and returns from run_user. The user code is one
 * page of its own: a string instruction with an exception-table entry
 * (a fault resumes at the INT 0x80 after it). */
__asm__(".pushsection .text\n"
	".globl run_user\n"
	"run_user:\n\t"
	"pushq %rbx\n\tpushq %rbp\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
	"movq %rsp, kernel_rsp(%rip)\n\t"
	"movq ur+8(%rip), %rdi\n\t"
	"movq ur+16(%rip), %rsi\n\t"
	"movq ur+24(%rip), %rcx\n\t"
	"movq ur+32(%rip), %rdx\n\t"
	"pushq $0x1b\n\t"			/* SS */
	"pushq $user_stack + 4096\n\t"	/* RSP */
	"pushq $0x3002\n\t"			/* RFLAGS: IOPL 3 */
	"pushq $0x23\n\t"			/* CS */
	"pushq ur(%rip)\n\t"			/* RIP */
	"iretq\n"
	".globl user_return\n"
	"user_return:\n\t"
	"movq %rdi, ur+8(%rip)\n\t"
	"movq %rsi, ur+16(%rip)\n\t"
	"movq %rcx, ur+24(%rip)\n\t"
	"movl $0x10, %eax\n\t"
	"movl %eax, %ds\n\tmovl %eax, %es\n\tmovl %eax, %ss\n\t"
	"movq kernel_rsp(%rip), %rsp\n\t"
	"popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbp\n\tpopq %rbx\n\t"
	"ret\n"
	".popsection\n"
	".pushsection .text.user, \"ax\"\n"
	".balign 4096\n"
	"user_code:\n"
	"user_rep_insb:\n1: rep insb\n2: int $0x80\n"
	"user_insb:\n3: insb\n4: int $0x80\n"
	"user_rep_outsb:\n5: rep outsb\n6: int $0x80\n"
	"user_outsb:\n7: outsb\n8: int $0x80\n"
	".balign 4096\n"
	".popsection\n"
	".pushsection .extable, \"a\"\n"
	".balign 8\n"
	".quad 1b, 2b, 3b, 4b, 5b, 6b, 7b, 8b\n"
	".popsection\n");

static uint64_t *pte(const void *p)
{
	uint64_t a = (uint64_t)p;
	return &pt[a >> 21][(a >> 12) & 511];
}

static uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static void write_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static int try_write_cr4(uint64_t v)
{
	fault_vector = NO_FAULT;
	__asm__ volatile("1: mov %0, %%cr4\n2:\n\t" EXTABLE(1b, 2b) : : "r"(v) : "memory");
	return fault_vector;
}

/* Identity map of the RAM with 4 KiB supervisor pages, then the special
 * pages' rights; ring 3's GDT entries and TSS; INT 0x80 for ring 3. */
static void setup(void)
{
	for (uint64_t a = 0; a < RAM; a += 4096)
		pt[a >> 21][(a >> 12) & 511] = a | PTE_P | PTE_W;
	for (unsigned i = 0; i < RAM >> 21; i++)
		pd[i] = (uint64_t)pt[i] | PTE_P | PTE_W | PTE_U;
	pdpt[0] = (uint64_t)pd | PTE_P | PTE_W | PTE_U;
	pml4[0] = (uint64_t)pdpt | PTE_P | PTE_W | PTE_U;
	*pte(ro_page) &= ~PTE_W;
	*pte(user_page) |= PTE_U;
	*pte(user_stack) |= PTE_U;
	*pte(user_code) = (uint64_t)user_code | PTE_P | PTE_U;
	memset(ro_page, 0xaa, sizeof(ro_page));
	memcpy(secret_page, secret, sizeof(secret));
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)pml4) : "memory");

	uint64_t t = (uint64_t)tss, rsp0 = (uint64_t)kernel_stack + sizeof(kernel_stack);
	tss[1] = (uint32_t)rsp0;
	tss[2] = (uint32_t)(rsp0 >> 32);
	tss[25] = 104u << 16; /* I/O map base past the limit: no bitmap (IOPL 3 does not need one) */
	gdt[5] = 103 | (t & 0xffffff) << 16 | 0x89ull << 40 | (t >> 24 & 0xff) << 56; /* available 64-bit TSS */
	gdt[6] = t >> 32;
	gdt_load(gdt, sizeof(gdt) - 1);
	__asm__ volatile("ltr %w0" : : "r"(0x28) : "memory");
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr;
	__asm__ volatile("sidt %0" : "=m"(idtr));
	uint32_t *gate = (uint32_t *)(idtr.base + 0x80 * 16);
	uint64_t h = (uint64_t)user_return;
	gate[0] = (uint32_t)(h & 0xffff) | 0x08u << 16;
	gate[1] = (uint32_t)(h & 0xffff0000) | 0xee00u; /* present, DPL 3, interrupt gate */
	gate[2] = (uint32_t)(h >> 32);
	gate[3] = 0;
}

/* Run one user string instruction; its fault vector (NO_FAULT if none). */
static int user(char *insn, const void *mem, uint64_t rcx, uint16_t port)
{
	ur = (struct uregs){ (uint64_t)insn, (uint64_t)mem, (uint64_t)mem, rcx, port };
	fault_vector = NO_FAULT;
	fault_error = fault_cr2 = 0;
	run_user();
	return fault_vector;
}

static int try_rep_insb(void *dst, uint64_t *rcx, uint16_t port)
{
	fault_vector = NO_FAULT;
	fault_error = fault_cr2 = 0;
	__asm__ volatile("1: rep insb\n2:\n\t" EXTABLE(1b, 2b) : "+D"(dst), "+c"(*rcx) : "d"(port) : "memory");
	return fault_vector;
}

static int try_rep_outsb(const void *src, uint64_t *rcx, uint16_t port)
{
	fault_vector = NO_FAULT;
	fault_error = fault_cr2 = 0;
	__asm__ volatile("1: rep outsb\n2:\n\t" EXTABLE(1b, 2b) : "+S"(src), "+c"(*rcx) : "d"(port) : "memory");
	return fault_vector;
}

static bool all(const uint8_t *p, uint8_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Ring 3 writes a read-only supervisor page and reads the kernel's
 * secret through the hypervisor: both must fault as on the CPU. */
static void ring3(void)
{
	int vec = user(user_rep_insb, ro_page + 0x100, 16, LSR);
	CHECK(vec == VEC_PF && fault_error == 0x7 && fault_cr2 == (uint64_t)(ro_page + 0x100) && ur.rcx == 16,
	      "user: ring 3 REP INSB into a read-only supervisor page: fault %d error %#llx CR2 %#llx RCX %llu", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2, (unsigned long long)ur.rcx);
	vec = user(user_insb, ro_page + 0x200, 1, LSR);
	CHECK(vec == VEC_PF && fault_error == 0x7 && fault_cr2 == (uint64_t)(ro_page + 0x200),
	      "user: ring 3 INSB into a read-only supervisor page: fault %d error %#llx CR2 %#llx", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2);
	CHECK(all(ro_page, 0xaa, sizeof(ro_page)), "user: ring 3 wrote the read-only supervisor page");

	vec = user(user_rep_outsb, secret_page, sizeof(secret) - 1, COM1);
	CHECK(vec == VEC_PF && fault_error == 0x5 && fault_cr2 == (uint64_t)secret_page && ur.rcx == sizeof(secret) - 1,
	      "user: ring 3 REP OUTSB of a supervisor page: fault %d error %#llx CR2 %#llx RCX %llu", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2, (unsigned long long)ur.rcx);
	vec = user(user_outsb, secret_page + 1, 1, COM1);
	CHECK(vec == VEC_PF && fault_error == 0x5 && fault_cr2 == (uint64_t)(secret_page + 1),
	      "user: ring 3 OUTSB of a supervisor page: fault %d error %#llx CR2 %#llx", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2);
	outb(COM1, '\n'); /* whatever reached the UART is one line of its own */
}

/* CR0.WP: a supervisor write to a read-only page faults with it, not
 * without it; the command-line hypercall writes as the kernel would. */
static void write_protect(void)
{
	uint64_t cr0 = read_cr0(), rcx = 16;

	write_cr0(cr0 | CR0_WP);
	int vec = try_rep_insb(ro_page + 0x100, &rcx, LSR);
	CHECK(vec == VEC_PF && fault_error == 0x3 && fault_cr2 == (uint64_t)(ro_page + 0x100) && rcx == 16,
	      "user: REP INSB into a read-only page with CR0.WP=1: fault %d error %#llx CR2 %#llx RCX %llu", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2, (unsigned long long)rcx);
	uint64_t r = vmcall3(HC_CMDLINE, (uint64_t)(ro_page + 0x800), 64);
	CHECK(r == HC_ERROR, "user: the command-line hypercall wrote a read-only page with CR0.WP=1: %#llx",
	      (unsigned long long)r);
	CHECK(all(ro_page, 0xaa, sizeof(ro_page)), "user: the read-only page changed with CR0.WP=1");

	write_cr0(cr0 & ~CR0_WP);
	rcx = 16;
	vec = try_rep_insb(ro_page + 0x100, &rcx, LSR);
	CHECK(vec == NO_FAULT && rcx == 0 && all(ro_page + 0x100, LSR_IDLE, 16),
	      "user: REP INSB into a read-only page with CR0.WP=0: fault %d RCX %llu", vec, (unsigned long long)rcx);
	write_cr0(cr0);
}

/* CR4.SMAP: supervisor data accesses to user pages fault unless
 * RFLAGS.AC is set (explicit accesses), hypercall buffers included.
 * False if the CPU does not offer it. */
static bool smap(void)
{
	uint32_t r[4];
	cpuid(7, 0, r);
	uint64_t cr4 = read_cr4();
	if (!(r[1] & (1u << 20)) || try_write_cr4(cr4 | CR4_SMAP) != NO_FAULT) {
		print("user: SMAP is not offered: not checked");
		return false;
	}
	uint64_t rcx = 16;
	int vec = try_rep_insb(user_page + 0x100, &rcx, LSR);
	CHECK(vec == VEC_PF && fault_error == 0x3 && fault_cr2 == (uint64_t)(user_page + 0x100) && rcx == 16,
	      "user: REP INSB into a user page with SMAP and AC=0: fault %d error %#llx CR2 %#llx RCX %llu", vec,
	      (unsigned long long)fault_error, (unsigned long long)fault_cr2, (unsigned long long)rcx);
	uint64_t hc = vmcall3(HC_PRINT, (uint64_t)user_page, 8);
	CHECK(hc == HC_ERROR, "user: the print hypercall read a user page with SMAP and AC=0: %#llx",
	      (unsigned long long)hc);
	rcx = 16;
	__asm__ volatile("stac" ::: "memory");
	vec = try_rep_insb(user_page + 0x100, &rcx, LSR);
	bool written = all(user_page + 0x100, LSR_IDLE, 16);
	__asm__ volatile("clac" ::: "memory");
	CHECK(vec == NO_FAULT && rcx == 0 && written, "user: REP INSB into a user page with SMAP and AC=1: fault %d RCX %llu",
	      vec, (unsigned long long)rcx);
	try_write_cr4(cr4);
	return true;
}

/* The walk sets A in the entries it uses and D in the last on a write,
 * as the CPU does (SDM vol. 3A, 5.8). The pages are never touched by the
 * guest itself, so only the hypervisor can have set them. */
static void accessed_dirty(void)
{
	volatile uint64_t *in = pte(ad_in_page), *out = pte(ad_out_page);
	uint64_t rcx = 16;

	CHECK(!(*in & (PTE_A | PTE_D)) && !(*out & (PTE_A | PTE_D)), "user: A/D set before any access");
	int vec = try_rep_insb(ad_in_page, &rcx, LSR);
	CHECK(vec == NO_FAULT && (*in & (PTE_A | PTE_D)) == (PTE_A | PTE_D),
	      "user: REP INSB: fault %d, PTE %#llx (A and D expected)", vec, (unsigned long long)*in);
	rcx = 16;
	vec = try_rep_outsb(ad_out_page, &rcx, 0x80);
	CHECK(vec == NO_FAULT && (*out & (PTE_A | PTE_D)) == PTE_A, "user: REP OUTSB: fault %d, PTE %#llx (A only expected)",
	      vec, (unsigned long long)*out);
}

uint64_t guest_main(void)
{
	setup();
	print("user: kernel with a ring 3 task, IOPL 3, 4 KiB pages");
	ring3();
	write_protect();
	bool has_smap = smap();
	accessed_dirty();
	print("user: ring 3 INS/OUTS on supervisor pages fault (#PF 0x7, 0x5); CR0.WP%s and A/D hold; %u failed",
	      has_smap ? ", SMAP" : "", failures);
	return failures;
}
