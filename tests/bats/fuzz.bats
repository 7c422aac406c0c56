#!/usr/bin/env bats
# The libFuzzer harnesses of every parser (tests/fuzz): seed corpora replayed
# and a few seconds of fuzzing each; `make fuzz` runs them longer.

@test "fuzzers: every seed corpus replays clean, and 2 s of fuzzing each finds nothing" {
	cd "$BATS_TEST_DIRNAME/../.."
	want=$(ls tests/fuzz/fuzz_*.c | wc -l)
	[ "$(ls build/fuzz/fuzz_* | wc -l)" -eq "$want" ]
	run tests/fuzz/run.sh 2
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ': [0-9]* executions in 2 s, corpus [0-9]* inputs$' <<<"$output")" -eq "$want" ]
}
