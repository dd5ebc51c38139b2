/*
 * VM lifecycle: one VM per module, run to its end, then every frame it
 * held goes back to the allocator. The VM-END and HV-END lines are the
 * stable interface tests and users read (README, "Output lines").
 */
#include "vmx/core/vm.h"

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/hoststate.h"
#include "arch-x86/percpu.h"
#include "arch-x86/smp.h"
#include "arch-x86/string.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/tsc.h"
#include "boot/mbi.h"
#include "boot/options.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/phys.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/dev/bus.h"
#include "vmx/core/memory.h"
#include "vmx/isolation.h"
#include "vmx/dev/lapic.h"
#include "vmx/load/loader.h"
#include "vmx/exit/msr.h"
#include "vmx/load/passthrough.h"
#include "vmx/core/guest.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"

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

void vm_kick(struct vcpu *t, bool sipi)
{
	uint32_t apic_id = cpus[t->cpu].apic_id;
	if (t->cpu == this_cpu()->id)
		return; /* it is in the hypervisor now: it sees the change before it enters */
	if (!t->vm->cfg.passthrough)
		apic_send(apic_id, ICR_FIXED | KICK_VECTOR);
	if (sipi)
		apic_send(apic_id, ICR_STARTUP);
}

/* Signal every other vCPU of the VM that is in its run loop to stop;
 * false if none is. A passthrough OS's vCPUs take interrupts directly, so
 * theirs come from the preemption timer (one slice at most); those
 * waiting for SIPI wake only for a start-up IPI, so they get one too (SDM
 * vol. 3C, 25.5.1: the timer does not end that wait). */
static bool stop_others(struct vm *vm, const struct vcpu *self)
{
	bool any = false;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (t && t != self && __atomic_load_n(&t->in_run, __ATOMIC_SEQ_CST) &&
		    __atomic_load_n(&t->fate, __ATOMIC_ACQUIRE) != FATE_LOST) {
			vm_kick(t, true);
			any = true;
		}
	}
	return any;
}

void vm_end(struct vcpu *v, enum vm_cause cause, uint64_t status)
{
	if (v->cause != CAUSE_RUNNING)
		return; /* the first cause wins */
	v->cause = cause;
	v->status = status;
	struct vm *vm = v->vm;
	enum vm_cause running = CAUSE_RUNNING;
	if (__atomic_compare_exchange_n(&vm->cause, &running, cause, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		vm->status = status;
		stop_others(vm, v);
	}
}

/* Every vCPU of V's VM is halted or waiting for SIPI and none can wake
 * another; the VM has a time limit. Those waiting for SIPI take no
 * preemption-timer exit (SDM vol. 3C, 26.5.1), so the limit is kept here,
 * in VMX root operation on the CPU of the vCPU that went idle last,
 * unless something wakes it first (an NMI for the machine's OS). */
static void wait_time_limit(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (!v->deadline_tsc)
		return; /* no preemption timer: the limit is not enforced (vcpu_run said so) */
	log_info("VM %s: all %u vCPUs halted or waiting for SIPI, with nothing to wake them: waiting for the time "
		 "limit",
		 vm->cfg.name, vm->nvcpus);
	while (rdtsc() < v->deadline_tsc) {
		/* An NMI wakes a halted vCPU, not one waiting for SIPI. */
		if (vm_stopping(v) || !__atomic_load_n(&v->idle, __ATOMIC_SEQ_CST) ||
		    (percpu_read32(nmi_pending) && !v->waiting_sipi))
			return;
		__asm__ volatile("pause");
	}
	log_err("VM %s: time limit of %llu s reached with every vCPU halted or waiting for SIPI (module key timeout=)",
		vm->cfg.name, (unsigned long long)vm->cfg.timeout);
	vm_end(v, CAUSE_TIMEOUT, vm->cfg.timeout);
}

void vm_vcpu_idle(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (vm->nvcpus < 2 || __atomic_exchange_n(&v->idle, true, __ATOMIC_SEQ_CST))
		return;
	unsigned idle = __atomic_add_fetch(&vm->idle_vcpus, 1, __ATOMIC_SEQ_CST);
	/* An IPI accepted just before V was marked: its sender saw V not yet
	 * idle (both sides use full barriers, so one sees the other). */
	if (v->lapic.enabled && lapic_irr_pending(v)) {
		vm_vcpu_wakes(v);
		return;
	}
	if (idle < vm->nvcpus)
		return;
	if (vm->cfg.timeout) {
		wait_time_limit(v);
		return;
	}
	log_info("VM %s: all %u vCPUs halted or waiting for SIPI, with nothing to wake them and no time limit: VM "
		 "stopped",
		 vm->cfg.name, vm->nvcpus);
	vm_end(v, CAUSE_HLT, 0);
}

void vm_vcpu_wakes(struct vcpu *t)
{
	if (__atomic_exchange_n(&t->idle, false, __ATOMIC_SEQ_CST))
		__atomic_sub_fetch(&t->vm->idle_vcpus, 1, __ATOMIC_SEQ_CST);
}

bool vm_stopping(struct vcpu *v)
{
	enum vm_cause c = __atomic_load_n(&v->vm->cause, __ATOMIC_ACQUIRE);
	if (c == CAUSE_RUNNING)
		return false;
	if (v->cause == CAUSE_RUNNING) {
		v->cause = c;
		v->status = v->vm->status;
	}
	return true;
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
			phys_free(hpa, chunk / 4096);
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
		phys_free(vm->slots[i].hpa, vm->slots[i].size / 4096);
	vm->nslots = 0;
}

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

static void free_vcpus(struct vm *vm)
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

static bool vm_create(struct vm *vm, const struct mbi *m, const struct mbi_module *mod,
		      const struct mbi_module *initrd, unsigned nvcpus, char *err, size_t errlen)
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
		passthrough_io_bitmap(vm);
	} else {
		uint64_t low = vm->cfg.mem < LOW_RAM_MAX ? vm->cfg.mem : LOW_RAM_MAX;
		if (!add_ram(vm, 0, low) || (vm->cfg.mem > low && !add_ram(vm, HIGH_RAM_BASE, vm->cfg.mem - low))) {
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
	return vcpu_init(vm->vcpus[0], vm, &bs, err, errlen);
}

/* After every vCPU has left its run loop and the APs have torn down
 * their own VMCSs (vcpu_destroy must run on the VMCS's CPU). */
static void vm_destroy(struct vm *vm)
{
	if (vm->nvcpus && vm->vcpus[0])
		vcpu_destroy(vm->vcpus[0]);
	ept_destroy(vm);
	free_page(&vm->apic_access_page);
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
	uint64_t exits = 0, count[EXIT_REASON_MAX] = { 0 };
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		exits += v->exits;
		for (unsigned r = 0; r < EXIT_REASON_MAX; r++)
			count[r] += v->exit_count[r];
	}
	char line[600];
	int n = fmt_snprintf(line, sizeof(line), "VM-END name=%s cause=%s status=%llu exits=%llu", vm->cfg.name,
			     vm_cause_name(vm->cause), (unsigned long long)vm->status, (unsigned long long)exits);
	if (vm->nvcpus > 1)
		n += fmt_snprintf(line + n, sizeof(line) - n, " vcpus=%u", vm->nvcpus);
	for (unsigned r = 0; r < EXIT_REASON_MAX && n < (int)sizeof(line); r++)
		if (count[r])
			n += fmt_snprintf(line + n, sizeof(line) - n, " %s=%llu", exit_reason_name(r),
					  (unsigned long long)count[r]);
	log_info("%s", line);
}

static void print_top(const char *vm, const char *who, const char *what, const struct stats_key *table,
		      uint64_t untracked)
{
	struct stats_key top[STATS_TOP];
	char line[200];
	unsigned n = stats_top(table, top);
	int len = fmt_snprintf(line, sizeof(line), "VM %s: %stop %s:", vm, who, what);

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
 * the exit handler, then the ports and MSRs that exited most. A VM with
 * several vCPUs has a column for the vCPU, and their lists one by one. */
static void print_vm_stats(const struct vm *vm)
{
	const char *name = vm->cfg.name;
	bool multi = vm->nvcpus > 1;

	log_info("VM %s: exit statistics (ticks: TSC ticks in the exit handler)", name);
	if (multi)
		log_info("VM %s:   %4s %-20s %10s %14s %10s", name, "vcpu", "reason", "count", "total ticks", "mean");
	else
		log_info("VM %s:   %-20s %10s %14s %10s", name, "reason", "count", "total ticks", "mean");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		for (unsigned r = 0; v && r < EXIT_REASON_MAX; r++) {
			if (!v->exit_count[r])
				continue;
			unsigned long long total = v->stats.ticks[r], mean = total / v->exit_count[r];
			if (multi)
				log_info("VM %s:   %4u %-20s %10u %14llu %10llu", name, i, exit_reason_name(r),
					 v->exit_count[r], total, mean);
			else
				log_info("VM %s:   %-20s %10u %14llu %10llu", name, exit_reason_name(r), v->exit_count[r],
					 total, mean);
		}
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		char who[16] = "";
		if (!v)
			continue;
		if (multi)
			fmt_snprintf(who, sizeof(who), "vCPU %u: ", i);
		print_top(name, who, "ports", v->stats.ports, v->stats.ports_untracked);
		print_top(name, who, "MSRs", v->stats.msrs, v->stats.msrs_untracked);
	}
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
 * When VMs outnumber CPUs the rest wait for one. A VM with N vCPUs is a
 * gang: N CPUs join its run, one per vCPU, and it starts when all have;
 * meanwhile the free CPUs join it before anything later in module order.
 * The passthrough VM (the machine's own OS) runs alone, on every CPU by
 * default: it starts when no other VM runs, and none starts while it
 * waits or runs, since its memory map is made of all the frames that are
 * free when it starts. VMs are created one at a time (the loader builds
 * boot information in static buffers) and run side by side.
 */
enum run_state { RUN_WAITING, RUN_RUNNING, RUN_DONE };

struct run {
	unsigned module;
	const struct mbi_module *initrd;
	int cpu;	  /* cpu= pin, or -1 */
	unsigned want;	  /* vCPUs: CPUs that must join */
	const char *bad;  /* why it cannot run (a CPU that is not online), reported when taken */
	bool passthrough; /* the machine's own OS */
	volatile enum run_state state; /* RUN_RUNNING once every CPU it needs has joined */
	unsigned joined;	       /* CPUs that took a vCPU of it (sched.lock) */
	bool failed;
	/* The gang: the first CPU to join creates the VM and runs vCPU 0;
	 * the others wait for it, set up their vCPU, and report. */
	struct vm *volatile vm;	   /* set when created; NULL if creation failed */
	volatile bool created;	   /* vm is final */
	volatile unsigned ready;   /* APs whose VMCS is set up (or failed) */
	volatile unsigned left;	   /* APs done with their vCPU */
};

static struct {
	/* First, alone on its cache line: the word idle CPUs MONITOR, so
	 * that spinning on the locks does not wake them. */
	volatile uint32_t generation __attribute__((aligned(64)));
	const struct mbi *m __attribute__((aligned(64)));
	const struct hv_options *o;
	struct run runs[MBI_MAX_MODULES];
	unsigned nruns, running; /* running: runs being gathered or run */
	bool passthrough_running;
	bool open; /* runs are posted: APs may pull (release/acquire) */
	volatile int lock, create_lock;
	volatile bool entered; /* the first VM entry, for the boot figure */
	int passthrough_module; /* the first passthrough module, the only one that runs; -1: none */
	volatile bool host_lost; /* no more VMs: a CPU is in a state the hypervisor cannot vouch for */
	const char *volatile lost_why; /* which, for the VMs not run */
	char passthrough_name[VM_NAME_MAX];
} sched = { .passthrough_module = -1 };

static bool vm_failed(enum vm_cause c)
{
	return c != CAUSE_DEBUG_EXIT && c != CAUSE_SHUTDOWN_PORT && c != CAUSE_HYPERCALL && c != CAUSE_HLT &&
	       c != CAUSE_POWEROFF && c != CAUSE_REBOOT;
}

static void bump(void)
{
	__atomic_add_fetch(&sched.generation, 1, __ATOMIC_RELEASE);
}

/* Spin until *WORD reaches AT_LEAST (the gang's counters). */
static void wait_count(volatile unsigned *word, unsigned at_least)
{
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < at_least)
		__asm__ volatile("pause");
}

/* No more CPUs may join R (a VM that could not be created, or is full). */
static void close_run(struct run *r)
{
	spin_lock(&sched.lock);
	r->state = RUN_RUNNING;
	r->want = r->joined;
	spin_unlock(&sched.lock);
}

/* No later VM runs: WHY says what the hypervisor can no longer vouch
 * for (each VM not run names it). The first reason is kept. */
static void lose_host(const char *why)
{
	const char *none = NULL;
	__atomic_compare_exchange_n(&sched.lost_why, &none, why, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	__atomic_store_n(&sched.host_lost, true, __ATOMIC_RELEASE);
}

/* How long the vCPUs of an ended VM are signalled before the ones still
 * in their loop are given up on: many time slices, and start-up IPIs
 * every millisecond. */
#define STOP_GIVE_UP_S 3

/* Give up on the vCPUs of VM other than SELF still in their loop, in one
 * error line. Each such CPU may still run the guest: it is lost, and
 * parks if it ever leaves (vm_left_loop); the VM's memory stays
 * allocated, as that CPU may still use it; and no later VM runs, since
 * the hypervisor cannot say what that CPU does. */
static void give_up_others(struct vm *vm, const struct vcpu *self)
{
	char list[VM_MAX_VCPUS * 24 + 1] = "";
	unsigned lost = 0;
	int n = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		uint8_t running = FATE_RUNNING;
		if (!t || t == self || !__atomic_load_n(&t->in_run, __ATOMIC_SEQ_CST) ||
		    !__atomic_compare_exchange_n(&t->fate, &running, FATE_LOST, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue; /* it left meanwhile, or another vCPU gave up on it */
		if (t->index)
			__atomic_add_fetch(&vm->aps_lost, 1, __ATOMIC_RELEASE);
		lost++;
		if (n < (int)sizeof(list) - 24)
			n += fmt_snprintf(list + n, sizeof(list) - (size_t)n, "%s CPU %u (vCPU %u)", n ? "," : "",
					  t->cpu, t->index);
	}
	if (!lost)
		return;
	lose_host("a CPU of an earlier VM did not stop");
	log_err("VM %s:%s did not stop within %u s of the VM's end: given up on; the VM's memory stays allocated "
		"and no later VM runs",
		vm->cfg.name, list, STOP_GIVE_UP_S);
}

/* SELF has left its run loop, so the VM has ended: signal every other
 * vCPU still in its loop again every millisecond until none is. One
 * signal is not enough: it can cross a CPU that is just entering the
 * wait-for-SIPI state, where only a start-up IPI reaches it and one that
 * comes while the CPU is in the hypervisor is lost. Every vCPU does this,
 * so a vCPU 0 stuck waiting for SIPI is reached by the others. A vCPU
 * still in its loop after STOP_GIVE_UP_S is given up on, so that a CPU
 * no signal reaches does not hold this one forever. */
static void finish_stop(struct vm *vm, const struct vcpu *self)
{
	uint64_t ms = tsc_hz ? tsc_hz / 1000 : 1000000;
	uint64_t give_up = rdtsc() + STOP_GIVE_UP_S * 1000 * ms;
	while (stop_others(vm, self)) {
		if (rdtsc() >= give_up) {
			give_up_others(vm, self);
			return;
		}
		uint64_t until = rdtsc() + ms;
		while (rdtsc() < until)
			__asm__ volatile("pause");
	}
}

/* V has left its run loop: true if it did so before another vCPU gave
 * up on it. One given up on is not waited for and its VM not freed, so
 * an AP that comes back too late parks here, using nothing of the VM's
 * again; vCPU 0, which nobody waits for, goes on and ends its VM. */
static bool vm_left_loop(struct vcpu *v)
{
	uint8_t running = FATE_RUNNING;
	if (__atomic_compare_exchange_n(&v->fate, &running, FATE_LEFT, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return true;
	log_err("VM %s: vCPU %u left its loop after it was given up on%s", v->vm->cfg.name, v->index,
		v->index ? ": this CPU stays parked" : "");
	if (v->index)
		for (;;)
			__asm__ volatile("cli; hlt");
	return false;
}

/* The machine's own OS has left this CPU: what it changed there that the
 * hypervisor relies on is put back (arch-x86/hoststate.h) before this CPU
 * signals any other (finish_stop) and before any later VM runs on it.
 * Where that cannot be done, no later VM runs. */
static void leave_cpu(struct vm *vm)
{
	if (vm->cfg.passthrough && !host_state_restore()) {
		log_err("VM %s: this CPU's state could not be put back after the machine's OS: no more VMs run",
			vm->cfg.name);
		lose_host("the machine's OS left a CPU in a state the hypervisor cannot put back");
	}
}

/* The APs that joined R are done with their vCPUs, or were given up on
 * (VM's, if it was made). */
static void wait_aps_left(struct run *r, const struct vm *vm)
{
	unsigned lost = 0;
	while (__atomic_load_n(&r->left, __ATOMIC_ACQUIRE) + lost < r->want - 1) {
		__asm__ volatile("pause");
		lost = vm ? __atomic_load_n(&vm->aps_lost, __ATOMIC_ACQUIRE) : 0;
	}
}

/* Create, run and end one VM on this CPU (vCPU 0's). Its struct vm comes
 * from the frame pool and goes back there. */
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
		close_run(r);
		__atomic_store_n(&r->created, true, __ATOMIC_RELEASE);
		wait_aps_left(r, NULL);
		return;
	}
	struct vm *vm = phys_to_virt(pa);
	memset(vm, 0, sizeof(*vm));
	vm->id = i;
	vm->vpid = (uint16_t)(i + 1); /* 0 is the host's */
	vm->cause = CAUSE_RUNNING;

	bool ok = vm_config_parse(m->mods[i].cmdline, fallback, o->ept, &vm->cfg, err, sizeof(err));
	if (ok && r->bad) {
		fmt_snprintf(err, sizeof(err), "%s", r->bad);
		ok = false;
	} else if (ok && vm->cfg.passthrough && (int)i != sched.passthrough_module) {
		/* One OS owns the machine; a second is a mistake in the GRUB
		 * entry, not something to run after the first. */
		fmt_snprintf(err, sizeof(err), "only one passthrough VM per boot, and VM %s was it", sched.passthrough_name);
		ok = false;
	} else if (ok && __atomic_load_n(&sched.host_lost, __ATOMIC_ACQUIRE)) {
		fmt_snprintf(err, sizeof(err), "not run: %s (see above)", sched.lost_why);
		ok = false;
	} else if (ok && r->want > 1 && !(hv_vmx_caps.misc & VMX_MISC_WAIT_SIPI)) {
		fmt_snprintf(err, sizeof(err), "cpus=%u: this CPU's VMX has no wait-for-SIPI activity state "
			     "(IA32_VMX_MISC bit 8), which the other vCPUs start in", r->want);
		ok = false;
	}
	if (ok) {
		const struct mbi_module *initrd = r->initrd;
		char vcpus[24] = "";
		if (r->want > 1)
			fmt_snprintf(vcpus, sizeof(vcpus), "%u vCPUs, ", r->want);
		if (vm->cfg.passthrough)
			log_info("VM %s: the machine's own OS (passthrough), %simage %llu bytes%s", vm->cfg.name, vcpus,
				 (unsigned long long)(m->mods[i].end - m->mods[i].start),
				 initrd ? ", with the next module as its initrd" : "");
		else
			log_info("VM %s: %s%llu MiB RAM, EPT %s, image %llu bytes%s", vm->cfg.name, vcpus,
				 (unsigned long long)(vm->cfg.mem >> 20), vm->cfg.ept == EPT_LAZY ? "lazy" : "eager",
				 (unsigned long long)(m->mods[i].end - m->mods[i].start),
				 initrd ? ", with the next module as its initrd" : "");
		spin_lock(&sched.create_lock);
		ok = vm_create(vm, m, &m->mods[i], initrd, r->want, err, sizeof(err));
		spin_unlock(&sched.create_lock);
	}
	if (!ok)
		close_run(r); /* the CPUs that joined leave; no more come */
	r->vm = ok ? vm : NULL;
	__atomic_store_n(&r->created, true, __ATOMIC_RELEASE);
	if (ok) {
		/* Every AP is set up and about to wait for SIPI before the
		 * boot vCPU runs. */
		wait_count(&r->ready, r->want - 1);
		if (vm->cfg.passthrough)
			passthrough_cpus(vm);
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
		vcpu_run(vm->vcpus[0], o->stats); /* returns when the VM has ended (vm_end) */
		vm_left_loop(vm->vcpus[0]);
		leave_cpu(vm);
		finish_stop(vm, vm->vcpus[0]);
	} else {
		log_err("VM %s: %s", vm->cfg.name[0] ? vm->cfg.name : fallback, err);
		if (!vm->cfg.name[0])
			fmt_snprintf(vm->cfg.name, sizeof(vm->cfg.name), "%s", fallback);
		vm->cause = CAUSE_ERROR;
	}
	wait_aps_left(r, ok ? vm : NULL);
	/* A CPU given up on may still run in the VM: nothing of it is freed,
	 * and its devices are left alone (that CPU may be in one now). */
	bool keep = __atomic_load_n(&vm->aps_lost, __ATOMIC_ACQUIRE);
	if (!keep)
		devices_finish(vm);
	if (vm->cfg.ept == EPT_LAZY && ok)
		log_info("VM %s: %llu EPT pages filled on first touch, %llu EPT tables", vm->cfg.name,
			 (unsigned long long)vm->lazy_fills, (unsigned long long)vm->ept.tables);
	if (!keep)
		vm_destroy(vm);
	print_vm_end(vm);
	isolation_check(vm->cfg.name);
	if (o->stats && ok)
		print_vm_stats(vm);
	r->failed = vm_failed(vm->cause) || keep;
	if (keep)
		return;
	free_vcpus(vm);
	phys_free(pa, pages);
}

/* vCPU SLOT of R's VM on this CPU: set up its VMCS here, where it runs,
 * waiting for SIPI; run it until the VM ends; tear it down here. */
static void run_ap(struct run *r, unsigned slot)
{
	while (!__atomic_load_n(&r->created, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	struct vm *vm = r->vm;
	if (!vm) {
		__atomic_add_fetch(&r->left, 1, __ATOMIC_RELEASE);
		return;
	}
	struct vcpu *v = vm->vcpus[slot];
	char err[160];
	if (vm->cfg.passthrough)
		v->apic_id = this_cpu()->apic_id;
	bool ok = vcpu_init(v, vm, NULL, err, sizeof(err));
	if (!ok) {
		log_err("VM %s: vCPU %u: %s", vm->cfg.name, slot, err);
		vm_end(v, CAUSE_ERROR, 0);
	}
	/* Ready: vcpu_run enters it at once, and takes a start-up IPI that
	 * came before it did (vcpu.c). */
	__atomic_add_fetch(&r->ready, 1, __ATOMIC_RELEASE);
	if (ok) {
		/* selftest=stuck-stop: the VM's last vCPU stays in its loop
		 * after the VM ends, as one no signal reached would, for twice
		 * the time the others signal it. */
		if (sched.o->selftest_stuck_stop && slot == vm->nvcpus - 1)
			v->stuck_ticks = 2 * STOP_GIVE_UP_S * (tsc_hz ? tsc_hz : 1000000000ull);
		vcpu_run(v, sched.o->stats);
		vm_left_loop(v); /* parks if given up on */
		leave_cpu(vm);
		finish_stop(vm, v);
	}
	vcpu_destroy(v);
	isolation_check(vm->cfg.name); /* this CPU's host state, as after any VM */
	__atomic_add_fetch(&r->left, 1, __ATOMIC_RELEASE);
}

/* The next run this CPU may join, under sched.lock; *ALL_DONE when there
 * is nothing left to wait for. */
static struct run *pick(unsigned cpu, bool *all_done)
{
	/* With no more VMs to run, any CPU takes any run, to report it: the
	 * CPU it is pinned to may be lost. */
	bool any = __atomic_load_n(&sched.host_lost, __ATOMIC_ACQUIRE);
	*all_done = true;
	for (unsigned k = 0; k < sched.nruns; k++) {
		struct run *r = &sched.runs[k];
		if (r->state == RUN_DONE)
			continue;
		*all_done = false;
		if (r->state != RUN_WAITING || (sched.passthrough_running && !r->passthrough))
			continue;
		if (r->passthrough) /* a barrier: alone, and nothing after it first */
			return (r->joined || !sched.running) && (any || r->cpu < 0 || r->cpu == (int)cpu) ? r : NULL;
		if (any || r->cpu < 0 || r->cpu == (int)cpu)
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

/* Pull runs until none is left; every CPU runs this. */
static void worker(void)
{
	unsigned cpu = this_cpu()->id;
	for (;;) {
		uint32_t seen = sched.generation;
		bool all_done;
		unsigned slot = 0;
		spin_lock(&sched.lock);
		struct run *r = pick(cpu, &all_done);
		if (r) {
			slot = r->joined++;
			if (!slot) {
				sched.running++;
				sched.passthrough_running = r->passthrough;
			}
			if (r->joined == r->want)
				r->state = RUN_RUNNING;
		}
		spin_unlock(&sched.lock);
		if (r && slot) {
			bump();
			run_ap(r, slot);
			bump();
			continue;
		}
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
	static char bad[MBI_MAX_MODULES][80];
	unsigned failed = 0, online = cpus_online();
	uint64_t free_before = hv_frames.free;

	sched.m = m;
	sched.o = o;
	for (unsigned i = 0; i < m->nmods; i++) {
		if (is_initrd(m, i)) {
			log_err("module %u is an initrd with no kernel module before it: ignored", i);
			continue;
		}
		unsigned k = sched.nruns++;
		struct run *r = &sched.runs[k];
		struct vm_config c;
		char err[8], fallback[8];
		*r = (struct run){ .module = i, .initrd = is_initrd(m, i + 1) ? &m->mods[i + 1] : NULL, .cpu = -1, .want = 1 };
		fmt_snprintf(fallback, sizeof(fallback), "vm%u", i);
		if (vm_config_parse(m->mods[i].cmdline, fallback, o->ept, &c, err, sizeof(err))) {
			/* A second passthrough module is refused when it is
			 * taken, and meanwhile is no barrier. */
			r->passthrough = c.passthrough && sched.passthrough_module < 0;
			/* What cannot run is reported by whichever CPU takes it. */
			if (c.cpu >= (int)ncpus || (c.cpu >= 0 && !cpus[c.cpu].online)) {
				fmt_snprintf(bad[k], sizeof(bad[k]), "cpu=%d: there is no such CPU online (%u are)", c.cpu,
					     online);
				r->bad = bad[k];
			} else if (c.cpus > online) {
				fmt_snprintf(bad[k], sizeof(bad[k]), "cpus=%u: only %u CPUs are online", c.cpus, online);
				r->bad = bad[k];
			} else {
				r->cpu = c.cpu;
				/* The machine's OS takes every CPU unless cpus= or a
				 * cpu= pin (one CPU) says otherwise. */
				r->want = c.cpus ? c.cpus : r->passthrough && c.cpu < 0 ? online : 1;
			}
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
