/*
 * The demo guest `make run` boots (mode=long64 ept=lazy): it shows what
 * the guest sees of the hypervisor (CPUID), prints through the emulated
 * UART and the print hypercall, and touches every page of its RAM, which
 * the hypervisor maps page by page on first touch (the VM-END line's
 * ept_violation count). Ends through the debug-exit port with status 0.
 */
#include "guest.h"

	.code64
	.globl	_start
_start:
	cld
	leaq	banner(%rip), %rsi
	call	puts

	/* CPU vendor, as CPUID leaf 0 gives it */
	xorl	%eax, %eax
	cpuid
	movl	%ebx, vendor
	movl	%edx, vendor + 4
	movl	%ecx, vendor + 8
	leaq	vendor_line(%rip), %rsi
	call	puts

	/* the hypervisor's own leaf */
	movl	$0x40000000, %eax
	cpuid
	movl	%ebx, signature
	movl	%ecx, signature + 4
	movl	%edx, signature + 8
	leaq	signature_line(%rip), %rsi
	call	puts

	/* VMX is hidden, the hypervisor bit is set */
	movl	$1, %eax
	cpuid
	leaq	vmx_no(%rip), %rsi
	testl	$(1 << 5), %ecx
	jz	1f
	leaq	vmx_yes(%rip), %rsi
1:	call	puts

	/* RAM size from fw_cfg (item 3), then touch every page */
	movw	$3, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	xorq	%rbx, %rbx
	xorl	%ecx, %ecx
2:	inb	%dx, %al
	movzbq	%al, %rax
	shlq	%cl, %rax
	orq	%rax, %rbx
	addl	$8, %ecx
	cmpl	$64, %ecx
	jb	2b
	xorq	%rax, %rax
	xorq	%r12, %r12
3:	movb	(%rax), %cl
	incq	%r12
	addq	$4096, %rax
	cmpq	%rbx, %rax
	jb	3b

	leaq	touched(%rip), %rsi
	call	puts_nonl
	movq	%r12, %rax
	call	put_dec
	leaq	touched2(%rip), %rsi
	call	puts_nonl
	movq	%rbx, %rax
	shrq	$20, %rax
	call	put_dec
	leaq	touched3(%rip), %rsi
	call	puts

	/* the print hypercall */
	movq	$HC_PRINT, %rax
	leaq	hc_msg(%rip), %rbx
	movq	$hc_msg_end - hc_msg, %rcx
	vmcall

	leaq	bye(%rip), %rsi
	call	puts
	xorl	%eax, %eax
	outb	%al, $DEBUG_EXIT
	hlt

/* Print the NUL-terminated string at RSI (puts adds a newline). */
puts:
	call	puts_nonl
	movb	$'\n', %al
	movw	$COM1, %dx
	outb	%al, %dx
	ret
puts_nonl:
	movq	%rsi, %rdi
	xorl	%ecx, %ecx
4:	cmpb	$0, (%rdi, %rcx)
	je	5f
	incl	%ecx
	jmp	4b
5:	movw	$COM1, %dx
	rep outsb
	ret

/* Print RAX in decimal. */
put_dec:
	leaq	decbuf + 20(%rip), %rsi
	movb	$0, (%rsi)
	movq	$10, %rcx
6:	xorl	%edx, %edx
	divq	%rcx
	addb	$'0', %dl
	decq	%rsi
	movb	%dl, (%rsi)
	testq	%rax, %rax
	jnz	6b
	jmp	puts_nonl

	.data
banner:		.asciz	"hello from a 64-bit guest running under hv"
vendor_line:	.ascii	"CPUID vendor:        "
vendor:		.asciz	"????????????"
signature_line:	.ascii	"hypervisor (leaf 0x40000000): "
signature:	.asciz	"????????????"
vmx_no:		.asciz	"VMX visible to me:   no (hidden by the CPUID policy)"
vmx_yes:	.asciz	"VMX visible to me:   yes (the CPUID policy failed!)"
touched:	.asciz	"touched "
touched2:	.asciz	" pages ("
touched3:	.asciz	" MiB): the hypervisor mapped each on first touch (EPT)"
hc_msg:		.ascii	"this line came through the print hypercall (VMCALL)"
hc_msg_end:
bye:		.asciz	"bye: writing 0 to the debug-exit port"
decbuf:		.skip	21
