/* printf-style formatting into a buffer (no libc in the image). */
#ifndef DRIVERS_FORMAT_H
#define DRIVERS_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Supports %d %i %u %x %X %o %c %s %p %%, flags '-' '0' '#', a width (or '*'),
 * a precision for %s ('.N' or '.*'), and the length modifiers hh h l ll z.
 * Always NUL-terminates when n > 0; returns the length the full output
 * would have had, like C's vsnprintf.
 */
int fmt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int fmt_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
