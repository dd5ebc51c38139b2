#!/bin/bash
# The hypervisor's include graph, by module: x.c and x.h are one module,
# named by their path without the extension. Prints every include cycle
# (tsort finds them) and every include from vmx/ into boot/, and exits 1
# if there is any (issue 13 is to make it exit 0; make test runs it then).
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
[ $bad = 0 ] && echo "layers: no include cycle, nothing in vmx/ includes boot/"
exit $bad
