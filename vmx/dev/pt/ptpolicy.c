#include "vmx/dev/pt/ptpolicy.h"

#include "arch-x86/apic.h"
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

/* The APIC page's address: IA32_APIC_BASE bits MAXPHYADDR-1:12, of which
 * the OS can set none but the ones it has (apic_base_write_allowed). */
#define APIC_BASE_PAGE 0x000ffffffffff000ull
/* The x2APIC ICR's reserved bits: 31:20, 17:16, 13 (11.12.9). */
#define X2APIC_ICR_RESERVED 0xfff32000ull

bool apic_mmio_icr_sends(uint64_t apic_base)
{
	return (apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EN &&
	       (apic_base & APIC_BASE_PAGE) == APIC_DEFAULT_BASE;
}

bool x2apic_icr_sends(uint64_t apic_base, uint64_t value)
{
	return (apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD) &&
	       !(value & X2APIC_ICR_RESERVED);
}
