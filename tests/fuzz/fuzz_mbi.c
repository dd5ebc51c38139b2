/* The multiboot2 boot information: parse, then derive the memory ranges
 * and the typed map the passthrough VM's e820 comes from. */
#include "fuzz.h"

#include "boot/mbi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The parser reads the block in place, trusting its first field,
	 * total_size, for the block's extent (GRUB's block has at least the
	 * 8-byte header): an 8-aligned copy whose total_size is its size,
	 * with nothing readable after it. Everything else is the fuzzer's. */
	if (size < 8 || size > UINT32_MAX)
		return 0;
	uint8_t *block = malloc(size);
	memcpy(block, data, size);
	uint32_t total = (uint32_t)size;
	memcpy(block, &total, 4);
	struct mbi m;
	mbi_parse(block, 0x10000, &m);
	struct mem_range r[16];
	struct mem_typed t[16];
	uint64_t top;
	mbi_usable_ranges(&m, r, 16, &top);
	mbi_typed_map(&m, t, 16);
	free(block);
	return 0;
}
