/* The guest page walker and segmentation (vmx/core/gwalk.c) on page tables
 * from the input. The first HDR bytes choose the paging mode, the control
 * bits, CPL, the access, MAXPHYADDR, CR3, the PAE PDPTEs, the linear
 * address and where RAM ends; the rest fills an 8-page buffer that every
 * guest-physical address below the end of RAM folds into (so random
 * entries still land on tables). Each translation is checked against a
 * reference walk of a snapshot taken before it:
 *   - the walker reads nothing the callback did not hand it (ASan), and
 *     never gives up (no other vCPU races here);
 *   - the same result, address, error code (P, W, U, RSVD, I/D) and path;
 *   - a success's rights really hold at every level (U/S, R/W with WP,
 *     SMEP, SMAP with AC, NX), and no entry used has a reserved bit;
 *   - memory changes only on success, only in the entries used, only A
 *     (and D in the last, on a write), and a second walk changes nothing.
 * Then the segmentation checks on fields from the input. */
#include "fuzz.h"

#include <stdbool.h>

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "vmx/core/gwalk.h"

#define MEMSZ 0x8000u
#define HDR 64

static uint8_t *mem;
static uint64_t ram_end;

static void *map(void *ctx, uint64_t gpa, unsigned size)
{
	(void)ctx;
	if (gpa >= ram_end)
		return NULL;
	uint64_t off = gpa & (MEMSZ - 1);
	if (off + size > MEMSZ)
		return NULL;
	return mem + off;
}

static uint64_t get(const uint8_t *d, unsigned off, unsigned n)
{
	uint64_t v = 0;
	memcpy(&v, d + off, n);
	return v;
}

/* --- the reference: one level at a time, from the SDM's tables --------------- */

enum { R_OK, R_NOT_PRESENT, R_RESERVED, R_OUTSIDE, R_NONCANONICAL };

struct ref {
	int result;
	uint64_t gpa, fault_gpa;
	bool user_ok, write_ok, exec_ok; /* AND of U/S and R/W, no XD (with NXE) */
	unsigned n;
	uint64_t entry_gpa[5], entry[5];
	unsigned esize;
};

static bool bit(uint64_t v, unsigned b)
{
	return (v >> b) & 1;
}

/* Does entry E at LEVEL (1 = the PTE) have a reserved bit? */
static bool reserved(const struct gw_paging *p, unsigned mode, unsigned level, uint64_t e, unsigned m)
{
	bool nxe = p->efer & EFER_NXE;
	if (mode == 1) { /* 32-bit: only a 4 MiB PDE has any */
		if (level != 2 || !bit(e, 7) || !(p->cr4 & CR4_PSE))
			return false;
		unsigned m40 = m < 40 ? m : 40;
		for (unsigned b = 13 + (m40 - 32); b <= 21; b++)
			if (bit(e, b))
				return true;
		return false;
	}
	unsigned top = mode == 2 ? 62 : 51;
	for (unsigned b = m; b <= top; b++)
		if (bit(e, b))
			return true;
	if (!nxe && bit(e, 63))
		return true;
	if (level >= 4 && bit(e, 7))
		return true;
	if (level == 3 && bit(e, 7)) {
		if (!p->gbpages)
			return true;
		for (unsigned b = 13; b <= 29; b++)
			if (bit(e, b))
				return true;
	}
	if (level == 2 && bit(e, 7))
		for (unsigned b = 13; b <= 20; b++)
			if (bit(e, b))
				return true;
	return false;
}

static void ref_walk(const struct gw_paging *p, unsigned mode, uint64_t la, const uint8_t *snap, struct ref *r)
{
	unsigned m = p->maxphyaddr < 32 ? 32 : p->maxphyaddr > 52 ? 52 : p->maxphyaddr;
	uint64_t frame_mask = ((m == 64 ? 0 : 1ull << m) - 1) & ~0xfffull;
	memset(r, 0, sizeof(*r));
	r->user_ok = r->write_ok = r->exec_ok = true;
	r->esize = mode == 1 ? 4 : 8;
	if (mode == 0) {
		r->gpa = la & 0xffffffffull;
		return;
	}
	unsigned levels = mode == 1 ? 2 : mode == 2 ? 2 : mode == 3 ? 4 : 5;
	uint64_t table;
	if (mode >= 3) {
		unsigned va = mode == 4 ? 57 : 48;
		int64_t s = (int64_t)(la << (64 - va)) >> (64 - va);
		if ((uint64_t)s != la) {
			r->result = R_NONCANONICAL;
			return;
		}
		table = p->cr3 & frame_mask;
	} else if (mode == 2) {
		la &= 0xffffffffull;
		uint64_t e = p->pdpte[la >> 30];
		if (!(e & 1)) {
			r->result = R_NOT_PRESENT;
			return;
		}
		for (unsigned b = m; b < 64; b++)
			if (bit(e, b))
				r->result = R_RESERVED;
		if (e & 0x1e6)
			r->result = R_RESERVED;
		if (r->result)
			return;
		table = e & frame_mask;
	} else {
		la &= 0xffffffffull;
		table = p->cr3 & 0xfffff000ull;
	}
	for (unsigned level = levels; level >= 1; level--) {
		unsigned bits = mode == 1 ? 10 : 9;
		unsigned shift = 12 + bits * (level - 1);
		uint64_t idx = (la >> shift) & ((1u << bits) - 1), egpa = table + idx * r->esize;
		if (egpa >= ram_end || (egpa & (MEMSZ - 1)) + r->esize > MEMSZ) {
			r->result = R_OUTSIDE;
			r->fault_gpa = egpa;
			return;
		}
		uint64_t e = 0;
		memcpy(&e, snap + (egpa & (MEMSZ - 1)), r->esize);
		r->entry_gpa[r->n] = egpa;
		r->entry[r->n++] = e;
		if (!bit(e, 0)) {
			r->result = R_NOT_PRESENT;
			return;
		}
		if (reserved(p, mode, level, e, m)) {
			r->result = R_RESERVED;
			return;
		}
		r->user_ok &= bit(e, 2);
		r->write_ok &= bit(e, 1);
		if (mode >= 2 && (p->efer & EFER_NXE) && bit(e, 63))
			r->exec_ok = false;
		bool big = level > 1 && bit(e, 7) && (mode == 1 ? level == 2 && (p->cr4 & CR4_PSE) : level <= 3);
		if (level == 1 || big) {
			uint64_t off = la & ((1ull << shift) - 1);
			if (mode == 1 && big)
				r->gpa = (e & 0xffc00000ull) | ((e >> 13) & 0xff & ((1u << ((m < 40 ? m : 40) - 32)) - 1)) << 32 | off;
			else if (mode == 1)
				r->gpa = (e & 0xfffff000ull) | off;
			else
				r->gpa = (e & frame_mask & ~((1ull << shift) - 1)) | off;
			return;
		}
		table = mode == 1 ? e & 0xfffff000ull : e & frame_mask;
	}
}

/* SDM vol. 3A, 5.6, written out per kind of access. */
static bool ref_allowed(const struct gw_paging *p, unsigned access, const struct ref *r)
{
	bool user = p->cpl == 3 && !(access & GW_IMPLICIT);
	bool smap_blocks = (p->cr4 & CR4_SMAP) && r->user_ok && ((access & GW_IMPLICIT) || !(p->rflags & RFLAGS_AC));
	switch (access & GW_KIND) {
	case GW_READ:
		return user ? r->user_ok : !smap_blocks;
	case GW_WRITE:
		if (user)
			return r->user_ok && r->write_ok;
		return !smap_blocks && (r->write_ok || !(p->cr0 & CR0_WP));
	default:
		if (user)
			return r->user_ok && r->exec_ok;
		return r->exec_ok && !(r->user_ok && (p->cr4 & CR4_SMEP));
	}
}

static void check_walk(const uint8_t *d)
{
	unsigned mode = d[0] % 5, flags = d[1];
	struct gw_paging p = {
		.cr0 = CR0_PE | (mode ? CR0_PG : 0) | ((flags & 1) ? CR0_WP : 0),
		.cr3 = get(d, 8, 8),
		.cr4 = (mode >= 2 ? CR4_PAE : 0) | (mode == 4 ? CR4_LA57 : 0) | ((flags & 2) ? CR4_PSE : 0) |
		       ((flags & 4) ? CR4_SMEP : 0) | ((flags & 8) ? CR4_SMAP : 0),
		.efer = (mode >= 3 ? EFER_LME | EFER_LMA : 0) | ((flags & 16) ? EFER_NXE : 0),
		.rflags = (flags & 32) ? RFLAGS_AC : 0,
		.cpl = d[2] & 3,
		.maxphyaddr = d[4] < 0xf0 ? 32 + d[4] % 21 : d[4], /* now and then out of range */
		.gbpages = flags & 64,
		.map = map,
	};
	for (int i = 0; i < 4; i++)
		p.pdpte[i] = get(d, 16 + 8 * i, 8);
	unsigned access = (d[3] % 3) | ((flags & 128) ? GW_IMPLICIT : 0);
	uint64_t la = get(d, 48, 8);
	ram_end = d[5] ? 1ull << (12 + d[5] % 41) : ~0ull;

	uint8_t *snap = malloc(MEMSZ);
	memcpy(snap, mem, MEMSZ);
	struct ref r;
	ref_walk(&p, mode, la, snap, &r);
	struct gw_walk w;
	enum gw_result got = gw_translate(&p, la, access, &w);
	bool write = (access & GW_KIND) == GW_WRITE, user = p.cpl == 3 && !(access & GW_IMPLICIT);

	if (got == GW_RETRY || w.levels > GW_LEVELS_MAX)
		abort(); /* nothing races here */
	bool allowed = r.result == R_OK && (mode == 0 || ref_allowed(&p, access, &r)); /* no paging: no rights */
	switch (r.result) {
	case R_OK:
		if (got != (allowed ? GW_OK : GW_PAGE_FAULT))
			abort();
		break;
	case R_NOT_PRESENT:
	case R_RESERVED:
		if (got != GW_PAGE_FAULT)
			abort();
		break;
	case R_OUTSIDE:
		if (got != GW_OUTSIDE_RAM || w.gpa != r.fault_gpa)
			abort();
		break;
	default:
		if (got != GW_NONCANONICAL)
			abort();
		break;
	}
	if (got == GW_PAGE_FAULT) {
		uint32_t want = (write ? PF_W : 0) | (user ? PF_U : 0) | (r.result == R_RESERVED ? PF_RSVD : 0) |
				(r.result != R_NOT_PRESENT ? PF_P : 0);
		if ((access & GW_KIND) == GW_FETCH && ((p.cr4 & CR4_SMEP) || (mode >= 2 && (p.efer & EFER_NXE))))
			want |= PF_ID;
		if (w.error_code != want)
			abort();
	}
	if (got != GW_OK && memcmp(snap, mem, MEMSZ))
		abort(); /* a failed walk writes nothing */
	if (got == GW_OK) {
		if (w.gpa != r.gpa || w.levels != r.n)
			abort();
		/* Only A, and D in the last entry on a write, changed: and only
		 * in the entries used (which may alias each other). */
		uint64_t ad = 0x60;
		for (unsigned i = 0; i < w.levels; i++) {
			if (w.entry_gpa[i] != r.entry_gpa[i] || ((w.entry[i] ^ r.entry[i]) & ~ad))
				abort();
			uint64_t now = 0;
			memcpy(&now, mem + (w.entry_gpa[i] & (MEMSZ - 1)), r.esize);
			if (!(now & 0x20) || ((now ^ r.entry[i]) & ~ad))
				abort();
			if (write && i == w.levels - 1 && !(now & 0x40))
				abort();
		}
		for (unsigned off = 0; off < MEMSZ; off++) {
			if (snap[off] == mem[off])
				continue;
			bool used = false;
			for (unsigned i = 0; i < w.levels; i++) {
				uint64_t at = w.entry_gpa[i] & (MEMSZ - 1);
				used |= off >= at && off < at + r.esize;
			}
			if (!used || ((snap[off] ^ mem[off]) & (off % r.esize ? 0xff : ~0x60u)))
				abort();
		}
		for (unsigned i = 0; i < w.levels; i++) {
			uint64_t at = w.entry_gpa[i] & (MEMSZ - 1);
			bool leaf_alias = false;
			for (unsigned j = 0; j < w.levels; j++)
				leaf_alias |= write && j == w.levels - 1 && (w.entry_gpa[j] & (MEMSZ - 1)) == at;
			if (!leaf_alias && (mem[at] & 0x40) && !(snap[at] & 0x40))
				abort(); /* D set where the walk did not write */
		}
		/* Done again, the same answer, and nothing more to set. */
		memcpy(snap, mem, MEMSZ);
		struct gw_walk w2;
		if (gw_translate(&p, la, access, &w2) != GW_OK || w2.gpa != w.gpa || memcmp(snap, mem, MEMSZ))
			abort();
	}
	free(snap);
}

/* --- segmentation ------------------------------------------------------------------------ */

static void check_segment(const uint8_t *d)
{
	struct gw_seg s = { get(d, 8, 8), (uint32_t)get(d, 16, 4), (uint32_t)get(d, 20, 4) & 0x1f0ff };
	unsigned seg = d[6] % 6, size = 1u << (d[7] % 3), access = d[3] % 2;
	enum gw_cpu_mode mode = (enum gw_cpu_mode)(d[2] % 4);
	uint64_t off = get(d, 24, 8), la = 0;
	if (mode < GW_MODE_64)
		off &= d[1] & 1 ? 0xffffull : 0xffffffffull;
	enum gw_seg_result r = gw_segment(&s, seg, mode, off, size, access, &la);
	if (r == GW_SEG_SS_FAULT && seg != GW_SEG_SS)
		abort();
	if (r == GW_SEG_GP && seg == GW_SEG_SS)
		abort();
	if (r != GW_SEG_OK)
		return;
	if (mode >= GW_MODE_64) {
		bool la57 = mode == GW_MODE_64_LA57;
		if (!gw_canonical(la, la57) || !gw_canonical(la + size - 1, la57))
			abort();
		return;
	}
	if (la > 0xffffffffull)
		abort();
	/* every byte within the limit, in the segment's direction */
	bool down = !(s.ar & 8) && (s.ar & 4);
	uint64_t upper = down ? ((s.ar & (1u << 14)) ? 0xffffffffull : 0xffffull) : s.limit;
	for (unsigned i = 0; i < size; i++)
		if ((down && off + i <= s.limit) || off + i > upper)
			abort();
	if (mode == GW_MODE_PROTECTED) {
		if ((s.ar & (1u << 16)) || !(s.ar & 0x10) || !(s.ar & 0x80))
			abort();
		if (access == GW_WRITE && ((s.ar & 8) || !(s.ar & 2)))
			abort();
		if (access == GW_READ && (s.ar & 8) && !(s.ar & 2))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HDR] = { 0 };
	memcpy(hdr, data, size < HDR ? size : HDR);
	mem = calloc(1, MEMSZ);
	if (size > HDR)
		memcpy(mem, data + HDR, size - HDR < MEMSZ ? size - HDR : MEMSZ);
	check_walk(hdr);
	check_segment(hdr);
	free(mem);
	return 0;
}
