/*
 * The one VM entry/exit routine.
 *
 *   int vmx_enter(struct guest_regs *regs, int launched, uint64_t *host_rsp)
 *
 * Saves the host's callee-saved registers, loads every guest general
 * register from REGS and enters the guest with VMLAUNCH (LAUNCHED == 0) or
 * VMRESUME. A VM exit lands at vmx_exit_point (HOST_RIP) on the stack this
 * call left (HOST_RSP); the guest registers go back into REGS and it
 * returns 0. If VMLAUNCH/VMRESUME itself fails it returns 1 (VMfailValid:
 * read VM_INSTRUCTION_ERROR) or 2 (VMfailInvalid).
 *
 * HOST_RSP is rewritten only when the stack pointer differs from the last
 * value written (*HOST_RSP): the run loop calls from the same depth every
 * time, so the hot path has no VMWRITE here (as in KVM's vmx_vcpu_run).
 */
#include "vmx/regs.h"

#define HOST_RSP_FIELD	0x6c14

	.text
	.globl	vmx_enter
	.globl	vmx_exit_point
vmx_enter:
	pushq	%rbp
	movq	%rsp, %rbp
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%rbx
	pushq	%rdi			/* REGS: found at (%rsp) on exit */

	cmpq	%rsp, (%rdx)
	je	1f
	movq	%rsp, (%rdx)
	movl	$HOST_RSP_FIELD, %eax
	vmwrite	%rsp, %rax
	jbe	vmx_fail		/* CF or ZF: VMfail */
1:
	/* Launched or not decides VMLAUNCH vs VMRESUME; the MOVs below do
	 * not touch the flags. */
	testl	%esi, %esi

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

	jnz	2f
	vmlaunch
	jmp	vmx_fail
2:	vmresume
	/* falls through only if VMRESUME failed */

vmx_fail:
	/* CF=1: VMfailInvalid; else ZF=1: VMfailValid. */
	movl	$2, %eax
	jc	3f
	movl	$1, %eax
	jmp	3f

vmx_exit_point:
	/* Host state from the VMCS: RSP = HOST_RSP, interrupts off, flags
	 * clear (SDM vol. 3C, 28.5.3). Guest registers are live. */
	pushq	%rax
	movq	8(%rsp), %rax		/* REGS */
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
	xorl	%eax, %eax
3:
	addq	$8, %rsp		/* REGS */
	popq	%rbx
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	popq	%rbp
	ret
