/*
 * The hostile guest (issue 6): it tries hard to break the hypervisor, one
 * attack per run, chosen by its command line (the module's words after
 * "--"):
 *   test=probe addr=A [write=1]  read (or write) guest-physical A through
 *                                its own page tables: the VM must end with
 *                                cause=ept-violation status=A; addr=top is
 *                                the last page below the physical-address
 *                                width (CPUID 0x80000008)
 *   test=exec addr=A             jump to A: the same, for an instruction fetch
 *   test=vmx                     every VMX instruction raises #UD
 *   test=msr                     RDMSR over 0-0x1fff, 0x40000000-0x400000ff
 *                                and 0xc0000000-0xc0001fff gives a value or
 *                                #GP; writing back what was read, and
 *                                garbage into the MSRs the hypervisor
 *                                depends on, gives the architectural result
 *   test=cr                      CR0/CR3/CR4/CR8 writes with reserved,
 *                                fixed or inconsistent bits raise #GP and
 *                                change nothing
 *   test=ports                   IN and OUT of every size on all 65,536
 *                                ports (OUT to 0xf4 excepted: it ends the VM)
 *   test=misc                    XSETBV with invalid XCR0 values, INVD and
 *                                WBINVD in a loop, self-modifying code
 *   test=hypercalls              VMCALL with every function 0-0xffff (the
 *                                exit function excepted) and garbage
 *                                arguments
 *   test=strio                   REP INS/OUTS with DF set, a 32-bit address
 *                                size with RCX = 2^32, a source at the top
 *                                of the address space (#PF)
 *   test=strio-in addr=A         REP INSB (RCX = 2^32) into A outside RAM,
 *   test=strio-out addr=A        REP OUTSB (RCX = 2^64-1) from A: the VM
 *                                ends with cause=ept-violation status=A
 *   test=busy                    a loop that never exits: ends by timeout=
 *   test=hlt                     HLT with interrupts on and nothing to wake
 *                                it: ends by timeout=
 * The tests that return print what they saw and end the VM through the
 * exit hypercall with their failure count (status=0: all as expected).
 */
#include "guest64.h"


/* --- probe and exec ------------------------------------------------------ */

static uint64_t pdpt[512] __attribute__((aligned(4096)));

/* Make guest-linear A = guest-physical A with a 1 GiB page, in a PML4
 * slot of its own if the loader's identity map (512 GiB) does not reach. */
static void map_identity(uint64_t a)
{
	uint64_t cr3, *pml4;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & ~0xfffull);
	unsigned i4 = (a >> 39) & 511, i3 = (a >> 30) & 511;
	if (!(pml4[i4] & 1))
		pml4[i4] = (uint64_t)pdpt | 3;
	uint64_t *t = (uint64_t *)(pml4[i4] & 0x000ffffffffff000ull);
	t[i3] = (a & ~((1ull << 30) - 1)) | 0x83; /* present, writable, 1 GiB */
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static uint64_t test_probe(void)
{
	uint64_t a = arg_u64("addr", 0);
	bool write = arg_u64("write", 0);
	uint32_t r[4];

	if (arg_is("addr", "top")) {
		cpuid(0x80000008, 0, r);
		a = (1ull << (r[0] & 0xff)) - 4096;
	}
	cpuid(0x80000001, 0, r);
	if (!(r[3] & (1u << 26))) {
		print("probe: no 1 GiB pages: cannot map %#llx", (unsigned long long)a);
		return 1;
	}
	map_identity(a);
	print("probe: %s of guest-physical %#llx", write ? "write" : "read", (unsigned long long)a);
	if (write)
		*(volatile uint64_t *)a = 0x5a5a5a5a5a5a5a5aull;
	uint64_t v = *(volatile uint64_t *)a;
	/* Only inside RAM may this go on. */
	print("probe: %#llx read %#llx and the VM goes on", (unsigned long long)a, (unsigned long long)v);
	return 1;
}

static uint64_t test_exec(void)
{
	uint64_t a = arg_u64("addr", 0);
	map_identity(a);
	print("exec: jumping to guest-physical %#llx", (unsigned long long)a);
	((void (*)(void))a)();
	print("exec: came back from %#llx", (unsigned long long)a);
	return 1;
}

/* --- VMX instructions ------------------------------------------------------ */

static uint64_t test_vmx(void)
{
	static uint64_t region[512] __attribute__((aligned(4096)));
	uint64_t pa = (uint64_t)region, v = 0;
	struct {
		uint64_t a, b;
	} desc = { 0, 0 };
	int n = 0, ud = 0;

#define VMX_TRY(name, insn, ...)                                                           \
	do {                                                                               \
		fault_vector = NO_FAULT;                                                   \
		__asm__ volatile("1: " insn "\n2:\n\t" EXTABLE(1b, 2b) : : __VA_ARGS__); \
		n++;                                                                       \
		if (fault_vector == VEC_UD)                                                \
			ud++;                                                              \
		else                                                                       \
			CHECK(0, "vmx: %s gave %d, not #UD", name, fault_vector);          \
	} while (0)

	VMX_TRY("VMXON", "vmxon %0", "m"(pa) : "memory");
	VMX_TRY("VMXOFF", "vmxoff", "i"(0) : "memory");
	VMX_TRY("VMCLEAR", "vmclear %0", "m"(pa) : "memory");
	VMX_TRY("VMPTRLD", "vmptrld %0", "m"(pa) : "memory");
	VMX_TRY("VMPTRST", "vmptrst %0", "m"(v) : "memory");
	VMX_TRY("VMREAD", "vmread %0, %1", "r"(0x4402ull), "r"(v) : "memory");
	VMX_TRY("VMWRITE", "vmwrite %0, %1", "r"(v), "r"(0x681eull) : "memory");
	VMX_TRY("VMLAUNCH", "vmlaunch", "i"(0) : "memory");
	VMX_TRY("VMRESUME", "vmresume", "i"(0) : "memory");
	VMX_TRY("INVEPT", "invept %0, %1", "m"(desc), "r"(2ull) : "memory");
	VMX_TRY("INVVPID", "invvpid %0, %1", "m"(desc), "r"(2ull) : "memory");
	VMX_TRY("VMFUNC", "vmfunc", "a"(0), "c"(0) : "memory");
	print("vmx: %d VMX instructions, %d raised #UD", n, ud);
	return failures;
}

/* --- MSRs ------------------------------------------------------------------- */

static const uint32_t msr_ranges[][2] = { { 0, 0x1fff }, { 0x40000000, 0x400000ff }, { 0xc0000000, 0xc0001fff } };

static uint64_t test_msr(void)
{
	unsigned read = 0, gp = 0, written = 0, wgp = 0;

	for (unsigned r = 0; r < 3; r++) {
		for (uint32_t m = msr_ranges[r][0]; m <= msr_ranges[r][1]; m++) {
			uint64_t v;
			int f = try_rdmsr(m, &v);
			if (f == VEC_GP) {
				gp++;
				continue;
			}
			CHECK(f == NO_FAULT, "msr: RDMSR %#x raised %d", m, f);
			read++;
			/* Writing back what was read: the value stays, or
			 * the MSR is read-only (#GP). The TSC moves on. */
			f = try_wrmsr(m, v);
			if (f == VEC_GP) {
				wgp++;
				continue;
			}
			CHECK(f == NO_FAULT, "msr: WRMSR %#x raised %d", m, f);
			written++;
			uint64_t back;
			if (m != 0x10 && try_rdmsr(m, &back) == NO_FAULT)
				CHECK(back == v, "msr: %#x read back %#llx after writing %#llx", m,
				      (unsigned long long)back, (unsigned long long)v);
		}
	}
	print("msr: %u MSRs read, %u #GP; %u written back, %u #GP", read, gp, written, wgp);

	/* Garbage into the MSRs the hypervisor depends on: the guest's own
	 * copy takes a value or the write faults; the hypervisor checks its
	 * own after the VM (isolation: ... unchanged). */
	static const struct {
		uint32_t msr;
		uint64_t value;
		bool gp; /* the write must fault */
	} garbage[] = {
		{ 0xc0000080, 0xffffffffffffffffull, true }, /* EFER: reserved bits */
		{ 0xc0000080, 0x0, true },		      /* EFER: LME off with paging on */
		{ 0xc0000082, 0x00007fff55550000ull, false }, /* LSTAR */
		{ 0xc0000081, 0x0123456789abcdefull, false }, /* STAR */
		{ 0xc0000100, 0x00007fffdead0000ull, false }, /* FS_BASE */
		{ 0xc0000101, 0x00007fffbeef0000ull, false }, /* GS_BASE */
		{ 0xc0000102, 0x00007fff12340000ull, false }, /* KERNEL_GS_BASE */
		{ 0xc0000100, 0x8000000000000000ull, true },  /* FS_BASE: not canonical */
		{ 0x3a, 0x5, true },			      /* FEATURE_CONTROL: locked */
		{ 0x277, 0x0202020202020202ull, true },	      /* PAT: type 2 is reserved */
		{ 0x1b, 0x1234567890000ull, true },	      /* APIC base moved */
		{ 0x1d9, 0xffffffffffffffffull, true },	      /* DEBUGCTL: reserved bits */
	};
	for (unsigned i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		int f = try_wrmsr(garbage[i].msr, garbage[i].value);
		if (garbage[i].gp) {
			CHECK(f == VEC_GP, "msr: WRMSR %#x <- %#llx gave %d, not #GP", garbage[i].msr,
			      (unsigned long long)garbage[i].value, f);
		} else {
			uint64_t back = 0;
			CHECK(f == NO_FAULT && try_rdmsr(garbage[i].msr, &back) == NO_FAULT && back == garbage[i].value,
			      "msr: WRMSR %#x <- %#llx: fault %d, reads %#llx", garbage[i].msr,
			      (unsigned long long)garbage[i].value, f, (unsigned long long)back);
		}
	}
	print("msr: garbage written into %u MSRs the hypervisor depends on", (unsigned)(sizeof(garbage) / sizeof(garbage[0])));
	return failures;
}

/* --- control registers -------------------------------------------------------- */

#define CR_TRY(cr, value)                                                                            \
	({                                                                                           \
		fault_vector = NO_FAULT;                                                             \
		__asm__ volatile("1: mov %0, %%" cr "\n2:\n\t" EXTABLE(1b, 2b) : : "r"((uint64_t)(value)) \
				 : "memory");                                                        \
		fault_vector;                                                                        \
	})
#define CR_READ(cr)                                                 \
	({                                                          \
		uint64_t v_;                                        \
		__asm__ volatile("mov %%" cr ", %0" : "=r"(v_));    \
		v_;                                                 \
	})

static uint64_t test_cr(void)
{
	uint64_t cr0 = CR_READ("cr0"), cr3 = CR_READ("cr3"), cr4 = CR_READ("cr4"), cr8 = CR_READ("cr8");
	uint32_t r[4];
	cpuid(0x80000008, 0, r);
	unsigned maxphy = r[0] & 0xff;
	const struct {
		const char *what;
		int cr;
		uint64_t value;
	} bad[] = {
		{ "CR0 bit 63", 0, cr0 | (1ull << 63) },
		{ "CR0 bit 32", 0, cr0 | (1ull << 32) },
		{ "CR0.PG clear in long mode", 0, cr0 & ~(1ull << 31) },
		{ "CR0.PG without PE", 0, cr0 & ~1ull },
		{ "CR0.NW without CD", 0, (cr0 | (1ull << 29)) & ~(1ull << 30) },
		{ "CR4.VMXE", 4, cr4 | (1ull << 13) },
		{ "CR4 bit 63", 4, cr4 | (1ull << 63) },
		{ "CR4 bit 31", 4, cr4 | (1ull << 31) },
		{ "CR4.PAE clear in long mode", 4, cr4 & ~(1ull << 5) },
		{ "CR4.LA57 toggled in long mode", 4, cr4 ^ (1ull << 12) },
		{ "CR4.PCIDE with CR3[11:0] != 0", 4, (cr3 & 0xfff) ? cr4 | (1ull << 17) : cr4 | (1ull << 63) },
		{ "CR3 above the physical-address width", 3, cr3 | (1ull << maxphy) },
		{ "CR8 bit 4", 8, 0x10 },
		{ "CR8 bit 63", 8, 1ull << 63 },
		/* The same rules when the write exits: CD and OSXSAVE are the
		 * host's bits, so changing one makes the hypervisor check the
		 * rest (issue 12, finding 9). */
		{ "CR0.PG clear in 64-bit mode, with CD (exits)", 0, (cr0 & ~(1ull << 31)) | (1ull << 30) },
		{ "CR4.LA57 toggled in long mode, with OSXSAVE (exits)", 4, cr4 ^ (1ull << 12) ^ (1ull << 18) },
		{ "CR4.CET without CR0.WP, with OSXSAVE (exits)", 4, (cr4 | (1ull << 23)) ^ (1ull << 18) },
	};
	unsigned gp = 0;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int f = bad[i].cr == 0	 ? CR_TRY("cr0", bad[i].value)
			: bad[i].cr == 3 ? CR_TRY("cr3", bad[i].value)
			: bad[i].cr == 4 ? CR_TRY("cr4", bad[i].value)
					 : CR_TRY("cr8", bad[i].value);
		CHECK(f == VEC_GP, "cr: %s (%#llx) gave %d, not #GP", bad[i].what, (unsigned long long)bad[i].value, f);
		gp += f == VEC_GP;
	}
	CHECK(CR_READ("cr0") == cr0 && CR_READ("cr3") == cr3 && CR_READ("cr4") == cr4 && CR_READ("cr8") == cr8,
	      "cr: a faulting write changed a control register");
	/* And writes that are good take: TS, OSXSAVE, a TPR. */
	CHECK(CR_TRY("cr0", cr0 | 8) == NO_FAULT && CR_READ("cr0") == (cr0 | 8), "cr: CR0.TS did not take");
	CR_TRY("cr0", cr0);
	CHECK(CR_TRY("cr4", cr4 ^ (1ull << 18)) == NO_FAULT && CR_READ("cr4") == (cr4 ^ (1ull << 18)),
	      "cr: CR4.OSXSAVE did not take");
	CR_TRY("cr4", cr4);
	CHECK(CR_TRY("cr8", 7) == NO_FAULT && CR_READ("cr8") == 7, "cr: CR8 = 7 did not take");
	CR_TRY("cr8", cr8);
	print("cr: %u bad writes, %u raised #GP; good writes took", (unsigned)(sizeof(bad) / sizeof(bad[0])), gp);
	return failures;
}

/* --- ports ---------------------------------------------------------------------- */

static uint64_t test_ports(void)
{
	unsigned accesses = 0;
	/* OUT of 0x0d: a carriage return, which the UART model drops, so the
	 * sweep prints nothing; every other device takes it as a value. */
	for (uint32_t p = 0; p < 0x10000; p++) {
		uint16_t port = (uint16_t)p;
		uint8_t b;
		uint16_t w;
		uint32_t d;
		__asm__ volatile("inb %1, %0" : "=a"(b) : "d"(port));
		__asm__ volatile("inw %1, %0" : "=a"(w) : "d"(port));
		__asm__ volatile("inl %1, %0" : "=a"(d) : "d"(port));
		accesses += 3;
		if (port == DEBUG_EXIT)
			continue;
		__asm__ volatile("outb %0, %1" : : "a"((uint8_t)0x0d), "d"(port));
		__asm__ volatile("outw %0, %1" : : "a"((uint16_t)0x0d0d), "d"(port));
		__asm__ volatile("outl %0, %1" : : "a"(0x0d0d0d0du), "d"(port));
		accesses += 3;
	}
	print("ports: %u accesses on 65536 ports, every size, no fault", accesses);
	return failures;
}

/* --- XSETBV, INVD/WBINVD, self-modifying code ------------------------------------- */

static int try_xsetbv(uint32_t xcr, uint64_t value)
{
	fault_vector = NO_FAULT;
	__asm__ volatile("1: xsetbv\n2:\n\t" EXTABLE(1b, 2b)
			 :
			 : "c"(xcr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
			 : "memory");
	return fault_vector;
}

static uint64_t test_misc(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	if (r[2] & (1u << 26)) { /* XSAVE */
		uint64_t cr4 = CR_READ("cr4");
		CR_TRY("cr4", cr4 | (1ull << 18));
		const struct {
			uint32_t xcr;
			uint64_t value;
		} bad[] = { { 0, 0 }, { 0, 2 }, { 0, 5 }, { 0, 1ull << 63 }, { 1, 1 }, { 0xffffffff, 3 } };
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK(try_xsetbv(bad[i].xcr, bad[i].value) == VEC_GP, "misc: XSETBV %u <- %#llx did not #GP",
			      bad[i].xcr, (unsigned long long)bad[i].value);
		CHECK(try_xsetbv(0, 3) == NO_FAULT, "misc: XSETBV 0 <- 3 (x87|SSE) faulted");
		print("misc: XSETBV with %u invalid XCR0 values: #GP each", (unsigned)(sizeof(bad) / sizeof(bad[0])));
	} else {
		print("misc: no XSAVE: XSETBV not tried");
	}
	for (int i = 0; i < 1000; i++)
		__asm__ volatile("invd; wbinvd" ::: "memory");
	print("misc: 1000 INVD and WBINVD");

	/* Self-modifying code: "mov $imm32, %eax; ret", patched and run. */
	static uint8_t code[16] __attribute__((aligned(16))) = { 0xb8, 0, 0, 0, 0, 0xc3 };
	uint32_t got[2];
	for (int i = 0; i < 2; i++) {
		uint32_t imm = 0x1234567u * (uint32_t)(i + 1);
		memcpy(code + 1, &imm, 4);
		__asm__ volatile("" ::: "memory");
		got[i] = ((uint32_t(*)(void))code)();
		CHECK(got[i] == imm, "misc: patched code returned %#x, not %#x", got[i], imm);
	}
	print("misc: self-modifying code ran its new bytes (%#x, %#x)", got[0], got[1]);
	return failures;
}

/* --- hypercalls ---------------------------------------------------------------------- */

static uint64_t test_hypercalls(void)
{
	unsigned errors = 0;
	for (uint64_t fn = 0; fn <= 0xffff; fn++) {
		if (fn == HC_EXIT)
			continue;
		/* A pointer outside RAM and a length of 2^63. */
		uint64_t r = vmcall3(fn, 0xdead0000beef0000ull, 1ull << 63);
		uint64_t want = fn == HC_VERSION ? 1 : HC_ERROR;
		CHECK(r == want, "hypercalls: function %#llx returned %#llx", (unsigned long long)fn,
		      (unsigned long long)r);
		errors += r == HC_ERROR;
	}
	/* Print with a pointer outside RAM, and with one that is not even
	 * mapped in the guest's page tables. */
	CHECK(vmcall3(HC_PRINT, 0x7fff00000000ull, 16) == HC_ERROR, "hypercalls: print of an unmapped buffer");
	CHECK(vmcall3(HC_PRINT, 64ull << 30, 16) == HC_ERROR, "hypercalls: print from outside RAM");
	CHECK(vmcall3(HC_CMDLINE, 64ull << 30, 64) == HC_ERROR, "hypercalls: command line into outside RAM");
	print("hypercalls: 65535 functions with garbage arguments, %u returned -1", errors);
	return failures;
}

/* ----------------------------------------------------------------------------------- */

/* --- string IO edge cases ---------------------------------------------------------- */

/* REP INSB/OUTSB that stay in RAM: the direction flag, a 32-bit address
 * size with RCX = 2^32 (ECX = 0: nothing to do), and a source at the top
 * of the address space, which is not mapped: #PF with CR2 there. */
static uint64_t test_strio(void)
{
	static uint8_t buf[64];
	uint64_t rdi = (uint64_t)&buf[47], rcx = 16;

	/* INSB backwards from the LSR (0x60 each): buf[32..47], RDI ends 16 lower */
	__asm__ volatile("std; rep insb; cld" : "+D"(rdi), "+c"(rcx) : "d"((uint16_t)(COM1 + 5)) : "memory");
	CHECK(rdi == (uint64_t)&buf[31] && rcx == 0 && buf[32] == 0x60 && buf[47] == 0x60 && buf[31] == 0 && buf[48] == 0,
	      "strio: REP INSB with DF=1: RDI %#llx RCX %llu", (unsigned long long)rdi, (unsigned long long)rcx);
	uint64_t rsi = (uint64_t)&buf[47];
	rcx = 16;
	__asm__ volatile("std; rep outsb; cld" : "+S"(rsi), "+c"(rcx) : "d"((uint16_t)0x80) : "memory");
	CHECK(rsi == (uint64_t)&buf[31] && rcx == 0, "strio: REP OUTSB with DF=1: RSI %#llx RCX %llu",
	      (unsigned long long)rsi, (unsigned long long)rcx);
	/* RCX = 2^32 with a 32-bit address size: ECX counts, and it is 0 */
	rsi = (uint64_t)buf;
	rcx = 1ull << 32;
	__asm__ volatile("addr32 rep outsb" : "+S"(rsi), "+c"(rcx) : "d"((uint16_t)0x80) : "memory");
	CHECK(rcx == 1ull << 32 && rsi == (uint64_t)buf, "strio: addr32 REP OUTSB with ECX = 0 moved RSI/RCX");
	/* A source at the top of the address space: not mapped, #PF */
	rsi = 0xfffffffffffffff0ull;
	rcx = 8;
	fault_vector = NO_FAULT;
	__asm__ volatile("1: rep outsb\n2:\n\t" EXTABLE(1b, 2b) : "+S"(rsi), "+c"(rcx) : "d"((uint16_t)0x80) : "memory");
	uint64_t cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	CHECK(fault_vector == VEC_PF && cr2 == 0xfffffffffffffff0ull && rcx == 8,
	      "strio: REP OUTSB from the top of the address space: fault %d, CR2 %#llx, RCX %llu", fault_vector,
	      (unsigned long long)cr2, (unsigned long long)rcx);
	print("strio: DF=1 both ways, addr32 with RCX = 2^32, #PF at the top of the address space");
	return failures;
}

/* REP OUTSB (RCX = 2^64-1) from, or REP INSB (RCX = 2^32) into, guest-
 * physical A outside RAM: the VM ends at A. */
static uint64_t test_strio_outside(bool in)
{
	uint64_t a = arg_u64("addr", 0), rcx = in ? 1ull << 32 : ~0ull;
	map_identity(a);
	print("strio: REP %s with RCX %#llx at %#llx", in ? "INSB" : "OUTSB", (unsigned long long)rcx,
	      (unsigned long long)a);
	if (in)
		__asm__ volatile("rep insb" : "+D"(a), "+c"(rcx) : "d"((uint16_t)(COM1 + 5)) : "memory");
	else
		__asm__ volatile("rep outsb" : "+S"(a), "+c"(rcx) : "d"((uint16_t)0x80) : "memory");
	print("strio: came back");
	return 1;
}

static uint64_t test_strio_in(void)
{
	return test_strio_outside(true);
}

static uint64_t test_strio_out(void)
{
	return test_strio_outside(false);
}

static uint64_t test_busy(void)
{
	print("busy: a loop that never exits");
	for (;;)
		__asm__ volatile("");
	__builtin_unreachable();
}

static uint64_t test_hlt(void)
{
	print("hlt: HLT with interrupts on and nothing to wake it");
	__asm__ volatile("sti; hlt");
	print("hlt: woke up");
	return 1;
}

static const struct guest_test tests[] = {
	{ "probe", test_probe }, { "exec", test_exec },		    { "vmx", test_vmx },   { "msr", test_msr },
	{ "cr", test_cr },	 { "ports", test_ports },	    { "misc", test_misc }, { "hypercalls", test_hypercalls },
	{ "busy", test_busy },	 { "hlt", test_hlt },		    { "strio", test_strio }, { "strio-in", test_strio_in },
	{ "strio-out", test_strio_out },
};

uint64_t guest_main(void)
{
	return run_test("hostile", tests, sizeof(tests) / sizeof(tests[0]));
}
