/* Extended page tables as VT-x defines them (SDM vol. 3C, 29.3): the
 * entry format for the one page-table walker (mm/pagetable.h), the EPTP,
 * INVEPT, and the table-building selftest. No VM here: vmx/core/memory.c
 * maps a VM's slots with these. */
#include "vmx/hw/ept.h"

#include "arch-x86/cpu.h"
#include "arch-x86/vmx_ops.h"
#include "drivers/console.h"
#include "mm/phys.h"
#include "vmx/hw/caps.h"
#include "vmx/hw/vmx.h"

const struct pt_format ept_pt_format = {
	.name = "ept",
	.present = EPT_RWX,
	.table_flags = EPT_RWX, /* permissions are decided at the leaves */
};



void ept_flush(uint64_t eptp)
{
	const struct vmx_caps *c = &hv_vmx_caps;
	enum vmx_result r;

	if (c->ept_vpid & EPT_CAP_INVEPT_SINGLE)
		r = invept(INVEPT_SINGLE, eptp);
	else
		r = invept(INVEPT_ALL, 0);
	if (r != VMX_OK)
		log_err("INVEPT failed (%s) for EPTP %#llx", r == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid",
			(unsigned long long)eptp);
}

/* The layout vm_create gives a 4 GiB guest (3 GiB from 0, the rest from
 * 4 GiB up), onto a made-up 1 GiB-aligned host range: the tables are
 * built, counted and freed, never entered, so no guest RAM is needed
 * (Bochs cannot back 4 GiB of it). Each largest page size the CPU allows
 * in turn, down to 4 KiB: a host whose memory is fragmented gets the
 * smaller ones. */
void ept_build_selftest(void)
{
	static const char *const size_name[] = { "", "4 KiB", "2 MiB", "1 GiB" };
	const uint64_t host = 64ull << 30, gib = 1ull << 30;

	for (unsigned leaf = hv_vmx.ept_max_leaf; leaf >= 1; leaf--) {
		struct pt pt = { .fmt = &ept_pt_format, .max_leaf = leaf, .alloc = pt_pool_alloc,
				 .release = pt_pool_release };
		uint64_t start = rdtsc();
		bool ok = pt_init(&pt) && pt_map(&pt, 0, host, 3 * gib, EPT_LEAF_RAM) &&
			  pt_map(&pt, 4 * gib, host + 3 * gib, gib, EPT_LEAF_RAM);
		uint64_t ticks = rdtsc() - start;
		if (ok)
			log_info("selftest=ept-build: eager EPT of a 4 GiB guest with %s pages: %llu tables, %llu TSC ticks",
				 size_name[leaf], (unsigned long long)pt.tables, (unsigned long long)ticks);
		else
			log_err("selftest=ept-build: out of memory for the tables with %s pages", size_name[leaf]);
		pt_destroy(&pt);
	}
}
