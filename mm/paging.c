#include "mm/paging.h"

#include "arch-x86/cpu.h"
#include "drivers/console.h"
#include "mm/phys.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)

static const struct pt_format host_format = {
	.name = "host",
	.present = PTE_P,
	.table_flags = PTE_P | PTE_RW,
};

struct pt hv_pt;
uint64_t hv_mapped_top = 4ull << 30; /* what boot/start.S maps */

bool paging_init(uint64_t top)
{
	/* 1 GiB pages: CPUID.80000001H:EDX.Page1GB[26]. Addresses must stay
	 * below MAXPHYADDR (CPUID.80000008H:EAX[7:0]) or the entries would
	 * set reserved bits (SDM vol. 3A, 5.5.4). */
	bool gb = cpuid(0x80000001, 0).edx & (1u << 26);
	unsigned maxphy = 36;
	if (cpuid(0x80000000, 0).eax >= 0x80000008)
		maxphy = cpuid(0x80000008, 0).eax & 0xff;
	uint64_t limit = 1ull << maxphy;

	if (top < (4ull << 30))
		top = 4ull << 30;
	top = align_up(top, 1ull << 30);
	if (top > limit)
		top = limit;

	hv_pt = (struct pt){
		.fmt = &host_format,
		.max_leaf = gb ? 3 : 2,
		.alloc = pt_pool_alloc,
		.release = pt_pool_release,
	};
	if (!pt_init(&hv_pt) || !pt_map(&hv_pt, 0, 0, top, PTE_P | PTE_RW)) {
		log_err("out of memory building the host page tables");
		return false;
	}
	write_cr3(hv_pt.root);
	hv_mapped_top = top;
	log_info("host paging: 0-%#llx identity-mapped with %s pages, %llu tables", (unsigned long long)top,
		 gb ? "1 GiB" : "2 MiB", (unsigned long long)hv_pt.tables);
	return true;
}
