/*
 * A VM and its vCPUs, as KVM models them: a VM owns its memory slots
 * (guest-physical ranges backed by host frames), its EPT, its bitmaps and
 * device models; a vCPU owns a VMCS and the guest's registers, and runs on
 * one CPU, the one that set up its VMCS. All state is in these structures,
 * none in globals, so VMs run side by side.
 */
#ifndef VMX_VM_H
#define VMX_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/pagetable.h"
#include "vmx/hw/regs.h"
#include "vmx/core/stats.h"
#include "vmx/core/vmconfig.h"

#define VM_MAX_SLOTS 64
#define VM_MAX_PORTS_LISTED 16
#define EXIT_REASON_MAX 70 /* basic exit reasons 0..69 (SDM vol. 3D, appendix C) */
_Static_assert(EXIT_REASON_MAX == STATS_EXIT_REASONS, "vmx/core/stats.h");
#define LAST_EXITS 8

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

/* The guest's memory map, in e820 terms (types 1 RAM, 2 reserved, 3 ACPI,
 * 4 NVS), as handed to a Linux guest. */
#define VM_MAX_E820 64
struct vm_e820 {
	uint64_t addr, size;
	uint32_t type;
};

struct port_count {
	uint16_t port;
	uint32_t reads, writes;
};

/* The guest's COM1: a 16550 register model whose output goes to the console. */
struct vuart {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	unsigned len;
	char line[120];
};

struct vm;

/* A vCPU's local APIC (vmx/dev/lapic.c). */
struct vlapic {
	bool enabled;	       /* the VM has one (isolated VMs) */
	bool hw;	       /* on the CPU's APIC virtualization, else emulated on EPT violations */
	uint64_t page;	       /* virtual-APIC page (physical) */
	uint64_t apic_base;    /* IA32_APIC_BASE as the guest set it */
	bool pending;	       /* IRR may hold an interrupt to deliver (other vCPUs set it, atomically) */
	bool window;	       /* interrupt-window exiting is on */
	uint64_t deadline;     /* TSC value the timer fires at; 0: not armed */
	uint64_t period;       /* periodic mode: TSC ticks between interrupts */
};

enum vcpu_fate { FATE_RUNNING, FATE_LEFT, FATE_LOST };

struct vcpu {
	struct guest_regs regs; /* first: vmx/hw/entry.S is given its address */
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
	struct vm_e820 e820[VM_MAX_E820];
	unsigned ne820;
	uint64_t table_reserve, table_reserve_frames, table_reserve_used; /* passthrough EPT tables */
	struct pt ept;
	uint64_t eptp;
	uint64_t lazy_fills;	   /* EPT pages mapped on first touch */
	uint64_t ept_build_ticks; /* TSC ticks ept_create took (eager: every leaf) */

	uint64_t io_bitmap_a, io_bitmap_b, msr_bitmap; /* physical addresses */

	/* device models */
	struct vuart uart;
	uint16_t fwcfg_selector;
	uint32_t fwcfg_offset;
	uint32_t pci_address;
	uint8_t pic_mask[2];
	unsigned shutdown_len; /* bytes of "Shutdown" seen in order at 0x8900 */
	struct port_count ports[VM_MAX_PORTS_LISTED];
	unsigned nports, ports_dropped;
};

/* Host pointer to guest-physical GPA, or NULL outside RAM; LEN bytes from
 * GPA must lie in one slot. */
void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);

/* Run every module as a VM on the online CPUs (the scheduler in vm.c:
 * cpu= pins, the rest on free CPUs in module order); print HV-END after
 * the last. The boot CPU calls this; each AP calls vms_ap_worker once it
 * is up, and it returns when there is nothing left to run. Returns the
 * number of VMs that failed. */
struct mbi;
struct hv_options;
unsigned vms_run(const struct mbi *m, const struct hv_options *o);
void vms_ap_worker(void);

/* End the VM of V with CAUSE and STATUS: V's run loop stops, and the
 * VM's other vCPUs are signalled to stop too. */
void vm_end(struct vcpu *v, enum vm_cause cause, uint64_t status);

/* A vCPU of a VM with several: V cannot run again by itself (halted with
 * no timer armed, halted with interrupts off, waiting for SIPI). When all
 * of them are so, nothing can wake any (an isolated VM has no other
 * interrupt source): the VM ends with cause=hlt, or waits for its time
 * limit if it has one, as a single vCPU's HLT does. */
void vm_vcpu_idle(struct vcpu *v);
/* T may run again: an interrupt or a start-up IPI came for it. */
void vm_vcpu_wakes(struct vcpu *t);

/* Has V's VM ended? Then V stops as well (its cause becomes the VM's):
 * the exits a stop signal causes call this. */
bool vm_stopping(struct vcpu *v);

/* Make vCPU T, running on another CPU, exit soon: an IPI to its CPU
 * (isolated VMs take external interrupts as exits); with SIPI also a
 * start-up IPI, which ends the wait-for-SIPI state with a SIPI exit. */
void vm_kick(struct vcpu *t, bool sipi);

const char *vm_cause_name(enum vm_cause c);

#endif
