#include "vmx/load/passthrough.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/msr.h"
#include "arch-x86/smp.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/string.h"
#include "boot/mbi.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/memmap.h"
#include "mm/paging.h"
#include "mm/phys.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/core/memory.h"
#include "vmx/dev/pmtrap.h"
#include "vmx/dev/ptpolicy.h"
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
		struct vm_e820 *e = &vm->e820[i];
		if (e->type == type && e->addr + e->size == base) {
			e->size += end - base;
			return true;
		}
	}
	if (vm->ne820 == VM_MAX_E820)
		return false;
	vm->e820[vm->ne820++] = (struct vm_e820){ base, end - base, type };
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

/* The registers the OS could sleep, reset, or move them through
 * (vmx/dev/pmtrap.h), for the one passthrough VM a boot runs; read-only while
 * it runs but for the keyboard controller's pending command (port_lock). */
static struct pm_regs pm;
/* Pages of those registers in memory (and their ECAM configuration
 * pages): read-only in the EPT, writes decoded (passthrough_trapped_write).
 * At most 4 registers in memory, and 4 functions' configuration (00:00.0,
 * 00:01.3, 00:1f.0, 00:1f.2) in each of 2 ECAM windows. */
#define MAX_TRAP_PAGES 12
static uint64_t trap_page[MAX_TRAP_PAGES];
static unsigned ntrap_pages;
/* Where ECAM reaches bus 0's configuration: the MCFG's window, and the
 * one PCIEXBAR turns on if that is another (or there is no MCFG). */
#define MAX_ECAM 2
static uint64_t ecam[MAX_ECAM];
static unsigned necam;
/* CONFIG_ADDRESS as the OS last wrote it. The real one is written by the
 * hypervisor, under pci_lock, right before each data access it lets
 * through, so that no vCPU can change it between the check and the
 * access. */
static uint32_t pci_cf8;
static volatile int pci_lock;
/* The other trapped port writes: decided, done and tracked (pm_track: the
 * keyboard controller's pending command) in one step. */
static volatile int port_lock;
static unsigned refusals_said; /* a bit per pm_kind, for one warning each */

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

/* 32 bits of configuration space at ECAM offset CFG, by mechanism #1. */
static uint32_t cfg_read(void *ctx, uint64_t cfg)
{
	(void)ctx;
	outl(PCI_CONFIG_ADDRESS, 0x80000000u | (uint32_t)((cfg >> 20) & 0xff) << 16 |
					 (uint32_t)((cfg >> 15) & 0x1f) << 11 | (uint32_t)((cfg >> 12) & 7) << 8 |
					 (uint32_t)(cfg & 0xfc));
	return inl(PCI_CONFIG_DATA);
}

/* False when there is no room: the page would not be watched. */
static bool trap_page_add(uint64_t pa)
{
	pa = align_down(pa, PAGE_SIZE);
	for (unsigned i = 0; i < ntrap_pages; i++)
		if (trap_page[i] == pa)
			return true;
	if (ntrap_pages == MAX_TRAP_PAGES)
		return false;
	trap_page[ntrap_pages++] = pa;
	return true;
}

/* ECAM, from the MCFG, reaches bus 0's configuration space. */
static bool ecam_reaches_bus0(void)
{
	return hv_acpi.have_mcfg && hv_acpi.mcfg_bus_start == 0;
}

/* The registers to watch, from the FADT and the chipset's configuration
 * space (read here, before the OS runs), and the pages they are in. */
static void pm_setup(const char *name)
{
	const struct acpi_info *a = &hv_acpi;
	pm_regs_from_acpi(&pm, a->rsdp_addr ? a : NULL);
	pci_cf8 = inl(PCI_CONFIG_ADDRESS);
	unsigned guards = 0;
	if (a->have_fadt && a->pm1a_cnt.space == ACPI_SPACE_IO && a->pm1a_cnt.address)
		guards = pm_add_chipset_guards(&pm, (uint16_t)a->pm1a_cnt.address, cfg_read, NULL);
	uint64_t pciexbar = 0;
	if (pm_add_ecam_guard(&pm, cfg_read, NULL, &pciexbar))
		guards += 2;
	outl(PCI_CONFIG_ADDRESS, pci_cf8);
	necam = 0;
	if (ecam_reaches_bus0())
		ecam[necam++] = a->mcfg_base;
	if (pciexbar && !(necam && ecam[0] == pciexbar))
		ecam[necam++] = pciexbar;
	refusals_said = 0;
	ntrap_pages = 0;
	bool all = true;
	for (unsigned i = 0; i < pm.n; i++) {
		if (pm.reg[i].space == PM_MEM)
			all &= trap_page_add(pm.reg[i].addr);
		for (unsigned w = 0; pm.reg[i].space == PM_PCI && w < necam; w++)
			all &= trap_page_add(ecam[w] + pm.reg[i].addr);
	}
	if (!all)
		log_err("VM %s: more than %u pages of power registers and their configuration: the rest stay writable",
			name, MAX_TRAP_PAGES);
	log_info("VM %s: %u power and reset registers watched, %u chipset registers that place them kept, %u pages "
		 "of them read-only (%u ECAM window%s)",
		 name, pm.n - guards, guards, ntrap_pages, necam, necam == 1 ? "" : "s");
}

bool passthrough_memory(struct vm *vm, const struct mbi *m, char *err, size_t errlen)
{
	static struct mem_typed fw[MAX_FW_RANGES];
	static struct mem_range ram[MAX_FW_RANGES], hv[MAX_HV_RUNS], guest_ram[MAX_FW_RANGES];
	size_t nfw = mbi_typed_map(m, fw, MAX_FW_RANGES), nram = 0;

	vm->table_reserve = frame_alloc(&hv_frames, TABLE_RESERVE_FRAMES, PAGE_SIZE);
	if (!vm->table_reserve) {
		fmt_snprintf(err, errlen, "out of memory for the EPT of a passthrough VM");
		return false;
	}
	vm->table_reserve_frames = TABLE_RESERVE_FRAMES;
	size_t nhv = hypervisor_runs(hv, MAX_HV_RUNS);
	if (!nhv) {
		fmt_snprintf(err, errlen, "the hypervisor's memory is too fragmented to hide from a passthrough VM");
		return false;
	}
	/* The boot information and every other module stay as they are for
	 * the hypervisor (later VMs, GRUB's RSDP copy): reserved, not RAM. */
	static struct mem_range keep[MAX_HV_RUNS + 1 + MBI_MAX_MODULES];
	size_t nkeep = 0;
	for (size_t i = 0; i < nhv; i++)
		keep[nkeep++] = hv[i];
	keep[nkeep++] = (struct mem_range){ align_down(m->addr, PAGE_SIZE), align_up(m->addr + m->size, PAGE_SIZE) };
	for (unsigned i = 0; i < m->nmods; i++)
		if (m->mods[i].start != vm->kernel_module && m->mods[i].start != vm->initrd_module)
			keep[nkeep++] = (struct mem_range){ align_down(m->mods[i].start, PAGE_SIZE),
							    align_up(m->mods[i].end, PAGE_SIZE) };
	/* Device memory up to 512 GiB (or the physical-address width) is
	 * mapped uncached, for 64-bit PCI BARs the firmware map does not
	 * list; without 1 GiB EPT pages, up to the top of the map. */
	uint64_t top = 4 * GiB;
	for (size_t i = 0; i < nfw; i++) {
		if (fw[i].type == 1)
			ram[nram++] = (struct mem_range){ fw[i].base, fw[i].end };
		if (fw[i].end > top)
			top = fw[i].end;
	}
	unsigned maxphy = cpuid(0x80000008, 0).eax & 0xff;
	uint64_t limit = maxphy >= 39 ? 512 * GiB : 1ull << maxphy;
	if (hv_vmx.ept_max_leaf == 3 && top < limit)
		top = limit;
	top = align_up(top, GiB);
	size_t ng = memmap_usable(ram, nram, keep, nkeep, guest_ram, MAX_FW_RANGES);

	/* e820: the guest's RAM, then the firmware's other ranges (ACPI, NVS,
	 * reserved) as they are, outside the hypervisor's memory. */
	vm->ne820 = 0;
	vm->nslots = 0;
	vm->ram_borrowed = true;
	bool fits = ng < VM_MAX_SLOTS;
	for (size_t i = 0; i < ng && fits; i++) {
		fits &= e820_add(vm, guest_ram[i].base, guest_ram[i].end, 1);
		vm->slots[vm->nslots++] = (struct mem_slot){ guest_ram[i].base, guest_ram[i].end - guest_ram[i].base,
							     guest_ram[i].base };
	}
	for (size_t i = 0; i < nfw; i++)
		if (fw[i].type != 1)
			fits &= e820_add(vm, fw[i].base, fw[i].end, fw[i].type);
	/* What was kept out of RAM is reserved, so the OS puts no BAR there. */
	for (size_t i = 0; i < nkeep; i++)
		fits &= e820_add(vm, keep[i].base, keep[i].end, 2);
	if (!fits) {
		fmt_snprintf(err, errlen, "the machine's memory map needs more than %u entries for a passthrough VM",
			     VM_MAX_E820);
		return false;
	}
	for (unsigned i = 1; i < vm->ne820; i++) { /* sort by address */
		struct vm_e820 t = vm->e820[i];
		unsigned j = i;
		while (j > 0 && vm->e820[j - 1].addr > t.addr) {
			vm->e820[j] = vm->e820[j - 1];
			j--;
		}
		vm->e820[j] = t;
	}
	vm->cfg.mem = memmap_total(guest_ram, ng);

	/* EPT: everything uncached, then RAM/ACPI/NVS write-back, then the
	 * hypervisor's memory removed. */
	vm->ept = (struct pt){ .max_leaf = 0 }; /* set up by ept_create_identity */
	if (!ept_create_with(vm, reserve_alloc, reserve_release, vm)) {
		fmt_snprintf(err, errlen, "out of memory for the EPT of a passthrough VM");
		return false;
	}
	bool ok = pt_map(&vm->ept, 0, 0, top, EPT_RWX | EPT_MEMTYPE_UC);
	for (unsigned i = 0; ok && i < vm->ne820; i++)
		if (vm->e820[i].type == 1 || vm->e820[i].type == 3 || vm->e820[i].type == 4)
			ok = pt_map(&vm->ept, align_down(vm->e820[i].addr, PAGE_SIZE), align_down(vm->e820[i].addr, PAGE_SIZE),
				    align_up(vm->e820[i].addr + vm->e820[i].size, PAGE_SIZE) -
					    align_down(vm->e820[i].addr, PAGE_SIZE),
				    EPT_RWX | EPT_MEMTYPE_WB);
	for (size_t i = 0; ok && i < nhv; i++)
		ok = pt_unmap(&vm->ept, hv[i].base, hv[i].end - hv[i].base);
	/* The modules of the VMs after this one: out of its reach. The boot
	 * information: read-only, for GRUB's copy of the RSDP in it, which is
	 * the OS's (boot_params.acpi_rsdp_addr); the hypervisor itself reads
	 * its own copy (boot/main.c). */
	for (unsigned i = 0; ok && i < m->nmods; i++)
		if (m->mods[i].start != vm->kernel_module && m->mods[i].start != vm->initrd_module)
			ok = pt_unmap(&vm->ept, align_down(m->mods[i].start, PAGE_SIZE),
				      align_up(m->mods[i].end, PAGE_SIZE) - align_down(m->mods[i].start, PAGE_SIZE));
	if (ok && m->size)
		ok = pt_map(&vm->ept, align_down(m->addr, PAGE_SIZE), align_down(m->addr, PAGE_SIZE),
			    align_up(m->addr + m->size, PAGE_SIZE) - align_down(m->addr, PAGE_SIZE),
			    EPT_READ | EPT_MEMTYPE_WB);
	/* The local APIC: read directly, written through the hypervisor. */
	if (ok)
		ok = pt_map(&vm->ept, APIC_DEFAULT_BASE, APIC_DEFAULT_BASE, PAGE_SIZE, EPT_READ | EPT_MEMTYPE_UC);
	/* The pages of the power registers in memory: the same. */
	pm_setup(vm->cfg.name);
	for (unsigned i = 0; ok && i < ntrap_pages; i++)
		ok = pt_map(&vm->ept, trap_page[i], trap_page[i], PAGE_SIZE, EPT_READ | EPT_MEMTYPE_UC);
	if (!ok) {
		fmt_snprintf(err, errlen, "the passthrough VM's EPT needs more than %u tables", TABLE_RESERVE_FRAMES);
		return false;
	}
	ept_invalidate(vm);
	log_info("VM %s: passthrough of %llu MiB RAM in %zu ranges; hypervisor memory hidden: %zu ranges, EPT up to "
		 "%#llx in %llu tables",
		 vm->cfg.name, (unsigned long long)(vm->cfg.mem >> 20), ng, nhv, (unsigned long long)top,
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
		phys_free(vm->table_reserve, vm->table_reserve_frames);
	vm->table_reserve = 0;
}

static void trap_port(struct vm *vm, uint16_t port)
{
	uint8_t *bitmap = phys_to_virt(port < 0x8000 ? vm->io_bitmap_a : vm->io_bitmap_b);
	port &= 0x7fff;
	bitmap[port / 8] |= (uint8_t)(1u << (port % 8));
}

void passthrough_io_bitmap(struct vm *vm)
{
	memset(phys_to_virt(vm->io_bitmap_a), 0, PAGE_SIZE);
	memset(phys_to_virt(vm->io_bitmap_b), 0, PAGE_SIZE);
	/* Every byte of every watched port: an access of any size that
	 * touches one exits (SDM vol. 3C, 26.1.3). */
	for (unsigned i = 0; i < pm.n; i++)
		for (unsigned b = 0; pm.reg[i].space == PM_IO && b < pm.reg[i].len; b++)
			trap_port(vm, (uint16_t)(pm.reg[i].addr + b));
	/* PCI configuration mechanism #1, through which the OS could move
	 * the PM registers. */
	for (uint16_t p = PCI_CONFIG_ADDRESS; p < PCI_CONFIG_DATA + 4; p++)
		trap_port(vm, p);
}

static void forward(uint16_t port, unsigned size, bool in, uint32_t *val)
{
	if (in)
		*val = size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
	else if (size == 1)
		outb(port, (uint8_t)*val);
	else if (size == 2)
		outw(port, (uint16_t)*val);
	else
		outl(port, *val);
}

/* One warning per kind of refusal, and the rest said nothing. */
static void refused(struct vcpu *v, const struct pm_decision *d)
{
	if (__atomic_fetch_or(&refusals_said, 1u << d->reg->kind, __ATOMIC_RELAXED) & (1u << d->reg->kind))
		return;
	const char *name = v->vm->cfg.name;
	uint64_t cfg = d->reg->addr;
	if (d->reg->kind == PM_SMI_CMD)
		log_warn("VM %s: %#x to the SMI command port %#llx dropped: only the FADT's ACPI enable and disable, "
			 "P-state and C-state values reach the firmware's SMI handler, which could put the machine to "
			 "sleep behind the hypervisor (later ones are dropped without a word)",
			 name, d->value & 0xff, (unsigned long long)d->reg->addr);
	else
		log_warn("VM %s: a write to PCI %02x:%02x.%x register %#llx dropped: it would %s (later ones are "
			 "dropped without a word)",
			 name, (unsigned)(cfg >> 20) & 0xff, (unsigned)(cfg >> 15) & 0x1f, (unsigned)(cfg >> 12) & 7,
			 (unsigned long long)(cfg & 0xfff),
			 cfg < pm_cfg(0, 1, 0, 0) ? "open or move the ECAM window (PCIEXBAR) away from where the "
						   "hypervisor watches configuration space"
						 : "move or turn off the ACPI PM registers the hypervisor watches");
}

/* Carry out decision D on a write at ADDR (a port, or memory when MEM):
 * true if the write is to reach the hardware. */
static bool pm_act(struct vcpu *v, const struct pm_decision *d, uint64_t addr, bool mem)
{
	const char *name = v->vm->cfg.name;
	switch (d->verdict) {
	case PM_FORWARD:
		return true;
	case PM_REFUSE:
		refused(v, d);
		return false;
	case PM_RESET:
		log_info("VM %s: the OS reset the machine (%s %#llx, value %#x)", name, mem ? "address" : "port",
			 (unsigned long long)addr, d->value);
		vm_end(v, CAUSE_REBOOT, 0);
		return false;
	case PM_POWEROFF:
		/* SLP_EN with the S5 type is the OS powering the machine off
		 * (ACPI 6.4, 4.8.3.2.1 and 7.4.2). */
		log_info("VM %s: the OS entered ACPI S5 (power-off)", name);
		vm_end(v, CAUSE_POWEROFF, 0);
		return false;
	case PM_SLEEP:
		/* It would wake up in firmware with VMX gone: the VM ends. */
		log_err("VM %s: the OS asked for ACPI sleep type %u (%s at %s %#llx), which the hypervisor cannot "
			"resume from",
			name, d->typ, pm_kind_name(d->reg->kind), mem ? "address" : "port",
			(unsigned long long)d->reg->addr);
		vm_end(v, CAUSE_ERROR, d->typ);
		return false;
	}
	return false;
}

/* An access that reaches 0xCFC-0xCFF: to configuration space at the OS's
 * CONFIG_ADDRESS, unless it would move a guarded register. */
static void pci_data(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	spin_lock(&pci_lock);
	if (!in) {
		struct pm_decision d = pm_decide(&pm, PM_IO, port, size, *val), c;
		uint64_t cfg;
		unsigned n;
		uint32_t cv;
		if (pm_cf8_access(pci_cf8, port, size, *val, &cfg, &n, &cv) &&
		    (c = pm_decide(&pm, PM_PCI, cfg, n, cv)).verdict > d.verdict)
			d = c;
		if (d.verdict != PM_FORWARD) {
			spin_unlock(&pci_lock);
			pm_act(v, &d, port, false);
			return;
		}
	}
	outl(PCI_CONFIG_ADDRESS, pci_cf8);
	forward(port, size, in, val);
	spin_unlock(&pci_lock);
}

void passthrough_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	/* CONFIG_ADDRESS is only ever a dword at 0xCF8 (narrower accesses
	 * there reach other registers, 0xCF9 among them). */
	if (port == PCI_CONFIG_ADDRESS && size == 4) {
		spin_lock(&pci_lock);
		if (in)
			*val = pci_cf8;
		else
			pci_cf8 = *val;
		spin_unlock(&pci_lock);
		return;
	}
	if (port + size > PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4) {
		pci_data(v, port, size, in, val);
		return;
	}
	if (in) {
		forward(port, size, in, val);
		return;
	}
	spin_lock(&port_lock);
	struct pm_decision d = pm_decide(&pm, PM_IO, port, size, *val);
	if (d.verdict == PM_FORWARD) {
		forward(port, size, in, val);
		pm_track(&pm, PM_IO, port, size, *val);
	}
	spin_unlock(&port_lock);
	pm_act(v, &d, port, false);
}

/* Store SIZE bytes of VAL at physical PA (mapped by the host). */
static void store(uint64_t pa, unsigned size, uint64_t val)
{
	void *p = phys_to_virt(pa);
	if (size == 1)
		*(volatile uint8_t *)p = (uint8_t)val;
	else if (size == 2)
		*(volatile uint16_t *)p = (uint16_t)val;
	else if (size == 4)
		*(volatile uint32_t *)p = (uint32_t)val;
	else
		*(volatile uint64_t *)p = val;
}

bool passthrough_traps(uint64_t gpa)
{
	unsigned i = 0;
	while (i < ntrap_pages && trap_page[i] != align_down(gpa, PAGE_SIZE))
		i++;
	return i < ntrap_pages;
}

void passthrough_trapped_write(struct vcpu *v, uint64_t gpa)
{
	struct mmio_insn m;
	if (!vcpu_decode_mmio(v, &m) || !m.write || gpa + m.size > hv_mapped_top) {
		log_err("VM %s: write to %#llx, on the page of a power register or of the chipset's configuration, by an "
			"instruction the hypervisor does not emulate (only MOV), at RIP %#llx",
			v->vm->cfg.name, (unsigned long long)gpa, (unsigned long long)vmcs_readnat(GUEST_RIP));
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EPT_VIOLATION);
		return;
	}
	uint64_t val = m.reg >= 0 ? vcpu_gpr(v, (unsigned)m.reg) >> (m.high8 ? 8 : 0) : m.imm;
	struct pm_decision d = pm_decide(&pm, PM_MEM, gpa, m.size, val), c;
	for (unsigned w = 0; w < necam; w++)
		if (gpa >= ecam[w] && (c = pm_decide(&pm, PM_PCI, gpa - ecam[w], m.size, val)).verdict > d.verdict)
			d = c;
	if (pm_act(v, &d, gpa, true))
		store(gpa, m.size, val);
	if (v->cause == CAUSE_RUNNING)
		vcpu_skip(m.len);
}

/* INIT and start-up IPIs (SDM vol. 3A, 11.6.1: delivery mode in ICR bits
 * 10:8) go only to a CPU of the VM by its APIC ID: each of those waits for
 * SIPI in VMX non-root operation, where they cause INIT and SIPI exits
 * (vmx/exit/exit.c). To a CPU outside the VM, or by a shorthand that could
 * reach one, they are dropped: no CPU runs the OS outside the hypervisor.
 * Called only for a write that sends its IPI (vmx/dev/ptpolicy.h), since one
 * is counted here for its target. */
static bool icr_allowed(struct vcpu *v, uint32_t low, uint32_t dest)
{
	struct vm *vm = v->vm;
	unsigned mode = icr_mode(low), shorthand = icr_shorthand(low);
	if (mode != ICR_MODE_INIT && mode != ICR_MODE_SIPI)
		return true;
	for (unsigned i = 0; i < vm->nvcpus && !shorthand && !(low & ICR_LOGICAL); i++) {
		struct vcpu *t = vm->vcpus[i];
		if (t == v || t->apic_id != dest)
			continue;
		if (mode == ICR_MODE_SIPI) {
			t->sipi_vector = (uint8_t)low;
			__atomic_add_fetch(&t->sipis_sent, 1, __ATOMIC_RELEASE);
			return true;
		}
		/* INIT to a CPU in the INIT state changes nothing; a real one
		 * would stay pending and reset it after its start-up IPI. A
		 * de-assert does nothing at all (11.6.1). */
		if (t->waiting_sipi || !(low & ICR_LEVEL_ASSERT))
			return false;
		__atomic_add_fetch(&t->inits_sent, 1, __ATOMIC_RELEASE);
		return true;
	}
	if (!__atomic_fetch_add(&vm->dropped_ipis, 1, __ATOMIC_RELAXED))
		log_warn("VM %s: %s to %s%#x dropped: not a CPU of the VM (it has %u); later ones are dropped without a word",
			 vm->cfg.name, mode == ICR_MODE_INIT ? "INIT" : "a start-up IPI",
			 shorthand ? "a shorthand, not APIC id " : (low & ICR_LOGICAL) ? "logical destination " : "APIC id ",
			 dest, vm->nvcpus);
	return false;
}

void passthrough_apic_write(struct vcpu *v, uint64_t gpa)
{
	struct mmio_insn m;
	unsigned off = gpa & 0xfff;

	if (!vcpu_decode_mmio(v, &m) || !m.write || m.size != 4 || (off & 3)) {
		log_err("VM %s: write to the local APIC at offset %#x by an instruction that is not a 32-bit MOV, at "
			"RIP %#llx",
			v->vm->cfg.name, off, (unsigned long long)vmcs_readnat(GUEST_RIP));
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EPT_VIOLATION);
		return;
	}
	uint32_t val = (uint32_t)(m.reg >= 0 ? vcpu_gpr(v, (unsigned)m.reg) : m.imm);
	volatile uint32_t *apic = phys_to_virt(APIC_DEFAULT_BASE);
	/* The APIC is this CPU's, the OS's own. Where its page is no APIC
	 * (x2APIC mode), the write goes where the OS's would: it sends
	 * nothing, so no IPI is judged or counted. */
	if (off != APIC_ICR_LOW || !apic_mmio_icr_sends(rdmsr(MSR_IA32_APIC_BASE)) ||
	    icr_allowed(v, val, apic[APIC_ICR_HIGH / 4] >> 24))
		apic[off / 4] = val;
	vcpu_skip(m.len);
}

bool passthrough_x2apic_icr(struct vcpu *v, uint64_t value)
{
	/* The MSR bitmap makes this WRMSR exit before the CPU checks it:
	 * what would make it #GP is checked before an IPI is counted. The
	 * write itself is fault-safe too: a #GP goes to the guest. */
	if (!x2apic_icr_sends(rdmsr(MSR_IA32_APIC_BASE), value))
		return false;
	if (icr_allowed(v, (uint32_t)value, (uint32_t)(value >> 32)))
		return wrmsr_safe(0x830, value);
	return true;
}
