/*
 * IDT entry stubs: one per vector, 16 bytes apart, so idt.c finds stub N at
 * trap_stubs + 16 * N. Vectors without a CPU error code push a zero, so
 * every frame has the shape of struct trap_frame (arch-x86/percpu/idt.h).
 */
	.text
	.balign	16
	.globl	trap_stubs
trap_stubs:
	vector = 0
	.rept	256
	.balign	16
	/* Error code pushed by the CPU: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13,
	 * #PF 14, #AC 17, #CP 21, #VC 29, #SX 30 (SDM vol. 3A, 7.3). */
	.if	!(vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30)
	pushq	$0
	.endif
	pushq	$vector
	jmp	trap_common
	vector = vector + 1
	.endr

trap_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	cld
	call	trap
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */
	iretq
