#include "drivers/uart.h"

#include "arch-x86/cpu.h"

/* 16550 register offsets and bits (PC16550D data sheet). */
enum {
	UART_THR = 0, /* transmit holding (DLAB=0) */
	UART_DLL = 0, /* divisor latch low (DLAB=1) */
	UART_IER = 1,
	UART_DLM = 1,
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_SCR = 7,
};
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0x07 /* enable FIFOs, clear RX and TX */
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define UART_CLOCK_DIVISOR 1 /* 1.8432 MHz / 16 / 1 = 115200 baud */

bool uart_init(uint16_t port)
{
	/* A port with nothing behind it reads 0xff: probe the scratch
	 * register, which every 16550 has and nothing else mirrors. */
	outb(port + UART_SCR, 0x5a);
	if (inb(port + UART_SCR) != 0x5a)
		return false;

	outb(port + UART_IER, 0);
	outb(port + UART_LCR, LCR_DLAB);
	outb(port + UART_DLL, UART_CLOCK_DIVISOR & 0xff);
	outb(port + UART_DLM, UART_CLOCK_DIVISOR >> 8);
	outb(port + UART_LCR, LCR_8N1);
	outb(port + UART_FCR, FCR_ENABLE_CLEAR);
	outb(port + UART_MCR, MCR_DTR_RTS_OUT2);
	return true;
}

void uart_putc(uint16_t port, char c)
{
	/* Bounded wait: a wedged or absent UART must not hang the
	 * hypervisor; after ~1M polls the byte is dropped. */
	for (unsigned spins = 0; spins < 1000000; spins++) {
		if (inb(port + UART_LSR) & LSR_THRE)
			break;
		cpu_relax();
	}
	outb(port + UART_THR, (uint8_t)c);
}

void uart_drain(uint16_t port)
{
	for (unsigned spins = 0; spins < 1000000; spins++) {
		if (inb(port + UART_LSR) & LSR_TEMT)
			return;
		cpu_relax();
	}
}
