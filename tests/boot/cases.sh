# Boot tests: each boot is followed by the assertions on its serial log.
# Sourced by tests/run.sh after tests/boot/lib.sh.

printf 'module payload for the boot tests\n' >build/tests-blob.bin 2>/dev/null ||
	{ mkdir -p build && printf 'module payload for the boot tests\n' >build/tests-blob.bin; }

# Bochs (BIOS, VMX with EPT and unrestricted guest): the full report.
# A bad option and an unknown option warn; the boot goes on.
boot report bochs 60 -c 'loglevel=debug no_such_option=1 on_exit=explode' \
	-m 'build/tests-blob.bin name=demo mem=16M'
expect "banner" '^\[cpu0\] hv [0-9.]+: bare-metal Intel VT-x hypervisor, booted by GRUB'
expect "CPU vendor, family and model" 'CPU: GenuineIntel family 0x6 model 0x55'
expect "CPU count from the MADT" 'CPUs: 1 enabled \(0 disabled\) in the MADT, local APIC at 0xfee00000'
expect "usable memory" 'memory: 51[0-9] MiB usable per the multiboot2 memory map'
expect "hypervisor footprint" 'hypervisor: image 0x200000-0x[0-9a-f]+ \([0-9]+ KiB\), frame bitmap'
expect "module with its arguments" "module 0: 0x[0-9a-f]+-0x[0-9a-f]+ \\(34 bytes\\) args 'name=demo mem=16M'"
expect "unknown option warns" "warning: unknown option 'no_such_option' ignored"
expect "bad option value warns" "warning: bad value for option 'on_exit': 'explode' \\(expected poweroff, halt or reboot\\)"
expect "IA32_FEATURE_CONTROL state" 'IA32_FEATURE_CONTROL 0x5: locked by firmware, VMX outside SMX on'
expect "EPT capabilities" 'VMX: EPT yes \(4-level walk yes, WB yes, 2M pages yes, 1G pages yes, A/D bits yes\), unrestricted guest yes'
expect "VPID and preemption timer" 'VMX: VPID yes, preemption timer yes'
expect "true controls" 'VMX: revision 0x2b, VMCS region 4096 bytes, true controls yes'
expect "VMX usable" 'VMX usable: EPT and unrestricted guest present'
expect "ACPI power-off" 'ACPI: power-off by S5'
expect_none "no errors" 'error:|exception'
expect_rc "powers off (default on_exit)" 0

# QEMU TCG has no VMX: one clear refusal line, then power-off.
boot novmx tcg 60
expect "report before refusing" 'CPU: .* family'
expect "no-VMX refusal" '^\[cpu0\] error: no VMX: this CPU does not offer Intel VT-x'
expect_none "does not claim VMX" 'VMX usable'
expect "powering off" 'powering off'
expect_rc "powers off by ACPI" 0

# UEFI: GRUB x86_64-efi under OVMF reaches the same report.
boot uefi uefi 120 -c 'loglevel=info'
expect "banner under UEFI" 'hv [0-9.]+: bare-metal Intel VT-x hypervisor, booted by GRUB'
expect "memory map under UEFI" 'memory: [0-9]+ MiB usable .*EFI memory map given too'
expect "ACPI 2.0 RSDP under UEFI" 'ACPI: RSDP at 0x[0-9a-f]+ from the boot information, revision 2'
expect "no-VMX refusal under UEFI" 'error: no VMX'
expect_rc "powers off under UEFI" 0

# on_exit=halt: the machine stays up (the time limit ends it).
boot halt tcg 8 -c 'on_exit=halt'
expect "halt announced" 'halted \(on_exit=halt\)'
expect_none "no power-off" 'powering off'
expect_rc "still running at the time limit" 124

# console=none: nothing on the serial port, and the boot still ends.
boot quiet tcg 30 -c 'console=none'
expect_none "silent" '.'
expect_rc "powers off without a console" 0

# A hypervisor exception: the full report, then a halt.
boot fault bochs 20 -c 'selftest=fault'
expect "exception named" 'hypervisor exception: #PF page fault \(vector 14\), error code 0x0, at RIP 0x2[0-9a-f]{5}'
expect "general registers" 'rax [0-9a-f]{16} rbx [0-9a-f]{16} rcx [0-9a-f]{16} rdx [0-9a-f]{16}'
expect "control registers" 'cr0 [0-9a-f]{16} cr2 00007ffffffff000 cr3 [0-9a-f]{16} cr4 [0-9a-f]{16}'
expect "stack trace" 'stack trace \(addr2line'
expect "halted" 'hypervisor halted'
expect_rc "halts (time limit ends it)" 124

# KVM with nested VMX, where this machine has it.
boot kvm kvm 60
expect "VMX usable under KVM" 'VMX usable'
expect_rc "powers off under KVM" 0
