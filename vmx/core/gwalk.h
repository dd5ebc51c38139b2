/*
 * The guest's own address translation, as its CPU does it, for the memory
 * the hypervisor touches on the guest's behalf (INS/OUTS operands,
 * hypercall buffers, the instruction at an MMIO exit):
 *   - segmentation: outside 64-bit mode the segment's usability, type and
 *     limit (SDM vol. 3A, 6.3 and 6.4), in 64-bit mode the canonical check
 *     (vol. 1, 3.3.7.1);
 *   - paging in every mode (none, 32-bit, PAE, 4-level, 5-level) with the
 *     access rights of the access at the vCPU's CPL (U/S, R/W with CR0.WP,
 *     SMEP, SMAP with RFLAGS.AC, NX), reserved bits, the page-fault error
 *     code and the accessed and dirty flags (vol. 3A, 5.2-5.8).
 * Pure logic: the vCPU's state comes in a struct and guest memory through
 * a callback, so it compiles for the host (unit tests, fuzzer). Not
 * modelled: protection keys, CET shadow stacks, LAM/LASS, alignment checks.
 */
#ifndef VMX_GWALK_H
#define VMX_GWALK_H

#include <stdbool.h>
#include <stdint.h>

/* The access: one kind, maybe with GW_IMPLICIT. */
enum gw_access {
	GW_READ = 0,
	GW_WRITE = 1,
	GW_FETCH = 2,
	GW_IMPLICIT = 4, /* an implicit supervisor-mode access: supervisor even at CPL 3, SMAP whatever AC */
};
#define GW_KIND 3 /* the kind's bits in an enum gw_access */

/* Page-fault error code bits (SDM vol. 3A, 5.7). */
#define PF_P (1u << 0)	  /* 0: not present; 1: a protection or reserved-bit violation */
#define PF_W (1u << 1)	  /* a write */
#define PF_U (1u << 2)	  /* a user-mode access */
#define PF_RSVD (1u << 3) /* a reserved bit set in an entry */
#define PF_ID (1u << 4)	  /* an instruction fetch (with SMEP, or PAE/4-level paging and NXE) */

/* The vCPU's paging state as the guest set it, and its guest memory. */
struct gw_paging {
	uint64_t cr0, cr3, cr4, efer;
	uint64_t pdpte[4];   /* PAE paging: the PDPTEs the CPU holds (from the VMCS) */
	uint64_t rflags;     /* AC */
	unsigned cpl;	     /* 3: user-mode accesses */
	unsigned maxphyaddr; /* CPUID 0x80000008 EAX[7:0] as the guest sees it */
	bool gbpages;	     /* CPUID 0x80000001 EDX[26]: 1 GiB pages offered */
	/* Host pointer to SIZE bytes of guest-physical GPA, NULL outside RAM. */
	void *(*map)(void *ctx, uint64_t gpa, unsigned size);
	void *ctx;
};

enum gw_result {
	GW_OK,
	GW_PAGE_FAULT,	 /* error_code; CR2 is the linear address */
	GW_OUTSIDE_RAM,	 /* a paging-structure entry at gpa is in no RAM */
	GW_NONCANONICAL, /* #GP, or #SS for a stack access */
	GW_RETRY,	 /* the entries kept changing under the walk: let the guest retry */
};

#define GW_LEVELS_MAX 5

/* What one translation found. */
struct gw_walk {
	uint64_t gpa;	     /* GW_OK: the guest-physical address; GW_OUTSIDE_RAM: the entry's */
	uint32_t error_code; /* GW_PAGE_FAULT */
	unsigned levels;     /* entries read from memory, top first (not PAE's PDPTE) */
	uint64_t entry[GW_LEVELS_MAX];	   /* as read, before A/D were set */
	uint64_t entry_gpa[GW_LEVELS_MAX]; /* where each was */
};

/* Translate LINEAR for ACCESS under P: on success the entries used have A
 * set, and the last one D too on a write, each atomically (other vCPUs
 * may be walking or writing them); on failure nothing is written. */
enum gw_result gw_translate(const struct gw_paging *p, uint64_t linear, unsigned access, struct gw_walk *w);

/* LINEAR is canonical: 48 bits of address, or 57 with LA57 (vol. 1, 3.3.7.1). */
bool gw_canonical(uint64_t linear, bool la57);

/* A segment register as the VMCS holds it. */
struct gw_seg {
	uint64_t base;
	uint32_t limit; /* in bytes, G already applied */
	uint32_t ar;	/* access rights in the VMX format (SDM vol. 3C, 25.4.1) */
};
#define GW_SEG_ES 0
#define GW_SEG_CS 1
#define GW_SEG_SS 2
#define GW_SEG_DS 3
#define GW_SEG_FS 4
#define GW_SEG_GS 5

enum gw_cpu_mode {
	GW_MODE_REAL,	   /* real-address or virtual-8086 mode: limit checks only */
	GW_MODE_PROTECTED, /* protected mode, or IA-32e compatibility mode */
	GW_MODE_64,	   /* 64-bit mode, 48-bit linear addresses */
	GW_MODE_64_LA57,   /* 64-bit mode with CR4.LA57 */
};

enum gw_seg_result { GW_SEG_OK, GW_SEG_GP, GW_SEG_SS_FAULT };

/* The linear address of SIZE bytes at OFFSET (already cut to the address
 * size) in segment register SEG (GW_SEG_ES..GW_SEG_GS) for ACCESS, or the
 * fault: #GP(0), or #SS(0) for SS. */
enum gw_seg_result gw_segment(const struct gw_seg *s, unsigned seg, enum gw_cpu_mode mode, uint64_t offset,
			      unsigned size, unsigned access, uint64_t *linear);

#endif
