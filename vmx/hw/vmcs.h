/*
 * The VMCS: field encodings (SDM vol. 3D, appendix B), grouped by width as
 * the encoding's bits 14:13 say, control bits by name (vol. 3C, 25.6-25.8),
 * and accessors sized to the field with a compile-time check of the width.
 *
 *   encoding:  15 | 14 13 | 12 | 11 10 | 9 ... 1 | 0
 *               0 | width |  0 | type  |  index  | access (1: high half)
 *   width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural; type: 0 control,
 *   1 read-only exit information, 2 guest state, 3 host state
 */
#ifndef VMX_VMCS_H
#define VMX_VMCS_H

#include <stdbool.h>
#include <stdint.h>

#include "arch-x86/percpu/percpu.h"
#include "arch-x86/vmx_ops.h"

enum vmcs_width { VMCS_W16 = 0, VMCS_W64 = 1, VMCS_W32 = 2, VMCS_WNAT = 3 };
#define VMCS_WIDTH(f) (((f) >> 13) & 3)

/* Every field the hypervisor uses, once: X(name, encoding). The enum and
 * the name table for messages and dumps are both made from it. */
#define VMCS_FIELDS(X) \
	/* 16-bit */ \
	X(VPID, 0x0000) \
	X(GUEST_ES_SELECTOR, 0x0800) \
	X(GUEST_CS_SELECTOR, 0x0802) \
	X(GUEST_SS_SELECTOR, 0x0804) \
	X(GUEST_DS_SELECTOR, 0x0806) \
	X(GUEST_FS_SELECTOR, 0x0808) \
	X(GUEST_GS_SELECTOR, 0x080a) \
	X(GUEST_LDTR_SELECTOR, 0x080c) \
	X(GUEST_TR_SELECTOR, 0x080e) \
	X(HOST_ES_SELECTOR, 0x0c00) \
	X(HOST_CS_SELECTOR, 0x0c02) \
	X(HOST_SS_SELECTOR, 0x0c04) \
	X(HOST_DS_SELECTOR, 0x0c06) \
	X(HOST_FS_SELECTOR, 0x0c08) \
	X(HOST_GS_SELECTOR, 0x0c0a) \
	X(HOST_TR_SELECTOR, 0x0c0c) \
	/* 64-bit */ \
	X(IO_BITMAP_A, 0x2000) \
	X(IO_BITMAP_B, 0x2002) \
	X(MSR_BITMAP, 0x2004) \
	X(VM_EXIT_MSR_STORE_ADDR, 0x2006) \
	X(VM_EXIT_MSR_LOAD_ADDR, 0x2008) \
	X(VM_ENTRY_MSR_LOAD_ADDR, 0x200a) \
	X(TSC_OFFSET, 0x2010) \
	X(VIRTUAL_APIC_PAGE_ADDR, 0x2012) \
	X(APIC_ACCESS_ADDR, 0x2014) \
	X(EPT_POINTER, 0x201a) \
	X(GUEST_PHYSICAL_ADDRESS, 0x2400) \
	X(VMCS_LINK_POINTER, 0x2800) \
	X(GUEST_IA32_DEBUGCTL, 0x2802) \
	X(GUEST_IA32_PAT, 0x2804) \
	X(GUEST_IA32_EFER, 0x2806) \
	X(GUEST_PDPTE0, 0x280a) \
	X(GUEST_PDPTE1, 0x280c) \
	X(GUEST_PDPTE2, 0x280e) \
	X(GUEST_PDPTE3, 0x2810) \
	X(HOST_IA32_PAT, 0x2c00) \
	X(HOST_IA32_EFER, 0x2c02) \
	/* 32-bit */ \
	X(PIN_BASED_VM_EXEC_CONTROL, 0x4000) \
	X(CPU_BASED_VM_EXEC_CONTROL, 0x4002) \
	X(EXCEPTION_BITMAP, 0x4004) \
	X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006) \
	X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008) \
	X(CR3_TARGET_COUNT, 0x400a) \
	X(VM_EXIT_CONTROLS, 0x400c) \
	X(VM_EXIT_MSR_STORE_COUNT, 0x400e) \
	X(VM_EXIT_MSR_LOAD_COUNT, 0x4010) \
	X(VM_ENTRY_CONTROLS, 0x4012) \
	X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014) \
	X(VM_ENTRY_INTR_INFO, 0x4016) \
	X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018) \
	X(VM_ENTRY_INSTRUCTION_LEN, 0x401a) \
	X(TPR_THRESHOLD, 0x401c) \
	X(SECONDARY_VM_EXEC_CONTROL, 0x401e) \
	X(VM_INSTRUCTION_ERROR, 0x4400) \
	X(VM_EXIT_REASON, 0x4402) \
	X(VM_EXIT_INTR_INFO, 0x4404) \
	X(VM_EXIT_INTR_ERROR_CODE, 0x4406) \
	X(IDT_VECTORING_INFO, 0x4408) \
	X(IDT_VECTORING_ERROR_CODE, 0x440a) \
	X(VM_EXIT_INSTRUCTION_LEN, 0x440c) \
	X(VMX_INSTRUCTION_INFO, 0x440e) \
	X(GUEST_ES_LIMIT, 0x4800) \
	X(GUEST_CS_LIMIT, 0x4802) \
	X(GUEST_SS_LIMIT, 0x4804) \
	X(GUEST_DS_LIMIT, 0x4806) \
	X(GUEST_FS_LIMIT, 0x4808) \
	X(GUEST_GS_LIMIT, 0x480a) \
	X(GUEST_LDTR_LIMIT, 0x480c) \
	X(GUEST_TR_LIMIT, 0x480e) \
	X(GUEST_GDTR_LIMIT, 0x4810) \
	X(GUEST_IDTR_LIMIT, 0x4812) \
	X(GUEST_ES_AR_BYTES, 0x4814) \
	X(GUEST_CS_AR_BYTES, 0x4816) \
	X(GUEST_SS_AR_BYTES, 0x4818) \
	X(GUEST_DS_AR_BYTES, 0x481a) \
	X(GUEST_FS_AR_BYTES, 0x481c) \
	X(GUEST_GS_AR_BYTES, 0x481e) \
	X(GUEST_LDTR_AR_BYTES, 0x4820) \
	X(GUEST_TR_AR_BYTES, 0x4822) \
	X(GUEST_INTERRUPTIBILITY_INFO, 0x4824) \
	X(GUEST_ACTIVITY_STATE, 0x4826) \
	X(GUEST_SYSENTER_CS, 0x482a) \
	X(VMX_PREEMPTION_TIMER_VALUE, 0x482e) \
	X(HOST_IA32_SYSENTER_CS, 0x4c00) \
	/* natural width */ \
	X(CR0_GUEST_HOST_MASK, 0x6000) \
	X(CR4_GUEST_HOST_MASK, 0x6002) \
	X(CR0_READ_SHADOW, 0x6004) \
	X(CR4_READ_SHADOW, 0x6006) \
	X(EXIT_QUALIFICATION, 0x6400) \
	X(GUEST_LINEAR_ADDRESS, 0x640a) \
	X(GUEST_CR0, 0x6800) \
	X(GUEST_CR3, 0x6802) \
	X(GUEST_CR4, 0x6804) \
	X(GUEST_ES_BASE, 0x6806) \
	X(GUEST_CS_BASE, 0x6808) \
	X(GUEST_SS_BASE, 0x680a) \
	X(GUEST_DS_BASE, 0x680c) \
	X(GUEST_FS_BASE, 0x680e) \
	X(GUEST_GS_BASE, 0x6810) \
	X(GUEST_LDTR_BASE, 0x6812) \
	X(GUEST_TR_BASE, 0x6814) \
	X(GUEST_GDTR_BASE, 0x6816) \
	X(GUEST_IDTR_BASE, 0x6818) \
	X(GUEST_DR7, 0x681a) \
	X(GUEST_RSP, 0x681c) \
	X(GUEST_RIP, 0x681e) \
	X(GUEST_RFLAGS, 0x6820) \
	X(GUEST_PENDING_DBG_EXCEPTIONS, 0x6822) \
	X(GUEST_SYSENTER_ESP, 0x6824) \
	X(GUEST_SYSENTER_EIP, 0x6826) \
	X(HOST_CR0, 0x6c00) \
	X(HOST_CR3, 0x6c02) \
	X(HOST_CR4, 0x6c04) \
	X(HOST_FS_BASE, 0x6c06) \
	X(HOST_GS_BASE, 0x6c08) \
	X(HOST_TR_BASE, 0x6c0a) \
	X(HOST_GDTR_BASE, 0x6c0c) \
	X(HOST_IDTR_BASE, 0x6c0e) \
	X(HOST_IA32_SYSENTER_ESP, 0x6c10) \
	X(HOST_IA32_SYSENTER_EIP, 0x6c12) \
	X(HOST_RSP, 0x6c14) \
	X(HOST_RIP, 0x6c16)

enum vmcs_field {
#define VMCS_ENUM(name, enc) name = enc,
	VMCS_FIELDS(VMCS_ENUM)
#undef VMCS_ENUM
};

/* Pin-based controls (25.6.1). */
#define PIN_EXTERNAL_INTERRUPT_EXITING (1u << 0)
#define PIN_NMI_EXITING (1u << 3)
#define PIN_VIRTUAL_NMIS (1u << 5)
/* PIN_PREEMPTION_TIMER (bit 6) is in vmx/hw/caps.h */

/* Primary processor-based controls (25.6.2). */
#define PROC_INTERRUPT_WINDOW_EXITING (1u << 2)
#define PROC_USE_TSC_OFFSETTING (1u << 3)
#define PROC_HLT_EXITING (1u << 7)
#define PROC_INVLPG_EXITING (1u << 9)
#define PROC_MWAIT_EXITING (1u << 10)
#define PROC_RDPMC_EXITING (1u << 11)
#define PROC_RDTSC_EXITING (1u << 12)
#define PROC_CR3_LOAD_EXITING (1u << 15)
#define PROC_CR3_STORE_EXITING (1u << 16)
#define PROC_CR8_LOAD_EXITING (1u << 19)
#define PROC_USE_TPR_SHADOW (1u << 21)
#define PROC_NMI_WINDOW_EXITING (1u << 22)
#define PROC_CR8_STORE_EXITING (1u << 20)
#define PROC_MOV_DR_EXITING (1u << 23)
#define PROC_UNCONDITIONAL_IO_EXITING (1u << 24)
#define PROC_USE_IO_BITMAPS (1u << 25)
#define PROC_MONITOR_TRAP_FLAG (1u << 27)
#define PROC_USE_MSR_BITMAPS (1u << 28)
#define PROC_MONITOR_EXITING (1u << 29)
#define PROC_PAUSE_EXITING (1u << 30)
/* PROC_ACTIVATE_SECONDARY (bit 31) is in vmx/hw/caps.h */

/* Secondary processor-based controls (25.6.2); EPT, VPID and
 * unrestricted guest are in vmx/hw/caps.h. */
#define PROC2_VIRTUALIZE_APIC_ACCESSES (1u << 0)
#define PROC2_DESCRIPTOR_TABLE_EXITING (1u << 2)
#define PROC2_APIC_REGISTER_VIRT (1u << 8)
#define PROC2_RDTSCP (1u << 3)
#define PROC2_WBINVD_EXITING (1u << 6)
#define PROC2_INVPCID (1u << 12)
#define PROC2_XSAVES (1u << 20)

/* VM-exit controls (25.7.1). */
#define EXIT_SAVE_DEBUG_CONTROLS (1u << 2)
#define EXIT_HOST_ADDRESS_SPACE_SIZE (1u << 9)
#define EXIT_ACK_INTERRUPT_ON_EXIT (1u << 15)
#define EXIT_SAVE_IA32_PAT (1u << 18)
#define EXIT_LOAD_IA32_PAT (1u << 19)
#define EXIT_SAVE_IA32_EFER (1u << 20)
#define EXIT_LOAD_IA32_EFER (1u << 21)
#define EXIT_SAVE_PREEMPTION_TIMER (1u << 22)

/* VM-entry controls (25.8.1). */
#define ENTRY_LOAD_DEBUG_CONTROLS (1u << 2)
#define ENTRY_IA32E_MODE_GUEST (1u << 9)
#define ENTRY_LOAD_IA32_PAT (1u << 14)
#define ENTRY_LOAD_IA32_EFER (1u << 15)

/* VM-entry interruption information (25.8.3) and the exit/IDT-vectoring
 * information of the same shape (25.9.2, 25.9.3). */
#define INTR_INFO_VALID (1u << 31)
#define INTR_INFO_DELIVER_CODE (1u << 11)
#define INTR_TYPE_EXTERNAL (0u << 8)
#define INTR_TYPE_NMI (2u << 8)
#define INTR_TYPE_HW_EXCEPTION (3u << 8)
#define INTR_TYPE_SW_EXCEPTION (6u << 8)

/* Guest activity states (25.4.2). */
enum { ACTIVITY_ACTIVE = 0, ACTIVITY_HLT = 1, ACTIVITY_SHUTDOWN = 2, ACTIVITY_WAIT_SIPI = 3 };

/* Segment access rights as the VMCS holds them (25.4.1, table 25-2). */
#define AR_UNUSABLE (1u << 16)
#define AR_CODE16 0x009b   /* present, code exec/read, accessed */
#define AR_DATA16 0x0093   /* present, data read/write, accessed */
#define AR_CODE32 0xc09b   /* + granularity, 32-bit */
#define AR_DATA32 0xc093
#define AR_CODE64 0xa09b   /* + granularity, long mode */
#define AR_TSS_BUSY 0x008b /* present, 32/64-bit busy TSS */
#define AR_L (1u << 13)	   /* CS.L: 64-bit code in IA-32e mode */
#define AR_DB (1u << 14)   /* CS.D: 32-bit code */

/* Interruptibility state (25.4.2). */
#define INTERRUPTIBILITY_STI (1u << 0)
#define INTERRUPTIBILITY_MOV_SS (1u << 1)
#define INTERRUPTIBILITY_SMI (1u << 2)
#define INTERRUPTIBILITY_NMI (1u << 3) /* virtual-NMI blocking with virtual NMIs on */

/*
 * Checked accessors. A failed VMREAD/VMWRITE is a hypervisor bug, not a
 * guest's doing: it is logged with the field's name and the decoded
 * error, and marks this CPU's VMX state failed so that the run loop ends
 * the VM (vmcs_failed()). Reads then return 0.
 *
 * Each is the instruction and one JBE (CF or ZF: VMfail, SDM vol. 3C,
 * 31.2) to an out-of-line report, as in KVM's vmx_ops.h: on the exit path
 * a VMREAD costs three instructions with its field number.
 */
void vmcs_fail(const char *op, enum vmcs_field field);

/* This CPU's (struct cpu): each CPU has its own current VMCS. */
static inline bool vmcs_failed(void)
{
	return percpu_read8(vmcs_failed);
}

static inline void vmcs_clear_failed(void)
{
	percpu_write8(vmcs_failed, 0);
}

#ifdef HV_COUNT_VMCS
extern uint64_t vmcs_reads, vmcs_writes; /* the benchmark's counting build */
#define VMCS_COUNT(c) ((c)++)
#else
#define VMCS_COUNT(c) ((void)0)
#endif

static inline uint64_t vmcs_read_raw(enum vmcs_field field)
{
	uint64_t v;
	VMCS_COUNT(vmcs_reads);
	__asm__ goto("vmread %[field], %[value]\n\t"
		     "jbe %l[fail]"
		     : [value] "=r"(v)
		     : [field] "r"((uint64_t)field)
		     : "cc"
		     : fail);
	return v;
fail:
	vmcs_fail("VMREAD", field);
	return 0;
}

static inline void vmcs_write_raw(enum vmcs_field field, uint64_t value)
{
	VMCS_COUNT(vmcs_writes);
	__asm__ goto("vmwrite %[value], %[field]\n\t"
		     "jbe %l[fail]"
		     :
		     : [value] "rm"(value), [field] "r"((uint64_t)field)
		     : "cc", "memory"
		     : fail);
	return;
fail:
	vmcs_fail("VMWRITE", field);
}

#define VMCS_CHECK_WIDTH(f, w) _Static_assert(VMCS_WIDTH(f) == (w), #f " has another width")
#define vmcs_read16(f) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W16); (uint16_t)vmcs_read_raw(f); })
#define vmcs_read32(f) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W32); (uint32_t)vmcs_read_raw(f); })
#define vmcs_read64(f) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W64); vmcs_read_raw(f); })
#define vmcs_readnat(f) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_WNAT); vmcs_read_raw(f); })
#define vmcs_write16(f, v) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W16); vmcs_write_raw(f, (uint16_t)(v)); })
#define vmcs_write32(f, v) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W32); vmcs_write_raw(f, (uint32_t)(v)); })
#define vmcs_write64(f, v) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_W64); vmcs_write_raw(f, (v)); })
#define vmcs_writenat(f, v) __extension__({ VMCS_CHECK_WIDTH(f, VMCS_WNAT); vmcs_write_raw(f, (v)); })

/* Names for messages: a VMCS field, a VM-instruction error (31.4). */
const char *vmcs_field_name(enum vmcs_field f);
const char *vmx_insn_error_name(uint32_t error);

/* Print every readable field of the current VMCS (on a failed entry). */
void vmcs_dump(void);

#endif
