#!/usr/bin/env bash
# tools/profile.sh: an instruction-level profile of the exit path (make
# profile). Boots the profile guest (tests/guests/long64-profile.S) in
# Bochs with its magic breakpoints on, has the Bochs debugger trace every
# instruction between two breakpoints, and turns each stretch (one exiting
# operation's round trip) into instructions per hypervisor function.
# Writes the trace to build/profile-trace.txt and prints, per operation:
#   profile OP hypervisor=N guest=M
#   profile OP   FUNCTION N
set -euo pipefail
cd "$(dirname "$0")/.."
elf=build/hv.elf
iso=build/profile.iso
trace=$PWD/build/profile-trace.txt
ops=(cpuid vmcall out_port80 in_uart_lsr rdmsr_efer wrmsr_efer cr4_write ept_lazy_fill)

tools/mkimage.sh -o "$iso" -k "$elf" \
	-m 'build/guests/long64-profile.bin name=profile mode=long64 mem=16M ept=lazy' >/dev/null
rc=$(mktemp)
trap 'rm -f "$rc"' EXIT
# The first breakpoint turns tracing on; one "continue" per operation;
# the last breakpoint turns it off and the guest runs to its end.
{ echo c; echo "trace on"; for _ in "${ops[@]}"; do echo c; done; echo "trace off"; echo c; } >"$rc"
rm -f "$trace"
BOCHS_RC=$rc BOCHS_DBGLOG=$trace tools/boot.sh -e bochs -t 300 "$iso" >/dev/null 2>build/profile-boot.err || {
	echo "profile.sh: the profile guest did not run to its end (build/profile-boot.err)" >&2
	exit 1
}

# Trace lines: "(0).[TICKS] [0xPHYS] SEL:LINEAR (unk. ctxt): insn ; bytes".
# The hypervisor's code is identity-mapped (PHYS == LINEAR); the guest's
# is not, so that tells the two apart.
nm -n "$elf" | awk '$2 ~ /^[Tt]$/ { print $1, $3 }' >"$trace.syms"
awk -v names="${ops[*]}" -v syms="$trace.syms" '
	BEGIN {
		nops = split(names, op, " ")
		while ((getline line < syms) > 0) { split(line, f, " "); n++; addr[n] = f[1]; sym[n] = f[2] }
	}
	# A: 16 lower-case hex digits, as nm prints them, so that string
	# order is address order (mawk has no strtonum).
	function func_of(a,   lo, hi, mid) {
		lo = 1; hi = n
		if (a < addr[1]) return "?"
		while (lo < hi) { mid = int((lo + hi + 1) / 2); if (addr[mid] <= a) lo = mid; else hi = mid - 1 }
		return sym[lo]
	}
	function flush(   f) {
		if (seg < 1 || seg > nops) return
		printf "profile %s hypervisor=%d guest=%d\n", op[seg], host, guest
		for (f in count) printf "profile %s   %-28s %d\n", op[seg], f, count[f] | "sort -k4,4nr -s"
		close("sort -k4,4nr -s")
	}
	/Magic breakpoint/ { flush(); seg++; host = 0; guest = 0; delete count; next }
	/^\(0\)\.\[/ {
		phys = $2; lin = $3
		gsub(/[\[\]]|0x/, "", phys); sub(/^[0-9a-f]+:/, "", lin)
		while (length(phys) < 16) phys = "0" phys
		if (phys == lin) { host++; count[func_of(phys)]++ }
		else guest++
	}' "$trace" | tee build/profile.txt
