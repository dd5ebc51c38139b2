/*
 * Pure decoding for the exit handlers (host-tested): the batches of a
 * string IO instruction and the memory-operand instructions that reach
 * device registers (the one instruction decoder, for vmx/exit/mmio.c).
 */
#ifndef VMX_EXIT_DECODE_H
#define VMX_EXIT_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One batch of a string IO instruction (INS/OUTS, maybe REP): how many
 * elements to move now so that no element crosses a page, at most MAX.
 *   count   RCX masked to the address size (REP), or 1
 *   addr    the memory operand's linear address
 *   size    element size (1, 2, 4); down: RFLAGS.DF set
 * Returns at least 1 when count > 0: an element that itself straddles a
 * page boundary goes alone (the caller handles both pages).
 */
uint64_t strio_batch(uint64_t count, uint64_t addr, unsigned size, bool down, uint64_t max);

/* REGISTER advanced by DELTA (signed) within MASK: how RSI/RDI/RCX move
 * under an address size. A 16-bit update keeps bits 63:16; a 32-bit one
 * zero-extends, as every 32-bit register write does (SDM vol. 1, 3.4.1.1). */
static inline uint64_t masked_add(uint64_t reg, int64_t delta, uint64_t mask)
{
	uint64_t keep = mask == 0xffff ? ~mask : 0;
	return (reg & keep) | ((reg + (uint64_t)delta) & mask);
}

/*
 * A MOV between a register (or an immediate) and memory, as guests use to
 * reach memory-mapped device registers (the local APIC): opcodes 88/89
 * (store r), 8A/8B (load r), C6/C7 /0 (store imm), A0-A3 (the accumulator
 * and a direct address), with operand-size,
 * address-size, segment and REX prefixes, any ModRM/SIB addressing form
 * (SDM vol. 2A, 2.1 and 2.2). Only the length, direction, size and
 * register are needed: the address is the one that faulted.
 */
struct mmio_insn {
	unsigned len;  /* bytes */
	bool write;    /* store to memory */
	unsigned size; /* 1, 2, 4 or 8 */
	int reg;       /* register number (0-15) for 88-8B; -1 with an immediate */
	bool high8;    /* a byte register AH, CH, DH or BH: bits 15:8 of REG 0-3 */
	uint64_t imm;  /* C6/C7: the immediate, sign-extended to size */
};

/* CODE holds AVAIL bytes at RIP; CODE_BITS is the code segment's default
 * (16, 32 or 64). False for anything else. */
bool decode_mmio(const uint8_t *code, size_t avail, unsigned code_bits, struct mmio_insn *out);

/* What register OLD holds after a device read of SIZE bytes VAL loads
 * into it (HIGH8: AH, CH, DH or BH): a 32-bit load zero-extends, 8- and
 * 16-bit ones keep the rest (SDM vol. 1, 3.4.1.1). */
uint64_t mmio_loaded(uint64_t old, uint64_t val, unsigned size, bool high8);

#endif
