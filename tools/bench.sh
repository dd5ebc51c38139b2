#!/usr/bin/env bash
# tools/bench.sh: the exit-path benchmark (make bench). Boots the benchmark
# guest (tests/guests/long64-bench.S) under the hypervisor in Bochs, where
# RDTSC counts retired instructions, once with the normal build (the
# instruction figures) and once with the counting build (VMREAD and VMWRITE
# per round trip). Prints "bench NAME VALUE UNIT" lines and writes them to
# build/bench.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench.txt
guest='build/guests/long64-bench.bin name=bench mode=long64 mem=16M ept=lazy'

run() { # KERNEL LOG
	tools/mkimage.sh -o "build/bench-$2.iso" -k "$1" -m "$guest" >/dev/null
	tools/boot.sh -e bochs -t 300 "build/bench-$2.iso" 2>/dev/null | tr -d '\r' >"build/bench-$2.log"
}
run build/hv.elf plain
run build/hv-count.elf count

# "[cpu0] bench| BENCH name ticks reads writes"
awk -v count=build/bench-count.log '
	function unit_of(name) { return name ~ /outsb/ ? "instructions/byte" : name ~ /ept/ ? "instructions/page" : "instructions" }
	BEGIN {
		while ((getline line < count) > 0)
			if (split(line, f, " ") >= 6 && f[3] == "BENCH") { reads[f[4]] = f[6]; writes[f[4]] = f[7] }
	}
	$3 == "BENCH" {
		name = $4; ticks = $5; r = reads[name]; w = writes[name]; div = 1
		if (name == "cr0_write_pair") { name = "cr0_write"; div = 2 }
		if (name == "rep_outsb_64") { printf "bench %s %.2f %s\n", "rep_outsb", ticks / 64, "instructions/byte"
			printf "bench %s_vmread %d per-64-byte-call\n", "rep_outsb", r; printf "bench %s_vmwrite %d per-64-byte-call\n", "rep_outsb", w; next }
		printf "bench %s %d %s\n", name, ticks / div, unit_of(name)
		printf "bench %s_vmread %d per-exit\n", name, r / div
		printf "bench %s_vmwrite %d per-exit\n", name, w / div
	}' build/bench-plain.log | tee "$out"
if [ ! -s "$out" ]; then
	echo "bench.sh: the benchmark guest printed no figures (logs: build/bench-plain.log, build/bench-count.log)" >&2
	exit 1
fi
if tools/boot.sh -e kvm -t 1 build/bench-plain.iso >/dev/null 2>build/bench-kvm.err; then :; fi
if grep -q skipped build/bench-kvm.err; then
	echo "bench: skipped the KVM figures: $(grep -o 'skipped.*' build/bench-kvm.err)" | tee -a "$out"
fi
