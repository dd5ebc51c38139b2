#include "vmx/exit/msr.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "vmx/dev/bus.h"
#include "vmx/dev/pt/ptpolicy.h"
#include "vmx/hw/vmcs.h"


#define EFER_SCE (1ull << 0)

/* The bitmap's four 1 KiB quarters: read low (0-0x1fff), read high
 * (0xc0000000-0xc0001fff), write low, write high (25.6.9). */
static void pass(uint8_t *bitmap, uint32_t msr, bool read, bool write)
{
	uint32_t off = msr & 0x1fff, base = msr >= 0xc0000000 ? 1024 : 0;
	if (read)
		bitmap[base + off / 8] &= (uint8_t) ~(1u << (off % 8));
	if (write)
		bitmap[2048 + base + off / 8] &= (uint8_t) ~(1u << (off % 8));
}

void msr_bitmap_init(uint8_t *bitmap, bool passthrough)
{
	memset(bitmap, 0xff, 4096);
	/* switched by the VMCS guest-state area on every entry and exit */
	pass(bitmap, MSR_FS_BASE, true, true);
	pass(bitmap, MSR_GS_BASE, true, true);
	pass(bitmap, MSR_SYSENTER_CS, true, true);
	pass(bitmap, MSR_SYSENTER_ESP, true, true);
	pass(bitmap, MSR_SYSENTER_EIP, true, true);
	/* not used by the hypervisor; reset between VMs */
	pass(bitmap, MSR_KERNEL_GS_BASE, true, true);
	pass(bitmap, MSR_STAR, true, true);
	pass(bitmap, MSR_LSTAR, true, true);
	pass(bitmap, MSR_CSTAR, true, true);
	pass(bitmap, MSR_SFMASK, true, true);
	pass(bitmap, MSR_TSC_AUX, true, true);
	/* reads only: the guest's own PAT is loaded while it runs */
	pass(bitmap, MSR_TSC, true, false);
	pass(bitmap, MSR_IA32_PAT, true, false);
	if (!passthrough)
		return;
	static const struct {
		uint32_t first, last;
		bool write;
	} owned[] = {
		{ 0x017, 0x017, false },  /* IA32_PLATFORM_ID */
		{ 0x01b, 0x01b, false },  /* IA32_APIC_BASE (writes checked: the base stays) */
		{ 0x03b, 0x03b, false },  /* IA32_TSC_ADJUST (writes would move the host TSC) */
		{ 0x048, 0x049, true },	  /* IA32_SPEC_CTRL, IA32_PRED_CMD */
		{ 0x08b, 0x08b, true },	  /* IA32_BIOS_SIGN_ID (microcode revision) */
		{ 0x0ce, 0x0ce, false },  /* MSR_PLATFORM_INFO */
		{ 0x0e7, 0x0e8, false },  /* IA32_MPERF, IA32_APERF */
		{ 0x0fe, 0x0fe, false },  /* IA32_MTRRCAP */
		{ 0x10a, 0x10b, true },	  /* IA32_ARCH_CAPABILITIES, IA32_FLUSH_CMD */
		{ 0x179, 0x17a, false },  /* IA32_MCG_CAP, IA32_MCG_STATUS */
		{ 0x19b, 0x19b, true },	  /* IA32_THERM_INTERRUPT */
		{ 0x19c, 0x1a2, false },  /* thermal status, IA32_MISC_ENABLE, TEMPERATURE_TARGET */
		{ 0x1b0, 0x1b2, true },	  /* energy/performance bias, package thermal status and interrupt */
		{ 0x200, 0x2ff, true },	  /* MTRRs: the machine's OS sets its memory types */
		{ 0x400, 0x47f, false },  /* machine-check banks */
		{ 0x6e0, 0x6e0, true },	  /* IA32_TSC_DEADLINE */
		{ 0x800, 0x8ff, true },	  /* x2APIC registers */
	};
	for (unsigned i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		for (uint32_t m = owned[i].first; m <= owned[i].last; m++)
			pass(bitmap, m, true, owned[i].write);
	/* The x2APIC ICR exits on writes: INIT/SIPI are checked. */
	uint32_t icr = 0x830 & 0x1fff;
	bitmap[2048 + icr / 8] |= (uint8_t)(1u << (icr % 8));
}

void msr_reset_unswitched(void)
{
	static const uint32_t msrs[] = { MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_TSC_AUX };
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		wrmsr(msrs[i], 0);
}

/* Memory types a PAT entry may hold: UC, WC, WT, WP, WB, UC- (SDM vol. 3A,
 * 13.12.2); 2 and 3 are reserved. */
static bool pat_valid(uint64_t pat)
{
	for (int i = 0; i < 8; i++) {
		uint8_t t = (pat >> (8 * i)) & 0xff;
		if (t > 7 || t == 2 || t == 3)
			return false;
	}
	return true;
}

bool msr_read(struct vcpu *v, uint32_t msr, uint64_t *value)
{
	switch (msr) {
	case MSR_EFER:
		*value = vmcs_read64(GUEST_IA32_EFER);
		return true;
	case MSR_IA32_PAT:
		*value = vmcs_read64(GUEST_IA32_PAT);
		return true;
	case MSR_TSC:
		*value = rdtsc() + vmcs_read64(TSC_OFFSET);
		return true;
	case MSR_IA32_FEATURE_CONTROL:
		*value = FEATURE_CONTROL_LOCK; /* locked, VMX off in and outside SMX */
		return true;
	default:
		break;
	}
	/* A device's (the local APIC's), then what a VM without one reads. */
	const struct msr_range *r = bus_find_msr(v->vm, msr);
	if (r && r->read)
		return r->read(v, r->dev, msr, value);
	if (msr == MSR_IA32_APIC_BASE) {
		*value = APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP; /* xAPIC enabled, BSP */
		return true;
	}
	return false; /* IA32_VMX_* and every MSR not named here */
}

bool msr_write(struct vcpu *v, uint32_t msr, uint64_t value)
{
	switch (msr) {
	case MSR_EFER: {
		/* SCE, LME, NXE may be written; LMA is the CPU's to set
		 * (SDM vol. 3A, 2.2.1); changing LME with paging on is #GP. */
		uint64_t old = vmcs_read64(GUEST_IA32_EFER);
		if (value & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
			return false;
		if (((value ^ old) & EFER_LME) && (vmcs_readnat(GUEST_CR0) & CR0_PG))
			return false;
		vmcs_write64(GUEST_IA32_EFER, (value & ~EFER_LMA) | (old & EFER_LMA));
		return true;
	}
	case MSR_IA32_PAT:
		if (!pat_valid(value))
			return false;
		vmcs_write64(GUEST_IA32_PAT, value);
		return true;
	case MSR_TSC:
		vmcs_write64(TSC_OFFSET, value - rdtsc());
		return true;
	default:
		break;
	}
	/* A device's (the local APIC's, the machine's OS's APIC filter),
	 * then what a VM without one may write. */
	const struct msr_range *r = bus_find_msr(v->vm, msr);
	if (r && r->write)
		return r->write(v, r->dev, msr, value);
	/* The xAPIC stays where it is; the BSP and enable bits may be
	 * rewritten as they are. */
	if (msr == MSR_IA32_APIC_BASE)
		return (value & ~0xfffull) == APIC_DEFAULT_BASE;
	return false; /* FEATURE_CONTROL (locked), IA32_VMX_*, unknown */
}
