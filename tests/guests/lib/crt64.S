/*
 * The C test guests' start-up and exception entry (long64 mode, loaded at
 * 1 MiB with the hypervisor's identity map; RSP at the top of RAM).
 * _start calls guest_main() and ends the VM with the exit hypercall,
 * status = its return value. Every exception vector has a stub that makes
 * a struct trap_frame (guest64.h) and calls guest_trap().
 */
#define HC_EXIT	1

	.section .text.start, "ax"
	.code64
	.globl	_start
_start:
	cld
	/* .bss is not in the flat image: a passthrough VM's RAM holds
	 * whatever was there before. */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	xorl	%eax, %eax
	rep stosb
	andq	$-16, %rsp
	call	idt_setup
	call	guest_main
	movq	%rax, %rbx
	movl	$HC_EXIT, %eax
	vmcall
1:	cli
	hlt
	jmp	1b

	.text
/* Vector stubs: those without an error code push a zero in its place. */
.macro stub vec
vector_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	jmp	trap_common
.endm

.altmacro
.macro stubs from, to
	stub	%from
	.if \to-\from
	stubs	%(\from+1), \to
	.endif
.endm
	stubs	0, 31
	stubs	32, 63
	stubs	64, 95
	stubs	96, 127
	stubs	128, 159
	stubs	160, 191
	stubs	192, 223
	stubs	224, 255

trap_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rbx
	pushq	%rbp
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	movq	%rsp, %rbx
	andq	$-16, %rsp
	call	guest_trap
	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rbp
	popq	%rbx
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */
	iretq

/* The stubs' addresses, for idt_setup (guest.c). */
.macro vecaddr vec
	.quad	vector_\vec
.endm
.macro vecaddrs from, to
	vecaddr	%from
	.if \to-\from
	vecaddrs %(\from+1), \to
	.endif
.endm
	.section .rodata
	.globl	trap_vectors
	.balign	8
trap_vectors:
	vecaddrs 0, 63
	vecaddrs 64, 127
	vecaddrs 128, 191
	vecaddrs 192, 255
