/*
 * Shared definitions for the test guests (GNU as, preprocessed).
 *
 * Every test guest checks what it sees itself and counts failures; it ends
 * with that count as its status, so a boot test wants status=0 and the
 * exact exit counts each guest's header comment derives.
 */
#define COM1		0x3f8
#define DEBUG_EXIT	0xf4
#define HC_PRINT	0
#define HC_EXIT		1
#define HC_VERSION	2
#define HV_VERSION	1
#define MSR_FEATURE_CONTROL	0x3a
#define MSR_VMX_BASIC	0x480
#define MSR_PAT		0x277
#define MSR_EFER	0xc0000080
#define CR4_VMXE	(1 << 13)
#define CR4_OSXSAVE	(1 << 18)

/* Routines the 32-bit guests share, each expanded where a guest wants it
 * (a guest's own label goes before it). */

/* Load the guest's own GDT (`gdt_desc`: 0x08 flat 32-bit code, 0x10 flat
 * data) and its selectors into CS, DS, ES and SS (AX changes). */
.macro FLAT32_SEGMENTS
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
.endm

/* The NUL-terminated string at ESI to COM1 (AL, DX and ESI change). */
.macro COM1_PRINT
	movw	$COM1, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret
.endm

/* IDT entry ECX: a 32-bit interrupt gate to the handler at EAX, code
 * selector 0x08, in the guest's own table `idt` (EAX changes). */
.macro IDT_SET_GATE
	movw	%ax, idt(, %ecx, 8)
	movw	$0x08, idt + 2(, %ecx, 8)
	movw	$0x8e00, idt + 4(, %ecx, 8)
	shrl	$16, %eax
	movw	%ax, idt + 6(, %ecx, 8)
	ret
.endm
