/*
 * The exit-path benchmark (make bench; run with mode=long64 ept=lazy).
 * For each exiting operation it times N iterations of a loop doing it and
 * of the same loop with a non-exiting instruction instead, with RDTSC. In
 * Bochs the TSC counts retired instructions, so
 *   (ticks(op loop) - ticks(baseline loop)) / N
 * is the exact number of instructions the exit costs (VM exit, the
 * hypervisor's path, VM entry). In a counting build of the hypervisor it
 * also reads the VMREAD/VMWRITE counters through hypercall 3 around each
 * loop. Each result is a line "BENCH name instructions vmreads vmwrites".
 */
#include "guest.h"

#define N	64
#define HC_VMCS_COUNTS	3

/* r12: TSC at start; r14/r15: counters at start */
.macro START
	call	counters
	movq	%rax, %r14
	movq	%rbx, %r15
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r12
.endm

/* result -> RAX ticks, RBX reads, RCX writes */
.macro STOP
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	subq	%r12, %rax
	pushq	%rax
	call	counters
	subq	%r14, %rax
	subq	%r15, %rbx
	movq	%rbx, %rcx
	movq	%rax, %rbx
	popq	%rax
.endm

/* BENCH name: time BODY against BASE, N times each, and report. */
.macro BENCH name, setup, body, base, n=N
	movl	$\n, bench_n
	\setup
	START
	movl	$\n, %r13d
1:	\base
	decl	%r13d
	jnz	1b
	STOP
	movq	%rax, base_ticks
	movq	%rbx, base_reads
	movq	%rcx, base_writes
	\setup
	START
	movl	$\n, %r13d
2:	\body
	decl	%r13d
	jnz	2b
	STOP
	leaq	\name(%rip), %rsi
	call	report
.endm

	.code64
	.globl	_start
_start:
	cld

	BENCH	n_cpuid, "xorl %eax, %eax", "xorl %eax, %eax; cpuid", "xorl %eax, %eax; nop"
	BENCH	n_vmcall, "", "movl $2, %eax; vmcall", "movl $2, %eax; nop"
	BENCH	n_out80, "", "outb %al, $0x80", "nop"
	/* START/STOP clobber RAX, RBX, RDX (RDTSC, the counter hypercall):
	 * operands live in the loop bodies or in R8-R11. */
	BENCH	n_inlsr, "", "movw $0x3fd, %dx; inb %dx, %al", "movw $0x3fd, %dx; nop"
	BENCH	n_rdmsr, "movl $0xc0000080, %ecx", "rdmsr", "nop"
	BENCH	n_wrmsr, "movl $0xc0000080, %ecx; rdmsr; movl %eax, %r8d", "movl %r8d, %eax; xorl %edx, %edx; wrmsr", "movl %r8d, %eax; xorl %edx, %edx; nop"
	BENCH	n_cr0, "movq %cr0, %r8; movq %r8, %r9; btsq $30, %r9", "movq %r9, %cr0; movq %r8, %cr0", "nop; nop"
	/* CR4.OSXSAVE is the hypervisor's (vmx/core/guest.c): set, then clear */
	BENCH	n_cr4, "movq %cr4, %r8; movq %r8, %r9; btsq $18, %r9", "movq %r9, %cr4; movq %r8, %cr4", "nop; nop"
	/* REP OUTSB of 64 carriage returns (the UART model drops them), per
	 * call; bench.sh divides by 64 for the per-byte figure */
	BENCH	n_outsb64, "", "movw $0x3f8, %dx; leaq crs(%rip), %rsi; movl $64, %ecx; rep outsb", "movw $0x3f8, %dx; leaq crs(%rip), %rsi; movl $64, %ecx; nop"
	/* Lazy EPT: a read of a page never touched (each iteration the next
	 * page from 8 MiB up) against a read of the same, mapped page. */
	BENCH	n_eptfill, "movq $0x800000, %rdi", "movb (%rdi), %al; addq $4096, %rdi", "movb crs(%rip), %al; addq $4096, %rdi", 512

	movl	$0, %eax
	outb	%al, $DEBUG_EXIT
	hlt

/* RAX, RBX = VMREADs, VMWRITEs so far (0 outside the counting build) */
counters:
	pushq	%rcx
	movl	$HC_VMCS_COUNTS, %eax
	vmcall
	cmpq	$-1, %rax
	jne	1f
	xorl	%eax, %eax
	xorl	%ebx, %ebx
1:	popq	%rcx
	ret

/* "BENCH <name> <ticks/N> <reads/N> <writes/N>": RAX/RBX/RCX are the
 * operation loop's ticks, reads and writes; the baseline's are in memory
 * (both include the same counter calls, which cancel); RSI the name. */
report:
	subq	base_ticks, %rax
	subq	base_reads, %rbx
	subq	base_writes, %rcx
	pushq	%rcx
	pushq	%rbx
	pushq	%rax
	pushq	%rsi
	leaq	m_bench(%rip), %rsi
	call	puts
	popq	%rsi
	call	puts
	movl	$3, %r8d		/* ticks, reads, writes: each over N */
1:	movb	$' ', %al
	call	putc
	popq	%rax
	movl	bench_n, %ecx
	xorl	%edx, %edx
	divq	%rcx
	call	put_dec
	decl	%r8d
	jnz	1b
	movb	$'\n', %al
	call	putc
	ret

putc:
	movw	$COM1, %dx
	outb	%al, %dx
	ret

puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

put_dec:
	leaq	decbuf + 20(%rip), %rsi
	movb	$0, (%rsi)
	movq	$10, %rcx
1:	xorl	%edx, %edx
	divq	%rcx
	addb	$'0', %dl
	decq	%rsi
	movb	%dl, (%rsi)
	testq	%rax, %rax
	jnz	1b
	jmp	puts

	.data
m_bench:	.asciz	"BENCH "
n_cpuid:	.asciz	"cpuid"
n_vmcall:	.asciz	"vmcall"
n_out80:	.asciz	"out_port80"
n_inlsr:	.asciz	"in_uart_lsr"
n_rdmsr:	.asciz	"rdmsr_efer"
n_wrmsr:	.asciz	"wrmsr_efer"
n_cr0:		.asciz	"cr0_write_pair"
n_cr4:		.asciz	"cr4_write_pair"
n_outsb64:	.asciz	"rep_outsb_64"
n_eptfill:	.asciz	"ept_lazy_fill"
bench_n:	.long	0
base_ticks:	.quad	0
base_reads:	.quad	0
base_writes:	.quad	0
crs:		.fill	64, 1, 13
decbuf:		.skip	21
