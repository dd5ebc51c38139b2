/*
 * The guest's general registers as vmx/hw/entry.S saves them on a VM exit,
 * indexed by the x86 register number (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP,
 * 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15), so an exit qualification's register
 * field indexes it directly. RSP lives in the VMCS (GUEST_RSP); slot 4 is
 * unused. Shared by C and assembly; the offsets are pinned by static
 * assertions in vmx/vcpu.c.
 */
#ifndef VMX_REGS_H
#define VMX_REGS_H

#define REG_RAX 0
#define REG_RCX 1
#define REG_RDX 2
#define REG_RBX 3
#define REG_RSP 4
#define REG_RBP 5
#define REG_RSI 6
#define REG_RDI 7
#define REG_COUNT 16

#define REGS_OFF(r) ((r) * 8)

/* Where the entry routine finds the pending work it tests after each
 * exit: the vCPU's request word, right after its registers, and this
 * CPU's attention word (GS-relative). Pinned by static assertions in
 * vmx/vcpu.c. */
#define VCPU_REQUESTS_OFF (REG_COUNT * 8)
#define CPU_ATTENTION_OFF 0xc0

#ifndef __ASSEMBLER__
#include <stdint.h>

struct guest_regs {
	uint64_t gpr[REG_COUNT];
};
#endif

#endif
