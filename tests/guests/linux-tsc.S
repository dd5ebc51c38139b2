/*
 * hvtsc: the initramfs marker of make bench's Linux figure. A static
 * x86-64 Linux program (no libc) that prints "HV-LINUX-TSC <n>" with the
 * TSC it reads first thing, and exits. tools/linux.sh builds it into the
 * initramfs and its init runs it before anything else; the same kernel and
 * initramfs run natively and under the hypervisor in Bochs, where the TSC
 * counts instructions, so the two readings compare exactly.
 */
#define SYS_WRITE	1
#define SYS_EXIT	60

	.text
	.globl	_start
_start:
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	/* decimal digits backwards from the newline */
	leaq	end(%rip), %rsi
	movq	$10, %rcx
1:	xorl	%edx, %edx
	divq	%rcx
	addb	$'0', %dl
	decq	%rsi
	movb	%dl, (%rsi)
	testq	%rax, %rax
	jnz	1b
	leaq	prefix_end(%rip), %rdi
	/* slide the prefix in front of the digits */
	movq	$prefix_len, %rcx
2:	decq	%rsi
	decq	%rdi
	movb	(%rdi), %al
	movb	%al, (%rsi)
	loop	2b
	movl	$SYS_WRITE, %eax
	movl	$1, %edi
	leaq	end + 1(%rip), %rdx
	subq	%rsi, %rdx
	syscall
	movl	$SYS_EXIT, %eax
	xorl	%edi, %edi
	syscall

	.data
prefix:	.ascii	"HV-LINUX-TSC "
prefix_end:
	.set	prefix_len, prefix_end - prefix
buf:	.skip	32
end:	.byte	'\n'
