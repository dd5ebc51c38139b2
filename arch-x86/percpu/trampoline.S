/*
 * Where an application processor starts (SDM vol. 3A, 9.4 "Multiple-
 * processor (MP) initialization"): arch-x86/percpu/smp.c copies this code to a
 * free page below 1 MiB and sends the AP INIT, then two start-up IPIs
 * whose vector is that page's number, so the AP begins here in real mode
 * at CS = page << 8, IP = 0. It switches to protected mode, then to long
 * mode on the hypervisor's own page tables, takes its stack and struct
 * cpu from the data smp.c filled in at the end of the page, and calls
 * ap_start(cpu) (smp.c). One AP at a time goes through it.
 *
 * Position-independent: 16-bit code uses CS-relative offsets; 32- and
 * 64-bit code address the page through EBX/RBX = its physical base.
 */
#define OFF(x)	((x) - trampoline_start)

	.text
	.code16
	.globl	trampoline_start, trampoline_end
	.globl	tr_gdtr, tr_gdt, tr_far32, tr_far64, tr_cr3, tr_efer, tr_stack, tr_cpu, tr_entry, tr_cr0, tr_cr4
trampoline_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	xorl	%ebx, %ebx
	movw	%ax, %bx
	shll	$4, %ebx		/* the page's physical address */
	lgdtl	OFF(tr_gdtr)
	movl	%cr0, %eax
	orl	$1, %eax		/* PE */
	movl	%eax, %cr0
	ljmpl	*OFF(tr_far32)

	.code32
tr_32:
	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	OFF(tr_cr4)(%ebx), %eax	/* the boot CPU's CR4: PAE, and MCE etc. */
	movl	%eax, %cr4
	movl	OFF(tr_cr3)(%ebx), %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER: LME and the boot CPU's NXE */
	movl	OFF(tr_efer)(%ebx), %eax
	xorl	%edx, %edx
	wrmsr
	/* The boot CPU's CR0 whole (PG, PE, and CD/NW clear: INIT leaves
	 * them as they were, SDM vol. 3A, table 10-1). */
	movl	OFF(tr_cr0)(%ebx), %eax
	movl	%eax, %cr0
	ljmpl	*OFF(tr_far64)(%ebx)

	.code64
tr_64:
	movl	%ebx, %ebx		/* upper halves are undefined after compatibility mode */
	movq	OFF(tr_stack)(%rbx), %rsp
	movq	OFF(tr_cpu)(%rbx), %rdi
	movq	OFF(tr_entry)(%rbx), %rax
	xorl	%ebp, %ebp		/* the end of stack traces */
	pushq	$0			/* a return address that is none */
	jmpq	*%rax

	.balign	8
/* Filled in by smp.c (linear addresses are the page's own). */
tr_gdt:					/* null, 32-bit code, data, 64-bit code */
	.quad	0
	.quad	0x00cf9a000000ffff
	.quad	0x00cf92000000ffff
	.quad	0x00af9a000000ffff
tr_gdtr:
	.short	4 * 8 - 1
	.long	0			/* base: page + OFF(tr_gdt) */
	.balign	8
tr_far32:
	.long	0			/* page + OFF(tr_32) */
	.short	0x08
	.balign	8
tr_far64:
	.long	0			/* page + OFF(tr_64) */
	.short	0x18
	.balign	8
tr_cr3:		.quad	0
tr_efer:	.quad	0
tr_stack:	.quad	0
tr_cpu:		.quad	0
tr_entry:	.quad	0
tr_cr0:		.quad	0
tr_cr4:		.quad	0
trampoline_end:

	/* The offsets smp.c patches. */
	.section .rodata
	.globl	tr_offsets
	.balign	8
tr_offsets:
	.quad	OFF(tr_gdtr), OFF(tr_gdt), OFF(tr_far32), OFF(tr_32), OFF(tr_far64), OFF(tr_64)
	.quad	OFF(tr_cr3), OFF(tr_efer), OFF(tr_stack), OFF(tr_cpu), OFF(tr_entry), OFF(tr_cr0), OFF(tr_cr4)
