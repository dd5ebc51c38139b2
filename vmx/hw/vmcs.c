#include "vmx/hw/vmcs.h"

#include "drivers/console.h"

#ifdef HV_COUNT_VMCS
uint64_t vmcs_reads, vmcs_writes;
#endif


static const struct {
	enum vmcs_field field;
	const char *name;
} field_names[] = {
#define VMCS_NAME(name, enc) { name, #name },
	VMCS_FIELDS(VMCS_NAME)
#undef VMCS_NAME
};

const char *vmcs_field_name(enum vmcs_field f)
{
	for (unsigned i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
		if (field_names[i].field == f)
			return field_names[i].name;
	return "?";
}

/* VM-instruction error numbers (SDM vol. 3C, 31.4). */
const char *vmx_insn_error_name(uint32_t error)
{
	static const char *const names[] = {
		[1] = "VMCALL executed in VMX root operation",
		[2] = "VMCLEAR with invalid physical address",
		[3] = "VMCLEAR with VMXON pointer",
		[4] = "VMLAUNCH with non-clear VMCS",
		[5] = "VMRESUME with non-launched VMCS",
		[6] = "VMRESUME after VMXOFF",
		[7] = "VM entry with invalid control field(s)",
		[8] = "VM entry with invalid host-state field(s)",
		[9] = "VMPTRLD with invalid physical address",
		[10] = "VMPTRLD with VMXON pointer",
		[11] = "VMPTRLD with incorrect VMCS revision identifier",
		[12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
		[13] = "VMWRITE to read-only VMCS component",
		[15] = "VMXON executed in VMX root operation",
		[16] = "VM entry with invalid executive-VMCS pointer",
		[17] = "VM entry with non-launched executive VMCS",
		[18] = "VM entry with executive-VMCS pointer not VMXON pointer",
		[19] = "VMCALL with non-clear VMCS",
		[20] = "VMCALL with invalid VM-exit control fields",
		[22] = "VMCALL with incorrect MSEG revision identifier",
		[23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
		[24] = "VMCALL with invalid SMM-monitor features",
		[25] = "VM entry with invalid VM-execution control fields in executive VMCS",
		[26] = "VM entry with events blocked by MOV SS",
		[28] = "invalid operand to INVEPT/INVVPID",
	};
	if (error < sizeof(names) / sizeof(names[0]) && names[error])
		return names[error];
	return "unknown VM-instruction error";
}

/* After the JBE the flags are gone; the failure kind is found again: with
 * no current VMCS even reading the error field fails VMfailInvalid. */
void vmcs_fail(const char *op, enum vmcs_field field)
{
	percpu_write8(vmcs_failed, 1);
	uint64_t e = 0;
	if (vmread(VM_INSTRUCTION_ERROR, &e) != VMX_OK) {
		log_err("%s %s (%#x) failed: VMfailInvalid (no current VMCS)", op, vmcs_field_name(field), field);
		return;
	}
	log_err("%s %s (%#x) failed: VMfailValid, error %llu: %s", op, vmcs_field_name(field), field,
		(unsigned long long)e, vmx_insn_error_name((uint32_t)e));
}

void vmcs_dump(void)
{
	log_err("VMCS dump:");
	for (unsigned i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
		uint64_t v;
		/* Raw VMREAD: a field this CPU does not have is skipped quietly. */
		if (vmread(field_names[i].field, &v) == VMX_OK)
			log_err("  %-30s %#llx", field_names[i].name, (unsigned long long)v);
	}
}
