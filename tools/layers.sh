#!/bin/bash
# The hypervisor's layering (docs/architecture.md), checked on its include
# graph by module (x.c and x.h are one module, named by their path
# without the extension). Fails (exit 1), naming each, on
#   - an include cycle between modules anywhere (tsort finds them);
#   - an include that points up the layers: from boot/ nothing; from
#     vmx/ into boot/; inside vmx/, a folder including one its row below
#     does not list;
#   - a folder with more than 16 source files.
# make test runs it (tests/run.sh).
#   tools/layers.sh [-v]    -v: also print the edges
cd "$(dirname "$0")/.." || exit 2
edges=$(for f in boot/*.[chS] arch-x86/*.[chS] mm/*.[chS] vmx/*.[chS] drivers/*.[chS] vmx/*/*.[chS]; do
	[ -e "$f" ] || continue
	from=${f%.*}
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r inc; do
		to=${inc%.*}
		[ "$to" != "$from" ] && echo "$from $to"
	done
done | sort -u)
[ "$1" = -v ] && echo "$edges"
bad=0
# tsort names each loop it breaks: "input contains a loop:", then its
# modules one a line. One line a loop here: a -> b -> ... -> a.
loops=$(echo "$edges" | tsort 2>&1 >/dev/null | awk '
	/input contains a loop/ { if (l != "") print l " -> " first; l = ""; next }
	/^tsort: / { sub(/^tsort: /, ""); if (l == "") { l = $0; first = $0 } else l = l " -> " $0 }
	END { if (l != "") print l " -> " first }')
if [ -n "$loops" ]; then
	echo "include cycles (tsort breaks one at a time; a fix may end several):"
	echo "$loops" | sed 's/^/  /'
	bad=1
fi
up=$(echo "$edges" | awk '$1 ~ /^vmx\// && $2 ~ /^boot\//')
if [ -n "$up" ]; then
	echo "vmx/ includes boot/:"
	echo "$up" | sed 's/^/  /'
	bad=1
fi
# What each folder of vmx/ may include of vmx/ (its own files aside):
# calls point one way, hw <- core <- dev <- exit, load <- the top.
allowed() {
	case $1 in
	hw) echo "" ;;
	core) echo "hw" ;;
	dev) echo "hw core" ;;
	exit | load) echo "hw core dev" ;;
	top) echo "hw core dev exit load" ;;
	esac
}
folder() { # vmx/x/y -> x; vmx/y -> top
	local rest=${1#vmx/}
	case $rest in */*) echo "${rest%%/*}" ;; *) echo top ;; esac
}
upward=$(echo "$edges" | while read -r from to; do
	case $from in vmx/*) ;; *) continue ;; esac
	case $to in vmx/*) ;; *) continue ;; esac
	f=$(folder "$from") t=$(folder "$to")
	[ "$f" = "$t" ] && continue
	case " $(allowed "$f") " in *" $t "*) ;; *) echo "$from $to" ;; esac
done)
if [ -n "$upward" ]; then
	echo "includes against the layers (vmx/hw <- core <- dev <- exit, load <- vmx/):"
	echo "$upward" | sed 's/^/  /'
	bad=1
fi
big=$(for d in boot arch-x86 arch-x86/*/ mm drivers vmx vmx/*/ vmx/*/*/; do
	d=${d%/}
	n=$(find "$d" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' \) | wc -l)
	[ "$n" -gt 16 ] && echo "$d: $n source files"
done)
if [ -n "$big" ]; then
	echo "folders with more than 16 source files:"
	echo "$big" | sed 's/^/  /'
	bad=1
fi
[ $bad = 0 ] && echo "layers: no include cycle, no include against the layers, no folder over 16 source files"
exit $bad
