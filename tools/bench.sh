#!/usr/bin/env bash
# tools/bench.sh: the hypervisor's performance figures (make bench), all in
# Bochs, where RDTSC counts retired instructions, so every figure is an
# exact, repeatable instruction count. Prints "bench NAME VALUE UNIT" lines
# and writes them to build/bench.txt:
#   - the exit path: the benchmark guest (tests/guests/long64-bench.S), once
#     with the normal build (instructions per round trip) and once with the
#     counting build (VMREAD and VMWRITE per round trip);
#   - the boot: multiboot2 entry to the first VM entry with console_hold=1
#     (a 2 MiB guest), and the eager EPT of a 4 GiB guest with each page
#     size (selftest=ept-build);
#   - Linux: Debian's kernel and the tools/linux.sh initramfs booted by GRUB
#     natively and under the hypervisor, ticks from GRUB's hand-over (a
#     Bochs debugger breakpoint on the entry point) to the initramfs marker
#     (HV-LINUX-TSC, the TSC when init starts), and their ratio;
#   - KVM: the same guests on a real CPU where /dev/kvm has nested VMX,
#     else one line saying why they were skipped.
# Instruction-level profiles of the exit path: tools/profile.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench.txt
: >"$out"
emit() { echo "bench $*" | tee -a "$out"; }
fail() {
	echo "bench.sh: $*" >&2
	exit 1
}

# --- the exit path -----------------------------------------------------------
guest='build/guests/long64-bench.bin name=bench mode=long64 mem=16M ept=lazy'
run() { # KERNEL LOG
	tools/mkimage.sh -o "build/bench-$2.iso" -k "$1" -m "$guest" >/dev/null
	tools/boot.sh -e bochs -t 300 "build/bench-$2.iso" 2>/dev/null | tr -d '\r' >"build/bench-$2.log"
}
run build/hv.elf plain
run build/hv-count.elf count

# "[cpu0] bench| BENCH name ticks reads writes"
awk -v count=build/bench-count.log '
	function unit_of(name) { return name ~ /ept/ ? "instructions/page" : "instructions" }
	BEGIN {
		while ((getline line < count) > 0)
			if (split(line, f, " ") >= 6 && f[3] == "BENCH") { reads[f[4]] = f[6]; writes[f[4]] = f[7] }
	}
	$3 == "BENCH" {
		name = $4; ticks = $5; r = reads[name]; w = writes[name]; div = 1
		if (name ~ /^cr[04]_write_pair$/) { sub(/_pair$/, "", name); div = 2 }
		if (name == "rep_outsb_64") { printf "bench %s %.2f %s\n", "rep_outsb", ticks / 64, "instructions/byte"
			printf "bench %s_vmread %d per-64-byte-call\n", "rep_outsb", r; printf "bench %s_vmwrite %d per-64-byte-call\n", "rep_outsb", w; next }
		printf "bench %s %d %s\n", name, ticks / div, unit_of(name)
		printf "bench %s_vmread %d per-exit\n", name, r / div
		printf "bench %s_vmwrite %d per-exit\n", name, w / div
	}' build/bench-plain.log | tee -a "$out"
grep -q '^bench cpuid ' "$out" ||
	fail "the benchmark guest printed no figures (logs: build/bench-plain.log, build/bench-count.log)"

# --- the boot ------------------------------------------------------------------
tools/mkimage.sh -o build/bench-boot.iso -c "console_hold=1 selftest=ept-build" \
	-m "build/guests/real-hlt.bin name=boot mode=real mem=2M" >/dev/null
tools/boot.sh -e bochs -t 300 build/bench-boot.iso 2>/dev/null | tr -d '\r' >build/bench-boot.log
ticks=$(sed -n 's/.*boot: \([0-9]*\) TSC ticks from the multiboot2 entry to the first VM entry.*/\1/p' build/bench-boot.log)
[ -n "$ticks" ] || fail "no boot figure (log: build/bench-boot.log)"
emit "boot_to_first_vm_entry $ticks instructions"
# "selftest=ept-build: eager EPT of a 4 GiB guest with 2 MiB pages: 6 tables, 54689 TSC ticks"
sed -n 's/.*eager EPT of a 4 GiB guest with \([0-9]*\) \([KMG]\)iB pages: \([0-9]*\) tables, \([0-9]*\) TSC ticks.*/\1\2 \3 \4/p' \
	build/bench-boot.log | while read -r size tables t; do
	emit "ept_build_4g_${size,,} $t instructions"
	emit "ept_build_4g_${size,,}_tables $tables tables"
done
grep -q '^bench ept_build_4g_' "$out" || fail "no EPT build figure (log: build/bench-boot.log)"

# --- Linux, native and under the hypervisor --------------------------------------
# Ticks at the breakpoint on ENTRY (physical) to the HV-LINUX-TSC marker.
linux_ticks() { # NAME ENTRY-HEX ISO
	local rc dbg
	rc=$(mktemp)
	dbg=$PWD/build/bench-$1.dbg
	printf 'pb 0x%s\nc\nd 1\nc\n' "$2" >"$rc"
	rm -f "$dbg"
	BOCHS_RC=$rc BOCHS_DBGLOG=$dbg tools/boot.sh -e bochs -t 600 "$3" 2>"build/bench-$1.err" |
		tr -d '\r' >"build/bench-$1.log" || true
	rm -f "$rc"
	local entry marker
	entry=$(awk '/Breakpoint 1,/ { hit = 1 } hit && /Next at t=/ { sub(/.*t=/, ""); print; exit }' "$dbg")
	marker=$(sed -n 's/.*HV-LINUX-TSC \([0-9]*\).*/\1/p' "build/bench-$1.log" | head -1)
	[ -n "$entry" ] && [ -n "$marker" ] ||
		fail "$1: no entry breakpoint or no marker (logs: build/bench-$1.log, $dbg)"
	echo $((marker - entry))
}
if tools/linux.sh >build/bench-linux-fetch.log 2>&1; then
	args="console=ttyS0,115200 quiet hvtest=bench"
	tools/mkimage.sh -o build/bench-linux-native.iso -l "build/linux/vmlinuz $args" -m build/linux/initrd.gz >/dev/null
	# stats=1: where the hypervisor's share goes (its cost, a few
	# instructions per exit, is within the figure)
	tools/mkimage.sh -o build/bench-linux-hv.iso -c stats=1 \
		-m "build/linux/vmlinuz name=linux passthrough -- $args" -m "build/linux/initrd.gz initrd" >/dev/null
	# GRUB's linux command (BIOS) enters a relocatable kernel's 32-bit
	# code at its preferred address (setup header 0x258), else at 1 MiB.
	reloc=$(od -An -tu1 -j 0x234 -N 1 build/linux/vmlinuz | tr -d ' ')
	pref=$(od -An -tx8 -j 0x258 -N 8 build/linux/vmlinuz | tr -d ' ')
	[ "$reloc" = 1 ] || pref=100000
	native=$(linux_ticks linux-native "$pref" build/bench-linux-native.iso)
	hv=$(linux_ticks linux-hv "$(nm build/hv.elf | awk '$3 == "_start32" { print $1 }')" build/bench-linux-hv.iso)
	emit "linux_native $native instructions"
	emit "linux_under_hv $hv instructions"
	emit "linux_overhead $(awk -v a="$hv" -v b="$native" 'BEGIN { printf "%.4f", a / b }') ratio"
	# Exits to the power-off and the ticks their handlers took (stats=1).
	exits=$(sed -n 's/.*VM-END name=linux .* exits=\([0-9]*\).*/\1/p' build/bench-linux-hv.log)
	handled=$(awk '$2 == "VM" && $3 == "linux:" && NF == 7 && $5 ~ /^[0-9]+$/ { t += $6 } END { print t + 0 }' \
		build/bench-linux-hv.log)
	emit "linux_exits ${exits:-0} exits"
	emit "linux_exit_handler_ticks $handled instructions"
else
	echo "bench: skipped the Linux figures: $(tail -1 build/bench-linux-fetch.log)" | tee -a "$out"
fi

# --- KVM -----------------------------------------------------------------------------
if tools/boot.sh -e kvm -t 60 build/bench-plain.iso 2>build/bench-kvm.err | tr -d '\r' >build/bench-kvm.log; then
	model=$(grep -m1 'CPU: ' build/bench-kvm.log | sed 's/.*CPU: //')
	awk -v model="$model" '$3 == "BENCH" {
		name = $4; div = 1
		if (name ~ /^cr[04]_write_pair$/) { sub(/_pair$/, "", name); div = 2 }
		if (name == "rep_outsb_64") { name = "rep_outsb"; div = 64 }
		printf "bench kvm_%s %.1f cycles (%s)\n", name, $5 / div, model
	}' build/bench-kvm.log | tee -a "$out"
elif grep -q skipped build/bench-kvm.err; then
	echo "bench: skipped the KVM figures: $(grep -o 'skipped.*' build/bench-kvm.err)" | tee -a "$out"
else
	fail "the KVM run failed (build/bench-kvm.err)"
fi
