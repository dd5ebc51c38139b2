/*
 * 32-bit protected-mode test guest (flat, paging off, loaded at 1 MiB).
 * It installs its own GDT and an IDT whose #UD and #GP handlers count the
 * fault and step over the faulting instruction (its length is stored in
 * skip_len first).
 *
 * Exits it causes (asserted exactly by the boot test):
 *   rdmsr: 4   FEATURE_CONTROL, VMX_BASIC (#GP), 0x12345678 (#GP), EFER
 *   wrmsr: 3   FEATURE_CONTROL (#GP), PAT bad (#GP), PAT good
 *   cr:    2   MOV to CR4 with VMXE (#GP), and the OSXSAVE write (the
 *              host owns OSXSAVE); CR4 reads do not exit
 *   vmxoff, vmlaunch, vmresume, vmread, vmxon, invept: 1 each (#UD)
 *   xsetbv: 2  XCR0 = 0 (#GP), XCR0 = 3
 *   cpuid: 1   at EIP 0xfffffffe, where EIP wraps to 0
 *   invd: 1, wbinvd: 1
 *   vmcall: 4  print, version, unknown function, exit
 *   io: 6      REP OUTSL to 0xcf8 (2 dwords, one exit), IN 0xcf8,
 *              IN 0xcfc, IN 0x61 (no device), REP OUTSB banner,
 *              REP OUTSW of 3 words to the UART (one exit)
 * It ends by the exit hypercall with its failure count.
 */
#include "guest.h"

#define CHECK(cond_jump)	cond_jump 1f; incl fails; 1:
#define EXPECT_GP(len)		movl $len, skip_len; incl expect_gp
#define EXPECT_UD(len)		movl $len, skip_len; incl expect_ud

	.code32
	.globl	_start
_start:
	FLAT32_SEGMENTS
	/* IDT entries for #UD (6) and #GP (13). */
	movl	$ud_handler, %eax
	movw	%ax, idt + 6 * 8
	shrl	$16, %eax
	movw	%ax, idt + 6 * 8 + 6
	movl	$gp_handler, %eax
	movw	%ax, idt + 13 * 8
	shrl	$16, %eax
	movw	%ax, idt + 13 * 8 + 6
	lidt	idt_desc
	cld

	/* banner */
	movl	$banner, %esi
	movl	$banner_end - banner, %ecx
	movw	$COM1, %dx
	rep outsb

	/* MSRs */
	movl	$MSR_FEATURE_CONTROL, %ecx
	rdmsr
	cmpl	$1, %eax		/* locked, VMX off */
	CHECK(je)
	EXPECT_GP(2)
	movl	$MSR_VMX_BASIC, %ecx
	rdmsr
	EXPECT_GP(2)
	movl	$0x12345678, %ecx
	rdmsr
	EXPECT_GP(2)
	movl	$MSR_FEATURE_CONTROL, %ecx
	movl	$5, %eax
	xorl	%edx, %edx
	wrmsr
	EXPECT_GP(2)
	movl	$MSR_PAT, %ecx
	movl	$0x02, %eax		/* type 2 is reserved */
	xorl	%edx, %edx
	wrmsr
	movl	$MSR_PAT, %ecx
	movl	$0x00070406, %eax
	movl	$0x00070106, %edx	/* WC in entry 5 */
	wrmsr
	rdmsr				/* PAT reads do not exit */
	cmpl	$0x00070106, %edx
	CHECK(je)
	movl	$MSR_EFER, %ecx
	rdmsr
	testl	%eax, %eax
	CHECK(jz)

	/* CR4: VMXE reads 0 and cannot be set. */
	movl	%cr4, %eax
	testl	$CR4_VMXE, %eax
	CHECK(jz)
	orl	$CR4_VMXE, %eax
	EXPECT_GP(3)
	movl	%eax, %cr4
	movl	%cr4, %eax
	testl	$CR4_VMXE, %eax
	CHECK(jz)

	/* VMX instructions fault with #UD. */
	EXPECT_UD(3)
	vmxoff
	EXPECT_UD(3)
	vmlaunch
	EXPECT_UD(3)
	vmresume
	EXPECT_UD(3)
	vmread	%eax, %ebx
	movl	$vmx_region, %eax
	EXPECT_UD(4)
	vmxon	(%eax)
	EXPECT_UD(5)
	invept	(%eax), %ebx

	/* XSETBV: bad XCR0 faults, x87|SSE is taken (CPUID.1:ECX.XSAVE). */
	movl	%cr4, %eax
	orl	$CR4_OSXSAVE, %eax
	movl	%eax, %cr4
	xorl	%ecx, %ecx
	xorl	%eax, %eax
	xorl	%edx, %edx
	EXPECT_GP(3)
	xsetbv
	movl	$3, %eax
	xsetbv
	xgetbv
	cmpl	$3, %eax
	CHECK(je)

	invd
	wbinvd

	/* Hypercalls. */
	movl	$HC_PRINT, %eax
	movl	$hc_msg, %ebx
	movl	$hc_msg_end - hc_msg, %ecx
	vmcall
	testl	%eax, %eax
	CHECK(jz)
	movl	$HC_VERSION, %eax
	vmcall
	cmpl	$HV_VERSION, %eax
	CHECK(je)
	movl	$0x1234, %eax
	vmcall
	cmpl	$-1, %eax
	CHECK(je)

	/* EIP wraps at 4 GiB outside 64-bit mode: a CPUID at EIP 0xfffffffe
	 * in a code segment based at wrap_next leaves EIP 0 there, and so must
	 * the hypervisor that completes it (issue 12: it gave EIP 0x100000000,
	 * which VM entry refuses). */
	movl	$wrap_next, %eax
	movw	%ax, gdt + 0x18 + 2
	shrl	$16, %eax
	movb	%al, gdt + 0x18 + 4
	movb	%ah, gdt + 0x18 + 7
	xorl	%eax, %eax
	ljmp	$0x18, $0xfffffffe
	cpuid				/* at linear wrap_next - 2 */
wrap_next:
	ljmp	$0x08, $1f		/* at EIP 0 */
1:
	/* Ports: PCI address latch, no PCI device, an unknown port. */
	movl	$pci_words, %esi
	movl	$2, %ecx
	movw	$0xcf8, %dx
	rep outsl
	inl	%dx, %eax
	cmpl	$0x80000004, %eax	/* the last dword written */
	CHECK(je)
	movw	$0xcfc, %dx
	inl	%dx, %eax
	cmpl	$0xffffffff, %eax
	CHECK(je)
	inb	$0x61, %al
	cmpb	$0xff, %al
	CHECK(je)
	movl	$words, %esi
	movl	$3, %ecx
	movw	$COM1, %dx
	rep outsw			/* "ok\n" as three words: low bytes go out */

	/* Every expected fault happened, no other. */
	movl	gp_count, %eax
	cmpl	expect_gp, %eax
	CHECK(je)
	movl	ud_count, %eax
	cmpl	expect_ud, %eax
	CHECK(je)

	movl	$HC_EXIT, %eax
	movl	fails, %ebx
	vmcall
	hlt

ud_handler:
	incl	ud_count
	pushl	%eax
	movl	skip_len, %eax
	addl	%eax, 4(%esp)
	popl	%eax
	iret

gp_handler:
	incl	gp_count
	pushl	%eax
	movl	skip_len, %eax
	addl	%eax, 8(%esp)
	popl	%eax
	addl	$4, %esp		/* error code */
	iret

	.data
	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat data */
	.quad	0x00cf9a000000ffff	/* 0x18: 32-bit code, its base set at run time */
gdt_desc:
	.short	gdt_desc - gdt - 1
	.long	gdt
	.balign	8
idt:	.rept	32
	.short	0, 0x08, 0x8e00, 0	/* 32-bit interrupt gate, offset filled in */
	.endr
idt_desc:
	.short	idt_desc - idt - 1
	.long	idt
banner:	.ascii	"prot32 guest: MSRs, CR4, VMX instructions, XSETBV, hypercalls, ports\n"
banner_end:
hc_msg:	.ascii	"hello through the print hypercall"
hc_msg_end:
	.balign	4
pci_words:
	.long	0x80000000, 0x80000004
words:	.short	'o', 'k', '\n'
fails:	.long	0
skip_len:	.long	0
gp_count:	.long	0
ud_count:	.long	0
expect_gp:	.long	0
expect_ud:	.long	0
	.balign	4096
vmx_region:	.skip	4096
