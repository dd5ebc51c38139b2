/*
 * A kernel written for QEMU's pc machine the way kvm-unit-tests' x86 tests
 * are: multiboot1 ELF32 linked at 4 MiB, output on COM1, the CPU count
 * from fw_cfg, the local APIC at 0xFEE00000 for its ID, version, TPR, EOI
 * and spurious-vector registers, APIC timer interrupts taken through its
 * IDT (one-shot, then periodic, its current count read), a self-IPI
 * through ICR, then the same
 * through the x2APIC MSRs, and the exit through port 0xf4 with the number
 * of failed checks.
 */
#include "guest.h"

#define APIC		0xfee00000
#define APIC_ID		0x20
#define APIC_VERSION	0x30
#define APIC_TPR	0x80
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0
#define APIC_ISR	0x100
#define APIC_ICR	0x300
#define APIC_LVT_TIMER	0x320
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0
#define TIMER_VECTOR	0x40
#define IPI_VECTOR	0x41
#define X2APIC_MSR(off)	(0x800 + ((off) >> 4))
#define MB_FLAGS	0

#define CHECK(jcc, msg)	jcc 1f; pushl $msg; call fail; addl $4, %esp; 1:

	.text
	.code32
	.globl	_start
_start:
	jmp	start
	.balign	4
	.long	0x1badb002, MB_FLAGS, -(0x1badb002 + MB_FLAGS)

start:
	movl	$stack_top, %esp
	FLAT32_SEGMENTS
	/* IDT: the timer, the IPI and the spurious vector */
	movl	$timer_isr, %eax
	movl	$TIMER_VECTOR, %ecx
	call	set_gate
	movl	$ipi_isr, %eax
	movl	$IPI_VECTOR, %ecx
	call	set_gate
	movl	$spurious_isr, %eax
	movl	$0xff, %ecx
	call	set_gate
	lidt	idt_desc

	movl	$banner, %esi
	call	print

	/* fw_cfg: CPU count (item 5, 16 bits) */
	movw	$5, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	inb	%dx, %al
	movb	%al, %bl
	inb	%dx, %al
	movb	%al, %bh
	cmpw	$1, %bx
	CHECK(je, m_cpus)

	/* ID and version */
	movl	APIC + APIC_ID, %eax
	shrl	$24, %eax
	CHECK(jz, m_id)
	movl	APIC + APIC_VERSION, %eax
	movl	%eax, %ebx
	andl	$0xff, %eax
	cmpl	$0x10, %eax		/* an integrated APIC: 0x1x */
	CHECK(jae, m_version)
	shrl	$16, %ebx
	andl	$0xff, %ebx
	cmpl	$3, %ebx		/* at least 4 LVT entries */
	CHECK(jae, m_version)

	/* TPR holds what is written */
	movl	$0x20, APIC + APIC_TPR
	movl	APIC + APIC_TPR, %eax
	cmpl	$0x20, %eax
	CHECK(je, m_tpr)
	movl	$0, APIC + APIC_TPR

	/* enable with spurious vector 0xff */
	movl	$0x1ff, APIC + APIC_SVR
	movl	APIC + APIC_SVR, %eax
	cmpl	$0x1ff, %eax
	CHECK(je, m_svr)

	/* one-shot timer, divide by 1 */
	movl	$0xb, APIC + APIC_TDCR
	movl	$TIMER_VECTOR, APIC + APIC_LVT_TIMER
	movl	$200000, APIC + APIC_TMICT
	movl	$1, %ecx
	call	wait_ticks
	cmpl	$1, ticks
	CHECK(je, m_oneshot)
	/* EOI cleared the in-service bit */
	movl	APIC + APIC_ISR + (TIMER_VECTOR / 32) * 0x10, %eax
	testl	$(1 << (TIMER_VECTOR % 32)), %eax
	CHECK(jz, m_isr)

	/* periodic: three more */
	movl	$(TIMER_VECTOR | (1 << 17)), APIC + APIC_LVT_TIMER
	movl	$100000, APIC + APIC_TMICT
	/* the current count runs down from the initial count */
	movl	APIC + APIC_TMCCT, %eax
	testl	%eax, %eax
	CHECK(jnz, m_tmcct)
	cmpl	$100000, %eax
	CHECK(jbe, m_tmcct)
	movl	$4, %ecx
	call	wait_ticks
	movl	$0, APIC + APIC_TMICT	/* stop */
	cmpl	$4, ticks
	CHECK(jae, m_periodic)

	/* self-IPI: fixed, shorthand "self" */
	sti
	movl	$(IPI_VECTOR | (1 << 18)), APIC + APIC_ICR
	nop
	cli
	cmpl	$1, ipis
	CHECK(je, m_ipi)

	/* x2APIC, where CPUID offers it (leaf 1 ECX bit 21) */
	movl	$1, %eax
	cpuid
	testl	$(1 << 21), %ecx
	jz	no_x2apic
	movl	$0x1b, %ecx
	rdmsr
	orl	$(1 << 10), %eax	/* EXTD */
	wrmsr
	movl	$X2APIC_MSR(APIC_VERSION), %ecx
	rdmsr
	andl	$0xff, %eax
	cmpl	$0x10, %eax
	CHECK(jae, m_x2version)
	movl	$X2APIC_MSR(APIC_TPR), %ecx
	movl	$0x30, %eax
	xorl	%edx, %edx
	wrmsr
	rdmsr
	cmpl	$0x30, %eax
	CHECK(je, m_x2tpr)
	xorl	%eax, %eax
	wrmsr
	movl	$1, x2mode
	movl	$X2APIC_MSR(APIC_LVT_TIMER), %ecx
	movl	$TIMER_VECTOR, %eax
	wrmsr
	movl	$X2APIC_MSR(APIC_TMICT), %ecx
	movl	$150000, %eax
	wrmsr
	movl	$5, %ecx
	call	wait_ticks
	cmpl	$5, ticks
	CHECK(je, m_x2timer)
no_x2apic:

	movl	$done, %esi
	call	print
	movl	fails, %eax
	outb	%al, $DEBUG_EXIT
	hlt

/* Wait with interrupts on until ticks reaches ECX (at most ~100 HLTs). */
wait_ticks:
	movl	$100, %edx
1:	cmpl	%ecx, ticks
	jae	2f
	sti
	hlt
	cli
	decl	%edx
	jnz	1b
2:	ret

eoi:
	cmpl	$0, x2mode
	jne	1f
	movl	$0, APIC + APIC_EOI
	ret
1:	pushl	%eax
	pushl	%ecx
	pushl	%edx
	movl	$X2APIC_MSR(APIC_EOI), %ecx
	xorl	%eax, %eax
	xorl	%edx, %edx
	wrmsr
	popl	%edx
	popl	%ecx
	popl	%eax
	ret

timer_isr:
	incl	ticks
	call	eoi
	iret

ipi_isr:
	incl	ipis
	call	eoi
	iret

spurious_isr:
	iret

/* Interrupt gate for vector ECX to the handler at EAX. */
set_gate:
	IDT_SET_GATE

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
	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff
	.quad	0x00cf92000000ffff
gdt_desc:
	.short	gdt_desc - gdt - 1
	.long	gdt
idt_desc:
	.short	256 * 8 - 1
	.long	idt
banner:		.asciz	"QEMU-style kernel: local APIC, timer interrupts, x2APIC\n"
done:		.asciz	"local APIC checks done\n"
m_cpus:		.asciz	"FAIL: fw_cfg CPU count\n"
m_id:		.asciz	"FAIL: APIC ID\n"
m_version:	.asciz	"FAIL: APIC version\n"
m_tpr:		.asciz	"FAIL: TPR\n"
m_svr:		.asciz	"FAIL: spurious-vector register\n"
m_oneshot:	.asciz	"FAIL: one-shot timer interrupt\n"
m_isr:		.asciz	"FAIL: ISR not cleared by EOI\n"
m_periodic:	.asciz	"FAIL: periodic timer interrupts\n"
m_ipi:		.asciz	"FAIL: self-IPI\n"
m_tmcct:	.asciz	"FAIL: timer current count\n"
m_x2version:	.asciz	"FAIL: x2APIC version MSR\n"
m_x2tpr:	.asciz	"FAIL: x2APIC TPR MSR\n"
m_x2timer:	.asciz	"FAIL: x2APIC timer interrupt\n"
fails:		.long	0
ticks:		.long	0
ipis:		.long	0
x2mode:		.long	0

	.bss
	.balign	4096
idt:		.skip	256 * 8
		.skip	8192
stack_top:
