/*
 * The hypervisor console: leveled log lines on the serial port.
 *
 * Every line is "[cpuN] " followed by the message; warnings and errors
 * carry "warning: " / "error: " after the prefix. A line is formatted
 * whole before it is sent, so lines never interleave.
 */
#ifndef DRIVERS_CONSOLE_H
#define DRIVERS_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Start output on PORT (0: none). Returns false if no UART answers. */
bool console_init(uint16_t port);
void console_set_level(enum log_level level);
void console_write(const char *s, unsigned long len);
/* Hold output back in memory (console_hold=1, for timing the boot without
 * the UART), and send what was held. A full buffer is sent early. */
void console_hold(void);
void console_release(void);
/* Give up the console lock if this CPU holds it (an exception report on
 * a CPU that faulted inside the console). */
void console_break_lock(void);
/* Send what is held, and wait until the last line has left the UART
 * (before power-off). */
void console_flush(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
