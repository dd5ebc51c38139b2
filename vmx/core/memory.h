/* A VM's guest-physical memory: its slots of host frames, and its
 * extended page tables: guest-physical to host-physical over its
 * memory slots, eagerly with the largest pages or lazily per 4 KiB page
 * on first touch (SDM vol. 3C, 29.3). */
#ifndef VMX_CORE_MEMORY_H
#define VMX_CORE_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmx/core/vm.h"
#include "vmx/hw/ept.h"

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
