/*
 * Bochs' shutdown port (0x8900): the bytes of the word "Shutdown" written
 * in order end the VM. Pure logic, unit-tested on the host: the matcher's
 * state is a count of bytes matched so far, which guests drive.
 */
#ifndef VMX_SHUTDOWN_H
#define VMX_SHUTDOWN_H

#include <stdbool.h>

#define SHUTDOWN_WORD "Shutdown"

/* Feed byte C to the matcher whose state is *LEN (0 at first); true when
 * it completes the word, and the matcher starts over. *LEN stays below
 * the word's length whatever the guest writes, so it never indexes past
 * it (other vCPUs may still write after the word ended the VM). */
static inline bool shutdown_feed(unsigned *len, char c)
{
	static const char word[] = SHUTDOWN_WORD;
	unsigned n = *len < sizeof(word) - 1 ? *len : 0;

	n = c == word[n] ? n + 1 : c == word[0];
	if (n == sizeof(word) - 1) {
		*len = 0;
		return true;
	}
	*len = n;
	return false;
}

#endif
