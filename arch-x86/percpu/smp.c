#include "arch-x86/percpu/smp.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "arch-x86/tsc.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "mm/frame.h"
#include "mm/paging.h"
#include "mm/phys.h"

extern char trampoline_start[], trampoline_end[];
extern const uint64_t tr_offsets[];
enum { O_GDTR, O_GDT, O_FAR32, O_32, O_FAR64, O_64, O_CR3, O_EFER, O_STACK, O_CPU, O_ENTRY, O_CR0, O_CR4 };

#define AP_STACK_PAGES (AP_STACK_SIZE / 4096)
#define IST_PAGES (IST_COUNT * IST_STACK_SIZE / 4096)
#define SPURIOUS_VECTOR 0xff
#define MSR_X2APIC_BASE 0x800
#define ICR_NMI_OTHERS (ICR_ALL_BUT_SELF << 18 | ICR_LEVEL_ASSERT | ICR_MODE_NMI << 8)

static void (*ap_main)(struct cpu *c);
static volatile bool stopping;
static volatile unsigned stopped;

void cpu_park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + tsc_hz / 1000000 * us;
	while (rdtsc() < end)
		__asm__ volatile("pause");
}

void apic_send(uint32_t apic_id, uint32_t icr)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if (base & APIC_BASE_EXTD) {
		wrmsr(MSR_X2APIC_BASE + APIC_ICR_LOW / 16, (uint64_t)apic_id << 32 | icr); /* one 64-bit write */
		return;
	}
	volatile uint32_t *apic = phys_to_virt(base & 0x000ffffffffff000ull);
	apic[APIC_ICR_HIGH / 4] = apic_id << 24;
	apic[APIC_ICR_LOW / 4] = icr;
	for (int i = 0; i < 100000 && (apic[APIC_ICR_LOW / 4] & ICR_PENDING); i++)
		__asm__ volatile("pause");
}

void apic_write(unsigned offset, uint32_t value)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if (base & APIC_BASE_EXTD)
		wrmsr(MSR_X2APIC_BASE + offset / 16, value);
	else
		((volatile uint32_t *)phys_to_virt(base & 0x000ffffffffff000ull))[offset / 4] = value;
}

uint32_t apic_read(unsigned offset)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if (base & APIC_BASE_EXTD)
		return (uint32_t)rdmsr(MSR_X2APIC_BASE + offset / 16);
	return ((volatile uint32_t *)phys_to_virt(base & 0x000ffffffffff000ull))[offset / 4];
}

void apic_enable(void)
{
	apic_write(APIC_TPR, 0);
	apic_write(APIC_SVR, SVR_ENABLED | SPURIOUS_VECTOR);
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

/* The trampoline's 64-bit code lands here, on the AP's own stack. */
static __attribute__((noreturn, used)) void ap_start(struct cpu *c)
{
	percpu_enter(c, c->id, c->apic_id);
	ap_main(c);
	cpu_park();
}

static bool start_ap(uint8_t *tr, uint64_t page, struct cpu *c)
{
	uint64_t stack = frame_alloc(&hv_frames, AP_STACK_PAGES, 4096);
	uint64_t ist = frame_alloc(&hv_frames, IST_PAGES, 4096);
	if (!stack || !ist) {
		log_err("CPU with APIC id %u: out of memory for its stacks", c->apic_id);
		if (stack)
			phys_free(stack, AP_STACK_PAGES);
		return false;
	}
	c->stack_top = stack + AP_STACK_PAGES * 4096;
	c->ist_base = ist;
	*(uint64_t *)(tr + tr_offsets[O_STACK]) = c->stack_top;
	*(uint64_t *)(tr + tr_offsets[O_CPU]) = (uintptr_t)c;

	/* INIT, 10 ms, start-up, 200 us, start-up (SDM vol. 3A, 9.4.4.1). */
	apic_send(c->apic_id, ICR_INIT);
	delay_us(10000);
	for (int i = 0; i < 2 && !c->online; i++) {
		apic_send(c->apic_id, ICR_STARTUP | (uint32_t)(page >> 12));
		delay_us(200);
	}
	uint64_t deadline = rdtsc() + tsc_hz / 10;
	while (!c->online && !c->failed && rdtsc() < deadline)
		__asm__ volatile("pause");
	if (c->online)
		return true;
	if (!c->failed) {
		log_warn("CPU with APIC id %u did not answer INIT and start-up within 100 ms: left out", c->apic_id);
		/* Back to waiting for a start-up IPI, should it be running
		 * late; its stacks stay its own. */
		apic_send(c->apic_id, ICR_INIT);
	}
	return false;
}

unsigned smp_start(uint64_t page, void (*main)(struct cpu *c))
{
	const struct acpi_info *a = &hv_acpi;
	unsigned others = 0, online = 1;

	for (unsigned i = 0; i < a->ncpus; i++)
		others += a->apic_id[i] != this_cpu()->apic_id;
	if (!a->have_madt || !others)
		return online;
	if (!page || page >= 0x100000 || hv_pt.root >> 32) {
		log_err("cannot start the other %u CPUs: %s", others,
			page ? "the host page tables lie above 4 GiB" : "no free page below 1 MiB for the start-up code");
		return online;
	}
	uint8_t *tr = phys_to_virt(page);
	memcpy(tr, trampoline_start, (size_t)(trampoline_end - trampoline_start));
	*(uint32_t *)(tr + tr_offsets[O_GDTR] + 2) = (uint32_t)(page + tr_offsets[O_GDT]);
	*(uint32_t *)(tr + tr_offsets[O_FAR32]) = (uint32_t)(page + tr_offsets[O_32]);
	*(uint32_t *)(tr + tr_offsets[O_FAR64]) = (uint32_t)(page + tr_offsets[O_64]);
	*(uint64_t *)(tr + tr_offsets[O_CR3]) = hv_pt.root;
	*(uint64_t *)(tr + tr_offsets[O_EFER]) = rdmsr(MSR_EFER) & (EFER_LME | EFER_NXE);
	*(uint64_t *)(tr + tr_offsets[O_ENTRY]) = (uintptr_t)ap_start;
	*(uint64_t *)(tr + tr_offsets[O_CR0]) = read_cr0();
	*(uint64_t *)(tr + tr_offsets[O_CR4]) = read_cr4();
	ap_main = main;

	for (unsigned i = 0; i < a->ncpus; i++) {
		if (a->apic_id[i] == this_cpu()->apic_id)
			continue;
		if (ncpus == MAX_CPUS) {
			log_warn("more than %u CPUs: the rest are left out", MAX_CPUS);
			break;
		}
		struct cpu *c = &cpus[ncpus];
		c->id = ncpus;
		c->apic_id = a->apic_id[i];
		ncpus++; /* the slot is the CPU's for good, up or not */
		if (start_ap(tr, page, c))
			online++;
	}
	return online;
}

bool smp_stopping(void)
{
	return stopping;
}

void smp_stop_self(void)
{
	__atomic_add_fetch(&stopped, 1, __ATOMIC_RELEASE);
	cpu_park();
}

unsigned smp_stop_others(void)
{
	unsigned others = cpus_online() - (this_cpu()->online ? 1 : 0);
	if (!others || stopping)
		return 0;
	stopping = true;
	apic_send(0, ICR_NMI_OTHERS);
	/* 10 ms, or a fixed number of spins if the TSC's rate is not known */
	uint64_t end = rdtsc() + (tsc_hz ? tsc_hz / 100 : 50000000);
	while (stopped < others && rdtsc() < end)
		__asm__ volatile("pause");
	return stopped;
}
