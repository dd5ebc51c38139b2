#!/usr/bin/env bash
# tools/fuzz.sh SECONDS FUZZER...: run each libFuzzer harness (tests/fuzz)
# for SECONDS over its committed seeds (tests/fuzz/corpus/NAME, read only)
# and its own growing corpus (build/fuzz/corpus/NAME). Prints one line per
# harness, "ok   fuzz NAME: N executions in S s, C inputs in the corpus" or
# "FAIL fuzz NAME: ..." with the crash; exit status 1 if any failed. A
# crashing input is kept as build/fuzz/crash-NAME-*: rerun it with
# build/fuzz/fuzz_NAME FILE.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=$1
shift
failed=0
for f in "$@"; do
	name=${f##*/fuzz_}
	seeds=tests/fuzz/corpus/$name
	corpus=build/fuzz/corpus/$name
	log=build/fuzz/$name-${secs}s.log
	mkdir -p "$corpus" "$seeds"
	"$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$name-" \
		"$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "ok   fuzz $name: $execs executions in $secs s, $(find "$corpus" -type f | wc -l) inputs in the corpus"
	else
		failed=1
		echo "FAIL fuzz $name: exit $rc (log: $log)"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5 | sed 's/^/    /'
	fi
done
exit "$failed"
