/*
 * The one VM entry/exit routine: the VMLAUNCH/VMRESUME loop.
 *
 *   int vmx_run(struct vcpu *v, int launched, void (*on_exit)(struct vcpu *),
 *               int (*on_pending)(struct vcpu *))
 *
 * Saves the host's callee-saved registers, points HOST_RSP at this frame,
 * loads every guest general register from v->regs (the first member of
 * struct vcpu) and enters the guest with VMLAUNCH (LAUNCHED == 0) or
 * VMRESUME. Each VM exit lands at vmx_exit_point (HOST_RIP) on that same
 * frame: the guest's registers go to v->regs and ON_EXIT(v) (on_exit in
 * vmx/vcpu.c, or a variant) handles the exit. Then one load of the vCPU's
 * request word and one GS-relative load of this CPU's attention word
 * (vmx/hw/regs.h) say whether anything is pending; only then is
 * ON_PENDING(v) called (vcpu_serve), and the loop goes on while it
 * returns 0. So an exit with nothing pending costs one call into C and
 * no more: no host registers to reload, no HOST_RSP to rewrite, and the
 * handler is reached by a tail call. vmx_run returns
 *   0  ON_PENDING returned nonzero: the VM has ended (v->cause), or the
 *      loop is to be entered again;
 *   1  VMLAUNCH/VMRESUME failed with VMfailValid (VM_INSTRUCTION_ERROR);
 *   2  it failed with VMfailInvalid (no current VMCS).
 * A VM entry that fails after its checks (invalid guest state) is an exit
 * like any other, with bit 31 of the reason set (SDM vol. 3C, 27.8).
 */
#include "vmx/hw/regs.h"

#define HOST_RSP_FIELD	0x6c14
#define HOST_FRAME	(8 * 8)	/* HOST_RSP to vmx_run's saved RBP */

/* All guest registers but RSP (in the VMCS) from the array at %rdi, which
 * goes last. MOV leaves the flags alone. */
.macro load_guest
	movq	REGS_OFF(REG_RAX)(%rdi), %rax
	movq	REGS_OFF(REG_RCX)(%rdi), %rcx
	movq	REGS_OFF(REG_RDX)(%rdi), %rdx
	movq	REGS_OFF(REG_RBX)(%rdi), %rbx
	movq	REGS_OFF(REG_RBP)(%rdi), %rbp
	movq	REGS_OFF(REG_RSI)(%rdi), %rsi
	movq	REGS_OFF(8)(%rdi), %r8
	movq	REGS_OFF(9)(%rdi), %r9
	movq	REGS_OFF(10)(%rdi), %r10
	movq	REGS_OFF(11)(%rdi), %r11
	movq	REGS_OFF(12)(%rdi), %r12
	movq	REGS_OFF(13)(%rdi), %r13
	movq	REGS_OFF(14)(%rdi), %r14
	movq	REGS_OFF(15)(%rdi), %r15
	movq	REGS_OFF(REG_RDI)(%rdi), %rdi
.endm

	.text
	.globl	vmx_run
	.globl	vmx_exit_point
vmx_run:
	pushq	%rbp
	movq	%rsp, %rbp
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%rbx
	pushq	%rcx			/* ON_PENDING, at 16(%rsp); HOST_RSP stays 16-byte aligned */
	pushq	%rdx			/* ON_EXIT, at 8(%rsp) on every exit */
	pushq	%rdi			/* V, at (%rsp) */

	movl	$HOST_RSP_FIELD, %eax
	vmwrite	%rsp, %rax
	jbe	vmx_fail		/* CF or ZF: VMfail */

	testl	%esi, %esi		/* launched? */
	load_guest
	jnz	1f
	vmlaunch
	jmp	vmx_fail

vmx_exit_point:
	/* Host state from the VMCS: RSP = HOST_RSP, interrupts off, flags
	 * clear (SDM vol. 3C, 28.5.3). Guest registers are live. */
	pushq	%rax
	movq	8(%rsp), %rax		/* V */
	movq	%rcx, REGS_OFF(REG_RCX)(%rax)
	movq	%rdx, REGS_OFF(REG_RDX)(%rax)
	movq	%rbx, REGS_OFF(REG_RBX)(%rax)
	movq	%rbp, REGS_OFF(REG_RBP)(%rax)
	movq	%rsi, REGS_OFF(REG_RSI)(%rax)
	movq	%rdi, REGS_OFF(REG_RDI)(%rax)
	movq	%r8, REGS_OFF(8)(%rax)
	movq	%r9, REGS_OFF(9)(%rax)
	movq	%r10, REGS_OFF(10)(%rax)
	movq	%r11, REGS_OFF(11)(%rax)
	movq	%r12, REGS_OFF(12)(%rax)
	movq	%r13, REGS_OFF(13)(%rax)
	movq	%r14, REGS_OFF(14)(%rax)
	movq	%r15, REGS_OFF(15)(%rax)
	popq	REGS_OFF(REG_RAX)(%rax)

	/* RSP is 16-byte aligned here, as the ABI wants at a call. RBP
	 * points at vmx_run's own frame again (above the 8 slots pushed
	 * after it), so a stack trace from the exit path, which is built
	 * without frame pointers, continues into the run loop's callers
	 * instead of the guest's RBP. */
	movq	%rax, %rdi
	leaq	HOST_FRAME(%rsp), %rbp
	call	*8(%rsp)
	movq	(%rsp), %rdi
	movl	VCPU_REQUESTS_OFF(%rdi), %eax
	orq	%gs:CPU_ATTENTION_OFF, %rax
	jnz	4f
5:	load_guest
1:	vmresume
	/* falls through only if VMRESUME failed */

vmx_fail:
	/* CF=1: VMfailInvalid; else ZF=1: VMfailValid. */
	movl	$2, %eax
	jc	3f
	movl	$1, %eax
	jmp	3f
	/* Something is pending: the run loop's work, then on or out. */
4:	call	*16(%rsp)
	testl	%eax, %eax
	movq	(%rsp), %rdi
	jz	5b
	xorl	%eax, %eax
3:
	addq	$24, %rsp		/* V, ON_EXIT, ON_PENDING */
	popq	%rbx
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	popq	%rbp
	ret
