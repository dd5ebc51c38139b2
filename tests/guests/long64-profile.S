/*
 * The exit-path profile guest (make profile; mode=long64 ept=lazy). Each
 * operation of the benchmark (long64-bench.S) runs once to warm up, then
 * once more right after a Bochs magic breakpoint (XCHG BX, BX): the
 * debugger traces every instruction between two breakpoints, so each
 * stretch of the trace holds one operation's full round trip through the
 * hypervisor. tools/profile.sh turns it into instructions per function.
 */
#include "guest.h"

.macro mark
	xchgw	%bx, %bx
.endm
.macro nomark
.endm

.macro OPS mark
	xorl	%eax, %eax
	\mark
	cpuid
	movl	$2, %eax
	\mark
	vmcall
	\mark
	outb	%al, $0x80
	movw	$0x3fd, %dx
	\mark
	inb	%dx, %al
	movl	$0xc0000080, %ecx
	\mark
	rdmsr
	\mark
	wrmsr
	movq	%cr4, %r8
	btcq	$18, %r8		/* OSXSAVE: the hypervisor owns it */
	\mark
	movq	%r8, %cr4
	\mark
	movb	(%rdi), %al		/* a page never touched: lazy EPT fill */
	addq	$4096, %rdi
	\mark
.endm

	.code64
	.globl	_start
_start:
	cld
	movq	$0x800000, %rdi
	OPS	nomark			/* warm-up: the exits and EPT fills of first use */
	OPS	mark
	movl	$0, %eax
	outb	%al, $DEBUG_EXIT
	hlt
