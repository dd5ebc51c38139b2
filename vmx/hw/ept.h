/* Extended page tables (vmx/hw/ept.c): entry bits, EPTP, INVEPT. */
#ifndef VMX_HW_EPT_H
#define VMX_HW_EPT_H

#include <stdint.h>

#include "mm/pagetable.h"

/* EPT entry bits (29.3.2). */
#define EPT_READ (1ull << 0)
#define EPT_WRITE (1ull << 1)
#define EPT_EXEC (1ull << 2)
#define EPT_RWX (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MEMTYPE_WB (6ull << 3)
#define EPT_MEMTYPE_UC (0ull << 3)
#define EPT_IPAT (1ull << 6) /* ignore the guest's PAT: the EPT memory type is final */

/* An isolated VM's RAM is write-back whatever its own PAT says (IPAT,
 * SDM vol. 3C, 29.3.7.2), as KVM has it for VMs without devices that
 * bypass the caches. A guest's UC or WC view of frames the hypervisor and
 * later VMs use write-back would alias memory types (vol. 3A, 13.12.4):
 * an uncached read could see what memory holds behind the hypervisor's
 * cached writes, such as an earlier VM's data behind the zeros a frame
 * was cleared with. The machine's own OS keeps its PAT (vmx/load/passthrough.c). */
#define EPT_LEAF_RAM (EPT_RWX | EPT_MEMTYPE_WB | EPT_IPAT)

/* The entry format mm/pagetable.c walks and fills for EPT. */
extern const struct pt_format ept_pt_format;

/* EPTP for the tables at ROOT: WB paging structures, 4-level walk
 * (25.6.11). */
static inline uint64_t eptp_of(uint64_t root)
{
	return root | 3ull << 3 | 6ull;
}

/* Flush the translations cached for EPTP (INVEPT single-context, else
 * all-context); a failure is logged. */
void ept_flush(uint64_t eptp);

/* selftest=ept-build: build, time and free the eager EPT of a 4 GiB
 * guest with each page size the CPU has (make bench). */
void ept_build_selftest(void);

#endif
