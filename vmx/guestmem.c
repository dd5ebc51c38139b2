#include "vmx/guestmem.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "vmx/vmcs.h"

#define PTE_P (1ull << 0)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull
#define PF_PRESENT (1u << 0)
#define PF_WRITE (1u << 1)

/* Read an entry of SIZE bytes (4 or 8) at guest-physical GPA. */
static bool read_entry(struct vm *vm, uint64_t gpa, unsigned size, uint64_t *e, struct gmem_fault *f)
{
	const void *p = gpa_to_hva(vm, gpa, size);
	if (!p) {
		f->gpa = gpa;
		return false;
	}
	*e = 0;
	memcpy(e, p, size);
	return true;
}

enum gmem_result guest_translate(struct vcpu *v, uint64_t linear, bool write, uint64_t *gpa, struct gmem_fault *f)
{
	struct vm *vm = v->vm;
	uint64_t cr0 = vmcs_readnat(GUEST_CR0);

	f->addr = linear;
	f->error_code = write ? PF_WRITE : 0;
	if (!(cr0 & CR0_PG)) {
		*gpa = linear & 0xffffffffull;
		return GMEM_OK;
	}
	uint64_t cr3 = vmcs_readnat(GUEST_CR3), cr4 = vmcs_readnat(GUEST_CR4), e;
	unsigned levels, esize = 8, shift_top;
	uint64_t table;

	if (!(cr4 & CR4_PAE)) { /* 32-bit paging: 2 levels of 4-byte entries */
		levels = 2;
		esize = 4;
		shift_top = 22;
		table = cr3 & 0xfffff000ull;
		linear &= 0xffffffffull;
	} else if (vmcs_read64(GUEST_IA32_EFER) & EFER_LMA) {
		levels = 4;
		shift_top = 39;
		table = cr3 & PTE_ADDR;
	} else { /* PAE: the 4 PDPTEs are in the VMCS with EPT (28.3.1) */
		linear &= 0xffffffffull;
		switch ((linear >> 30) & 3) {
		case 0: e = vmcs_read64(GUEST_PDPTE0); break;
		case 1: e = vmcs_read64(GUEST_PDPTE1); break;
		case 2: e = vmcs_read64(GUEST_PDPTE2); break;
		default: e = vmcs_read64(GUEST_PDPTE3); break;
		}
		if (!(e & PTE_P))
			return GMEM_PAGE_FAULT;
		levels = 2;
		shift_top = 21;
		table = e & PTE_ADDR;
	}

	unsigned shift = shift_top;
	for (unsigned l = levels; l >= 1; l--, shift -= (esize == 4 ? 10 : 9)) {
		unsigned bits = esize == 4 ? 10 : 9;
		uint64_t index = (linear >> shift) & ((1ull << bits) - 1);
		if (!read_entry(vm, table + index * esize, esize, &e, f))
			return GMEM_OUTSIDE_RAM;
		if (!(e & PTE_P))
			return GMEM_PAGE_FAULT;
		f->error_code |= PF_PRESENT;
		/* PS makes a large page at level 2 (or 3 in 4-level paging); in
		 * 32-bit paging only with CR4.PSE (SDM vol. 3A, 5.3). */
		bool large = l > 1 && l <= 3 && (e & PTE_PS) && (esize == 8 || (cr4 & CR4_PSE));
		if (l == 1 || large) {
			uint64_t page_mask = (1ull << shift) - 1;
			uint64_t base = esize == 4 && (e & PTE_PS) ? (e & 0xffc00000ull) : (e & PTE_ADDR & ~page_mask);
			*gpa = base | (linear & page_mask);
			return GMEM_OK;
		}
		table = esize == 4 ? (e & 0xfffff000ull) : (e & PTE_ADDR);
		f->error_code &= ~PF_PRESENT;
	}
	return GMEM_PAGE_FAULT;
}

static enum gmem_result copy(struct vcpu *v, uint64_t linear, void *buf, uint64_t len, bool write,
			     struct gmem_fault *f)
{
	uint8_t *b = buf;

	while (len) {
		uint64_t chunk = 0x1000 - (linear & 0xfff), gpa;
		if (chunk > len)
			chunk = len;
		enum gmem_result r = guest_translate(v, linear, write, &gpa, f);
		if (r != GMEM_OK)
			return r;
		void *p = gpa_to_hva(v->vm, gpa, chunk);
		if (!p) {
			f->gpa = gpa;
			return GMEM_OUTSIDE_RAM;
		}
		if (write)
			memcpy(p, b, chunk);
		else
			memcpy(b, p, chunk);
		b += chunk;
		linear += chunk;
		len -= chunk;
	}
	return GMEM_OK;
}

enum gmem_result guest_read(struct vcpu *v, uint64_t linear, void *buf, uint64_t len, struct gmem_fault *f)
{
	return copy(v, linear, buf, len, false, f);
}

enum gmem_result guest_write(struct vcpu *v, uint64_t linear, const void *buf, uint64_t len, struct gmem_fault *f)
{
	return copy(v, linear, (void *)buf, len, true, f);
}
