#include "vmx/loader.h"

#include "arch-x86/cpu.h"
#include "arch-x86/string.h"
#include "drivers/format.h"
#include "vmx/ept.h"

#define GiB (1ull << 30)
#define REAL_DEFAULT_LOAD 0x7c00
#define FLAT_DEFAULT_LOAD 0x100000
#define PTE_P_RW 0x3ull
#define PTE_PS (1ull << 7)

bool guest_phys_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	const uint8_t *s = src;

	while (len) {
		const struct mem_slot *slot = slot_find(vm, gpa);
		if (!slot)
			return false;
		uint64_t n = slot->size - (gpa - slot->gpa);
		if (n > len)
			n = len;
		memcpy(gpa_to_hva(vm, gpa, n), s, n);
		s += n;
		gpa += n;
		len -= n;
	}
	return true;
}

/* Highest guest-physical address + 1 of RAM below 4 GiB, and of all RAM. */
static uint64_t ram_top_below_4g(const struct vm *vm)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < vm->nslots; i++)
		if (vm->slots[i].gpa < 4 * GiB && vm->slots[i].gpa + vm->slots[i].size > top)
			top = vm->slots[i].gpa + vm->slots[i].size;
	return top;
}

static uint64_t ram_top(const struct vm *vm)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < vm->nslots; i++)
		if (vm->slots[i].gpa + vm->slots[i].size > top)
			top = vm->slots[i].gpa + vm->slots[i].size;
	return top;
}

/* Identity map for long64 guests (layout in loader.h). */
static bool build_long64_tables(struct vm *vm)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 };
	bool gb = cpuid(0x80000001, 0).edx & (1u << 26);

	pml4[0] = (LONG64_TABLES_BASE + 0x1000) | PTE_P_RW;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (LONG64_TABLES_BASE + 0x2000 + i * 0x1000) | PTE_P_RW;
	for (unsigned i = 4; gb && i < 512; i++)
		pdpt[i] = ((uint64_t)i * GiB) | PTE_P_RW | PTE_PS;
	if (!guest_phys_write(vm, LONG64_TABLES_BASE, pml4, sizeof(pml4)) ||
	    !guest_phys_write(vm, LONG64_TABLES_BASE + 0x1000, pdpt, sizeof(pdpt)))
		return false;
	for (unsigned d = 0; d < 4; d++) {
		uint64_t pd[512];
		for (unsigned i = 0; i < 512; i++)
			pd[i] = ((uint64_t)d * GiB + (uint64_t)i * 0x200000) | PTE_P_RW | PTE_PS;
		if (!guest_phys_write(vm, LONG64_TABLES_BASE + 0x2000 + d * 0x1000, pd, sizeof(pd)))
			return false;
	}
	return true;
}

static bool load_flat(struct vm *vm, const void *image, uint64_t len, struct boot_state *bs, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	uint64_t load = c->load_set ? c->load : c->mode == MODE_REAL ? REAL_DEFAULT_LOAD : FLAT_DEFAULT_LOAD;
	uint64_t entry = c->entry_set ? c->entry : load;

	if (load + len < load || !slot_find(vm, load) || (len && !slot_find(vm, load + len - 1))) {
		fmt_snprintf(err, errlen, "image of %llu bytes at load=%#llx does not fit in the VM's RAM",
			     (unsigned long long)len, (unsigned long long)load);
		return false;
	}
	if (c->mode == MODE_REAL && entry >= 0x100000) {
		fmt_snprintf(err, errlen, "entry=%#llx is not reachable in real mode (below 1 MiB)",
			     (unsigned long long)entry);
		return false;
	}
	if (c->mode == MODE_PROT32 && entry > 0xffffffffull) {
		fmt_snprintf(err, errlen, "entry=%#llx is above 4 GiB in prot32 mode", (unsigned long long)entry);
		return false;
	}
	if (c->mode == MODE_LONG64 && load < LONG64_MIN_LOAD) {
		fmt_snprintf(err, errlen, "long64 images load at %#x or above (page tables at %#x-%#x), not %#llx",
			     LONG64_MIN_LOAD, LONG64_TABLES_BASE, LONG64_TABLES_END - 1, (unsigned long long)load);
		return false;
	}
	guest_phys_write(vm, load, image, len);

	memset(bs, 0, sizeof(*bs));
	bs->mode = c->mode;
	switch (c->mode) {
	case MODE_REAL:
		/* CS:IP with IP < 64 KiB: 0000:7C00 for a boot sector. */
		bs->cs = (uint16_t)((entry >> 4) & 0xf000);
		bs->rip = entry - ((uint64_t)bs->cs << 4);
		bs->rsp = REAL_DEFAULT_LOAD;
		break;
	case MODE_PROT32:
		bs->rip = entry;
		bs->rsp = ram_top_below_4g(vm);
		break;
	case MODE_LONG64:
		if (!build_long64_tables(vm)) {
			fmt_snprintf(err, errlen, "cannot build the long64 page tables");
			return false;
		}
		bs->rip = entry;
		bs->rsp = ram_top(vm);
		bs->cr3 = LONG64_TABLES_BASE;
		break;
	}
	return true;
}

bool loader_load(struct vm *vm, const void *image, uint64_t len, struct boot_state *bs, char *err, size_t errlen)
{
	/* Only flat binaries so far: every image is one. */
	return load_flat(vm, image, len, bs, err, errlen);
}
