# Boot-test helpers, sourced by tests/run.sh (which owns the counters).
#
#   boot NAME ENGINE SECONDS [mkimage.sh options...]
#       make build/tests/NAME.iso and boot it with tools/boot.sh; the serial
#       log is build/test-logs/NAME.log and $BOOT_RC the exit status
#       (0 powered off, 124 time limit, 77 engine not available here)
#   expect DESCRIPTION REGEX       the log has a line matching REGEX
#   expect_none DESCRIPTION REGEX  no line matches REGEX
#   expect_rc DESCRIPTION RC       boot.sh ended with RC
#
# Assertions after a boot whose engine is not available count as skipped.

BOOT_NAME=
BOOT_LOG=
BOOT_RC=

# boot NAME ENGINE[:CPUS] SECONDS MKIMAGE-ARGS...
boot() {
	BOOT_NAME=$1
	local engine=${2%%:*} secs=$3 cpus=1
	[ "$2" = "$engine" ] || cpus=${2#*:}
	shift 3
	local iso=build/tests/$BOOT_NAME.iso
	BOOT_LOG=$LOGS/$BOOT_NAME.log
	mkdir -p build/tests
	if ! tools/mkimage.sh -o "$iso" "$@" >"$LOGS/$BOOT_NAME.mkimage.log" 2>&1; then
		echo "FAIL boot $BOOT_NAME: tools/mkimage.sh failed (log: $LOGS/$BOOT_NAME.mkimage.log)"
		BOOT_RC=255
		: >"$BOOT_LOG"
		return
	fi
	local start=$SECONDS
	# The UART sends CRLF; assertions match on plain lines.
	tools/boot.sh -e "$engine" -c "$cpus" -t "$secs" "$iso" 2>"$LOGS/$BOOT_NAME.boot.err" | tr -d '\r' >"$BOOT_LOG"
	BOOT_RC=${PIPESTATUS[0]}
	if [ "$BOOT_RC" -eq 77 ]; then
		echo "skip boot $BOOT_NAME: $(head -1 "$LOGS/$BOOT_NAME.boot.err")"
	else
		echo "     boot $BOOT_NAME ($engine): exit $BOOT_RC after $((SECONDS - start)) s"
	fi
}

_result() { # OK DESCRIPTION DETAIL
	if [ "$BOOT_RC" = 77 ]; then
		SKIPPED=$((SKIPPED + 1))
		echo "skip $BOOT_NAME: $2"
	elif [ "$1" = 1 ]; then
		PASSED=$((PASSED + 1))
		echo "ok   $BOOT_NAME: $2"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $BOOT_NAME: $2 ($3; log: $BOOT_LOG)"
	fi
}

# skip DESCRIPTION REASON: a test that cannot run here, said plainly.
skip() {
	SKIPPED=$((SKIPPED + 1))
	echo "skip $1: $2"
}

expect() {
	if grep -qE -- "$2" "$BOOT_LOG"; then _result 1 "$1"; else _result 0 "$1" "no line matches /$2/"; fi
}

# Every line matching $2 comes before the first line matching $3.
expect_before() {
	local last first
	last=$(grep -nE -- "$2" "$BOOT_LOG" | tail -1 | cut -d: -f1)
	first=$(grep -nE -- "$3" "$BOOT_LOG" | head -1 | cut -d: -f1)
	if [ -n "$last" ] && [ -n "$first" ] && [ "$last" -lt "$first" ]; then
		_result 1 "$1"
	else
		_result 0 "$1" "last /$2/ at line ${last:-none}, first /$3/ at line ${first:-none}"
	fi
}

# The log's first line matches.
expect_first() {
	if head -1 "$BOOT_LOG" | grep -qE -- "$2"; then
		_result 1 "$1"
	else
		_result 0 "$1" "first line: $(head -1 "$BOOT_LOG")"
	fi
}

expect_none() {
	if grep -qE -- "$2" "$BOOT_LOG"; then
		_result 0 "$1" "unexpected: $(grep -E -m1 -- "$2" "$BOOT_LOG")"
	else
		_result 1 "$1"
	fi
}

expect_rc() {
	if [ "$BOOT_RC" = "$2" ]; then _result 1 "$1"; else _result 0 "$1" "boot.sh exit $BOOT_RC, wanted $2"; fi
}
