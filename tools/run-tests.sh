#!/usr/bin/env bash
# The whole suite: unit tests, the bats integration tests between namespace
# hosts, then the interop suite against the kernel's RDS in qemu. Ends with
# one line "N passed, M failed, K skipped" over all of them; each part with
# how long it took.
set -uo pipefail
cd "$(dirname "$0")/.."
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
vmlog=$(mktemp)
vm_pid=''
phase_start=$SECONDS
took() {	# WHAT: how long since the last one, and since the start
	echo "# $1: $((SECONDS - phase_start)) s, $SECONDS s since the start"
	phase_start=$SECONDS
}
pass=0
fail=0
skip=0
count() {	# a "N passed, M failed" line from a test program
	local p f
	p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$1" | tail -n 1)
	f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$1" | tail -n 1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-1}))
}
log=$(mktemp)
trap '[ -z "$vm_pid" ] || kill "$vm_pid" 2>/dev/null; rm -f "$log" "$vmlog"' EXIT
for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	"$t" >"$log" 2>&1 || true
	grep -v '^$' "$log" | tail -n 3
	count "$log"
done
took "unit tests"
tap_count() {	# the TAP lines of $log: ok, not ok, ok # SKIP
	local s
	s=$(grep -ci '^ok .* # skip' "$log")
	skip=$((skip + s))
	pass=$((pass + $(grep -c '^ok ' "$log") - s))
	fail=$((fail + $(grep -c '^not ok ' "$log")))
}
bats_run() {
	bats --tap --timing "$@" | tee "$log"
	tap_count
	took "bats $*"
}
# A test that hangs fails after this many seconds (its teardown still runs
# and prints the engines' logs) instead of stalling the rest of the suite.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}
echo "== bats tests/bats"
bats_run tests/bats
# The datagram tests again on the userspace data path (the default is the
# BPF one: the sockmap receive path and sk_msg sends).
echo "== bats on the userspace data path (load --no-bpf)"
export RDSB_LOAD_OPTS=--no-bpf
bats_run tests/bats/core.bats tests/bats/congestion.bats tests/bats/robust.bats tests/bats/ping.bats \
	tests/bats/restart.bats tests/bats/shim.bats tests/bats/errno.bats tests/bats/limits.bats

# Again on the BPF receive path with every send through the engine (the
# default's applications send on the path sockets themselves). Not
# restart.bats: a restarting sender's engine sends as on the userspace round
# above, and a restarting receiver's engine receives as in the default round.
# Of robust.bats only the path resets and the malformed records: its probes
# and lanes ran on both receive paths above, and are the same on either
# send path.
echo "== bats on the BPF receive path, the engine sending (load --bpf --no-sk-msg)"
export RDSB_LOAD_OPTS="--bpf --no-sk-msg"
bats_run tests/bats/core.bats tests/bats/congestion.bats tests/bats/shim.bats
bats_run -f 'paths killed|path sockets shut|random garbage|h_len 0x7fffffff|congestion map of 100' tests/bats/robust.bats
unset RDSB_LOAD_OPTS
# The core and congestion tests again on the XDP/AF_XDP transport.
echo "== bats on the XDP transport (load --transport xdp)"
export RDSB_TRANSPORT=xdp
bats_run tests/bats/core.bats tests/bats/congestion.bats
unset RDSB_TRANSPORT
# The core tests on the sanitizer build (make SAN=1: engine, library, shim
# and CLI with ASan+UBSan; the applications get the ASan runtime preloaded
# with the shim); any report fails.
if [ -x build-san/sbin/rds-bpf ]; then
	echo "== bats tests/bats/core.bats on the ASan+UBSan build (build-san)"
	reports=$(mktemp -d)
	RDSB_BIN=$PWD/build-san/sbin/rds-bpf \
	RDSB_PRELOAD="$(gcc -print-file-name=libasan.so):$PWD/build-san/lib/librdsb-preload.so" \
	ASAN_OPTIONS=log_path=$reports/asan LSAN_OPTIONS=suppressions=$PWD/tests/lib/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=$reports/ubsan:print_stacktrace=1 \
		bats_run tests/bats/core.bats
	for r in "$reports"/*; do
		[ -e "$r" ] || continue
		echo "sanitizer report $r:"
		head -n 40 "$r"
		fail=$((fail + 1))
	done
	rm -rf "$reports"
fi
# The interop suite last, one guest boot at a time: beside the bats tests,
# or with boots side by side (RDSB_VM_JOBS), the TCG guests of a loaded
# 2-CPU machine fell behind (paths reconnected, IPv6 exchanges failed).
if [ -x tests/vm/run-suite.sh ]; then
	RDSB_VM_JOBS=${RDSB_VM_JOBS:-1} tests/vm/run-suite.sh >"$vmlog" 2>&1 &
	vm_pid=$!
fi
if [ -n "$vm_pid" ]; then
	echo "== tests/vm/run-suite.sh"
	wait "$vm_pid"
	rc=$?
	vm_pid=''
	cp "$vmlog" "$log"
	cat "$log"
	tap_count
	# a suite that stopped short (a usage error, killed) fails too
	[ $rc -eq 0 ] || grep -q '^not ok ' "$log" || { echo "tests/vm/run-suite.sh: exit $rc"; fail=$((fail + 1)); }
	took "waiting for tests/vm/run-suite.sh"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
