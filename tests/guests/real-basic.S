/*
 * Real-mode test guest (a boot sector at 0000:7C00).
 *
 * Exits it causes, in order (the boot test asserts these exact counts):
 *   io:    1  REP OUTSB banner (one batch: within one page)
 *          1  REP INSB of 8 bytes from the UART's LSR
 *          1  REP OUTSB of the backwards line, DF=1
 *          2  OUT 0x21, IN 0x21 (PIC mask register)
 *          5  OUT 0x510 (fw_cfg selector), IN 0x511 x4 (signature)
 *          1  REP OUTSB of the verdict line
 *          1  OUT 0xf4: debug exit with the failure count
 *         12 in all
 *   cpuid: 3  leaves 0, 1, 0x40000000
 */
#include "guest.h"

	.code16
	.globl	_start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	xorw	%bp, %bp		/* failures */
	cld

	movw	$banner, %si
	movw	$banner_end - banner, %cx
	movw	$COM1, %dx
	rep outsb

	/* LSR reads THRE|TEMT (0x60) on every read. */
	movw	$buf, %di
	movw	$8, %cx
	movw	$COM1 + 5, %dx
	rep insb
	movw	$buf, %si
	movw	$8, %cx
1:	lodsb
	cmpb	$0x60, %al
	je	2f
	incw	%bp
2:	loop	1b

	/* CPUID policy: VMX hidden, hypervisor bit set, our signature. */
	xorl	%eax, %eax
	cpuid
	cmpl	$1, %eax
	jae	3f
	incw	%bp
3:	movl	$1, %eax
	cpuid
	testl	$(1 << 5), %ecx
	jz	4f
	incw	%bp
4:	testl	$(1 << 31), %ecx
	jnz	5f
	incw	%bp
5:	movl	$0x40000000, %eax
	cpuid
	cmpl	$0x40000001, %eax
	jne	6f
	cmpl	$0x79687668, %ebx	/* "hvhy" */
	jne	6f
	cmpl	$0x76726570, %ecx	/* "perv" */
	jne	6f
	cmpl	$0x726f7369, %edx	/* "isor" */
	je	7f
6:	incw	%bp
7:
	/* A string out backwards: DF=1, SI at the last byte. */
	std
	movw	$backwards_end - 1, %si
	movw	$backwards_end - backwards, %cx
	movw	$COM1, %dx
	rep outsb
	cld

	/* PIC mask register keeps what is written. */
	movb	$0x5a, %al
	outb	%al, $0x21
	inb	$0x21, %al
	cmpb	$0x5a, %al
	je	8f
	incw	%bp
8:
	/* fw_cfg signature "QEMU". */
	xorw	%ax, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	movw	$sig, %di
	movw	$4, %cx
9:	inb	%dx, %al
	stosb
	loop	9b
	cmpl	$0x554d4551, sig
	je	10f
	incw	%bp
10:
	movw	$verdict_ok, %si
	movw	$verdict_ok_end - verdict_ok, %cx
	testw	%bp, %bp
	jz	11f
	movw	$verdict_bad, %si
	movw	$verdict_bad_end - verdict_bad, %cx
11:	movw	$COM1, %dx
	rep outsb

	movw	%bp, %ax
	outb	%al, $DEBUG_EXIT
	hlt

banner:	.ascii	"real mode guest: string IO, CPUID policy, fw_cfg\n"
banner_end:
backwards:
	.ascii	"\nsdrawkcab tuo gnirts"	/* printed in reverse: "string out backwards\n" */
backwards_end:
verdict_ok:
	.ascii	"real mode checks passed\n"
verdict_ok_end:
verdict_bad:
	.ascii	"real mode checks FAILED\n"
verdict_bad_end:
sig:	.long	0
buf:	.skip	8
