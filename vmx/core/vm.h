/*
 * A VM and its vCPUs, as KVM models them: a VM owns its memory slots
 * (guest-physical ranges backed by host frames), its EPT, its bitmaps and
 * device models; a vCPU owns a VMCS and the guest's registers, and runs on
 * one CPU, the one that set up its VMCS. All state is in these structures,
 * none in globals, so VMs run side by side.
 */
#ifndef VMX_CORE_VM_H
#define VMX_CORE_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/memmap.h"
#include "mm/pagetable.h"
#include "vmx/hw/regs.h"
#include "vmx/core/stats.h"
#include "vmx/core/vmconfig.h"

#define VM_MAX_SLOTS 64
#define VM_MAX_PORTS_LISTED 16
#define EXIT_REASON_MAX 70 /* basic exit reasons 0..69 (SDM vol. 3D, appendix C) */
_Static_assert(EXIT_REASON_MAX == STATS_EXIT_REASONS, "vmx/core/stats.h");
#define LAST_EXITS 8

struct vm;
struct vcpu;

/*
 * A VM's bus (vmx/dev/bus.h): every device model registers its ports,
 * memory-mapped registers and MSRs here when the VM is created, with its
 * own state (DEV), and the exit handlers reach it only through these.
 */

/* An access of SIZE bytes to PORT: an OUT of *VAL (already cut to SIZE),
 * or an IN into *VAL (cut to SIZE after). */
typedef void port_fn(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val);

/* A guest's access to a device register in memory, as the one instruction
 * decoder (vmx/exit/mmio.c) hands it to the device: the device never sees
 * the instruction and never moves RIP. VALUE is what a write stores, and
 * what a read is to load (zero-extended to SIZE bytes). */
struct mmio_access {
	uint64_t gpa;
	unsigned size; /* 1, 2, 4 or 8 */
	bool write;
	uint64_t value;
};

/* Do one such access: false if the device ended the VM (it says why). */
typedef bool mmio_fn(struct vcpu *v, void *dev, struct mmio_access *a);

/* RDMSR and WRMSR of a device's MSR: false is #GP. */
typedef bool msr_read_fn(struct vcpu *v, void *dev, uint32_t msr, uint64_t *value);
typedef bool msr_write_fn(struct vcpu *v, void *dev, uint32_t msr, uint64_t value);

#define BUS_PORT_DEVICES 16
#define BUS_MMIO_REGIONS 16
#define BUS_MSR_RANGES 4

/* 16 bytes: an IO exit indexes them with one shift. */
struct port_device {
	port_fn *fn;
	void *dev;
};

struct mmio_region {
	uint64_t base, len;
	bool writes_only; /* reads go to memory (the page is read-only in EPT) */
	mmio_fn *fn;
	void *dev;
};

struct msr_range {
	uint32_t first, last;
	msr_read_fn *read; /* NULL: as if unregistered */
	msr_write_fn *write;
	void *dev;
};

struct port_count {
	uint16_t port;
	uint32_t reads, writes;
};

struct bus {
	/* Each port's model: ports[port_map[port]]; 0 is "no device". A byte
	 * per port (64 KiB) makes an IO exit's dispatch two loads. */
	uint8_t *port_map;
	struct port_device ports[BUS_PORT_DEVICES];
	void (*finish[BUS_PORT_DEVICES])(struct vm *vm, void *dev); /* when the VM has ended; or NULL */
	unsigned nports;
	struct mmio_region mmio[BUS_MMIO_REGIONS];
	unsigned nmmio;
	struct msr_range msrs[BUS_MSR_RANGES];
	unsigned nmsrs;
	uint8_t *state; /* one page the devices' own state comes from (bus_state) */
	unsigned state_used;
	/* Ports no device took, listed when the VM ends. */
	struct port_count unhandled[VM_MAX_PORTS_LISTED];
	unsigned nunhandled, unhandled_dropped;
};

/* Why a VM ended: the cause= word of the VM-END line. */
enum vm_cause {
	CAUSE_RUNNING,
	CAUSE_DEBUG_EXIT,
	CAUSE_SHUTDOWN_PORT,
	CAUSE_HLT,
	CAUSE_TRIPLE_FAULT,
	CAUSE_HYPERCALL,
	CAUSE_EPT_VIOLATION,
	CAUSE_ENTRY_FAILURE,
	CAUSE_UNHANDLED_EXIT,
	CAUSE_TIMEOUT,
	CAUSE_POWEROFF, /* a passthrough OS entered ACPI S5 */
	CAUSE_REBOOT,	/* a passthrough OS reset the machine */
	CAUSE_ERROR,
};

/* A guest-physical range backed by contiguous host frames (KVM's memslot). */
struct mem_slot {
	uint64_t gpa, size, hpa;
};

#define VM_MAX_E820 64

/* A vCPU's local-APIC model beyond its registers on the bus: emulated
 * on EPT violations, or on the CPU's APIC virtualization, one table each
 * (vmx/dev/lapic.c), chosen when the vCPU is made. The exit handlers,
 * the run loop and the core ask through it. */
struct lapic_ops {
	bool (*irr_pending)(struct vcpu *v);	    /* an interrupt is waiting in its IRR */
	void (*deliver)(struct vcpu *v);	    /* inject the highest one if it can be taken now */
	void (*timer_check)(struct vcpu *v, uint64_t now); /* fire the timer if it is due */
	bool (*halt)(struct vcpu *v);		    /* HLT with interrupts on: false if nothing can wake it */
	uint64_t (*cr8_read)(struct vcpu *v);	    /* CR8: the TPR's priority class */
	void (*cr8_write)(struct vcpu *v, uint64_t val);
	void (*write_exit)(struct vcpu *v, unsigned offset); /* APIC-write exit; NULL where there is none */
	void (*reset)(struct vcpu *v);		    /* INIT: the power-up state */
};

/* A vCPU's local APIC (vmx/dev/lapic.c). */
struct vlapic {
	const struct lapic_ops *ops; /* NULL: none (the machine's own OS uses the real one) */
	bool hw;	       /* on the CPU's APIC virtualization, else emulated on EPT violations */
	uint64_t page;	       /* virtual-APIC page (physical) */
	uint64_t apic_base;    /* IA32_APIC_BASE as the guest set it */
	uint64_t deadline;     /* TSC value the timer fires at; 0: not armed */
	uint64_t period;       /* periodic mode: TSC ticks between interrupts */
};

enum vcpu_fate { FATE_RUNNING, FATE_LEFT, FATE_LOST };

/*
 * Pending work for a vCPU, one bit each (as KVM's vcpu->requests): exit
 * handlers, device models and other CPUs set them (vcpu_request), and the
 * run loop serves them in one place before the next entry (vmx/vcpu.c,
 * vcpu_serve), so the exit path tests one word for all of them.
 */
enum vcpu_request {
	REQ_STOP = 1u << 0,    /* the VM has ended: leave the run loop */
	REQ_EVENT = 1u << 1,   /* the local APIC may have an interrupt to deliver */
	REQ_INIT = 1u << 2,    /* an INIT came (inits_sent counts the guest's) */
	REQ_SIPI = 1u << 3,    /* a start-up IPI came (sipis_sent counts the guest's) */
	REQ_REENTER = 1u << 4, /* leave vmx_run and enter again (another exit routine) */
};

struct vcpu {
	struct guest_regs regs; /* first: vmx/hw/entry.S is given its address */
	volatile uint32_t requests; /* enum vcpu_request bits; next: entry.S tests it (VCPU_REQUESTS_OFF) */
	struct vm *vm;
	uint64_t vmcs;	   /* physical address of the VMCS region */
	int launched; /* VMLAUNCH done: VMRESUME from now on */
	unsigned cpu; /* the CPU whose host state the VMCS holds (vcpu_init) */
	unsigned index;	  /* 0: the boot vCPU; the others start in wait-for-SIPI */
	uint32_t apic_id; /* what its local APIC and CPUID report */
	volatile bool in_run; /* in vcpu_run: other CPUs may signal its CPU */
	/* After its VM ended: left its loop, or given up on by another vCPU
	 * that signalled it too long (finish_stop), whichever came first. */
	volatile uint8_t fate; /* enum vcpu_fate */
	uint64_t stuck_ticks; /* selftest=stuck-stop: stays in its loop this long after its VM ends */
	/* The guest's INITs and start-up IPIs to this vCPU that went out as
	 * real ones to its CPU; an INIT or SIPI exit takes one, and one that
	 * finds none was not the guest's (a stop signal, or a stale one). */
	volatile uint32_t inits_sent, sipis_sent;
	volatile uint8_t sipi_vector; /* of the latest start-up IPI sent to it */
	volatile bool waiting_sipi; /* in the wait-for-SIPI state: an INIT changes nothing */
	volatile bool idle; /* cannot run again unless another vCPU wakes it (vm_vcpu_idle) */
	uint32_t entry_controls;
	uint64_t xcr0;
	uint64_t cr8; /* the task-priority register as the guest sees it (CR8 exits) */
	uint64_t deadline_tsc; /* cause=timeout after this TSC value; 0: none */
	bool timed; /* stats=1: exits are timed */
	uint32_t proc_controls; /* primary controls as written (interrupt-window exiting toggles) */
	struct vlapic lapic;

	uint64_t exits;
	uint32_t exit_count[EXIT_REASON_MAX];
	uint16_t last_exit[LAST_EXITS]; /* the latest basic exit reasons, at exits % LAST_EXITS */
	struct exit_stats stats; /* stats=1 only */

	enum vm_cause cause; /* this vCPU's run loop ends when it is set */
	uint64_t status;
};

struct vm {
	struct vm_config cfg;
	unsigned id;
	uint16_t vpid;
	unsigned nvcpus;
	struct vcpu *vcpus[VM_MAX_VCPUS]; /* from the frame pool; [0] is the boot vCPU */
	/* Why the VM ended: the first vCPU to end it sets these, and the
	 * others are signalled to stop (vm_end). */
	volatile enum vm_cause cause;
	uint64_t status;
	volatile int lock; /* device models and lazy EPT fills, shared by the vCPUs */
	volatile unsigned idle_vcpus; /* vCPUs with idle set */
	volatile unsigned aps_lost;   /* vCPUs but 0 given up on: they never leave, their memory stays */
	uint64_t apic_access_page; /* isolated VMs on APIC virtualization: EPT maps 0xFEE00000 here */

	struct mem_slot slots[VM_MAX_SLOTS];
	unsigned nslots;
	bool ram_borrowed; /* passthrough: slots are the machine's RAM, not the pool's */
	uint64_t kernel_module, initrd_module; /* physical start of this VM's modules */
	uint64_t dropped_ipis;
	uint32_t apic_off_refused; /* passthrough: the OS's WRMSRs that would turn its local APIC off */
	struct e820_entry e820[VM_MAX_E820]; /* passthrough: the machine's map less the hypervisor's memory */
	unsigned ne820;
	uint64_t table_reserve, table_reserve_frames, table_reserve_used; /* passthrough EPT tables */
	uint64_t frames_free_at_map; /* passthrough: the pool's free frames when its memory map was made */
	struct pt ept;
	uint64_t eptp;
	uint64_t lazy_fills;	   /* EPT pages mapped on first touch */
	uint64_t ept_build_ticks; /* TSC ticks ept_create took (eager: every leaf) */

	uint64_t io_bitmap_a, io_bitmap_b, msr_bitmap; /* physical addresses */

	struct bus bus; /* its devices (vmx/dev/bus.h) */
};

/* Where a vCPU starts: what a loader decides (vmx/load/loader.h). */
struct boot_state {
	enum guest_mode mode;
	uint64_t rip, rsp;
	uint16_t cs; /* real mode: the code segment (base = cs * 16) */
	uint64_t cr3;
	uint64_t gdt_base; /* a GDT in guest memory (0: none) */
	uint16_t gdt_limit;
	uint16_t code_sel, data_sel; /* 0: the defaults 0x08 and 0x10 */
	struct guest_regs regs;
};

/* A module's bytes. */
struct blob {
	const uint8_t *data;
	uint64_t len;
};

/* Ask V's run loop for BITS (enum vcpu_request); from any CPU. */
static inline void vcpu_request(struct vcpu *v, uint32_t bits)
{
	__atomic_fetch_or(&v->requests, bits, __ATOMIC_SEQ_CST);
}

/* Take BITS off V's requests; true if any of them was set. */
static inline bool vcpu_take_request(struct vcpu *v, uint32_t bits)
{
	return __atomic_fetch_and(&v->requests, ~bits, __ATOMIC_SEQ_CST) & bits;
}

/* Take one from a count other CPUs add to (the INITs and start-up IPIs
 * sent to a vCPU); false if it is zero. */
static inline bool count_take(volatile uint32_t *count)
{
	uint32_t n = __atomic_load_n(count, __ATOMIC_ACQUIRE);
	while (n && !__atomic_compare_exchange_n(count, &n, n - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	return n != 0;
}

/* End the VM of V with CAUSE and STATUS: V's run loop stops, and the
 * VM's other vCPUs are signalled to stop too. */
void vm_end(struct vcpu *v, enum vm_cause cause, uint64_t status);

/* Signal every vCPU of VM but SELF that is in its run loop to stop (a
 * request and a kick); false if none is. */
bool vm_signal_stop(struct vm *vm, const struct vcpu *self);

/* A vCPU of a VM with several: V cannot run again by itself (halted with
 * no timer armed, halted with interrupts off, waiting for SIPI). When all
 * of them are so, nothing can wake any (an isolated VM has no other
 * interrupt source): the VM ends with cause=hlt, or waits for its time
 * limit if it has one, as a single vCPU's HLT does. */
void vm_vcpu_idle(struct vcpu *v);
/* T may run again: an interrupt or a start-up IPI came for it. */
void vm_vcpu_wakes(struct vcpu *t);

/* The guest sent vCPU T of its VM an INIT (level assert; MODE
 * ICR_MODE_INIT) or a start-up IPI with VECTOR (ICR_MODE_SIPI), which
 * T's INIT or SIPI exit, or its run loop, takes (vcpu_serve): counted for
 * T, and T is no longer idle while a SIPI flies. False if it has no
 * effect: an INIT to a vCPU already waiting for SIPI. The caller sends
 * or lets through the real IPI. */
bool vm_post_init_sipi(struct vcpu *t, unsigned mode, uint8_t vector);

/* Has V's VM ended? Then V stops as well (its cause becomes the VM's):
 * the exits a stop signal causes call this. */
bool vm_stopping(struct vcpu *v);

/* Make vCPU T, running on another CPU, exit soon: an IPI to its CPU
 * (isolated VMs take external interrupts as exits); with SIPI also a
 * start-up IPI, which ends the wait-for-SIPI state with a SIPI exit. */
void vm_kick(struct vcpu *t, bool sipi);

const char *vm_cause_name(enum vm_cause c);

#endif
