/* The VMX verdict and capability predicates over synthetic MSR values,
 * starting from what Bochs' corei7_skylake_x reports (shared/PLATFORM.md). */
#include "unit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/cpuinfo.h"
#include "arch-x86/msr.h"
#include "vmx/hw/caps.h"

static struct vmx_caps skylake(void)
{
	return (struct vmx_caps){
		.vmx = true,
		.feature_control = 0x5,
		.basic = 0x00d810000000002bull,
		.pin = 0x7f00000016ull,
		.proc = 0xf7f9fffe04006172ull,
		.proc2 = 0x02177fff00000000ull,
		.misc = 0x600401e0,
		.ept_vpid = 0x00000f0106334141ull,
	};
}

static void test_bochs_skylake_is_usable(void **state)
{
	(void)state;
	struct vmx_caps c = skylake();
	assert_int_equal(vmx_verdict(&c), VMX_USABLE);
	assert_true(cpu_has_true_ctls(&c));
	assert_true(cpu_has_ept(&c) && cpu_has_ept_2m(&c) && cpu_has_ept_1g(&c) && cpu_has_ept_ad(&c));
	assert_true(cpu_has_vpid(&c));
	assert_true(cpu_has_unrestricted_guest(&c));
	assert_true(cpu_has_preemption_timer(&c));
	assert_int_equal(vmx_preemption_timer_rate(&c), 0);
	assert_int_equal(VMX_BASIC_REVISION(c.basic), 0x2b);
	assert_int_equal(VMX_BASIC_REGION_SIZE(c.basic), 4096);
	assert_int_equal(VMX_BASIC_MEMTYPE(c.basic), 6);
}

static void test_no_vmx(void **state)
{
	(void)state;
	struct vmx_caps c = { 0 };
	assert_int_equal(vmx_verdict(&c), VMX_ABSENT);
	assert_non_null(strstr(vmx_verdict_text(VMX_ABSENT), "no VMX"));
}

static void test_firmware_lock(void **state)
{
	(void)state;
	struct vmx_caps c = skylake();
	c.feature_control = FEATURE_CONTROL_LOCK; /* locked, VMX off */
	assert_int_equal(vmx_verdict(&c), VMX_DISABLED_BY_FIRMWARE);
	assert_non_null(strstr(vmx_verdict_text(VMX_DISABLED_BY_FIRMWARE), "VMX disabled by firmware"));
	assert_non_null(strstr(vmx_verdict_text(VMX_DISABLED_BY_FIRMWARE), "BIOS/UEFI setup"));
	/* locked with VMX only inside SMX is still off for us */
	c.feature_control = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_IN_SMX;
	assert_int_equal(vmx_verdict(&c), VMX_DISABLED_BY_FIRMWARE);
	/* unlocked: vmx_probe enables and locks it, so not a refusal */
	c.feature_control = 0;
	assert_int_equal(vmx_verdict(&c), VMX_USABLE);
}

static void test_missing_features(void **state)
{
	(void)state;
	struct vmx_caps c = skylake();
	c.proc &= ~((uint64_t)PROC_ACTIVATE_SECONDARY << 32);
	assert_int_equal(vmx_verdict(&c), VMX_NO_EPT);
	assert_false(cpu_has_vpid(&c)); /* no secondary controls: no VPID either */

	c = skylake();
	c.proc2 &= ~((uint64_t)PROC2_EPT << 32);
	assert_int_equal(vmx_verdict(&c), VMX_NO_EPT);
	assert_false(cpu_has_ept_1g(&c));

	c = skylake();
	c.ept_vpid &= ~EPT_CAP_WB;
	assert_int_equal(vmx_verdict(&c), VMX_NO_EPT_WALK);

	c = skylake();
	c.proc2 &= ~((uint64_t)PROC2_UNRESTRICTED_GUEST << 32);
	assert_int_equal(vmx_verdict(&c), VMX_NO_UNRESTRICTED_GUEST);
	assert_non_null(strstr(vmx_verdict_text(VMX_NO_UNRESTRICTED_GUEST), "unrestricted guest"));

	c = skylake();
	c.pin &= ~((uint64_t)PIN_PREEMPTION_TIMER << 32);
	assert_false(cpu_has_preemption_timer(&c));
	assert_int_equal(vmx_verdict(&c), VMX_USABLE); /* optional */
}

static void test_cpu_signature(void **state)
{
	(void)state;
	unsigned f, m, s;
	cpu_decode_signature(0x00050654, &f, &m, &s); /* Skylake-X */
	assert_int_equal(f, 6);
	assert_int_equal(m, 0x55);
	assert_int_equal(s, 4);
	cpu_decode_signature(0x00a20f12, &f, &m, &s); /* AMD family 19h */
	assert_int_equal(f, 0x19);
	assert_int_equal(m, 0x21);
	cpu_decode_signature(0x00000633, &f, &m, &s); /* old family 6: no extended model */
	assert_int_equal(m, 3);
}

static void test_xcr0_rules(void **state)
{
	(void)state;
	uint64_t all = XCR0_KNOWN;
	assert_true(xcr0_valid(XCR0_X87, all));
	assert_true(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX, all));
	assert_false(xcr0_valid(0, all));			   /* x87 is mandatory */
	assert_false(xcr0_valid(XCR0_SSE, all));
	assert_false(xcr0_valid(XCR0_X87 | XCR0_AVX, all));	   /* AVX without SSE */
	assert_true(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX | XCR0_AVX512, all));
	assert_false(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX | (1ull << 5), all)); /* part of AVX-512 */
	assert_false(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX512, all));	    /* AVX-512 without AVX */
	assert_false(xcr0_valid(XCR0_X87 | (1ull << 3), all));			    /* half of MPX */
	assert_true(xcr0_valid(XCR0_X87 | XCR0_MPX, all));
	/* AMX: tile config and tile data together (0x20003 has only config) */
	assert_false(xcr0_valid(0x20003, all));
	assert_true(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AMX, all));
	/* nothing the CPU lacks, nothing unknown */
	assert_false(xcr0_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX, XCR0_X87 | XCR0_SSE));
	assert_false(xcr0_valid(XCR0_X87 | (1ull << 8), all)); /* a supervisor component */
	assert_false(xcr0_valid(XCR0_X87 | (1ull << 63), all));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bochs_skylake_is_usable),
		cmocka_unit_test(test_no_vmx),
		cmocka_unit_test(test_firmware_lock),
		cmocka_unit_test(test_missing_features),
		cmocka_unit_test(test_cpu_signature),
		cmocka_unit_test(test_xcr0_rules),
	};
	return cmocka_run_group_tests_name("caps", tests, NULL, NULL);
}
