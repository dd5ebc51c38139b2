/*
 * 32-bit PAE-paging test guest: MOV to CR0 and CR4 that exit must load
 * the PDPTEs from memory as the CPU would (SDM vol. 3A, 5.4.1). With EPT
 * the CPU keeps them in the VMCS across exits (vol. 3C, 28.3.4), so a
 * hypervisor that forgets the load leaves the guest on the PDPTEs of its
 * last CR3 load.
 *
 * It turns on PAE paging itself (none of those writes exits), then:
 *  1. points PDPTE 1 at another page directory in memory and sets CR0.CD
 *     (the host owns CD, so the write exits): 0x40000000 must now read
 *     the new directory's page;
 *  2. sets a reserved bit in a present PDPTE 2 and clears CR0.CD: #GP,
 *     and CR0 keeps CD; the same with a bit above the physical-address
 *     width (no report line: a failure is counted);
 *  3. points PDPTE 3 at the other directory and sets CR4.SMEP together
 *     with OSXSAVE (the host owns OSXSAVE, so it exits): 0xc0000000 must
 *     read the new page (skipped without SMEP or XSAVE).
 * No linear address of a changed PDPTE is touched before its test, so no
 * TLB entry can stand in for the PDPTE.
 *
 * Exits it causes (asserted exactly by the boot test, with SMEP):
 *   cpuid:  2  leaf 1 (XSAVE), leaf 7 (SMEP)
 *   cr:     6  CR0.CD set, CR0.CD clear (#GP twice), CR0.CD clear, CR4
 *              SMEP|OSXSAVE set, clear
 *   vmcall: 4  three reports, exit
 * It ends by the exit hypercall with its failure count.
 */
#include "guest.h"

#define CR0_PG		(1 << 31)
#define CR0_CD		(1 << 30)
#define CR4_PAE		(1 << 5)
#define CR4_SMEP	(1 << 20)
#define PAGE_OLD	0x6f6c6421	/* what the first directory's page holds */
#define PAGE_NEW	0x6e657721	/* and the second's */

/* Report the string at label MSG (a failure counts before it). */
#define REPORT(msg)	movl $HC_PRINT, %eax; movl $msg, %ebx; movl $msg##_end - msg, %ecx; vmcall

	.code32
	.globl	_start
_start:
	FLAT32_SEGMENTS
	movl	$stack_top, %esp	/* the loader's stack is above the mapped 2 MiB */
	movl	$13, %ecx
	movl	$gp_handler, %eax
	call	set_gate
	movl	$14, %ecx
	movl	$pf_handler, %eax
	call	set_gate
	lidt	idt_desc

	/* PAE paging on; the CPU loads the PDPTEs itself. */
	movl	$pdpt, %eax
	movl	%eax, %cr3
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0

	/* 1. A CR0.CD write reloads the PDPTEs. */
	movl	$pd_new + 1, pdpt + 1 * 8
	movl	%cr0, %eax
	orl	$CR0_CD, %eax
	movl	%eax, %cr0
	cmpl	$PAGE_NEW, 0x40000000
	je	1f
	incl	fails
	REPORT(cd_stale)
	jmp	2f
1:	REPORT(cd_ok)
2:

	/* 2. ... and a present PDPTE with a reserved bit (R/W) is #GP. */
	movl	$pd_old + 3, pdpt + 2 * 8
	movl	%cr0, %eax
	andl	$~CR0_CD, %eax
	movl	$0, gp_count
	movl	%eax, %cr0
	movl	%cr0, %eax
	cmpl	$1, gp_count
	jne	1f
	testl	$CR0_CD, %eax
	jz	1f
	REPORT(rsvd_ok)
	jmp	2f
1:	incl	fails
	REPORT(rsvd_taken)
2:
	/* 2b. So is one with a bit above the physical-address width (bit 51;
	 * the guest's MAXPHYADDR is below 52). CR0 still has CD. */
	movl	$pd_old + 1, pdpt + 2 * 8
	movl	$1 << 19, pdpt + 2 * 8 + 4
	movl	%cr0, %eax
	andl	$~CR0_CD, %eax
	movl	$0, gp_count
	movl	%eax, %cr0
	cmpl	$1, gp_count
	je	4f
	incl	fails
4:	movl	$0, pdpt + 2 * 8 + 4
	movl	$0, pdpt + 2 * 8
	movl	%cr0, %eax
	andl	$~CR0_CD, %eax
	movl	%eax, %cr0

	/* 3. A CR4 write that exits and sets SMEP reloads them too. */
	movl	$1, %eax
	cpuid
	movl	%ecx, %esi
	movl	$7, %eax
	xorl	%ecx, %ecx
	cpuid
	testl	$1 << 26, %esi		/* XSAVE */
	jz	3f
	testl	$1 << 7, %ebx		/* SMEP */
	jz	3f
	movl	$pd_new + 1, pdpt + 3 * 8
	movl	%cr4, %eax
	orl	$CR4_SMEP | CR4_OSXSAVE, %eax
	movl	%eax, %cr4
	cmpl	$PAGE_NEW, 0xc0000000
	je	1f
	incl	fails
	REPORT(smep_stale)
	jmp	2f
1:	REPORT(smep_ok)
2:	movl	%cr4, %eax
	andl	$~(CR4_SMEP | CR4_OSXSAVE), %eax
	movl	%eax, %cr4
	jmp	4f
3:	REPORT(smep_skip)
4:
	/* No other fault. */
	cmpl	$0, pf_count
	je	1f
	incl	fails
1:	movl	$HC_EXIT, %eax
	movl	fails, %ebx
	vmcall
	hlt

/* #GP: count it and step over the 3-byte MOV to CR0 that raised it. */
gp_handler:
	incl	gp_count
	addl	$3, 4(%esp)
	addl	$4, %esp		/* error code */
	iret

/* #PF: no test expects one; report it and end. */
pf_handler:
	incl	pf_count
	REPORT(pf_msg)
	movl	$HC_EXIT, %eax
	movl	$99, %ebx
	vmcall
	hlt

set_gate:
	IDT_SET_GATE

	.data
	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat data */
gdt_desc:
	.short	gdt_desc - gdt - 1
	.long	gdt
	.balign	8
idt:	.rept	32
	.short	0, 0x08, 0x8e00, 0
	.endr
idt_desc:
	.short	idt_desc - idt - 1
	.long	idt
cd_ok:	.ascii	"pae: CR0.CD write reloaded the PDPTEs"
cd_ok_end:
cd_stale:
	.ascii	"pae: CR0.CD write kept the stale PDPTEs"
cd_stale_end:
rsvd_ok:
	.ascii	"pae: CR0.CD write with a reserved bit in a present PDPTE: #GP, CR0 unchanged"
rsvd_ok_end:
rsvd_taken:
	.ascii	"pae: CR0.CD write with a reserved bit in a present PDPTE took"
rsvd_taken_end:
smep_ok:
	.ascii	"pae: CR4.SMEP write reloaded the PDPTEs"
smep_ok_end:
smep_stale:
	.ascii	"pae: CR4.SMEP write kept the stale PDPTEs"
smep_stale_end:
smep_skip:
	.ascii	"pae: no SMEP or XSAVE, CR4 case skipped"
smep_skip_end:
pf_msg:	.ascii	"pae: unexpected #PF"
pf_msg_end:
	.balign	4
fails:	.long	0
gp_count:	.long	0
pf_count:	.long	0

/* Paging structures, all supervisor pages: PDPTE 0 maps the low 2 MiB
 * (this image) with one 2 MiB page; PDPTEs 1 and 3 start on pd_old, whose
 * first 4 KiB page holds PAGE_OLD, and the tests move them to pd_new. */
	.balign	4096
pdpt:	.long	pd_low + 1, 0, pd_old + 1, 0, 0, 0, pd_old + 1, 0
	.balign	4096
pd_low:	.long	0x83, 0			/* 2 MiB page at 0: P, R/W, PS */
	.balign	4096
pd_old:	.long	pt_old + 3, 0
	.balign	4096
pt_old:	.long	page_old + 3, 0
	.balign	4096
pd_new:	.long	pt_new + 3, 0
	.balign	4096
pt_new:	.long	page_new + 3, 0
	.balign	4096
page_old:
	.long	PAGE_OLD
	.balign	4096
page_new:
	.long	PAGE_NEW
	.balign	4096
	.skip	4096
stack_top:
