/*
 * A plain ELF32 kernel (no multiboot header), linked at 1 MiB: entered in
 * 32-bit protected mode at e_entry. Exits: io 2 (REP OUTSB, OUT 0xf4).
 */
#include "guest.h"

	.text
	.code32
	.globl	_start
_start:
	movl	$msg, %esi
	movl	$msg_end - msg, %ecx
	movw	$COM1, %dx
	cld
	rep outsb
	movb	$7, %al
	outb	%al, $DEBUG_EXIT
	hlt

	.data
msg:	.ascii	"ELF32 kernel running in protected mode\n"
msg_end:
