/* The passthrough OS's rules: when an NMI may be injected (issue 12,
 * finding 6), which APIC_BASE writes reach the CPU (finding 7), which ICR
 * writes send an IPI (review of the fixes). */
#include "unit.h"

#include "arch-x86/msr.h"
#include "vmx/dev/pt/ptpolicy.h"

static void test_nmi_inject_when_open(void **state)
{
	(void)state;
	struct nmi_view s = { .virtual_nmis = true };
	assert_int_equal(nmi_step(&s), NMI_INJECT);
	s.interrupts_on = true; /* IF does not block NMIs */
	assert_int_equal(nmi_step(&s), NMI_INJECT);
	s = (struct nmi_view){ .virtual_nmis = false };
	assert_int_equal(nmi_step(&s), NMI_INJECT);
}

static void test_nmi_waits_for_its_window(void **state)
{
	(void)state;
	/* a MOV SS shadow, another event, the OS in its NMI handler */
	struct nmi_view s = { .virtual_nmis = true, .mov_ss = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
	s = (struct nmi_view){ .virtual_nmis = true, .event_queued = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
	s = (struct nmi_view){ .virtual_nmis = true, .nmi_blocked = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
	/* an NMI window that opened with MOV SS still blocking: wait again */
	s = (struct nmi_view){ .virtual_nmis = true, .mov_ss = true, .after_nmi_window = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
}

static void test_nmi_sti_shadow(void **state)
{
	(void)state;
	/* first the NMI window; if it opened in the shadow all the same, the
	 * interrupt window (STI leaves IF set) */
	struct nmi_view s = { .virtual_nmis = true, .sti = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
	s.after_nmi_window = true;
	assert_int_equal(nmi_step(&s), NMI_WAIT_INTR_WINDOW);
}

static void test_nmi_without_virtual_nmis(void **state)
{
	(void)state;
	struct nmi_view s = { .sti = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_INTR_WINDOW);
	s = (struct nmi_view){ .mov_ss = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_INTR_WINDOW);
	s = (struct nmi_view){ .mov_ss = true }; /* IF=0: no interrupt window would come */
	assert_int_equal(nmi_step(&s), NMI_WAIT_EXIT);
	s = (struct nmi_view){ .nmi_blocked = true, .interrupts_on = true }; /* not an exit per instruction */
	assert_int_equal(nmi_step(&s), NMI_WAIT_EXIT);
	s = (struct nmi_view){ .event_queued = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_EXIT);
}

/* A single-step trap due after an instruction the hypervisor completed
 * comes first: the NMI waits for a window that opens after the #DB. */
static void test_nmi_after_debug_trap(void **state)
{
	(void)state;
	struct nmi_view s = { .virtual_nmis = true, .debug_trap = true, .interrupts_on = true };
	assert_int_equal(nmi_step(&s), NMI_WAIT_NMI_WINDOW);
	s.virtual_nmis = false;
	assert_int_equal(nmi_step(&s), NMI_WAIT_INTR_WINDOW);
	s.interrupts_on = false;
	assert_int_equal(nmi_step(&s), NMI_WAIT_EXIT);
}

static void test_apic_base_writes(void **state)
{
	(void)state;
	const uint64_t xapic = 0xfee00000ull | APIC_BASE_EN | (1u << 8), x2apic = xapic | APIC_BASE_EXTD;
	const uint64_t off = xapic & ~APIC_BASE_EN, invalid = (xapic & ~APIC_BASE_EN) | APIC_BASE_EXTD;
	assert_true(apic_base_write_allowed(xapic, xapic));
	assert_true(apic_base_write_allowed(x2apic, x2apic));
	assert_true(apic_base_write_allowed(xapic, x2apic)); /* x2APIC mode on */
	assert_false(apic_base_write_allowed(x2apic, xapic)); /* back to xAPIC: #GP on the CPU */
	assert_false(apic_base_write_allowed(xapic, off));    /* the APIC off */
	assert_false(apic_base_write_allowed(x2apic, off & ~APIC_BASE_EXTD));
	assert_false(apic_base_write_allowed(xapic, invalid));
	assert_false(apic_base_write_allowed(x2apic, invalid));
	assert_false(apic_base_write_allowed(xapic, (xapic & 0xfff) | 0xfed00000ull)); /* the page moved */
	assert_false(apic_base_write_allowed(xapic, xapic & ~(1ull << 8)));	      /* the BSP bit */
	assert_false(apic_base_write_allowed(xapic, x2apic | 0xfed00000ull));
}

/* An ICR write sends an IPI only where the APIC decodes it: the MMIO
 * page in xAPIC mode, the MSR in x2APIC mode without reserved bits. */
static void test_icr_sends(void **state)
{
	(void)state;
	const uint64_t xapic = 0xfee00000ull | APIC_BASE_EN | (1u << 8), x2apic = xapic | APIC_BASE_EXTD;
	assert_true(apic_mmio_icr_sends(xapic));
	assert_true(apic_mmio_icr_sends(xapic & ~(1ull << 8))); /* an AP's */
	assert_false(apic_mmio_icr_sends(x2apic));		 /* the page is no APIC */
	assert_false(apic_mmio_icr_sends(xapic & ~APIC_BASE_EN)); /* the APIC off */
	assert_false(apic_mmio_icr_sends((xapic & ~APIC_BASE_EN) | APIC_BASE_EXTD));
	assert_false(apic_mmio_icr_sends((xapic & 0xfff) | 0xfed00000ull)); /* moved */
	assert_false(apic_mmio_icr_sends(xapic | 0x100000000ull));
	const uint64_t init = 0x0000000100004500ull; /* INIT, level assert, to APIC id 1 */
	assert_true(x2apic_icr_sends(x2apic, init));
	assert_true(x2apic_icr_sends(x2apic, 0xffffffff000c4600ull)); /* 32-bit destination, shorthand */
	assert_false(x2apic_icr_sends(xapic, init)); /* no such MSR */
	assert_false(x2apic_icr_sends(x2apic & ~APIC_BASE_EN, init));
	assert_false(x2apic_icr_sends(x2apic, init | 1u << 13));
	assert_false(x2apic_icr_sends(x2apic, init | 1u << 16));
	assert_false(x2apic_icr_sends(x2apic, init | 1u << 20));
	assert_false(x2apic_icr_sends(x2apic, init | 1u << 31));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nmi_inject_when_open),
		cmocka_unit_test(test_nmi_waits_for_its_window),
		cmocka_unit_test(test_nmi_sti_shadow),
		cmocka_unit_test(test_nmi_without_virtual_nmis),
		cmocka_unit_test(test_nmi_after_debug_trap),
		cmocka_unit_test(test_apic_base_writes),
		cmocka_unit_test(test_icr_sends),
	};
	return cmocka_run_group_tests_name("ptpolicy", tests, NULL, NULL);
}
