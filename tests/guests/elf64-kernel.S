/*
 * An ELF64 kernel (linked at 2 MiB): entered in long mode at e_entry with
 * the hypervisor's identity map. Checks its BSS is zero and that it runs
 * at its link address, then exits through 0xf4 with the failure count.
 * Exits: io 2 (REP OUTSB line, OUT 0xf4).
 */
#include "guest.h"

	.text
	.code64
	.globl	_start
_start:
	xorl	%ebx, %ebx
	cmpq	$0, bss_word
	je	1f
	incl	%ebx
1:	leaq	_start(%rip), %rax
	cmpq	$0x200000, %rax
	je	2f
	incl	%ebx
2:	leaq	msg(%rip), %rsi
	movl	$msg_end - msg, %ecx
	movw	$COM1, %dx
	cld
	rep outsb
	movl	%ebx, %eax
	outb	%al, $DEBUG_EXIT
	hlt

	.data
msg:	.ascii	"ELF64 kernel running in long mode\n"
msg_end:
	.bss
bss_word:	.quad	0
