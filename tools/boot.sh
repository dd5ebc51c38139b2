#!/usr/bin/env bash
# boot.sh - boot an ISO headless and stream the guest's COM1 to stdout.
#
# Every engine writes COM1 to a file in a private temp dir; `tail -f --pid`
# copies it to stdout as it arrives and, once the emulator is gone, does a
# last read, so nothing written before power-off or timeout is lost.
set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [-e auto|bochs|kvm|tcg|uefi] [-t SECONDS] [-c CPUS] [-M MiB] IMAGE.iso

Boot IMAGE.iso headless; the guest's serial port COM1 is streamed to stdout
as it arrives. Diagnostics go to stderr.

  -e ENGINE   auto  kvm if /dev/kvm is usable with nested VMX, else bochs (default)
              bochs Bochs 2.7, CPU corei7_skylake_x (VMX, EPT, unrestricted guest), BIOS
              kvm   QEMU -enable-kvm -cpu host,+vmx, BIOS (SeaBIOS)
              tcg   QEMU software emulation, -cpu qemu64 (no VMX), BIOS (SeaBIOS)
              uefi  like tcg, with OVMF firmware (UEFI boot)
  -t SECONDS  kill the emulator and exit 124 after SECONDS (default 60)
  -c CPUS     number of CPUs (default 1)
  -M MiB      guest memory in MiB (default 512)
  -h          show this help

Power-off is recognised as:
  bochs      "Shutdown" written to port 0x8900, or ACPI S5 (PM1a_CNT SLP_EN,
             SLP_TYP=0); a triple fault ends the run as an error (no reset).
  QEMU       QEMU exiting by itself (ACPI S5, a write to isa-debug-exit at
             port 0xf4, a guest reset with -no-reboot), except a triple fault
             seen by TCG (tcg, uefi), which is an error (under kvm it is not
             detectable and counts as power-off).

Environment: BOCHS_IPS  Bochs instructions per emulated second (default
50000000). RDTSC in Bochs counts instructions, so the guest's TSC runs at
this frequency.
             BOCHS_RC, BOCHS_DBGLOG  (tools/profile.sh) Bochs debugger
             commands to run, with the guest's XCHG BX,BX breakpoints on,
             and the file the debugger's output goes to.

Exit status:
  0    the machine powered off
  1    the emulator stopped otherwise (Bochs panic, triple fault, QEMU error
       or crash); the reason is printed on stderr
  2    bad arguments, or a missing emulator/firmware (names the package)
  77   -e kvm: KVM with nested VMX is not available ("skipped: ..." on stderr)
  124  timeout: SECONDS elapsed, emulator killed
  130  interrupted (SIGINT/SIGTERM/SIGHUP); emulator killed
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

# wait -n -p needs bash 5.1 (Debian 12 has 5.2).
((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) || die "needs bash >= 5.1"

engine=auto secs=60 cpus=1 mib=512
while getopts ":e:t:c:M:h" opt; do
    case $opt in
        e) engine=$OPTARG ;;
        t) secs=$OPTARG ;;
        c) cpus=$OPTARG ;;
        M) mib=$OPTARG ;;
        h) usage; exit 0 ;;
        :) die "option -$OPTARG needs an argument (try -h)" ;;
        *) die "unknown option -$OPTARG (try -h)" ;;
    esac
done
shift $((OPTIND - 1))

case $engine in auto|bochs|kvm|tcg|uefi) ;; *) die "unknown engine '$engine' (auto, bochs, kvm, tcg or uefi)" ;; esac
# int_in VALUE MIN MAX: VALUE is a decimal integer in [MIN, MAX].
int_in() { [[ $1 =~ ^[0-9]{1,9}$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
int_in "$secs" 1 999999999 || die "-t: expected a whole number of seconds >= 1, got '$secs'"
int_in "$cpus" 1 64        || die "-c: expected a CPU count 1..64, got '$cpus'"
int_in "$mib" 16 999999999 || die "-M: expected memory in MiB >= 16, got '$mib'"
secs=$((10#$secs)) cpus=$((10#$cpus)) mib=$((10#$mib))
[[ $# -eq 1 ]] || die "expected exactly one IMAGE.iso argument (try -h)"
iso=$1
[[ -f $iso && -r $iso ]] || die "image not found or not readable: $iso"
iso=$(realpath -- "$iso")

bochs_ips=${BOCHS_IPS:-50000000}
[[ $bochs_ips =~ ^[1-9][0-9]*$ ]] || die "BOCHS_IPS: expected a positive integer, got '$bochs_ips'"

# Sets kvm_reason and fails unless KVM with nested VMX can be used.
kvm_usable() {
    local nested
    if [[ ! -e /dev/kvm ]]; then
        kvm_reason="no /dev/kvm"; return 1
    fi
    if ! (: <>/dev/kvm) 2>/dev/null; then
        kvm_reason="no access to /dev/kvm"; return 1
    fi
    nested=$(cat /sys/module/kvm_intel/parameters/nested 2>/dev/null || true)
    if [[ $nested != Y && $nested != 1 ]]; then
        kvm_reason="nested VMX disabled"; return 1
    fi
}

kvm_reason=""
case $engine in
    kvm)
        if ! kvm_usable; then
            echo "$prog: skipped: $kvm_reason" >&2
            exit 77
        fi ;;
    auto)
        if kvm_usable; then engine=kvm; else engine=bochs; fi
        echo "$prog: engine: $engine${kvm_reason:+ (kvm: $kvm_reason)}" >&2 ;;
esac

need() { # need BINARY PACKAGE
    command -v "$1" >/dev/null || die "$1 not found: install the Debian package $2 (apt-get install $2)"
}
need_file() { # need_file PATH PACKAGE
    [[ -r $1 ]] || die "$1 not found: install the Debian package $2 (apt-get install $2)"
}

bochs_bios=/usr/share/bochs/BIOS-bochs-latest
vga_bios=/usr/share/vgabios/vgabios.bin
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd

case $engine in
    bochs)
        need bochs bochs
        need_file "$bochs_bios" bochsbios
        need_file "$vga_bios" vgabios ;;
    kvm|tcg|uefi)
        need qemu-system-x86_64 qemu-system-x86
        if [[ $engine == uefi ]]; then
            need_file "$ovmf_code" ovmf
            need_file "$ovmf_vars" ovmf
        fi ;;
esac

# --- run ---------------------------------------------------------------------

tmp=$(mktemp -d /tmp/boot.XXXXXX)
emu_pid="" tail_pid="" sleep_pid=""

# shellcheck disable=SC2317  # cleanup and on_signal run from traps
cleanup() {
    # Never leave an emulator behind: SIGKILL (Bochs may ignore SIGTERM).
    if [[ -n $emu_pid ]]; then
        kill -KILL "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
    fi
    local p
    for p in $sleep_pid $tail_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf -- "$tmp"
}
trap cleanup EXIT
# shellcheck disable=SC2317
on_signal() {
    echo "$prog: interrupted, emulator killed" >&2
    exit 130   # runs cleanup via the EXIT trap
}
trap on_signal INT TERM HUP

serial=$tmp/serial.log
emu_out=$tmp/emulator.out
: >"$serial"
# A symlink with a plain name: Bochs and QEMU option syntax treat ',' (and for
# Bochs blanks) in paths specially.
ln -s -- "$iso" "$tmp/image.iso"

case $engine in
    bochs)
        if [[ -n ${BOCHS_RC:-} ]]; then
            # tools/profile.sh: stop at the guest's XCHG BX,BX breakpoints
            # and run these debugger commands (trace on/off, continue).
            cp -- "$BOCHS_RC" "$tmp/bochs.rc"
            magic="magic_break: enabled=1"
        else
            echo c >"$tmp/bochs.rc"   # the debugger build waits at a prompt: continue
            magic=""
        fi
        cat >"$tmp/bochsrc" <<EOF
# fastboot: skip the BIOS's 'Press F12 for boot menu' wait.
romimage: file=$bochs_bios, options=fastboot
vgaromimage: file=$vga_bios
# corei7_skylake_x: VMX with EPT, VPID and unrestricted guest. Triple fault
# ends the run (PANIC) instead of silently rebooting into GRUB again.
cpu: model=corei7_skylake_x, count=$cpus, ips=$bochs_ips, reset_on_triple_fault=0, ignore_bad_msrs=1
# Bochs caps host= at 2048; a larger guest is backed on demand.
memory: guest=$mib, host=$((mib < 2048 ? mib : 2048))
# i440FX brings the ACPI PM device: ACPI S5 power-off ends Bochs.
pci: enabled=1, chipset=i440fx
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$tmp/image.iso, status=inserted
boot: cdrom
# Needs the bochs-term package; its screen output goes to $emu_out.
display_library: term
com1: enabled=1, mode=file, dev=$serial
clock: sync=none, time0=local
# The default ALSA sound output aborts Bochs on hosts without a sound card.
speaker: enabled=0
sound: driver=dummy
mouse: enabled=0
log: $tmp/bochs.log
$magic
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
EOF
        # TERM: the term display (ncurses) refuses to start without one.
        (cd "$tmp" && exec env TERM=dumb bochs -q -f "$tmp/bochsrc" -rc "$tmp/bochs.rc" ${BOCHS_DBGLOG:+-dbglog "$BOCHS_DBGLOG"}) \
            </dev/null >"$emu_out" 2>&1 &
        ;;
    kvm|tcg|uefi)
        # -no-reboot: a reset (triple fault too) ends QEMU. -d cpu_reset logs
        # 'Triple fault' (TCG only) so that it can be told from a power-off.
        # shellcheck disable=SC2054  # the commas are QEMU's
        qemu=(qemu-system-x86_64 -machine pc -m "${mib}M" -smp "$cpus"
              -display none -monitor none -serial "file:$serial" -no-reboot
              -nic none -device isa-debug-exit,iobase=0xf4,iosize=4
              -d cpu_reset -D "$tmp/qemu-debug.log")
        case $engine in
            kvm)  qemu+=(-accel kvm -cpu "host,+vmx") ;;
            tcg)  qemu+=(-accel tcg -cpu qemu64) ;;
            uefi) cp -- "$ovmf_vars" "$tmp/OVMF_VARS.fd"
                  qemu+=(-accel tcg -cpu qemu64
                         -drive "if=pflash,format=raw,readonly=on,file=$ovmf_code"
                         -drive "if=pflash,format=raw,file=$tmp/OVMF_VARS.fd") ;;
        esac
        qemu+=(-cdrom "$tmp/image.iso" -boot order=d)
        "${qemu[@]}" </dev/null >"$emu_out" 2>&1 &
        ;;
esac
emu_pid=$!
start=$EPOCHREALTIME

tail -n +1 -s 0.1 -f --pid="$emu_pid" -- "$serial" &
tail_pid=$!

# Wait for the emulator or the deadline, whichever comes first.
sleep "$secs" &
sleep_pid=$!
status=0
wait -n -p done_pid "$emu_pid" "$sleep_pid" || status=$?
if [[ ${done_pid:-} == "$emu_pid" ]]; then
    timed_out=0
    kill "$sleep_pid" 2>/dev/null || true
else
    timed_out=1
    kill -KILL "$emu_pid" 2>/dev/null || true
    status=0
    wait "$emu_pid" 2>/dev/null || status=$?
fi
wait "$sleep_pid" 2>/dev/null || true
sleep_pid="" emu_pid=""
# EPOCHREALTIME is seconds.microseconds (the separator follows the locale).
now=$EPOCHREALTIME
tenths=$(( (10#${now//[.,]/} - 10#${start//[.,]/}) / 100000 ))
elapsed=$((tenths / 10)).$((tenths % 10))

# tail notices the emulator is gone, prints what is left, and exits.
wait "$tail_pid" || true
tail_pid=""

if ((timed_out)); then
    echo "$prog: timeout after ${secs}s: emulator killed" >&2
    exit 124
fi

case $engine in
    bochs)
        log=$tmp/bochs.log
        if grep -q "display library 'term' not available" "$emu_out"; then
            die "Bochs has no 'term' display: install the Debian package bochs-term (apt-get install bochs-term)"
        elif grep -q 'shutdown requested' "$log" 2>/dev/null; then
            echo "$prog: bochs: powered off (port 0x8900) after ${elapsed}s" >&2
        elif grep -q 'ACPI control: soft power off' "$log" 2>/dev/null; then
            echo "$prog: bochs: powered off (ACPI S5) after ${elapsed}s" >&2
        else
            echo "$prog: bochs stopped without power-off (exit status $status) after ${elapsed}s:" >&2
            # The fatal message(s), else the end of Bochs' own output.
            # (config errors come before the log file is opened: in $emu_out).
            { grep -h '>>PANIC<<' "$log" "$emu_out" 2>/dev/null || tail -n 5 "$emu_out"; } |
                tail -n 5 | sed 's/^/  /' >&2
            exit 1
        fi ;;
    *)
        # QEMU prints errors/warnings on stderr; pass them on.
        [[ ! -s $emu_out ]] || sed 's/^/  qemu: /' "$emu_out" >&2
        # QEMU's own status cannot tell a power-off from a failure (debug-exit
        # gives (v<<1)|1, i.e. any odd value; errors give 1, aborts 134): a
        # non-zero status is a failure when QEMU also printed something other
        # than warnings.
        if [[ $status -ne 0 ]] && grep -qv 'warning:' "$emu_out"; then
            echo "$prog: $engine: QEMU failed (exit status $status) after ${elapsed}s" >&2
            exit 1
        fi
        if grep -q '^Triple fault' "$tmp/qemu-debug.log" 2>/dev/null; then
            echo "$prog: $engine: guest triple fault after ${elapsed}s" >&2
            exit 1
        fi
        echo "$prog: $engine: powered off (QEMU exit status $status) after ${elapsed}s" >&2 ;;
esac
exit 0
