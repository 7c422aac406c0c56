#!/usr/bin/env bats
# Robustness: a raw peer (tests/tools/hostile-peer.py, in host A's namespace
# with no engine there) writes malformed or crafted RDS/TCP streams to B's
# engine; B must drop exactly what the kernel drops, count it, and keep
# serving: after each case A loads an engine and a normal exchange A->B must
# work. Then paths torn down mid-transfer and an application killed -9.

load helpers

setup() {
	load_hosts
	engine_up B
}
teardown() { teardown_hosts; }

engine_alive() {	# B's engine answers and still listens on 16385
	in_host B "$RDSB_BIN" status -j | jq -e '.gen > 0' >/dev/null
	[ "$(in_host B ss -Htln '( sport = :16385 )' | wc -l)" -ge 1 ]
}

# After the hostile input: A loads an engine and 200 datagrams A->B arrive
# whole, in order, once.
normal_exchange() {
	in_host A "$RDSB_BIN" status >/dev/null 2>&1 || engine_up A
	# an earlier receiver's ready file would let wait_ready return at once
	rm -f "$BATS_TEST_TMPDIR"/ready.*
	rds B "$RDSB_XFER" recv -b $ADDR_B:4500 -n 200 -s 0:9000 -t 30 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.x" >"$BATS_TEST_TMPDIR/rx" &
	local r=$!
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5500 -d $ADDR_B:4500 -n 200 -s 0:9000 >"$BATS_TEST_TMPDIR/sx"
	wait $r || true
	[ "$(sent_hash "$BATS_TEST_TMPDIR/sx")" = "$(recv_hash "$BATS_TEST_TMPDIR/rx" $ADDR_A:5500)" ] && return 0
	# what each side saw, for the failure report
	tail -n 3 "$BATS_TEST_TMPDIR/sx" "$BATS_TEST_TMPDIR/rx"
	in_host A "$RDSB_BIN" status
	in_host B "$RDSB_BIN" status
	return 1
}

@test "random garbage on a path: reset, drop_bad_len 1, nothing delivered, B keeps serving" {
	run hostile garbage --seed 1
	echo "$output"
	[ "${lines[1]}" = "result reset" ]
	engine_alive
	[ "$(counter B drop_bad_len)" -eq 1 ]
	[ "$(counter B drop_bad_cong_map)" -eq 0 ]
	[ "$(counter B rx_delivered)" -eq 0 ]
	wait_counter B path_down 1
	normal_exchange
}

@test "h_len 0x7fffffff: reset at the header, not after waiting for 2 GiB, drop_bad_len 1" {
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -t 30 --ready "$BATS_TEST_TMPDIR/ready.r" >/dev/null &
	wait_ready
	run hostile huge-len --sport 5000 --dport 4000
	echo "$output"
	[ "${lines[1]}" = "result reset" ]
	engine_alive
	[ "$(counter B drop_bad_len)" -eq 1 ]
	[ "$(counter B rx_delivered)" -eq 0 ]
	normal_exchange
}

@test "a congestion map of 100 bytes: reset, drop_bad_cong_map 1, B's map of A untouched" {
	run hostile bad-cong-map
	echo "$output"
	[ "${lines[1]}" = "result reset" ]
	engine_alive
	[ "$(counter B drop_bad_cong_map)" -eq 1 ]
	[ "$(counter B drop_bad_len)" -eq 0 ]
	[ "$(counter B rx_cong_maps)" -eq 0 ]
	normal_exchange
}

@test "4000 congestion maps while B's engine is stopped overflow its BPF events: what the ring lost is read from the maps (the reader's port congests, then clears), 20 of 20 arrive" {
	local d=$BATS_TEST_TMPDIR h pid i msgs=""
	[[ " ${RDSB_LOAD_OPTS:-} " != *" --no-bpf "* ]] || skip "the userspace data path raises no BPF events"
	for ((i = 1; i <= 20; i++)); do msgs+="${msgs:+,}$i:$((i - 1))"; done
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 20 -s 2000:3000 -S 9 -t 30 --senders 1 --rcvbuf 16384 \
		--hold-until "$d/read" --ready "$d/ready.r" >"$d/r" &
	r=$!
	wait_ready
	hostile datagrams --hold 20 --until "$d/go" --cong-maps 4000 --sport 5000 --dport 4000 --seed 9 \
		--size 2000:3000 --msgs "$msgs" >"$d/h" &
	h=$!
	for _ in $(seq 100); do
		in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].paths[0].state == "up"' >/dev/null && break
		sleep 0.05
	done
	pid=$(engine_pid B)
	kill -STOP "$pid"
	touch "$d/go"
	# the verdict takes all of it with the engine stopped: 4000 maps into a
	# ring of about 2700 events, then the 20 datagrams (about 50 KB, past
	# the reader's 16 KiB) whose one event comes with the ring full
	for _ in $(seq 200); do
		[ "$(bpf_counter B rx_delivered)" = 20 ] && break
		sleep 0.05
	done
	kill -CONT "$pid"
	[ "$(bpf_counter B rx_delivered)" = 20 ]
	[ "$(bpf_counter B bpf_events_lost)" -gt 1000 ]
	[ "$(bpf_counter B rx_cong_maps)" -eq 4000 ]
	wait_bit B "$(wait_slot B $ADDR_B)" 4000 1
	grep -q 'events from the BPF programs lost (their ring was full): read from the maps instead' \
		"$BATS_TEST_TMPDIR"/rdsb-engine-*-B.log
	touch "$d/read"
	wait $h
	cat "$d/h"
	output=$(cat "$d/h")
	raw_received 20
	wait_bit B "$(wait_slot B $ADDR_B)" 4000 0
	engine_alive
	normal_exchange
}

@test "a record cut short by close is dropped whole; the next connection parses from a clean state" {
	raw_receiver 2 7
	run hostile truncated --sport 5000 --dport 4000
	echo "$output"
	[ "${lines[1]}" = "result sent-and-closed" ]
	wait_counter B path_down 1
	engine_alive
	[ "$(counter B rx_delivered)" -eq 0 ]
	# a new connection: its records are not glued to the 500 stale bytes
	run hostile datagrams --sport 5000 --dport 4000 --seed 7 --size 0:3000 --msgs 1:0,2:1
	echo "$output"
	raw_received 2
	[ "$(counter B rx_delivered)" -eq 2 ]
	[ "$(counter B drop_bad_len)" -eq 0 ]
	normal_exchange
}

@test "a raw peer's datagrams are delivered; RETRANSMITTED duplicates with a lower seq are not" {
	raw_receiver 3 7
	# seq 1, 2, then 1 and 2 again flagged RETRANSMITTED, then 3 with the
	# flags that mark rds-bpf's own delivery headers (0xc0: a datagram all
	# the same, from A:5000)
	run hostile datagrams --sport 5000 --dport 4000 --seed 7 --size 0:3000 --msgs 1:0,2:1,-1:0:4,-2:1:4,3:2:192
	echo "$output"
	grep -qx 'result closed' <<<"$output"
	raw_received 3
	grep -q '^recv 3 msgs .* senders 1$' "$BATS_TEST_TMPDIR/r"
	[ "$(counter B drop_dup_seq)" -eq 2 ]
	[ "$(counter B rx_delivered)" -eq 3 ]
	normal_exchange
}

@test "a lane that connects and sends before the probe waits for a path: nothing lost, not reset" {
	connection_setup_test
	raw_receiver 5 11
	# TCP acknowledges the lane's bytes as soon as they arrive, and the
	# sender forgets them then: a reset of the early lane would lose them
	run hostile datagrams --lane-first --sport 5000 --dport 4000 --seed 11 --size 0:3000 --msgs 1:0,2:1,3:2,4:3,5:4
	echo "$output"
	grep -qx 'result closed' <<<"$output"
	raw_received 5
	[ "$(counter B accept_parked)" -eq 1 ]
	[ "$(counter B accept_reset_no_path)" -eq 0 ]
	[ "$(counter B rx_delivered)" -eq 5 ]
	normal_exchange
}

@test "a peer that opens lanes and never probes: 16 wait, the rest are reset, reset ones free their place" {
	run hostile lanes --count 20
	echo "$output"
	[ "$(grep -c '^lanes open 16 reset 4$' <<<"$output")" -eq 2 ]
	[ "$(counter B accept_parked)" -eq 32 ]
	[ "$(counter B accept_reset_no_path)" -eq 8 ]
	engine_alive
	normal_exchange
}

@test "lanes from a peer whose pong has not come when B settles on one path wait for its count: path 0 is not replaced" {
	connection_setup_test
	# 7 lanes held 5 s, past the 3 s after which B guesses one path for a
	# peer that does not answer its probe (a slow peer's pong waits behind
	# its data): were they to replace path 0, path 0 would go down for each
	run hostile lanes --count 7 --hold 5
	echo "$output"
	[ "$(grep -c '^lanes open 7 reset 0$' <<<"$output")" -eq 2 ]
	[ "$(counter B accept_parked)" -eq 14 ]
	[ "$(counter B accept_reset_no_path)" -eq 0 ]
	[ "$(counter B path_down)" -le 1 ]	# path 0 at the end, if B saw it yet
	! grep -q 'replaced by a new connection' "${RDSB_LOG_DIR}/rdsb-engine-${HOSTS_PREFIX}-B.log"
	engine_alive
	normal_exchange
}

@test "lanes parked from one address take no other address's place: an early lane elsewhere still waits" {
	# a second address on each host: the hostile lanes come from 10.98.0.1
	in_host A ip addr add 10.98.0.1/24 dev eth0
	in_host B ip addr add 10.98.0.2/24 dev eth0
	raw_receiver 5 11
	# held for 1 s: well within the 3 s after which B decides that a peer
	# that never probes has one path (and its lanes replace path 0)
	in_host A python3 "$HOSTILE" lanes --count 20 --hold 1 --src 10.98.0.1 --dst 10.98.0.2 >"$BATS_TEST_TMPDIR/lanes" &
	local l=$!
	wait_counter B accept_parked 16
	run hostile datagrams --lane-first --src $ADDR_A --sport 5000 --dport 4000 --seed 11 --size 0:3000 --msgs 1:0,2:1,3:2,4:3,5:4
	echo "$output"
	grep -qx 'result closed' <<<"$output"
	raw_received 5
	wait $l
	cat "$BATS_TEST_TMPDIR/lanes"
	# the second round's lanes may be closed, not reset, by the time it
	# looks: 3 s after path 0, B decides on one path, which they replace
	[ "$(grep '^lanes' "$BATS_TEST_TMPDIR/lanes" | head -1)" = 'lanes open 16 reset 4' ]
	[ "$(grep -c '^lanes open [0-9]* reset 4$' "$BATS_TEST_TMPDIR/lanes")" -eq 2 ]
	[ "$(counter B accept_parked)" -eq 33 ]
	[ "$(counter B accept_reset_no_path)" -eq 8 ]
	[ "$(counter B rx_delivered)" -eq 5 ]
	engine_alive
}

@test "the duplicate rule is the kernel's: a lower seq without RETRANSMITTED rewinds next_rx_seq" {
	raw_receiver 3 9
	# 5, then 3 (accepted: next_rx_seq = 4, not 6), then 4 RETRANSMITTED
	# (4 >= 4: accepted), then 3 RETRANSMITTED (3 < 5: dropped)
	run hostile datagrams --sport 5000 --dport 4000 --seed 9 --size 0:3000 --msgs 5:0,3:1,4:2:4,-3:1:4
	echo "$output"
	raw_received 3
	[ "$(counter B drop_dup_seq)" -eq 1 ]
	[ "$(counter B rx_delivered)" -eq 3 ]
	in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].paths[0].next_rx_seq == 5'
	normal_exchange
}

@test "a peer silent to the probe (B settles on 1 path), then a real engine: 8 paths, no loss, no flapping" {
	connection_setup_test
	# connected and silent until B's probe went unanswered 3 times (1 s apart)
	hostile datagrams --hold 15 --until "$BATS_TEST_TMPDIR/go" --dport 9 --msgs 1:0 >"$BATS_TEST_TMPDIR/h" &
	h=$!
	for _ in $(seq 200); do
		in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 1' >/dev/null && break
		sleep 0.05
	done
	touch "$BATS_TEST_TMPDIR/go"
	wait $h
	cat "$BATS_TEST_TMPDIR/h"
	grep -qx 'result closed' "$BATS_TEST_TMPDIR/h"
	in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 1'
	[ "$(counter B probes)" -eq 3 ]
	engine_up A
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 2000 -s 0:9000 -t 30 --senders 4 \
		--ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	r=$!
	wait_ready
	pids=()
	for p in 5001 5002 5003 5004; do
		rds A "$RDSB_XFER" send -b $ADDR_A:$p -d $ADDR_B:4000 -n 500 -s 0:9000 >"$BATS_TEST_TMPDIR/s$p" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	wait $r
	for p in 5001 5002 5003 5004; do
		[ "$(sent_hash "$BATS_TEST_TMPDIR/s$p")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:$p)" ]
	done
	# A's probe re-decided B's path count, as rds_recv_hs_exthdrs does
	in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8'
	in_host A "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8'
	# B saw the raw peer's path, then A's 8 paths, each up once
	[ "$(counter B path_up)" -eq 9 ]
	[ "$(counter B path_down)" -eq 1 ]
	[ "$(in_host B ss -Htn state established '( sport = :16385 )' | wc -l)" -eq 8 ]
}

# A pong that comes after B settled on one path (a slow peer's, its data
# ahead of it) moves B's ports off path 0 while B's datagrams wait there
# unacknowledged: the raw peer on A stopped reading path 0 before it sent
# the pong, and reads it again slowly (--trickle, a slow network) once the
# lanes are up, so that B sees its backlog acknowledged a little at a time.
# A kernel's receiver delivers what reaches its receive buffers, so a port's
# next datagram on its lane must not leave before its earlier ones on path 0
# are acknowledged by TCP (set_npaths() in user/engine/conn.c), also when
# the application writes it on the lane itself (the sk_msg path).
@test "a late pong moves ports to lanes while path 0 holds unacknowledged datagrams: each port's arrive in order, none lost" {
	local d=$BATS_TEST_TMPDIR ports="5001 5002 5003 5004 5005 5006 5007 5008" n=1000 p hs=0 ss=0
	hostile late-pong --ports "$(tr ' ' , <<<"$ports")" --dport 4000 --seed 5 --size 1000:3000 \
		--per-port $n --before 200 --stall 1 --trickle 16384 --until "$d/lanes-up" >"$d/h" &
	h=$!
	# B's probe unanswered 3 times, 1 s apart: one path
	for _ in $(seq 200); do
		in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 1' >/dev/null && break
		sleep 0.05
	done
	in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 1'
	# 8 ports: some hash off path 0 (B's hash is seeded at random)
	pids=()
	for p in $ports; do
		rds B "$RDSB_XFER" send -b $ADDR_B:$p -d $ADDR_A:4000 -n $n -s 1000:3000 -S 5 -t 30 >"$d/s$p" &
		pids+=($!)
	done
	# the pong's count, and the lanes up: then A reads path 0 again
	for _ in $(seq 200); do
		in_host B "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8 and
			([.connections[0].paths[] | select(.state == "up")] | length) == 8' >/dev/null && break
		sleep 0.05
	done
	touch "$d/lanes-up"
	st=$(in_host B "$RDSB_BIN" status -j)
	for p in "${pids[@]}"; do wait "$p" || ss=$?; done
	wait $h || hs=$?
	grep -v '^connected' "$d/h"
	[ $ss -eq 0 ]
	jq -e '.connections[0].npaths == 8' <<<"$st"
	# all of them, in order, some on the lanes
	grep -qE "^received $((8 * n)) msgs, out of order 0, lanes used [1-7], ports 8$" "$d/h"
	grep -qx 'result in-order' "$d/h"
	[ $hs -eq 0 ]
	# what each sender sent, A received
	for p in $ports; do
		[ "$(sed -n 's/^sent \([0-9]*\) msgs \([0-9]*\) bytes .*/\1 \2/p' "$d/s$p")" = \
		  "$(sed -n "s/^from port $p msgs \([0-9]*\) bytes \([0-9]*\) .*/\1 \2/p" "$d/h")" ]
	done
}

@test "a connection from a larger address is reset; B connects back and sends its map, then the probe" {
	in_host A ip addr add 10.99.0.3/24 dev eth0
	run hostile larger --src 10.99.0.3 --listen
	echo "$output"
	grep -qx 'result reset' <<<"$output"
	[ "$(counter B accept_reset_larger_peer)" -eq 1 ]
	# B (smaller) connected to 10.99.0.3:16385 from a port with port % 8 == 0 (path 0)
	port=$(sed -n 's/^connect-back from 10\.99\.0\.2:\([0-9]*\)$/\1/p' <<<"$output")
	[ -n "$port" ]
	[ $((port % 8)) -eq 0 ]
	# first frame: the whole congestion map, seq 0, ports 0
	grep -qx 'frame seq 0 len 8192 sport 0 dport 0 flags 0x01 ext 00000000000000000000000000000000' <<<"$output"
	# then the probe: seq 1, sport 1, NPATHS 8, GEN_NUM, SPORT_IDX, and rds-bpf's
	# byte: delivery acknowledgements sent and read (on every receive path),
	# lanes above the path count paired by name
	grep -qE "^frame seq 1 len 0 sport 1 dport 0 flags 0x00 ext 050008 ?06[0-9a-f]{8}0800d00700000000\$" <<<"$output"
	in_host A ip addr del 10.99.0.3/24 dev eth0
	engine_alive
	normal_exchange
}

# reset_paths A|B: tear down every path between A and B from that side, as a
# fault does: ss -K on the RDS/TCP sockets (A connects, B accepted), or on
# the XDP transport a link flap of the host's interface. Prints how many
# sockets or links went down.
reset_paths() {
	if [ "$(engine_transport "$1")" = xdp ]; then
		in_host "$1" ip link set eth0 down
		sleep 0.05
		in_host "$1" ip link set eth0 up
		echo 1
	elif [ "$1" = A ]; then
		in_host A ss -HK dst $ADDR_B dport = :16385 2>/dev/null | wc -l
	else
		in_host B ss -HK dst $ADDR_A sport = :16385 2>/dev/null | wc -l
	fi
}

# RDSB_RESETS rounds of reset_paths (default 5), alternately from A and B,
# RDSB_RESET_GAP seconds apart (default 0.3), while datagrams flow both ways
# (20000 A->B and 10000 B->A a transfer, repeated until the rounds are done).
# The long run (RDSB_RESETS=1000, also with RDSB_LOAD_OPTS=--bpf and
# RDSB_TRANSPORT=xdp: bats -f 'paths killed' tests/bats/robust.bats) is not
# part of make test.
@test "paths killed mid-transfer (ss -K from either side, RDSB_RESETS times): datagrams both ways arrive once, in order" {
	local want=${RDSB_RESETS:-5} gap=${RDSB_RESET_GAP:-0.3} kills=0 sockets=0 round=0 ab=0 ba=0 k
	local t0=$SECONDS
	engine_up A
	while [ $kills -lt "$want" ] && [ $round -lt $((want + 20)) ]; do
		round=$((round + 1))
		rm -f "$BATS_TEST_TMPDIR"/ready.*
		rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 20000 -s 0:20000 -S $round -t 120 --senders 1 \
			--ready "$BATS_TEST_TMPDIR/ready.b" >"$BATS_TEST_TMPDIR/rb" &
		rb=$!
		rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 10000 -s 0:20000 -S $round -t 120 --senders 1 \
			--ready "$BATS_TEST_TMPDIR/ready.a" >"$BATS_TEST_TMPDIR/ra" &
		ra=$!
		wait_ready 2
		rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 20000 -s 0:20000 -S $round \
			-t 120 --linger 3000 >"$BATS_TEST_TMPDIR/sa" &
		sa=$!
		rds B "$RDSB_XFER" send -b $ADDR_B:5000 -d $ADDR_A:4000 -n 10000 -s 0:20000 -S $round \
			-t 120 --linger 3000 >"$BATS_TEST_TMPDIR/sb" &
		sb=$!
		# under way, then the paths go down until both senders are done
		for _ in $(seq 100); do
			[ "$(counter B rx_delivered)" -gt $((ab + 500)) ] && break
			sleep 0.05
		done
		while [ $kills -lt "$want" ] && ! { grep -q '^sent' "$BATS_TEST_TMPDIR/sa" && grep -q '^sent' "$BATS_TEST_TMPDIR/sb"; }; do
			k=$(reset_paths "$([ $((kills % 2)) -eq 0 ] && echo A || echo B)")
			[ "$k" -gt 0 ] && kills=$((kills + 1)) sockets=$((sockets + k))
			sleep "$gap"
		done
		wait $sa
		wait $sb
		wait $rb
		wait $ra
		grep -q '^recv 20000 msgs .* senders 1$' "$BATS_TEST_TMPDIR/rb"
		grep -q '^recv 10000 msgs .* senders 1$' "$BATS_TEST_TMPDIR/ra"
		[ "$(sent_hash "$BATS_TEST_TMPDIR/sa")" = "$(recv_hash "$BATS_TEST_TMPDIR/rb" $ADDR_A:5000)" ]
		[ "$(sent_hash "$BATS_TEST_TMPDIR/sb")" = "$(recv_hash "$BATS_TEST_TMPDIR/ra" $ADDR_B:5000)" ]
		ab=$((ab + 20000)) ba=$((ba + 10000))
	done
	echo "resets $kills (sockets or links $sockets) in $round transfers, $ab A->B and $ba B->A datagrams checked, $((SECONDS - t0)) s"
	[ $kills -eq "$want" ]
	a=$(in_host A "$RDSB_BIN" status -j)
	b=$(in_host B "$RDSB_BIN" status -j)
	jq -c '.counters, [.connections[0].paths[].reconnects]' <<<"$a"
	jq -c .counters <<<"$b"
	[ "$(jq .counters.rx_delivered <<<"$b")" -eq $ab ]
	[ "$(jq .counters.rx_delivered <<<"$a")" -eq $ba ]
	# a duplicate is only ever a retransmission the receiver already had
	[ "$(jq .counters.drop_dup_seq <<<"$b")" -le "$(jq .counters.tx_retransmitted <<<"$a")" ]
	[ "$(jq .counters.drop_dup_seq <<<"$a")" -le "$(jq .counters.tx_retransmitted <<<"$b")" ]
	[ "$(engine_transport A)" = tcp ] || return 0
	# the paths did go down and come back, and what was resent was resent
	[ "$(jq .counters.path_down <<<"$a")" -ge "$kills" ]
	[ "$(jq '[.connections[0].paths[].reconnects] | add' <<<"$a")" -ge "$kills" ]
	[ "$(jq .counters.tx_retransmitted <<<"$a")" -gt 0 ] || [ "$(jq '[.connections[0].paths[].reconnects] | add' <<<"$a")" -gt 0 ]
	# all paths back up
	for _ in $(seq 100); do
		[ "$(in_host A ss -Htn state established '( dport = :16385 )' | wc -l)" -eq 8 ] && break
		sleep 0.05
	done
	[ "$(in_host A ss -Htn state established '( dport = :16385 )' | wc -l)" -eq 8 ]
	# the sock_ops entries of the killed sockets were given back: one per
	# live path socket, on its ports
	live=$(in_host A ss -Htn state established '( dport = :16385 )' | awk '{ sub(/.*:/, "", $3); print $3 }' | sort -n | jq -sc .)
	for _ in $(seq 50); do
		[ "$(tcppath A | jq -c '[.[].lport] | sort')" = "$live" ] && break
		sleep 0.1
	done
	echo "live ports $live, entries $(tcppath A)"
	[ "$(tcppath A | jq -c '[.[].lport] | sort')" = "$live" ]
	tcppath A | jq -e 'all(.[]; .state == 1) and ([.[].cookie] | unique | length) == 8'
}

# The engine's path sockets on A are shut for writing under it, with B's
# engine stopped so that nothing tells A before its sender goes on: every
# write on them fails with EPIPE. On the sk_msg path (the default's) that
# is the application's own sendmsg, after rdsb_txmsg numbered its record
# and kept its copy (its push into the path socket fails): the datagram is
# the engine's then, to retransmit after the reset, not to hand to the
# engine a second time (it arrived twice, or not at all, and its send
# space was given back twice; the sender later waited for send space
# forever).
@test "path sockets shut under the engine mid-transfer (the peer's engine stopped): datagrams arrive once, in order; the sender finishes" {
	local d=$BATS_TEST_TMPDIR a b direct
	engine_up A
	[ "$(engine_transport A)" = tcp ] || skip "no path sockets on $(engine_transport A)"
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 400 -s 0:2000 -t 30 --rcvbuf 4194304 --senders 1 \
		--ready "$d/ready.r" >"$d/r" &
	r=$!
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 400 -s 0:2000 -t 30 \
		--pause-at 200:"$d/paused" >"$d/s" &
	s=$!
	for _ in $(seq 500); do
		[ -e "$d/paused" ] && break
		sleep 0.01
	done
	[ -e "$d/paused" ]
	wait_counter B rx_delivered 200
	for _ in $(seq 100); do
		[ "$(in_host A ss -Htn state established '( dport = :16385 )' | wc -l)" -eq 8 ] && break
		sleep 0.05
	done
	a=$(engine_pid A)
	b=$(engine_pid B)
	direct=$(counter A tx_direct)
	kill -STOP "$b"
	run python3 "$BATS_TEST_DIRNAME/../tools/shut-wr.py" "$a" \
		$(in_host A ss -Htnp '( dport = :16385 )' | grep -o "pid=$a,fd=[0-9]*" | sed 's/.*=//')
	echo "$output"
	[ "$status" -eq 0 ] || { kill -CONT "$b"; false; }
	[ "$(grep -c '^shut' <<<"$output")" -eq 8 ] || { kill -CONT "$b"; false; }
	rm "$d/paused"
	sleep 1
	kill -CONT "$b"
	wait $s
	wait $r || { cat "$d/r"; false; }
	cat "$d/s" "$d/r"
	[ "$(sent_hash "$d/s")" = "$(recv_hash "$d/r" $ADDR_A:5000)" ]
	wait_counter B rx_delivered 400
	in_host A "$RDSB_BIN" status -j | jq -c '.counters | {tx_msgs, tx_direct, tx_retransmitted, path_down}'
	[ "$(counter A path_down)" -ge 8 ]
	# on the sk_msg path the datagrams after the pause went out on the shut sockets
	! sk_msg_sends || [ "$(counter A tx_direct)" -gt "$direct" ]
}

@test "an application killed with SIGKILL frees its port at once; other sockets keep working" {
	engine_up A
	rds B "$RDSB_XFER" recv -b $ADDR_B:4001 -n 1000000 -s 0:20000 -t 2 \
		--ready "$BATS_TEST_TMPDIR/ready.1" >"$BATS_TEST_TMPDIR/r1" &
	r1=$!
	rds B "$RDSB_XFER" recv -b $ADDR_B:4002 -n 200 -s 0:9000 -t 30 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.2" >"$BATS_TEST_TMPDIR/r2" &
	r2=$!
	rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 400 -s 0:9000 -t 30 --senders 2 \
		--ready "$BATS_TEST_TMPDIR/ready.3" >"$BATS_TEST_TMPDIR/r3" &
	r3=$!
	wait_ready 3
	# a socket on A that lives through it all: 200 datagrams before the kill
	rds B "$RDSB_XFER" send -b $ADDR_B:6000 -d $ADDR_A:4000 -n 200 -s 0:9000 >"$BATS_TEST_TMPDIR/s6000"
	# the victim streams from A:5000 until killed
	rds A sh -c 'echo $$ >"$0"; exec "$@"' "$BATS_TEST_TMPDIR/victim.pid" \
		"$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4001 -n 1000000 -s 0:20000 >/dev/null 2>&1 &
	v=$!
	for _ in $(seq 100); do
		[ "$(counter B rx_delivered)" -gt 500 ] && break
		sleep 0.05
	done
	[ "$(counter B rx_delivered)" -gt 500 ]
	kill -9 "$(cat "$BATS_TEST_TMPDIR/victim.pid")"
	wait $v || true
	# at once: the same port binds again (rds-xfer dies on a bind error)
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4002 -n 200 -s 0:9000 >"$BATS_TEST_TMPDIR/s5000"
	wait $r2
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s5000")" = "$(recv_hash "$BATS_TEST_TMPDIR/r2" $ADDR_A:5000)" ]
	# and the socket on A that was there all along still receives
	rds B "$RDSB_XFER" send -b $ADDR_B:6001 -d $ADDR_A:4000 -n 200 -s 0:9000 >"$BATS_TEST_TMPDIR/s6001"
	wait $r3
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s6000")" = "$(recv_hash "$BATS_TEST_TMPDIR/r3" $ADDR_B:6000)" ]
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s6001")" = "$(recv_hash "$BATS_TEST_TMPDIR/r3" $ADDR_B:6001)" ]
	# what the victim got out before it died arrived in order, without a gap
	wait $r1 || true	# it ends by timing out, 2 s after the victim's last datagram
	cat "$BATS_TEST_TMPDIR/r1"
	grep -qE '^timeout after [1-9][0-9]* of 1000000 msgs' "$BATS_TEST_TMPDIR/r1"
	run grep -c mismatch "$BATS_TEST_TMPDIR/r1"
	[ "$output" = 0 ]
	# the victim's socket is gone from the engine
	in_host A "$RDSB_BIN" status -j | jq -e '[.sockets[] | select(.port == 5000)] | length == 0'
}

@test "an application writing its stream itself: a send request split anywhere or 200 in one write arrive whole; garbage, a length over 1 MiB, a cut request, and garbage in its request queue: counted, the socket closed, the engine serving" {
	engine_up A
	rds B "$RDSB_XFER" recv -b $ADDR_B:4100 -n 420 -t 30 --senders 3 \
		--ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	r=$!
	wait_ready
	until=$BATS_TEST_TMPDIR/received
	# a byte at a time, 7 bytes at a time (cuts every header and payload
	# at changing offsets), and the whole stream of 200 in one write
	rds A "$RDSB_RAWSTREAM" $ADDR_A:5001 $ADDR_B:4100 chunks 1 20 "$until" >"$BATS_TEST_TMPDIR/s1" &
	s1=$!
	rds A "$RDSB_RAWSTREAM" $ADDR_A:5002 $ADDR_B:4100 chunks 7 200 "$until" >"$BATS_TEST_TMPDIR/s2" &
	s2=$!
	rds A "$RDSB_RAWSTREAM" $ADDR_A:5003 $ADDR_B:4100 chunks 0 200 "$until" >"$BATS_TEST_TMPDIR/s3" &
	s3=$!
	wait $r || { touch "$until"; cat "$BATS_TEST_TMPDIR/r"; false; }
	touch "$until"
	wait $s1 $s2 $s3
	for p in 1 2 3; do
		[ -n "$(sent_hash "$BATS_TEST_TMPDIR/s$p")" ]
		[ "$(sent_hash "$BATS_TEST_TMPDIR/s$p")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:500$p)" ]
	done
	[ "$(counter A drop_bad_app_record)" -eq 0 ]
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 garbage
	[ "$status" -eq 0 ]
	[ "$output" = "closed by the engine" ]
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 huge
	[ "$status" -eq 0 ]
	[ "$output" = "closed by the engine" ]
	[ "$(counter A drop_bad_app_record)" -eq 2 ]
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 cut
	[ "$status" -eq 0 ]
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 bogus
	[ "$status" -eq 2 ]
	# the same through the request queue, woken by a header on the stream,
	# and such a wakeup that claims a payload
	for what in garbage past long resent big backwards; do
		run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 queue $what
		echo "queue $what: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "closed by the engine" ]
	done
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5004 $ADDR_B:4100 kick-len
	[ "$status" -eq 0 ]
	[ "$output" = "closed by the engine" ]
	[ "$(counter A drop_bad_app_record)" -eq 9 ]
	# nothing of the bad requests went out; the closed sockets' port binds
	# again and a normal exchange works, its requests through the queue
	[ "$(counter B rx_delivered)" -eq 420 ]
	queued=$(counter A tx_queued)
	normal_exchange
	[ "$(counter B rx_delivered)" -eq 620 ]
	[ "$(counter A tx_queued)" -gt "$queued" ]
	[ "$(counter A drop_bad_app_record)" -eq 9 ]
}
