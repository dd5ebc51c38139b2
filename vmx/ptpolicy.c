#include "vmx/ptpolicy.h"

#include "arch-x86/msr.h"

enum nmi_step nmi_step(const struct nmi_view *s)
{
	bool blocked = s->event_queued || s->sti || s->mov_ss || s->nmi_blocked || s->debug_trap;
	if (!blocked)
		return NMI_INJECT;
	if (!s->virtual_nmis)
		return (s->sti || s->mov_ss || s->debug_trap) && s->interrupts_on ? NMI_WAIT_INTR_WINDOW : NMI_WAIT_EXIT;
	return s->sti && s->after_nmi_window ? NMI_WAIT_INTR_WINDOW : NMI_WAIT_NMI_WINDOW;
}

bool apic_base_write_allowed(uint64_t cur, uint64_t value)
{
	if (value == cur)
		return true;
	return (value ^ cur) == APIC_BASE_EXTD && (value & APIC_BASE_EXTD) && (value & APIC_BASE_EN);
}
