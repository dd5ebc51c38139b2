#include "arch-x86/percpu/hoststate.h"

#include <stdint.h>

#include "arch-x86/apic.h"
#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/percpu/percpu.h"
#include "arch-x86/percpu/smp.h"
#include "drivers/console.h"

/* Bits of an LVT entry the CPU sets: delivery status, remote IRR. */
#define LVT_STATUS ((1u << 12) | (1u << 14))

/* The LVT entries, in the order the version register's maximum LVT entry
 * (bits 23:16) counts them: timer, LINT0, LINT1 and error on every APIC,
 * then performance counters, thermal sensor, CMCI (11.5.1). */
static const uint16_t lvts[] = { 0x320, 0x350, 0x360, 0x370, 0x340, 0x330, 0x2f0 };
#define NLVT (sizeof(lvts) / sizeof(lvts[0]))

/* MSRs (SDM vol. 4, table 2-2). */
#define MSR_SPEC_CTRL 0x048
#define MSR_MTRRCAP 0x0fe
#define MSR_MCG_CAP 0x179
#define MSR_MTRR_VAR 0x200 /* PHYSBASEn at 0x200 + 2n, PHYSMASKn after it */
#define MSR_MC_CTL2 0x280  /* MCi_CTL2 at 0x280 + i */
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_TSC_DEADLINE 0x6e0
#define MTRR_ENABLE (1ull << 11)
#define MTRR_FIXED_ENABLE (1ull << 10)
#define MCG_CMCI_P (1ull << 10)
static const uint16_t fixed_mtrrs[] = { 0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f };
#define NFIXED (sizeof(fixed_mtrrs) / sizeof(fixed_mtrrs[0]))
/* More than real CPUs have (10 or so); a CPU with more is said to have
 * state that cannot be put back. */
#define MAX_VAR_MTRRS 20
#define MAX_MC_BANKS 32

struct host_state {
	bool saved;
	/* what this CPU has */
	unsigned nlvt, nvar, nbanks; /* LVT entries, variable MTRRs, banks with MCi_CTL2 saved */
	bool mtrr, fixed, spec_ctrl, tsc_deadline, too_many_mtrrs;
	/* its state at boot */
	uint32_t apic_id, tpr, svr, divide, lvt[NLVT];
	uint64_t def_type, fix[NFIXED], var[2 * MAX_VAR_MTRRS], pat, spec, ctl2[MAX_MC_BANKS];
};
static struct host_state saved[MAX_CPUS];

void host_state_save(void)
{
	struct host_state *s = &saved[this_cpu()->id];
	struct cpuid_regs c1 = cpuid(1, 0);
	unsigned max_leaf = cpuid(0, 0).eax;

	s->nlvt = ((apic_read(APIC_VERSION) >> 16) & 0xff) + 1;
	if (s->nlvt > NLVT)
		s->nlvt = NLVT;
	s->apic_id = apic_read(APIC_ID);
	s->tpr = apic_read(APIC_TPR);
	s->svr = apic_read(APIC_SVR);
	s->divide = apic_read(APIC_TIMER_DIVIDE);
	for (unsigned i = 0; i < s->nlvt; i++)
		s->lvt[i] = apic_read(lvts[i]) & ~LVT_STATUS;
	s->tsc_deadline = c1.ecx & (1u << 24);

	s->mtrr = c1.edx & (1u << 12);
	if (s->mtrr) {
		uint64_t cap = rdmsr(MSR_MTRRCAP);
		s->fixed = cap & (1u << 8);
		s->nvar = cap & 0xff;
		s->too_many_mtrrs = s->nvar > MAX_VAR_MTRRS;
		if (s->too_many_mtrrs)
			s->nvar = MAX_VAR_MTRRS;
		s->def_type = rdmsr(MSR_MTRR_DEF_TYPE);
		for (unsigned i = 0; s->fixed && i < NFIXED; i++)
			s->fix[i] = rdmsr(fixed_mtrrs[i]);
		for (unsigned i = 0; i < 2 * s->nvar; i++)
			s->var[i] = rdmsr(MSR_MTRR_VAR + i);
	}
	s->pat = rdmsr(MSR_IA32_PAT);
	/* IA32_SPEC_CTRL: IBRS, STIBP or SSBD (CPUID.(EAX=7,ECX=0):EDX 26, 27, 31). */
	s->spec_ctrl = max_leaf >= 7 && (cpuid(7, 0).edx & (1u << 26 | 1u << 27 | 1u << 31));
	if (s->spec_ctrl)
		s->spec = rdmsr(MSR_SPEC_CTRL);
	/* MCi_CTL2 exists where the CPU has CMCI (MCG_CAP bit 10; SDM vol. 3B, 17.3.2.5). */
	if (c1.edx & (1u << 14) && rdmsr(MSR_MCG_CAP) & MCG_CMCI_P) {
		s->nbanks = rdmsr(MSR_MCG_CAP) & 0xff;
		if (s->nbanks > MAX_MC_BANKS)
			s->nbanks = MAX_MC_BANKS;
		for (unsigned i = 0; i < s->nbanks; i++)
			s->ctl2[i] = rdmsr(MSR_MC_CTL2 + i);
	}
	s->saved = true;
	if (s->too_many_mtrrs && !this_cpu()->id)
		log_warn("MTRRs: %llu variable ranges, more than the %u the hypervisor keeps: after the machine's OS "
			 "no more VMs run",
			 (unsigned long long)(rdmsr(MSR_MTRRCAP) & 0xff), MAX_VAR_MTRRS);
}

/* What the OS may have left in the local APIC, put back: the timer
 * stopped, the LVTs, TPR and SVR as at boot, every interrupt in service
 * acknowledged (an unacknowledged one blocks its priority class, the
 * hypervisor's own signal among them: 11.8.3). */
static bool apic_restore(const struct host_state *s)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if (!(base & APIC_BASE_EN)) {
		/* Disabled to xAPIC is a valid transition (11.12.5), though
		 * some CPUs (and Bochs) keep the APIC off until reset. */
		wrmsr(MSR_IA32_APIC_BASE, (base & ~APIC_BASE_EXTD) | APIC_BASE_EN);
		base = rdmsr(MSR_IA32_APIC_BASE);
		if (!(base & APIC_BASE_EN)) {
			log_err("the local APIC is off (APIC_BASE %#llx) and stays off: this CPU can signal no other",
				(unsigned long long)base);
			return false;
		}
	}
	if (!(base & APIC_BASE_EXTD) && apic_read(APIC_ID) != s->apic_id)
		apic_write(APIC_ID, s->apic_id); /* writable in xAPIC mode on some CPUs (11.4.6) */
	apic_write(APIC_TIMER_INITIAL, 0);
	if (s->tsc_deadline)
		wrmsr(MSR_TSC_DEADLINE, 0);
	for (unsigned i = 0; i < s->nlvt; i++)
		apic_write(lvts[i], s->lvt[i]);
	apic_write(APIC_TIMER_DIVIDE, s->divide);
	apic_write(APIC_TPR, s->tpr);
	apic_write(APIC_SVR, s->svr);
	unsigned in_service = 0;
	for (unsigned i = 0; i < 8; i++)
		for (uint32_t isr = apic_read(APIC_ISR + i * 0x10); isr; isr &= isr - 1)
			in_service++;
	while (in_service--)
		apic_write(APIC_EOI, 0); /* each ends the highest in service */
	return true;
}

static bool mtrrs_changed(const struct host_state *s)
{
	bool changed = rdmsr(MSR_MTRR_DEF_TYPE) != s->def_type;
	for (unsigned i = 0; s->fixed && i < NFIXED; i++)
		changed |= rdmsr(fixed_mtrrs[i]) != s->fix[i];
	for (unsigned i = 0; i < 2 * s->nvar; i++)
		changed |= rdmsr(MSR_MTRR_VAR + i) != s->var[i];
	return changed;
}

static inline void wbinvd(void)
{
	__asm__ volatile("wbinvd" ::: "memory");
}

/* The MTRRs as at boot, changed the way SDM vol. 3A, 13.11.7.2 says:
 * caches off (CD) and flushed, TLBs flushed, MTRRs disabled while they
 * are written, then flushed again and caches back on. Interrupts are off
 * in the hypervisor throughout. */
static void mtrr_restore(const struct host_state *s)
{
	if (!s->mtrr || !mtrrs_changed(s))
		return;
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	write_cr0((cr0 | CR0_CD) & ~CR0_NW);
	wbinvd();
	if (cr4 & CR4_PGE)
		write_cr4(cr4 & ~CR4_PGE);
	else
		write_cr3(read_cr3());
	wrmsr(MSR_MTRR_DEF_TYPE, rdmsr(MSR_MTRR_DEF_TYPE) & ~(MTRR_ENABLE | MTRR_FIXED_ENABLE));
	for (unsigned i = 0; s->fixed && i < NFIXED; i++)
		wrmsr(fixed_mtrrs[i], s->fix[i]);
	for (unsigned i = 0; i < 2 * s->nvar; i++)
		wrmsr(MSR_MTRR_VAR + i, s->var[i]);
	wrmsr(MSR_MTRR_DEF_TYPE, s->def_type);
	wbinvd();
	if (cr4 & CR4_PGE)
		write_cr4(cr4);
	else
		write_cr3(read_cr3());
	write_cr0(cr0);
}

bool host_state_restore(void)
{
	const struct host_state *s = &saved[this_cpu()->id];
	if (!s->saved)
		return true;
	bool ok = apic_restore(s);
	mtrr_restore(s);
	if (s->too_many_mtrrs) {
		log_err("MTRRs beyond the first %u could not be put back after the machine's OS", MAX_VAR_MTRRS);
		ok = false;
	}
	/* The VM exit loaded the host's PAT already (vmx/core/guest.c); should a
	 * CPU not have, it is put back here. */
	if (rdmsr(MSR_IA32_PAT) != s->pat)
		wrmsr(MSR_IA32_PAT, s->pat);
	if (s->spec_ctrl && rdmsr(MSR_SPEC_CTRL) != s->spec)
		wrmsr(MSR_SPEC_CTRL, s->spec);
	for (unsigned i = 0; i < s->nbanks; i++)
		if (rdmsr(MSR_MC_CTL2 + i) != s->ctl2[i])
			wrmsr(MSR_MC_CTL2 + i, s->ctl2[i]);
	/* The PICs masked again: the hypervisor takes no interrupts of
	 * its own (boot/main.c), and the OS may have unmasked them. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	return ok;
}

static bool same(const char *name, const char *what, unsigned reg, uint64_t now, uint64_t was)
{
	if (now == was)
		return true;
	log_err("isolation: after VM %s the host's %s %#x is %#llx, was %#llx", name, what, reg,
		(unsigned long long)now, (unsigned long long)was);
	return false;
}

bool host_state_check(const char *name)
{
	const struct host_state *s = &saved[this_cpu()->id];
	bool ok = true;
	if (!s->saved)
		return true;
	if (!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EN))
		return false; /* no APIC to read: vmx/isolation.c names APIC_BASE */
	if (!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD))
		ok &= same(name, "local APIC register", APIC_ID, apic_read(APIC_ID), s->apic_id);
	ok &= same(name, "local APIC register", APIC_TPR, apic_read(APIC_TPR), s->tpr);
	ok &= same(name, "local APIC register", APIC_SVR, apic_read(APIC_SVR), s->svr);
	ok &= same(name, "local APIC register", APIC_TIMER_DIVIDE, apic_read(APIC_TIMER_DIVIDE), s->divide);
	for (unsigned i = 0; i < s->nlvt; i++)
		ok &= same(name, "local APIC register", lvts[i], apic_read(lvts[i]) & ~LVT_STATUS, s->lvt[i]);
	for (unsigned i = 0; i < 8; i++)
		ok &= same(name, "local APIC register", APIC_ISR + i * 0x10, apic_read(APIC_ISR + i * 0x10), 0);
	if (s->mtrr) {
		ok &= same(name, "MSR", MSR_MTRR_DEF_TYPE, rdmsr(MSR_MTRR_DEF_TYPE), s->def_type);
		for (unsigned i = 0; s->fixed && i < NFIXED; i++)
			ok &= same(name, "MSR", fixed_mtrrs[i], rdmsr(fixed_mtrrs[i]), s->fix[i]);
		for (unsigned i = 0; i < 2 * s->nvar; i++)
			ok &= same(name, "MSR", MSR_MTRR_VAR + i, rdmsr(MSR_MTRR_VAR + i), s->var[i]);
	}
	if (s->spec_ctrl)
		ok &= same(name, "MSR", MSR_SPEC_CTRL, rdmsr(MSR_SPEC_CTRL), s->spec);
	for (unsigned i = 0; i < s->nbanks; i++)
		ok &= same(name, "MSR", MSR_MC_CTL2 + i, rdmsr(MSR_MC_CTL2 + i), s->ctl2[i]);
	return ok;
}

unsigned host_state_count(void)
{
	const struct host_state *s = &saved[this_cpu()->id];
	return 4 + s->nlvt + 8 + (s->mtrr ? 1 + (s->fixed ? NFIXED : 0) + 2 * s->nvar : 0) + s->spec_ctrl + s->nbanks;
}
