# hv: a bare-metal Intel VT-x hypervisor.
#
#   make          build/hv.elf and build/hv.iso (BIOS + UEFI)
#   make run      boot it with the demo guest in an emulator (tools/boot.sh -e auto)
#   make test     unit tests on the host, then boot tests in Bochs and QEMU
#   make unit     the unit tests only
#   make bench    performance figures in Bochs (exit path, boot, EPT, Linux; docs/performance.md)
#   make profile  instructions per function on the exit path (Bochs debugger trace)
#   make fuzz     the libFuzzer harnesses, FUZZ_SECONDS (60) each (docs/security.md)
#
# Missing Debian packages are installed by tools/deps.sh (as root).

BUILD   := build
CC      := gcc
LD      := ld

# The image: freestanding C11, no red zone (exceptions share the stack),
# no SSE (the hypervisor never saves guest FPU state around its own code),
# frame pointers for the exception stack trace.
KCFLAGS := -std=c11 -ffreestanding -nostdlib -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
	   -mcmodel=small -fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	   -O2 -g -Wall -Wextra -Werror -I. -MMD -MP \
	   --param=min-pagesize=0
KASFLAGS := -I. -MMD -MP -g
KLDFLAGS := -n -nostdlib -T linker.ld -z max-page-size=4096 -z noexecstack --no-warn-rwx-segments

KSRCS := boot/start.S boot/main.c boot/mbi.c drivers/args.c boot/options.c \
	 arch-x86/string.c arch-x86/percpu/gdt.c arch-x86/percpu/idt.c arch-x86/percpu/vectors.S arch-x86/cpuinfo.c arch-x86/tsc.c arch-x86/percpu/percpu.c arch-x86/percpu/smp.c arch-x86/percpu/hoststate.c arch-x86/percpu/trampoline.S \
	 drivers/uart.c drivers/console.c drivers/format.c drivers/acpi.c drivers/power.c \
	 mm/memmap.c mm/frame.c mm/pagetable.c mm/phys.c mm/paging.c \
	 vmx/hw/caps.c vmx/hw/vmx.c vmx/hw/vmcs.c vmx/hw/entry.S vmx/hw/exitinfo.c vmx/hw/ept.c \
	 vmx/core/vmconfig.c vmx/core/memory.c vmx/core/gwalk.c vmx/core/guestmem.c vmx/core/guest.c vmx/core/vm.c vmx/core/stats.c \
	 vmx/dev/bus.c vmx/dev/pc.c vmx/dev/uart.c vmx/dev/debugexit.c vmx/dev/pic.c vmx/dev/pci.c vmx/dev/fwcfg.c vmx/dev/lapic.c \
	 vmx/dev/pt/ptio.c vmx/dev/pt/pmtrap.c vmx/dev/pt/ptpolicy.c \
	 vmx/exit/exit.c vmx/exit/cpuid.c vmx/exit/msr.c vmx/exit/io.c vmx/exit/mmio.c vmx/exit/control.c vmx/exit/cr.c \
	 vmx/exit/decode.c vmx/exit/events.c vmx/exit/vmcall.c \
	 vmx/load/image.c vmx/load/bzimage.c vmx/load/loader.c vmx/load/passthrough.c \
	 vmx/vcpu.c vmx/create.c vmx/report.c vmx/sched.c vmx/isolation.c
KOBJS := $(patsubst %,$(BUILD)/k/%.o,$(KSRCS))
# The exit path is built without frame pointers: three instructions less
# per function on every exit (docs/performance.md). A fault inside it
# still gets a stack trace: vmx/hw/entry.S points RBP at its own frame.
EXIT_PATH := vmx/vcpu.c $(wildcard vmx/exit/*.c) vmx/dev/bus.c vmx/dev/debugexit.c vmx/dev/uart.c
# The benchmark's counting build: VMREAD/VMWRITE counters (vmx/hw/vmcs.h).
KCOBJS := $(patsubst %,$(BUILD)/kc/%.o,$(KSRCS))

# Pure logic that also compiles for the host, for the unit tests.
HOST_SRCS := vmx/core/stats.c boot/mbi.c drivers/args.c boot/options.c drivers/format.c drivers/acpi.c \
	     mm/memmap.c mm/frame.c mm/pagetable.c vmx/hw/caps.c arch-x86/cpuinfo.c vmx/core/vmconfig.c vmx/hw/exitinfo.c vmx/exit/decode.c vmx/exit/cr.c vmx/load/image.c vmx/load/bzimage.c vmx/core/gwalk.c vmx/dev/pt/pmtrap.c vmx/dev/pt/ptpolicy.c
HCFLAGS := -std=c11 -g -O1 -Wall -Wextra -Werror -I. -DHV_HOST_TEST -D_GNU_SOURCE \
	   -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -MMD -MP
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))

# libFuzzer harnesses for the parsers of untrusted bytes (tests/fuzz), on
# the same sources, built with clang, ASan and UBSan. make fuzz runs each
# for FUZZ_SECONDS; make test runs each for a few seconds.
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -std=c11 -g -O1 -I. -DHV_HOST_TEST -D_GNU_SOURCE -Wall -Wextra -Werror \
	       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60
HOST_OBJS := $(patsubst %.c,$(BUILD)/host/%.o,$(HOST_SRCS))

# Test guests: flat binaries, linked where the loader puts each mode by
# default (real mode at 0x7c00, prot32 and long64 at 1 MiB).
FLAT_GUEST_SRCS := $(wildcard tests/guests/real-*.S tests/guests/prot32-*.S tests/guests/long64-*.S)
GUESTS := $(patsubst tests/guests/%.S,$(BUILD)/guests/%.bin,$(FLAT_GUEST_SRCS)) \
	  $(BUILD)/guests/mb-elf.elf $(BUILD)/guests/mb-aout.bin \
	  $(BUILD)/guests/elf64-kernel.elf $(BUILD)/guests/elf32-kernel.elf $(BUILD)/guests/qemu-apic.elf
GUEST_LINK_real := -m elf_i386 -Ttext 0x7c00
GUEST_LINK_prot32 := -m elf_i386 -Ttext 0x100000
GUEST_LINK_long64 := -Ttext 0x100000
GUEST_ARCH_real := -m32
GUEST_ARCH_prot32 := -m32
GUEST_ARCH_long64 :=
guest_mode = $(firstword $(subst -, ,$(notdir $(1))))
# An assembly guest depends on what it includes (guest.h, and for the
# prot32-smp-* variants prot32-smp.S): tracked for the image it builds.
GUEST_DEPS = -MMD -MP -MT $@ -MF $@.d

# Test guests in C (long64 flat binaries at 1 MiB) on the runtime in
# tests/guests/lib: the hostile-guest suite and the fuzzer (issue 6).
C_GUEST_SRCS := $(wildcard tests/guests/long64-*.c)
GUESTS += $(patsubst tests/guests/%.c,$(BUILD)/guests/%.bin,$(C_GUEST_SRCS)) $(BUILD)/guests/long64-hostile-at16m.bin \
	  $(BUILD)/guests/long64-residue-at16m.bin $(BUILD)/guests/long64-ptmsr-at16m.bin \
	  $(BUILD)/guests/long64-ptescape-at16m.bin $(BUILD)/guests/long64-ptos-at16m.bin
GUEST_CFLAGS := -std=c11 -ffreestanding -nostdlib -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
		-mcmodel=small -fno-stack-protector -fno-asynchronous-unwind-tables -O2 -Wall -Wextra -Werror \
		-I tests/guests/lib
GUEST_LIB := $(BUILD)/guests/lib/crt64.o $(BUILD)/guests/lib/guest.o

.PHONY: all run test unit deps clean guests bench profile fuzz
.SECONDARY:
all: $(BUILD)/hv.elf $(BUILD)/hv.iso

deps:
	@tools/deps.sh build

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(KASFLAGS) -c $< -o $@

$(BUILD)/kc/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (counting)")
	$(Q)$(CC) $(KCFLAGS) -DHV_COUNT_VMCS -c $< -o $@

$(BUILD)/kc/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(KASFLAGS) -DHV_COUNT_VMCS -c $< -o $@

$(patsubst %,$(BUILD)/k/%.o,$(EXIT_PATH)) $(patsubst %,$(BUILD)/kc/%.o,$(EXIT_PATH)): KCFLAGS += -fomit-frame-pointer

$(BUILD)/hv-count.elf: $(KCOBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KCOBJS)

$(BUILD)/hv.elf: $(KOBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KOBJS)

$(BUILD)/hv.iso: $(BUILD)/hv.elf tools/mkimage.sh
	@$(if $(Q),echo "  ISO     $@")
	$(Q)tools/mkimage.sh -o $@ -k $(BUILD)/hv.elf

guests: $(GUESTS)

$(BUILD)/guests/%.bin: tests/guests/%.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_ARCH_$(call guest_mode,$*)) -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/$*.o
	$(Q)$(LD) $(GUEST_LINK_$(call guest_mode,$*)) --oformat binary -o $@ $(BUILD)/guests/$*.o

$(BUILD)/guests/lib/%.o: tests/guests/lib/%.c tests/guests/lib/guest64.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guests/lib/crt64.o: tests/guests/lib/crt64.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) -c $< -o $@

$(BUILD)/guests/%.bin: tests/guests/%.c $(GUEST_LIB) tests/guests/lib/guest64.ld tests/guests/lib/guest64.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $(BUILD)/guests/$*.o
	$(Q)$(LD) --defsym=GUEST_BASE=0x100000 -T tests/guests/lib/guest64.ld -z noexecstack --no-warn-rwx-segments -o $(BUILD)/guests/$*.elf $(BUILD)/guests/$*.o $(GUEST_LIB)
	$(Q)objcopy -O binary $(BUILD)/guests/$*.elf $@

# The same linked at 16 MiB (load=0x1000000), for a passthrough VM.
$(BUILD)/guests/%-at16m.bin: tests/guests/%.c $(GUEST_LIB) tests/guests/lib/guest64.ld tests/guests/lib/guest64.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $(BUILD)/guests/$*-at16m.o
	$(Q)$(LD) --defsym=GUEST_BASE=0x1000000 -T tests/guests/lib/guest64.ld -z noexecstack --no-warn-rwx-segments \
		-o $(BUILD)/guests/$*-at16m.elf $(BUILD)/guests/$*-at16m.o $(GUEST_LIB)
	$(Q)objcopy -O binary $(BUILD)/guests/$*-at16m.elf $@

# Kernels in other formats: multiboot (ELF32 and a.out kludge) at 4 MiB
# like kvm-unit-tests, ELF64 at 2 MiB, plain ELF32 at 1 MiB.
GUEST_KERNEL_LD := --no-warn-rwx-segments -z noexecstack -z max-page-size=0x1000
$(BUILD)/guests/mb-elf.elf: tests/guests/multiboot-check.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/mb-elf.o
	$(Q)$(LD) -m elf_i386 $(GUEST_KERNEL_LD) -Ttext 0x400000 -o $@ $(BUILD)/guests/mb-elf.o

$(BUILD)/guests/qemu-%.elf: tests/guests/qemu-%.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/qemu-$*.o
	$(Q)$(LD) -m elf_i386 $(GUEST_KERNEL_LD) -Ttext 0x400000 -o $@ $(BUILD)/guests/qemu-$*.o

$(BUILD)/guests/mb-aout.bin: tests/guests/multiboot-check.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -DAOUT -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/mb-aout.o
	$(Q)$(LD) -m elf_i386 -Ttext 0x400000 --oformat binary -o $@ $(BUILD)/guests/mb-aout.o

$(BUILD)/guests/elf64-%.elf: tests/guests/elf64-%.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/elf64-$*.o
	$(Q)$(LD) $(GUEST_KERNEL_LD) -Ttext 0x200000 -o $@ $(BUILD)/guests/elf64-$*.o

$(BUILD)/guests/elf32-%.elf: tests/guests/elf32-%.S tests/guests/guest.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -c -I tests/guests $(GUEST_DEPS) $< -o $(BUILD)/guests/elf32-$*.o
	$(Q)$(LD) -m elf_i386 $(GUEST_KERNEL_LD) -Ttext 0x100000 -o $@ $(BUILD)/guests/elf32-$*.o

$(BUILD)/host/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(CC) $(HCFLAGS) -c $< -o $@

$(BUILD)/unit/%: tests/unit/%.c $(HOST_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  UNIT    $@")
	$(Q)$(CC) $(HCFLAGS) $< $(HOST_OBJS) -lcmocka -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(HOST_SRCS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZER  $@")
	$(Q)clang $(FUZZ_CFLAGS) $< $(HOST_SRCS) -o $@

fuzz:
	@tools/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZERS)
	@tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZERS)

unit: $(UNIT_TESTS)
	@tools/deps.sh test
	@tests/run.sh --unit-only $(UNIT_TESTS)

run:
	@tools/deps.sh run
	@$(MAKE) --no-print-directory all guests
	@tools/demo.sh

bench:
	@tools/deps.sh run
	@$(MAKE) --no-print-directory all guests $(BUILD)/hv-count.elf
	@tools/bench.sh

profile:
	@tools/deps.sh run
	@$(MAKE) --no-print-directory all guests
	@tools/profile.sh

test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory all guests $(UNIT_TESTS) $(FUZZERS)
	@FUZZERS="$(FUZZERS)" tests/run.sh $(UNIT_TESTS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
