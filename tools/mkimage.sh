#!/usr/bin/env bash
# mkimage.sh - build a BIOS+UEFI bootable GRUB ISO for the hypervisor kernel.
#
# The ISO holds the kernel as /boot/hv.elf, the modules as /boot/mods/N-NAME
# and a grub.cfg with a single menu entry (timeout=0):
#     multiboot2 /boot/hv.elf OPTIONS
#     module2 /boot/mods/1-NAME ARGS     (one line per -m, in order)
set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog -o OUT.iso [-k KERNEL.elf] [-c 'HYPERVISOR OPTIONS'] [-m 'FILE ARGS']...
       $prog -o OUT.iso -l 'BZIMAGE ARGS' [-m INITRD]...

Build a bootable BIOS (i386-pc) + UEFI (x86_64-efi) ISO with grub-mkrescue.

  -o OUT.iso     output image (required)
  -k KERNEL.elf  multiboot2 kernel (default: <repo>/build/hv.elf)
  -c OPTIONS     kernel command line: multiboot2 /boot/hv.elf OPTIONS
  -m 'FILE ARGS' add FILE as a module: module2 /boot/mods/N-NAME ARGS, where
                 N counts the -m options from 1 and NAME is FILE's basename
                 (characters other than A-Z a-z 0-9 . _ + - become _).
                 ARGS is the rest of the string after the first word (may be
                 empty). Repeatable; modules are loaded in the given order.
  -l 'BZIMAGE ARGS'
                 boot this Linux kernel natively, with no hypervisor (make
                 bench's baseline): linux /boot/vmlinuz ARGS, and each -m
                 FILE (no ARGS) becomes an initrd.
  -h             show this help

Quoting: OPTIONS and ARGS are split into words at blanks and each word is
single-quoted in grub.cfg, so '=', ',', ';', '\$', '#', '{', '|' etc. reach
the kernel unchanged. GRUB joins the words with single spaces, so runs of
blanks and leading/trailing blanks are not preserved. Not allowed (GRUB would
add a backslash before them on the way to the kernel): single quote ('),
double quote ("), backslash (\\), and control characters such as newline.
FILE may not contain blanks (the first word of -m is the file).

GRUB takes input from COM1 (115200 8N1) and the keyboard; on success it
writes nothing to COM1 (BIOS; under OVMF the firmware console is COM1), so
the serial log starts with the kernel's own output. If GRUB cannot load or
boot the kernel it repeats the load on COM1 (showing the errors), prints
"mkimage: GRUB failed to boot /boot/hv.elf" and powers the machine off
(GRUB 'halt') instead of waiting at a prompt.

Exit status: 0 success, 2 usage error / missing input / missing tool,
1 grub-mkrescue failure (its log is shown on stderr).
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

# Print WORDS (already split) as single-quoted GRUB words separated by spaces.
# $1 is a description used in error messages.
grub_words() {
    local what=$1 w out=""
    shift
    for w in "$@"; do
        case $w in
            *[\'\"\\]*) die "$what: word '$w' contains a quote or backslash (not passable through GRUB)" ;;
            *[[:cntrl:]]*) die "$what: word contains a control character" ;;
        esac
        out+=" '$w'"
    done
    printf '%s' "$out"
}

out="" kernel="" cmdline="" linux=""
mods=()

while getopts ":o:k:c:m:l:h" opt; do
    case $opt in
        o) out=$OPTARG ;;
        l) linux=$OPTARG ;;
        k) kernel=$OPTARG ;;
        c) cmdline=$OPTARG ;;
        m) mods+=("$OPTARG") ;;
        h) usage; exit 0 ;;
        :) die "option -$OPTARG needs an argument (try -h)" ;;
        *) die "unknown option -$OPTARG (try -h)" ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -eq 0 ]] || die "unexpected argument '$1' (try -h)"

[[ -n $out ]] || die "missing -o OUT.iso (try -h)"
[[ ! -d $out ]] || die "-o: $out is a directory"
outdir=$(dirname -- "$out")
[[ -d $outdir ]] || die "output directory does not exist: $outdir"

kernel_given=$kernel
if [[ -z $kernel ]]; then
    repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
    kernel=$repo/build/hv.elf
fi
[[ -f $kernel ]] || die "kernel not found: $kernel"

command -v grub-mkrescue >/dev/null || die "grub-mkrescue not found (apt-get install grub-common)"
command -v xorriso >/dev/null       || die "xorriso not found (apt-get install xorriso)"
command -v mformat >/dev/null       || die "mformat not found (apt-get install mtools)"
# grub-mkrescue silently builds a BIOS-only or UEFI-only ISO when one of the
# platform directories is missing: insist on both.
[[ -d /usr/lib/grub/i386-pc ]]    || die "/usr/lib/grub/i386-pc missing (apt-get install grub-pc-bin)"
[[ -d /usr/lib/grub/x86_64-efi ]] || die "/usr/lib/grub/x86_64-efi missing (apt-get install grub-efi-amd64-bin)"

# Words of the kernel command line (read -a splits at blanks, no globbing).
[[ $cmdline != *$'\n'* ]] || die "-c: newline not allowed"
read -r -a cmd_words <<<"$cmdline" || true
kernel_line="multiboot2 /boot/hv.elf$(grub_words "-c" "${cmd_words[@]+"${cmd_words[@]}"}")"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
root=$tmp/iso
mkdir -p "$root/boot/grub" "$root/boot/mods"
cp -- "$kernel" "$root/boot/hv.elf"

if [[ -n $linux ]]; then
    [[ -z $cmdline && -z $kernel_given ]] || die "-l: no hypervisor, so no -k or -c"
    [[ $linux != *$'\n'* ]] || die "-l: newline not allowed"
    read -r -a lwords <<<"$linux" || true
    [[ -f ${lwords[0]} ]] || die "-l: kernel not found: ${lwords[0]}"
    cp -- "${lwords[0]}" "$root/boot/vmlinuz"
    kernel_line="linux /boot/vmlinuz$(grub_words "-l" "${lwords[@]:1}")"
fi

module_lines=""
initrds=""
n=0
for m in "${mods[@]+"${mods[@]}"}"; do
    n=$((n + 1))
    [[ $m != *$'\n'* ]] || die "-m: newline not allowed"
    read -r -a words <<<"$m" || true
    [[ ${#words[@]} -gt 0 ]] || die "-m: empty module specification"
    file=${words[0]}
    [[ -f $file ]] || die "module file not found: $file"
    base=$(basename -- "$file")
    name=$n-${base//[^A-Za-z0-9._+-]/_}
    cp -- "$file" "$root/boot/mods/$name"
    if [[ -n $linux ]]; then
        [[ ${#words[@]} -eq 1 ]] || die "-m $file: an initrd takes no ARGS"
        initrds+=" /boot/mods/$name"
    else
        module_lines+="    module2 /boot/mods/$name$(grub_words "-m $file" "${words[@]:1}")"$'\n'
    fi
done
[[ -z $initrds ]] || module_lines="    initrd$initrds"$'\n'
booted=${linux:+/boot/vmlinuz}
booted=${booted:-/boot/hv.elf}

# Notes on grub.cfg:
# - GRUB reads the serial port and the keyboard, but writes only to the
#   screen while all goes well: on COM1 the kernel's first byte is then the
#   first byte of the log (no "Booting `hv'", no clear-screen escapes, no
#   stray CR before the kernel's first line).
# - If loading or booting fails, GRUB switches its output to COM1 as well,
#   runs the load commands again so that their errors show there, prints a
#   marker and powers off (ACPI S5 on BIOS, EFI ResetSystem on UEFI) instead
#   of waiting for a key press.
# - timeout=0 boots at once without drawing the menu. No timeout_style=hidden:
#   with it Debian's GRUB 2.06 spends 5-12 s more before booting under Bochs
#   (measured).
# - On UEFI, all_video lets GRUB set a GOP mode for multiboot2 (the kernel gets
#   a framebuffer tag) instead of printing 'error: no suitable video mode
#   found'. Under OVMF the firmware console is COM1 too, so GRUB's screen
#   output appears there anyway.
cat >"$root/boot/grub/grub.cfg" <<EOF
# Generated by tools/mkimage.sh
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input serial console
terminal_output console
set timeout=0
set default=0
if [ "\$grub_platform" = efi ]; then insmod all_video; fi

menuentry 'hv' {
    $kernel_line
$module_lines    boot
    terminal_output serial console
    $kernel_line
$module_lines    echo 'mkimage: GRUB failed to boot $booted'
    halt
}
EOF

# grub-mkrescue is chatty (xorriso banner and progress on stderr): keep it in
# a log and show the log only on failure. No fonts/locales/themes: smaller
# ISO, we use a serial/text console anyway.
if ! grub-mkrescue --fonts= --locales= --themes= -o "$tmp/out.iso" "$root" >"$tmp/mkrescue.log" 2>&1; then
    cat "$tmp/mkrescue.log" >&2
    echo "$prog: grub-mkrescue failed" >&2
    exit 1
fi
mv -f -- "$tmp/out.iso" "$out"
