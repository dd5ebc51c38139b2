#include "vmx/core/gwalk.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
#define GW_TRIES 4 /* walks before giving up on entries that keep changing */

#define AR_TYPE_W (1u << 1)    /* data: writable; code: readable */
#define AR_TYPE_E (1u << 2)    /* data: expand-down */
#define AR_TYPE_CODE (1u << 3)
#define AR_S (1u << 4)	       /* code or data, not system */
#define AR_P (1u << 7)
#define AR_DB (1u << 14)
#define AR_UNUSABLE (1u << 16)

/* Bits HI..LO set (none if LO > HI). */
static uint64_t bits(unsigned hi, unsigned lo)
{
	if (lo > hi)
		return 0;
	return (~0ull >> (63 - hi)) & ~((1ull << lo) - 1);
}

bool gw_canonical(uint64_t linear, bool la57)
{
	unsigned shift = la57 ? 56 : 47;
	uint64_t top = linear >> shift; /* bits 63:47 (63:56) all equal */
	return top == 0 || top == (~0ull >> shift);
}

/* One entry of a walk: where it is, and what it holds. */
struct step {
	void *host;
	uint64_t val;
};

/* Read the entry at GPA (4 or 8 bytes) once: other vCPUs may write it. */
static bool read_entry(const struct gw_paging *p, uint64_t gpa, unsigned esize, struct gw_walk *w,
		       struct step *s)
{
	s->host = p->map(p->ctx, gpa, esize);
	if (!s->host) {
		w->gpa = gpa;
		return false;
	}
	s->val = esize == 4 ? __atomic_load_n((uint32_t *)s->host, __ATOMIC_ACQUIRE)
			    : __atomic_load_n((uint64_t *)s->host, __ATOMIC_ACQUIRE);
	w->entry[w->levels] = s->val;
	w->entry_gpa[w->levels] = gpa;
	w->levels++;
	return true;
}

/* The access rights of the whole walk (SDM vol. 3A, 5.6): ALL holds the
 * AND of every entry's R/W and U/S, XD whether any entry forbids fetches. */
static bool allowed(const struct gw_paging *p, unsigned access, uint64_t all, bool xd)
{
	unsigned kind = access & GW_KIND;
	bool user_page = all & PTE_US, writable = all & PTE_RW;

	if (p->cpl == 3 && !(access & GW_IMPLICIT)) /* user-mode access */
		return user_page && (kind != GW_WRITE || writable) && (kind != GW_FETCH || !xd);
	if (kind == GW_FETCH)
		return !xd && !(user_page && (p->cr4 & CR4_SMEP));
	/* SMAP: no supervisor data access to a user page, unless an explicit
	 * one with RFLAGS.AC set. */
	if (user_page && (p->cr4 & CR4_SMAP) && ((access & GW_IMPLICIT) || !(p->rflags & RFLAGS_AC)))
		return false;
	return kind != GW_WRITE || writable || !(p->cr0 & CR0_WP);
}

/* Set A in every entry of the walk, D in the last on a write, each only
 * if it still holds what the walk read (a locked compare-exchange, as the
 * CPU's own update). False if one changed: walk again. */
static bool set_accessed_dirty(struct step *s, unsigned n, unsigned esize, bool write)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t want = s[i].val | PTE_A | (i == n - 1 && write ? PTE_D : 0);
		if (want == s[i].val)
			continue;
		bool ok;
		if (esize == 4) {
			uint32_t old = (uint32_t)s[i].val;
			ok = __atomic_compare_exchange_n((uint32_t *)s[i].host, &old, (uint32_t)want, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		} else {
			uint64_t old = s[i].val;
			ok = __atomic_compare_exchange_n((uint64_t *)s[i].host, &old, want, false, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE);
		}
		if (!ok)
			return false;
	}
	return true;
}

/* 32-bit paging (SDM vol. 3A, 5.3): two levels of 4-byte entries; with
 * CR4.PSE a PDE with PS maps 4 MiB, its bits 20:13 holding physical bits
 * 39:32 (PSE-36) up to MAXPHYADDR, at most 40. */
static enum gw_result walk32(const struct gw_paging *p, uint32_t la, unsigned m, struct gw_walk *w,
			     struct step *s, uint64_t *all, uint32_t *rsvd_ec)
{
	uint64_t table = p->cr3 & 0xfffff000ull;

	for (unsigned l = 2; l >= 1; l--) {
		unsigned shift = l == 2 ? 22 : 12;
		if (!read_entry(p, table + ((la >> shift) & 0x3ff) * 4, 4, w, &s[w->levels]))
			return GW_OUTSIDE_RAM;
		uint64_t e = s[w->levels - 1].val;
		if (!(e & PTE_P))
			return GW_PAGE_FAULT;
		*all &= e;
		if (l == 2 && (e & PTE_PS) && (p->cr4 & CR4_PSE)) {
			unsigned m40 = m < 40 ? m : 40;
			if (e & bits(21, m40 - 19)) {
				*rsvd_ec = PF_P | PF_RSVD;
				return GW_PAGE_FAULT;
			}
			uint64_t high = (e >> 13) & ((1ull << (m40 - 32)) - 1);
			w->gpa = (e & 0xffc00000ull) | high << 32 | (la & 0x3fffff);
			return GW_OK;
		}
		if (l == 1) {
			w->gpa = (e & 0xfffff000ull) | (la & 0xfff);
			return GW_OK;
		}
		table = e & 0xfffff000ull;
	}
	return GW_OK; /* not reached: level 1 is a leaf */
}

/* PAE (5.4), 4-level and 5-level paging (5.5): 8-byte entries, 9 bits of
 * the address per level. Reserved: bits above MAXPHYADDR (to 51; to 62 in
 * PAE paging), XD without EFER.NXE, PS in a PML5E/PML4E, PS in a PDPTE
 * without 1 GiB pages, bits 29:13 (20:13) of a 1 GiB (2 MiB) page. */
static enum gw_result walk64(const struct gw_paging *p, uint64_t la, unsigned m, bool pae, struct gw_walk *w,
			     struct step *s, uint64_t *all, bool *xd, uint32_t *rsvd_ec)
{
	bool nxe = p->efer & EFER_NXE;
	uint64_t addr = bits(m - 1, 12), rsvd_hi = bits(pae ? 62 : 51, m) | (nxe ? 0 : PTE_XD);
	uint64_t table;
	unsigned top;

	if (pae) {
		/* The PDPTE is the CPU's copy, not memory: no rights, no A bit. */
		uint64_t e = p->pdpte[(la >> 30) & 3];
		if (!(e & PTE_P))
			return GW_PAGE_FAULT;
		if (e & (bits(63, m) | bits(8, 5) | bits(2, 1))) {
			*rsvd_ec = PF_P | PF_RSVD;
			return GW_PAGE_FAULT;
		}
		table = e & addr;
		top = 2;
	} else {
		table = p->cr3 & addr;
		top = (p->cr4 & CR4_LA57) ? 5 : 4;
	}
	for (unsigned l = top; l >= 1; l--) {
		unsigned shift = 12 + 9 * (l - 1);
		if (!read_entry(p, table + ((la >> shift) & 511) * 8, 8, w, &s[w->levels]))
			return GW_OUTSIDE_RAM;
		uint64_t e = s[w->levels - 1].val, rsvd = rsvd_hi;
		if (!(e & PTE_P))
			return GW_PAGE_FAULT;
		bool leaf = l == 1;
		if (l >= 4) {
			rsvd |= PTE_PS;
		} else if (l == 3 && (e & PTE_PS)) {
			rsvd |= p->gbpages ? bits(29, 13) : PTE_PS;
			leaf = true;
		} else if (l == 2 && (e & PTE_PS)) {
			rsvd |= bits(20, 13);
			leaf = true;
		}
		if (e & rsvd) {
			*rsvd_ec = PF_P | PF_RSVD;
			return GW_PAGE_FAULT;
		}
		*all &= e;
		*xd |= nxe && (e & PTE_XD);
		if (leaf) {
			w->gpa = (e & addr & ~bits(shift - 1, 0)) | (la & bits(shift - 1, 0));
			return GW_OK;
		}
		table = e & addr;
	}
	return GW_OK; /* not reached: level 1 is a leaf */
}

enum gw_result gw_translate(const struct gw_paging *p, uint64_t linear, unsigned access, struct gw_walk *w)
{
	unsigned kind = access & GW_KIND;
	bool write = kind == GW_WRITE, user = p->cpl == 3 && !(access & GW_IMPLICIT);
	bool paging = p->cr0 & CR0_PG, pae = p->cr4 & CR4_PAE, long_mode = pae && (p->efer & EFER_LMA);
	/* A MAXPHYADDR out of range would make no sense of the masks. */
	unsigned m = p->maxphyaddr < 32 ? 32 : p->maxphyaddr > 52 ? 52 : p->maxphyaddr;

	w->levels = 0;
	w->error_code = 0;
	if (!paging) {
		w->gpa = linear & 0xffffffffull;
		return GW_OK;
	}
	if (long_mode && !gw_canonical(linear, p->cr4 & CR4_LA57))
		return GW_NONCANONICAL;
	/* The error code's I/D is set for fetches only where XD or SMEP
	 * exist to make one fault (5.7). */
	uint32_t ec = (write ? PF_W : 0) | (user ? PF_U : 0);
	if (kind == GW_FETCH && ((p->cr4 & CR4_SMEP) || (pae && (p->efer & EFER_NXE))))
		ec |= PF_ID;

	for (unsigned tries = 0; tries < GW_TRIES; tries++) {
		struct step s[GW_LEVELS_MAX];
		uint64_t all = PTE_RW | PTE_US;
		bool xd = false;
		uint32_t rsvd_ec = 0;
		enum gw_result r;

		w->levels = 0;
		if (!pae)
			r = walk32(p, (uint32_t)linear, m, w, s, &all, &rsvd_ec);
		else
			r = walk64(p, long_mode ? linear : linear & 0xffffffffull, m, !long_mode, w, s, &all, &xd,
				   &rsvd_ec);
		if (r == GW_PAGE_FAULT || (r == GW_OK && !allowed(p, access, all, xd))) {
			/* Not present: P clear; a reserved bit or the rights: P set. */
			w->error_code = ec | (r == GW_OK ? PF_P : rsvd_ec);
			return GW_PAGE_FAULT;
		}
		if (r != GW_OK)
			return r;
		if (set_accessed_dirty(s, w->levels, pae ? 8 : 4, write))
			return GW_OK;
	}
	return GW_RETRY;
}

/* Limit check (SDM vol. 3A, 6.3): an expand-down data segment holds the
 * offsets above its limit, up to 0xffff or, with B, 0xffffffff. */
static bool within_limit(const struct gw_seg *s, uint64_t offset, unsigned size)
{
	uint64_t last = offset + size - 1;

	if (last < offset)
		return false;
	if (!(s->ar & AR_TYPE_CODE) && (s->ar & AR_TYPE_E))
		return offset > s->limit && last <= ((s->ar & AR_DB) ? 0xffffffffull : 0xffffull);
	return last <= s->limit;
}

/* Type check (6.4): writes need a writable data segment, reads a data
 * segment or a readable code segment. */
static bool type_allows(const struct gw_seg *s, unsigned access)
{
	unsigned kind = access & GW_KIND;

	if ((s->ar & AR_UNUSABLE) || !(s->ar & AR_S) || !(s->ar & AR_P))
		return false;
	if (kind == GW_WRITE)
		return !(s->ar & AR_TYPE_CODE) && (s->ar & AR_TYPE_W);
	if (kind == GW_READ)
		return !(s->ar & AR_TYPE_CODE) || (s->ar & AR_TYPE_W);
	return s->ar & AR_TYPE_CODE;
}

enum gw_seg_result gw_segment(const struct gw_seg *s, unsigned seg, enum gw_cpu_mode mode, uint64_t offset,
			      unsigned size, unsigned access, uint64_t *linear)
{
	enum gw_seg_result fault = seg == GW_SEG_SS ? GW_SEG_SS_FAULT : GW_SEG_GP;

	if (mode == GW_MODE_64 || mode == GW_MODE_64_LA57) {
		/* Only FS and GS have a base in 64-bit mode (vol. 1, 3.4.2.1);
		 * every byte must be canonical. */
		uint64_t la = (seg == GW_SEG_FS || seg == GW_SEG_GS ? s->base : 0) + offset;
		bool la57 = mode == GW_MODE_64_LA57;
		if (!gw_canonical(la, la57) || !gw_canonical(la + size - 1, la57))
			return fault;
		*linear = la;
		return GW_SEG_OK;
	}
	if (mode == GW_MODE_PROTECTED && !type_allows(s, access))
		return fault;
	if (!within_limit(s, offset, size))
		return fault;
	*linear = (s->base + offset) & 0xffffffffull;
	return GW_SEG_OK;
}
