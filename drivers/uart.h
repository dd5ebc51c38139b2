/* 16550 UART, polled, transmit only (the hypervisor never reads input). */
#ifndef DRIVERS_UART_H
#define DRIVERS_UART_H

#include <stdbool.h>
#include <stdint.h>

#define COM1_PORT 0x3f8
#define COM2_PORT 0x2f8

/* Program PORT for 115200 8N1 with FIFOs; false when no UART answers there. */
bool uart_init(uint16_t port);
void uart_putc(uint16_t port, char c);
/* Wait (bounded) until every byte written has left the transmitter. */
void uart_drain(uint16_t port);

#endif
