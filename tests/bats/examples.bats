#!/usr/bin/env bats
# examples/: the request/response pair through the shim, the fan-out sender
# (linked with -lrdsb) against three servers, one too slow for its rcvbuf.

load helpers

EX=$BATS_TEST_DIRNAME/../../build/examples

setup() { setup_two_hosts; }
teardown() {
	for p in ${bg_pids:-}; do kill "$p" 2>/dev/null || true; done
	teardown_hosts
}

# serve ADDR PORT ARGS...: a reqresp-server on B, ready once it printed "serving"
serve() {
	local port=$2
	rds B "$EX/reqresp-server" "$@" >"$BATS_TEST_TMPDIR/server.$port" &
	bg_pids="${bg_pids:-} $!"
	for _ in $(seq 100); do
		grep -q '^serving' "$BATS_TEST_TMPDIR/server.$port" && return 0
		sleep 0.05
	done
	return 1
}

@test "reqresp: 5 requests, 5 replies in order, the server serves exactly 5 (IPv4 and IPv6)" {
	serve $ADDR_B 4200 5
	run rds A "$EX/reqresp-client" $ADDR_A $ADDR_B 4200 5
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(for i in 1 2 3 4 5; do echo "reply $i: re: request $i"; done)" ]
	# shellcheck disable=SC2086
	wait $bg_pids
	[ "$(cat "$BATS_TEST_TMPDIR/server.4200")" = "$(printf 'serving 10.99.0.2:4200\nserved 5 requests')" ]

	serve $ADDR6_B 4201 2
	run rds A "$EX/reqresp-client" $ADDR6_A $ADDR6_B 4201 2
	[ "$output" = "$(printf 'reply 1: re: request 1\nreply 2: re: request 2')" ]
}

@test "reqresp: no server answers -> the client fails after its timeout; bad usage exits 2" {
	run rds A "$EX/reqresp-client" $ADDR_A $ADDR_B 4299 1 1
	[ "$status" -eq 1 ]
	[[ "$output" == *"no reply"* ]]
	run "$EX/reqresp-client" $ADDR_A
	[ "$status" -eq 2 ]
	run "$EX/reqresp-server" not-an-address 1
	[ "$status" -eq 2 ]
	run in_host A "$EX/fanout-sender" $ADDR_A 10 100 nocolon
	[ "$status" -eq 2 ]
}

@test "fanout: a receiver that never replies -> the sender gives up after 10 quiet seconds, naming it" {
	run in_host A "$EX/fanout-sender" $ADDR_A 3 100 $ADDR_B:4298
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "fanout-sender: $ADDR_B:4298: 0 of 3 replies after 10 s quiet" ]
}

@test "fanout: 200 x 1000 B to 3 servers; the slow one gets ENOBUFS and congestion updates; all replied" {
	# the two prompt servers can hold all 200 x 1048 B (SO_RCVBUF 2 MiB, as
	# far as rmem_max allows), so that one descheduled on a busy machine is
	# not congested either
	serve $ADDR_B 4300 200 2097152
	serve $ADDR_B 4301 200 2097152
	serve $ADDR_B 4302 201 16384 2000	# reads nothing for 2 s, rcvbuf 16 KiB
	# One datagram of 32 KiB to the slow one first, from another socket: its
	# port is congested, and A's copy of B's map says so, before the fan-out
	# starts. Without it the fan-out's own 200 (210 KB) could all be on
	# their way before the map comes (a busy B engine, a sender that never
	# had to wait), and none would meet ENOBUFS.
	rds A "$RDSB_XFER" send -b $ADDR_A:5999 -d $ADDR_B:4302 -n 1 -s 32768 -S 1 -t 20 >/dev/null
	wait_bit A "$(wait_slot A $ADDR_B)" 4302 1
	run in_host A "$EX/fanout-sender" $ADDR_A 200 1000 $ADDR_B:4300 $ADDR_B:4301 $ADDR_B:4302
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "$ADDR_B:4300 sent 200 replies 200 enobufs 0" <<<"$output"
	grep -qx "$ADDR_B:4301 sent 200 replies 200 enobufs 0" <<<"$output"
	[[ "$output" =~ $ADDR_B:4302\ sent\ 200\ replies\ 200\ enobufs\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -ge 1 ]
	[[ "$output" =~ congestion\ updates\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -ge 1 ]
	# shellcheck disable=SC2086
	wait $bg_pids
	for p in 4300 4301; do
		grep -qx 'served 200 requests' "$BATS_TEST_TMPDIR/server.$p"
	done
	grep -qx 'served 201 requests' "$BATS_TEST_TMPDIR/server.4302"
	# B's engine delivered exactly the 601 requests, and A's the 600
	# replies; the one to the closed port 5999 was dropped
	in_host B "$RDSB_BIN" info -j -c | jq -e '.counters.rx_delivered == 601'
	in_host A "$RDSB_BIN" info -j -c | jq -e '.counters.rx_delivered == 600 and .counters.drop_no_socket == 1'
}
