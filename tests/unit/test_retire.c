/* Completing an instruction for the guest (vmx/core/retire.h): RIP, RF, the
 * interrupt shadows and the single-step trap, as the CPU would leave them. */
#include "unit.h"

#include "vmx/core/retire.h"

#define IF (1ull << 9)
#define STI 1u
#define MOV_SS 2u
#define NMI_BLOCKED 8u

static void plain(void **state)
{
	(void)state;
	struct retire r = retire_insn(0x1000, 2, false, 48, IF | 2, NMI_BLOCKED, false);
	assert_int_equal(r.rip, 0x1002);
	assert_int_equal(r.rflags, IF | 2);
	assert_int_equal(r.intr, NMI_BLOCKED); /* blocking by NMI is not a shadow: it stays */
	assert_false(r.single_step);
}

/* Outside 64-bit mode EIP wraps at 4 GiB; in 64-bit code RIP goes on. */
static void eip_wraps(void **state)
{
	(void)state;
	assert_int_equal(retire_insn(0xfffffffe, 2, false, 48, 2, 0, false).rip, 0);
	assert_int_equal(retire_insn(0xfffffffd, 3, false, 48, 2, 0, false).rip, 0);
	assert_int_equal(retire_insn(0xfffffffe, 2, true, 48, 2, 0, false).rip, 0x100000000ull);
	assert_int_equal(retire_insn(0xfffffffc, 2, false, 48, 2, 0, false).rip, 0xfffffffe);
}

/* In 64-bit code a RIP past the canonical range is #GP at the
 * instruction, with 48 or 57 linear-address bits. */
static void rip_canonical(void **state)
{
	(void)state;
	assert_true(retire_insn(0x7ffffffffffeull, 2, true, 48, 2, 0, false).gp);
	assert_false(retire_insn(0x7ffffffffffdull, 2, true, 48, 2, 0, false).gp);
	assert_false(retire_insn(0x7ffffffffffeull, 2, true, 57, 2, 0, false).gp);
	assert_true(retire_insn(0xfffffffffffffffeull, 2, true, 48, 2, 0, false).gp == false); /* wraps to 0 */
	assert_true(retire_insn(0xfffffffffffffffeull, 2, true, 48, 2, 0, false).rip == 0);
	assert_true(retire_insn(0xfffffffffffeull, 2, true, 57, 2, 0, false).rip == 0x1000000000000ull);
	/* outside 64-bit mode EIP wraps instead */
	assert_false(retire_insn(0xfffffffe, 2, false, 48, 2, 0, false).gp);
}

static void rf_cleared(void **state)
{
	(void)state;
	struct retire r = retire_insn(0x1000, 2, true, 48, RFLAGS_RF | IF, 0, false);
	assert_int_equal(r.rflags, IF);
	assert_false(r.single_step);
}

static void shadows_end(void **state)
{
	(void)state;
	assert_int_equal(retire_insn(0x1000, 2, true, 48, IF, STI | NMI_BLOCKED, false).intr, NMI_BLOCKED);
	assert_int_equal(retire_insn(0x1000, 2, true, 48, IF, MOV_SS, false).intr, 0);
}

/* TF: a single-step trap after the instruction, unless BTF narrows
 * stepping to branches (the instruction is none). TF itself stays. */
static void single_step(void **state)
{
	(void)state;
	struct retire r = retire_insn(0x1000, 2, true, 48, RFLAGS_TF | RFLAGS_RF, MOV_SS, false);
	assert_true(r.single_step);
	assert_int_equal(r.rflags, RFLAGS_TF);
	assert_int_equal(r.intr, 0);
	assert_false(retire_insn(0x1000, 2, true, 48, RFLAGS_TF, 0, true).single_step);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain),
		cmocka_unit_test(eip_wraps),
		cmocka_unit_test(rip_canonical),
		cmocka_unit_test(rf_cleared),
		cmocka_unit_test(shadows_end),
		cmocka_unit_test(single_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
