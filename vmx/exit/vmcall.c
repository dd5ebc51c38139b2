/*
 * Hypercalls (README, "Hypercall ABI"): VMCALL at CPL 0 with the function
 * in RAX, arguments in RBX and RCX, the result in RAX. Buffers in guest
 * memory are reached through the guest's own paging (vmx/core/guestmem.h).
 */
#include "vmx/exit/exit.h"

#include "arch-x86/cpu.h"
#include "arch-x86/msr.h"
#include "arch-x86/string.h"
#include "drivers/console.h"
#include "vmx/core/guest.h"
#include "vmx/hw/exitinfo.h"
#include "vmx/hw/vmcs.h"
#include "vmx/hw/vmx.h"
#include "vmx/core/guestmem.h"
#include "vmx/core/memory.h"
#include "vmx/dev/pc.h"
#include "vmx/exit/cpuid.h"

#define LEN_VMCALL 3

enum { HC_PRINT = 0, HC_EXIT = 1, HC_VERSION = 2, HC_VMCS_COUNTS = 3, HC_CMDLINE = 4, HC_MEMORY_MAP = 5 };
#define HC_PRINT_MAX 4096
#define HC_ERROR (~0ull)

/* Print RCX bytes at RBX. Hypercall buffers are read and written as the
 * calling kernel's own accesses at CPL 0 would be (SMAP unless RFLAGS.AC,
 * CR0.WP): one it could not touch itself gets HC_ERROR. */
static __attribute__((noinline)) void hypercall_print(struct vcpu *v)
{
	uint64_t addr = v->regs.gpr[REG_RBX], len = v->regs.gpr[REG_RCX];
	char buf[256];
	struct gmem_fault f;

	if (len > HC_PRINT_MAX) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	for (uint64_t done = 0; done < len;) {
		uint64_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		if (guest_read(v, addr + done, buf, n, GW_READ, &f) != GMEM_OK) {
			v->regs.gpr[REG_RAX] = HC_ERROR; /* a bad pointer is the caller's error, not a fault */
			return;
		}
		/* one output line per newline-free run */
		uint64_t start = 0;
		for (uint64_t i = 0; i <= n; i++) {
			if (i == n || buf[i] == '\n') {
				if (i > start || (i < n && buf[i] == '\n'))
					guest_output(v->vm, buf + start, (unsigned)(i - start));
				start = i + 1;
			}
		}
		done += n;
	}
	v->regs.gpr[REG_RAX] = 0;
}

/* The words after "--" on the module's line, NUL-terminated, into the
 * guest's buffer at RBX of RCX bytes (cut to fit); RAX = the full length.
 * How a flat or ELF guest gets its arguments. */
static __attribute__((noinline)) void hypercall_cmdline(struct vcpu *v)
{
	const char *args = v->vm->cfg.kernel_args;
	uint64_t len = strlen(args), size = v->regs.gpr[REG_RCX];
	uint64_t n = len < size ? len : size ? size - 1 : 0;
	struct gmem_fault f;
	char nul = 0;

	if (size && (guest_write(v, v->regs.gpr[REG_RBX], args, n, GW_WRITE, &f) != GMEM_OK ||
		     guest_write(v, v->regs.gpr[REG_RBX] + n, &nul, 1, GW_WRITE, &f) != GMEM_OK)) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	v->regs.gpr[REG_RAX] = len;
}

/* The VM's memory map into the guest's buffer at RBX of RCX bytes, as
 * many 24-byte entries as fit (u64 address, u64 size, u32 e820 type, u32
 * zero); RAX = the number of entries in the map. How a flat guest of
 * either kind finds its RAM (the passthrough OS's is the machine's map
 * less the hypervisor's memory). */
static __attribute__((noinline)) void hypercall_memory_map(struct vcpu *v)
{
	struct e820_entry map[VM_MAX_E820];
	uint64_t out[VM_MAX_E820][3];
	unsigned n = vm_memory_map(v->vm, map, VM_MAX_E820);
	uint64_t room = v->regs.gpr[REG_RCX] / sizeof(out[0]), fit = n < room ? n : room;
	struct gmem_fault f;

	for (unsigned i = 0; i < fit; i++) {
		out[i][0] = map[i].addr;
		out[i][1] = map[i].size;
		out[i][2] = map[i].type; /* and a zero u32 */
	}
	if (fit && guest_write(v, v->regs.gpr[REG_RBX], out, fit * sizeof(out[0]), GW_WRITE, &f) != GMEM_OK) {
		v->regs.gpr[REG_RAX] = HC_ERROR;
		return;
	}
	v->regs.gpr[REG_RAX] = n;
}

void handle_vmcall(struct vcpu *v)
{
	/* Hypercalls are for the guest kernel: CPL (SS.DPL) must be 0. */
	if (guest_cpl()) {
		guest_inject(VEC_UD, false, 0);
		return;
	}
	switch (v->regs.gpr[REG_RAX]) {
	case HC_PRINT:
		hypercall_print(v);
		break;
	case HC_EXIT:
		vm_end(v, CAUSE_HYPERCALL, v->regs.gpr[REG_RBX]);
		return;
	case HC_VERSION:
		v->regs.gpr[REG_RAX] = HV_VERSION_NUMBER;
		break;
	case HC_CMDLINE:
		hypercall_cmdline(v);
		break;
	case HC_MEMORY_MAP:
		hypercall_memory_map(v);
		break;
	case HC_VMCS_COUNTS:
		/* The benchmark's counting build: VMREADs and VMWRITEs so far. */
#ifdef HV_COUNT_VMCS
		v->regs.gpr[REG_RAX] = vmcs_reads;
		v->regs.gpr[REG_RBX] = vmcs_writes;
#else
		v->regs.gpr[REG_RAX] = HC_ERROR;
#endif
		break;
	default:
		v->regs.gpr[REG_RAX] = HC_ERROR;
		break;
	}
	guest_skip(LEN_VMCALL);
}
