#!/usr/bin/env bash
# tests/run.sh [--unit-only] UNIT_BINARY...
#
# Runs the cmocka unit tests given, then the libFuzzer harnesses listed in
# $FUZZERS for $FUZZ_SECONDS (3) each, then (unless --unit-only) the boot
# tests of tests/boot/cases.sh, and ends with one line:
#   N passed, N failed[, N skipped]
# Logs go to build/test-logs/. Exit status: 0 when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."

unit_only=0
if [ "${1:-}" = "--unit-only" ]; then
	unit_only=1
	shift
fi

LOGS=build/test-logs
mkdir -p "$LOGS"
PASSED=0
FAILED=0
SKIPPED=0

# --- unit tests -----------------------------------------------------------
for t in "$@"; do
	name=$(basename "$t")
	log="$LOGS/unit-$name.log"
	"$t" >"$log" 2>&1
	rc=$?
	p=$(grep -o '\[  PASSED  \] [0-9]* test' "$log" | grep -o '[0-9]*' | tail -1)
	f=$(grep -o '\[  FAILED  \] [0-9]* test' "$log" | grep -o '[0-9]*' | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed (sanitizer, signal) before cmocka could count
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	if [ "$f" -ne 0 ]; then
		echo "FAIL unit $name: $p passed, $f failed (log: $log)"
		grep -E 'FAILED|LINE|ERROR|runtime error|Sanitizer' "$log" | head -20 | sed 's/^/    /'
	else
		echo "ok   unit $name: $p passed"
	fi
done

# --- layering: include cycles, upward includes, folder sizes ---------------
if out=$(tools/layers.sh 2>&1); then
	echo "ok   layers: $out"
	PASSED=$((PASSED + 1))
else
	echo "FAIL layers (tools/layers.sh):"
	echo "$out" | sed 's/^/    /'
	FAILED=$((FAILED + 1))
fi

# --- parser fuzzing: a few seconds per harness over its seeds ---------------
if [ -n "${FUZZERS:-}" ]; then
	# shellcheck disable=SC2086  # a list of paths
	while IFS= read -r line; do
		echo "$line"
		case $line in
		"ok   "*) PASSED=$((PASSED + 1)) ;;
		"FAIL "*) FAILED=$((FAILED + 1)) ;;
		esac
	done < <(tools/fuzz.sh "${FUZZ_SECONDS:-3}" $FUZZERS)
fi

# --- boot tests -----------------------------------------------------------
if [ "$unit_only" -eq 0 ]; then
	# shellcheck source=tests/boot/lib.sh
	. tests/boot/lib.sh
	# shellcheck source=tests/boot/cases.sh
	. tests/boot/cases.sh
fi

if [ "$SKIPPED" -gt 0 ]; then
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
else
	echo "$PASSED passed, $FAILED failed"
fi
[ "$FAILED" -eq 0 ]
