#include "vmx/load/loader.h"

#include "arch-x86/cpu.h"
#include "arch-x86/string.h"
#include "arch-x86/unaligned.h"
#include "drivers/console.h"
#include "drivers/format.h"
#include "mm/memmap.h"
#include "vmx/core/memory.h"
#include "drivers/acpi.h"
#include "vmx/load/image.h"

#define REAL_DEFAULT_LOAD 0x7c00
#define FLAT_DEFAULT_LOAD 0x100000
#define PTE_P_RW 0x3ull
#define PTE_PS (1ull << 7)


/* Highest guest-physical address + 1 of RAM below 4 GiB, and of all RAM. */
static uint64_t ram_top_below_4g(const struct vm *vm)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < vm->nslots; i++)
		if (vm->slots[i].gpa < 4 * GiB && vm->slots[i].gpa + vm->slots[i].size > top)
			top = vm->slots[i].gpa + vm->slots[i].size;
	return top;
}

static uint64_t ram_top(const struct vm *vm)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < vm->nslots; i++)
		if (vm->slots[i].gpa + vm->slots[i].size > top)
			top = vm->slots[i].gpa + vm->slots[i].size;
	return top;
}

/* Identity map for long64 guests (layout in loader.h). */
static bool build_long64_tables(struct vm *vm)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 };
	bool gb = cpuid(0x80000001, 0).edx & (1u << 26);

	pml4[0] = (LONG64_TABLES_BASE + 0x1000) | PTE_P_RW;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (LONG64_TABLES_BASE + 0x2000 + i * 0x1000) | PTE_P_RW;
	for (unsigned i = 4; gb && i < 512; i++)
		pdpt[i] = ((uint64_t)i * GiB) | PTE_P_RW | PTE_PS;
	if (!guest_phys_write(vm, LONG64_TABLES_BASE, pml4, sizeof(pml4)) ||
	    !guest_phys_write(vm, LONG64_TABLES_BASE + 0x1000, pdpt, sizeof(pdpt)))
		return false;
	for (unsigned d = 0; d < 4; d++) {
		uint64_t pd[512];
		for (unsigned i = 0; i < 512; i++)
			pd[i] = ((uint64_t)d * GiB + (uint64_t)i * 0x200000) | PTE_P_RW | PTE_PS;
		if (!guest_phys_write(vm, LONG64_TABLES_BASE + 0x2000 + d * 0x1000, pd, sizeof(pd)))
			return false;
	}
	return true;
}

/* Where a flat binary goes, and the CPU state it starts in. */
static bool place_flat(struct vm *vm, struct blob image, struct image_info *ii, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	uint64_t load = c->load_set ? c->load : c->mode == MODE_REAL ? REAL_DEFAULT_LOAD : FLAT_DEFAULT_LOAD;

	ii->seg[0] = (struct image_segment){ 0, image.len, load, image.len };
	ii->nseg = 1;
	ii->entry = c->entry_set ? c->entry : load;
	if (c->mode == MODE_REAL && (load + image.len > 0x100000 || ii->entry >= 0x100000)) {
		fmt_snprintf(err, errlen, "%s=%#llx: a real-mode guest must lie below 1 MiB",
			     ii->entry >= 0x100000 && c->entry_set ? "entry" : "load",
			     (unsigned long long)(ii->entry >= 0x100000 && c->entry_set ? ii->entry : load));
		return false;
	}
	if (c->mode == MODE_PROT32 && ii->entry > 0xffffffffull) {
		fmt_snprintf(err, errlen, "entry=%#llx is above 4 GiB in prot32 mode", (unsigned long long)ii->entry);
		return false;
	}
	return true;
}

/* Does [gpa, gpa+len) lie entirely in RAM? */
static bool in_ram(struct vm *vm, uint64_t gpa, uint64_t len)
{
	while (len) {
		const struct mem_slot *s = slot_find(vm, gpa);
		if (!s)
			return false;
		uint64_t n = s->size - (gpa - s->gpa);
		if (n >= len)
			return true;
		gpa += n;
		len -= n;
	}
	return true;
}

static bool overlaps(const struct image_info *ii, uint64_t base, uint64_t end)
{
	for (unsigned i = 0; i < ii->nseg; i++)
		if (base < ii->seg[i].gpa + ii->seg[i].mem_len && ii->seg[i].gpa < end)
			return true;
	return false;
}

static bool copy_segments(struct vm *vm, struct blob image, const struct image_info *ii, char *err, size_t errlen)
{
	static const uint8_t zeros[4096];

	for (unsigned i = 0; i < ii->nseg; i++) {
		const struct image_segment *s = &ii->seg[i];
		if (s->gpa + s->mem_len < s->gpa || !in_ram(vm, s->gpa, s->mem_len)) {
			fmt_snprintf(err, errlen, "%s segment %#llx-%#llx does not fit in the VM's RAM",
				     image_format_name(ii->format), (unsigned long long)s->gpa,
				     (unsigned long long)(s->gpa + s->mem_len));
			return false;
		}
		guest_phys_write(vm, s->gpa, image.data + s->file_off, s->file_len);
		/* BSS: RAM starts zeroed, but say so rather than rely on it. */
		for (uint64_t z = s->file_len; z < s->mem_len; z += sizeof(zeros)) {
			uint64_t n = s->mem_len - z < sizeof(zeros) ? s->mem_len - z : sizeof(zeros);
			guest_phys_write(vm, s->gpa + z, zeros, n);
		}
	}
	return true;
}

/* Multiboot information (Multiboot Specification 0.6.96, 3.3). */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MBI_SIZE 120
#define MBI_AREA_SIZE 0x3000 /* MBI, memory map, module list, strings */
#define MB_LOADER_NAME "hv"

/* The information is written straight into the guest's RAM: the fixed
 * part last, what it points to after it, 8-byte aligned. */
struct mbi_builder {
	struct vm *vm;
	uint32_t len, base; /* bytes used; guest-physical address of the area */
	bool ok;	    /* every write was in RAM */
};

static uint32_t mbi_add(struct mbi_builder *b, const void *p, uint32_t n)
{
	uint32_t at = b->base + b->len;
	b->ok &= b->len + n <= MBI_AREA_SIZE && guest_phys_write(b->vm, at, p, n);
	b->len = (b->len + n + 7) & ~7u;
	return at;
}

static bool build_multiboot_info(struct vm *vm, uint64_t base, uint32_t initrd_gpa, uint64_t initrd_len,
				 char *err, size_t errlen)
{
	struct mbi_builder b = { .vm = vm, .len = MBI_SIZE, .base = (uint32_t)base, .ok = true };
	uint64_t low_top = ram_top_below_4g(vm), top = ram_top(vm);
	char cmdline[512];
	uint8_t mbi[MBI_SIZE] = { 0 };
	uint32_t flags = MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME;

	/* mem_lower: KiB from 0 (at most 640); mem_upper: KiB from 1 MiB to
	 * the first hole. */
	wr32(mbi + 4, (uint32_t)(low_top < 0xa0000 ? low_top >> 10 : 640));
	wr32(mbi + 8, (uint32_t)((low_top - 0x100000) >> 10));

	/* The command line: the file's name, then the words after "--". */
	int n = fmt_snprintf(cmdline, sizeof(cmdline), "%s%s%s", vm->cfg.name, vm->cfg.kernel_args[0] ? " " : "",
			     vm->cfg.kernel_args);
	if (n >= (int)sizeof(cmdline)) {
		fmt_snprintf(err, errlen, "kernel command line longer than %zu bytes", sizeof(cmdline) - 1);
		return false;
	}
	wr32(mbi + 16, mbi_add(&b, cmdline, (uint32_t)n + 1));

	/* The initrd as the one module, its string "initrd". */
	uint32_t mods_count = 0, mods_addr = 0;
	if (initrd_len) {
		uint32_t str = mbi_add(&b, "initrd", 7);
		uint32_t mod[4] = { initrd_gpa, (uint32_t)(initrd_gpa + initrd_len), str, 0 };
		mods_addr = mbi_add(&b, mod, sizeof(mod));
		mods_count = 1;
	}
	wr32(mbi + 20, mods_count);
	wr32(mbi + 24, mods_addr);

	/* Memory map: RAM below 640 KiB, from 1 MiB to the hole, and above
	 * 4 GiB. Each entry: size (20, not counting itself), base, length,
	 * type 1 (available). */
	struct __attribute__((packed)) {
		uint32_t size;
		uint64_t base, len;
		uint32_t type;
	} map[3] = {
		{ 20, 0, low_top < 0xa0000 ? low_top : 0xa0000, 1 },
		{ 20, 0x100000, low_top > 0x100000 ? low_top - 0x100000 : 0, 1 },
		{ 20, 4ull << 30, top > (4ull << 30) ? top - (4ull << 30) : 0, 1 },
	};
	unsigned entries = top > (4ull << 30) ? 3 : 2;
	wr32(mbi + 44, entries * sizeof(map[0]));
	wr32(mbi + 48, mbi_add(&b, map, entries * sizeof(map[0])));
	wr32(mbi + 64, mbi_add(&b, MB_LOADER_NAME, sizeof(MB_LOADER_NAME)));
	wr32(mbi + 0, flags);

	if (!b.ok || !in_ram(vm, base, b.len) || !guest_phys_write(vm, base, mbi, sizeof(mbi))) {
		fmt_snprintf(err, errlen, "no room in RAM for the multiboot information");
		return false;
	}
	return true;
}

/* The multiboot information goes in low memory (0x1000-0x3fff) unless the
 * kernel is there; then after the kernel. The initrd follows the kernel
 * (and the information), page-aligned. */
static bool load_multiboot(struct vm *vm, struct blob initrd, const struct image_info *ii, struct boot_state *bs,
			   char *err, size_t errlen)
{
	uint64_t lo, hi;
	image_extent(ii, &lo, &hi);
	uint64_t mbi_base = 0x1000, next = align_up(hi, 0x1000);
	if (overlaps(ii, mbi_base, mbi_base + MBI_AREA_SIZE)) {
		mbi_base = next;
		next += MBI_AREA_SIZE;
	}
	uint64_t initrd_gpa = 0;
	if (initrd.data) {
		initrd_gpa = next;
		if (!in_ram(vm, initrd_gpa, initrd.len) || initrd_gpa + initrd.len > 0xffffffffull) {
			fmt_snprintf(err, errlen, "the initrd (%llu bytes) does not fit in RAM after the kernel at %#llx",
				     (unsigned long long)initrd.len, (unsigned long long)initrd_gpa);
			return false;
		}
		guest_phys_write(vm, initrd_gpa, initrd.data, initrd.len);
	}
	if (!build_multiboot_info(vm, mbi_base, (uint32_t)initrd_gpa, initrd.data ? initrd.len : 0, err, errlen))
		return false;
	bs->regs.gpr[REG_RAX] = MULTIBOOT_BOOT_MAGIC;
	bs->regs.gpr[REG_RBX] = mbi_base;
	return true;
}

/* Linux's low-memory layout: the identity page tables at 0x1000-0x6fff
 * (as for long64), then boot_params, the command line and a GDT with
 * __BOOT_CS (0x10) and __BOOT_DS (0x18) (boot.rst, "64-bit boot protocol"). */
#define LINUX_BOOT_PARAMS 0x7000
#define LINUX_CMDLINE 0x8000
#define LINUX_GDT 0x8800
#define LINUX_LOW_END 0x9000
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}


/* Where the kernel's protected-mode part goes: below 4 GiB unless the
 * 64-bit entry is used by a kernel that says it may live higher
 * (XLF_CAN_BE_LOADED_ABOVE_4G); a kernel that is not relocatable goes
 * exactly at its preferred address. In a passthrough VM the modules are
 * in the guest's own RAM: the kernel must not be unpacked over them.
 * 0 if there is no room. */
static uint64_t linux_kernel_at(struct vm *vm, struct blob image, struct blob initrd, const struct linux_header *h)
{
	uint64_t align = h->kernel_alignment > 0x200000 ? h->kernel_alignment : 0x200000;
	uint64_t img_pa = (uintptr_t)image.data, rd_pa = (uintptr_t)initrd.data;
	uint64_t pref = h->pref_address ? h->pref_address : 0x100000;
	uint64_t limit = (h->xloadflags & XLF_KERNEL_64) && (h->xloadflags & (1u << 1)) ? (1ull << 40) : (4ull << 30);

	for (uint64_t a = h->relocatable ? align_up(pref, align) : pref; a + h->init_size <= limit; a += align) {
		if (in_ram(vm, a, h->init_size) &&
		    !(vm->cfg.passthrough && (ranges_overlap(a, h->init_size, img_pa, image.len) ||
					      (initrd.data && ranges_overlap(a, h->init_size, rd_pa, initrd.len)))))
			return a;
		if (!h->relocatable)
			break;
	}
	return 0;
}

/* Where the initrd goes: where it is, in a passthrough VM, if the kernel
 * can reach it (*COPY false); else the highest RAM below initrd_addr_max,
 * clear of the kernel at LOAD (and of the image in a passthrough VM), to
 * be copied there. 0 if none. */
static uint64_t linux_initrd_at(struct vm *vm, struct blob image, struct blob initrd, const struct linux_header *h,
				uint64_t load, bool *copy)
{
	uint64_t limit = (uint64_t)h->initrd_addr_max + 1, rd_pa = (uintptr_t)initrd.data;
	*copy = !(vm->cfg.passthrough && rd_pa + initrd.len <= limit && in_ram(vm, rd_pa, initrd.len));
	if (!*copy)
		return rd_pa;
	uint64_t top = ram_top_below_4g(vm) < limit ? ram_top_below_4g(vm) : limit;
	for (uint64_t a = top > initrd.len ? align_down(top - initrd.len, PAGE_SIZE) : 0;
	     a >= LINUX_LOW_END && a + initrd.len <= top; a -= PAGE_SIZE) {
		if (in_ram(vm, a, initrd.len) && !ranges_overlap(a, initrd.len, load, h->init_size) &&
		    !(vm->cfg.passthrough && ranges_overlap(a, initrd.len, (uintptr_t)image.data, image.len)))
			return a;
		if (a < PAGE_SIZE)
			break;
	}
	return 0;
}

/* The kernel, its initrd and command line in place (Linux boot protocol,
 * Documentation/arch/x86/boot.rst), the boot parameters and a GDT with
 * __BOOT_CS/__BOOT_DS made, and the vCPU started at the 32- or 64-bit
 * entry. */
static bool load_linux(struct vm *vm, struct blob image, struct blob initrd, const struct linux_header *h,
		       struct boot_state *bs, char *err, size_t errlen)
{
	if (!in_ram(vm, LONG64_TABLES_BASE, LINUX_LOW_END - LONG64_TABLES_BASE)) {
		fmt_snprintf(err, errlen, "no RAM at %#x-%#x for Linux's boot structures", LONG64_TABLES_BASE,
			     LINUX_LOW_END);
		return false;
	}
	uint64_t load = linux_kernel_at(vm, image, initrd, h);
	if (!load) {
		uint64_t align = h->kernel_alignment > 0x200000 ? h->kernel_alignment : 0x200000;
		fmt_snprintf(err, errlen, "no room for the Linux kernel (%u MiB from %#llx, alignment %#llx)%s",
			     h->init_size >> 20, (unsigned long long)h->pref_address, (unsigned long long)align,
			     h->relocatable ? "" : "; it is not relocatable");
		return false;
	}
	guest_phys_write(vm, load, image.data + h->pm_offset, h->pm_len);

	uint64_t initrd_at = 0;
	if (initrd.data) {
		bool copy;
		initrd_at = linux_initrd_at(vm, image, initrd, h, load, &copy);
		if (!initrd_at) {
			fmt_snprintf(err, errlen, "the initrd (%llu bytes) does not fit in RAM below %#llx next to the kernel",
				     (unsigned long long)initrd.len, (unsigned long long)h->initrd_addr_max + 1);
			return false;
		}
		if (copy)
			guest_phys_write(vm, initrd_at, initrd.data, initrd.len);
	}
	size_t cmdlen = strlen(vm->cfg.kernel_args);
	if (cmdlen > h->cmdline_size || cmdlen >= LINUX_GDT - LINUX_CMDLINE) {
		fmt_snprintf(err, errlen, "kernel command line of %zu bytes is longer than the kernel accepts (%u)", cmdlen,
			     h->cmdline_size);
		return false;
	}
	guest_phys_write(vm, LINUX_CMDLINE, vm->cfg.kernel_args, cmdlen + 1);

	/* The boot parameters, made in place: their page is RAM (checked
	 * above), and a page never straddles two slots. */
	struct e820_entry e820[VM_MAX_E820 < LINUX_E820_MAX ? VM_MAX_E820 : LINUX_E820_MAX];
	unsigned ne = vm_memory_map(vm, e820, sizeof(e820) / sizeof(e820[0]));
	bzimage_boot_params(gpa_to_hva(vm, LINUX_BOOT_PARAMS, LINUX_BOOT_PARAMS_SIZE), image.data, h, LINUX_CMDLINE,
			    initrd_at, initrd.data ? initrd.len : 0, e820, ne, vm->cfg.passthrough ? hv_acpi.rsdp_addr : 0);

	bool is64 = h->xloadflags & XLF_KERNEL_64;
	const uint64_t gdt[4] = { 0, 0, is64 ? 0x00af9a000000ffffull : 0x00cf9a000000ffffull, 0x00cf92000000ffffull };
	guest_phys_write(vm, LINUX_GDT, gdt, sizeof(gdt));
	bs->gdt_base = LINUX_GDT;
	bs->gdt_limit = sizeof(gdt) - 1;
	bs->code_sel = LINUX_BOOT_CS;
	bs->data_sel = LINUX_BOOT_DS;
	bs->regs.gpr[REG_RSI] = LINUX_BOOT_PARAMS;
	bs->mode = is64 ? MODE_LONG64 : MODE_PROT32;
	/* The 64-bit entry is 0x200 past the start of the protected-mode
	 * kernel; the 32-bit one is its start (boot.rst). */
	bs->rip = is64 ? load + 0x200 : load;
	log_info("VM %s: Linux %u.%02u boot protocol, kernel at %#llx (%u MiB), %s entry, initrd %#llx (%llu bytes), "
		 "%u e820 entries, command line '%s'",
		 vm->cfg.name, h->version >> 8, h->version & 0xff, (unsigned long long)load, h->init_size >> 20,
		 is64 ? "64-bit" : "32-bit", (unsigned long long)initrd_at,
		 (unsigned long long)(initrd.data ? initrd.len : 0), ne, vm->cfg.kernel_args);
	return true;
}

bool loader_load(struct vm *vm, struct blob image, struct blob initrd, struct boot_state *bs, char *err,
		 size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	struct image_info ii;

	if (image.len == 0) {
		fmt_snprintf(err, errlen, "the module is empty (0 bytes): nothing to run");
		return false;
	}
	if (!image_parse(image.data, image.len, &ii, err, errlen))
		return false;
	if (ii.format == IMAGE_FLAT) {
		if (!place_flat(vm, image, &ii, err, errlen))
			return false;
	} else if (c->mode_set || c->load_set || c->entry_set) {
		fmt_snprintf(err, errlen, "mode=, load= and entry= are for flat binaries, not for this %s kernel",
			     image_format_name(ii.format));
		return false;
	}
	if (initrd.data && ii.format != IMAGE_MULTIBOOT && ii.format != IMAGE_BZIMAGE) {
		fmt_snprintf(err, errlen, "an initrd needs a multiboot or Linux kernel, not a %s",
			     image_format_name(ii.format));
		return false;
	}

	memset(bs, 0, sizeof(*bs));
	if (ii.format == IMAGE_BZIMAGE) {
		if (!load_linux(vm, image, initrd, &ii.linux, bs, err, errlen))
			return false;
		if (bs->mode == MODE_LONG64 && !build_long64_tables(vm)) {
			fmt_snprintf(err, errlen, "cannot build the page tables for Linux's 64-bit entry");
			return false;
		}
		bs->cr3 = bs->mode == MODE_LONG64 ? LONG64_TABLES_BASE : 0;
		bs->rsp = 0; /* the kernel sets up its own stack */
		return true;
	}
	bs->mode = ii.format == IMAGE_FLAT ? c->mode : ii.format == IMAGE_ELF64 ? MODE_LONG64 : MODE_PROT32;
	if (bs->mode == MODE_LONG64 && overlaps(&ii, LONG64_TABLES_BASE, LONG64_MIN_LOAD)) {
		fmt_snprintf(err, errlen, "64-bit images load at %#x or above (page tables at %#x-%#x)",
			     LONG64_MIN_LOAD, LONG64_TABLES_BASE, LONG64_TABLES_END - 1);
		return false;
	}
	if (!copy_segments(vm, image, &ii, err, errlen))
		return false;
	if (ii.format == IMAGE_MULTIBOOT && !load_multiboot(vm, initrd, &ii, bs, err, errlen))
		return false;

	log_info("VM %s: %s image, %s mode, entry %#llx", vm->cfg.name, image_format_name(ii.format),
		 guest_mode_name(bs->mode), (unsigned long long)ii.entry);
	switch (bs->mode) {
	case MODE_REAL:
		/* CS:IP with IP < 64 KiB: 0000:7C00 for a boot sector. */
		bs->cs = (uint16_t)((ii.entry >> 4) & 0xf000);
		bs->rip = ii.entry - ((uint64_t)bs->cs << 4);
		bs->rsp = REAL_DEFAULT_LOAD;
		break;
	case MODE_PROT32:
		bs->rip = ii.entry;
		bs->rsp = ram_top_below_4g(vm);
		break;
	case MODE_LONG64:
		if (!build_long64_tables(vm)) {
			fmt_snprintf(err, errlen, "cannot build the long64 page tables");
			return false;
		}
		bs->rip = ii.entry;
		bs->rsp = ram_top(vm);
		bs->cr3 = LONG64_TABLES_BASE;
		break;
	}
	return true;
}
