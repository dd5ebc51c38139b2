#include "vmx/ept.h"

#include "arch-x86/vmx_ops.h"
#include "drivers/console.h"
#include "mm/phys.h"
#include "vmx/caps.h"
#include "vmx/vmx.h"

static const struct pt_format ept_format = {
	.name = "ept",
	.present = EPT_RWX,
	.table_flags = EPT_RWX, /* permissions are decided at the leaves */
};

/* Guest RAM is ordinary write-back memory; IPAT is clear so the guest's
 * own PAT still applies on top (29.3.7.2). */
#define EPT_LEAF_RAM (EPT_RWX | EPT_MEMTYPE_WB)

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
		.va = pt_pool_va,
		.ctx = ctx,
	};
	if (!pt_init(&vm->ept))
		return false;
	vm->eptp = vm->ept.root | EPTP_WALK4 | EPTP_WB;
	return true;
}

bool ept_create(struct vm *vm)
{
	if (!ept_create_with(vm, pt_pool_alloc, pt_pool_release, NULL))
		return false;
	if (vm->cfg.ept == EPT_EAGER) {
		for (unsigned i = 0; i < vm->nslots; i++) {
			const struct mem_slot *s = &vm->slots[i];
			if (!pt_map(&vm->ept, s->gpa, s->hpa, s->size, EPT_LEAF_RAM))
				return false;
		}
	}
	/* The root frame may have served an earlier VM: drop anything the CPU
	 * still caches for this EPTP before the first entry (29.4.3.1). */
	ept_invalidate(vm);
	return true;
}

bool ept_fill(struct vm *vm, uint64_t gpa)
{
	const struct mem_slot *s = slot_find(vm, gpa);
	if (!s)
		return false;
	uint64_t page = gpa & ~0xfffull;
	/* Not-present to present needs no INVEPT: the CPU does not cache
	 * entries that were not present (29.4.3.1). */
	if (!pt_map(&vm->ept, page, s->hpa + (page - s->gpa), 0x1000, EPT_LEAF_RAM))
		return false;
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
