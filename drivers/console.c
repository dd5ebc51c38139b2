#include "drivers/console.h"

#include <stdarg.h>

#include "arch-x86/percpu/percpu.h"
#include "drivers/format.h"
#include "drivers/uart.h"

static uint16_t console_port;
static enum log_level console_level = LOG_INFO;

bool console_init(uint16_t port)
{
	console_port = 0;
	if (port && !uart_init(port))
		return false;
	console_port = port;
	return true;
}

void console_set_level(enum log_level level)
{
	console_level = level;
}

/* console_hold=1: output waits here until console_release(). */
static char held[32768];
static unsigned long held_len;
static bool holding;

static void uart_write(const char *s, unsigned long len)
{
	for (unsigned long i = 0; i < len; i++) {
		if (s[i] == '\n')
			uart_putc(console_port, '\r');
		uart_putc(console_port, s[i]);
	}
}

/* One writer at a time, so lines from CPUs never interleave. The lock
 * holds its owner's CPU id + 1, so an exception report can take it back
 * from its own CPU (console_break_lock). */
static volatile unsigned console_lock;

static void lock(void)
{
	unsigned me = this_cpu()->id + 1, free = 0;
	while (!__atomic_compare_exchange_n(&console_lock, &free, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		free = 0;
		while (console_lock)
			__asm__ volatile("pause");
	}
}

static void unlock(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void console_break_lock(void)
{
	if (console_lock == this_cpu()->id + 1)
		unlock();
}

static void write_locked(const char *s, unsigned long len);

void console_write(const char *s, unsigned long len)
{
	if (!console_port)
		return;
	lock();
	write_locked(s, len);
	unlock();
}

static void write_locked(const char *s, unsigned long len)
{
	if (!holding) {
		uart_write(s, len);
		return;
	}
	if (held_len + len > sizeof(held)) { /* full: out with what is held */
		uart_write(held, held_len);
		held_len = 0;
	}
	if (len > sizeof(held)) {
		uart_write(s, len);
		return;
	}
	for (unsigned long i = 0; i < len; i++)
		held[held_len++] = s[i];
}

void console_hold(void)
{
	holding = true;
}

void console_release(void)
{
	lock();
	holding = false;
	if (console_port)
		uart_write(held, held_len);
	held_len = 0;
	unlock();
}

void console_flush(void)
{
	console_release();
	if (console_port)
		uart_drain(console_port);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tag[] = {
		[LOG_ERROR] = "error: ",
		[LOG_WARN] = "warning: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "debug: ",
	};
	char line[512];
	va_list ap;

	if (level > console_level)
		return;
	int len = fmt_snprintf(line, sizeof(line), "[cpu%u] %s", this_cpu()->id, tag[level]);
	va_start(ap, fmt);
	len += fmt_vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2; /* truncated: keep the newline */
	line[len++] = '\n';
	console_write(line, len);
}
