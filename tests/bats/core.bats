#!/usr/bin/env bats
# RDS between two namespace hosts: delivery, order, content, paths. On RDS/TCP,
# or on the XDP transport with RDSB_TRANSPORT=xdp (tests/lib/hosts.sh).

load helpers

setup() { setup_two_hosts; }
teardown() { teardown_hosts; }

@test "datagrams of 0 B to 1 MiB arrive whole, in order, once (content hashed)" {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 300 -s 0:1048576 -S 7 -t 60 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	run rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 300 -s 0:1048576 -S 7 --sndbuf 4194304
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/s"
	wait $!
	cat "$BATS_TEST_TMPDIR/r"
	grep -q "^recv 300 msgs" "$BATS_TEST_TMPDIR/r"
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
}

# A payload of 4 KiB or more that goes to the engine goes in the socket's copy
# ring (RDSB_REQ_INRING), as long as the ring has room and holds no copy of a
# direct send (the sk_msg path) the engine has not read.
@test "payloads of 4 KiB and more go through the copy ring, smaller ones on the stream (content hashed)" {
	local inring
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 400 -s 0:4095 -S 3 -t 60 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 400 -s 0:4095 -S 3 >"$BATS_TEST_TMPDIR/s"
	wait $!
	grep -q "^recv 400 msgs" "$BATS_TEST_TMPDIR/r"
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
	[ "$(counter A tx_in_ring)" -eq 0 ]
	rds B "$RDSB_XFER" recv -b $ADDR_B:4001 -n 400 -s 4096:200000 -S 5 -t 60 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/r2" &
	wait_ready 2
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4001 -n 400 -s 4096:200000 -S 5 --sndbuf 4194304 >"$BATS_TEST_TMPDIR/s2"
	wait $!
	grep -q "^recv 400 msgs" "$BATS_TEST_TMPDIR/r2"
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s2")" = "$(recv_hash "$BATS_TEST_TMPDIR/r2" $ADDR_A:5001)" ]
	inring=$(counter A tx_in_ring)
	echo "in the ring: $inring of 400, direct $(counter A tx_direct)"
	[ "$inring" -gt 0 ] && [ "$inring" -le 400 ]
	# on the sk_msg path, the copies of direct sends shared the ring with them
	! sk_msg_sends || [ "$(counter A tx_direct)" -gt 0 ]
}

@test "several sockets each way: per-socket order, no loss, no duplicate" {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 4000 -s 0:9000 -t 60 --senders 4 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/rb" &
	rb=$!
	rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 2000 -s 0:9000 -t 60 --senders 2 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/ra" &
	ra=$!
	wait_ready 2
	pids=()
	for p in 5001 5002 5003 5004; do
		rds A "$RDSB_XFER" send -b $ADDR_A:$p -d $ADDR_B:4000 -n 1000 -s 0:9000 >"$BATS_TEST_TMPDIR/s$p" &
		pids+=($!)
	done
	for p in 6001 6002; do
		rds B "$RDSB_XFER" send -b $ADDR_B:$p -d $ADDR_A:4000 -n 1000 -s 0:9000 >"$BATS_TEST_TMPDIR/s$p" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	wait $rb
	wait $ra
	for p in 5001 5002 5003 5004; do
		[ "$(sent_hash "$BATS_TEST_TMPDIR/s$p")" = "$(recv_hash "$BATS_TEST_TMPDIR/rb" $ADDR_A:$p)" ]
	done
	for p in 6001 6002; do
		[ "$(sent_hash "$BATS_TEST_TMPDIR/s$p")" = "$(recv_hash "$BATS_TEST_TMPDIR/ra" $ADDR_B:$p)" ]
	done
}

@test "the NPATHS handshake opens exactly 8 paths (TCP: 8 sockets, smaller address connecting)" {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -t 20 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >/dev/null &
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1
	wait $!
	for i in $(seq 50); do
		n=$(in_host B "$RDSB_BIN" status -j | jq '[.connections[0].paths[] | select(.state == "up")] | length')
		[ "$n" -eq 8 ] && break
		sleep 0.1
	done
	[ "$n" -eq 8 ]
	in_host A "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8 and
		([.connections[0].paths[] | select(.state == "up")] | length) == 8'
	if [ "$(engine_transport A)" = xdp ]; then
		# path i's frames leave from UDP port 16392 + i on both hosts (docs/xdp-encap.md)
		for h in A B; do
			in_host $h "$RDSB_BIN" status -j |
				jq -e '[.connections[0].paths[] | [.lport - .path, .fport - .path]] | flatten | unique == [16392]'
		done
		return
	fi
	for i in $(seq 50); do
		n=$(in_host A ss -Htn state established "( dport = :16385 )" | wc -l)
		[ "$n" -eq 8 ] && break
		sleep 0.1
	done
	[ "$n" -eq 8 ]
	# B (larger) accepted them all and connected none
	[ "$(in_host B ss -Htn state established "( sport = :16385 )" | wc -l)" -eq 8 ]
	[ "$(in_host B ss -Htn state established "( dport = :16385 )" | wc -l)" -eq 0 ]
	# 2026 client port encoding: source port % 8 == path index, each once
	run bash -c "nsenter --net=/run/netns/$NS_A ss -Htn state established '( dport = :16385 )' | awk '{split(\$3,a,\":\"); print a[2] % 8}' | sort -n | tr '\n' ' '"
	[ "$output" = "0 1 2 3 4 5 6 7 " ]
}

@test "IPv6: datagrams both ways" {
	rds B "$RDSB_XFER" recv -b "[$ADDR6_B]:4000" -n 200 -s 0:20000 -t 30 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	run rds A "$RDSB_XFER" send -b "[$ADDR6_A]:5000" -d "[$ADDR6_B]:4000" -n 200 -s 0:20000
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/s"
	wait $!
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" "\[$ADDR6_A\]:5000")" ]
}

@test "local destination is delivered without TCP (loopback transport)" {
	rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 500 -s 0:70000 -t 30 --ready "$BATS_TEST_TMPDIR/ready.$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	run rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_A:4000 -n 500 -s 0:70000
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/s"
	wait $!
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
	[ "$(in_host A ss -Htn state established | wc -l)" -eq 0 ]
	in_host A "$RDSB_BIN" status -j | jq -e '.connections[0].loopback == true'
}

@test "unload removes the engine, its pins and its sockets" {
	ino=$(stat -Lc %i /run/netns/$NS_A)
	[ -d "/sys/fs/bpf/rds-bpf/$ino" ]
	run in_host A "$RDSB_BIN" unload
	[ "$status" -eq 0 ]
	[ ! -e "/sys/fs/bpf/rds-bpf/$ino" ]
	run in_host A "$RDSB_BIN" status
	[ "$status" -eq 3 ]
	[ "$(in_host A ss -Htln "( sport = :16385 )" | wc -l)" -eq 0 ]
	# no XDP program left on the interface (the XDP transport's is detached)
	run in_host A ip link show eth0
	[[ "$output" != *xdp* ]]
}
