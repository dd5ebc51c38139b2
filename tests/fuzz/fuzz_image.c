/* Guest images: ELF32, ELF64, multiboot1 (ELF and a.out kludge) and
 * bzImage headers, detected and parsed as the loader does, then the
 * bzImage boot_params filled in. */
#include "fuzz.h"

#include "vmx/load/bzimage.h"
#include "vmx/load/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	struct image_info ii;
	char err[200];
	if (image_parse(img, size, &ii, err, sizeof(err))) {
		uint64_t lo, hi;
		image_extent(&ii, &lo, &hi);
	}
	struct linux_header h;
	if (bzimage_detect(img, size) && bzimage_parse(img, size, &h, err, sizeof(err))) {
		static uint8_t bp[4096];
		const struct e820_entry e820[2] = { { 0, 0x9fc00, 1 }, { 0x100000, 0x1ff00000, 1 } };
		bzimage_boot_params(bp, img, &h, 0x8000, 0x1000000, 0x100000, e820, 2, 0xf0000);
	}
	free(img);
	return 0;
}
