#!/usr/bin/env bash
# tools/demo.sh: what `make run` shows. Builds build/demo.iso with the demo
# guest and boots it in the best engine this machine has (tools/boot.sh -e
# auto: KVM with nested VMX, else Bochs). Extra arguments go to boot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/mkimage.sh -o build/demo.iso \
	-m 'build/guests/long64-demo.bin name=demo mode=long64 mem=32M ept=lazy'
exec tools/boot.sh -e auto -t 300 "$@" build/demo.iso
