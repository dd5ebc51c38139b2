/*
 * Raw VMX instructions, each returning how it ended (SDM vol. 3C, 31.2
 * "Conventions"): VMsucceed, VMfailInvalid (CF=1: no current VMCS) or
 * VMfailValid (ZF=1: the reason is in the VM-instruction error field).
 * Policy (what to do on failure) lives in vmx/.
 */
#ifndef ARCH_X86_VMX_OPS_H
#define ARCH_X86_VMX_OPS_H

#include <stdbool.h>
#include <stdint.h>

enum vmx_result {
	VMX_OK = 0,
	VMX_FAIL_VALID = 1,   /* see VM_INSTRUCTION_ERROR */
	VMX_FAIL_INVALID = 2, /* no current VMCS, or VMXON's operand was bad */
};

static inline enum vmx_result vmx_result(bool cf, bool zf)
{
	return cf ? VMX_FAIL_INVALID : zf ? VMX_FAIL_VALID : VMX_OK;
}

static inline enum vmx_result vmxon(uint64_t region_pa)
{
	bool cf, zf;
	__asm__ volatile("vmxon %[pa]" : "=@ccc"(cf), "=@ccz"(zf) : [pa] "m"(region_pa) : "memory");
	return vmx_result(cf, zf);
}

static inline enum vmx_result vmxoff(void)
{
	bool cf, zf;
	__asm__ volatile("vmxoff" : "=@ccc"(cf), "=@ccz"(zf) : : "memory");
	return vmx_result(cf, zf);
}

static inline enum vmx_result vmclear(uint64_t vmcs_pa)
{
	bool cf, zf;
	__asm__ volatile("vmclear %[pa]" : "=@ccc"(cf), "=@ccz"(zf) : [pa] "m"(vmcs_pa) : "memory");
	return vmx_result(cf, zf);
}

static inline enum vmx_result vmptrld(uint64_t vmcs_pa)
{
	bool cf, zf;
	__asm__ volatile("vmptrld %[pa]" : "=@ccc"(cf), "=@ccz"(zf) : [pa] "m"(vmcs_pa) : "memory");
	return vmx_result(cf, zf);
}

static inline enum vmx_result vmread(uint64_t field, uint64_t *value)
{
	bool cf, zf;
	__asm__ volatile("vmread %[field], %[value]"
			 : "=@ccc"(cf), "=@ccz"(zf), [value] "=rm"(*value)
			 : [field] "r"(field));
	return vmx_result(cf, zf);
}

static inline enum vmx_result vmwrite(uint64_t field, uint64_t value)
{
	bool cf, zf;
	__asm__ volatile("vmwrite %[value], %[field]"
			 : "=@ccc"(cf), "=@ccz"(zf)
			 : [value] "rm"(value), [field] "r"(field)
			 : "memory");
	return vmx_result(cf, zf);
}

/* INVEPT and INVVPID types (SDM vol. 3C, 31.3). */
enum { INVEPT_SINGLE = 1, INVEPT_ALL = 2 };
enum { INVVPID_ADDRESS = 0, INVVPID_SINGLE = 1, INVVPID_ALL = 2 };

static inline enum vmx_result invept(uint64_t type, uint64_t eptp)
{
	struct {
		uint64_t eptp, reserved;
	} desc = { eptp, 0 };
	bool cf, zf;
	__asm__ volatile("invept %[desc], %[type]"
			 : "=@ccc"(cf), "=@ccz"(zf)
			 : [desc] "m"(desc), [type] "r"(type)
			 : "memory");
	return vmx_result(cf, zf);
}

static inline enum vmx_result invvpid(uint64_t type, uint16_t vpid, uint64_t addr)
{
	struct {
		uint64_t vpid, addr;
	} desc = { vpid, addr };
	bool cf, zf;
	__asm__ volatile("invvpid %[desc], %[type]"
			 : "=@ccc"(cf), "=@ccz"(zf)
			 : [desc] "m"(desc), [type] "r"(type)
			 : "memory");
	return vmx_result(cf, zf);
}

#endif
