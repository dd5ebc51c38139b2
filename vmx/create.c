/*
 * Making a VM from its module and taking it apart: its vCPUs, bitmaps,
 * RAM and EPT (the machine's own for a passthrough VM), its devices, and
 * its image loaded into a boot state for vCPU 0. Every frame it holds
 * comes from the frame pool and goes back there.
 */
#include "vmx/create.h"

#include "arch-x86/apic.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "vmx/core/memory.h"
#include "vmx/dev/bus.h"
#include "vmx/dev/lapic.h"
#include "vmx/dev/pc.h"
#include "vmx/exit/msr.h"
#include "vmx/hw/vmx.h"
#include "vmx/load/loader.h"
#include "vmx/load/passthrough.h"
#include "vmx/vcpu.h"

/* Guest RAM above 3 GiB is placed from 4 GiB up, leaving a hole below
 * 4 GiB for the local APIC and other device addresses, as PCs do. */
#define LOW_RAM_MAX (3 * GiB)
#define HIGH_RAM_BASE (4 * GiB)

static void free_page(uint64_t *pa)
{
	if (*pa)
		phys_free(*pa, 1);
	*pa = 0;
}

#define VCPU_PAGES ((sizeof(struct vcpu) + 4095) / 4096)

/* The VM's vCPUs and their VMCS pages, from the frame pool. Their VMCSs
 * are filled later, each on the CPU that runs it. The APIC IDs: an
 * isolated VM's are the vCPU numbers; a passthrough OS's are the real
 * ones, filled in by the CPU that takes each vCPU. */
static bool alloc_vcpus(struct vm *vm, unsigned n)
{
	vm->nvcpus = n;
	for (unsigned i = 0; i < n; i++) {
		uint64_t pa = frame_alloc(&hv_frames, VCPU_PAGES, 4096);
		if (!pa)
			return false;
		struct vcpu *v = phys_to_virt(pa);
		memset(v, 0, sizeof(*v));
		vm->vcpus[i] = v;
		v->vm = vm;
		v->index = i;
		v->apic_id = i;
		v->cause = CAUSE_RUNNING;
		v->vmcs = phys_alloc_page();
		if (!v->vmcs)
			return false;
	}
	return true;
}

void vm_free_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		if (v->vmcs) /* never set up (its VMCS is cleared when it is) */
			phys_free(v->vmcs, 1);
		/* Only now: until every vCPU left, any could still send it an
		 * IPI, which writes this page. */
		lapic_destroy(v);
		phys_free((uintptr_t)v, VCPU_PAGES); /* identity-mapped (mm/phys.h) */
		vm->vcpus[i] = NULL;
	}
}

bool vm_create(struct vm *vm, const struct machine *m, const struct vm_module *mod, const struct vm_module *initrd,
	       unsigned nvcpus, char *err, size_t errlen)
{
	vm->kernel_module = mod->start;
	vm->initrd_module = initrd ? initrd->start : 0;
	vm->io_bitmap_a = phys_alloc_page();
	vm->io_bitmap_b = phys_alloc_page();
	vm->msr_bitmap = phys_alloc_page();
	if (!alloc_vcpus(vm, nvcpus) || !vm->io_bitmap_a || !vm->io_bitmap_b || !vm->msr_bitmap) {
		fmt_snprintf(err, errlen, "out of memory for the VM's vCPUs and bitmaps");
		return false;
	}
	if (!bus_init(vm)) {
		fmt_snprintf(err, errlen, "out of memory for the VM's bus");
		return false;
	}
	if (vm->cfg.passthrough)
		vm->vcpus[0]->apic_id = this_cpu()->apic_id;
	if (!vm->cfg.passthrough && hv_vmx.apicv) {
		/* One APIC-access page for all the VM's vCPUs: the CPU knows
		 * APIC accesses by this host address (SDM vol. 3C, 30.4). */
		vm->apic_access_page = phys_alloc_page();
		if (!vm->apic_access_page) {
			fmt_snprintf(err, errlen, "out of memory for the VM's APIC-access page");
			return false;
		}
	}
	if (vm->cfg.passthrough) {
		/* Everything the hypervisor allocates for this VM is taken
		 * before its memory map is made, so all of it is hidden. */
		if (!passthrough_memory(vm, m, err, errlen))
			return false;
	} else {
		uint64_t low = vm->cfg.mem < LOW_RAM_MAX ? vm->cfg.mem : LOW_RAM_MAX;
		if (!vm_add_ram(vm, 0, low) || (vm->cfg.mem > low && !vm_add_ram(vm, HIGH_RAM_BASE, vm->cfg.mem - low))) {
			fmt_snprintf(err, errlen, "not enough memory for mem=%lluM (%llu MiB free)",
				     (unsigned long long)(vm->cfg.mem >> 20),
				     (unsigned long long)(hv_frames.free * 4096 >> 20));
			return false;
		}
		if (!ept_create(vm) || (vm->apic_access_page && !pt_map(&vm->ept, APIC_DEFAULT_BASE, vm->apic_access_page,
								      PAGE_SIZE, EPT_RWX | EPT_MEMTYPE_WB))) {
			fmt_snprintf(err, errlen, "out of memory for the VM's EPT");
			return false;
		}
		if (vm->cfg.ept == EPT_EAGER)
			log_info("VM %s: EPT built for all %llu MiB: %llu tables, %llu TSC ticks", vm->cfg.name,
				 (unsigned long long)(vm->cfg.mem >> 20), (unsigned long long)vm->ept.tables,
				 (unsigned long long)vm->ept_build_ticks);
		/* Isolated VMs: every port exits, to a device model or to the
		 * bus's "no device". */
		memset(phys_to_virt(vm->io_bitmap_a), 0xff, 4096);
		memset(phys_to_virt(vm->io_bitmap_b), 0xff, 4096);
		if (!pc_attach(vm)) {
			fmt_snprintf(err, errlen, "out of memory for the VM's devices");
			return false;
		}
	}
	msr_bitmap_init(phys_to_virt(vm->msr_bitmap), vm->cfg.passthrough);

	struct boot_state bs;
	struct blob image = { phys_to_virt(mod->start), mod->end - mod->start }, rd = { NULL, 0 };
	if (initrd)
		rd = (struct blob){ phys_to_virt(initrd->start), initrd->end - initrd->start };
	if (!loader_load(vm, image, rd, &bs, err, errlen) || !vcpu_init(vm->vcpus[0], vm, &bs, err, errlen))
		return false;
	/* The machine's OS gets every frame that was free when its map was
	 * made: one taken since is in its RAM, where it can read and write
	 * it. A hypervisor bug, refused rather than run. */
	if (vm->cfg.passthrough && hv_frames.free != vm->frames_free_at_map) {
		fmt_snprintf(err, errlen, "%lld frames were allocated after the passthrough VM's memory map was made "
			     "(a hypervisor bug): not run",
			     (long long)(vm->frames_free_at_map - hv_frames.free));
		return false;
	}
	return true;
}

/* After every vCPU has left its run loop and the APs have torn down
 * their own VMCSs (vcpu_destroy must run on the VMCS's CPU). */
void vm_destroy(struct vm *vm)
{
	if (vm->nvcpus && vm->vcpus[0])
		vcpu_destroy(vm->vcpus[0]);
	ept_destroy(vm);
	bus_destroy(vm);
	free_page(&vm->apic_access_page);
	free_page(&vm->io_bitmap_a);
	free_page(&vm->io_bitmap_b);
	free_page(&vm->msr_bitmap);
	vm_free_ram(vm);
	passthrough_release(vm);
}
