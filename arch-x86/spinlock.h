/*
 * The hypervisor's spinlock: test and test-and-set, so waiters only read
 * the lock's cache line until it is free. (The console's lock, which must
 * know its owner, is in drivers/console.c.)
 */
#ifndef ARCH_X86_SPINLOCK_H
#define ARCH_X86_SPINLOCK_H

static inline void spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			__asm__ volatile("pause");
}

static inline void spin_unlock(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
