/* Real mode: HLT with interrupts off ends the VM (cause=hlt).
 * Exits: hlt 1. */
	.code16
	.globl	_start
_start:
	cli
	hlt
