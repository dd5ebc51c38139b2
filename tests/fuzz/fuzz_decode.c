/* The decoders of what the CPU reports and what the guest's code holds:
 * exit qualifications (IO, CR, EPT), string-IO batching and instruction
 * information, and the MOV decoder used for device-register accesses. The
 * first bytes are the values; the rest is code. */
#include "fuzz.h"

#include "vmx/exit/decode.h"
#include "vmx/hw/exitinfo.h"

static uint64_t take64(const uint8_t **d, size_t *n)
{
	uint64_t v = 0;
	size_t k = *n < 8 ? *n : 8;
	memcpy(&v, *d, k);
	*d += k;
	*n -= k;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *d = data;
	size_t n = size;
	uint64_t q = take64(&d, &n), count = take64(&d, &n), addr = take64(&d, &n);

	struct io_qual io = decode_io(q);
	decode_cr(q);
	struct ept_qual e = decode_ept(q);
	ept_access_name(&e);
	exit_reason_name((unsigned)q & 0xffff);
	uint64_t batch = strio_batch(count, addr, io.size, io.in, 1 + (q >> 52));
	if (count && batch == 0)
		abort(); /* the contract: at least one element while any is left */
	insn_info_addr_mask((uint32_t)q);
	insn_info_segment((uint32_t)q);
	masked_add(count, (int64_t)addr, insn_info_addr_mask((uint32_t)(q >> 32)));

	struct mmio_insn m;
	static const unsigned bits[] = { 16, 32, 64, 64 };
	uint8_t *code = malloc(n ? n : 1); /* the bytes at RIP, and nothing after */
	memcpy(code, d, n);
	if (decode_mmio(code, n, bits[q & 3], &m) && (m.len == 0 || m.len > n || m.len > 15))
		abort(); /* a decoded length must lie within what was given */
	free(code);
	return 0;
}
