/* Real mode: a busy loop with interrupts off that never exits. Only the
 * VM's time limit (module key timeout=) ends it: cause=timeout. */
	.code16
	.globl	_start
_start:
	cli
1:	jmp	1b
