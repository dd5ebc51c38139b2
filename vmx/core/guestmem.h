/*
 * Reading and writing guest memory by linear address on the guest's
 * behalf, through its own paging as its CPU would, with the rights of the
 * access at the vCPU's CPL (vmx/core/gwalk.h), then its memory slots. The
 * paging state is the guest's: CR0/CR4 as it set them, CR3, EFER, the
 * PAE PDPTEs, CPL and RFLAGS.AC from the VMCS. Everything read from guest
 * memory is untrusted and checked before use.
 */
#ifndef VMX_GUESTMEM_H
#define VMX_GUESTMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/gwalk.h"
#include "vmx/core/vm.h"

enum gmem_result {
	GMEM_OK,
	GMEM_PAGE_FAULT,   /* inject #PF: error_code, CR2 = addr */
	GMEM_OUTSIDE_RAM,  /* maps (or is) a guest-physical address in no slot: gpa */
	GMEM_NONCANONICAL, /* 4/5-level paging: #GP, or #SS for a stack access */
	GMEM_RETRY,	   /* the guest's tables kept changing: let it run the instruction again */
};

struct gmem_fault {
	uint64_t addr; /* linear address that faulted */
	uint64_t gpa;  /* guest-physical address outside RAM */
	uint32_t error_code;
};

/* Guest-physical address of LINEAR for ACCESS (enum gw_access) under the
 * vCPU's current paging; sets the accessed/dirty flags as the CPU would. */
enum gmem_result guest_translate(struct vcpu *v, uint64_t linear, unsigned access, uint64_t *gpa,
				 struct gmem_fault *f);

/* Copy LEN bytes between guest linear memory and BUF, page by page, for
 * ACCESS (a read or a fetch; guest_write: a write). With BUF NULL,
 * guest_write only checks that every page may be written. */
enum gmem_result guest_read(struct vcpu *v, uint64_t linear, void *buf, uint64_t len, unsigned access,
			    struct gmem_fault *f);
enum gmem_result guest_write(struct vcpu *v, uint64_t linear, const void *buf, uint64_t len, unsigned access,
			     struct gmem_fault *f);

/* The physical-address width the guest's CPUID reports. */
unsigned guest_maxphyaddr(void);

/* What the guest's CPUID reports of its paging: the physical-address
 * width (36 without leaf 0x80000008, SDM vol. 3A, 5.1.4) and 1 GiB
 * pages. The CPUID policy tells it once, at boot. */
void guestmem_set_cpu(unsigned maxphyaddr, bool gb_pages);

#endif
