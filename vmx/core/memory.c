#include "vmx/core/memory.h"

#include "arch-x86/cpu.h"
#include "arch-x86/vmx_ops.h"
#include "drivers/console.h"
#include "mm/phys.h"
#include "vmx/hw/caps.h"
#include "vmx/hw/vmx.h"

static const struct pt_format ept_format = {
	.name = "ept",
	.present = EPT_RWX,
	.table_flags = EPT_RWX, /* permissions are decided at the leaves */
};

/* An isolated VM's RAM is write-back whatever its own PAT says (IPAT,
 * SDM vol. 3C, 29.3.7.2), as KVM has it for VMs without devices that
 * bypass the caches. A guest's UC or WC view of frames the hypervisor and
 * later VMs use write-back would alias memory types (vol. 3A, 13.12.4):
 * an uncached read could see what memory holds behind the hypervisor's
 * cached writes, such as an earlier VM's data behind the zeros a frame
 * was cleared with. The machine's own OS keeps its PAT (passthrough.c). */
#define EPT_LEAF_RAM (EPT_RWX | EPT_MEMTYPE_WB | EPT_IPAT)

/* EPTP: WB paging structures, 4-level walk (25.6.11). */
#define EPTP_WB 6ull
#define EPTP_WALK4 (3ull << 3)

const struct mem_slot *slot_find(const struct vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->nslots; i++)
		if (gpa >= vm->slots[i].gpa && gpa - vm->slots[i].gpa < vm->slots[i].size)
			return &vm->slots[i];
	return NULL;
}

bool ept_create_with(struct vm *vm, uint64_t (*alloc)(void *), void (*release)(void *, uint64_t), void *ctx)
{
	vm->ept = (struct pt){
		.fmt = &ept_format,
		.max_leaf = hv_vmx.ept_max_leaf,
		.alloc = alloc,
		.release = release,
		.ctx = ctx,
	};
	if (!pt_init(&vm->ept))
		return false;
	vm->eptp = vm->ept.root | EPTP_WALK4 | EPTP_WB;
	return true;
}

/* loglevel=debug: the leaf entry that maps GPA, with its level. */
static void log_leaf(struct vm *vm, uint64_t gpa)
{
	for (unsigned level = 4; level >= 1; level--) {
		uint64_t *e = pt_walk(&vm->ept, gpa, level, false);
		if (!e)
			return;
		if (level == 1 || (*e & PT_LARGE)) {
			log_debug("VM %s: EPT leaf for guest-physical %#llx: %#018llx (level %u)", vm->cfg.name,
				  (unsigned long long)gpa, (unsigned long long)*e, level);
			return;
		}
	}
}

bool ept_create(struct vm *vm)
{
	uint64_t start = rdtsc();

	if (!ept_create_with(vm, pt_pool_alloc, pt_pool_release, NULL))
		return false;
	if (vm->cfg.ept == EPT_EAGER) {
		for (unsigned i = 0; i < vm->nslots; i++) {
			const struct mem_slot *s = &vm->slots[i];
			if (!pt_map(&vm->ept, s->gpa, s->hpa, s->size, EPT_LEAF_RAM))
				return false;
		}
	}
	if (vm->cfg.ept == EPT_EAGER && vm->nslots)
		log_leaf(vm, vm->slots[0].gpa);
	/* The root frame may have served an earlier VM: drop anything the CPU
	 * still caches for this EPTP before the first entry (29.4.3.1). */
	ept_invalidate(vm);
	vm->ept_build_ticks = rdtsc() - start;
	return true;
}

bool ept_fill(struct vm *vm, uint64_t gpa)
{
	const struct mem_slot *s = slot_find(vm, gpa);
	if (!s)
		return false;
	uint64_t page = gpa & ~0xfffull;
	/* One 4 KiB leaf: the walk straight to it, without pt_map's choice
	 * of page size. Not-present to present needs no INVEPT: the CPU does
	 * not cache entries that were not present (29.4.3.1). */
	uint64_t *e = pt_walk(&vm->ept, page, 1, true);
	if (!e)
		return false;
	*e = (s->hpa + (page - s->gpa)) | EPT_LEAF_RAM;
	vm->lazy_fills++;
	return true;
}

void ept_invalidate(struct vm *vm)
{
	const struct vmx_caps *c = &hv_vmx_caps;
	enum vmx_result r;

	if (c->ept_vpid & EPT_CAP_INVEPT_SINGLE)
		r = invept(INVEPT_SINGLE, vm->eptp);
	else
		r = invept(INVEPT_ALL, 0);
	if (r != VMX_OK)
		log_err("INVEPT failed (%s) for EPTP %#llx", r == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid",
			(unsigned long long)vm->eptp);
}

void ept_destroy(struct vm *vm)
{
	if (!vm->ept.root)
		return;
	ept_invalidate(vm);
	pt_destroy(&vm->ept);
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
		struct pt pt = { .fmt = &ept_format, .max_leaf = leaf, .alloc = pt_pool_alloc,
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
