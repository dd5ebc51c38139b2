/*
 * The passthrough VM's watched registers, as a device on its bus: the
 * trapped ports (power, reset, SMI command, the keyboard controller and
 * PCI configuration mechanism #1), the pages of power registers in
 * memory, and the local APIC's ICR (xAPIC page and x2APIC MSR), where
 * INIT and start-up IPIs may only go to the VM's own CPUs. Every access
 * that sets no SLP_EN, resets nothing and moves nothing is forwarded as
 * it was made (vmx/dev/pt/pmtrap.h decides).
 */
#include "vmx/dev/pt/ptio.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/extable.h"
#include "arch-x86/msr.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/string.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "mm/memmap.h"
#include "mm/paging.h"
#include "mm/phys.h"
#include "vmx/dev/pt/pmtrap.h"
#include "vmx/dev/pt/ptpolicy.h"
#include "vmx/dev/bus.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"

#define MAX_TRAP_PAGES 12
#define MAX_ECAM 2
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

/* The passthrough VM's watched registers (vmx/dev/pt/pmtrap.h): what the
 * OS could sleep, reset, or move them through. */
struct ptio {
	/* Read-only while it runs but for the keyboard controller's pending
	 * command (port_lock). */
	struct pm_regs pm;
	/* Pages of those registers in memory (and their ECAM configuration
	 * pages): read-only in the EPT, writes decoded (ptio_trapped_write).
	 * At most 4 registers in memory, and 4 functions' configuration
	 * (00:00.0, 00:01.3, 00:1f.0, 00:1f.2) in each of 2 ECAM windows. */
	uint64_t trap_page[MAX_TRAP_PAGES];
	unsigned ntrap_pages;
	/* Where ECAM reaches bus 0's configuration: the MCFG's window, and
	 * the one PCIEXBAR turns on if that is another (or there is no MCFG). */
	uint64_t ecam[MAX_ECAM];
	unsigned necam;
	/* CONFIG_ADDRESS as the OS last wrote it. The real one is written by
	 * the hypervisor, under pci_lock, right before each data access it
	 * lets through, so that no vCPU can change it between the check and
	 * the access. */
	uint32_t pci_cf8;
	volatile int pci_lock;
	/* The other trapped port writes: decided, done and tracked (pm_track:
	 * the keyboard controller's pending command) in one step. */
	volatile int port_lock;
	unsigned refusals_said; /* a bit per pm_kind, for one warning each */
};

/* 32 bits of configuration space at ECAM offset CFG, by mechanism #1. */static uint32_t cfg_read(void *ctx, uint64_t cfg)
{
	(void)ctx;
	outl(PCI_CONFIG_ADDRESS, 0x80000000u | (uint32_t)((cfg >> 20) & 0xff) << 16 |
					 (uint32_t)((cfg >> 15) & 0x1f) << 11 | (uint32_t)((cfg >> 12) & 7) << 8 |
					 (uint32_t)(cfg & 0xfc));
	return inl(PCI_CONFIG_DATA);
}

/* False when there is no room: the page would not be watched. */
static bool trap_page_add(struct ptio *p, uint64_t pa)
{
	pa = align_down(pa, PAGE_SIZE);
	for (unsigned i = 0; i < p->ntrap_pages; i++)
		if (p->trap_page[i] == pa)
			return true;
	if (p->ntrap_pages == MAX_TRAP_PAGES)
		return false;
	p->trap_page[p->ntrap_pages++] = pa;
	return true;
}

/* ECAM, from the MCFG, reaches bus 0's configuration space. */
static bool ecam_reaches_bus0(void)
{
	return hv_acpi.have_mcfg && hv_acpi.mcfg_bus_start == 0;
}

/* The registers to watch, from the FADT and the chipset's configuration
 * space (read here, before the OS runs), and the pages they are in. */
static void pm_setup(struct ptio *p, const char *name)
{
	const struct acpi_info *a = &hv_acpi;
	pm_regs_from_acpi(&p->pm, a->rsdp_addr ? a : NULL);
	p->pci_cf8 = inl(PCI_CONFIG_ADDRESS);
	unsigned guards = 0;
	if (a->have_fadt && a->pm1a_cnt.space == ACPI_SPACE_IO && a->pm1a_cnt.address)
		guards = pm_add_chipset_guards(&p->pm, (uint16_t)a->pm1a_cnt.address, cfg_read, NULL);
	uint64_t pciexbar = 0;
	if (pm_add_ecam_guard(&p->pm, cfg_read, NULL, &pciexbar))
		guards += 2;
	outl(PCI_CONFIG_ADDRESS, p->pci_cf8);
	p->necam = 0;
	if (ecam_reaches_bus0())
		p->ecam[p->necam++] = a->mcfg_base;
	if (pciexbar && !(p->necam && p->ecam[0] == pciexbar))
		p->ecam[p->necam++] = pciexbar;
	p->refusals_said = 0;
	p->ntrap_pages = 0;
	bool all = true;
	for (unsigned i = 0; i < p->pm.n; i++) {
		if (p->pm.reg[i].space == PM_MEM)
			all &= trap_page_add(p, p->pm.reg[i].addr);
		for (unsigned w = 0; p->pm.reg[i].space == PM_PCI && w < p->necam; w++)
			all &= trap_page_add(p, p->ecam[w] + p->pm.reg[i].addr);
	}
	if (!all)
		log_err("VM %s: more than %u pages of power registers and their configuration: the rest stay writable",
			name, MAX_TRAP_PAGES);
	log_info("VM %s: %u power and reset registers watched, %u chipset registers that place them kept, %u pages "
		 "of them read-only (%u ECAM window%s)",
		 name, p->pm.n - guards, guards, p->ntrap_pages, p->necam, p->necam == 1 ? "" : "s");
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
static void refused(struct vcpu *v, struct ptio *p, const struct pm_decision *d)
{
	if (__atomic_fetch_or(&p->refusals_said, 1u << d->reg->kind, __ATOMIC_RELAXED) & (1u << d->reg->kind))
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
static bool pm_act(struct vcpu *v, struct ptio *p, const struct pm_decision *d, uint64_t addr, bool mem)
{
	const char *name = v->vm->cfg.name;
	switch (d->verdict) {
	case PM_FORWARD:
		return true;
	case PM_REFUSE:
		refused(v, p, d);
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
static void pci_data(struct vcpu *v, struct ptio *p, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	spin_lock(&p->pci_lock);
	if (!in) {
		struct pm_decision d = pm_decide(&p->pm, PM_IO, port, size, *val), c;
		uint64_t cfg;
		unsigned n;
		uint32_t cv;
		if (pm_cf8_access(p->pci_cf8, port, size, *val, &cfg, &n, &cv) &&
		    (c = pm_decide(&p->pm, PM_PCI, cfg, n, cv)).verdict > d.verdict)
			d = c;
		if (d.verdict != PM_FORWARD) {
			spin_unlock(&p->pci_lock);
			pm_act(v, p, &d, port, false);
			return;
		}
	}
	outl(PCI_CONFIG_ADDRESS, p->pci_cf8);
	forward(port, size, in, val);
	spin_unlock(&p->pci_lock);
}

static void ptio_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	struct ptio *p = dev;
	/* CONFIG_ADDRESS is only ever a dword at 0xCF8 (narrower accesses
	 * there reach other registers, 0xCF9 among them). */
	if (port == PCI_CONFIG_ADDRESS && size == 4) {
		spin_lock(&p->pci_lock);
		if (in)
			*val = p->pci_cf8;
		else
			p->pci_cf8 = *val;
		spin_unlock(&p->pci_lock);
		return;
	}
	if (port + size > PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4) {
		pci_data(v, p, port, size, in, val);
		return;
	}
	if (in) {
		forward(port, size, in, val);
		return;
	}
	spin_lock(&p->port_lock);
	struct pm_decision d = pm_decide(&p->pm, PM_IO, port, size, *val);
	if (d.verdict == PM_FORWARD) {
		forward(port, size, in, val);
		pm_track(&p->pm, PM_IO, port, size, *val);
	}
	spin_unlock(&p->port_lock);
	pm_act(v, p, &d, port, false);
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

/* A write on the page of a power register in memory, or its ECAM page. */
static bool ptio_trapped_write(struct vcpu *v, void *dev, struct mmio_access *a)
{
	struct ptio *p = dev;
	if (!a->write || a->gpa + a->size > hv_mapped_top) {
		log_err("VM %s: %s of %u bytes at %#llx, on the page of a power register or of the chipset's "
			"configuration: not emulated, at RIP %#llx",
			v->vm->cfg.name, a->write ? "write" : "read", a->size, (unsigned long long)a->gpa,
			(unsigned long long)vmcs_readnat(GUEST_RIP));
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EPT_VIOLATION);
		return false;
	}
	uint64_t gpa = a->gpa, val = a->value;
	struct pm_decision d = pm_decide(&p->pm, PM_MEM, gpa, a->size, val), c;
	for (unsigned w = 0; w < p->necam; w++)
		if (gpa >= p->ecam[w] &&
		    (c = pm_decide(&p->pm, PM_PCI, gpa - p->ecam[w], a->size, val)).verdict > d.verdict)
			d = c;
	if (pm_act(v, p, &d, gpa, true))
		store(gpa, a->size, val);
	return true;
}

/* INIT and start-up IPIs (SDM vol. 3A, 11.6.1: delivery mode in ICR bits
 * 10:8) go only to a CPU of the VM by its APIC ID: each of those waits for
 * SIPI in VMX non-root operation, where they cause INIT and SIPI exits
 * (vmx/exit/exit.c). To a CPU outside the VM, or by a shorthand that could
 * reach one, they are dropped: no CPU runs the OS outside the hypervisor.
 * Called only for a write that sends its IPI (vmx/dev/pt/ptpolicy.h), since one
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
		/* An INIT de-assert does nothing at all (11.6.1). */
		if (mode == ICR_MODE_INIT && !(low & ICR_LEVEL_ASSERT))
			return false;
		return vm_post_init_sipi(t, mode, (uint8_t)low);
	}
	if (!__atomic_fetch_add(&vm->dropped_ipis, 1, __ATOMIC_RELAXED))
		log_warn("VM %s: %s to %s%#x dropped: not a CPU of the VM (it has %u); later ones are dropped without a word",
			 vm->cfg.name, mode == ICR_MODE_INIT ? "INIT" : "a start-up IPI",
			 shorthand ? "a shorthand, not APIC id " : (low & ICR_LOGICAL) ? "logical destination " : "APIC id ",
			 dest, vm->nvcpus);
	return false;
}

/* A write to the local APIC page: every write reaches the APIC but INIT
 * and SIPI to CPUs outside the VM. */
static bool ptio_apic_write(struct vcpu *v, void *dev, struct mmio_access *a)
{
	(void)dev;
	unsigned off = a->gpa & 0xfff;

	if (!a->write || a->size != 4 || (off & 3)) {
		log_err("VM %s: %s of %u bytes at local-APIC offset %#x: only aligned 32-bit writes are emulated, at "
			"RIP %#llx",
			v->vm->cfg.name, a->write ? "write" : "read", a->size, off,
			(unsigned long long)vmcs_readnat(GUEST_RIP));
		vm_end(v, CAUSE_UNHANDLED_EXIT, EXIT_EPT_VIOLATION);
		return false;
	}
	uint32_t val = (uint32_t)a->value;
	volatile uint32_t *apic = phys_to_virt(APIC_DEFAULT_BASE);
	/* The APIC is this CPU's, the OS's own. Where its page is no APIC
	 * (x2APIC mode), the write goes where the OS's would: it sends
	 * nothing, so no IPI is judged or counted. */
	if (off != APIC_ICR_LOW || !apic_mmio_icr_sends(rdmsr(MSR_IA32_APIC_BASE)) ||
	    icr_allowed(v, val, apic[APIC_ICR_HIGH / 4] >> 24))
		apic[off / 4] = val;
	return true;
}

/* A WRMSR to the x2APIC ICR, judged the same way; false: #GP. */
static bool ptio_x2apic_icr(struct vcpu *v, void *dev, uint32_t msr, uint64_t value)
{
	(void)dev, (void)msr;
	/* The MSR bitmap makes this WRMSR exit before the CPU checks it:
	 * what would make it #GP is checked before an IPI is counted. The
	 * write itself is fault-safe too: a #GP goes to the guest. */
	if (!x2apic_icr_sends(rdmsr(MSR_IA32_APIC_BASE), value))
		return false;
	if (icr_allowed(v, (uint32_t)value, (uint32_t)(value >> 32)))
		return wrmsr_safe(0x830, value);
	return true;
}

/* The OS writes the real IA32_APIC_BASE where the rules let it
 * (vmx/dev/pt/ptpolicy.h: x2APIC mode on, nothing else); anything else is
 * #GP, here before the real WRMSR could fault in the hypervisor. */
static bool apic_base_write(struct vcpu *v, void *dev, uint32_t msr, uint64_t value)
{
	uint64_t cur = rdmsr(MSR_IA32_APIC_BASE);
	(void)dev, (void)msr;
	if (value == cur)
		return true;
	if (!apic_base_write_allowed(cur, value)) {
		if (!(value & APIC_BASE_EN) && !__atomic_fetch_add(&v->vm->apic_off_refused, 1, __ATOMIC_RELAXED))
			log_warn("VM %s: the OS's WRMSR of APIC_BASE %#llx would turn its local APIC off, which the "
				 "hypervisor signals through: refused (#GP), as are any later",
				 v->vm->cfg.name, (unsigned long long)value);
		return false;
	}
	return wrmsr_safe(MSR_IA32_APIC_BASE, value); /* validated, and fault-safe all the same */
}

/* Every byte of every watched port: an access of any size that touches
 * one exits (SDM vol. 3C, 26.1.3); and PCI configuration mechanism #1,
 * through which the OS could move the PM registers. Then the pages of
 * the power registers in memory and their ECAM pages, and the local
 * APIC's page, written through the hypervisor (read-only in EPT), and
 * the APIC's MSRs that could turn it off or send INIT and SIPI. */
static bool ptio_register(struct vm *vm, struct ptio *p)
{
	/* Every access that exits is this model's, wherever it starts: one
	 * that touches a watched byte from the port before is decided byte
	 * by byte (pm_decide). */
	bool ok = bus_route_ports(vm, 0, 0x10000, ptio_port, p);
	for (unsigned i = 0; i < p->pm.n; i++)
		if (p->pm.reg[i].space == PM_IO)
			ok &= bus_add_ports(vm, (uint16_t)p->pm.reg[i].addr, p->pm.reg[i].len, ptio_port, p, NULL);
	ok &= bus_add_ports(vm, PCI_CONFIG_ADDRESS, 8, ptio_port, p, NULL);
	for (unsigned i = 0; i < p->ntrap_pages; i++)
		ok &= bus_add_mmio(vm, p->trap_page[i], PAGE_SIZE, true, ptio_trapped_write, p);
	return ok && bus_add_mmio(vm, APIC_DEFAULT_BASE, PAGE_SIZE, true, ptio_apic_write, p) &&
	       bus_add_msrs(vm, MSR_IA32_APIC_BASE, MSR_IA32_APIC_BASE, NULL, apic_base_write, p) &&
	       bus_add_msrs(vm, 0x830, 0x830, NULL, ptio_x2apic_icr, p);
}

bool ptio_attach(struct vm *vm)
{
	_Static_assert(sizeof(struct ptio) <= PAGE_SIZE / 2, "the bus's state page");
	struct ptio *p = bus_state(vm, sizeof(*p));
	if (!p)
		return false;
	pm_setup(p, vm->cfg.name);
	return ptio_register(vm, p);
}
