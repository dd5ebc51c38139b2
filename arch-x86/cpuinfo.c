#include "arch-x86/cpuinfo.h"

#include "arch-x86/string.h"

#ifndef HV_HOST_TEST
#include "arch-x86/cpu.h"
#endif

void cpu_decode_signature(uint32_t eax, unsigned *family, unsigned *model, unsigned *stepping)
{
	unsigned base_family = (eax >> 8) & 0xf;

	*stepping = eax & 0xf;
	*family = base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family;
	*model = (eax >> 4) & 0xf;
	if (base_family == 0x6 || base_family == 0xf)
		*model |= ((eax >> 16) & 0xf) << 4;
}

#ifndef HV_HOST_TEST
void cpu_identify(struct cpu_ident *id)
{
	struct cpuid_regs r = cpuid(0, 0);

	memcpy(id->vendor + 0, &r.ebx, 4);
	memcpy(id->vendor + 4, &r.edx, 4);
	memcpy(id->vendor + 8, &r.ecx, 4);
	id->vendor[12] = '\0';
	cpu_decode_signature(cpuid(1, 0).eax, &id->family, &id->model, &id->stepping);

	id->brand[0] = '\0';
	if (cpuid(0x80000000, 0).eax >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++) {
			r = cpuid(0x80000002 + i, 0);
			memcpy(id->brand + 16 * i, &r, 16);
		}
		id->brand[48] = '\0';
	}
	/* Brand strings are often right-justified with leading blanks. */
	char *b = id->brand;
	while (*b == ' ')
		b++;
	memmove(id->brand, b, strlen(b) + 1);
}
#endif
