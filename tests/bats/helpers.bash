# shellcheck shell=bash
# Common setup for the integration tests: two namespace hosts, both with an
# engine loaded (unless RDSB_NO_ENGINE=1), torn down even when a test fails.
load_hosts() {
	# shellcheck source=../lib/hosts.sh
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	export RDSB_LOG_DIR="$BATS_TEST_TMPDIR"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	hosts_up "rb$(printf %04x $((RANDOM)))"
}

setup_two_hosts() {	# [load options for both engines]
	load_hosts
	engine_up A "$@"
	engine_up B "$@"
}

teardown_hosts() {
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "${NS_A:-}" ]; then :; else
		# keep what explains a failure in the bats output
		for f in "$BATS_TEST_TMPDIR"/rdsb-engine-*.log; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
		done
		in_host A "$RDSB_BIN" status 2>/dev/null || true
		in_host B "$RDSB_BIN" status 2>/dev/null || true
	fi
	hosts_down
}

# hash of the line "from ADDR:PORT msgs N bytes B hash H" must equal the sender's
sent_hash() { sed -n 's/^sent .* hash \([0-9a-f]*\).*/\1/p' "$1"; }
recv_hash() { sed -n "s/^from $2 msgs .* hash \\([0-9a-f]*\\).*/\\1/p" "$1"; }

# wait_ready [N]: N receivers started with --ready "$BATS_TEST_TMPDIR/ready.*" are bound
wait_ready() {
	local want=${1:-1}
	for _ in $(seq 200); do
		[ "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name 'ready.*' | wc -l)" -ge "$want" ] && return 0
		sleep 0.05
	done
	echo "receivers not ready" >&2
	return 1
}
