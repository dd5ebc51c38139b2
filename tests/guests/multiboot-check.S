/*
 * A multiboot1 kernel that checks every field of the multiboot information
 * block it is given. Built twice: as an ELF32 kernel (mb-elf) and, with
 * AOUT defined, as a flat image using the a.out-kludge address fields
 * (mb-aout); both link at 4 MiB, as kvm-unit-tests' x86 kernels do.
 *
 * The boot test gives it: the command line words "check=1 two words"
 * after "--", and tests/guests/multiboot-initrd.txt as its initrd. It
 * prints one line per failed check and ends through port 0xf4 with the
 * number of failures.
 */
#include "guest.h"

#define initrd_len 25

#define MB_FLAGS	((1 << 0) | (1 << 1))	/* page-align modules, memory info */
#ifdef AOUT
#define MB_HDR_FLAGS	(MB_FLAGS | (1 << 16))
#else
#define MB_HDR_FLAGS	MB_FLAGS
#endif

#define FAIL(msg)	pushl $msg; call fail; addl $4, %esp

	.text
	.code32
	.globl	_start
_start:
	jmp	start
	.balign	4
mb_header:
	.long	0x1badb002
	.long	MB_HDR_FLAGS
	.long	-(0x1badb002 + MB_HDR_FLAGS)
#ifdef AOUT
	.long	mb_header		/* header_addr */
	.long	_start			/* load_addr */
	.long	0			/* load_end_addr: the whole file */
	.long	bss_end			/* bss_end_addr */
	.long	start			/* entry_addr */
#endif

start:
	movl	$stack_top, %esp
	movl	%ebx, %esi		/* the information block */
	cmpl	$0x2badb002, %eax
	je	1f
	FAIL(m_magic)
1:
	/* BSS must be zero (the a.out form asks for it by bss_end_addr). */
	cmpl	$0, bss_word
	je	1f
	FAIL(m_bss)
1:
	/* flags: mem, cmdline, mods, mmap, boot loader name */
	movl	(%esi), %eax
	andl	$0x24d, %eax
	cmpl	$0x24d, %eax
	je	1f
	FAIL(m_flags)
1:
	/* RAM size from fw_cfg item 3 (low 4 bytes suffice below 4 GiB) */
	movw	$3, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	xorl	%ebx, %ebx
	movl	$4, %ecx
	xorl	%edi, %edi
2:	inb	%dx, %al
	movzbl	%al, %eax
	pushl	%ecx
	movl	%edi, %ecx
	shll	%cl, %eax
	popl	%ecx
	orl	%eax, %ebx
	addl	$8, %edi
	loop	2b
	movl	%ebx, ram

	cmpl	$640, 4(%esi)		/* mem_lower */
	je	1f
	FAIL(m_mem_lower)
1:	movl	ram, %eax
	subl	$0x100000, %eax
	shrl	$10, %eax
	cmpl	%eax, 8(%esi)		/* mem_upper */
	je	1f
	FAIL(m_mem_upper)
1:
	/* cmdline: a first word (the file name), then the kernel's words */
	movl	16(%esi), %edi
	cmpb	$' ', (%edi)
	jne	3f
	FAIL(m_cmdline)
3:	cmpb	$0, (%edi)
	je	4f
	cmpb	$' ', (%edi)
	je	4f
	incl	%edi
	jmp	3b
4:	movl	$want_args, %ebx
5:	movb	(%ebx), %al
	cmpb	%al, (%edi)
	jne	6f
	incl	%ebx
	incl	%edi
	testb	%al, %al
	jnz	5b
	jmp	7f
6:	FAIL(m_cmdline)
7:
	/* one module: the initrd, page-aligned, its string "initrd" */
	cmpl	$1, 20(%esi)
	je	1f
	FAIL(m_mods_count)
	jmp	8f
1:	movl	24(%esi), %edi		/* mods_addr */
	movl	(%edi), %eax		/* mod_start */
	testl	$0xfff, %eax
	jz	1f
	FAIL(m_mod_align)
1:	movl	4(%edi), %ecx
	subl	%eax, %ecx
	cmpl	$initrd_len, %ecx
	je	1f
	FAIL(m_mod_len)
1:	cmpl	$0x746c756d, (%eax)	/* "mult" */
	je	1f
	FAIL(m_mod_data)
1:	movl	8(%edi), %eax
	cmpl	$0x74696e69, (%eax)	/* "init" */
	jne	9f
	cmpw	$0x6472, 4(%eax)	/* "rd" */
	jne	9f
	cmpb	$0, 6(%eax)
	je	8f
9:	FAIL(m_mod_string)
8:
	/* memory map: available RAM adds up to RAM minus the 640K-1M hole */
	movl	48(%esi), %edi		/* mmap_addr */
	movl	44(%esi), %ecx
	addl	%edi, %ecx		/* end */
	xorl	%ebx, %ebx		/* sum of type 1 */
10:	cmpl	%ecx, %edi
	jae	11f
	cmpl	$1, 20(%edi)
	jne	12f
	addl	12(%edi), %ebx		/* length, low half */
12:	movl	(%edi), %eax
	leal	4(%edi, %eax), %edi
	jmp	10b
11:	movl	ram, %eax
	subl	$0x60000, %eax
	cmpl	%eax, %ebx
	je	1f
	FAIL(m_mmap)
1:
	/* boot loader name "hv" */
	movl	64(%esi), %eax
	cmpw	$0x7668, (%eax)
	jne	13f
	cmpb	$0, 2(%eax)
	je	14f
13:	FAIL(m_loader)
14:
	movl	$m_done, %esi
	call	print
	movl	fails, %eax
	outb	%al, $DEBUG_EXIT
	hlt

/* Print the NUL-terminated string at ESI on COM1. */
print:
	COM1_PRINT

fail:
	incl	fails
	pushl	%esi
	movl	8(%esp), %esi
	call	print
	popl	%esi
	ret

	.data
want_args:	.asciz	" check=1 two words"
m_magic:	.asciz	"FAIL: EAX is not 0x2BADB002\n"
m_bss:		.asciz	"FAIL: BSS not zeroed\n"
m_flags:	.asciz	"FAIL: flags lack mem/cmdline/mods/mmap/loader name\n"
m_mem_lower:	.asciz	"FAIL: mem_lower\n"
m_mem_upper:	.asciz	"FAIL: mem_upper\n"
m_cmdline:	.asciz	"FAIL: cmdline\n"
m_mods_count:	.asciz	"FAIL: mods_count\n"
m_mod_align:	.asciz	"FAIL: module not page-aligned\n"
m_mod_len:	.asciz	"FAIL: module length\n"
m_mod_data:	.asciz	"FAIL: module contents\n"
m_mod_string:	.asciz	"FAIL: module string\n"
m_mmap:		.asciz	"FAIL: memory map\n"
m_loader:	.asciz	"FAIL: boot loader name\n"
m_done:		.asciz	"multiboot information checked\n"
fails:		.long	0
ram:		.long	0

	.bss
	.balign	16
bss_word:	.long	0
		.skip	4096
stack_top:
bss_end:
