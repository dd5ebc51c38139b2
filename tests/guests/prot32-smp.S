/*
 * A multiprocessor test guest (module key cpus=N, N from 2 to 9): 32-bit
 * protected mode, flat, loaded at 1 MiB. The boot vCPU reads the CPU count
 * from fw_cfg, then starts every other vCPU the way an OS does on
 * hardware (SDM vol. 3A, 9.4.4.1): INIT, INIT de-assert, then two start-up
 * IPIs through its local APIC's ICR, pointing at a real-mode trampoline
 * it copied to 0x8000 (vector 8). Each AP switches to protected mode,
 * reads its APIC ID, marks itself online, enables its APIC and waits in
 * HLT for interrupts. The boot vCPU then sends each AP a fixed IPI
 * (vector 0x40) by APIC ID, and each answers with an IPI to APIC ID 0
 * with a vector of its own, 0x50 + its APIC ID (interrupts with one vector
 * would merge in the IRR); then once more to all of them at once by the
 * all-excluding-self shorthand, and once more by a logical destination
 * (flat model: each AP's LDR holds bit N for APIC ID N). An INIT to an
 * APIC ID outside the VM must change nothing. It prints
 *   smp guest: cpus=N started=N-1 replies=3(N-1)
 * and ends by the exit hypercall with its failure count (prot32-smp-idle:
 * built with IDLE_END, it ends with every vCPU halted, interrupts on;
 * prot32-smp-apfault: built with AP_FAULT, AP 1 triple-faults at once;
 * prot32-smp-initbsp: built with BSP_INIT, AP 1 sends INIT to the boot
 * vCPU and parks; prot32-smp-mutualinit: built with MUTUAL_INIT, the
 * boot vCPU and AP 1 send each other INIT at the same moment).
 */
#include "guest.h"

#define APIC		0xfee00000
#define APIC_ID		0x20
#define APIC_EOI	0xb0
#define APIC_LDR	0xd0
#define APIC_SVR	0xf0
#define APIC_ICR	0x300
#define APIC_ICR_HIGH	0x310
#define AP_VECTOR	0x40
#define REPLY_VECTOR	0x50	/* + the AP's APIC ID */
#define TRAMPOLINE	0x8000
#define AP_STACK	1024
#define MAX_CPUS	9
#define WAIT_LOOPS	2000000

#define CHECK(cond_jump)	cond_jump 1f; incl fails; 1:

	.code32
	.globl	_start
_start:
	cli
	FLAT32_SEGMENTS
	movl	$bsp_stack_top, %esp
	cld
	movl	$ap_isr, %eax
	movl	$AP_VECTOR, %ecx
	call	set_gate
	movl	$1, %ecx
1:	movl	reply_isrs - 4(, %ecx, 4), %eax
	pushl	%ecx
	addl	$REPLY_VECTOR, %ecx
	call	set_gate
	popl	%ecx
	incl	%ecx
	cmpl	$MAX_CPUS, %ecx
	jb	1b
	movl	$spurious_isr, %eax
	movl	$0xff, %ecx
	call	set_gate
	lidt	idt_desc

	movl	$banner, %esi
	movl	$banner_end - banner, %ecx
	movw	$COM1, %dx
	rep outsb

	/* fw_cfg item 5: the number of CPUs */
	movw	$5, %ax
	movw	$0x510, %dx
	outw	%ax, %dx
	movw	$0x511, %dx
	inb	%dx, %al
	movzbl	%al, %eax
	movl	%eax, ncpus
	cmpl	$2, %eax
	CHECK(jae)
	cmpl	$MAX_CPUS, ncpus
	jbe	1f
	movl	$MAX_CPUS, ncpus
	incl	fails
1:
	/* The boot vCPU's APIC: ID 0, enabled, spurious vector 0xff. */
	movl	APIC + APIC_ID, %eax
	shrl	$24, %eax
	CHECK(jz)
	movl	$0x1ff, APIC + APIC_SVR

	/* The trampoline, to the page start-up vector 8 names. */
	movl	$trampoline, %esi
	movl	$TRAMPOLINE, %edi
	movl	$trampoline_end - trampoline, %ecx
	rep movsb

	/* INIT, INIT de-assert, start-up, start-up: each AP by APIC ID. */
	movl	$1, %ebx
start_ap:
	cmpl	ncpus, %ebx
	jae	started
	movl	%ebx, %eax
	shll	$24, %eax
	movl	%eax, APIC + APIC_ICR_HIGH
	movl	$0x00004500, APIC + APIC_ICR	/* INIT, level assert */
	movl	$0x00008500, APIC + APIC_ICR	/* INIT, level-triggered de-assert */
	call	delay
	movl	$0x00004600 | (TRAMPOLINE >> 12), APIC + APIC_ICR
	call	delay
	movl	$0x00004600 | (TRAMPOLINE >> 12), APIC + APIC_ICR
	movl	$WAIT_LOOPS, %ecx
1:	cmpb	$0, online(%ebx)
	jne	2f
	pause
	loop	1b
	incl	fails			/* this AP never came */
2:	incl	%ebx
	jmp	start_ap
started:
	movl	online_count, %eax
	incl	%eax
	cmpl	ncpus, %eax
	CHECK(je)
#ifdef MUTUAL_INIT
	/* Go: AP 1, spinning on the flag, sends INIT to this vCPU while
	 * this one sends INIT to it. Both INITs are on their way before
	 * either lands, so both vCPUs end up waiting for SIPI. */
	movl	$1, go
	movl	$0x01000000, APIC + APIC_ICR_HIGH
	movl	$0x00004500, APIC + APIC_ICR
1:	pause
	jmp	1b
#endif

	/* An INIT to an APIC ID no vCPU has: dropped by the hypervisor. */
	movl	$0x20000000, APIC + APIC_ICR_HIGH
	movl	$0x00004500, APIC + APIC_ICR

	/* A fixed IPI to each AP by APIC ID; each answers. */
	movl	$1, %ebx
1:	cmpl	online_count, %ebx
	ja	2f
	movl	%ebx, %eax
	shll	$24, %eax
	movl	%eax, APIC + APIC_ICR_HIGH
	movl	$AP_VECTOR, APIC + APIC_ICR
	incl	%ebx
	jmp	1b
2:	movl	online_count, %eax
	call	wait_replies

	/* Once more, to all but itself by the shorthand. */
	movl	$0, APIC + APIC_ICR_HIGH
	movl	$0x000c0000 | AP_VECTOR, APIC + APIC_ICR
	movl	online_count, %eax
	addl	%eax, %eax
	call	wait_replies

	/* And by a logical destination: every AP's bit, not the boot vCPU's. */
	movl	$1, %eax
	movl	ncpus, %ecx
	shll	%cl, %eax
	subl	$2, %eax		/* bits 1 .. N-1 */
	shll	$24, %eax
	movl	%eax, APIC + APIC_ICR_HIGH
	movl	$0x00000800 | AP_VECTOR, APIC + APIC_ICR	/* logical destination mode */
	movl	online_count, %eax
	imull	$3, %eax
	call	wait_replies

	movl	ap_ipis, %eax
	cmpl	replies, %eax
	CHECK(je)

	/* smp guest: cpus=N started=S replies=R */
	movl	$m_cpus, %esi
	call	print
	movl	ncpus, %eax
	call	print_dec
	movl	$m_started, %esi
	call	print
	movl	online_count, %eax
	call	print_dec
	movl	$m_replies, %esi
	call	print
	movl	replies, %eax
	call	print_dec
	movw	$COM1, %dx
	movb	$'\n', %al
	outb	%al, %dx

#ifdef IDLE_END
	/* Every vCPU waits in HLT with interrupts on, and none has a timer
	 * or will send an IPI: the hypervisor must see that none can wake. */
1:	sti
	hlt
	jmp	1b
#else
	movl	$HC_EXIT, %eax
	movl	fails, %ebx
	vmcall
	hlt
#endif

/* Wait, in HLT with interrupts on, until REPLIES reaches EAX; STI's
 * shadow keeps an interrupt from slipping in between the test and HLT. */
wait_replies:
	movl	$WAIT_LOOPS, %ecx
1:	cli
	cmpl	replies, %eax
	jbe	2f
	sti
	hlt
	loop	1b
	incl	fails			/* some reply never came */
2:	cli
	ret

delay:
	pushl	%ecx
	movl	$20000, %ecx
1:	pause
	loop	1b
	popl	%ecx
	ret

/* ESI: a NUL-terminated string to COM1 */
print:
	COM1_PRINT

/* EAX below 100, in decimal, to COM1 */
print_dec:
	movw	$COM1, %dx
	movb	$10, %cl
	divb	%cl			/* AL tens, AH units */
	testb	%al, %al
	jz	1f
	addb	$'0', %al
	outb	%al, %dx
1:	movb	%ah, %al
	addb	$'0', %al
	outb	%al, %dx
	ret

/* IDT gate ECX -> handler EAX (32-bit interrupt gate) */
set_gate:
	IDT_SET_GATE

/* On an AP: the boot vCPU's IPI. Count it and answer with its vector. */
ap_isr:
	pushl	%eax
	lock incl ap_ipis
	movl	$0, APIC + APIC_ICR_HIGH
	movl	APIC + APIC_ID, %eax
	shrl	$24, %eax
	addl	$REPLY_VECTOR, %eax
	movl	%eax, APIC + APIC_ICR
	movl	$0, APIC + APIC_EOI
	popl	%eax
	iret

/* On the boot vCPU: AP N's answer. */
	.irp	n, 1, 2, 3, 4, 5, 6, 7, 8
reply_isr_\n:
	lock incl replies
	movl	$0, APIC + APIC_EOI
	iret
	.endr

spurious_isr:
	iret

/* An AP in protected mode, from the trampoline. */
ap_main:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	APIC + APIC_ID, %ebx
	shrl	$24, %ebx
	cmpl	$MAX_CPUS, %ebx
	jae	ap_park
	movl	%ebx, %esp
	incl	%esp
	shll	$10, %esp		/* AP_STACK bytes each */
	addl	$ap_stacks, %esp
#ifdef AP_FAULT
	/* AP 1 triple-faults (no IDT: #BP, then #GP, then #DF) while the
	 * boot vCPU spins waiting for it: the whole VM must end. */
	cmpl	$1, %ebx
	jne	1f
	lidt	no_idt
	int3
1:
#endif
#ifdef BSP_INIT
	/* AP 1 sends INIT to the boot vCPU, then parks with interrupts off:
	 * no vCPU can run again, and the one waiting for SIPI must stop. */
	cmpl	$1, %ebx
	jne	1f
	movl	$0, APIC + APIC_ICR_HIGH
	movl	$0x00004500, APIC + APIC_ICR
	jmp	ap_park
1:
#endif
#ifdef MUTUAL_INIT
	cmpl	$1, %ebx
	jne	2f
	movb	$1, online(%ebx)
	lock incl online_count
1:	cmpl	$0, go
	je	1b
	movl	$0, APIC + APIC_ICR_HIGH
	movl	$0x00004500, APIC + APIC_ICR
	jmp	ap_park
2:
#endif
	lidt	idt_desc
	movl	$0x1ff, APIC + APIC_SVR
	movl	$1, %eax		/* flat logical ID: bit N for APIC ID N */
	movl	%ebx, %ecx
	shll	%cl, %eax
	shll	$24, %eax
	movl	%eax, APIC + APIC_LDR
	movb	$1, online(%ebx)
	lock incl online_count
1:	sti
	hlt
	jmp	1b
ap_park:
	cli
	hlt
	jmp	ap_park

/* Real mode at 0800:0000 after the start-up IPI: into protected mode. */
	.code16
trampoline:
	cli
	lgdtl	%cs:(tr_gdt_desc - trampoline)
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x08, $ap_main
tr_gdt_desc:
	.short	gdt_end - gdt - 1
	.long	gdt
trampoline_end:
	.code32

	.data
	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat data */
gdt_end:
gdt_desc:
	.short	gdt_end - gdt - 1
	.long	gdt
	.balign	8
idt:	.fill	256, 8, 0
idt_desc:
	.short	idt_desc - idt - 1
	.long	idt
no_idt:	.short	0
	.long	0
banner:	.ascii	"smp guest: starting the other vCPUs with INIT and start-up IPIs\n"
banner_end:
m_cpus:	.asciz	"smp guest: cpus="
m_started:	.asciz	" started="
m_replies:	.asciz	" replies="
	.balign	4
reply_isrs:
	.long	reply_isr_1, reply_isr_2, reply_isr_3, reply_isr_4, reply_isr_5, reply_isr_6, reply_isr_7, reply_isr_8
ncpus:	.long	0
fails:	.long	0
online_count:	.long	0
replies:	.long	0
ap_ipis:	.long	0
go:	.long	0
online:	.fill	MAX_CPUS, 1, 0
	.balign	16
	.fill	1024, 1, 0
bsp_stack_top:
ap_stacks:
	.fill	MAX_CPUS * AP_STACK, 1, 0
