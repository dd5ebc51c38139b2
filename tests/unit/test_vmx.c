/* VMX pure logic: control adjustment, fixed bits, exit-qualification
 * decoding, string-IO arithmetic, module arguments. */
#include "unit.h"

#include "vmx/hw/caps.h"
#include "vmx/exit/decode.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/core/vmconfig.h"

static void test_adjust_controls(void **state)
{
	(void)state;
	/* allowed-0 (must be 1): bits 1, 4; allowed-1 (may be 1): 0-7, 31 */
	uint64_t cap = ((uint64_t)0x800000ffu << 32) | 0x12;
	uint32_t out, missing;
	assert_true(vmx_adjust_controls(cap, 1u << 7, (1u << 3) | (1u << 20), &out, &missing));
	assert_int_equal(out, (1u << 7) | (1u << 3) | 0x12); /* bit 20 dropped: not allowed */
	assert_int_equal(missing, 0);
	assert_false(vmx_adjust_controls(cap, (1u << 7) | (1u << 9) | (1u << 30), 0, &out, &missing));
	assert_int_equal(missing, (1u << 9) | (1u << 30));
	assert_int_equal(out, (1u << 7) | 0x12);
}

static void test_adjust_bochs_true_procbased(void **state)
{
	(void)state;
	/* Bochs' TRUE_PROCBASED: CR3 load/store exiting (15, 16) may be 0. */
	uint64_t cap = 0xf7f9fffe04006172ull;
	uint32_t out, missing;
	uint32_t required = (1u << 7) | (1u << 25) | (1u << 28) | (1u << 31);
	assert_true(vmx_adjust_controls(cap, required, 0, &out, &missing));
	assert_int_equal(out & ((1u << 15) | (1u << 16)), 0);
	assert_int_equal(out & 0x04006172, 0x04006172);
}

static void test_fixed_bits(void **state)
{
	(void)state;
	/* typical: CR0 fixed0 PE|NE|PG, fixed1 all low 32 bits */
	assert_int_equal(vmx_fixed_bits(0x10, 0x80000021, 0xffffffff), 0x80000031);
	/* CR4: VMXE forced on, bits not in fixed1 forced off */
	assert_int_equal(vmx_fixed_bits(0x20 | (1ull << 23), 0x2000, 0x3727ff), 0x2020);
}

static void test_decode_io(void **state)
{
	(void)state;
	/* OUT DX, AL to 0x3f8: size 0, out, DX form */
	struct io_qual q = decode_io(0x03f80000);
	assert_int_equal(q.port, 0x3f8);
	assert_int_equal(q.size, 1);
	assert_false(q.in || q.string || q.rep || q.imm);
	/* REP INSW from 0x1f0: size 1, in, string, rep */
	q = decode_io(0x01f00000 | 1 | 8 | 16 | 32);
	assert_int_equal(q.size, 2);
	assert_true(q.in && q.string && q.rep && !q.imm);
	/* IN EAX, 0x71 (immediate) */
	q = decode_io(0x00710000 | 3 | 8 | 64);
	assert_int_equal(q.size, 4);
	assert_true(q.in && q.imm);
}

static void test_decode_cr_and_ept(void **state)
{
	(void)state;
	/* MOV CR4, RBX: cr 4, type 0, gpr 3 */
	struct cr_qual c = decode_cr(0x304);
	assert_int_equal(c.cr, 4);
	assert_int_equal(c.type, CR_MOV_TO);
	assert_int_equal(c.gpr, 3);
	/* LMSW with source 0x000f */
	c = decode_cr((0xfull << 16) | (3 << 4));
	assert_int_equal(c.type, CR_LMSW);
	assert_int_equal(c.lmsw_data, 0xf);
	/* MOV R12, CR3 */
	c = decode_cr(0xc13);
	assert_int_equal(c.type, CR_MOV_FROM);
	assert_int_equal(c.gpr, 12);

	struct ept_qual e = decode_ept(0x2 | 0x80);
	assert_true(e.write && !e.read && !e.fetch && e.linear_valid);
	assert_false(e.translated); /* bit 8 clear: a paging-structure access */
	assert_string_equal(ept_access_name(&e), "write");
	e = decode_ept(0x1 | 0x80 | 0x100);
	assert_true(e.linear_valid && e.translated);
	e = decode_ept(0x1 | 0x100); /* bit 8 means nothing without bit 7 */
	assert_false(e.translated);
	e = decode_ept(0x5);
	assert_string_equal(ept_access_name(&e), "fetch");
	e = decode_ept(0x1 | (0x7 << 3));
	assert_int_equal(e.allowed, 7);
	assert_string_equal(ept_access_name(&e), "read");
}

static void test_strio_batch(void **state)
{
	(void)state;
	/* forward, bytes, from mid-page: up to the page end */
	assert_int_equal(strio_batch(10000, 0x1f00, 1, false, 100000), 0x100);
	/* count smaller than the room */
	assert_int_equal(strio_batch(64, 0x1f00, 1, false, 100000), 64);
	/* the max per exit */
	assert_int_equal(strio_batch(10000, 0x1000, 1, false, 100), 100);
	/* backwards from 0x1010 with words: 0x1010, 0x100e, ... 0x1000 = 9 */
	assert_int_equal(strio_batch(100, 0x1010, 2, true, 100000), 9);
	/* dwords starting at the last dword of a page: exactly one */
	assert_int_equal(strio_batch(100, 0x1ffc, 4, false, 100000), 1);
	/* a dword straddling the page boundary goes alone, either way */
	assert_int_equal(strio_batch(100, 0x1ffe, 4, false, 100000), 1);
	assert_int_equal(strio_batch(100, 0x1ffe, 4, true, 100000), 1);
	/* zero count: nothing */
	assert_int_equal(strio_batch(0, 0x1000, 1, false, 100), 0);
	/* RCX = 2^64-1: still one page's worth */
	assert_int_equal(strio_batch(UINT64_MAX, 0x5000, 4, false, 100000), 1024);
}

static void test_address_size_and_wrap(void **state)
{
	(void)state;
	assert_int_equal(insn_info_addr_mask(0 << 7), 0xffff);
	assert_int_equal(insn_info_addr_mask(1 << 7), 0xffffffff);
	assert_int_equal(insn_info_addr_mask(2 << 7), UINT64_MAX);
	assert_int_equal(insn_info_segment(3 << 15), 3);
	/* SI wraps at 64 KiB, the upper bits of RSI are kept */
	assert_int_equal(masked_add(0x12340000ffffull, 1, 0xffff), 0x123400000000ull);
	/* a 32-bit update zero-extends into the upper half */
	assert_int_equal(masked_add(0xabcd00000000ull, -2, 0xffffffff), 0xfffffffeull);
	assert_int_equal(masked_add(0x100000005ull, -5, 0xffffffff), 0);
	assert_int_equal(masked_add(5, -5, UINT64_MAX), 0);
}

static void test_exit_names(void **state)
{
	(void)state;
	assert_string_equal(exit_reason_name(EXIT_CPUID), "cpuid");
	assert_string_equal(exit_reason_name(EXIT_IO), "io");
	assert_string_equal(exit_reason_name(EXIT_EPT_VIOLATION), "ept_violation");
	assert_string_equal(exit_reason_name(9999), "unknown");
	assert_string_equal(exit_reason_name(35), "unknown"); /* a gap in the table */
}

static void test_vm_config(void **state)
{
	(void)state;
	struct vm_config c;
	char err[200];

	assert_true(vm_config_parse("", "vm0", EPT_EAGER, &c, err, sizeof(err)));
	assert_string_equal(c.name, "vm0");
	assert_int_equal(c.mem, 16ull << 20);
	assert_int_equal(c.mode, MODE_REAL);
	assert_false(c.load_set || c.entry_set);
	assert_int_equal(c.ept, EPT_EAGER);

	assert_true(vm_config_parse("name=web mem=64M mode=long64 load=0x200000 entry=0x200010 ept=lazy", "vm1",
				    EPT_EAGER, &c, err, sizeof(err)));
	assert_string_equal(c.name, "web");
	assert_int_equal(c.mem, 64ull << 20);
	assert_int_equal(c.mode, MODE_LONG64);
	assert_true(c.load_set && c.load == 0x200000);
	assert_true(c.entry_set && c.entry == 0x200010);
	assert_int_equal(c.ept, EPT_LAZY);

	/* the hypervisor's default applies without ept= */
	assert_int_equal(c.cpu, -1);
	assert_true(vm_config_parse("cpu=3 name=p", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_int_equal(c.cpu, 3);
	assert_false(vm_config_parse("cpu=1024", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("cpu=-1", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("cpu", "x", EPT_EAGER, &c, err, sizeof(err)));
	/* cpus=: 1..64 vCPUs, 0 (unset) is the default; not with a cpu= pin */
	assert_int_equal(c.cpus, 0);
	assert_true(vm_config_parse("cpus=4", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_int_equal(c.cpus, 4);
	assert_true(vm_config_parse("cpus=64 passthrough", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_int_equal(c.cpus, 64);
	assert_false(vm_config_parse("cpus=0", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("cpus=65", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_true(vm_config_parse("cpus=1 cpu=2", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("cpus=2 cpu=1", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_non_null(strstr(err, "cpu= pins a VM with one vCPU"));
	assert_true(vm_config_parse("mode=prot32", "x", EPT_LAZY, &c, err, sizeof(err)));
	assert_int_equal(c.ept, EPT_LAZY);

	assert_false(vm_config_parse("mem=16M colour=blue", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown key 'colour'"));
	assert_false(vm_config_parse("mode=virtual86", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_non_null(strstr(err, "bad value for 'mode': 'virtual86'"));
	assert_false(vm_config_parse("mem=512K", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_non_null(strstr(err, "bad value for 'mem'"));
	assert_false(vm_config_parse("mem=1000000001", "x", EPT_EAGER, &c, err, sizeof(err))); /* not whole pages */
	assert_false(vm_config_parse("mem=65G", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("load=", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("entry=0xZZ", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(vm_config_parse("ept=sometimes", "x", EPT_EAGER, &c, err, sizeof(err)));

	/* names are one printable word, at most VM_NAME_MAX - 1 characters */
	assert_true(vm_config_parse("name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x", EPT_EAGER, &c, err,
				    sizeof(err)));
	assert_int_equal(strlen(c.name), VM_NAME_MAX - 1);
	assert_true(vm_config_parse("name=a\x01" "b", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_string_equal(c.name, "a_b");
	assert_string_equal(guest_mode_name(MODE_PROT32), "prot32");

	/* "--": the rest is the kernel's, keys and all */
	assert_true(vm_config_parse("name=k mem=32M --   console=ttyS0 mem=1G -- x", "x", EPT_EAGER, &c, err,
				    sizeof(err)));
	assert_string_equal(c.kernel_args, "console=ttyS0 mem=1G -- x");
	assert_int_equal(c.mem, 32ull << 20);
	assert_true(vm_config_parse("name=k --", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_string_equal(c.kernel_args, "");
	assert_true(vm_config_parse("", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_string_equal(c.kernel_args, "");
	/* "initrd" marks the module as the previous kernel's */
	assert_true(vm_config_parse("initrd", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_true(c.initrd);
	assert_true(vm_config_parse("-- initrd", "x", EPT_EAGER, &c, err, sizeof(err)));
	assert_false(c.initrd);
	assert_false(vm_config_parse("initrd=yes", "x", EPT_EAGER, &c, err, sizeof(err)));
}

static void test_mmio_loaded(void **state)
{
	(void)state;
	uint64_t old = 0x1122334455667788ull;
	assert_int_equal(mmio_loaded(old, 0xaabbccdd, 4, false), 0xaabbccddull); /* zero-extends */
	assert_int_equal(mmio_loaded(old, 0xccdd, 2, false), 0x112233445566ccddull);
	assert_int_equal(mmio_loaded(old, 0xdd, 1, false), 0x11223344556677ddull);
	assert_int_equal(mmio_loaded(old, 0xdd, 1, true), 0x112233445566dd88ull); /* AH */
	assert_int_equal(mmio_loaded(old, 0x0102030405060708ull, 8, false), 0x0102030405060708ull);
}

static void test_decode_mmio(void **state)
{
	(void)state;
	struct mmio_insn m;
	/* mov 0xfee00020, %eax  (8b 05 disp32 in 32-bit code: mod 0 rm 5) */
	static const uint8_t a[] = { 0x8b, 0x05, 0x20, 0x00, 0xe0, 0xfe };
	assert_true(decode_mmio(a, sizeof(a), 32, &m));
	assert_int_equal(m.len, 6);
	assert_false(m.write);
	assert_int_equal(m.size, 4);
	assert_int_equal(m.reg, 0);
	/* movl $0x1ff, 0xfee000f0  (c7 05 disp32 imm32) */
	static const uint8_t b[] = { 0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00 };
	assert_true(decode_mmio(b, sizeof(b), 32, &m));
	assert_int_equal(m.len, 10);
	assert_true(m.write);
	assert_int_equal(m.reg, -1);
	assert_int_equal(m.imm, 0x1ff);
	/* mov %r9d, 0xb0(%rdi)  (44 89 8f disp32) in 64-bit code */
	static const uint8_t c[] = { 0x44, 0x89, 0x8f, 0xb0, 0x00, 0x00, 0x00 };
	assert_true(decode_mmio(c, sizeof(c), 64, &m));
	assert_int_equal(m.len, 7);
	assert_int_equal(m.reg, 9);
	assert_int_equal(m.size, 4);
	/* mov 0x390(%rax,%rbx,4), %rcx  (48 8b 8c 98 disp32): SIB + REX.W */
	static const uint8_t d[] = { 0x48, 0x8b, 0x8c, 0x98, 0x90, 0x03, 0x00, 0x00 };
	assert_true(decode_mmio(d, sizeof(d), 64, &m));
	assert_int_equal(m.len, 8);
	assert_int_equal(m.size, 8);
	assert_int_equal(m.reg, 1);
	/* mov %bh, (%rdx) (88 3a): the high byte of RBX; with REX (40 88 3a)
	 * it is DIL */
	static const uint8_t hb[] = { 0x88, 0x3a }, hr[] = { 0x40, 0x88, 0x3a };
	assert_true(decode_mmio(hb, sizeof(hb), 64, &m));
	assert_int_equal(m.size, 1);
	assert_int_equal(m.reg, 3);
	assert_true(m.high8);
	assert_true(decode_mmio(hr, sizeof(hr), 64, &m));
	assert_int_equal(m.reg, 7);
	assert_false(m.high8);
	assert_true(decode_mmio(a, sizeof(a), 32, &m));
	assert_false(m.high8);
	/* movb $0x5, (%esi) with a segment prefix: 3e c6 06 05 */
	static const uint8_t e[] = { 0x3e, 0xc6, 0x06, 0x05 };
	assert_true(decode_mmio(e, sizeof(e), 32, &m));
	assert_int_equal(m.len, 4);
	assert_int_equal(m.size, 1);
	assert_int_equal(m.imm, 5);
	/* 16-bit code: mov %ax, [bx+si+0x12] (89 40 12); 66 makes it 32-bit */
	static const uint8_t f[] = { 0x89, 0x40, 0x12 }, g[] = { 0x66, 0x89, 0x40, 0x12 };
	assert_true(decode_mmio(f, sizeof(f), 16, &m));
	assert_int_equal(m.size, 2);
	assert_int_equal(m.len, 3);
	assert_true(decode_mmio(g, sizeof(g), 16, &m));
	assert_int_equal(m.size, 4);
	/* 16-bit direct address: 8b 1e disp16 */
	static const uint8_t h[] = { 0x8b, 0x1e, 0x34, 0x12 };
	assert_true(decode_mmio(h, sizeof(h), 16, &m));
	assert_int_equal(m.len, 4);
	assert_int_equal(m.reg, 3);
	/* movq $-1, (%rax): REX.W C7 imm32 sign-extended */
	static const uint8_t k[] = { 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff };
	assert_true(decode_mmio(k, sizeof(k), 64, &m));
	assert_int_equal(m.imm, UINT64_MAX);
	/* moffs forms: mov 0xfee00020, %eax (a1 + 4-byte address in 32-bit
	 * code, 8-byte in 64-bit); mov %al, moffs16 in 16-bit code */
	static const uint8_t mo1[] = { 0xa1, 0x20, 0x00, 0xe0, 0xfe };
	assert_true(decode_mmio(mo1, sizeof(mo1), 32, &m));
	assert_int_equal(m.len, 5);
	assert_false(m.write);
	assert_int_equal(m.reg, 0);
	assert_int_equal(m.size, 4);
	static const uint8_t mo2[] = { 0xa3, 0xb0, 0x00, 0xe0, 0xfe, 0, 0, 0, 0 };
	assert_true(decode_mmio(mo2, sizeof(mo2), 64, &m));
	assert_int_equal(m.len, 9);
	assert_true(m.write);
	static const uint8_t mo3[] = { 0xa2, 0x34, 0x12 };
	assert_true(decode_mmio(mo3, sizeof(mo3), 16, &m));
	assert_int_equal(m.len, 3);
	assert_int_equal(m.size, 1);
	assert_false(decode_mmio(mo1, 4, 32, &m)); /* truncated address */
	/* refused: register operand, other opcodes, C7 /1, truncated, too long */
	static const uint8_t r1[] = { 0x89, 0xc0 }, r2[] = { 0x01, 0x05, 0, 0, 0, 0 }, r3[] = { 0xc7, 0x08, 1, 2, 3, 4 };
	assert_false(decode_mmio(r1, sizeof(r1), 32, &m));
	assert_false(decode_mmio(r2, sizeof(r2), 32, &m));
	assert_false(decode_mmio(r3, sizeof(r3), 32, &m));
	assert_false(decode_mmio(a, 3, 32, &m));
	assert_false(decode_mmio(b, 8, 32, &m));
	static const uint8_t pre[16] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x8b, 0x05, 0 };
	assert_false(decode_mmio(pre, sizeof(pre), 32, &m));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adjust_controls),
		cmocka_unit_test(test_adjust_bochs_true_procbased),
		cmocka_unit_test(test_fixed_bits),
		cmocka_unit_test(test_decode_io),
		cmocka_unit_test(test_decode_cr_and_ept),
		cmocka_unit_test(test_strio_batch),
		cmocka_unit_test(test_address_size_and_wrap),
		cmocka_unit_test(test_exit_names),
		cmocka_unit_test(test_vm_config),
		cmocka_unit_test(test_decode_mmio),
		cmocka_unit_test(test_mmio_loaded),
	};
	return cmocka_run_group_tests_name("vmx", tests, NULL, NULL);
}
