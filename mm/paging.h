/* The host's page tables: all physical memory identity-mapped. */
#ifndef MM_PAGING_H
#define MM_PAGING_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/pagetable.h"

extern struct pt hv_pt;
extern uint64_t hv_mapped_top; /* [0, hv_mapped_top) is mapped */

/* Map [0, max(top, 4 GiB)) with the largest pages the CPU has and switch
 * CR3 to it. False (after logging why) when out of memory. */
bool paging_init(uint64_t top);

#endif
