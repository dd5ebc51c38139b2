/*
 * Rules for what the machine's own OS (the passthrough VM) gets and may
 * do, as pure functions: vmx/core/guest.c, vmx/exit/msr.c and vmx/load/passthrough.c
 * apply them, the unit
 * tests (tests/unit/test_ptpolicy.c) check them on the host.
 */
#ifndef VMX_PTPOLICY_H
#define VMX_PTPOLICY_H

#include <stdbool.h>
#include <stdint.h>

/* What the vCPU's state says about an NMI waiting for it (issue 12,
 * finding 6). */
struct nmi_view {
	bool virtual_nmis;     /* the VM runs with virtual NMIs and NMI-window exiting */
	bool event_queued;     /* the next VM entry injects another event */
	bool sti, mov_ss;      /* blocking by STI, by MOV SS (SDM vol. 3C, 25.4.2) */
	bool nmi_blocked;      /* blocking by NMI (virtual-NMI blocking with virtual NMIs) */
	bool interrupts_on;    /* RFLAGS.IF */
	bool debug_trap;       /* a #DB trap is due after the last instruction (pending debug exceptions) */
	bool after_nmi_window; /* this exit was an NMI-window exit */
};

enum nmi_step {
	NMI_INJECT,	      /* now */
	NMI_WAIT_NMI_WINDOW,  /* for the NMI-window exit (SDM vol. 3C, 26.2) */
	NMI_WAIT_INTR_WINDOW, /* for the interrupt-window exit */
	NMI_WAIT_EXIT,	      /* for the next exit of any kind */
};

/* When the NMI may be injected: not with another event queued, not in a
 * MOV SS or STI shadow (the VM entry would fail: SDM vol. 3C, 27.3.1.5,
 * STI on some CPUs), not while the OS handles one, not before a #DB trap
 * that is due (a single step: it comes first, vol. 3A, 6.9, and a VM
 * entry that injects an NMI discards it, vol. 3C, 27.7.3; the window
 * exits come after it, 27.7.5 and 27.7.6). In an STI shadow that
 * the NMI window opened in all the same (CPUs that do not count STI
 * blocking for it), the interrupt window, as in KVM. Without virtual NMIs
 * there is no NMI window: the interrupt window ends a shadow with
 * interrupts on, else the next exit looks again. */
enum nmi_step nmi_step(const struct nmi_view *s);

/* May the OS's WRMSR of IA32_APIC_BASE from CUR to VALUE reach the CPU
 * (issue 12, finding 7)? The same value, or xAPIC to x2APIC mode (SDM
 * vol. 3A, 11.12.5). Not a move of the APIC page (11.4.4), nor the APIC
 * turned off (the hypervisor signals other CPUs through it; some CPUs
 * keep it off until reset: 11.4.3), nor the transitions the CPU itself
 * refuses with #GP (11.12.5), which would fault in the hypervisor. */
bool apic_base_write_allowed(uint64_t cur, uint64_t value);

/* Does the OS's write of the ICR's low dword through the MMIO page send
 * an IPI, with its local APIC's IA32_APIC_BASE at APIC_BASE? Only with
 * the APIC on, in xAPIC mode, at 0xFEE00000: turned off it is no APIC
 * (SDM vol. 3A, 11.4.3), in x2APIC mode the page is not decoded (11.12),
 * and a moved APIC is elsewhere (11.4.4). An INIT or SIPI is counted for
 * its target only when it is sent: the target would otherwise take one
 * that never came (vmx/vcpu.c, vcpu_take_init). */
bool apic_mmio_icr_sends(uint64_t apic_base);

/* Does the OS's WRMSR of VALUE to the x2APIC ICR send an IPI, without
 * faulting? Only in x2APIC mode (the MSR does not exist otherwise:
 * 11.12.1.2) and with no reserved bit set (11.12.9). */
bool x2apic_icr_sends(uint64_t apic_base, uint64_t value);

#endif
