#include "vmx/exit/decode.h"

uint64_t strio_batch(uint64_t count, uint64_t addr, unsigned size, bool down, uint64_t max)
{
	if (count == 0)
		return 0;
	uint64_t off = addr & 0xfff;
	uint64_t n;
	if (off + size > 0x1000)
		n = 1; /* the first element straddles the boundary: alone */
	else if (down)
		n = off / size + 1; /* elements at addr, addr - size, ... on this page */
	else
		n = (0x1000 - off) / size;
	if (n > count)
		n = count;
	if (n > max)
		n = max;
	return n;
}

bool decode_mmio(const uint8_t *code, size_t avail, unsigned code_bits, struct mmio_insn *out)
{
	size_t i = 0;
	bool opsize = false, addrsize = false;
	unsigned rex = 0;

	out->high8 = false;

	/* Legacy prefixes, then REX (64-bit mode only, and last). */
	for (; i < avail && i < 14; i++) {
		uint8_t b = code[i];
		if (b == 0x66)
			opsize = true;
		else if (b == 0x67)
			addrsize = true;
		else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65)
			continue;
		else
			break;
	}
	if (i < avail && code_bits == 64 && (code[i] & 0xf0) == 0x40)
		rex = code[i++];
	unsigned addr_bits = code_bits == 64 ? (addrsize ? 32 : 64) : (code_bits == 16) != addrsize ? 16 : 32;
	if (i < avail && code[i] >= 0xa0 && code[i] <= 0xa3) {
		/* MOV between the accumulator and a direct address (moffs) */
		uint8_t op = code[i++];
		out->write = op >= 0xa2;
		out->reg = 0;
		out->size = !(op & 1) ? 1 : (rex & 8) ? 8 : (code_bits == 16) != opsize ? 2 : 4;
		i += addr_bits / 8;
		if (i > avail || i > 15)
			return false;
		out->len = (unsigned)i;
		return true;
	}
	if (i + 2 > avail)
		return false;
	uint8_t op = code[i++], modrm = code[i++];
	unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
	if (mod == 3)
		return false; /* register operand: not a memory access */

	switch (op) {
	case 0x88: case 0x89: out->write = true; out->reg = (int)(reg | (rex & 4 ? 8 : 0)); break;
	case 0x8a: case 0x8b: out->write = false; out->reg = (int)(reg | (rex & 4 ? 8 : 0)); break;
	case 0xc6: case 0xc7:
		if (reg != 0)
			return false;
		out->write = true;
		out->reg = -1;
		break;
	default:
		return false;
	}
	/* A byte register 4-7 without REX is AH, CH, DH, BH (SDM vol. 2A,
	 * table 3-1); with one, SPL-DIL. */
	if ((op == 0x88 || op == 0x8a) && !rex && reg >= 4) {
		out->reg = (int)reg - 4;
		out->high8 = true;
	}
	if (op == 0x88 || op == 0x8a || op == 0xc6)
		out->size = 1;
	else if (rex & 8)
		out->size = 8;
	else
		out->size = (code_bits == 16) != opsize ? 2 : 4;

	/* Addressing: 16-bit (mod/rm table 2-1) or 32/64-bit with SIB. */
	size_t disp = 0;
	if (addr_bits == 16) {
		disp = mod == 1 ? 1 : mod == 2 ? 2 : (mod == 0 && rm == 6) ? 2 : 0;
	} else {
		if (rm == 4) { /* SIB */
			if (i >= avail)
				return false;
			uint8_t sib = code[i++];
			if (mod == 0 && (sib & 7) == 5)
				disp = 4;
		}
		if (mod == 1)
			disp = 1;
		else if (mod == 2 || (mod == 0 && rm == 5))
			disp = 4;
	}
	i += disp;
	if (out->reg < 0) { /* the immediate: 1, 2 or 4 bytes (sign-extended for 8) */
		size_t n = out->size == 8 ? 4 : out->size;
		if (i + n > avail)
			return false;
		uint64_t v = 0;
		for (size_t k = 0; k < n; k++)
			v |= (uint64_t)code[i + k] << (8 * k);
		if (out->size == 8 && (v & 0x80000000u))
			v |= 0xffffffff00000000ull;
		out->imm = v;
		i += n;
	}
	if (i > avail || i > 15)
		return false;
	out->len = (unsigned)i;
	return true;
}

/* A register load of SIZE bytes as the CPU does it: a 32-bit load
 * zero-extends, 8- and 16-bit ones keep the rest (SDM vol. 1, 3.4.1.1). */
uint64_t mmio_loaded(uint64_t old, uint64_t val, unsigned size, bool high8)
{
	switch (size) {
	case 1:
		return high8 ? (old & ~0xff00ull) | (val & 0xff) << 8 : (old & ~0xffull) | (val & 0xff);
	case 2:
		return (old & ~0xffffull) | (val & 0xffff);
	case 4:
		return val & 0xffffffffull;
	default:
		return val;
	}
}
