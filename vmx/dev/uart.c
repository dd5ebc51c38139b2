/*
 * An isolated VM's COM1: a 16550 register model whose output goes to the
 * console, a line at a time, as "NAME| text" (guest_output).
 */
#include "vmx/dev/pc.h"

#include "drivers/console.h"
#include "vmx/dev/bus.h"

#define COM1_BASE 0x3f8
enum { UART_DATA, UART_IER, UART_IIR_FCR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_THRE_TEMT 0x60 /* transmitter always empty: output is instant */
#define IIR_NO_INTERRUPT 0x01
#define IIR_FIFO_ENABLED 0xc0
#define MSR_DCD_DSR_CTS 0xb0


struct vuart {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	unsigned len;
	char line[120];
};

/* Guest text reaches the console with every control or non-ASCII byte
 * shown as '.', so no guest can forge a hypervisor line (a VM-END after a
 * carriage return) or send escape sequences to the user's terminal. */
void guest_output(struct vm *vm, const char *text, unsigned len)
{
	char clean[256];

	if (len > sizeof(clean))
		len = sizeof(clean);
	for (unsigned i = 0; i < len; i++)
		clean[i] = (text[i] >= ' ' && text[i] < 0x7f) ? text[i] : '.';
	log_info("%s| %.*s", vm->cfg.name, (int)len, clean);
}

static void uart_flush(struct vm *vm, struct vuart *u)
{
	if (u->len)
		guest_output(vm, u->line, u->len);
	u->len = 0;
}

static void uart_putc(struct vm *vm, struct vuart *u, char c)
{
	if (c == '\n') {
		uart_flush(vm, u);
		return;
	}
	if (c == '\r')
		return;
	u->line[u->len++] = c;
	if (u->len == sizeof(u->line))
		uart_flush(vm, u);
}

/* Modem status in loopback mode mirrors the modem control outputs, which
 * is how Linux's 8250 driver detects a real 16550 (PC16550D, MCR bit 4). */
static uint8_t uart_msr(const struct vuart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD_DSR_CTS;
	return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x04) << 4) |
			 ((u->mcr & 0x08) << 4));
}

static void uart_access(struct vm *vm, struct vuart *u, uint16_t reg, bool in, uint32_t *val)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v = (uint8_t)*val;

	if (in) {
		switch (reg) {
		case UART_DATA: *val = dlab ? u->dll : 0; break;
		case UART_IER: *val = dlab ? u->dlm : u->ier; break;
		case UART_IIR_FCR: *val = IIR_NO_INTERRUPT | ((u->fcr & 1) ? IIR_FIFO_ENABLED : 0); break;
		case UART_LCR: *val = u->lcr; break;
		case UART_MCR: *val = u->mcr; break;
		case UART_LSR: *val = LSR_THRE_TEMT; break;
		case UART_MSR: *val = uart_msr(u); break;
		default: *val = u->scr; break;
		}
		return;
	}
	switch (reg) {
	case UART_DATA:
		if (dlab)
			u->dll = v;
		else if (!(u->mcr & MCR_LOOP))
			uart_putc(vm, u, (char)v);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = v;
		else
			u->ier = v & 0x0f;
		break;
	case UART_IIR_FCR: u->fcr = v; break;
	case UART_LCR: u->lcr = v; break;
	case UART_MCR: u->mcr = v & 0x1f; break;
	case UART_SCR: u->scr = v; break;
	default: break; /* LSR and MSR are read-only */
	}
}

static void com1_port(struct vcpu *v, void *dev, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)size;
	uart_access(v->vm, dev, port - COM1_BASE, in, val);
}

/* The guest's output that has no newline yet. */
static void uart_finish(struct vm *vm, void *dev)
{
	uart_flush(vm, dev);
}

bool uart_attach(struct vm *vm)
{
	struct vuart *u = bus_state(vm, sizeof(*u));
	if (!u)
		return false;
	u->lcr = 0x03; /* 8 data bits, as firmware leaves it */
	return bus_add_ports(vm, COM1_BASE, 8, com1_port, u, uart_finish);
}
