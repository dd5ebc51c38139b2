/*
 * Decoding of exit information (SDM vol. 3C, 28.2.1 "Basic VM-exit
 * information", tables 28-3, 28-5, 28-7) and the arithmetic of string IO.
 * Pure logic, unit tested on the host.
 */
#ifndef VMX_HW_EXITINFO_H
#define VMX_HW_EXITINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Basic exit reasons (appendix C) the hypervisor names. */
enum exit_reason {
	EXIT_EXCEPTION_NMI = 0,
	EXIT_EXTERNAL_INTERRUPT = 1,
	EXIT_TRIPLE_FAULT = 2,
	EXIT_INIT = 3,
	EXIT_SIPI = 4,
	EXIT_INTERRUPT_WINDOW = 7,
	EXIT_NMI_WINDOW = 8,
	EXIT_TASK_SWITCH = 9,
	EXIT_CPUID = 10,
	EXIT_GETSEC = 11,
	EXIT_HLT = 12,
	EXIT_INVD = 13,
	EXIT_INVLPG = 14,
	EXIT_RDPMC = 15,
	EXIT_RDTSC = 16,
	EXIT_RSM = 17,
	EXIT_VMCALL = 18,
	EXIT_VMCLEAR = 19,
	EXIT_VMLAUNCH = 20,
	EXIT_VMPTRLD = 21,
	EXIT_VMPTRST = 22,
	EXIT_VMREAD = 23,
	EXIT_VMRESUME = 24,
	EXIT_VMWRITE = 25,
	EXIT_VMXOFF = 26,
	EXIT_VMXON = 27,
	EXIT_CR_ACCESS = 28,
	EXIT_DR_ACCESS = 29,
	EXIT_IO = 30,
	EXIT_RDMSR = 31,
	EXIT_WRMSR = 32,
	EXIT_INVALID_GUEST_STATE = 33,
	EXIT_MSR_LOADING = 34,
	EXIT_MWAIT = 36,
	EXIT_MTF = 37,
	EXIT_MONITOR = 39,
	EXIT_PAUSE = 40,
	EXIT_MACHINE_CHECK = 41,
	EXIT_TPR_BELOW_THRESHOLD = 43,
	EXIT_APIC_ACCESS = 44,
	EXIT_EOI_INDUCED = 45,
	EXIT_GDTR_IDTR = 46,
	EXIT_LDTR_TR = 47,
	EXIT_EPT_VIOLATION = 48,
	EXIT_EPT_MISCONFIG = 49,
	EXIT_INVEPT = 50,
	EXIT_RDTSCP = 51,
	EXIT_PREEMPTION_TIMER = 52,
	EXIT_INVVPID = 53,
	EXIT_WBINVD = 54,
	EXIT_XSETBV = 55,
	EXIT_APIC_WRITE = 56,
	EXIT_RDRAND = 57,
	EXIT_INVPCID = 58,
	EXIT_VMFUNC = 59,
	EXIT_ENCLS = 60,
	EXIT_RDSEED = 61,
	EXIT_PML_FULL = 62,
	EXIT_XSAVES = 63,
	EXIT_XRSTORS = 64,
};
#define EXIT_REASON_ENTRY_FAILURE (1u << 31)

/* Short lower-case name for VM-END counts ("cpuid", "io", ...). */
const char *exit_reason_name(unsigned basic);

/* I/O instruction (table 28-5). */
struct io_qual {
	uint16_t port;
	uint8_t size; /* 1, 2 or 4 */
	bool in, string, rep, imm;
};
/* Inline: every port-IO exit decodes one. */
static inline struct io_qual decode_io(uint64_t qual)
{
	return (struct io_qual){
		.size = (uint8_t)((qual & 7) + 1),
		.in = qual & (1u << 3),
		.string = qual & (1u << 4),
		.rep = qual & (1u << 5),
		.imm = qual & (1u << 6),
		.port = (uint16_t)(qual >> 16),
	};
}

/* Control-register access (table 28-3). */
enum cr_access { CR_MOV_TO = 0, CR_MOV_FROM = 1, CR_CLTS = 2, CR_LMSW = 3 };
struct cr_qual {
	uint8_t cr, gpr;
	enum cr_access type;
	uint16_t lmsw_data;
};
struct cr_qual decode_cr(uint64_t qual);

/* EPT violation (table 28-7). */
struct ept_qual {
	bool read, write, fetch;
	uint8_t allowed; /* R/W/X bits of the entry that faulted (bits 3-5) */
	bool linear_valid;
	/* The access was to the linear address's own data, not to a paging
	 * structure of its walk (bit 8, meaningful with bit 7: SDM vol. 3C,
	 * table 28-7). Only such an access is the instruction's to emulate. */
	bool translated;
};
struct ept_qual decode_ept(uint64_t qual);
const char *ept_access_name(const struct ept_qual *q);

/* Address-size mask from the VMX instruction-information field's bits
 * 9:7 (0: 16-bit, 1: 32-bit, 2: 64-bit; table 28-8). */
uint64_t insn_info_addr_mask(uint32_t info);
/* Segment register (0 ES .. 5 GS) from bits 17:15 (OUTS only). */
unsigned insn_info_segment(uint32_t info);

#endif
