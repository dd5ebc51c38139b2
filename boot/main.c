/*
 * hv_main: the boot CPU's path from the 64-bit entry to "nothing left to
 * run". Each step either succeeds or says, in one line, why the
 * hypervisor cannot go on, and then follows on_exit.
 */
#include <stdint.h>

#include "arch-x86/cpu.h"
#include "arch-x86/cpuinfo.h"
#include "arch-x86/percpu/gdt.h"
#include "arch-x86/percpu/hoststate.h"
#include "arch-x86/percpu/idt.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "arch-x86/string.h"
#include "arch-x86/tsc.h"
#include "boot/mbi.h"
#include "boot/options.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "drivers/power.h"
#include "drivers/uart.h"
#include "mm/paging.h"
#include "mm/phys.h"
#include "vmx/exit/cpuid.h"
#include "vmx/hw/ept.h"
#include "vmx/isolation.h"
#include "vmx/sched.h"
#include "vmx/hw/vmx.h"

#define HV_VERSION "0.1"
#define SELFTEST_FAULT_ADDR 0x7ffffffff000ull

static struct hv_options options;
static struct mbi mbi;
#define acpi hv_acpi

static void report_option_problem(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("%s", msg);
}

static void report_cpu(void)
{
	struct cpu_ident id;

	cpu_identify(&id);
	log_info("CPU: %s family %#x model %#x stepping %u%s%s", id.vendor, id.family, id.model, id.stepping,
		 id.brand[0] ? ", " : "", id.brand);
}

static void report_memory(void)
{
	const struct phys_info *pi = &hv_phys;
	uint64_t mib = 1 << 20;

	log_info("memory: %llu MiB usable per the %s%s, %llu MiB in the frame pool (%zu ranges, top of RAM %#llx)",
		 (unsigned long long)(pi->firmware_usable / mib), pi->source,
		 mbi.efi_mmap ? " (EFI memory map given too)" : "",
		 (unsigned long long)(hv_frames.total * PAGE_SIZE / mib), pi->nusable, (unsigned long long)pi->top);
	log_info("hypervisor: image %#llx-%#llx (%llu KiB), frame bitmap %llu KiB at %#llx, host page tables %llu KiB",
		 (unsigned long long)pi->image_base, (unsigned long long)pi->image_end,
		 (unsigned long long)((pi->image_end - pi->image_base) >> 10), (unsigned long long)(pi->bitmap_bytes >> 10),
		 (unsigned long long)pi->bitmap_base, (unsigned long long)(hv_pt.tables * PAGE_SIZE >> 10));
	log_info("frames: %llu free of %llu, %llu allocations, %llu frees, %llu failed",
		 (unsigned long long)hv_frames.free, (unsigned long long)hv_frames.total,
		 (unsigned long long)hv_frames.allocs, (unsigned long long)hv_frames.frees,
		 (unsigned long long)hv_frames.failures);
}

/* The boot information, copied into the hypervisor's own memory and
 * parsed again there: every string and map read later (the modules'
 * command lines, each VM's kernel_args) is then in memory no guest can
 * reach, NUL-terminated inside its tag as mbi_parse checked. The original
 * stays where GRUB put it (reserved, read-only to a passthrough OS: its
 * RSDP copy is the one the OS is given). Done after acpi_setup, which
 * takes that RSDP by its original address. */
static void keep_boot_information(uint64_t addr)
{
	if (!mbi.size)
		return; /* nothing could be read */
	uint64_t copy = frame_alloc(&hv_frames, align_up(mbi.size, PAGE_SIZE) / PAGE_SIZE, PAGE_SIZE);
	if (!copy) {
		log_err("no memory for a copy of the boot information (%llu bytes): the modules' command lines are "
			"read where GRUB put them", (unsigned long long)mbi.size);
		return;
	}
	memcpy(phys_to_virt(copy), phys_to_virt(addr), mbi.size);
	mbi_parse(phys_to_virt(copy), addr, &mbi);
	log_info("boot information: %#llx-%#llx (%llu bytes), read from a copy at %#llx", (unsigned long long)addr,
		 (unsigned long long)(addr + mbi.size), (unsigned long long)mbi.size, (unsigned long long)copy);
}

static void report_modules(void)
{
	log_info("modules: %u%s", mbi.nmods, mbi.nmods ? "" : " (no guests given: add module2 lines to the GRUB entry)");
	for (unsigned i = 0; i < mbi.nmods; i++)
		log_info("module %u: %#llx-%#llx (%llu bytes) args '%s'", i, (unsigned long long)mbi.mods[i].start,
			 (unsigned long long)mbi.mods[i].end, (unsigned long long)(mbi.mods[i].end - mbi.mods[i].start),
			 mbi.mods[i].cmdline);
	if (mbi.mods_dropped)
		log_warn("%u more modules ignored: at most %u are supported", mbi.mods_dropped, MBI_MAX_MODULES);
}

/* The RSDP: the copy GRUB put in the boot information, else the BIOS
 * areas (first KiB of the EBDA, then 0xE0000-0xFFFFF; ACPI 5.2.5.1). */
static void acpi_setup(void)
{
	uint64_t rsdp = 0;
	const char *how = "boot information";

	if (mbi.rsdp && acpi_rsdp_valid(mbi.rsdp, mbi.rsdp_len))
		rsdp = (uintptr_t)mbi.rsdp;
	if (!rsdp) {
		how = "BIOS area scan";
		uint64_t ebda = (uint64_t)*(volatile uint16_t *)phys_to_virt(0x40e) << 4;
		if (ebda >= 0x80000 && ebda < 0xa0000)
			rsdp = acpi_scan_rsdp(ebda, 1024);
		if (!rsdp)
			rsdp = acpi_scan_rsdp(0xe0000, 0x20000);
	}
	if (!rsdp || !acpi_parse(rsdp, 0, hv_mapped_top, &acpi)) {
		log_warn("ACPI: no usable RSDP (%s): CPU count unknown, power-off by emulator ports only", how);
		power_init(NULL);
		return;
	}
	log_info("ACPI: RSDP at %#llx from the %s, revision %u, OEM '%s', %u tables%s", (unsigned long long)rsdp, how,
		 acpi.revision, acpi.oem, acpi.tables, acpi.bad_tables ? " (some with bad checksums, ignored)" : "");
	if (acpi.have_madt)
		log_info("CPUs: %u enabled (%u disabled) in the MADT, local APIC at %#llx, %u IOAPIC(s)", acpi.ncpus,
			 acpi.ncpus_disabled, (unsigned long long)acpi.lapic_base, acpi.nioapics);
	else
		log_warn("ACPI: no MADT: CPU count unknown");
	for (unsigned i = 0; i < acpi.nioapics; i++)
		log_info("IOAPIC %u: id %u at %#x, GSI base %u", i, acpi.ioapic[i].id, acpi.ioapic[i].addr,
			 acpi.ioapic[i].gsi_base);
	if (acpi.have_fadt)
		log_info("ACPI: power-off %s (PM1a control %#llx, S5 type %u), reset register %s",
			 acpi.have_s5 ? "by S5" : "unavailable (no \\_S5 in the DSDT)",
			 (unsigned long long)acpi.pm1a_cnt.address, acpi.slp_typ_a,
			 acpi.reset_supported ? "yes" : "no");
	power_init(&acpi);
}

/* Mask both 8259 PICs: the firmware may leave the timer interrupt on, and
 * the hypervisor takes no interrupts of its own (guests' external
 * interrupts would otherwise exit forever). */
static void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

/* Each AP, started by smp_start (on its own stack, with its per-CPU
 * data): its GDT, IDT and local APIC, VMX on, then it runs VMs with the others
 * (vms_ap_worker) and parks when none is left. */
static void ap_main(struct cpu *c)
{
	percpu_load_gdt(c);
	idt_load();
	apic_enable();
	if (!vmx_ap_on()) {
		log_err("left out: VMX could not be turned on");
		c->failed = true;
		cpu_park();
	}
	log_info("online: APIC id %u, VMXON region at %#llx", c->apic_id, (unsigned long long)c->vmxon_region);
	host_state_save();
	isolation_cpu_init();
	c->online = true;
	vms_ap_worker();
	cpu_park();
}

/* A page of RAM below 1 MiB that nothing needs once GRUB is done (the
 * boot information and the modules are skipped): the APs' start-up code
 * runs there, during smp_start only. */
static uint64_t free_low_page(void)
{
	struct mem_range r[16];
	uint64_t top;
	size_t n = mbi_usable_ranges(&mbi, r, 16, &top);

	for (size_t i = 0; i < n && i < 16; i++) {
		for (uint64_t pa = align_up(r[i].base > 0x1000 ? r[i].base : 0x1000, 4096);
		     pa + 4096 <= r[i].end && pa < 0x100000; pa += 4096) {
			bool used = pa < mbi.addr + mbi.size && mbi.addr < pa + 4096;
			for (unsigned m = 0; m < mbi.nmods; m++)
				used |= pa < mbi.mods[m].end && mbi.mods[m].start < pa + 4096;
			if (!used)
				return pa;
		}
	}
	return 0;
}

static void report_cpus(unsigned online)
{
	char ids[200];
	int n = 0;
	for (unsigned i = 0; i < ncpus && n < (int)sizeof(ids); i++)
		if (cpus[i].online)
			n += fmt_snprintf(ids + n, sizeof(ids) - n, " %u", cpus[i].apic_id);
	log_info("CPUs online: %u of %u in the MADT (APIC ids%s)", online, acpi.ncpus ? acpi.ncpus : 1, ids);
}

/* The modules and the machine as the scheduler takes them (vmx/sched.h):
 * it never sees the boot information itself. */
static const struct machine *machine_from(const struct mbi *m)
{
	static struct mem_typed fw[128];
	static struct machine mc;

	_Static_assert(VMS_MAX_MODULES >= MBI_MAX_MODULES, "every module the boot information holds");
	for (unsigned i = 0; i < m->nmods; i++)
		mc.mods[i] = (struct vm_module){ m->mods[i].start, m->mods[i].end, m->mods[i].cmdline };
	mc.nmods = m->nmods;
	mc.boot_info = (struct mem_range){ m->addr, m->addr + m->size };
	mc.fw = fw;
	mc.nfw = mbi_typed_map(m, fw, sizeof(fw) / sizeof(fw[0]));
	return &mc;
}

__attribute__((noreturn)) void hv_main(uint32_t magic, uint64_t mbi_addr);

/* The boot CPU's IST stacks; an AP's come from the frame pool. */
static uint8_t bsp_ist[IST_COUNT * IST_STACK_SIZE] __attribute__((aligned(16)));

void hv_main(uint32_t magic, uint64_t mbi_addr)
{
	(void)magic; /* checked by boot/start.S */
	/* Per-CPU data first: every log line names its CPU. */
	cpus[0].ist_base = (uintptr_t)bsp_ist;
	percpu_enter(&cpus[0], 0, cpuid(1, 0).ebx >> 24);
	cpus[0].online = true;
	enum mbi_status st = mbi_parse(phys_to_virt(mbi_addr), mbi_addr, &mbi);

	/* Options first (quietly), so the console is where the user asked;
	 * then again, reporting problems on that console. */
	options_parse(mbi.cmdline, &options, NULL, NULL);
	if (!console_init(options.console_port) && !console_init(COM1_PORT))
		console_init(0);
	console_set_level(options.loglevel);
	if (options.console_hold)
		console_hold();
	percpu_load_gdt(&cpus[0]);
	idt_init();

	log_info("hv " HV_VERSION ": bare-metal Intel VT-x hypervisor, booted by %s",
		 mbi.loader_name ? mbi.loader_name : "an unnamed multiboot2 loader");
	if (st != MBI_OK)
		log_warn("boot information at %#llx is malformed: %s; using what could be read",
			 (unsigned long long)mbi_addr, mbi_status_text(st));
	if (mbi.bad_tags)
		log_warn("boot information: %u malformed tags ignored", mbi.bad_tags);
	log_info("command line: '%s'", mbi.cmdline ? mbi.cmdline : "");
	options_parse(mbi.cmdline, &options, report_option_problem, NULL);
	log_info("options: console=%#x on_exit=%s ept=%s", options.console_port, on_exit_name(options.on_exit),
		 options.ept == EPT_LAZY ? "lazy" : "eager");

	report_cpu();
	if (!phys_init(&mbi) || !paging_init(hv_phys.top)) {
		power_init(NULL);
		power_exit(options.on_exit);
	}
	acpi_setup();
	keep_boot_information(mbi_addr);
	report_memory();
	report_modules();

	enum vmx_verdict v = vmx_probe();
	if (v != VMX_USABLE) {
		log_err("%s", vmx_verdict_text(v));
		power_exit(options.on_exit);
	}
	log_info("VMX usable: EPT and unrestricted guest present");
	const char *how = tsc_calibrate();
	log_info("TSC: %llu MHz, measured with %s", (unsigned long long)(tsc_hz / 1000000), how);
	if (!vmx_configure() || !vmx_on())
		power_exit(options.on_exit);
	if (options.apicv_off)
		hv_vmx.apicv = false;
	log_info("guests' local APIC: %s", hv_vmx.apicv ? "on the CPU's APIC virtualization" : "emulated");
	cpuid_policy_init();
	pic_mask_all();
	apic_enable();
	report_cpus(smp_start(free_low_page(), ap_main));
	if (options.selftest_fault) {
		/* Show the exception report, with every CPU up (the others
		 * are stopped): read an address the host page tables do not
		 * map (canonical, just below the top of the lower half). */
		log_info("selftest=fault: reading unmapped address %#llx", (unsigned long long)SELFTEST_FAULT_ADDR);
		(void)*(volatile uint64_t *)SELFTEST_FAULT_ADDR;
	}

	host_state_save();
	isolation_init();

	vms_run(machine_from(&mbi), &(struct vms_options){ .ept = options.ept,
							   .stats = options.stats,
							   .selftest_entry_failure = options.selftest_entry_failure,
							   .selftest_stuck_stop = options.selftest_stuck_stop });
	if (options.selftest_ept_build)
		ept_build_selftest();
	log_info("nothing left to run: on_exit=%s", on_exit_name(options.on_exit));
	power_exit(options.on_exit);
}
