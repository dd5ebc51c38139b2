/*
 * VM lifecycle: one VM per module, run to its end, then every frame it
 * held goes back to the allocator. The VM-END and HV-END lines are the
 * stable interface tests and users read (README, "Output lines").
 */
#include "vmx/vm.h"

#include "arch-x86/cpu.h"
#include "arch-x86/string.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/tsc.h"
#include "boot/mbi.h"
#include "boot/options.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/phys.h"
#include "vmx/decode.h"
#include "vmx/devices.h"
#include "vmx/ept.h"
#include "vmx/isolation.h"
#include "vmx/loader.h"
#include "vmx/msr.h"
#include "vmx/passthrough.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
/* Guest RAM above 3 GiB is placed from 4 GiB up, leaving a hole below
 * 4 GiB for the local APIC and other device addresses, as PCs do. */
#define LOW_RAM_MAX (3 * GiB)
#define HIGH_RAM_BASE (4 * GiB)

const char *vm_cause_name(enum vm_cause c)
{
	static const char *const names[] = {
		[CAUSE_RUNNING] = "running",
		[CAUSE_DEBUG_EXIT] = "debug-exit",
		[CAUSE_SHUTDOWN_PORT] = "shutdown-port",
		[CAUSE_HLT] = "hlt",
		[CAUSE_TRIPLE_FAULT] = "triple-fault",
		[CAUSE_HYPERCALL] = "hypercall",
		[CAUSE_EPT_VIOLATION] = "ept-violation",
		[CAUSE_ENTRY_FAILURE] = "entry-failure",
		[CAUSE_UNHANDLED_EXIT] = "unhandled-exit",
		[CAUSE_TIMEOUT] = "timeout",
		[CAUSE_POWEROFF] = "poweroff",
		[CAUSE_REBOOT] = "reboot",
		[CAUSE_ERROR] = "error",
	};
	return names[c];
}

void vm_end(struct vcpu *v, enum vm_cause cause, uint64_t status)
{
	if (v->cause != CAUSE_RUNNING)
		return; /* the first cause wins */
	v->cause = cause;
	v->status = status;
}

void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	const struct mem_slot *s = slot_find(vm, gpa);
	if (!s || len > s->size - (gpa - s->gpa))
		return NULL;
	return phys_to_virt(s->hpa + (gpa - s->gpa));
}

/* Host frames for up to *CHUNK bytes aligned to ALIGN: the whole chunk if
 * it is free, else halves of it, down to ALIGN. *CHUNK gets what was had. */
static uint64_t alloc_chunk(uint64_t *chunk, uint64_t align)
{
	for (uint64_t c = *chunk; c >= align; c = align_down(c / 2, align)) {
		uint64_t hpa = frame_alloc(&hv_frames, c / 4096, align);
		if (hpa) {
			*chunk = c;
			return hpa;
		}
		if (c == align)
			break;
	}
	return 0;
}

/* Back [gpa, gpa+size) with host frames in the largest aligned chunks the
 * allocator has (1 GiB, 2 MiB, 4 KiB), one slot each, so that EPT can use
 * large pages where both sides are aligned. */
static bool add_ram(struct vm *vm, uint64_t gpa, uint64_t size)
{
	while (size) {
		uint64_t hpa = 0, chunk = 0;
		for (uint64_t align = GiB; align >= 4096 && !hpa; align /= 512) {
			if (gpa % align || size < align)
				continue;
			chunk = align_down(size, align);
			hpa = alloc_chunk(&chunk, align);
		}
		if (!hpa)
			return false;
		if (vm->nslots == VM_MAX_SLOTS) {
			frame_free(&hv_frames, hpa, chunk / 4096);
			return false;
		}
		memset(phys_to_virt(hpa), 0, chunk);
		vm->slots[vm->nslots++] = (struct mem_slot){ gpa, chunk, hpa };
		gpa += chunk;
		size -= chunk;
	}
	return true;
}

static void free_ram(struct vm *vm)
{
	for (unsigned i = 0; !vm->ram_borrowed && i < vm->nslots; i++)
		frame_free(&hv_frames, vm->slots[i].hpa, vm->slots[i].size / 4096);
	vm->nslots = 0;
}

static void free_page(uint64_t *pa)
{
	if (*pa)
		frame_free(&hv_frames, *pa, 1);
	*pa = 0;
}

static bool vm_create(struct vm *vm, const struct mbi *m, const struct mbi_module *mod,
		      const struct mbi_module *initrd, char *err, size_t errlen)
{
	vm->vcpu.vm = vm;
	vm->kernel_module = mod->start;
	vm->initrd_module = initrd ? initrd->start : 0;
	vm->io_bitmap_a = phys_alloc_page();
	vm->io_bitmap_b = phys_alloc_page();
	vm->msr_bitmap = phys_alloc_page();
	vm->vcpu.vmcs = phys_alloc_page();
	if (!vm->io_bitmap_a || !vm->io_bitmap_b || !vm->msr_bitmap || !vm->vcpu.vmcs) {
		fmt_snprintf(err, errlen, "out of memory for the VM's bitmaps");
		return false;
	}
	if (vm->cfg.passthrough) {
		/* Everything the hypervisor allocates for this VM is taken
		 * before its memory map is made, so all of it is hidden. */
		if (!passthrough_memory(vm, m, err, errlen))
			return false;
		passthrough_io_bitmap(vm);
	} else {
		uint64_t low = vm->cfg.mem < LOW_RAM_MAX ? vm->cfg.mem : LOW_RAM_MAX;
		if (!add_ram(vm, 0, low) || (vm->cfg.mem > low && !add_ram(vm, HIGH_RAM_BASE, vm->cfg.mem - low))) {
			fmt_snprintf(err, errlen, "not enough memory for mem=%lluM (%llu MiB free)",
				     (unsigned long long)(vm->cfg.mem >> 20),
				     (unsigned long long)(hv_frames.free * 4096 >> 20));
			return false;
		}
		if (!ept_create(vm)) {
			fmt_snprintf(err, errlen, "out of memory for the VM's EPT");
			return false;
		}
		if (vm->cfg.ept == EPT_EAGER)
			log_info("VM %s: EPT built for all %llu MiB: %llu tables, %llu TSC ticks", vm->cfg.name,
				 (unsigned long long)(vm->cfg.mem >> 20), (unsigned long long)vm->ept.tables,
				 (unsigned long long)vm->ept_build_ticks);
		/* Isolated VMs: every port exits to the device models. */
		memset(phys_to_virt(vm->io_bitmap_a), 0xff, 4096);
		memset(phys_to_virt(vm->io_bitmap_b), 0xff, 4096);
	}
	msr_bitmap_init(phys_to_virt(vm->msr_bitmap), vm->cfg.passthrough);
	devices_init(vm);

	struct boot_state bs;
	struct blob image = { phys_to_virt(mod->start), mod->end - mod->start }, rd = { NULL, 0 };
	if (initrd)
		rd = (struct blob){ phys_to_virt(initrd->start), initrd->end - initrd->start };
	if (!loader_load(vm, image, rd, &bs, err, errlen))
		return false;
	return vcpu_init(&vm->vcpu, vm, &bs, err, errlen);
}

static void vm_destroy(struct vm *vm)
{
	vcpu_destroy(&vm->vcpu);
	ept_destroy(vm);
	free_page(&vm->io_bitmap_a);
	free_page(&vm->io_bitmap_b);
	free_page(&vm->msr_bitmap);
	free_ram(vm);
	passthrough_release(vm);
}

/* The one VM-END line: name, cause, status, exits, and a count for each
 * exit reason that occurred, in reason order. */
static void print_vm_end(const struct vm *vm)
{
	const struct vcpu *v = &vm->vcpu;
	char line[600];
	int n = fmt_snprintf(line, sizeof(line), "VM-END name=%s cause=%s status=%llu exits=%llu", vm->cfg.name,
			     vm_cause_name(v->cause), (unsigned long long)v->status, (unsigned long long)v->exits);
	for (unsigned r = 0; r < EXIT_REASON_MAX && n < (int)sizeof(line); r++)
		if (v->exit_count[r])
			n += fmt_snprintf(line + n, sizeof(line) - n, " %s=%u", exit_reason_name(r), v->exit_count[r]);
	log_info("%s", line);
}

static void print_top(const char *vm, const char *what, const struct stats_key *table, uint64_t untracked)
{
	struct stats_key top[STATS_TOP];
	char line[200];
	unsigned n = stats_top(table, top);
	int len = fmt_snprintf(line, sizeof(line), "VM %s: top %s:", vm, what);

	for (unsigned i = 0; i < n; i++)
		len += fmt_snprintf(line + len, sizeof(line) - len, " %#x=%u", top[i].key, top[i].count);
	if (!n)
		fmt_snprintf(line + len, sizeof(line) - len, " none");
	else if (untracked)
		fmt_snprintf(line + len, sizeof(line) - len, " (and %llu exits on %s the table had no room for)",
			     (unsigned long long)untracked, what);
	log_info("%s", line);
}

/* stats=1: one line per exit reason that occurred, with the ticks spent in
 * the exit handler, then the ports and MSRs that exited most. */
static void print_vm_stats(const struct vm *vm)
{
	const struct vcpu *v = &vm->vcpu;
	const char *name = vm->cfg.name;

	log_info("VM %s: exit statistics (ticks: TSC ticks in the exit handler)", name);
	log_info("VM %s:   %-20s %10s %14s %10s", name, "reason", "count", "total ticks", "mean");
	for (unsigned r = 0; r < EXIT_REASON_MAX; r++)
		if (v->exit_count[r])
			log_info("VM %s:   %-20s %10u %14llu %10llu", name, exit_reason_name(r), v->exit_count[r],
				 (unsigned long long)v->stats.ticks[r],
				 (unsigned long long)(v->stats.ticks[r] / v->exit_count[r]));
	print_top(name, "ports", v->stats.ports, v->stats.ports_untracked);
	print_top(name, "MSRs", v->stats.msrs, v->stats.msrs_untracked);
}

/* Does module I carry the word "initrd" (before any "--")? */
static bool is_initrd(const struct mbi *m, unsigned i)
{
	struct vm_config c;
	char err[8];
	return i < m->nmods && vm_config_parse(m->mods[i].cmdline, "", EPT_EAGER, &c, err, sizeof(err)) && c.initrd;
}

/*
 * The scheduler (issue 7). Each module that is a VM becomes a run; every
 * online CPU, the boot CPU included, pulls runs in module order: a run
 * pinned with cpu=N only by CPU N, the others by whichever CPU is free.
 * When VMs outnumber CPUs the rest wait for one. The passthrough VM (the
 * machine's own OS) runs alone: it starts when no other VM runs, and none
 * starts while it waits or runs, since its memory map is made of all the
 * frames that are free when it starts. VMs are created one at a time
 * (the loader builds boot information in static buffers) and run side by
 * side.
 */
enum run_state { RUN_WAITING, RUN_RUNNING, RUN_DONE };

struct run {
	unsigned module;
	const struct mbi_module *initrd;
	int cpu;	  /* cpu= pin, or -1 */
	bool bad_cpu;	  /* cpu= names a CPU that is not online */
	bool passthrough; /* the machine's own OS */
	volatile enum run_state state;
	bool failed;
};

static struct {
	/* First, alone on its cache line: the word idle CPUs MONITOR, so
	 * that spinning on the locks does not wake them. */
	volatile uint32_t generation __attribute__((aligned(64)));
	const struct mbi *m __attribute__((aligned(64)));
	const struct hv_options *o;
	struct run runs[MBI_MAX_MODULES];
	unsigned nruns, running;
	bool passthrough_running;
	bool open; /* runs are posted: APs may pull (release/acquire) */
	volatile int lock, create_lock;
	volatile bool entered; /* the first VM entry, for the boot figure */
	int passthrough_module; /* the first passthrough module, the only one that runs; -1: none */
	char passthrough_name[VM_NAME_MAX];
} sched = { .passthrough_module = -1 };

static bool vm_failed(enum vm_cause c)
{
	return c != CAUSE_DEBUG_EXIT && c != CAUSE_SHUTDOWN_PORT && c != CAUSE_HYPERCALL && c != CAUSE_HLT &&
	       c != CAUSE_POWEROFF && c != CAUSE_REBOOT;
}

/* Create, run and end one VM on this CPU. Its struct vm comes from the
 * frame pool and goes back there. */
static void run_one(struct run *r)
{
	const struct mbi *m = sched.m;
	const struct hv_options *o = sched.o;
	unsigned i = r->module;
	const unsigned pages = (sizeof(struct vm) + 4095) / 4096;
	uint64_t pa = frame_alloc(&hv_frames, pages, 4096);
	char err[200] = "", fallback[8];

	fmt_snprintf(fallback, sizeof(fallback), "vm%u", i);
	if (!pa) {
		log_err("VM %s: out of memory for its state", fallback);
		r->failed = true;
		return;
	}
	struct vm *vm = phys_to_virt(pa);
	memset(vm, 0, sizeof(*vm));
	vm->id = i;
	vm->vpid = (uint16_t)(i + 1); /* 0 is the host's */
	vm->vcpu.cause = CAUSE_RUNNING;

	bool ok = vm_config_parse(m->mods[i].cmdline, fallback, o->ept, &vm->cfg, err, sizeof(err));
	if (ok && r->bad_cpu) {
		fmt_snprintf(err, sizeof(err), "cpu=%d: there is no such CPU online (%u are)", vm->cfg.cpu, cpus_online());
		ok = false;
	} else if (ok && vm->cfg.passthrough && (int)i != sched.passthrough_module) {
		/* One OS owns the machine; a second is a mistake in the GRUB
		 * entry, not something to run after the first. */
		fmt_snprintf(err, sizeof(err), "only one passthrough VM per boot, and VM %s was it", sched.passthrough_name);
		ok = false;
	}
	if (ok) {
		const struct mbi_module *initrd = r->initrd;
		if (vm->cfg.passthrough)
			log_info("VM %s: the machine's own OS (passthrough), image %llu bytes%s", vm->cfg.name,
				 (unsigned long long)(m->mods[i].end - m->mods[i].start),
				 initrd ? ", with the next module as its initrd" : "");
		else
			log_info("VM %s: %llu MiB RAM, EPT %s, image %llu bytes%s", vm->cfg.name,
				 (unsigned long long)(vm->cfg.mem >> 20), vm->cfg.ept == EPT_LAZY ? "lazy" : "eager",
				 (unsigned long long)(m->mods[i].end - m->mods[i].start),
				 initrd ? ", with the next module as its initrd" : "");
		spin_lock(&sched.create_lock);
		ok = vm_create(vm, m, &m->mods[i], initrd, err, sizeof(err));
		spin_unlock(&sched.create_lock);
	}
	if (ok) {
		if (o->selftest_entry_failure && i == 0) {
			/* Activity state 7 is reserved: the entry must fail its
			 * guest-state checks (SDM vol. 3C, 27.3.1.5). */
			log_info("selftest=entry-failure: VM %s starts with an invalid activity state", vm->cfg.name);
			vmcs_write32(GUEST_ACTIVITY_STATE, 7);
		}
		if (!__atomic_exchange_n(&sched.entered, true, __ATOMIC_ACQ_REL)) {
			/* The boot's cost up to here (make bench); held console
			 * output goes out after the reading. */
			uint64_t ticks = rdtsc() - hv_entry_tsc;
			console_release();
			log_info("boot: %llu TSC ticks from the multiboot2 entry to the first VM entry",
				 (unsigned long long)ticks);
		}
		vcpu_run(&vm->vcpu, o->stats);
	} else {
		log_err("VM %s: %s", vm->cfg.name[0] ? vm->cfg.name : fallback, err);
		if (!vm->cfg.name[0])
			fmt_snprintf(vm->cfg.name, sizeof(vm->cfg.name), "%s", fallback);
		vm->vcpu.cause = CAUSE_ERROR;
	}
	devices_finish(vm);
	if (vm->cfg.ept == EPT_LAZY && ok)
		log_info("VM %s: %llu EPT pages filled on first touch, %llu EPT tables", vm->cfg.name,
			 (unsigned long long)vm->lazy_fills, (unsigned long long)vm->ept.tables);
	vm_destroy(vm);
	print_vm_end(vm);
	isolation_check(vm->cfg.name);
	if (o->stats && ok)
		print_vm_stats(vm);
	r->failed = vm_failed(vm->vcpu.cause);
	frame_free(&hv_frames, pa, pages);
}

/* The next run this CPU may take, under sched.lock; *ALL_DONE when there
 * is nothing left to wait for. */
static struct run *pick(unsigned cpu, bool *all_done)
{
	*all_done = true;
	for (unsigned k = 0; k < sched.nruns; k++) {
		struct run *r = &sched.runs[k];
		if (r->state == RUN_DONE)
			continue;
		*all_done = false;
		if (r->state != RUN_WAITING || sched.passthrough_running)
			continue;
		if (r->passthrough) /* a barrier: alone, and nothing after it first */
			return !sched.running && (r->cpu < 0 || r->cpu == (int)cpu) ? r : NULL;
		if (r->cpu < 0 || r->cpu == (int)cpu)
			return r;
	}
	return NULL;
}

/* Wait until the generation moves on from SEEN: MONITOR/MWAIT where the
 * CPU has them, so an idle CPU sleeps until the word is written. */
static void wait_change(uint32_t seen)
{
	static int mwait = -1;
	if (mwait < 0)
		mwait = (cpuid(1, 0).ecx >> 3) & 1;
	while (sched.generation == seen) {
		if (mwait) {
			__asm__ volatile("monitor" : : "a"(&sched.generation), "c"(0), "d"(0));
			if (sched.generation != seen)
				break;
			__asm__ volatile("mwait" : : "a"(0), "c"(0));
		} else {
			__asm__ volatile("pause");
		}
	}
}

static void bump(void)
{
	__atomic_add_fetch(&sched.generation, 1, __ATOMIC_RELEASE);
}

/* Pull runs until none is left; every CPU runs this. */
static void worker(void)
{
	unsigned cpu = this_cpu()->id;
	for (;;) {
		uint32_t seen = sched.generation;
		bool all_done;
		spin_lock(&sched.lock);
		struct run *r = pick(cpu, &all_done);
		if (r) {
			r->state = RUN_RUNNING;
			sched.running++;
			sched.passthrough_running = r->passthrough;
		}
		spin_unlock(&sched.lock);
		if (r) {
			bump();
			run_one(r);
			spin_lock(&sched.lock);
			r->state = RUN_DONE;
			sched.running--;
			if (r->passthrough)
				sched.passthrough_running = false;
			spin_unlock(&sched.lock);
			bump();
			continue;
		}
		if (all_done)
			return;
		wait_change(seen);
	}
}

void vms_ap_worker(void)
{
	for (;;) {
		uint32_t seen = sched.generation;
		if (__atomic_load_n(&sched.open, __ATOMIC_ACQUIRE))
			break;
		wait_change(seen);
	}
	worker();
}

/* Name of a module: its file's base name is not in the boot information,
 * so VMs are "vmN" unless name= says otherwise. A module with the word
 * "initrd" is not a VM: it is the initrd of the kernel before it. */
unsigned vms_run(const struct mbi *m, const struct hv_options *o)
{
	unsigned failed = 0;
	uint64_t free_before = hv_frames.free;

	sched.m = m;
	sched.o = o;
	for (unsigned i = 0; i < m->nmods; i++) {
		if (is_initrd(m, i)) {
			log_err("module %u is an initrd with no kernel module before it: ignored", i);
			continue;
		}
		struct run *r = &sched.runs[sched.nruns++];
		struct vm_config c;
		char err[8], fallback[8];
		*r = (struct run){ .module = i, .initrd = is_initrd(m, i + 1) ? &m->mods[i + 1] : NULL, .cpu = -1 };
		fmt_snprintf(fallback, sizeof(fallback), "vm%u", i);
		if (vm_config_parse(m->mods[i].cmdline, fallback, o->ept, &c, err, sizeof(err))) {
			/* A second passthrough module is refused when it is
			 * taken, and meanwhile is no barrier. */
			r->passthrough = c.passthrough && sched.passthrough_module < 0;
			if (c.cpu >= (int)ncpus || (c.cpu >= 0 && !cpus[c.cpu].online))
				r->bad_cpu = true; /* reported by whichever CPU takes it */
			else
				r->cpu = c.cpu;
			if (c.passthrough && sched.passthrough_module < 0) {
				fmt_snprintf(sched.passthrough_name, sizeof(sched.passthrough_name), "%s", c.name);
				sched.passthrough_module = (int)i;
			}
		}
		if (r->initrd)
			i++; /* consumed */
	}
	__atomic_store_n(&sched.open, true, __ATOMIC_RELEASE); /* after runs[] is complete */
	bump();
	worker(); /* the boot CPU takes its share, then waits for the rest */

	for (unsigned k = 0; k < sched.nruns; k++)
		failed += sched.runs[k].failed;
	log_info("HV-END vms=%u failed=%u", sched.nruns, failed);
	isolation_report(sched.nruns);
	if (hv_frames.free != free_before)
		log_err("frame leak: %llu frames free before the first VM, %llu after the last",
			(unsigned long long)free_before, (unsigned long long)hv_frames.free);
	else
		log_info("frames: %llu free before the first VM and after the last", (unsigned long long)free_before);
	return failed;
}
