/*
 * String IO edge cases in long mode (run with mem=4M):
 *   REP INSB with RDI = 0 and 64-bit addressing (16 bytes from the UART's
 *   LSR), INSB without REP, REP INSB with a 32-bit address size (EDI is
 *   used and the upper half of RDI is cleared), then REP OUTSB with
 *   RCX = 2^64-1 from 16 bytes below the end of RAM: the first batch ends
 *   at the page boundary, the next element is outside RAM, and the VM ends
 *   with cause=ept-violation status=0x400000. A failed check ends it
 *   earlier through port 0xf4 with the failure count instead.
 * Exits: io 5 (REP INSB, INSB, REP INSB, REP OUTSB twice); the access
 * outside RAM is found while emulating the second REP OUTSB batch.
 */
#include "guest.h"

	.code64
	.globl	_start
_start:
	cld
	xorl	%ebx, %ebx		/* failures */
	movw	$COM1 + 5, %dx

	xorl	%edi, %edi
	movl	$16, %ecx
	rep insb
	cmpq	$16, %rdi
	jne	1f
	testq	%rcx, %rcx
	jne	1f
	movq	(0), %rax
	movabsq	$0x6060606060606060, %rsi
	cmpq	%rsi, %rax
	je	2f
1:	incl	%ebx
2:
	movl	$0x100, %edi
	insb
	cmpq	$0x101, %rdi
	jne	3f
	cmpb	$0x60, 0x100
	je	4f
3:	incl	%ebx
4:
	movabsq	$0x1234500000200, %rdi	/* EDI = 0x200 with 32-bit addressing */
	movl	$4, %ecx
	addr32 rep insb
	cmpq	$0x204, %rdi
	jne	5f
	cmpl	$0x60606060, 0x200
	je	6f
5:	incl	%ebx
6:
	testl	%ebx, %ebx
	jz	7f
	movl	%ebx, %eax
	outb	%al, $DEBUG_EXIT
7:
	movq	$0x400000 - 16, %rsi
	movq	$-1, %rcx
	movw	$0x80, %dx
	rep outsb
	/* not reached */
	movb	$0xee, %al
	outb	%al, $DEBUG_EXIT
	hlt
