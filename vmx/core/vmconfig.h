/*
 * A VM's configuration from its module's words (see README, "Guests"):
 *   name=NAME mem=SIZE mode=real|prot32|long64 load=ADDR entry=ADDR
 *   ept=eager|lazy timeout=SECONDS cpu=N cpus=N initrd passthrough -- KERNEL COMMAND LINE
 * Pure logic, unit tested on the host.
 */
#ifndef VMX_VMCONFIG_H
#define VMX_VMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/memmap.h"

#define VM_NAME_MAX 32
#define VM_DEFAULT_MEM (16ull << 20)
#define VM_MIN_MEM (1ull << 20)
#define VM_MAX_MEM (64ull << 30)
#define VM_DEFAULT_TIMEOUT 300 /* seconds; timeout=0 turns the limit off */
#define VM_MAX_CPU 1024	       /* cpu= below this; whether that CPU is online is checked at run time */
#define VM_MAX_VCPUS 64	       /* cpus= up to this (the hypervisor's MAX_CPUS) */

enum guest_mode { MODE_REAL, MODE_PROT32, MODE_LONG64 };
enum ept_policy { EPT_EAGER, EPT_LAZY };

struct vm_config {
	char name[VM_NAME_MAX];
	uint64_t mem;
	enum guest_mode mode;
	bool mode_set;
	uint64_t load, entry;
	bool load_set, entry_set;
	enum ept_policy ept;
	uint64_t timeout; /* seconds of guest run time before cause=timeout; 0: none */
	bool initrd;		 /* the word "initrd": this module is the previous kernel's */
	bool passthrough;	 /* the word "passthrough": the VM is the machine's OS */
	bool timeout_set;
	const char *kernel_args; /* the words after "--" (the kernel's command line), or "" */
	int cpu;		 /* cpu=N: the CPU the VM runs on; -1: any free one */
	unsigned cpus;		 /* cpus=N: vCPUs, each on a CPU of its own; 0: the default (1, or
				    every online CPU for the passthrough VM) */
};

/*
 * Parse ARGS (the module's string) over the defaults: name from FILE_NAME,
 * EPT policy DEFAULT_EPT. Returns false with a one-line reason in ERR on
 * the first unknown key or bad value.
 */
bool vm_config_parse(const char *args, const char *file_name, enum ept_policy default_ept, struct vm_config *c,
		     char *err, size_t errlen);

const char *guest_mode_name(enum guest_mode m);

/* A module GRUB loaded: [start, end) physical, and its command line. */
struct vm_module {
	uint64_t start, end;
	const char *cmdline;
};

#define VMS_MAX_MODULES 64

/* What the VMs are made from. */
struct machine {
	struct vm_module mods[VMS_MAX_MODULES];
	unsigned nmods;
	struct mem_range boot_info; /* the boot information: read-only to the machine's OS */
	const struct mem_typed *fw; /* the firmware's memory map, sorted by base */
	size_t nfw;
};

#endif
