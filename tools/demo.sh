#!/usr/bin/env bash
# tools/demo.sh: what `make run` shows. Builds build/demo.iso with the demo
# guest and, when Debian's kernel can be fetched (tools/linux.sh), Debian's
# Linux as the machine's own OS after it; boots it in the best engine this
# machine has (tools/boot.sh -e auto: KVM with nested VMX, else Bochs).
# Extra arguments go to boot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

mods=(-m 'build/guests/long64-demo.bin name=demo mode=long64 mem=32M ept=lazy')
if tools/linux.sh; then
	mods+=(-m 'build/linux/vmlinuz name=linux passthrough -- console=ttyS0,115200 quiet hvtest=demo'
		-m 'build/linux/initrd.gz initrd')
else
	echo "demo.sh: without Debian's kernel, only the demo guest runs" >&2
fi
tools/mkimage.sh -o build/demo.iso "${mods[@]}"
exec tools/boot.sh -e auto -t 600 "$@" build/demo.iso
