#!/usr/bin/env bats
# rds-bpf ping: rds-ping's line format, answered by the peer's RDS from port 0.

load helpers

setup() { setup_two_hosts; }
teardown() { teardown_hosts; }

@test "ping over IPv4 and IPv6: one ' N: T usec' line per reply, exit 0" {
	run in_host A "$RDSB_BIN" ping -c 3 -i 0.05 $ADDR_B
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -cE '^ +[1-3]: [0-9]+ usec$' <<<"$output")" -eq 3 ]
	run in_host B "$RDSB_BIN" ping -c 2 -i 0.05 $ADDR6_A
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -cE '^ +[1-2]: [0-9]+ usec$' <<<"$output")" -eq 2 ]
	# B answered A's pings from port 0: counted by the engine
	[ "$(in_host B "$RDSB_BIN" status -j | jq .counters.pings_answered)" -ge 3 ]
}

@test "ping a local address (loopback) and an address with no RDS behind it" {
	run in_host A "$RDSB_BIN" ping -c 2 -i 0 $ADDR_A
	[ "$status" -eq 0 ]
	[ "$(grep -cE 'usec$' <<<"$output")" -eq 2 ]
	run in_host A "$RDSB_BIN" ping -c 1 -i 0 10.99.0.77
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "ping: bad usage exits 2; no engine says so" {
	run in_host A "$RDSB_BIN" ping
	[ "$status" -eq 2 ]
	run in_host A "$RDSB_BIN" ping -c 1 not-an-address
	[ "$status" -eq 2 ]
	in_host A "$RDSB_BIN" unload
	run in_host A "$RDSB_BIN" ping -c 1 $ADDR_B
	[ "$status" -eq 1 ]
	[[ "$output" == *"rds-bpf load"* ]]
}
