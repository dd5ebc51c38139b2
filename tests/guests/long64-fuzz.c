/*
 * The guest fuzzer (issue 6). From seed=S on its command line (the
 * module's words after "--"; ops=N, default 100000) it runs N random
 * exiting operations, each picked and filled in by a xorshift generator:
 *   port IN and OUT of every size on random ports (OUT to 0xf4, the debug
 *   exit, excepted), REP INS/OUTS of a few elements in either direction,
 *   CPUID of random leaves and subleaves, RDMSR and WRMSR of random MSRs
 *   with random values, MOV to CR0/CR4/CR8 with a flipped bit or garbage,
 *   hypercalls with random function numbers and arguments (the exit
 *   hypercall excepted), XSETBV with random values, INVD/WBINVD, VMX
 *   instructions, and memory reads anywhere in its RAM and writes to a
 *   scratch area.
 * Each operation that may fault has an exception-table entry: #GP, #UD
 * and the rest are counted and the guest goes on. Interrupts stay off. It
 * prints its counts, then touches a random page outside its RAM, so the VM
 * must end with cause=ept-violation at exactly the address it printed. The
 * same seed makes the same run.
 */
#include "guest64.h"

static uint64_t state;

/* xorshift64* (Vigna): small, fast, good enough to pick operations. */
static uint64_t rnd(void)
{
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dull;
}

static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

static uint8_t scratch[8192] __attribute__((aligned(4096)));
static uint64_t ram_size;

/* A random 32-bit index, mostly in or near the ranges where MSRs and
 * CPUID leaves live. */
static uint32_t pick_index(const uint32_t *bases, unsigned n, uint32_t spread)
{
	if (below(8) == 0)
		return (uint32_t)rnd();
	return bases[below(n)] + (uint32_t)below(spread);
}

static void op_port(void)
{
	uint16_t port = (uint16_t)rnd();
	unsigned size = 1u << below(3);
	uint32_t v = (uint32_t)rnd();

	if (below(2)) {
		if (size == 1)
			__asm__ volatile("inb %1, %b0" : "=a"(v) : "d"(port));
		else if (size == 2)
			__asm__ volatile("inw %1, %w0" : "=a"(v) : "d"(port));
		else
			__asm__ volatile("inl %1, %0" : "=a"(v) : "d"(port));
		return;
	}
	if (port == DEBUG_EXIT)
		return;
	if (size == 1)
		__asm__ volatile("outb %b0, %1" : : "a"(v), "d"(port));
	else if (size == 2)
		__asm__ volatile("outw %w0, %1" : : "a"(v), "d"(port));
	else
		__asm__ volatile("outl %0, %1" : : "a"(v), "d"(port));
}

/* REP INSB/OUTSB of up to 16 bytes within the scratch area, maybe with
 * the direction flag set. */
static void op_string(void)
{
	uint16_t port = (uint16_t)rnd();
	uint64_t count = below(17);
	bool down = below(2);
	uint8_t *p = scratch + 64 + below(sizeof(scratch) - 128);

	if (port == DEBUG_EXIT)
		return;
	if (down)
		__asm__ volatile("std");
	if (below(2))
		__asm__ volatile("rep insb" : "+D"(p), "+c"(count) : "d"(port) : "memory");
	else
		__asm__ volatile("rep outsb" : "+S"(p), "+c"(count) : "d"(port) : "memory");
	__asm__ volatile("cld");
}

static void op_cpuid(void)
{
	static const uint32_t bases[] = { 0, 0x40000000, 0x80000000 };
	uint32_t r[4];
	cpuid(pick_index(bases, 3, 0x24), (uint32_t)below(4) == 0 ? (uint32_t)rnd() : (uint32_t)below(16), r);
}

static const uint32_t msr_bases[] = { 0, 0x100, 0x480, 0x800, 0x40000000, 0xc0000080, 0xc0000100 };

static void op_rdmsr(void)
{
	uint64_t v;
	try_rdmsr(pick_index(msr_bases, 7, 0x100), &v);
}

static void op_wrmsr(void)
{
	uint32_t m = pick_index(msr_bases, 7, 0x100);
	uint64_t v = rnd();
	/* Half the time the value read, with one bit flipped. */
	if (below(2) && try_rdmsr(m, &v) == NO_FAULT)
		v ^= 1ull << below(64);
	try_wrmsr(m, v);
}

#define TRY_MOV_CR(cr, value)                                                                              \
	do {                                                                                               \
		fault_vector = NO_FAULT;                                                                   \
		__asm__ volatile("1: mov %0, %%" cr "\n2:\n\t" EXTABLE(1b, 2b) : : "r"((uint64_t)(value)) \
				 : "memory");                                                              \
	} while (0)

static void op_cr(void)
{
	uint64_t v;
	switch (below(3)) {
	case 0:
		__asm__ volatile("mov %%cr0, %0" : "=r"(v));
		TRY_MOV_CR("cr0", below(4) ? v ^ (1ull << below(32)) : rnd());
		break;
	case 1:
		__asm__ volatile("mov %%cr4, %0" : "=r"(v));
		TRY_MOV_CR("cr4", below(4) ? v ^ (1ull << below(32)) : rnd());
		break;
	default:
		TRY_MOV_CR("cr8", below(4) ? below(16) : rnd());
		break;
	}
}

static void op_hypercall(void)
{
	uint64_t fn = below(4) ? below(8) : rnd();
	if (fn == HC_EXIT)
		return;
	if (fn == HC_CMDLINE) { /* it writes: only into the scratch area */
		vmcall3(fn, (uint64_t)scratch, below(sizeof(scratch)));
		return;
	}
	vmcall3(fn, rnd(), rnd());
}

static void op_xsetbv(void)
{
	uint32_t xcr = below(4) ? 0 : (uint32_t)rnd();
	uint64_t v = below(2) ? below(8) : rnd();
	fault_vector = NO_FAULT;
	__asm__ volatile("1: xsetbv\n2:\n\t" EXTABLE(1b, 2b) : : "c"(xcr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}

static void op_cache(void)
{
	if (below(2))
		__asm__ volatile("wbinvd" ::: "memory");
	else
		__asm__ volatile("invd" ::: "memory");
}

static void op_vmx(void)
{
	uint64_t m = 0;
	fault_vector = NO_FAULT;
	switch (below(4)) {
	case 0:
		__asm__ volatile("1: vmxon %0\n2:\n\t" EXTABLE(1b, 2b) : : "m"(m) : "memory");
		break;
	case 1:
		__asm__ volatile("1: vmptrld %0\n2:\n\t" EXTABLE(1b, 2b) : : "m"(m) : "memory");
		break;
	case 2:
		__asm__ volatile("1: vmread %0, %1\n2:\n\t" EXTABLE(1b, 2b) : : "r"(rnd()), "r"(m) : "memory");
		break;
	default:
		__asm__ volatile("1: vmlaunch\n2:\n\t" EXTABLE(1b, 2b) ::: "memory");
		break;
	}
}

/* Reads anywhere in RAM (through the identity map), writes only into the
 * scratch area: the guest must not overwrite itself. */
static void op_memory(void)
{
	uint64_t a = below(ram_size) & ~7ull;
	(void)*(volatile uint64_t *)a;
	*(volatile uint64_t *)(scratch + (below(sizeof(scratch)) & ~7ull)) = rnd();
}

static void (*const ops[])(void) = {
	op_port, op_port, op_port, op_string, op_cpuid, op_cpuid, op_rdmsr, op_rdmsr, op_wrmsr,
	op_cr, op_hypercall, op_xsetbv, op_cache, op_vmx, op_memory, op_memory,
};

/* The guest's RAM size: fw_cfg item 3, 8 bytes little-endian. */
static uint64_t fwcfg_ram(void)
{
	uint64_t v = 0;
	__asm__ volatile("outw %w0, %w1" : : "a"(3), "d"(0x510));
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)inb(0x511) << (8 * i);
	return v;
}

uint64_t guest_main(void)
{
	uint64_t seed = arg_u64("seed", 1), n = arg_u64("ops", 100000);
	uint32_t r[4];

	state = seed ? seed : 1;
	ram_size = fwcfg_ram();
	print("fuzz: seed %llu, %llu operations, %llu MiB RAM", (unsigned long long)seed, (unsigned long long)n,
	      (unsigned long long)(ram_size >> 20));
	cpuid(1, 0, r);
	if (r[2] & (1u << 26)) { /* XSETBV needs CR4.OSXSAVE */
		uint64_t cr4;
		__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
		__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | (1ull << 18)));
	}
	for (uint64_t i = 0; i < n; i++)
		ops[below(sizeof(ops) / sizeof(ops[0]))]();
	uint64_t other = 0;
	for (int v = 0; v < 256; v++)
		if (v != VEC_GP && v != VEC_UD)
			other += fault_count[v];
	print("fuzz: %llu operations done: #GP %llu, #UD %llu, other faults %llu", (unsigned long long)n,
	      (unsigned long long)fault_count[VEC_GP], (unsigned long long)fault_count[VEC_UD],
	      (unsigned long long)other);
	/* A page past RAM, up to 1 GiB further: the VM ends here. */
	uint64_t a = ram_size + (below(1ull << 18) << 12);
	print("fuzz: last, a read outside RAM at %#llx", (unsigned long long)a);
	(void)*(volatile uint64_t *)a;
	print("fuzz: the read outside RAM came back");
	return 1;
}
