/*
 * Multiboot2 header and the 32-bit entry that takes the boot CPU to long mode.
 *
 * GRUB (BIOS or UEFI, after ExitBootServices) enters _start32 in 32-bit
 * protected mode with paging off, EAX = 0x36d76289 and EBX = the physical
 * address of the boot information (multiboot2 spec, 3.3 "I386 machine state").
 * We identity-map the first 4 GiB with 2 MiB pages, enable PAE, EFER.LME and
 * paging (SDM vol. 3A, 10.8.5 "Initializing IA-32e Mode"), and call
 * hv_main(magic, mbi) on the boot stack. mm/paging.c replaces these tables
 * with a map of all physical memory once the memory map is known.
 */
#define MB2_MAGIC	0xE85250D6
#define MB2_ARCH_I386	0
#define MB2_BOOT_MAGIC	0x36d76289
#define COM1		0x3f8
#define MSR_EFER	0xC0000080
#define EFER_LME	(1 << 8)
#define CR4_PAE		(1 << 5)
#define CR0_PE_PG	0x80000001
#define PTE_P_RW	0x3
#define PDE_2M		0x83		/* present, writable, page size */

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long	MB2_MAGIC
	.long	MB2_ARCH_I386
	.long	mb2_header_end - mb2_header
	.long	-(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

	/* Information request (type 1), optional: command line, modules,
	 * memory map, ACPI old/new RSDP, EFI memory map. */
	.balign 8
	.short	1, 1
	.long	8 + 4 * 6
	.long	1, 3, 6, 14, 15, 17

	/* Module alignment (type 6): modules start on a page boundary, so a
	 * guest image can be mapped or copied by pages. */
	.balign 8
	.short	6, 0
	.long	8

	.balign 8
	.short	0, 0		/* end tag */
	.long	8
mb2_header_end:

	.section .text.boot, "ax"
	.code32
	.globl	_start32
_start32:
	movl	%eax, %ebp		/* magic */
	rdtsc				/* the boot's first tick (make bench) */
	movl	%eax, hv_entry_tsc
	movl	%edx, hv_entry_tsc + 4
	cli
	cld
	movl	$boot_stack_top, %esp
	movl	%ebx, %esi		/* boot information */

	/* Clear .bss (page tables, stacks, C globals) before any of it is
	 * used; the C code relies on zeroed statics. */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl
	movl	%ebp, %edi		/* magic: first argument of hv_main */

	cmpl	$MB2_BOOT_MAGIC, %edi
	movl	$msg_magic, %ebx
	jne	fail32

	/* Long mode needs CPUID.80000001H:EDX.LM[29] (SDM vol. 2A, CPUID). */
	movl	$0x80000000, %eax
	cpuid
	cmpl	$0x80000001, %eax
	movl	$msg_nolm, %ebx
	jb	fail32
	movl	$0x80000001, %eax
	cpuid
	btl	$29, %edx
	movl	$msg_nolm, %ebx
	jnc	fail32

	/* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories; each
	 * PDE maps 2 MiB, 2048 of them cover 4 GiB. */
	movl	$boot_pdpt, %eax
	orl	$PTE_P_RW, %eax
	movl	%eax, boot_pml4
	movl	$0, boot_pml4 + 4

	xorl	%ecx, %ecx
1:	movl	%ecx, %eax
	shll	$12, %eax
	addl	$boot_pd, %eax
	orl	$PTE_P_RW, %eax
	movl	%eax, boot_pdpt(, %ecx, 8)
	movl	$0, boot_pdpt + 4(, %ecx, 8)
	incl	%ecx
	cmpl	$4, %ecx
	jb	1b

	xorl	%ecx, %ecx
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$PDE_2M, %eax
	movl	%eax, boot_pd(, %ecx, 8)
	movl	%ecx, %eax
	shrl	$11, %eax		/* bits 32+ of the address: ecx / 2048 */
	movl	%eax, boot_pd + 4(, %ecx, 8)
	incl	%ecx
	cmpl	$2048, %ecx
	jb	2b

	movl	$boot_pml4, %eax
	movl	%eax, %cr3
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PE_PG, %eax
	movl	%eax, %cr0

	lgdt	boot_gdt_desc
	ljmp	$0x08, $start64

/* Print the NUL-terminated string at EBX on COM1 (8N1, 115200) and halt:
 * nothing else can report an error this early. */
fail32:
	movw	$COM1 + 3, %dx
	movb	$0x80, %al		/* LCR: DLAB on */
	outb	%al, %dx
	movw	$COM1, %dx
	movb	$1, %al			/* divisor 1: 115200 baud */
	outb	%al, %dx
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1 + 3, %dx
	movb	$0x03, %al		/* 8N1, DLAB off */
	outb	%al, %dx
3:	movb	(%ebx), %cl
	testb	%cl, %cl
	jz	5f
	movw	$COM1 + 5, %dx
	movl	$100000, %esi
4:	inb	%dx, %al		/* wait for THRE, bounded */
	testb	$0x20, %al
	jnz	6f
	decl	%esi
	jnz	4b
6:	movw	$COM1, %dx
	movb	%cl, %al
	outb	%al, %dx
	incl	%ebx
	jmp	3b
5:	cli
	hlt
	jmp	5b

	.code64
start64:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	xorw	%ax, %ax
	movw	%ax, %fs
	movw	%ax, %gs
	movabsq	$boot_stack_top, %rsp
	xorl	%ebp, %ebp
	/* EDI = magic, ESI = boot information. The upper halves of 64-bit
	 * registers are undefined after entering 64-bit mode (SDM vol. 1,
	 * 3.4.1.1): clear them. */
	movl	%edi, %edi
	movl	%esi, %esi
	call	hv_main
7:	cli
	hlt
	jmp	7b

	.section .rodata
	.balign 8
boot_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff	/* 0x10: data, DPL 0 */
boot_gdt_end:
boot_gdt_desc:
	.short	boot_gdt_end - boot_gdt - 1
	.long	boot_gdt
msg_magic:
	.asciz	"\r\nerror: not started by a multiboot2 boot loader: boot hv.elf with GRUB's 'multiboot2' command\r\n"
msg_nolm:
	.asciz	"\r\nerror: no long mode: this CPU cannot run 64-bit code; the hypervisor needs an x86-64 CPU with Intel VT-x\r\n"

	/* In .data, not .bss: it is written before .bss is cleared. */
	.data
	.balign	8
	.globl	hv_entry_tsc
hv_entry_tsc:
	.quad	0

	.section .bss
	.balign 4096
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096 * 4
	.balign 16
	.globl	boot_stack_top
boot_stack:	.skip 16384
boot_stack_top:
