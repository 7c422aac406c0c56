# shellcheck shell=bash
# Common setup for the integration tests: two namespace hosts, both with an
# engine loaded (unless RDSB_NO_ENGINE=1), torn down even when a test fails.
load_hosts() {
	# shellcheck source=../lib/hosts.sh
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	export RDSB_LOG_DIR="$BATS_TEST_TMPDIR"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	hosts_up "$(hosts_name rb)"
}

setup_two_hosts() {	# [load options for both engines]
	load_hosts
	engine_up A "$@"
	engine_up B "$@"
}

teardown_hosts() {
	local f h
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "${NS_A:-}" ]; then :; else
		# keep what explains a failure in the bats output: what each
		# process waits in first (a line each), the stacks last
		hosts_procs
		for h in A B; do	# the congested ports each host sees, a line each
			in_host $h "$RDSB_BIN" info -C 2>/dev/null | awk -v h=$h 'NR > 3 && NF { print h " congested: " $0 }'
		done
		for f in "$BATS_TEST_TMPDIR"/*; do
			[ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 65536 ] || continue
			case $f in
			*/rdsb-engine-*.log) echo "--- $f"; tail -n 30 "$f" ;;
			*) echo "--- $f"; grep -Iq . "$f" && tail -n 3 "$f" ;;
			esac
		done
		in_host A "$RDSB_BIN" status 2>/dev/null || true
		in_host B "$RDSB_BIN" status 2>/dev/null || true
		hosts_procs stacks
	fi
	hosts_down
}

# hash of the line "from ADDR:PORT msgs N bytes B hash H" must equal the sender's
sent_hash() { sed -n 's/^sent .* hash \([0-9a-f]*\).*/\1/p' "$1"; }
recv_hash() { sed -n "s/^from $2 msgs .* hash \\([0-9a-f]*\\).*/\\1/p" "$1"; }

# connection_setup_test: the test is about connections, paths and probes,
# which the engine sets up the same on every data path: it runs in the
# default round of tools/run-tests.sh only, not again with RDSB_LOAD_OPTS
connection_setup_test() {
	[ -z "${RDSB_LOAD_OPTS:-}" ] || skip "connection setup, the same on every data path: runs in the default round"
}

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

# A raw RDS/TCP peer (tests/tools/hostile-peer.py) on A, no engine there.
HOSTILE="$BATS_TEST_DIRNAME/../tools/hostile-peer.py"

hostile() {	# hostile CASE [options]: run the raw peer on A against B
	in_host A python3 "$HOSTILE" "$@" --dst $ADDR_B
}

engine_transport() {	# engine_transport A|B: tcp or xdp
	in_host "$1" "$RDSB_BIN" status -j | jq -r .transport
}

# how this kernel's sockmap programs read the strparser offset: with the
# kfunc where its BTF has it (sockmap_rx.c sockmap_open)
kern_ctx_how() {
	if bpftool btf dump file /sys/kernel/btf/vmlinux | grep -q "FUNC 'bpf_cast_to_kern_ctx'"; then
		echo cast_to_kern_ctx
	else
		echo probe_read_kernel
	fi
}
pins() { echo "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$(ns_of "$1")")"; }
engine_pid() {	# engine_pid A|B
	local p
	for p in $(ip netns pids "$(ns_of "$1")"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = rds-bpf ] && echo "$p"
	done
	true	# the namespace's last process may be another
}

ns_of() { case $1 in A) echo "$NS_A" ;; B) echo "$NS_B" ;; esac; }

# inbox_read A|B: within 5 s no path's records wait in the engine's inbox
# (a later record of the path would follow them there, through the engine)
inbox_read() {
	for _ in $(seq 50); do
		bpftool -j map dump pinned "$(pins "$1")/rdsb_rxack" |
			jq -e '[.[].formatted.value.inbox] | add == 0' >/dev/null && return 0
		sleep 0.1
	done
	echo "$1's engine has not read its inbox" >&2
	return 1
}

# tcppath A|B: the entries in use of rdsb_tcppath, as JSON values
tcppath() {
	bpftool -j map dump pinned "$(pins "$1")/rdsb_tcppath" |
		jq -c '[.[].formatted.value | select(.cookie != 0)]'
}

# addr_slot A|B IPV4: the rdsb_addrs slot (= rdsb_cong key) of that address
addr_slot() {
	bpftool map dump pinned "$(pins "$1")/rdsb_addrs" -j |
		jq -r --argjson a "[$(echo "$2" | tr . ,)]" \
			'.[].formatted | select(.value.kind != 0 and .value.addr[10:16] == [255,255] + $a) | .key'
}

# cong_bit A|B SLOT PORT: that port's bit in that slot's map, 0 or 1
cong_bit() {
	bpftool map lookup pinned "$(pins "$1")/rdsb_cong" key $(($2 & 255)) $(($2 >> 8)) 0 0 -j |
		jq --argjson p "$3" '(.formatted.value.bits[$p / 8 | floor] / pow(2; $p % 8) | floor) % 2'
}

# wait_bit A|B SLOT PORT 0|1: poll until the bit has that value (5 s)
wait_bit() {
	for _ in $(seq 100); do
		[ "$(cong_bit "$1" "$2" "$3")" = "$4" ] && return 0
		sleep 0.05
	done
	echo "bit $3 of slot $2 on $1 never became $4" >&2
	return 1
}

# wait_slot A|B IPV4: poll until the address has a slot; prints it
wait_slot() {
	local s
	for _ in $(seq 100); do
		s=$(addr_slot "$1" "$2")
		[ -n "$s" ] && { echo "$s"; return 0; }
		sleep 0.05
	done
	return 1
}

wait_file() {	# wait_file FILE: until FILE exists (20 s)
	for _ in $(seq 200); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "no $1" >&2
	return 1
}

counter() {	# counter A|B NAME
	in_host "$1" "$RDSB_BIN" status -j | jq ".counters.$2"
}

# bpf_counter A|B NAME: what the BPF programs alone counted, from the pinned
# rdsb_counters (summed over the CPUs): it needs no engine to answer
bpf_counter() {
	local i
	i=$(awk -v name="\"$2\"" '/RDSB_COUNTERS\(X\)/ { on = 1; next }
		on && /^\tX\(/ { if (index($0, name)) { print n; exit } n++ }' \
		"$RDSB_ROOT/include/rds-bpf/maps.h")
	bpftool -j map lookup pinned "$(pins "$1")/rdsb_counters" key $((i & 255)) $((i >> 8)) 0 0 |
		jq '[.formatted.values[].value] | add'
}

wait_counter() {	# wait_counter A|B NAME VALUE: poll until NAME == VALUE (5 s)
	local v
	for _ in $(seq 100); do
		v=$(counter "$1" "$2")
		[ "$v" = "$3" ] && return 0
		sleep 0.05
	done
	echo "$1 $2 is $v, expected $3" >&2
	return 1
}

# raw_receiver N SEED: a receiver on B:4000 for N datagrams of the raw peer
# (sender port 5000 on A, sizes 0:3000); $r is its pid
raw_receiver() {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n "$1" -s 0:3000 -S "$2" -t 30 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	r=$!
	wait_ready
}

# raw_received N: the receiver got exactly the N datagrams the raw peer
# reported sending in $output, by content hash
raw_received() {
	wait $r
	cat "$BATS_TEST_TMPDIR/r"
	[ "$(sed -n "s/^sent $1 msgs .* hash \([0-9a-f]*\)$/\1/p" <<<"$output")" = \
	  "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
}

