/* A VM's guest-physical memory: its slots of host frames, and its
 * extended page tables: guest-physical to host-physical over its
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

/* Host pointer to guest-physical GPA, or NULL outside RAM; LEN bytes from
 * GPA must lie in one slot. */
void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);

/* Copy LEN bytes to guest-physical GPA; false if any byte is outside RAM. */
bool guest_phys_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len);

/* The VM's memory map as e820 entries (at most MAX), as Linux's boot
 * parameters and hypercall 5 give it; the number of entries. */
unsigned vm_memory_map(const struct vm *vm, struct e820_entry *e, unsigned max);

/* Back [GPA, GPA+SIZE) with zeroed host frames, in the largest aligned
 * chunks the pool has, one slot each; false when out of memory or slots.
 * vm_free_ram gives them back (not a passthrough VM's borrowed RAM). */
bool vm_add_ram(struct vm *vm, uint64_t gpa, uint64_t size);
void vm_free_ram(struct vm *vm);

/* The slot holding GPA, or NULL. */
const struct mem_slot *slot_find(const struct vm *vm, uint64_t gpa);

#endif
