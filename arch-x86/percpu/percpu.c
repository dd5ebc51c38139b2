#include "arch-x86/percpu/percpu.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"

struct cpu cpus[MAX_CPUS];
unsigned ncpus = 1;

void percpu_enter(struct cpu *c, unsigned id, uint32_t apic_id)
{
	c->self = c;
	c->id = id;
	c->apic_id = apic_id;
	wrmsr(MSR_GS_BASE, (uintptr_t)c);
}

unsigned cpus_online(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ncpus; i++)
		n += cpus[i].online;
	return n;
}

uint64_t gdt_base(void)
{
	return (uintptr_t)this_cpu()->gdt;
}

uint64_t tss_base(void)
{
	return (uintptr_t)&this_cpu()->tss;
}

void percpu_load_gdt(struct cpu *c)
{
	gdt_init(c->gdt, &c->tss, c->ist_base);
}
