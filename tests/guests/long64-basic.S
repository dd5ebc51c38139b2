/*
 * 64-bit long-mode test guest (loaded at 1 MiB; the hypervisor's identity
 * map at 0x1000-0x7fff; RSP at the top of RAM).
 *
 * It reads one byte of every 4 KiB page of its RAM (RAM size from fw_cfg),
 * writes a distinct value into every page from 2 MiB up to 64 KiB below
 * the top and reads them all back, prints through REP OUTSB and the print
 * hypercall, then reads the first page past its RAM: the VM must end with
 * cause=ept-violation status=<that address>.
 *
 * Exits before the final access (asserted exactly by the boot test):
 *   cpuid: 1   leaf 0x40000000
 *   io:    12  OUT 0x510 + IN 0x511 x8 (RAM size), REP OUTSB banner,
 *              REP OUTSB verdict, REP OUTSB of the last line
 *   vmcall: 1  print
 * With ept=lazy, each page of RAM costs one ept_violation on first touch
 * and the sweep touches all of them: ept_violation = pages + 1.
 */
#include "guest.h"

	.code64
	.globl	_start
_start:
	cld
	xorl	%r15d, %r15d		/* failures */

	movq	$banner, %rsi
	movq	$banner_end - banner, %rcx
	movw	$COM1, %dx
	rep outsb

	movl	$0x40000000, %eax
	cpuid
	cmpl	$0x79687668, %ebx	/* "hvhy" */
	je	1f
	incl	%r15d
1:
	/* RAM size: fw_cfg item 3, 8 bytes little-endian. */
	movw	$3, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	xorq	%rbx, %rbx
	movl	$8, %ecx
	xorl	%edi, %edi
2:	inb	%dx, %al
	movzbq	%al, %rax
	pushq	%rcx
	movl	%edi, %ecx
	shlq	%cl, %rax
	popq	%rcx
	orq	%rax, %rbx
	addl	$8, %edi
	loop	2b
	movq	%rbx, ram_size

	/* Touch every page (reads only: the page tables live in RAM too). */
	xorq	%rax, %rax
3:	movb	(%rax), %cl
	addq	$4096, %rax
	cmpq	%rbx, %rax
	jb	3b

	/* Distinct values in every page of [2 MiB, top - 64 KiB), then check. */
	movq	$0x200000, %rax
	leaq	-0x10000(%rbx), %rdx
4:	movq	%rax, %rcx
	notq	%rcx
	movq	%rcx, (%rax)
	addq	$4096, %rax
	cmpq	%rdx, %rax
	jb	4b
	movq	$0x200000, %rax
5:	movq	(%rax), %rcx
	notq	%rcx
	cmpq	%rax, %rcx
	je	6f
	incl	%r15d
6:	addq	$4096, %rax
	cmpq	%rdx, %rax
	jb	5b

	movq	$HC_PRINT, %rax
	movq	$hc_msg, %rbx
	movq	$hc_msg_end - hc_msg, %rcx
	vmcall

	movq	$ok_msg, %rsi
	movq	$ok_msg_end - ok_msg, %rcx
	testl	%r15d, %r15d
	jz	7f
	movq	$bad_msg, %rsi
	movq	$bad_msg_end - bad_msg, %rcx
7:	movw	$COM1, %dx
	rep outsb
	movq	$tail_msg, %rsi
	movq	$tail_msg_end - tail_msg, %rcx
	rep outsb

	/* The first byte past RAM: no slot backs it. */
	movq	ram_size, %rax
	movb	(%rax), %cl
	/* not reached */
	movq	$HC_EXIT, %rax
	movq	$0xdead, %rbx
	vmcall
	hlt

	.data
ram_size:	.quad	0
banner:	.ascii	"long64 guest: every page of RAM, then one past it\n"
banner_end:
hc_msg:	.ascii	"long64 print hypercall"
hc_msg_end:
ok_msg:	.ascii	"long64 memory checks passed\n"
ok_msg_end:
bad_msg:	.ascii	"long64 memory checks FAILED\n"
bad_msg_end:
tail_msg:	.ascii	"reading past the end of RAM\n"
tail_msg_end:
