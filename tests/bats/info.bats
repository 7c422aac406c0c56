#!/usr/bin/env bats
# rds-bpf info: rds-info's sections read through the RDS_INFO getsockopts,
# and rds-bpf's own (paths, port paths, congested ports, drop reasons),
# checked for values against what two namespace hosts did.

load helpers

setup() { setup_two_hosts; }
teardown() {
	for p in ${bg_pids:-}; do kill "$p" 2>/dev/null || true; done
	teardown_hosts
}

info() {	# info A|B ARGS: the JSON of rds-bpf info on that host
	in_host "$1" "$RDSB_BIN" info -j "${@:2}"
}

# up8: ping once, then wait until A has its 8 paths up
up8() {
	in_host A "$RDSB_BIN" ping -c 1 $ADDR_B >/dev/null
	for _ in $(seq 100); do
		info A -P | jq -e '[.paths[] | select(.state == "up")] | length == 8' >/dev/null && return 0
		sleep 0.05
	done
	info A -P >&2
	return 1
}

@test "info -n -P -T: the connection, its 8 paths on both hosts, the peer's generation" {
	up8
	run info A -n
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e '.connections | length == 1' <<<"$output"
	jq -e '.connections[0] | .laddr == "10.99.0.1" and .faddr == "10.99.0.2" and .flags == "--C-"
		and .connected and (.sending | not) and .transport == "tcp" and .tos == 0' <<<"$output"
	# text: rds-info's title, columns and flag letters
	run in_host A "$RDSB_BIN" info -n
	[ "${lines[0]}" = "RDS Connections:" ]
	[[ "${lines[1]}" =~ ^\ +LocalAddr\ +RemoteAddr\ +Tos\ +NextTX\ +NextRX\ +Flgs$ ]]
	[[ "${lines[2]}" =~ ^\ +10\.99\.0\.1\ +10\.99\.0\.2\ +0\ +[0-9]+\ +[0-9]+\ --C-$ ]]
	[ "${#lines[@]}" -eq 3 ]

	a=$(info A -P)
	b=$(info B -P)
	jq -e '[.paths[].path] == [0,1,2,3,4,5,6,7]' <<<"$a"
	jq -e 'all(.paths[]; .npaths == 8 and .laddr == "10.99.0.1" and .faddr == "10.99.0.2")' <<<"$a"
	# A has the smaller address: it connected, to B's 16385
	jq -e 'all(.paths[]; .fport == 16385)' <<<"$a"
	jq -e 'all(.paths[]; .lport == 16385)' <<<"$b"
	[ "$(jq -c '[.paths[].lport]' <<<"$a")" = "$(jq -c '[.paths[].fport]' <<<"$b")" ]
	# each side knows the other's generation
	[ "$(jq '.paths[0].peer_gen' <<<"$a")" = "$(in_host B "$RDSB_BIN" status -j | jq .gen)" ]
	[ "$(jq '.paths[0].peer_gen' <<<"$b")" = "$(in_host A "$RDSB_BIN" status -j | jq .gen)" ]

	# -T: one TCP socket per path, the same ports, the parsers between
	# records, everything sent acknowledged (once the last acks are in: a
	# congestion map or ping may still be in flight)
	local quiet='all(.tcp_sockets[]; .hdr_rem == 48 and .data_rem == 0 and .seen_una == .expect_una)'
	for _ in $(seq 100); do
		run info A -T
		jq -e "$quiet" <<<"$output" >/dev/null && break
		sleep 0.05
	done
	echo "$output"
	jq -e '.tcp_sockets | length == 8' <<<"$output"
	[ "$(jq -c '[.tcp_sockets[].lport] | sort' <<<"$output")" = "$(jq -c '[.paths[].lport] | sort' <<<"$a")" ]
	jq -e "$quiet" <<<"$output"
	run in_host A "$RDSB_BIN" info -T
	[ "${lines[0]}" = "TCP Connections:" ]
	[[ "${lines[1]}" =~ LocalAddr\ +LPort\ +RemoteAddr\ +RPort\ +HdrRemain\ +DataRemain\ +SentNxt\ +ExpectUna\ +SeenUna$ ]]
	[ "$(grep -cE '^ +10\.99\.0\.1 +[0-9]+ +10\.99\.0\.2 +16385 +48 +0 ' <<<"$output")" -eq 8 ]

	# the same 8 paths in the pinned map, for bpftool
	pin=/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$NS_A")
	for _ in $(seq 100); do
		[ "$(bpftool map dump pinned "$pin/rdsb_paths" -j | jq '[.[].formatted.value | select(.state == 3)] | length')" = 8 ] && break
		sleep 0.05
	done
	bpftool map dump pinned "$pin/rdsb_paths" -j | jq -e '[.[].formatted | select(.value.state == 3 and .value.npaths == 8) | .key.path] | sort == [0,1,2,3,4,5,6,7]'
}

@test "info -k -r -c: 10 unread datagrams in the receive queue, the socket's buffers and inode, the counters" {
	up8
	rds B "$RDSB_XFER" recv -b $ADDR_B:4001 -n 10 -s 100 --rcvbuf 100000 -t 20 \
		--hold-until "$BATS_TEST_TMPDIR/read" --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	bg_pids=$rpid
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4001 -n 10 -s 100 >"$BATS_TEST_TMPDIR/s"
	for _ in $(seq 100); do
		[ "$(info B -r | jq '.recv_queue | length')" = 10 ] && break
		sleep 0.05
	done
	run info B -r
	echo "$output"
	jq -e '.recv_queue | length == 10' <<<"$output"
	jq -e 'all(.recv_queue[]; .laddr == "10.99.0.2" and .lport == 4001 and .faddr == "10.99.0.1"
		and .fport == 5001 and .bytes == 100)' <<<"$output"
	# in sequence order, one path's consecutive sequence numbers
	jq -e '[.recv_queue[].seq] as $s | $s == [range($s[0]; $s[0] + 10)]' <<<"$output"
	run in_host B "$RDSB_BIN" info -r
	[ "${lines[0]}" = "Receive Message Queue:" ]
	[ "$(grep -cE '^ +10\.99\.0\.2 +4001 +10\.99\.0\.1 +5001 +0 +[0-9]+ +100$' <<<"$output")" -eq 10 ]

	# -k: the receiver's socket; rcvbuf as SO_RCVBUF set it, sndbuf the default, its inode
	run info B -k
	echo "$output"
	jq -e '.sockets | length == 1' <<<"$output"
	jq -e --argjson snd "$(( $(in_host B cat /proc/sys/net/core/wmem_default) / 2 ))" \
		'.sockets[0] | .bound_addr == "10.99.0.2" and .bound_port == 4001 and .rcvbuf == 100000
		and .sndbuf == $snd and .conn_addr == "0.0.0.0" and .conn_port == 0' <<<"$output"
	inode=$(jq .sockets[0].inode <<<"$output")
	xfer=$(for p in $(ip netns pids "$NS_B"); do
		grep -qa "rds-xfer.*recv.*$ADDR_B:4001" "/proc/$p/cmdline" && echo "$p"
	done)
	ls -l "/proc/$xfer/fd" | grep -q "socket:\[$inode\]"

	# -c: B delivered exactly the 10; -D: no drop
	info B -c | jq -e '.counters.rx_delivered == 10'
	info B -D | jq -e '(.drops | keys | all(startswith("drop_"))) and (.drops | add == 0)'

	touch "$BATS_TEST_TMPDIR/read"
	wait "$rpid"
	grep -q '^recv 10 msgs' "$BATS_TEST_TMPDIR/r"
	info B -r | jq -e '.recv_queue == []'
	info B -k | jq -e '.sockets == []'
}

@test "info -P: a bound port's path; its replies all go on that path" {
	up8
	rds B "$RDSB_XFER" echo -b $ADDR_B:4002 -n 1000 -t 20 --ready "$BATS_TEST_TMPDIR/ready.e" &
	bg_pids=$!
	wait_ready
	before=$(info B -P)
	jq -e '.port_paths | length == 1' <<<"$before"
	jq -e '.port_paths[0] | .laddr == "10.99.0.2" and .lport == 4002 and .faddr == "10.99.0.1"
		and .npaths == 8 and .path < 8' <<<"$before"
	path=$(jq '.port_paths[0].path' <<<"$before")
	rds A "$RDSB_XFER" pingpong -b $ADDR_A:5002 -d $ADDR_B:4002 -n 25 -s 64 -t 20
	after=$(info B -P)
	# 25 echoes on that path, nothing on the others
	jq -n -e --argjson a "$before" --argjson b "$after" --argjson p "$path" \
		'[range(8) | $b.paths[.].tx_msgs - $a.paths[.].tx_msgs] == [range(8) | if . == $p then 25 else 0 end]'
	run in_host B "$RDSB_BIN" info -P
	grep -qE "^ +10\.99\.0\.2 +4002 +10\.99\.0\.1 +$path +8$" <<<"$output"
}

@test "info -C: a congested port, local on the receiver, peer on the sender, as in bpftool" {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4003 -n 300 -s 0:2000 --rcvbuf 16384 -t 30 \
		--hold-until "$BATS_TEST_TMPDIR/read" --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	bg_pids=$rpid
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5003 -d $ADDR_B:4003 -n 300 -s 0:2000 >"$BATS_TEST_TMPDIR/s" &
	bg_pids="$rpid $!"
	for _ in $(seq 100); do
		[ "$(info A -C | jq '.congested_ports | length')" = 1 ] && break
		sleep 0.05
	done
	info B -C | jq -e '.congested_ports == [{"addr":"10.99.0.2","port":4003,"side":"local"}]'
	info A -C | jq -e '.congested_ports == [{"addr":"10.99.0.2","port":4003,"side":"peer"}]'
	run in_host A "$RDSB_BIN" info -C
	[ "${lines[0]}" = "Congested Ports:" ]
	[[ "${lines[2]}" =~ ^\ +10\.99\.0\.2\ +4003\ +peer$ ]]
	# bpftool: one address slot has a congested port, B's, in B's own map and
	# in A's copy; port 4003 is bit 3 of byte 500 of that slot's rdsb_cong
	for ns in "$NS_B" "$NS_A"; do
		pin=/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$ns")
		slots=$(bpftool map dump pinned "$pin/rdsb_addrs" -j |
			jq -c '[.[].formatted | select(.value.congested_ports != 0) | [.key, .value.congested_ports, .value.addr[12:]]]')
		echo "$ns: $slots"
		[[ "$slots" =~ ^\[\[([0-9]+),1,\[10,99,0,2\]\]\]$ ]]
		slot=${BASH_REMATCH[1]}
		set=$(bpftool map lookup pinned "$pin/rdsb_cong" key $((slot & 255)) $((slot >> 8)) 0 0 -j |
			jq -c '.formatted.value.bits | to_entries | map(select(.value != 0))')
		[ "$set" = '[{"key":500,"value":8}]' ]
	done
	touch "$BATS_TEST_TMPDIR/read"
	# shellcheck disable=SC2086
	wait $bg_pids
	grep -q '^recv 300 msgs' "$BATS_TEST_TMPDIR/r"
	for _ in $(seq 100); do
		[ "$(info A -C | jq '.congested_ports | length')" = 0 ] && break
		sleep 0.05
	done
	info A -C | jq -e '.congested_ports == []'
	info B -C | jq -e '.congested_ports == []'
	info B -c | jq -e '.counters.cong_set >= 1 and .counters.cong_clear == .counters.cong_set'
}

@test "info over IPv6, -p pretty equals -j, and the default prints every section" {
	in_host B "$RDSB_BIN" ping -c 1 $ADDR6_A >/dev/null
	info B -n | jq -e '[.connections[] | select(.laddr == "fd99::2" and .faddr == "fd99::1")] | length == 1'
	# the IPv6 lanes may still be coming up: compare two snapshots of a quiet engine
	local a b
	for _ in $(seq 40); do
		a=$(info B | jq -S -c .)
		b=$(in_host B "$RDSB_BIN" info -p | jq -S -c .)
		[ "$a" = "$b" ] && break
		sleep 0.05
	done
	[ "$a" = "$b" ]
	in_host B "$RDSB_BIN" info -p | grep -q '^    "connections": \['
	info B | jq -e 'keys == (["congested_ports","connections","counters","drops","ib_connections","paths",
		"port_paths","recv_queue","retrans_queue","send_queue","sockets","tcp_sockets"] | sort)'
	run in_host B "$RDSB_BIN" info
	[ "$status" -eq 0 ]
	for t in "Counters:" "RDS Sockets:" "RDS Connections:" "Receive Message Queue:" "Send Message Queue:" \
		"Retransmit Message Queue:" "TCP Connections:" "RDS IB Connections:" "RDS Paths:" \
		"RDS Port Paths:" "Congested Ports:" "Drop Reasons:"; do
		[ "$(grep -cxF "$t" <<<"$output")" -eq 1 ]
	done
}

@test "info: bad arguments exit 2 with usage on stderr; no engine exits 3" {
	run in_host A "$RDSB_BIN" info -x
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: rds-bpf info"* ]]
	run in_host A "$RDSB_BIN" info extra
	[ "$status" -eq 2 ]
	[ "$(in_host A "$RDSB_BIN" info -x 2>/dev/null | wc -c)" -eq 0 ]
	in_host A "$RDSB_BIN" unload
	run in_host A "$RDSB_BIN" info -j
	[ "$status" -eq 3 ]
	[ "$output" = '{"loaded":false}' ]
	run in_host A "$RDSB_BIN" info
	[ "$status" -eq 3 ]
	[[ "$output" == *"hint: rds-bpf load"* ]]
}
