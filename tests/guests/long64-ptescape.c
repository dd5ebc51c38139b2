/*
 * The machine's own OS trying to get out from under the hypervisor (issue
 * 12, findings 4, 5 and 11): a passthrough guest (built at 16 MiB, run with
 * "passthrough mode=long64 load=0x1000000"), one attack per run, chosen by
 * its command line:
 *   test=sleep-byte [typ=N]   SLP_TYP=N (default 1, S3 on the PIIX4) with
 *                             SLP_EN as one byte to PM1a_CNT+1: the VM
 *                             must end (cause=error status=N, or
 *                             cause=poweroff for the S5 type)
 *   test=sleep-dword [typ=N]  the same as a dword at PM1a_CNT-1, the other
 *                             bytes as they read
 *   test=refused              moves the PM I/O base (PIIX4 00:01.3 or ICH
 *                             00:1f.0, offset 0x40) through 0xCF8/0xCFC, as
 *                             a dword and as a byte, and writes 0x5a to the
 *                             APM/SMI command port: each write must change
 *                             nothing; then S5 exactly at PM1a_CNT must
 *                             end the VM with cause=poweroff
 *   test=scribble mbi=A mbiend=B img=C imgend=D
 *                             overwrite "hvmark=intact" (a later module's
 *                             command line, with its NUL) in [A, B) and
 *                             "hostile: %s" (the format of the first line
 *                             a later long64-hostile guest prints, in its
 *                             image) in [C, D); ranges of 0 are skipped.
 *                             Either write must end the VM where it lands.
 *   test=kbc-reset how=d1|pulse|fast [cmd=N]
 *                             the keyboard controller's traffic an OS makes
 *                             (0xd1 then 0xdf: A20 on, the reset line left
 *                             alone; 0xff, which pulses nothing) must go
 *                             through; then a reset other than 0xfe:
 *                             how=d1 writes the output port with bit 0
 *                             clear (0xd1, then 0xde to port 0x60),
 *                             how=pulse the command CMD (default 0xf0,
 *                             which pulses bits 3:0, the reset line among
 *                             them), how=fast sets port 0x92's bit 0 (after
 *                             A20 through its bit 1). Each must end the VM
 *                             as the OS's reset (cause=reboot)
 * The PM1a control port and the SMI command port come from the FADT, found
 * from the RSDP in the BIOS area (0xE0000-0xFFFFF).
 */
#include "guest64.h"


static uint32_t rd32(uint64_t pa)
{
	return *(volatile uint32_t *)pa;
}

static bool same(const volatile char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != s[i])
			return false;
	return true;
}

/* --- the FADT ---------------------------------------------------------------- */

static struct {
	uint16_t pm1a_cnt, smi_cmd;
} fadt;

/* The FADT through the RSDT (32-bit entries, enough for Bochs' tables). */
static bool find_fadt(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		if (!same((const volatile char *)a, "RSD PTR ", 8))
			continue;
		uint64_t rsdt = rd32(a + 16);
		uint32_t n = (rd32(rsdt + 4) - 36) / 4;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t t = rd32(rsdt + 36 + 4 * i);
			if (same((const volatile char *)t, "FACP", 4)) {
				fadt.smi_cmd = (uint16_t)rd32(t + 48);
				fadt.pm1a_cnt = (uint16_t)rd32(t + 64);
				print("fadt: PM1a_CNT %#x, SMI_CMD %#x", fadt.pm1a_cnt, fadt.smi_cmd);
				return fadt.pm1a_cnt != 0;
			}
		}
	}
	print("fadt: not found");
	return false;
}

#define SLP_EN (1u << 13)

/* --- sleep by a byte, or by a dword that straddles PM1a_CNT -------------------- */

static uint64_t test_sleep_byte(void)
{
	unsigned typ = (unsigned)arg_u64("typ", 1) & 7;
	if (!find_fadt())
		return 1;
	uint8_t hi = (uint8_t)((typ << 2) | (SLP_EN >> 8));
	print("sleep-byte: %#x (SLP_TYP %u, SLP_EN) to port %#x", hi, typ, fadt.pm1a_cnt + 1);
	outb((uint16_t)(fadt.pm1a_cnt + 1), hi);
	print("sleep-byte: came back");
	return 1;
}

static uint64_t test_sleep_dword(void)
{
	unsigned typ = (unsigned)arg_u64("typ", 1) & 7;
	if (!find_fadt())
		return 1;
	uint16_t port = (uint16_t)(fadt.pm1a_cnt - 1);
	uint32_t cnt = (inw(fadt.pm1a_cnt) & ~(7u << 10)) | (typ << 10) | SLP_EN;
	uint32_t v = inb(port) | cnt << 8 | (uint32_t)inb((uint16_t)(fadt.pm1a_cnt + 2)) << 24;
	print("sleep-dword: %#x (SLP_TYP %u, SLP_EN in bytes 1-2) to port %#x", v, typ, port);
	outl(port, v);
	print("sleep-dword: came back");
	return 1;
}

/* --- moving the PM I/O base, the APM/SMI command port --------------------------- */

#define PCI_ADDR(dev, fn, off) (0x80000000u | (dev) << 11 | (fn) << 8 | (off))

static uint32_t pci_read(uint32_t addr)
{
	outl(0xcf8, addr & ~3u);
	return inl(0xcfc);
}

/* The configuration address of the PM base register: the PIIX4's
 * function 3 (8086:7113) or an ICH LPC bridge (8086 at 00:1f.0). */
static uint32_t pmbase_reg(void)
{
	if (pci_read(PCI_ADDR(1, 3, 0)) == 0x71138086u)
		return PCI_ADDR(1, 3, 0x40);
	if ((pci_read(PCI_ADDR(0x1f, 0, 0)) & 0xffff) == 0x8086)
		return PCI_ADDR(0x1f, 0, 0x40);
	return 0;
}

static void test_pmbase(void)
{
	uint32_t reg = pmbase_reg();
	if (!reg) {
		print("pmbase: no PIIX4 or ICH PM function");
		failures++;
		return;
	}
	uint32_t old = pci_read(reg), moved = 0x6000 | (old & 0x3f);
	print("pmbase: PM base register at %#x reads %#x; writing %#x", reg, old, moved);
	outl(0xcf8, reg);
	outl(0xcfc, moved);
	uint32_t now = pci_read(reg);
	if (now != old) {
		/* Moved: the new PM1 control register is out of the trap. */
		uint16_t cnt = (uint16_t)((now & 0xffc0) + (fadt.pm1a_cnt & 0x3f));
		print("pmbase: moved to %#x: S5 with SLP_EN to port %#x", now, cnt);
		outw(cnt, (uint16_t)SLP_EN);
		print("pmbase: came back");
		failures++;
		return;
	}
	/* And its high byte alone, through 0xCFD. */
	outl(0xcf8, reg);
	outb(0xcfd, 0x60);
	now = pci_read(reg);
	CHECK(now == old, "pmbase: a byte write through 0xcfd moved it to %#x", now);
	print("pmbase: still %#x after a dword and a byte write", now);
}

static void test_apm(void)
{
	uint16_t port = fadt.smi_cmd ? fadt.smi_cmd : 0xb2;
	uint8_t before = inb(port);
	print("apm: %#x to the SMI command port %#x (it reads %#x)", 0x5a, port, before);
	outb(port, 0x5a);
	uint8_t after = inb(port);
	CHECK(after != 0x5a || before == 0x5a, "apm: the write reached the chipset (the port reads %#x)", after);
	print("apm: the port reads %#x", after);
}

static uint64_t test_refused(void)
{
	if (!find_fadt())
		return 1;
	test_pmbase();
	test_apm();
	print("refused: %u failures", failures);
	if (failures)
		return failures;
	/* Power-off as an OS does it: S5 (type 0 on Bochs) at PM1a_CNT. */
	unsigned typ = (unsigned)arg_u64("typ", 0) & 7;
	print("refused: S5 (SLP_TYP %u) at PM1a_CNT %#x", typ, fadt.pm1a_cnt);
	outw(fadt.pm1a_cnt, (uint16_t)((inw(fadt.pm1a_cnt) & ~(7u << 10)) | typ << 10 | SLP_EN));
	print("refused: came back from S5");
	return 1;
}

/* --- resets through the keyboard controller ------------------------------------ */

#define KBC_DATA 0x60
#define KBC_CMD 0x64		/* writes: commands; reads: status */
#define KBC_INPUT_FULL 0x02	/* status: the controller has not taken the last byte yet */
#define KBC_WRITE_OUTPUT 0xd1	/* the next data byte is the output port */

/* Wait until the controller takes a byte (an 8042 needs it). */
static void kbc_wait(void)
{
	for (unsigned i = 0; i < 100000 && (inb(KBC_CMD) & KBC_INPUT_FULL); i++)
		;
}

static void kbc_write(uint16_t port, uint8_t v)
{
	kbc_wait();
	outb(port, v);
}

static uint64_t test_kbc_reset(void)
{
	/* What an OS does: gate A20 on through the output port (bit 0, the
	 * reset line, kept set), then the null command. */
	kbc_write(KBC_CMD, KBC_WRITE_OUTPUT);
	kbc_write(KBC_DATA, 0xdf);
	kbc_write(KBC_CMD, 0xff);
	kbc_wait();
	print("kbc: 0xd1 then 0xdf (A20 on), and 0xff: went on");
	if (arg_is("how", "fast")) {
		/* Port 0x92: A20 through bit 1 goes through; bit 0 resets. */
		uint8_t a = inb(0x92);
		outb(0x92, (uint8_t)((a | 0x02) & ~0x01));
		print("kbc: port 0x92 %#x, bit 1 (A20) set: went on; now bit 0 (fast reset)", a);
		outb(0x92, (uint8_t)(a | 0x03));
	} else if (arg_is("how", "d1")) {
		print("kbc: 0xd1 then 0xde: the output port with bit 0 (reset) clear");
		kbc_write(KBC_CMD, KBC_WRITE_OUTPUT);
		kbc_write(KBC_DATA, 0xde);
	} else {
		uint8_t cmd = (uint8_t)arg_u64("cmd", 0xf0);
		print("kbc: command %#x: pulses output bits %#x", cmd, ~cmd & 0xf);
		kbc_write(KBC_CMD, cmd);
	}
	/* A reset takes effect at once; wait a little for a slow one. */
	for (unsigned i = 0; i < 1000; i++)
		inb(KBC_CMD);
	print("kbc: came back");
	return 1;
}

/* --- the boot information and the modules of later VMs ------------------------ */

/* Overwrite WHAT in [LO, HI) with WITH (as long), and the byte after it
 * when NUL_TOO; true if it was found. */
static bool scribble(uint64_t lo, uint64_t hi, const char *what, const char *with, bool nul_too)
{
	size_t n = strlen(what);
	for (uint64_t a = lo; a + n < hi; a++) {
		volatile char *p = (volatile char *)a;
		if (!same(p, what, n))
			continue;
		print("scribble: '%s' at %#llx: writing '%s'", what, (unsigned long long)a, with);
		for (size_t i = 0; i < n; i++)
			p[i] = with[i];
		if (nul_too)
			p[n] = 'X';
		print("scribble: %#llx written", (unsigned long long)a);
		return true;
	}
	print("scribble: no '%s' in %#llx-%#llx", what, (unsigned long long)lo, (unsigned long long)hi);
	return false;
}

static uint64_t test_scribble(void)
{
	uint64_t mbi = arg_u64("mbi", 0), mbiend = arg_u64("mbiend", 0);
	uint64_t img = arg_u64("img", 0), imgend = arg_u64("imgend", 0);
	if (mbi && !scribble(mbi, mbiend, "hvmark=intact", "hvmark=BROKEN", true))
		failures++;
	if (img && !scribble(img, imgend, "hostile: %s", "HOSTILE: %s", false))
		failures++;
	print("scribble: %u failures", failures);
	return failures;
}

static const struct guest_test tests[] = {
	{ "sleep-byte", test_sleep_byte },
	{ "sleep-dword", test_sleep_dword },
	{ "refused", test_refused },
	{ "scribble", test_scribble },
	{ "kbc-reset", test_kbc_reset },
};

uint64_t guest_main(void)
{
	return run_test("ptescape", tests, sizeof(tests) / sizeof(tests[0]));
}
