/* The C test guests' runtime (guest64.h). */
#include "guest64.h"

volatile uint64_t fault_count[256];
volatile int fault_vector;
unsigned failures;
volatile uint64_t fault_error, fault_cr2;

extern const uint64_t trap_vectors[256];
extern const uint64_t __extable_start[], __extable_end[];

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
};
static struct idt_gate idt[256] __attribute__((aligned(16)));

void idt_setup(void);
void guest_trap(struct trap_frame *f);

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

/* The loader starts a flat long64 guest with no GDT (its segments come
 * from the VMCS): exceptions need one to load CS from. */
static const uint64_t gdt[3] __attribute__((aligned(8))) = {
	0,
	0x00af9a000000ffffull, /* 0x08: 64-bit code */
	0x00cf92000000ffffull, /* 0x10: data */
};

void gdt_load(const void *table, uint16_t limit)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) g = { limit, (uint64_t)table };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq $0x08\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\tmovl $0x10, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss"
			 :
			 : "m"(g)
			 : "rax", "memory");
}

void idt_setup(void)
{
	const uint16_t cs = 0x08;
	gdt_load(gdt, sizeof(gdt) - 1);
	for (int v = 0; v < 256; v++) {
		uint64_t a = trap_vectors[v];
		idt[v] = (struct idt_gate){ (uint16_t)a, cs, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0 };
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) d = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(d));
}

/* A fault at an instruction with an exception-table entry resumes after
 * it; anything else is the guest's own bug: report it and end. */
void (*irq_handler)(struct trap_frame *f);

void guest_trap(struct trap_frame *f)
{
	if (f->vector >= 32 && irq_handler) {
		irq_handler(f);
		return;
	}
	for (const uint64_t *e = __extable_start; e < __extable_end; e += 2) {
		if (e[0] == f->rip) {
			f->rip = e[1];
			if (f->vector == 1)
				f->rflags &= ~0x100ull; /* a single-step trap caught: stepping ends */
			fault_vector = (int)f->vector;
			fault_error = f->error;
			fault_cr2 = 0;
			if (f->vector == VEC_PF) /* read before anything else could fault */
				__asm__ volatile("mov %%cr2, %0" : "=r"(fault_cr2));
			fault_count[f->vector & 255]++;
			return;
		}
	}
	print("unexpected exception %llu, error %#llx, at RIP %#llx", (unsigned long long)f->vector,
	      (unsigned long long)f->error, (unsigned long long)f->rip);
	vmcall3(HC_EXIT, 0xdead, 0);
}

/* A small vsnprintf: %s %c %d %u %x %p, the l/ll sizes and #. */
int format(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t n = 0;
#define PUT(ch) do { if (n + 1 < size) buf[n] = (ch); n++; } while (0)
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			PUT(*fmt);
			continue;
		}
		bool alt = false;
		int longs = 0;
		fmt++;
		if (*fmt == '#')
			alt = true, fmt++;
		while (*fmt == 'l')
			longs++, fmt++;
		uint64_t v;
		unsigned base = 10;
		bool neg = false;
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			while (*s)
				PUT(*s++);
			continue;
		}
		case 'c':
			PUT((char)va_arg(ap, int));
			continue;
		case 'd': {
			int64_t s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			neg = s < 0;
			v = neg ? -(uint64_t)s : (uint64_t)s;
			break;
		}
		case 'p':
			alt = true, longs = 2;
			/* fall through */
		case 'x':
			base = 16;
			/* fall through */
		case 'u':
			v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			break;
		default:
			PUT('%');
			PUT(*fmt);
			continue;
		}
		char digits[24];
		int k = 0;
		do {
			digits[k++] = "0123456789abcdef"[v % base];
			v /= base;
		} while (v);
		if (neg)
			PUT('-');
		if (alt && base == 16) {
			PUT('0');
			PUT('x');
		}
		while (k)
			PUT(digits[--k]);
	}
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return (int)n;
#undef PUT
}

void print(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = format(line, sizeof(line), fmt, ap);
	va_end(ap);
	vmcall3(HC_PRINT, (uint64_t)line, n < (int)sizeof(line) ? (uint64_t)n : sizeof(line) - 1);
}

const char *cmdline(void)
{
	static char buf[512];
	static bool fetched;
	if (!fetched) {
		if (vmcall3(HC_CMDLINE, (uint64_t)buf, sizeof(buf)) == HC_ERROR)
			buf[0] = 0;
		fetched = true;
	}
	return buf;
}

/* The value that follows "KEY=" at the start of a word, or NULL. */
static const char *arg_value(const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = cmdline(); *p; p++) {
		if (p != cmdline() && p[-1] != ' ')
			continue;
		size_t i = 0;
		while (i < kl && p[i] == key[i])
			i++;
		if (i == kl && p[i] == '=')
			return p + kl + 1;
	}
	return 0;
}

uint64_t arg_u64(const char *key, uint64_t dflt)
{
	const char *v = arg_value(key);
	if (!v)
		return dflt;
	uint64_t x = 0;
	unsigned base = 10;
	if (v[0] == '0' && v[1] == 'x')
		base = 16, v += 2;
	for (; *v && *v != ' '; v++) {
		unsigned d = *v >= '0' && *v <= '9' ? (unsigned)(*v - '0')
			     : *v >= 'a' && *v <= 'f' ? (unsigned)(*v - 'a' + 10)
							 : 99;
		if (d >= base)
			break;
		x = x * base + d;
	}
	return x;
}

bool arg_is(const char *key, const char *value)
{
	const char *v = arg_value(key);
	if (!v)
		return false;
	size_t n = strlen(value);
	for (size_t i = 0; i < n; i++)
		if (v[i] != value[i])
			return false;
	return v[n] == 0 || v[n] == ' ';
}

uint64_t run_test(const char *who, const struct guest_test *tests, unsigned n)
{
	char names[256];
	size_t len = 0;

	print("%s: %s", who, cmdline());
	for (unsigned i = 0; i < n; i++)
		if (arg_is("test", tests[i].name))
			return tests[i].run();
	for (unsigned i = 0; i < n; i++) {
		if (i && len + 1 < sizeof(names))
			names[len++] = '|';
		for (const char *c = tests[i].name; *c && len + 1 < sizeof(names); c++)
			names[len++] = *c;
	}
	names[len] = 0;
	print("%s: no test=%s given", who, names);
	return 1;
}
