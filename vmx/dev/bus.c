#include "vmx/dev/bus.h"
#include "vmx/dev/shutdown.h"

#include "arch-x86/string.h"
#include "drivers/console.h"
#include "drivers/format.h"

/* --- COM1 ---------------------------------------------------------------- */

#define COM1_BASE 0x3f8
enum { UART_DATA, UART_IER, UART_IIR_FCR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_THRE_TEMT 0x60 /* transmitter always empty: output is instant */
#define IIR_NO_INTERRUPT 0x01
#define IIR_FIFO_ENABLED 0xc0
#define MSR_DCD_DSR_CTS 0xb0

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

static void uart_flush(struct vm *vm)
{
	struct vuart *u = &vm->uart;
	if (u->len)
		guest_output(vm, u->line, u->len);
	u->len = 0;
}

static void uart_putc(struct vm *vm, char c)
{
	struct vuart *u = &vm->uart;
	if (c == '\n') {
		uart_flush(vm);
		return;
	}
	if (c == '\r')
		return;
	u->line[u->len++] = c;
	if (u->len == sizeof(u->line))
		uart_flush(vm);
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

static void uart_access(struct vm *vm, uint16_t reg, bool in, uint32_t *val)
{
	struct vuart *u = &vm->uart;
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
			uart_putc(vm, (char)v);
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

/* --- fw_cfg (QEMU docs/specs/fw_cfg.rst) ----------------------------------- */

enum { FW_CFG_SIGNATURE = 0x00, FW_CFG_ID = 0x01, FW_CFG_RAM_SIZE = 0x03, FW_CFG_NB_CPUS = 0x05,
       FW_CFG_MAX_CPUS = 0x0f };

static uint8_t fwcfg_byte(struct vm *vm)
{
	uint64_t item = 0;
	unsigned size = 0;
	switch (vm->fwcfg_selector) {
	case FW_CFG_SIGNATURE: item = 0x554d4551; size = 4; break; /* "QEMU" */
	case FW_CFG_ID: item = 1; size = 4; break;		   /* traditional interface */
	case FW_CFG_RAM_SIZE: item = vm->cfg.mem; size = 8; break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS: item = vm->nvcpus; size = 2; break;
	}
	uint32_t off = vm->fwcfg_offset++;
	return off < size ? (uint8_t)(item >> (8 * off)) : 0;
}

/* --- the bus ---------------------------------------------------------------- */

static void count_unhandled(struct vm *vm, uint16_t port, bool in)
{
	for (unsigned i = 0; i < vm->nports; i++) {
		if (vm->ports[i].port == port) {
			in ? vm->ports[i].reads++ : vm->ports[i].writes++;
			return;
		}
	}
	if (vm->nports == VM_MAX_PORTS_LISTED) {
		vm->ports_dropped++;
		return;
	}
	vm->ports[vm->nports] = (struct port_count){ port, in ? 1u : 0u, in ? 0u : 1u };
	vm->nports++;
}

static void com1_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)size;
	uart_access(v->vm, port - COM1_BASE, in, val);
}

static void debug_exit_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)port, (void)size;
	if (!in)
		vm_end(v, CAUSE_DEBUG_EXIT, *val);
	else
		*val = 0;
}

static void shutdown_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)port, (void)size;
	if (in) {
		*val = ~0u;
		return;
	}
	if (shutdown_feed(&v->vm->shutdown_len, (char)*val))
		vm_end(v, CAUSE_SHUTDOWN_PORT, 0);
}

static void post_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)v, (void)port, (void)size;
	if (in)
		*val = ~0u;
}

static void pic_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	uint8_t *mask = &v->vm->pic_mask[port >= 0xa0];

	(void)size;
	if (!(port & 1)) {
		if (in)
			*val = 0; /* command: no interrupt requested or in service */
	} else if (in) {
		*val = *mask;
	} else {
		*mask = (uint8_t)*val;
	}
}

static void pci_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	if (port == 0xcf8 && size == 4) {
		if (in)
			*val = v->vm->pci_address;
		else
			v->vm->pci_address = *val;
	} else if (in) {
		*val = ~0u; /* no device answers */
	}
}

static void fwcfg_port(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	struct vm *vm = v->vm;

	(void)size;
	if (port == 0x510) {
		if (in) {
			*val = vm->fwcfg_selector;
		} else {
			vm->fwcfg_selector = (uint16_t)*val;
			vm->fwcfg_offset = 0;
		}
	} else if (in) {
		*val = fwcfg_byte(vm);
	}
}

static void no_device(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
	(void)size;
	count_unhandled(v->vm, port, in);
	if (in)
		*val = ~0u;
}

/* The bus, as KVM's io bus: which device model owns each port. A byte
 * per port (64 KiB, read-only) makes the dispatch two loads, whatever the
 * number of devices (port_access in vmx/dev/bus.h). */
enum { DEV_NONE, DEV_COM1, DEV_DEBUG_EXIT, DEV_SHUTDOWN, DEV_POST, DEV_PIC, DEV_PCI, DEV_FWCFG };

static port_fn *const device_fn[] = {
	[DEV_NONE] = no_device,	      [DEV_COM1] = com1_port, [DEV_DEBUG_EXIT] = debug_exit_port,
	[DEV_SHUTDOWN] = shutdown_port, [DEV_POST] = post_port, [DEV_PIC] = pic_port,
	[DEV_PCI] = pci_port,	      [DEV_FWCFG] = fwcfg_port,
};

static const uint8_t port_device[0x10000] = {
	[COM1_BASE ... COM1_BASE + 7] = DEV_COM1,
	[0xf4] = DEV_DEBUG_EXIT,
	[0x8900] = DEV_SHUTDOWN,
	[0x80] = DEV_POST,
	[0x20 ... 0x21] = DEV_PIC,
	[0xa0 ... 0xa1] = DEV_PIC,
	[0xcf8] = DEV_PCI,
	[0xcfc ... 0xcff] = DEV_PCI,
	[0x510 ... 0x511] = DEV_FWCFG,
};

const uint8_t bus_one_device[0x10000];

void devices_init(struct vm *vm)
{
	vm->port_map = port_device;
	vm->port_fns = device_fn;
	vm->pic_mask[0] = vm->pic_mask[1] = 0xff;
	vm->uart.lcr = 0x03;
}

void devices_finish(struct vm *vm)
{
	char line[300] = "";
	int n = 0;

	uart_flush(vm);
	if (!vm->nports)
		return;
	unsigned i;
	for (i = 0; i < vm->nports; i++) {
		char one[40];
		int l = fmt_snprintf(one, sizeof(one), " %#x(in %u, out %u)", vm->ports[i].port, vm->ports[i].reads,
				     vm->ports[i].writes);
		if (n + l >= (int)sizeof(line))
			break; /* whole entries only */
		memcpy(line + n, one, (size_t)l + 1);
		n += l;
	}
	log_warn("VM %s: ports with no device:%s%s", vm->cfg.name, line,
		 vm->ports_dropped || i < vm->nports ? " and more" : "");
}
