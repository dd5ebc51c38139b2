#include "vmx/core/guestmem.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "vmx/core/memory.h"
#include "vmx/core/guest.h"
#include "vmx/hw/vmcs.h"

static void *map_gpa(void *vm, uint64_t gpa, unsigned size)
{
	return gpa_to_hva(vm, gpa, size);
}

/* The physical-address width and 1 GiB pages as the guest's CPUID
 * reports them: bits 7:0 the width, bit 8 1 GiB pages. Fixed once the
 * CPUID policy is made at boot (vmx/exit/cpuid.c says). */
static uint32_t phys_caps = 36;

static uint32_t guest_phys_caps(void)
{
	return phys_caps;
}

void guestmem_set_cpu(unsigned maxphyaddr, bool gb_pages)
{
	phys_caps = (maxphyaddr & 0xff) | (gb_pages ? 1u << 8 : 0);
}

unsigned guest_maxphyaddr(void)
{
	return guest_phys_caps() & 0xff;
}

/* The vCPU's paging state as its guest sees it. */
static void paging_state(struct vcpu *v, struct gw_paging *p)
{
	uint32_t caps = guest_phys_caps();

	*p = (struct gw_paging){
		.cr0 = guest_cr0(),
		.cr3 = vmcs_readnat(GUEST_CR3),
		.cr4 = guest_cr4(),
		.efer = vmcs_read64(GUEST_IA32_EFER),
		.rflags = vmcs_readnat(GUEST_RFLAGS),
		.cpl = guest_cpl(),
		.maxphyaddr = caps & 0xff,
		.gbpages = caps & (1u << 8),
		.map = map_gpa,
		.ctx = v->vm,
	};
	if ((p->cr0 & CR0_PG) && (p->cr4 & CR4_PAE) && !(p->efer & EFER_LMA)) {
		/* PAE paging: the CPU's PDPTEs are in the VMCS with EPT (28.3.1) */
		p->pdpte[0] = vmcs_read64(GUEST_PDPTE0);
		p->pdpte[1] = vmcs_read64(GUEST_PDPTE1);
		p->pdpte[2] = vmcs_read64(GUEST_PDPTE2);
		p->pdpte[3] = vmcs_read64(GUEST_PDPTE3);
	}
}

static enum gmem_result translate(const struct gw_paging *p, uint64_t linear, unsigned access, uint64_t *gpa,
				  struct gmem_fault *f)
{
	struct gw_walk w;

	f->addr = linear;
	switch (gw_translate(p, linear, access, &w)) {
	case GW_OK:
		*gpa = w.gpa;
		return GMEM_OK;
	case GW_PAGE_FAULT:
		f->error_code = w.error_code;
		return GMEM_PAGE_FAULT;
	case GW_OUTSIDE_RAM:
		f->gpa = w.gpa;
		return GMEM_OUTSIDE_RAM;
	case GW_NONCANONICAL:
		return GMEM_NONCANONICAL;
	default:
		return GMEM_RETRY;
	}
}

enum gmem_result guest_translate(struct vcpu *v, uint64_t linear, unsigned access, uint64_t *gpa,
				 struct gmem_fault *f)
{
	struct gw_paging p;

	paging_state(v, &p);
	return translate(&p, linear, access, gpa, f);
}

/* Move LEN bytes page by page (BUF NULL: only translate each page). */
static enum gmem_result pass(struct vcpu *v, const struct gw_paging *p, uint64_t linear, uint8_t *buf, uint64_t len,
			     unsigned access, bool write, struct gmem_fault *f)
{
	while (len) {
		uint64_t chunk = 0x1000 - (linear & 0xfff), gpa;
		if (chunk > len)
			chunk = len;
		enum gmem_result r = translate(p, linear, access, &gpa, f);
		if (r != GMEM_OK)
			return r;
		uint8_t *h = gpa_to_hva(v->vm, gpa, chunk);
		if (!h) {
			f->gpa = gpa;
			return GMEM_OUTSIDE_RAM;
		}
		if (buf && write)
			memcpy(h, buf, chunk);
		else if (buf)
			memcpy(buf, h, chunk);
		if (buf)
			buf += chunk;
		linear += chunk;
		len -= chunk;
	}
	return GMEM_OK;
}

/* Over several pages every one is checked before a byte moves: an access
 * that faults part way moves nothing, as on the CPU. */
static enum gmem_result copy(struct vcpu *v, uint64_t linear, uint8_t *buf, uint64_t len, unsigned access,
			     bool write, struct gmem_fault *f)
{
	struct gw_paging p;

	paging_state(v, &p);
	if (buf && (linear & 0xfff) + len > 0x1000) {
		enum gmem_result r = pass(v, &p, linear, NULL, len, access, write, f);
		if (r != GMEM_OK)
			return r;
	}
	return pass(v, &p, linear, buf, len, access, write, f);
}

enum gmem_result guest_read(struct vcpu *v, uint64_t linear, void *buf, uint64_t len, unsigned access,
			    struct gmem_fault *f)
{
	return copy(v, linear, buf, len, access, false, f);
}

enum gmem_result guest_write(struct vcpu *v, uint64_t linear, const void *buf, uint64_t len, unsigned access,
			     struct gmem_fault *f)
{
	return copy(v, linear, (uint8_t *)buf, len, access, true, f);
}
