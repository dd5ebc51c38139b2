/* Long mode with no IDT: a CPUID, an OUT, then UD2. #UD cannot be
 * delivered (IDT limit 0), nor #GP or #DF: triple fault.
 * Exits: cpuid 1, io 1, triple_fault 1. */
	.code64
	.globl	_start
_start:
	xorl	%eax, %eax
	cpuid
	movb	$'T', %al
	outb	%al, $0x80
	ud2
