/* Who the CPU is: vendor, family/model/stepping, brand string. */
#ifndef ARCH_X86_CPUINFO_H
#define ARCH_X86_CPUINFO_H

#include <stdint.h>

struct cpu_ident {
	char vendor[13];
	char brand[49];
	unsigned family, model, stepping;
};

/* Display family/model from CPUID.1:EAX (SDM vol. 2A, CPUID, figure 3-6). */
void cpu_decode_signature(uint32_t eax, unsigned *family, unsigned *model, unsigned *stepping);

/* Read this CPU's identity (hardware). */
void cpu_identify(struct cpu_ident *id);

#endif
