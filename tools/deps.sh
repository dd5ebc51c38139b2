#!/usr/bin/env bash
# tools/deps.sh build|run|test|fuzz: install the Debian packages that step needs,
# if any are missing. As root it runs apt-get itself; otherwise it prints
# the command to run and fails.
set -euo pipefail

build=(gcc binutils make grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools)
run=("${build[@]}" bochs bochs-term bochsbios vgabios qemu-system-x86)
fuzz=(clang libclang-rt-14-dev)
test=("${run[@]}" ovmf libcmocka-dev "${fuzz[@]}")

case "${1:-build}" in
build) want=("${build[@]}") ;;
run) want=("${run[@]}") ;;
test) want=("${test[@]}") ;;
fuzz) want=("${fuzz[@]}") ;;
*) echo "usage: tools/deps.sh build|run|test|fuzz" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root: run 'apt-get install ${missing[*]}' as root, then try again" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
