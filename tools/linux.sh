#!/usr/bin/env bash
# tools/linux.sh [DIR]: fetch Debian's cloud kernel and busybox-static with
# apt-get download, and build an initramfs whose init reports what Linux
# sees of the hypervisor, then acts on the kernel command line:
#   hvtest=poweroff (default)  poweroff -f
#   hvtest=reboot              reboot -f
#   hvtest=shell               a shell on the console
#   hvtest=demo                a few commands at a shell prompt, then poweroff -f
#   hvtest=bench               poweroff -f right after the marker (make bench)
# Init's first act is /bin/hvtsc (tests/guests/linux-tsc.S): the line
# "HV-LINUX-TSC n", the TSC when userspace starts.
# Results go to DIR (default build/linux): vmlinuz, initrd.gz, version.
# Cached: a second run with the same kernel version does nothing.
# Exit 77 with one line when the packages cannot be had (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/linux}
mkdir -p "$dir"

pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
fi
if [ -z "$pkg" ]; then
	echo "linux.sh: skipped: cannot find linux-image-cloud-amd64 in the package lists" >&2
	exit 77
fi
if [ -f "$dir/version" ] && [ "$(cat "$dir/version")" = "$pkg" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.gz" ] &&
	[ "$dir/initrd.gz" -nt "$0" ] && [ "$dir/initrd.gz" -nt tests/guests/linux-tsc.S ]; then
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; _apt must be able to.
chmod 777 "$work"
if ! (cd "$work" && apt-get download -qq "$pkg" busybox-static >/dev/null 2>&1); then
	echo "linux.sh: skipped: apt-get download $pkg busybox-static failed" >&2
	exit 77
fi
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
cp "$work"/k/boot/vmlinuz-* "$dir/vmlinuz"

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
cp "$work/bb/bin/busybox" "$root/bin/busybox"
gcc -nostdlib -static -no-pie -Wa,--noexecstack -o "$root/bin/hvtsc" tests/guests/linux-tsc.S
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/hvtsc
# The kernel hands unknown name=value words of its command line to init
# as environment variables: no /proc needed yet.
[ "$hvtest" = bench ] && /bin/busybox poweroff -f
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "HV-LINUX: userspace reached, kernel $(uname -r)"
flags=$(grep -m1 '^flags' /proc/cpuinfo)
case " $flags " in *" hypervisor "*) h=yes ;; *) h=no ;; esac
case " $flags " in *" vmx "*) v=yes ;; *) v=no ;; esac
echo "HV-LINUX: cpuinfo flag hypervisor=$h vmx=$v"
echo "HV-LINUX: cpus online $(cat /sys/devices/system/cpu/online)"
case " $(cat /proc/cmdline) " in
*" hvtest=reboot "*) echo "HV-LINUX: reboot -f"; reboot -f ;;
*" hvtest=shell "*) echo "HV-LINUX: a shell on the console; 'poweroff -f' ends it"; exec setsid cttyhack sh ;;
*" hvtest=demo "*)
	for c in "uname -a" "grep -c ^processor /proc/cpuinfo" "cat /proc/cmdline" \
		"grep -o -w -e hypervisor -e vmx /proc/cpuinfo | sort -u" "free -m" "poweroff -f"; do
		echo "~ # $c"
		sh -c "$c"
	done ;;
*) echo "HV-LINUX: poweroff -f"; poweroff -f ;;
esac
sleep 1000
INIT
chmod +x "$root/init"
(cd "$root" && find . | "$work/bb/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9 >"$dir/initrd.gz"
echo "$pkg" >"$dir/version"
echo "linux.sh: $pkg and busybox-static ready in $dir" >&2
