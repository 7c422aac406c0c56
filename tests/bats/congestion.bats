#!/usr/bin/env bats
# Congestion (docs/protocol.md §1.3, §3): a port whose unread bytes exceed its
# rcvbuf (SO_RCVBUF/2) is marked in its host's congestion map, the map goes to
# the peer, and the peer's senders get ENOBUFS (nonblocking) or wait
# (blocking). The bit is visible in the pinned BPF maps on both hosts.

load helpers

setup() { setup_two_hosts; }
teardown() { teardown_hosts; }

PORT=4003	# byte 500, bit 3 of the map: (PORT >> 3, PORT & 7)
RCVBUF=16384	# SO_RCVBUF: congested above 16384 unread payload bytes
# Datagrams the held receiver is sent. The peer acknowledges what arrives
# before its engine counts it against the port, so a sender gets ahead of the
# map by what is in flight: 2000 x ~1000 B is far more than that.
COUNT=2000

# map_bits A|B SLOT: that slot's congestion map, as one line
map_bits() {
	bpftool map lookup pinned "$(pins "$1")/rdsb_cong" key $(($2 & 255)) $(($2 >> 8)) 0 0 -j |
		jq -c .formatted.value.bits
}

# maps_agree OWNER PEER ADDR: PEER's copy of ADDR's map equals OWNER's map (5 s)
maps_agree() {
	local own copy
	own=$(wait_slot "$1" "$3")
	copy=$(wait_slot "$2" "$3")
	for _ in $(seq 100); do
		[ "$(map_bits "$1" "$own")" = "$(map_bits "$2" "$copy")" ] && return 0
		sleep 0.05
	done
	echo "$2's copy of the map of $3 differs from $1's" >&2
	return 1
}

# the engines agree on every map that went over the wire (once idle); the
# XDP transport sends the newest map rather than each (docs/xdp-encap.md,
# "Congestion maps"), so there the maps themselves must agree
maps_all_received() {
	local a b
	if [ "$(engine_transport A)" = xdp ]; then
		maps_agree B A $ADDR_B
		maps_agree A B $ADDR_A
	else
		for _ in $(seq 100); do
			a=$(in_host A "$RDSB_BIN" status -j)
			b=$(in_host B "$RDSB_BIN" status -j)
			[ "$(jq .counters.rx_cong_maps <<<"$a")" -eq "$(jq .counters.tx_cong_maps <<<"$b")" ] &&
				[ "$(jq .counters.tx_cong_maps <<<"$a")" -eq "$(jq .counters.rx_cong_maps <<<"$b")" ] && break
			sleep 0.05
		done
		jq -c .counters <<<"$a"
		jq -c .counters <<<"$b"
		[ "$(jq .counters.rx_cong_maps <<<"$a")" -eq "$(jq .counters.tx_cong_maps <<<"$b")" ]
		[ "$(jq .counters.tx_cong_maps <<<"$a")" -eq "$(jq .counters.rx_cong_maps <<<"$b")" ]
	fi
	a=$(in_host A "$RDSB_BIN" status -j)
	b=$(in_host B "$RDSB_BIN" status -j)
	# B flipped the bit on and off again, and ended uncongested
	[ "$(jq .counters.cong_set <<<"$b")" -ge 1 ]
	[ "$(jq .counters.cong_set <<<"$b")" -eq "$(jq .counters.cong_clear <<<"$b")" ]
	[ "$(jq .counters.cong_set <<<"$a")" -eq 0 ]
}

# congested_run [--nonblock]: a receiver on B that holds until the checks are
# done, a sender on A; checks the bit on both hosts while held, the sender
# still running, then delivery of all COUNT and the bit cleared.
congested_run() {
	rds B "$RDSB_XFER" recv -b $ADDR_B:$PORT -n $COUNT -s 0:2000 --rcvbuf $RCVBUF -t 30 \
		--hold-until "$BATS_TEST_TMPDIR/read" --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:$PORT -n $COUNT -s 0:2000 "$@" >"$BATS_TEST_TMPDIR/s" &
	spid=$!
	slot_b=$(wait_slot B $ADDR_B)
	wait_bit B "$slot_b" $PORT 1
	# little-endian bit order: the neighbours in the same byte are clear
	[ "$(cong_bit B "$slot_b" $((PORT - 1)))" = 0 ]
	[ "$(cong_bit B "$slot_b" $((PORT + 1)))" = 0 ]
	# the map reached A: its copy of B's map has the same bit
	slot_a=$(wait_slot A $ADDR_B)
	wait_bit A "$slot_a" $PORT 1
	# only that port: exactly one congested port in B's map, as A sees it
	ino=$(stat -Lc %i "/run/netns/$NS_A")
	[ "$(bpftool map lookup pinned "/sys/fs/bpf/rds-bpf/$ino/rdsb_addrs" key "$slot_a" 0 0 0 -j |
		jq .formatted.value.congested_ports)" -eq 1 ]
	in_host B "$RDSB_BIN" status -j | jq -e ".sockets[] | select(.port == $PORT) | .congested == true"
	# the sender is held back, not done
	kill -0 "$spid"
	run grep -c '^sent' "$BATS_TEST_TMPDIR/s"
	[ "$output" = 0 ]
	# held for a second more: the sender is still held back, then B reads
	sleep 1
	kill -0 "$spid"
	touch "$BATS_TEST_TMPDIR/read"
	wait "$spid"
	wait "$rpid"
	cat "$BATS_TEST_TMPDIR/s" "$BATS_TEST_TMPDIR/r"
	grep -q "^recv $COUNT msgs"' .* senders 1$' "$BATS_TEST_TMPDIR/r"
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
	# drained: the bit is clear again on both hosts
	wait_bit B "$slot_b" $PORT 0
	wait_bit A "$slot_a" $PORT 0
}

@test "a receiver that does not read: the nonblocking sender gets ENOBUFS, then all arrive" {
	congested_run --nonblock
	enobufs=$(sed -n 's/^sent .* enobufs \([0-9]*\) .*/\1/p' "$BATS_TEST_TMPDIR/s")
	[ "$enobufs" -gt 0 ]
	maps_all_received
}

@test "a blocking sender waits on the congested port instead of failing" {
	congested_run
	# blocking: never ENOBUFS nor EAGAIN, it slept until the map cleared
	grep -q ' enobufs 0 eagain 0$' "$BATS_TEST_TMPDIR/s"
	maps_all_received
}

# held_congested: a receiver on B that reads one datagram once
# BATS_TEST_TMPDIR/read exists, a nonblocking sender of 100 on A; returns
# once the port's bit is set on both hosts (slot_a, slot_b)
held_congested() {
	rds B "$RDSB_XFER" recv -b $ADDR_B:$PORT -n 1 -s 1000:1000 --rcvbuf $RCVBUF -t 30 \
		--hold-until "$BATS_TEST_TMPDIR/read" --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:$PORT -n 100 -s 1000:1000 --nonblock \
		>"$BATS_TEST_TMPDIR/s" &
	spid=$!
	slot_b=$(wait_slot B $ADDR_B)
	wait_bit B "$slot_b" $PORT 1
	slot_a=$(wait_slot A $ADDR_B)
	wait_bit A "$slot_a" $PORT 1
}

@test "closing a congested socket clears its bit on both hosts" {
	# the receiver holds until the bits are seen on both hosts
	held_congested
	# the receiver reads one datagram and exits with the rest unread
	touch "$BATS_TEST_TMPDIR/read"
	wait "$rpid"
	wait_bit B "$slot_b" $PORT 0
	wait_bit A "$slot_a" $PORT 0
	# the sender is no longer held back: the rest goes (to no socket)
	wait "$spid"
	grep -q '^sent 100 msgs 100000 bytes' "$BATS_TEST_TMPDIR/s"
	in_host B "$RDSB_BIN" status -j | jq -e '.sockets | length == 0'
}

@test "sk_msg sends: a record that races into a congested port comes back to its send socket, whose next records still go out" {
	sk_msg_sends || skip "the sk_msg send path (not with --no-sk-msg)"
	held_congested
	# past the library, which would have waited: the program sees the bit
	cong=$(counter A tx_drop_congested)
	run in_host A "$RDSB_TXRAW" $ADDR_A:6000 $ADDR_B:$PORT bounce
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "bounce: bounced, then sent" ]
	[ "$(counter A tx_drop_congested)" -eq $((cong + 1)) ]
	[ "$(counter A path_down)" -eq 0 ]
	touch "$BATS_TEST_TMPDIR/read"
	wait "$rpid"
	wait "$spid"
	grep -q '^sent 100 msgs 100000 bytes' "$BATS_TEST_TMPDIR/s"
}

# set_bit A|B SLOT PORT 0|1: that port's bit in the host's pinned map of the
# slot, written as the verdict or the XDP program writes a peer's map: the
# engine is not told (as when the program's event or frame is lost)
set_bit() {
	local ns dir key
	case $1 in A) ns=$NS_A ;; B) ns=$NS_B ;; esac
	dir=/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$ns")
	key="$(($2 & 255)) $(($2 >> 8)) 0 0"
	# shellcheck disable=SC2046,SC2086
	bpftool map update pinned "$dir/rdsb_cong" key $key value $(
		bpftool map lookup pinned "$dir/rdsb_cong" key $key -j |
			jq -r --argjson p "$3" --argjson v "$4" '.formatted.value.bits as $a |
				($p / 8 | floor) as $i | pow(2; $p % 8) as $m | (($a[$i] / $m | floor) % 2) as $b |
				$a | .[$i] += ($v - $b) * $m | map(tostring) | join(" ")')
}

# py_send LPORT TEXT [nonblock]: TEXT from A:LPORT to B:PORT, with Python's
# socket module under the shim; prints "sent" or the errno's name
py_send() {
	rds A python3 -c '
import errno, socket, sys
s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET)
s.bind((sys.argv[1], int(sys.argv[2])))
try:
    s.sendto(sys.argv[5].encode(), socket.MSG_DONTWAIT if sys.argv[6:] else 0, (sys.argv[3], int(sys.argv[4])))
    print("sent")
except OSError as e:
    print(errno.errorcode[e.errno])
' $ADDR_A "$1" $ADDR_B $PORT "$2" ${3:+"$3"}
}

@test "a peer's map a BPF program changed without the engine hearing of it reaches the applications: senders wait, then go" {
	rds B python3 -c '
import socket, sys
s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(30)
open(sys.argv[3], "w").close()
for _ in range(3):
    data, addr = s.recvfrom(100)
    print(addr[1], data.decode(), flush=True)
' $ADDR_B $PORT "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	wait_ready
	# sent once it arrived (a socket closed sooner drops what it queued,
	# as the kernel's does)
	for _ in $(seq 100); do
		[ "$(py_send 5001 first nonblock)" = sent ] || true
		for _ in $(seq 20); do grep -q first "$BATS_TEST_TMPDIR/r" && break 2; sleep 0.05; done
	done
	slot_a=$(wait_slot A $ADDR_B)
	was=$(counter A cong_copy_resynced)
	# B's port marked congested in A's copy of B's map, behind the engine's back
	set_bit A "$slot_a" $PORT 1
	wait_counter A cong_copy_resynced $((was + 1))
	[ "$(py_send 5002 refused nonblock)" = ENOBUFS ]
	# a blocking sender waits on the port...
	py_send 5003 second >"$BATS_TEST_TMPDIR/s" &
	spid=$!
	sleep 0.5
	kill -0 "$spid"
	# ...until the bit is cleared the same way (what left a sender on XDP
	# waiting for good: the frame of B's clearing map lost after the
	# program applied it)
	set_bit A "$slot_a" $PORT 0
	wait_counter A cong_copy_resynced $((was + 2))
	wait "$spid"
	[ "$(cat "$BATS_TEST_TMPDIR/s")" = sent ]
	[ "$(py_send 5004 third nonblock)" = sent ]
	wait "$rpid"
	cat "$BATS_TEST_TMPDIR/r"
	[ "$(cat "$BATS_TEST_TMPDIR/r")" = "$(printf '5001 first\n5003 second\n5004 third')" ]
}
