#!/usr/bin/env bash
# Runs every fuzzer in build/fuzz: first its seed corpus tests/fuzz/corpus/NAME
# replayed, then SECONDS (default 60) of fuzzing from it, new inputs kept in a
# scratch directory (the seed corpus stays as committed). A finding stops the
# run: its input is in build/fuzz/crash-NAME-*. One line per fuzzer:
# "NAME: N executions in S s, corpus C inputs".
#   tests/fuzz/run.sh [SECONDS] [NAME...]
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in build/fuzz/fuzz_*; do names+=("${f#build/fuzz/fuzz_}"); done
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for n in "${names[@]}"; do
	bin=build/fuzz/fuzz_$n
	seeds=tests/fuzz/corpus/$n
	log=$scratch/$n.log
	mkdir -p "$scratch/$n"
	if ! "$bin" -runs=0 "$seeds" >"$log" 2>&1; then
		echo "$n: the seed corpus fails"
		tail -n 30 "$log"
		status=1
		continue
	fi
	if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/crash-$n-" "$scratch/$n" "$seeds" >"$log" 2>&1; then
		echo "$n: FOUND a failure (input in build/fuzz/crash-$n-*)"
		grep -E 'ERROR|runtime error|SUMMARY' "$log" | head -n 10
		status=1
		continue
	fi
	echo "$n: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions in $secs s," \
		"corpus $(find "$scratch/$n" "$seeds" -type f | wc -l) inputs"
done
exit $status
