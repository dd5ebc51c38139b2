/*
 * The scheduler: one VM per module, run to its end, then every frame it
 * held goes back to the allocator; HV-END after the last.
 */
#include "vmx/sched.h"

#include "arch-x86/cpu.h"
#include "arch-x86/percpu/hoststate.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "arch-x86/spinlock.h"
#include "arch-x86/string.h"
#include "arch-x86/tsc.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "vmx/core/vm.h"
#include "vmx/create.h"
#include "vmx/dev/bus.h"
#include "vmx/hw/caps.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "vmx/isolation.h"
#include "vmx/load/passthrough.h"
#include "vmx/report.h"
#include "vmx/vcpu.h"


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
 * free when it starts. VMs are created side by side, each on the CPU
 * that takes its run: all of a VM's state is in the VM.
 */
enum run_state { RUN_WAITING, RUN_RUNNING, RUN_DONE };

struct run {
	unsigned module;
	const struct vm_module *initrd;
	int cpu;	  /* cpu= pin, or -1 */
	unsigned want;	  /* vCPUs: CPUs that must join */
	char bad[80];	  /* why it cannot run (a CPU that is not online), reported when taken; or "" */
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
	const struct machine *m __attribute__((aligned(64)));
	const struct vms_options *o;
	struct run runs[VMS_MAX_MODULES];
	/* Each module's arguments, parsed once (vms_run), with the reason
	 * if they do not parse. */
	struct {
		bool ok;
		struct vm_config cfg;
		char err[200];
	} args[VMS_MAX_MODULES];
	unsigned nruns, running; /* running: runs being gathered or run */
	bool passthrough_running;
	bool open; /* runs are posted: APs may pull (release/acquire) */
	volatile int lock;
	volatile bool entered; /* the first VM entry, for the boot figure */
	int passthrough_module; /* the first passthrough module, the only one that runs; -1: none */
	volatile bool host_lost; /* no more VMs: a CPU is in a state the hypervisor cannot vouch for */
	const char *volatile lost_why; /* which, for the VMs not run */
	char passthrough_name[VM_NAME_MAX];
} sched = { .passthrough_module = -1 };

/* Does module I carry the word "initrd" (before any "--")? */
static bool is_initrd(unsigned i)
{
	return i < sched.m->nmods && sched.args[i].ok && sched.args[i].cfg.initrd;
}

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
	while (vm_signal_stop(vm, self)) {
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
 * hypervisor relies on is put back (arch-x86/percpu/hoststate.h) before this CPU
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

/* Why module I's run R cannot run (into ERR), or true if it can: its
 * arguments, a CPU it names, a second machine's OS, a host that can no
 * longer vouch for itself, a CPU without wait-for-SIPI for several vCPUs. */
static bool run_allowed(const struct run *r, unsigned i, char *err, size_t errlen)
{
	const struct vm_config *c = &sched.args[i].cfg;

	if (!sched.args[i].ok)
		fmt_snprintf(err, errlen, "%s", sched.args[i].err);
	else if (r->bad[0])
		fmt_snprintf(err, errlen, "%s", r->bad);
	else if (c->passthrough && (int)i != sched.passthrough_module)
		/* One OS owns the machine; a second is a mistake in the GRUB
		 * entry, not something to run after the first. */
		fmt_snprintf(err, errlen, "only one passthrough VM per boot, and VM %s was it", sched.passthrough_name);
	else if (__atomic_load_n(&sched.host_lost, __ATOMIC_ACQUIRE))
		fmt_snprintf(err, errlen, "not run: %s (see above)", sched.lost_why);
	else if (r->want > 1 && !(hv_vmx_caps.misc & VMX_MISC_WAIT_SIPI))
		fmt_snprintf(err, errlen, "cpus=%u: this CPU's VMX has no wait-for-SIPI activity state "
			     "(IA32_VMX_MISC bit 8), which the other vCPUs start in", r->want);
	else
		return true;
	return false;
}

/* Say what VM is made of, then make it (vm_create). */
static bool announce_and_create(const struct run *r, struct vm *vm, char *err, size_t errlen)
{
	const struct vm_module *mod = &sched.m->mods[r->module];
	unsigned long long bytes = mod->end - mod->start;
	const char *with_initrd = r->initrd ? ", with the next module as its initrd" : "";
	char vcpus[24] = "";

	if (r->want > 1)
		fmt_snprintf(vcpus, sizeof(vcpus), "%u vCPUs, ", r->want);
	if (vm->cfg.passthrough)
		log_info("VM %s: the machine's own OS (passthrough), %simage %llu bytes%s", vm->cfg.name, vcpus, bytes,
			 with_initrd);
	else
		log_info("VM %s: %s%llu MiB RAM, EPT %s, image %llu bytes%s", vm->cfg.name, vcpus,
			 (unsigned long long)(vm->cfg.mem >> 20), vm->cfg.ept == EPT_LAZY ? "lazy" : "eager", bytes,
			 with_initrd);
	return vm_create(vm, sched.m, mod, r->initrd, r->want, err, errlen);
}

/* Run vCPU 0 of R's VM on this CPU until the VM ends, once every AP is
 * set up and about to wait for SIPI; then stop the others. */
static void run_boot_vcpu(struct run *r, struct vm *vm)
{
	wait_count(&r->ready, r->want - 1);
	if (vm->cfg.passthrough)
		passthrough_cpus(vm);
	if (sched.o->selftest_entry_failure && r->module == 0) {
		/* Activity state 7 is reserved: the entry must fail its
		 * guest-state checks (SDM vol. 3C, 27.3.1.5). */
		log_info("selftest=entry-failure: VM %s starts with an invalid activity state", vm->cfg.name);
		vmcs_write32(GUEST_ACTIVITY_STATE, 7);
	}
	if (!__atomic_exchange_n(&sched.entered, true, __ATOMIC_ACQ_REL)) {
		/* The boot's cost up to here (make bench); held console output
		 * goes out after the reading. */
		uint64_t ticks = rdtsc() - hv_entry_tsc;
		console_release();
		log_info("boot: %llu TSC ticks from the multiboot2 entry to the first VM entry", (unsigned long long)ticks);
	}
	vcpu_run(vm->vcpus[0], sched.o->stats); /* returns when the VM has ended (vm_end) */
	vm_left_loop(vm->vcpus[0]);
	leave_cpu(vm);
	finish_stop(vm, vm->vcpus[0]);
}

/* Create, run and end one VM on this CPU (vCPU 0's). Its struct vm comes
 * from the frame pool and goes back there. */
static void run_one(struct run *r)
{
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
	vm->cfg = sched.args[i].cfg;

	bool ok = run_allowed(r, i, err, sizeof(err)) && announce_and_create(r, vm, err, sizeof(err));
	if (!ok)
		close_run(r); /* the CPUs that joined leave; no more come */
	r->vm = ok ? vm : NULL;
	__atomic_store_n(&r->created, true, __ATOMIC_RELEASE);
	if (ok) {
		run_boot_vcpu(r, vm);
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
		bus_finish(vm);
	if (vm->cfg.ept == EPT_LAZY && ok)
		log_info("VM %s: %llu EPT pages filled on first touch, %llu EPT tables", vm->cfg.name,
			 (unsigned long long)vm->lazy_fills, (unsigned long long)vm->ept.tables);
	if (!keep)
		vm_destroy(vm);
	print_vm_end(vm);
	isolation_check(vm->cfg.name);
	if (sched.o->stats && ok)
		print_vm_stats(vm);
	r->failed = vm_failed(vm->cause) || keep;
	if (keep)
		return;
	vm_free_vcpus(vm);
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
unsigned vms_run(const struct machine *m, const struct vms_options *o)
{
	unsigned failed = 0, online = cpus_online();
	uint64_t free_before = hv_frames.free;

	sched.m = m;
	sched.o = o;
	for (unsigned i = 0; i < m->nmods; i++) {
		char fallback[8];
		fmt_snprintf(fallback, sizeof(fallback), "vm%u", i);
		sched.args[i].ok = vm_config_parse(m->mods[i].cmdline, fallback, o->ept, &sched.args[i].cfg,
						   sched.args[i].err, sizeof(sched.args[i].err));
	}
	for (unsigned i = 0; i < m->nmods; i++) {
		if (is_initrd(i)) {
			log_err("module %u is an initrd with no kernel module before it: ignored", i);
			continue;
		}
		unsigned k = sched.nruns++;
		struct run *r = &sched.runs[k];
		*r = (struct run){ .module = i, .initrd = is_initrd(i + 1) ? &m->mods[i + 1] : NULL, .cpu = -1, .want = 1 };
		if (sched.args[i].ok) {
			const struct vm_config *c = &sched.args[i].cfg;
			/* A second passthrough module is refused when it is
			 * taken, and meanwhile is no barrier. */
			r->passthrough = c->passthrough && sched.passthrough_module < 0;
			/* What cannot run is reported by whichever CPU takes it. */
			if (c->cpu >= (int)ncpus || (c->cpu >= 0 && !cpus[c->cpu].online)) {
				fmt_snprintf(r->bad, sizeof(r->bad), "cpu=%d: there is no such CPU online (%u are)", c->cpu,
					     online);
			} else if (c->cpus > online) {
				fmt_snprintf(r->bad, sizeof(r->bad), "cpus=%u: only %u CPUs are online", c->cpus, online);
			} else {
				r->cpu = c->cpu;
				/* The machine's OS takes every CPU unless cpus= or a
				 * cpu= pin (one CPU) says otherwise. */
				r->want = c->cpus ? c->cpus : r->passthrough && c->cpu < 0 ? online : 1;
			}
			if (c->passthrough && sched.passthrough_module < 0) {
				fmt_snprintf(sched.passthrough_name, sizeof(sched.passthrough_name), "%s", c->name);
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
