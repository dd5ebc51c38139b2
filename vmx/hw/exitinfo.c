#include "vmx/hw/exitinfo.h"

const char *exit_reason_name(unsigned basic)
{
	static const char *const names[] = {
		[EXIT_EXCEPTION_NMI] = "exception",
		[EXIT_EXTERNAL_INTERRUPT] = "extint",
		[EXIT_TRIPLE_FAULT] = "triple_fault",
		[EXIT_INIT] = "init",
		[EXIT_SIPI] = "sipi",
		[5] = "io_smi",
		[6] = "other_smi",
		[EXIT_INTERRUPT_WINDOW] = "irq_window",
		[EXIT_NMI_WINDOW] = "nmi_window",
		[EXIT_TASK_SWITCH] = "task_switch",
		[EXIT_CPUID] = "cpuid",
		[EXIT_GETSEC] = "getsec",
		[EXIT_HLT] = "hlt",
		[EXIT_INVD] = "invd",
		[EXIT_INVLPG] = "invlpg",
		[EXIT_RDPMC] = "rdpmc",
		[EXIT_RDTSC] = "rdtsc",
		[EXIT_RSM] = "rsm",
		[EXIT_VMCALL] = "vmcall",
		[EXIT_VMCLEAR] = "vmclear",
		[EXIT_VMLAUNCH] = "vmlaunch",
		[EXIT_VMPTRLD] = "vmptrld",
		[EXIT_VMPTRST] = "vmptrst",
		[EXIT_VMREAD] = "vmread",
		[EXIT_VMRESUME] = "vmresume",
		[EXIT_VMWRITE] = "vmwrite",
		[EXIT_VMXOFF] = "vmxoff",
		[EXIT_VMXON] = "vmxon",
		[EXIT_CR_ACCESS] = "cr",
		[EXIT_DR_ACCESS] = "dr",
		[EXIT_IO] = "io",
		[EXIT_RDMSR] = "rdmsr",
		[EXIT_WRMSR] = "wrmsr",
		[EXIT_INVALID_GUEST_STATE] = "invalid_guest_state",
		[EXIT_MSR_LOADING] = "msr_loading",
		[EXIT_MWAIT] = "mwait",
		[EXIT_MTF] = "mtf",
		[EXIT_MONITOR] = "monitor",
		[EXIT_PAUSE] = "pause",
		[EXIT_MACHINE_CHECK] = "machine_check",
		[EXIT_TPR_BELOW_THRESHOLD] = "tpr_threshold",
		[EXIT_APIC_ACCESS] = "apic_access",
		[EXIT_EOI_INDUCED] = "eoi",
		[EXIT_GDTR_IDTR] = "gdtr_idtr",
		[EXIT_LDTR_TR] = "ldtr_tr",
		[EXIT_EPT_VIOLATION] = "ept_violation",
		[EXIT_EPT_MISCONFIG] = "ept_misconfig",
		[EXIT_INVEPT] = "invept",
		[EXIT_RDTSCP] = "rdtscp",
		[EXIT_PREEMPTION_TIMER] = "preemption_timer",
		[EXIT_INVVPID] = "invvpid",
		[EXIT_WBINVD] = "wbinvd",
		[EXIT_XSETBV] = "xsetbv",
		[EXIT_APIC_WRITE] = "apic_write",
		[EXIT_RDRAND] = "rdrand",
		[EXIT_INVPCID] = "invpcid",
		[EXIT_VMFUNC] = "vmfunc",
		[EXIT_ENCLS] = "encls",
		[EXIT_RDSEED] = "rdseed",
		[EXIT_PML_FULL] = "pml_full",
		[EXIT_XSAVES] = "xsaves",
		[EXIT_XRSTORS] = "xrstors",
	};
	if (basic < sizeof(names) / sizeof(names[0]) && names[basic])
		return names[basic];
	return "unknown";
}

struct cr_qual decode_cr(uint64_t qual)
{
	return (struct cr_qual){
		.cr = qual & 0xf,
		.type = (enum cr_access)((qual >> 4) & 3),
		.gpr = (qual >> 8) & 0xf,
		.lmsw_data = (uint16_t)(qual >> 16),
	};
}

struct ept_qual decode_ept(uint64_t qual)
{
	return (struct ept_qual){
		.read = qual & 1,
		.write = qual & 2,
		.fetch = qual & 4,
		.allowed = (qual >> 3) & 7,
		.linear_valid = qual & (1u << 7),
		.translated = (qual & (1u << 7)) && (qual & (1u << 8)),
	};
}

const char *ept_access_name(const struct ept_qual *q)
{
	return q->fetch ? "fetch" : q->write ? "write" : "read";
}

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

uint64_t insn_info_addr_mask(uint32_t info)
{
	switch ((info >> 7) & 7) {
	case 0:
		return 0xffff;
	case 1:
		return 0xffffffff;
	default:
		return ~0ull;
	}
}

unsigned insn_info_segment(uint32_t info)
{
	return (info >> 15) & 7;
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
