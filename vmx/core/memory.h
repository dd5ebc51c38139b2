/* A VM's extended page tables: guest-physical to host-physical over its
 * memory slots, eagerly with the largest pages or lazily per 4 KiB page
 * on first touch (SDM vol. 3C, 29.3). */
#ifndef VMX_EPT_H
#define VMX_EPT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"

/* EPT entry bits (29.3.2). */
#define EPT_READ (1ull << 0)
#define EPT_WRITE (1ull << 1)
#define EPT_EXEC (1ull << 2)
#define EPT_RWX (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MEMTYPE_WB (6ull << 3)
#define EPT_MEMTYPE_UC (0ull << 3)
#define EPT_IPAT (1ull << 6) /* ignore the guest's PAT: the EPT memory type is final */

/* Allocate the root, map every slot if the policy is eager, and set
 * vm->eptp. False when out of memory. */
bool ept_create(struct vm *vm);

/* The root only, with tables from ALLOC/RELEASE (the passthrough VM's
 * reserve); the caller maps. */
bool ept_create_with(struct vm *vm, uint64_t (*alloc)(void *), void (*release)(void *, uint64_t), void *ctx);

/* Map the 4 KiB page holding GPA if it is in a slot (lazy fill). False if
 * GPA is outside every slot or tables could not be allocated. */
bool ept_fill(struct vm *vm, uint64_t gpa);

/* Flush this EPTP's cached translations (INVEPT single-context, else all). */
void ept_invalidate(struct vm *vm);

/* Release the tables. */
void ept_destroy(struct vm *vm);

/* selftest=ept-build: build, time and free the eager EPT of a 4 GiB guest
 * with each page size the CPU has (make bench). */
void ept_build_selftest(void);

/* The slot holding GPA, or NULL. */
const struct mem_slot *slot_find(const struct vm *vm, uint64_t gpa);

#endif
