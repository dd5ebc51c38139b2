/* Real mode: the bytes of "Shutdown" to port 0x8900 end the VM
 * (cause=shutdown-port). Exits: io 1 (one REP OUTSB). */
	.code16
	.globl	_start
_start:
	xorw	%ax, %ax
	movw	%ax, %ds
	cld
	movw	$word, %si
	movw	$8, %cx
	movw	$0x8900, %dx
	rep outsb
	hlt
word:	.ascii	"Shutdown"
