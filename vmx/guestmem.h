/*
 * Reading and writing guest memory by linear address, through the guest's
 * own paging as its CPU would (no paging, 32-bit, PAE or 4-level; SDM
 * vol. 3A, chapter 5), then its memory slots. Everything here is read
 * from untrusted guest memory and checked before use.
 */
#ifndef VMX_GUESTMEM_H
#define VMX_GUESTMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/vm.h"

enum gmem_result {
	GMEM_OK,
	GMEM_PAGE_FAULT,  /* the guest's tables do not map it: fault_addr, inject #PF */
	GMEM_OUTSIDE_RAM, /* maps (or is) a guest-physical address in no slot: fault_gpa */
};

struct gmem_fault {
	uint64_t addr; /* linear address that faulted */
	uint64_t gpa;  /* guest-physical address outside RAM */
	uint32_t error_code;
};

/* Guest-physical address of LINEAR under the vCPU's current paging. */
enum gmem_result guest_translate(struct vcpu *v, uint64_t linear, bool write, uint64_t *gpa, struct gmem_fault *f);

/* Copy LEN bytes between guest linear memory and BUF, page by page. */
enum gmem_result guest_read(struct vcpu *v, uint64_t linear, void *buf, uint64_t len, struct gmem_fault *f);
enum gmem_result guest_write(struct vcpu *v, uint64_t linear, const void *buf, uint64_t len, struct gmem_fault *f);

#endif
