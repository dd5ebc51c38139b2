/*
 * The runtime of the C test guests (long64, flat binaries at 1 MiB):
 * hypercalls, output, the command line, port and MSR access, and faulting
 * instructions that are caught and reported instead of ending the guest.
 *
 * A "try" wrapper runs one instruction with an entry in the exception
 * table (.extable, as Linux's): if it faults, guest_trap() resumes after
 * it and the wrapper returns the vector; else it returns NO_FAULT.
 */
#ifndef GUEST64_H
#define GUEST64_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
enum { HC_PRINT = 0, HC_EXIT = 1, HC_VERSION = 2, HC_VMCS_COUNTS = 3, HC_CMDLINE = 4 };
#define HC_ERROR (~0ull)
enum { NO_FAULT = -1, VEC_DE = 0, VEC_UD = 6, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14 };

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

/* Faults caught by try wrappers, per vector; the last one's vector, its
 * error code (0 for vectors without one) and, for #PF, CR2. */
extern volatile uint64_t fault_count[256];
extern volatile int fault_vector;
extern volatile uint64_t fault_error, fault_cr2;

/* A test's handler for interrupts (vectors 32-255); without one, an
 * interrupt is as unexpected as an uncaught fault. */
extern void (*irq_handler)(struct trap_frame *f);

/* An .extable entry: a fault at FROM resumes at TO. */
#define EXTABLE(from, to) ".pushsection .extable, \"a\"\n\t.balign 8\n\t.quad " #from ", " #to "\n\t.popsection\n\t"

static inline uint64_t vmcall3(uint64_t fn, uint64_t rbx, uint64_t rcx)
{
	uint64_t rax = fn;
	__asm__ volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx) : : "memory");
	return rax;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static inline int try_rdmsr(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0;
	fault_vector = NO_FAULT;
	__asm__ volatile("1: rdmsr\n2:\n\t" EXTABLE(1b, 2b) : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*value = (uint64_t)hi << 32 | lo;
	return fault_vector;
}

static inline int try_wrmsr(uint32_t msr, uint64_t value)
{
	fault_vector = NO_FAULT;
	__asm__ volatile("1: wrmsr\n2:\n\t" EXTABLE(1b, 2b)
			 :
			 : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
			 : "memory");
	return fault_vector;
}

/* Output: one line per call through the print hypercall. */
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int format(char *buf, size_t size, const char *fmt, va_list ap);

/* The module's words after "--" (hypercall 4); the value of KEY=... in
 * them as a number (decimal or 0x hex), else DEFAULT; a word's presence. */
const char *cmdline(void);
uint64_t arg_u64(const char *key, uint64_t dflt);
bool arg_is(const char *key, const char *value);

size_t strlen(const char *s);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* A guest's failed checks, its exit status: CHECK prints its message and
 * counts one when COND is false. */
extern unsigned failures;
#define CHECK(cond, ...)                     \
	do {                                 \
		if (!(cond)) {               \
			print(__VA_ARGS__);  \
			failures++;          \
		}                            \
	} while (0)

/* Load GDT (LIMIT = its size - 1) and reload CS = 0x08 and DS, ES, SS =
 * 0x10 from it. */
void gdt_load(const void *gdt, uint16_t limit);

/* A guest of several tests, one chosen by test=NAME on its command line. */
struct guest_test {
	const char *name;
	uint64_t (*run)(void);
};

/* Print "WHO: <command line>", run the test named by test=, and return its
 * status; with no known test=, say which there are and return 1. */
uint64_t run_test(const char *who, const struct guest_test *tests, unsigned n);

/* The guest's entry point (crt64.S calls it); its value is the exit status. */
uint64_t guest_main(void);

#endif
