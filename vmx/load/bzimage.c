#include "vmx/load/bzimage.h"

#include "arch-x86/string.h"
#include "arch-x86/unaligned.h"
#include "drivers/format.h"

bool bzimage_detect(const uint8_t *img, uint64_t len)
{
	return len >= 0x206 && rd16(img + 0x1fe) == 0xaa55 && !memcmp(img + 0x202, "HdrS", 4);
}

bool bzimage_parse(const uint8_t *img, uint64_t len, struct linux_header *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (!bzimage_detect(img, len) || len < 0x268) {
		fmt_snprintf(err, errlen, "truncated Linux setup header");
		return false;
	}
	h->version = rd16(img + 0x206);
	if (h->version < LINUX_MIN_VERSION) {
		fmt_snprintf(err, errlen, "Linux boot protocol %u.%02u is too old (2.12 or later is needed)",
			     h->version >> 8, h->version & 0xff);
		return false;
	}
	h->setup_sects = img[0x1f1] ? img[0x1f1] : 4; /* 0 means 4 (boot.rst) */
	h->hdr_end = img[0x201];
	h->loadflags = img[0x211];
	h->code32_start = rd32(img + 0x214);
	h->initrd_addr_max = rd32(img + 0x22c);
	h->kernel_alignment = rd32(img + 0x230);
	h->relocatable = img[0x234];
	h->xloadflags = rd16(img + 0x236);
	h->cmdline_size = rd32(img + 0x238);
	memcpy(&h->pref_address, img + 0x258, 8);
	h->init_size = rd32(img + 0x260);
	h->pm_offset = ((uint64_t)h->setup_sects + 1) * 512;

	if (!(h->loadflags & LOADFLAGS_LOADED_HIGH)) {
		fmt_snprintf(err, errlen, "a zImage (not loaded high) is not supported");
		return false;
	}
	if (0x202 + (uint64_t)h->hdr_end > 0x290 || h->pm_offset >= len) {
		fmt_snprintf(err, errlen, "Linux setup header is inconsistent (setup_sects %u, header end %#x)",
			     h->setup_sects, 0x202 + h->hdr_end);
		return false;
	}
	h->pm_len = len - h->pm_offset;
	if (h->kernel_alignment == 0 || (h->kernel_alignment & (h->kernel_alignment - 1))) {
		fmt_snprintf(err, errlen, "Linux kernel_alignment %#x is not a power of two", h->kernel_alignment);
		return false;
	}
	if (h->init_size < h->pm_len)
		h->init_size = (uint32_t)h->pm_len;
	return true;
}

void bzimage_boot_params(uint8_t *bp, const uint8_t *img, const struct linux_header *h, uint64_t cmdline_pa,
			 uint64_t initrd_pa, uint64_t initrd_len, const struct e820_entry *e820, unsigned n,
			 uint64_t rsdp)
{
	memset(bp, 0, LINUX_BOOT_PARAMS_SIZE);
	memcpy(bp + 0x1f1, img + 0x1f1, 0x202 + h->hdr_end - 0x1f1);
	bp[0x210] = 0xff;
	bp[0x211] = (uint8_t)(h->loadflags & LOADFLAGS_LOADED_HIGH);
	wr32(bp + 0x218, (uint32_t)initrd_pa);
	wr32(bp + 0x21c, (uint32_t)initrd_len);
	wr32(bp + 0x0c0, (uint32_t)(initrd_pa >> 32));
	wr32(bp + 0x0c4, (uint32_t)(initrd_len >> 32));
	wr32(bp + 0x228, (uint32_t)cmdline_pa);
	wr32(bp + 0x0c8, (uint32_t)(cmdline_pa >> 32));
	if (h->version >= 0x020e)
		memcpy(bp + 0x070, &rsdp, 8);
	if (n > LINUX_E820_MAX)
		n = LINUX_E820_MAX;
	bp[0x1e8] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = bp + 0x2d0 + i * 20;
		memcpy(e, &e820[i].addr, 8);
		memcpy(e + 8, &e820[i].size, 8);
		wr32(e + 16, e820[i].type);
	}
}
