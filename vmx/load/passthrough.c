#include "vmx/load/passthrough.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/msr.h"
#include "arch-x86/percpu/smp.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/string.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/memmap.h"
#include "mm/paging.h"
#include "mm/phys.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/core/memory.h"
#include "vmx/dev/pt/ptio.h"
#include "vmx/core/guest.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

#define MAX_HV_RUNS 64
#define MAX_FW_RANGES 128
/* EPT tables for the identity map come from a reserve taken before the
 * guest's map is computed, so they are hidden from the guest too. */
#define TABLE_RESERVE_FRAMES 512

extern char __image_start[], __image_end[];

/* Runs of frames the hypervisor holds: the image and every allocated frame
 * of the pool. */
static size_t hypervisor_runs(struct mem_range *out, size_t max)
{
	size_t n = 0;
	out[n++] = (struct mem_range){ align_down((uintptr_t)__image_start, PAGE_SIZE),
				       align_up((uintptr_t)__image_end, PAGE_SIZE) };
	for (size_t r = 0; r < hv_phys.nusable; r++) {
		for (uint64_t a = hv_phys.usable[r].base; a < hv_phys.usable[r].end; a += PAGE_SIZE) {
			if (frame_is_free(&hv_frames, a))
				continue;
			if (n > 1 && out[n - 1].end == a) {
				out[n - 1].end += PAGE_SIZE;
			} else if (n < max) {
				out[n++] = (struct mem_range){ a, a + PAGE_SIZE };
			} else {
				return 0; /* too fragmented to describe */
			}
		}
	}
	return n;
}

/* Append to the e820 map, merging with an adjacent entry of the same
 * type; false when the map is full. */
static bool e820_add(struct vm *vm, uint64_t base, uint64_t end, uint32_t type)
{
	if (end <= base)
		return true;
	for (unsigned i = 0; i < vm->ne820; i++) {
		struct e820_entry *e = &vm->e820[i];
		if (e->type == type && e->addr + e->size == base) {
			e->size += end - base;
			return true;
		}
	}
	if (vm->ne820 == VM_MAX_E820)
		return false;
	vm->e820[vm->ne820++] = (struct e820_entry){ base, end - base, type };
	return true;
}

static uint64_t reserve_alloc(void *ctx)
{
	struct vm *vm = ctx;
	if (vm->table_reserve_used == vm->table_reserve_frames)
		return 0;
	uint64_t pa = vm->table_reserve + vm->table_reserve_used++ * PAGE_SIZE;
	memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

static void reserve_release(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa; /* the whole reserve goes back in passthrough_release */
}

/* Working lists for making the map, in the last frames of the VM's
 * table reserve: hidden from the OS with it and given back with it. */
struct scratch {
	struct mem_range ram[MAX_FW_RANGES];	 /* the firmware's RAM */
	struct mem_range hv[MAX_HV_RUNS];	 /* the hypervisor's memory */
	struct mem_range keep[MAX_HV_RUNS + 1 + VMS_MAX_MODULES]; /* out of the OS's RAM */
	struct mem_range guest_ram[MAX_FW_RANGES]; /* what the OS gets */
	size_t nram, nhv, nkeep, nguest;
};
#define SCRATCH_FRAMES ((sizeof(struct scratch) + PAGE_SIZE - 1) / PAGE_SIZE)

/* The table reserve (EPT tables come from it, so they are hidden too),
 * its last frames the scratch lists. */
static struct scratch *reserve_take(struct vm *vm, char *err, size_t errlen)
{
	vm->table_reserve = frame_alloc(&hv_frames, TABLE_RESERVE_FRAMES, PAGE_SIZE);
	if (!vm->table_reserve) {
		fmt_snprintf(err, errlen, "out of memory for the EPT of a passthrough VM");
		return NULL;
	}
	vm->table_reserve_frames = TABLE_RESERVE_FRAMES - SCRATCH_FRAMES;
	struct scratch *sc = phys_to_virt(vm->table_reserve + vm->table_reserve_frames * PAGE_SIZE);
	memset(sc, 0, sizeof(*sc));
	return sc;
}

/* What stays out of the OS's RAM: the hypervisor's memory (its image and
 * every frame it holds), the boot information and every other module
 * (later VMs, GRUB's RSDP copy), as reserved ranges. */
static bool hidden_ranges(struct vm *vm, const struct machine *m, struct scratch *sc, char *err, size_t errlen)
{
	sc->nhv = hypervisor_runs(sc->hv, MAX_HV_RUNS);
	vm->frames_free_at_map = hv_frames.free; /* vm_create checks that no frame was taken after */
	if (!sc->nhv) {
		fmt_snprintf(err, errlen, "the hypervisor's memory is too fragmented to hide from a passthrough VM");
		return false;
	}
	for (size_t i = 0; i < sc->nhv; i++)
		sc->keep[sc->nkeep++] = sc->hv[i];
	sc->keep[sc->nkeep++] =
		(struct mem_range){ align_down(m->boot_info.base, PAGE_SIZE), align_up(m->boot_info.end, PAGE_SIZE) };
	for (unsigned i = 0; i < m->nmods; i++)
		if (m->mods[i].start != vm->kernel_module && m->mods[i].start != vm->initrd_module)
			sc->keep[sc->nkeep++] = (struct mem_range){ align_down(m->mods[i].start, PAGE_SIZE),
								    align_up(m->mods[i].end, PAGE_SIZE) };
	return true;
}

/* The OS's RAM slots and e820: its RAM, then the firmware's other ranges
 * (ACPI, NVS, reserved) as they are, and what was kept out of RAM as
 * reserved, so the OS puts no BAR there; sorted by address. */
static bool guest_map(struct vm *vm, const struct mem_typed *fw, size_t nfw, struct scratch *sc, char *err,
		      size_t errlen)
{
	for (size_t i = 0; i < nfw; i++)
		if (fw[i].type == E820_RAM)
			sc->ram[sc->nram++] = (struct mem_range){ fw[i].base, fw[i].end };
	sc->nguest = memmap_usable(sc->ram, sc->nram, sc->keep, sc->nkeep, sc->guest_ram, MAX_FW_RANGES);
	vm->ne820 = 0;
	vm->nslots = 0;
	vm->ram_borrowed = true;
	bool fits = sc->nguest < VM_MAX_SLOTS;
	for (size_t i = 0; i < sc->nguest && fits; i++) {
		const struct mem_range *g = &sc->guest_ram[i];
		fits &= e820_add(vm, g->base, g->end, E820_RAM);
		vm->slots[vm->nslots++] = (struct mem_slot){ g->base, g->end - g->base, g->base };
	}
	for (size_t i = 0; i < nfw; i++)
		if (fw[i].type != E820_RAM)
			fits &= e820_add(vm, fw[i].base, fw[i].end, fw[i].type);
	for (size_t i = 0; i < sc->nkeep; i++)
		fits &= e820_add(vm, sc->keep[i].base, sc->keep[i].end, E820_RESERVED);
	if (!fits) {
		fmt_snprintf(err, errlen, "the machine's memory map needs more than %u entries for a passthrough VM",
			     VM_MAX_E820);
		return false;
	}
	for (unsigned i = 1; i < vm->ne820; i++) { /* sort by address */
		struct e820_entry t = vm->e820[i];
		unsigned j = i;
		while (j > 0 && vm->e820[j - 1].addr > t.addr) {
			vm->e820[j] = vm->e820[j - 1];
			j--;
		}
		vm->e820[j] = t;
	}
	vm->cfg.mem = memmap_total(sc->guest_ram, sc->nguest);
	return true;
}

/* Where the identity map ends: device memory up to 512 GiB (or the
 * physical-address width) is mapped uncached, for 64-bit PCI BARs the
 * firmware map does not list; without 1 GiB EPT pages, up to the top of
 * the map. */
static uint64_t map_top(const struct mem_typed *fw, size_t nfw)
{
	uint64_t top = 4 * GiB;
	for (size_t i = 0; i < nfw; i++)
		if (fw[i].end > top)
			top = fw[i].end;
	unsigned maxphy = cpuid(0x80000008, 0).eax & 0xff;
	uint64_t limit = maxphy >= 39 ? 512 * GiB : 1ull << maxphy;
	if (hv_vmx.ept_max_leaf == 3 && top < limit)
		top = limit;
	return align_up(top, GiB);
}

/* Map [BASE, END) of guest-physical to itself, page-rounded, with FLAGS. */
static bool identity(struct vm *vm, uint64_t base, uint64_t end, uint64_t flags)
{
	uint64_t b = align_down(base, PAGE_SIZE);
	return pt_map(&vm->ept, b, b, align_up(end, PAGE_SIZE) - b, flags);
}

/* EPT: everything uncached, then RAM/ACPI/NVS write-back, then the
 * hypervisor's memory and the later VMs' modules removed, the boot
 * information and the device registers written through the hypervisor
 * read-only. */
static bool guest_ept(struct vm *vm, const struct machine *m, const struct scratch *sc, uint64_t top)
{
	bool ok = pt_map(&vm->ept, 0, 0, top, EPT_RWX | EPT_MEMTYPE_UC);
	for (unsigned i = 0; ok && i < vm->ne820; i++) {
		const struct e820_entry *e = &vm->e820[i];
		if (e->type == E820_RAM || e->type == E820_ACPI || e->type == E820_NVS)
			ok = identity(vm, e->addr, e->addr + e->size, EPT_RWX | EPT_MEMTYPE_WB);
	}
	for (size_t i = 0; ok && i < sc->nhv; i++)
		ok = pt_unmap(&vm->ept, sc->hv[i].base, sc->hv[i].end - sc->hv[i].base);
	/* The modules of the VMs after this one: out of its reach. The boot
	 * information: read-only, for GRUB's copy of the RSDP in it, which is
	 * the OS's (boot_params.acpi_rsdp_addr); the hypervisor itself reads
	 * its own copy (boot/main.c). */
	for (unsigned i = 0; ok && i < m->nmods; i++)
		if (m->mods[i].start != vm->kernel_module && m->mods[i].start != vm->initrd_module)
			ok = pt_unmap(&vm->ept, align_down(m->mods[i].start, PAGE_SIZE),
				      align_up(m->mods[i].end, PAGE_SIZE) - align_down(m->mods[i].start, PAGE_SIZE));
	if (ok && m->boot_info.end > m->boot_info.base)
		ok = identity(vm, m->boot_info.base, m->boot_info.end, EPT_READ | EPT_MEMTYPE_WB);
	/* Device registers whose writes go through the hypervisor (the local
	 * APIC, the pages of the power registers in memory: vmx/dev/pt/
	 * ptio.c): read directly, read-only in EPT. */
	for (unsigned i = 0; ok && i < vm->bus.nmmio; i++) {
		const struct mmio_region *r = &vm->bus.mmio[i];
		if (r->writes_only)
			ok = identity(vm, r->base, r->base + r->len, EPT_READ | EPT_MEMTYPE_UC);
	}
	return ok;
}

bool passthrough_memory(struct vm *vm, const struct machine *m, char *err, size_t errlen)
{
	size_t nfw = m->nfw < MAX_FW_RANGES ? m->nfw : MAX_FW_RANGES;
	struct scratch *sc = reserve_take(vm, err, errlen);

	if (!sc)
		return false;
	/* Its watched registers on its bus, whose state is the hypervisor's
	 * (taken before the map is made, as every frame for this VM is). */
	if (!ptio_attach(vm)) {
		fmt_snprintf(err, errlen, "no room on the passthrough VM's bus for its watched registers");
		return false;
	}
	if (!hidden_ranges(vm, m, sc, err, errlen) || !guest_map(vm, m->fw, nfw, sc, err, errlen))
		return false;
	uint64_t top = map_top(m->fw, nfw);
	vm->ept = (struct pt){ .max_leaf = 0 };
	if (!ept_create_with(vm, reserve_alloc, reserve_release, vm)) {
		fmt_snprintf(err, errlen, "out of memory for the EPT of a passthrough VM");
		return false;
	}
	if (!guest_ept(vm, m, sc, top)) {
		fmt_snprintf(err, errlen, "the passthrough VM's EPT needs more than %u tables",
			     (unsigned)vm->table_reserve_frames);
		return false;
	}
	ept_invalidate(vm);
	log_info("VM %s: passthrough of %llu MiB RAM in %zu ranges; hypervisor memory hidden: %zu ranges, EPT up to "
		 "%#llx in %llu tables",
		 vm->cfg.name, (unsigned long long)(vm->cfg.mem >> 20), sc->nguest, sc->nhv, (unsigned long long)top,
		 (unsigned long long)vm->ept.tables);
	return true;
}

void passthrough_cpus(struct vm *vm)
{
	uint32_t ids[VM_MAX_VCPUS];
	char list[VM_MAX_VCPUS * 4 + 1] = "";
	int n = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		ids[i] = vm->vcpus[i]->apic_id;
		if (n < (int)sizeof(list) - 12) /* room for one more id, or the list stops */
			n += fmt_snprintf(list + n, sizeof(list) - (size_t)n, " %u", ids[i]);
	}
	const struct acpi_info *a = &hv_acpi;
	unsigned disabled = 0;
	if (a->have_madt && vm->nvcpus < a->ncpus)
		disabled = acpi_madt_restrict(phys_to_virt(a->madt_addr), ids, vm->nvcpus);
	const char *s = vm->nvcpus > 1 ? "s" : "";
	log_info("VM %s: %u CPU%s (APIC id%s%s)%s%s", vm->cfg.name, vm->nvcpus, s, s, list,
		 vm->nvcpus > 1 ? ": the first boots the OS, the others wait for SIPI in VMX non-root operation" : "",
		 disabled ? "; the MADT's other CPUs are marked disabled" : "");
}

void passthrough_release(struct vm *vm)
{
	if (vm->table_reserve)
		phys_free(vm->table_reserve, TABLE_RESERVE_FRAMES); /* the tables and the scratch lists */
	vm->table_reserve = 0;
}
