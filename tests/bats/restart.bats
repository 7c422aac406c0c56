#!/usr/bin/env bats
# Engine restart: an engine killed with SIGKILL or unloaded while applications
# hold sockets on it. The applications keep their sockets: while no engine
# runs, blocking calls wait without spinning and nonblocking ones fail with
# EAGAIN; once `rds-bpf load` starts an engine again, the same sockets (bound
# address, port, options) send and receive on it.

load helpers

setup() { setup_two_hosts; }
teardown() { teardown_hosts; }

RESTARTPY=$BATS_TEST_DIRNAME/../tools/rds-restart.py
UNREADPY=$BATS_TEST_DIRNAME/../tools/rds-unread.py
CTLRAWPY=$BATS_TEST_DIRNAME/../tools/rds-ctlraw.py

engine_stop() {	# engine_stop A|B kill|unload
	if [ "$2" = kill ]; then
		kill -9 "$(engine_pid "$1")"
	else
		in_host "$1" "$RDSB_BIN" unload
	fi
	for _ in $(seq 100); do
		[ -z "$(engine_pid "$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# engine_reload A|B: `rds-bpf reload` with the options of engine_up; a new
# engine process takes over
engine_reload() {	# HOST [load options]
	local before h=$1
	shift
	before=$(engine_pid "$h")
	# shellcheck disable=SC2086
	in_host "$h" "$RDSB_BIN" reload --log "${RDSB_LOG_DIR:-/tmp}/rdsb-engine-${HOSTS_PREFIX}-$h.log" \
		${RDSB_LOAD_OPTS:-} "$@"
	[ -n "$(engine_pid "$h")" ] && [ "$(engine_pid "$h")" != "$before" ]
}

# restart_app HOST HOW [CMD...]: the Python application on A against an
# echo on B; HOST's engine is stopped (HOW) once the application has
# exchanged one datagram (then CMD runs), and loaded again 2 s later.
restart_app() {	# (under `run`, which does not stop at a failed command: each check returns)
	local d=$BATS_TEST_TMPDIR app kept=""
	rds B "$RDSB_XFER" echo -b $ADDR_B:4000 -t 30 >"$d/echo" 2>&1 &
	sleep 0.3
	rds A timeout 30 python3 "$RESTARTPY" $ADDR_A 5000 $ADDR_B 4000 "$d" >"$d/app" 2>&1 &
	app=$!
	for _ in $(seq 200); do [ -e "$d/ready" ] && break; sleep 0.05; done
	[ -e "$d/ready" ] || return 1
	engine_stop "$1" "$2" || return 1
	# unloaded with a bound socket, the engine leaves only the mark that
	# tells the next one to hold datagrams for the ports of sockets coming
	# back, those ports, what it held for them, the sequence state the
	# next one goes on with (and its own messages' numbers), and on the
	# BPF receive path the sockmap that holds what the verdict delivered
	# to the sockets
	! bpf_receive || kept="rdsb_socks "
	if [ "$2" = unload ] &&
	   [ "$(ls "$(pins "$1")" | tr '\n' ' ')" != "rdsb_heldlog rdsb_ownseq rdsb_ports rdsb_seqstate ${kept}rebind " ]; then
		echo "pins left: $(ls "$(pins "$1")" | tr '\n' ' ')"
		return 1
	fi
	[ $# -le 2 ] || "${@:3}" || return 1
	[ "$1" = A ] && touch "$d/local"
	touch "$d/gone"
	sleep 2
	engine_up "$1" || return 1
	[ ! -e "$(pins "$1")/rebind" ] || { echo "the rebind mark stayed"; return 1; }
	wait "$app" || { cat "$d/app" "$d/echo"; return 1; }
	cat "$d/app"
}

app_ran() {	# the application of restart_app (in $output) ran to its end
	echo "$output"
	[ "$status" -eq 0 ] && [ "${lines[-1]}" = ok ]
}

@test "engine of the application killed -9: nonblocking calls EAGAIN, a blocked send sleeps, the socket comes back" {
	run restart_app A kill
	app_ran
	grep -qx "nonblocking send errno EAGAIN" <<<"$output"
	grep -qx "nonblocking recv errno EAGAIN" <<<"$output"
	# waited for the next engine (started 2 s after the stop), asleep
	read -r wall cpu < <(sed -n 's/^blocked send wall \([0-9.]*\) cpu \([0-9.]*\)$/\1 \2/p' <<<"$output")
	awk -v w="$wall" -v c="$cpu" 'BEGIN { exit !(w >= 1.5 && c < 0.1) }'
}

# A first send to an address has the engine make its connection first (the
# kernel's ENOMEM when the address table is full): a blocking one made while
# no engine runs waits for the next engine, as one to a known address does.
@test "engine of the application killed -9: a blocking send to an address it never sent to waits for the next engine, then goes" {
	local d=$BATS_TEST_TMPDIR app
	rds A timeout 30 python3 -c "
import os, socket, time
s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
s.bind(('$ADDR_A', 5000))
open('$d/ready.a', 'w').close()
while not os.path.exists('$d/gone'):
    time.sleep(0.05)
t = time.monotonic()
s.sendto(b'first', ('$ADDR_B', 4000))
print('sent after %.2f' % (time.monotonic() - t))
" >"$d/app" 2>&1 &
	app=$!
	wait_ready 1
	engine_stop A kill
	touch "$d/gone"
	sleep 1.5
	engine_up A
	wait $app || { cat "$d/app"; return 1; }
	cat "$d/app"
	# waited for the engine (loaded 1.5 s after the kill), then sent
	grep -q '^sent after' "$d/app"
	awk '/^sent after/ { exit !($3 >= 1.0) }' "$d/app"
}

@test "engine of the application unloaded: the socket comes back on the next engine" {
	run restart_app A unload
	app_ran
	grep -qx "nonblocking send errno EAGAIN" <<<"$output"
}

@test "engine of the peer killed -9: the peer's blocked receiver gets the datagrams sent after the restart" {
	run restart_app B kill
	app_ran
}

# lanes HOST: "path fport%8" of each path of HOST's connection that is up,
# once all 8 are (5 s)
lanes() {
	local l
	for _ in $(seq 100); do
		l=$(in_host "$1" "$RDSB_BIN" status -j |
			jq -r '.connections[].paths[] | select(.state == "up") | "\(.path) \(.fport % 8)"')
		[ "$(wc -l <<<"$l")" -eq 8 ] && break
		sleep 0.05
	done
	echo "$l"
}

@test "engine of the peer killed -9 before TCP acknowledged its echo: the echo it sends again is dropped as a retransmission, on the path it came on" {
	local d=$BATS_TEST_TMPDIR
	# every path up (a datagram to a port nobody bound opens them), each
	# lane from A on the path its client port names
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4001 -n 1 -s 100:100 >"$d/s1"
	lanes B
	[ "$(lanes B | awk '$1 == $2' | wc -l)" -eq 8 ]
	# B hears no bare ACK from A, nor A's delivery acknowledgement (which
	# carries TCP's too): the echo of "before" stays unacknowledged in B's
	# engine, and in the echo's copies, when it is killed
	in_host B tc qdisc add dev eth0 clsact
	in_host B tc filter add dev eth0 ingress bpf direct-action \
		object-file "$BATS_TEST_DIRNAME/../../build/bpf/ack_drop.bpf.o" section tc
	run restart_app B kill in_host B tc qdisc del dev eth0 clsact
	app_ran
	# the echo's library sent it again with its number, and A dropped it
	[ "$(counter B tx_resent_numbered)" -eq 1 ]
	[ "$(counter A drop_dup_seq)" -eq 1 ]
	# B's restarted engine paired each lane from A with the path A gave it
	lanes B
	[ "$(lanes B | awk '$1 == $2' | wc -l)" -eq 8 ]
}

@test "engine killed -9 with the pong it answered a ping with unacknowledged: the next engine does not wait for that number (no library sends it back), none of its paths waits" {
	local d=$BATS_TEST_TMPDIR rb w max=0
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4001 -n 1 -s 100:100 >/dev/null
	lanes B >/dev/null
	for _ in $(seq 100); do [ "$(unacked B)" = 0 ] && break; sleep 0.05; done
	[ "$(unacked B)" = 0 ]
	# B hears no acknowledgement from A: the pong stays unacknowledged
	in_host B tc qdisc add dev eth0 clsact
	in_host B tc filter add dev eth0 ingress bpf direct-action \
		object-file "$BATS_TEST_DIRNAME/../../build/bpf/ack_drop.bpf.o" section tc
	in_host A "$RDSB_BIN" ping -c 1 -i 20 $ADDR_B >"$d/ping" 2>&1
	cat "$d/ping"
	[ "$(grep -cE '^ +1: [0-9]+ usec$' "$d/ping")" -eq 1 ]
	for _ in $(seq 20); do [ "$(unacked B)" -ge 1 ] && break; sleep 0.05; done
	[ "$(unacked B)" -ge 1 ]
	engine_stop B kill
	in_host B tc qdisc del dev eth0 clsact
	rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 1 -s 100:100 -t 20 --ready "$d/ready.a" >"$d/ra" &
	rb=$!
	wait_ready 1
	engine_up B
	# a send at once makes the connection, with the numbers the engine
	# before left: its paths' resend windows, while they last (2 s)
	rds B "$RDSB_XFER" send -b $ADDR_B:5000 -d $ADDR_A:4000 -n 1 -s 100:100 >/dev/null &
	for _ in $(seq 40); do
		w=$(in_host B "$RDSB_BIN" status -j | jq '[.connections[].paths[].resend_wait] | add // 0')
		[ "$w" -gt "$max" ] && max=$w
		sleep 0.05
	done
	echo "most datagrams a path waited for: $max"
	[ "$max" -eq 0 ]
	wait $rb
	grep -q "^recv 1 msgs" "$d/ra"
	[ "$(counter A drop_flushed_gen)" -eq 0 ]
}

@test "a first engine drops a datagram for a port nobody bound at once, counted; a socket bound later does not get it" {
	local d=$BATS_TEST_TMPDIR start age rb
	[ -z "$(ls "$(pins B)/rebind" 2>/dev/null)" ]
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1 -s 100:100 -S 1 >"$d/s1"
	wait_counter B drop_no_socket 1
	# dropped, not held for RDSB_REBIND_MS (2 s) after the start: B's engine
	# is younger than that (its start time in clock ticks since boot)
	start=$(awk '{ print $22 }' "/proc/$(engine_pid B)/stat")
	age=$(awk -v s="$start" -v hz="$(getconf CLK_TCK)" '{ print $1 - s / hz }' /proc/uptime)
	echo "dropped by B's engine $age s after its start"
	awk -v a="$age" 'BEGIN { exit !(a < 2) }'
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -s 100:100 -S 2 -t 10 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1 -s 100:100 -S 2 >"$d/s2"
	wait $rb || { cat "$d/rb"; return 1; }
	cat "$d/rb"
	[ "$(sent_hash "$d/s2")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
	[ "$(counter B drop_no_socket)" -eq 1 ]
}

# xfer_done N PORT: A's sender (job $sa) and B's receiver (job $rb, which
# compares each datagram with the one of its index) ended, and B received
# all N from A's PORT, the same as sent
xfer_done() {
	local d=$BATS_TEST_TMPDIR
	wait $sa || { cat "$d/sa"; return 1; }
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^from $ADDR_A:$2 msgs $1 " "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:"$2")" ]
}

unacked() {	# unacked A|B: datagrams its engine sent that TCP has not acknowledged
	in_host "$1" "$RDSB_BIN" status -j | jq '[.connections[].paths[].unacked] | add // 0'
}

# restart_during HOST HOW N HOLD [full]: A sends N datagrams to B (A's
# sndbuf 8 MB; B's receiver starts reading after HOLD ms, so that A's
# engine holds much); HOST's engine is stopped (HOW) while they flow: A's
# sender waits after a quarter of them until the stop begins (with full,
# once A's engine holds all
# it can, unacknowledged and queued: a blackhole route on A drops what it
# sends to B until the stop), and loaded again. B's receiver must get all N
# whole, in order, once: it compares each datagram with the one of that
# index and hashes them all. recv_opts: more options for B's receiver;
# release: a file touched once the stopped engine is up again; sizes: of
# the datagrams (0:3000).
restart_during() {
	local d=$BATS_TEST_TMPDIR n=$3 sa rb at gen sent go
	held=0	# with full: what A's engine held unacknowledged, for the test
	# shellcheck disable=SC2086
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n "$n" -s "${sizes:-0:3000}" -t 40 --hold "$4" ${recv_opts:-} \
		--ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	# the sender waits after a quarter until the stop below has begun
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n "$n" -s "${sizes:-0:3000}" -t 40 --sndbuf 8000000 \
		--pause-at $((n / 4)):"$d/paused" >"$d/sa" 2>&1 &
	sa=$!
	for _ in $(seq 1000); do
		[ -e "$d/paused" ] && break
		sleep 0.01
	done
	at=$(counter A tx_msgs)
	if [ -n "${5:-}" ]; then
		# A drops what it sends to B: A's engine holds what B did not get
		in_host A ip route add blackhole $ADDR_B/32
		rm -f "$d/paused"
		for _ in $(seq 50); do	# until A's engine writes no more
			sent=$(counter A tx_msgs)
			sleep 0.3
			held=$(unacked A)
			[ "$held" -gt 0 ] && [ "$(counter A tx_msgs)" = "$sent" ] && break
		done
		echo "A's engine holds $held unacknowledged, and its queue"
	fi
	gen=$(in_host "$1" "$RDSB_BIN" status -j | jq .gen)
	# the stop begins; the sender goes on while it runs
	(sleep 0.05; rm -f "$d/paused") &
	go=$!
	if [ "$2" = reload ]; then
		engine_reload "$1"
	else
		engine_stop "$1" "$2"
	fi
	wait $go
	echo "stopped $1 ($2) at $at of $n sent by A's engine"
	[ -z "${5:-}" ] || in_host A ip route del blackhole $ADDR_B/32
	[ "$at" -lt "$n" ]
	[ -z "${5:-}" ] || [ "$held" -gt 0 ]
	[ "$2" = reload ] || engine_up "$1"
	[ -z "${release:-}" ] || touch "$release"
	wait $sa || { cat "$d/sa" "$d/rb"; return 1; }
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^sent $n msgs" "$d/sa"
	grep -q "^recv $n msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
	# after a kill the next engine went on with the generation (the pins
	# stay; an unload passes them on only if a socket was still bound
	# when it stopped): the other side saw a reconnect and flushed nothing
	[ "$2" != kill ] || [ "$(in_host "$1" "$RDSB_BIN" status -j | jq .gen)" = "$gen" ]
	[ "$(counter "$([ "$1" = A ] && echo B || echo A)" drop_flushed_gen)" -eq 0 ]
	# the next engine went on with the connection the one before had: it
	# knew the path count (no probe), as it knew each path's next_rx_seq,
	# which drops what the peer sends again and it had delivered
	[ "$(counter "$1" probes)" -eq 0 ]
}

@test "engine of the sender unloaded during a transfer of 20000 datagrams: it drains, none lost, duplicated or misordered" {
	restart_during A unload 20000 2500
}

@test "engine of the receiver unloaded during a transfer of 20000 datagrams: it drains, none lost, duplicated or misordered" {
	restart_during B unload 20000 0
	# on the BPF receive path the next engine handed the socket back to
	# the verdict: its gate is open again
	! bpf_receive ||
		bpftool -j map dump pinned "$(pins B)/rdsb_rcvq" |
		jq -e '[.[].formatted.value.gate | select(. != 0)] | length == 0'
}

@test "rds-bpf reload of the receiver's engine during a transfer of 20000 datagrams: none lost, duplicated or misordered" {
	restart_during B reload 20000 0
}

@test "unload with a send that cannot drain (peer unreachable): the ports are congested to the peers at once, not after the drain's 3 s limit" {
	local d=$BATS_TEST_TMPDIR rb stuck un
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -s 100 -t 30 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	# B's engine knows A (a connection), and holds a datagram to an
	# address nobody answers (no ARP reply): its drain runs into its limit
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1 -s 100 >"$d/sa"
	wait $rb
	rds B "$RDSB_XFER" send -b $ADDR_B:6000 -d 10.99.0.77:4000 -n 1 -s 100 -t 30 >"$d/stuck" 2>&1 &
	stuck=$!
	for _ in $(seq 100); do
		in_host B "$RDSB_BIN" status -j | jq -e '.connections[] | select(.faddr == "10.99.0.77")' >/dev/null &&
			break
		sleep 0.05
	done
	in_host A "$RDSB_BIN" info -C -j | jq -e '.congested_ports == []'
	in_host B "$RDSB_BIN" unload &
	un=$!
	# within the drain's first 2 s, A has B's bound port congested
	SECONDS=0
	until in_host A "$RDSB_BIN" info -C -j |
		jq -e --arg b $ADDR_B '.congested_ports | any(.addr == $b and .port == 6000 and .side == "peer")' >/dev/null; do
		[ "$SECONDS" -lt 2 ]
		sleep 0.05
	done
	wait $un
	grep -q 'not drained after 3000 ms' "${RDSB_LOG_DIR}/rdsb-engine-${HOSTS_PREFIX}-B.log"
	kill "$stuck" 2>/dev/null || true
	wait "$stuck" || true
}

@test "rds-bpf reload of the receiver's engine while its reader waits with more than its stream held at first: the stream grows to take what TCP acknowledged, none lost" {
	local d=$BATS_TEST_TMPDIR rb
	# rcvbuf 64 MB: no congestion; about 9 MB, past the stream's first 4 MB
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 6000 -s 0:3000 -t 40 --rcvbuf-force 67108864 \
		--hold-until "$d/go" --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	# all sent and acknowledged by B's TCP
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 6000 -s 0:3000 -t 40 >"$d/sa"
	for _ in $(seq 200); do
		[ "$(counter B rx_delivered)" -ge 6000 ] && break
		sleep 0.05
	done
	[ "$(counter B rx_delivered)" -eq 6000 ]
	# the engine holds none of it: all is in the stream
	in_host B "$RDSB_BIN" status -j | jq -e '.sockets[0].queued_bytes == 0 and .sockets[0].congested == false'
	# the reader reads nothing until the next engine runs
	engine_reload B
	touch "$d/go"
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^recv 6000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
}

# stream_buf B PORT: the size the engine gave the delivery stream of PORT
stream_buf() {
	in_host "$1" "$RDSB_BIN" status -j | jq ".sockets[] | select(.port == $2) | .stream_buf"
}

# engine_tb A|B: the largest send buffer among the engine's unix sockets, as
# the kernel has it (ss -xm's tb: twice SO_SNDBUF), its ends of the
# delivery streams among them
engine_tb() {
	in_host "$1" ss -xmpH | grep "pid=$(engine_pid "$1")," | sed -n 's/.*,tb\([0-9]*\),.*/\1/p' | sort -n | tail -1
}

@test "a reader that waits with more than its stream held at first, then reads all: the stream is back at its first size, none lost, duplicated or misordered" {
	! bpf_receive ||
		skip "on the BPF receive path the verdict delivers into the socket's sockmap queue: the stream does not grow"
	local d=$BATS_TEST_TMPDIR rb
	# rcvbuf 64 MB: no congestion; about 9 MB, past the stream's first 4 MB;
	# once it has read all, the reader keeps its socket until $d/read goes
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 6000 -s 0:3000 -t 40 --rcvbuf-force 67108864 \
		--hold-until "$d/go" --pause-at "6000:$d/read" --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	[ "$(stream_buf B 4000)" -eq 4194304 ]
	[ "$(engine_tb B)" -eq 8388608 ]
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 6000 -s 0:3000 -t 40 >"$d/sa"
	for _ in $(seq 200); do
		[ "$(counter B rx_delivered)" -ge 6000 ] && break
		sleep 0.05
	done
	[ "$(counter B rx_delivered)" -eq 6000 ]
	in_host B "$RDSB_BIN" status -j | jq -e '.sockets[0].queued_bytes == 0'
	[ "$(stream_buf B 4000)" -gt 4194304 ]
	[ "$(engine_tb B)" -gt 8388608 ]
	touch "$d/go"
	for _ in $(seq 400); do
		[ -e "$d/read" ] && break
		sleep 0.05
	done
	[ -e "$d/read" ] || { cat "$d/sa" "$d/rb"; return 1; }
	# drained: the engine's timer (once a second when idle) shrinks it
	for _ in $(seq 60); do
		[ "$(stream_buf B 4000)" -eq 4194304 ] && break
		sleep 0.05
	done
	[ "$(stream_buf B 4000)" -eq 4194304 ]
	[ "$(engine_tb B)" -eq 8388608 ]
	rm "$d/read"
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^recv 6000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
}

@test "rds-bpf reload of the receiver's engine while its port is congested by a reader that waits: none lost, duplicated or misordered" {
	local d=$BATS_TEST_TMPDIR rb sa
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 3000 -s 0:3000 -t 40 --hold-until "$d/go" \
		--ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 3000 -s 0:3000 -t 40 >"$d/sa" 2>&1 &
	sa=$!
	# the receiver reads nothing: its port is congested, the sender waits
	for _ in $(seq 100); do
		[ "$(counter B cong_set)" -gt 0 ] && break
		sleep 0.05
	done
	[ "$(counter B cong_set)" -gt 0 ]
	# the stopping engine closes the socket with its port still marked
	# congested: what the peer sent after a map clearing it would reach
	# TCP sockets that acknowledge it and close unread (a race with the
	# engine's exit: the rule itself is in tests/unit/test_sock.c)
	engine_reload B
	touch "$d/go"
	wait $sa || { cat "$d/sa" "$d/rb"; return 1; }
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^recv 3000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
}

@test "rds-bpf reload of the sender's engine during a transfer of 20000 datagrams: none lost, duplicated or misordered" {
	restart_during A reload 20000 2500
}

# reload_during_4 [load options]: 4 senders on A, 5000 datagrams each to one
# receiver on B over 8 paths; B's engine reloaded (with the options) while
# they send: none lost, duplicated or misordered
reload_during_4() {
	local d=$BATS_TEST_TMPDIR rb sa=() i
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 20000 -s 0:3000 -t 40 --senders 4 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	for i in 0 1 2 3; do
		rds A "$RDSB_XFER" send -b $ADDR_A:500$i -d $ADDR_B:4000 -n 5000 -s 0:3000 -t 40 \
			--pause-at 1000:"$d/paused.$i" >"$d/sa.$i" 2>&1 &
		sa+=($!)
	done
	for _ in $(seq 1000); do
		[ "$(ls "$d"/paused.* 2>/dev/null | wc -l)" -eq 4 ] && break
		sleep 0.01
	done
	# the senders go on while the reload runs
	(sleep 0.05; rm -f "$d"/paused.*) &
	engine_reload B "$@"
	wait $!
	for i in 0 1 2 3; do
		wait "${sa[$i]}" || { cat "$d"/sa.* "$d/rb"; return 1; }
	done
	wait $rb || { cat "$d"/sa.* "$d/rb"; return 1; }
	cat "$d"/sa.* "$d/rb"
	grep -q "^recv 20000 msgs" "$d/rb"
	for i in 0 1 2 3; do
		[ "$(sent_hash "$d/sa.$i")" = "$(recv_hash "$d/rb" $ADDR_A:500$i)" ]
	done
	[ "$(counter B drop_no_socket)" -eq 0 ]
}

@test "rds-bpf reload of the receiver's engine with --paths 2 during a transfer over 8 paths from 4 ports: the live connection keeps its 8, none lost, duplicated or misordered" {
	reload_during_4 --paths 2
	# the peer is never told a smaller count on a live connection
	in_host A "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8'
	in_host B "$RDSB_BIN" status -j | jq -e '.max_paths == 2 and .connections[0].npaths == 8'
}

@test "rds-bpf reload of the receiver's engine with --paths 2 onto the other receive path (BPF, userspace) during a transfer over 8 paths from 4 ports: what it announces is the same, the live connection keeps its 8, none lost, duplicated or misordered" {
	local to=--bpf want=bpf
	if bpf_receive; then
		[[ " ${RDSB_LOAD_OPTS:-} " != *" --sk-msg "* ]] || skip "--sk-msg needs the sockmap receive path"
		to=--no-bpf want=userspace
	fi
	reload_during_4 --paths 2 $to
	# both receive paths acknowledge delivery: nothing to tell the peer
	in_host A "$RDSB_BIN" status -j | jq -e '.connections[0].npaths == 8 and .connections[0].delivery_acks == "both"'
	in_host B "$RDSB_BIN" status -j | jq -e --arg w $want '.data_path == $w and .connections[0].npaths == 8'
	[ "$(counter A drop_stranded)" -eq 0 ]
	[ "$(counter B drop_stranded)" -eq 0 ]
}

@test "rds-bpf reload: a bad option leaves the running engine as it was; without an engine, exit 3" {
	local before
	before=$(engine_pid B)
	run in_host B "$RDSB_BIN" reload --paths 9
	[ "$status" -eq 2 ]
	[ "$(engine_pid B)" = "$before" ]
	engine_stop B unload
	run in_host B "$RDSB_BIN" reload
	echo "$output"
	[ "$status" -eq 3 ]
	[ -z "$(engine_pid B)" ]
}

# shim_reloading CASE PORT: a case of rds-shim.py on A that reloads A's
# engine itself (RELOAD, with engine_up's options) and prints "ok CASE"
shim_reloading() {
	# shellcheck disable=SC2086
	run rds A env RELOAD="$RDSB_BIN reload --log $RDSB_LOG_DIR/rdsb-engine-$HOSTS_PREFIX-A.log ${RDSB_LOAD_OPTS:-}" \
		timeout 60 python3 "$BATS_TEST_DIRNAME/../tools/rds-shim.py" "$1" $ADDR_A "$2"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 <<<"$output")" = "ok $1" ]
}

@test "rds-bpf reload: a datagram between two sockets of the host, its receiver not moved to the new engine yet, waits for it and arrives (Python)" {
	shim_reloading local-after-reload 5110
	[ "$(counter A drop_no_socket)" -eq 0 ]
}

# reload_amid SCRIPT [ARG]: runs the Python SCRIPT ADDR_A DIR [ARG] on A
# through the shim, reloads A's engine when it creates DIR/reload, then
# creates DIR/reloaded; its output in DIR/out
reload_amid() {
	local d=$BATS_TEST_TMPDIR p
	rds A python3 "$1" $ADDR_A "$d" ${2:+"$2"} >"$d/out" 2>&1 &
	p=$!
	wait_file "$d/reload"
	engine_reload A
	touch "$d/reloaded"
	wait $p
	cat "$d/out"
}

# same_size_py: DIR/same.py ADDR DIR [LIMIT]: 3 datagrams of one size from
# one socket of the host to another, DIR/reload, then (at DIR/reloaded) 3
# more; prints their first letters and count. With LIMIT, under a soft
# RLIMIT_NOFILE of LIMIT, every number under it taken at the reload but one;
# then also whether the program's numbers are still all taken (True).
same_size_py() {
	cat >"$BATS_TEST_TMPDIR/same.py" <<'PY'
import errno, os, resource, socket, sys, time
addr, d = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if limit:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
a = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
b = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
a.bind((addr, 5000))
b.bind((addr, 4000))
got = []
for i in range(3):
    a.sendto(b"%c" % (65 + i) * 100, (addr, 4000))
    got.append(b.recv(200))
full = []
while limit:
    try:
        full.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        full.pop().close()	# one number for the files below; the new engine's fds need more
        break
open(d + "/reload", "w").close()
while not os.path.exists(d + "/reloaded"):
    time.sleep(0.05)
for i in range(3, 6):
    a.sendto(b"%c" % (65 + i) * 100, (addr, 4000))
b.settimeout(5)
try:
    while len(got) < 6:
        got.append(b.recv(200))
except socket.timeout:
    pass
print(b"".join(m[:1] for m in got).decode(), len(got),
      *([len([f for f in map(int, os.listdir("/proc/self/fd")) if f < limit]) == limit] if limit else []))
PY
}

@test "rds-bpf reload between datagrams of one size from one socket of the host to another: the 3 after it are not taken for copies of the 3 before, 6 of 6 arrive (Python)" {
	same_size_py
	reload_amid "$BATS_TEST_TMPDIR/same.py"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "ABCDEF 6" ]
}

@test "rds-bpf reload with every fd number under the program's RLIMIT_NOFILE taken: its sockets move to the new engine, their new descriptors above the limit, 6 of 6 arrive (Python)" {
	same_size_py
	reload_amid "$BATS_TEST_TMPDIR/same.py" 100
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "ABCDEF 6 True" ]
}

# A process that gets the socket after it moved (exec, SCM_RIGHTS) shares
# its locks, its state and its request count with those that held it before
# (the first engine's page): else two senders place payloads in the copy
# ring at once, and each counts the requests alone.
@test "rds-bpf reload, then the socket given to a new process (exec): it and the process that moved the socket send at once, payloads of 4 to 44 KiB in the copy ring, 2 x 300 each whole, once, in order (Python)" {
	shim_reloading senders-after-reload 5100
}

@test "engine of the sender killed -9 during a transfer of 20000 datagrams: the library sends again what it held, none lost, duplicated or misordered" {
	restart_during A kill 20000 0 full
	# what the killed engine held came back from the library, numbered as
	# before: every datagram it had sent and TCP had not acknowledged, the
	# last of them too (the next engine reads them all before it writes)
	[ "$(counter A tx_resent_numbered)" -ge "$held" ]
}

@test "engine of the sender killed -9 during a transfer of 3000 datagrams of up to 64 KiB, their payloads in the copy ring where there is room: the library sends again what it held, none lost, duplicated or misordered" {
	sizes=0:65536 restart_during A kill 3000 0 full
	[ "$(counter A tx_resent_numbered)" -ge "$held" ]
	# the next engine took payloads in the ring too
	[ "$(counter A tx_in_ring)" -gt 0 ]
}

@test "engine of the receiver killed -9 while the sender's engine holds what it did not get: the sender resends on the same generation, none lost, duplicated or misordered" {
	restart_during B kill 20000 0 full
}

@test "engine of the receiver killed -9 during a transfer of 20000 datagrams to a slow reader: the sender kept what the receiver had not written into the stream, none lost, duplicated or misordered" {
	# rcvbuf 64 MB: no congestion stops A; B's reader reads nothing until
	# B's next engine is up, so that B's killed engine held what it had
	# received in its streams, its queue and its TCP (whose reader then
	# comes back within the next engine's rebind time: docs/design.md); on
	# the BPF receive path, in the socket's sockmap queue, which the next
	# engine holds
	recv_opts="--rcvbuf-force 67108864 --hold-until $BATS_TEST_TMPDIR/go" release=$BATS_TEST_TMPDIR/go \
		restart_during B kill 20000 0
	# A kept what B's TCP acknowledged until B acknowledged its delivery:
	# B's engines sent such acknowledgements, A read them (docs/protocol.md 1.4)
	[ "$(counter B tx_deliv_acks)" -gt 0 ]
	[ "$(counter A rx_deliv_acks)" -gt 0 ]
	[ "$(counter A drop_bad_deliv_ack)" -eq 0 ]
}

# recvq B: the bytes B's path sockets hold unread (TCP acknowledged them)
recvq() {
	in_host B ss -tnH state established "( sport = :16385 or dport = :16385 )" | awk '{n += $1} END {print n + 0}'
}

@test "engine of the receiver stopped, then killed -9 with what TCP acknowledged unread in its path sockets: the sender kept it for want of a delivery acknowledgement, 1000 of 1000 in order" {
	! bpf_receive ||
		skip "on the BPF receive path the verdict reads the path sockets while the engine is stopped: the next test is its case"
	local d=$BATS_TEST_TMPDIR rb sa q=0 last=-1
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1010 -s 0:2000 -t 40 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 10 -s 0:2000 >/dev/null
	kill -STOP "$(engine_pid B)"
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4000 -n 1000 -s 0:2000 -t 40 --sndbuf 8000000 >"$d/sa" 2>&1 &
	sa=$!
	# until B's TCP holds what it acknowledged and takes no more
	for _ in $(seq 100); do
		sleep 0.1
		q=$(recvq)
		[ "$q" -gt 0 ] && [ "$q" = "$last" ] && break
		last=$q
	done
	echo "B's path sockets hold $q bytes unread"
	[ "$q" -gt 0 ]
	kill -9 "$(engine_pid B)"
	for _ in $(seq 100); do [ -z "$(engine_pid B)" ] && break; sleep 0.05; done
	engine_up B
	xfer_done 1000 5001
	[ "$(counter A drop_flushed_gen)" -eq 0 ]
}

# On the BPF receive path what the engine has not yet written is what the
# verdict sent its inbox (here the ping, and every record of the ping's path
# after it) and what the stream parser holds of a record.
@test "engine of the receiver stopped, then killed -9 with a ping it had not answered and datagrams behind it: the sender kept them for want of a delivery acknowledgement, the ping is answered, 1000 of 1000 in order" {
	local d=$BATS_TEST_TMPDIR rb sa pp
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1010 -s 0:2000 -t 40 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 10 -s 0:2000 >/dev/null
	kill -STOP "$(engine_pid B)"
	in_host A "$RDSB_BIN" ping -c 1 -i 20 $ADDR_B >"$d/ping" 2>&1 &
	pp=$!
	rds A "$RDSB_XFER" send -b $ADDR_A:5001 -d $ADDR_B:4000 -n 1000 -s 0:2000 -t 40 --sndbuf 8000000 >"$d/sa" 2>&1 &
	sa=$!
	sleep 1
	kill -9 "$(engine_pid B)"
	for _ in $(seq 100); do [ -z "$(engine_pid B)" ] && break; sleep 0.05; done
	engine_up B
	xfer_done 1000 5001
	wait $pp || { cat "$d/ping"; return 1; }
	cat "$d/ping"
	[ "$(grep -cE '^ +1: [0-9]+ usec$' "$d/ping")" -eq 1 ]
	[ "$(counter A drop_flushed_gen)" -eq 0 ]
}

@test "engine of the receiver killed -9: what arrives before the receiver's socket is back on the next engine waits for it, 5000 of 5000 in order" {
	local d=$BATS_TEST_TMPDIR rb
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 5000 -s 0:3000 -t 30 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	engine_stop B kill
	sleep 0.3	# the receiver finds its engine gone and waits for the next
	engine_up B
	# sent at once: the first arrive before the receiver looks again
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 5000 -s 0:3000 -t 30 >"$d/sa"
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^recv 5000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
	[ "$(counter B drop_no_socket)" -eq 0 ]
}

# gdb_kill HOST GDB-ARGS...: HOST's engine, stopped by gdb where the
# arguments say, killed there (SIGKILL); gdb's words in $BATS_TEST_TMPDIR/gdb
gdb_kill() {
	local h=$1
	shift
	timeout 60 gdb -p "$(engine_pid "$h")" -batch -ex 'set pagination off' "$@" -ex kill \
		>"$BATS_TEST_TMPDIR/gdb" 2>&1 || true
	for _ in $(seq 100); do
		[ -z "$(engine_pid "$h")" ] && return 0
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/gdb"
	return 1
}

@test "engine of the receiver killed -9 right before a write into a stream, then right after one, before it counted the write: none lost, the copies of the last write dropped, 20000 of 20000 once and in order" {
	! bpf_receive ||
		skip "the engine's own writes (the verdict counts what it delivers as it delivers it)"
	local d=$BATS_TEST_TMPDIR rb sa
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 20000 -s 0:3000 -t 60 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 20000 -s 0:3000 -t 60 \
		--pause-at 2000:"$d/paused" >"$d/sa" 2>&1 &
	sa=$!
	for _ in $(seq 1000); do
		[ -e "$d/paused" ] && break
		sleep 0.01
	done
	(sleep 0.3; rm -f "$d/paused") &
	# before: in a write of records into the receiver's stream, at the
	# syscall (an engine that counted them received first lost them)
	gdb_kill B -ex 'break rdsb_records_write if w->encode == delivery_hdr' -ex continue -ex delete \
		-ex 'break sendmsg' -ex continue
	grep -q "Breakpoint 2, .*sendmsg" "$d/gdb" || { cat "$d/gdb"; false; }
	engine_up B
	# after: the write took its records, not yet counted received (the
	# peer sends them again; the library has them already)
	gdb_kill B -ex 'break rdsb_msg_rx_done if $_caller_is("delivered")' -ex continue
	grep -q "Breakpoint 1, rdsb_msg_rx_done" "$d/gdb" || { cat "$d/gdb"; false; }
	engine_up B
	wait $sa || { cat "$d/sa" "$d/rb"; return 1; }
	wait $rb || { cat "$d/sa" "$d/rb"; return 1; }
	cat "$d/sa" "$d/rb"
	grep -q "^recv 20000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
}

@test "engine of the receiver killed -9 with 150 datagrams in its stopped reader's socket: the next engine keeps them readable, 150 of 150 in order" {
	local d=$BATS_TEST_TMPDIR rpid
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 150 -s 0:1000 -t 30 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rpid=$(proc_of B rds-xfer)
	[ -n "$rpid" ]
	kill -STOP "$rpid"
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 150 -s 0:1000 -t 30 >"$d/sa" 2>&1 &
	sa=$!
	# all 150 in the reader's socket (on the BPF receive path, its sockmap
	# queue: the next engine holds the map it is in, or it goes with it)
	wait_counter B rx_delivered 150
	engine_stop B kill
	engine_up B
	kill -CONT "$rpid"
	xfer_done 150 5000
}

# Five applications on B, each with 50 datagrams unread in its socket when
# the engine is killed; its first call after the next engine is up is a
# send, a poll, an epoll_wait, a setsockopt, a recv: that call moves the
# socket to the new engine, and what the killed one delivered is read
# first, then what comes after. The option set first is the new engine's.
# The one that receives first has its stream's kernel receive buffer at its
# least: on the BPF receive path what the verdict redirected waits in the
# psock's backlog, and the reader finds the stream's end before the kernel's
# worker has moved each record into its queue.
@test "engine of the receiver killed -9 with datagrams unread in sockets whose applications then send, poll, epoll, setsockopt, peek before every recv or recv first (the last one's records in the psock backlog): 50 of 50 each, then the next engine's, in order" {
	local d=$BATS_TEST_TMPDIR mode port pids=() dests="" modes="send poll epoll setsockopt peek backlog"
	port=4001
	for mode in $modes; do
		rds B timeout 60 python3 "$UNREADPY" recv $ADDR_B $port $ADDR_A:5000 50 "$d" $mode >"$d/r.$mode" 2>&1 &
		pids+=($!)
		dests+="${dests:+,}$ADDR_B:$port"
		port=$((port + 1))
	done
	wait_ready 6
	rds A timeout 60 python3 "$UNREADPY" send $ADDR_A 5000 "$dests" 50 "$d" >"$d/sa" 2>&1 &
	sa=$!
	wait_counter B rx_delivered 300
	engine_stop B kill
	engine_up B
	touch "$d/go"
	for port in 4001 4002 4003 4004 4005 4006; do
		for _ in $(seq 200); do [ -e "$d/first.$port" ] && break; sleep 0.05; done
	done
	# the receive buffer set after the kill is the new engine's (SO_RCVBUF / 2)
	in_host B "$RDSB_BIN" info -k -j | jq -e '.sockets[] | select(.bound_port == 4004) | .rcvbuf == 300000'
	touch "$d/new"
	for mode in $modes; do
		wait "${pids[0]}" || { cat "$d/r.$mode"; return 1; }
		pids=("${pids[@]:1}")
		cat "$d/r.$mode"
		[ "$(cat "$d/r.$mode")" = "ok 51" ]
	done
	touch "$d/done"
	wait $sa || { cat "$d/sa"; return 1; }
}

# B's engine reloaded (or killed -9) while its reader is stopped (SIGSTOP)
# in a recv: on the BPF receive path most of what the verdict delivered
# waits in the psock's backlog (the reader's stream has its kernel receive
# buffer at its least), which a kernel worker moves into the socket as room
# comes. Then a SCHED_FIFO loop takes each CPU for 300 ms, the reader above
# them, as the reader goes on: the worker waits. A stopped engine said how
# much its stream carried (rdsb_sock_shm rx_end); of a killed one, the next
# engine says what the verdict delivered (its old rdsb_rcvq), the page what
# the engine wrote. The reader waits at the end for the rest, and after a
# kill keeps the old stream while no engine runs. Before, it took the end
# after 20 ms of nothing, and the backlog went with the old stream
# (datagrams 1 to 107 lost).
backlog_behind_stop() {	# reload | kill (the next engine after) | kill-load (before)
	local d=$BATS_TEST_TMPDIR rb sa rpid c hogs=()
	chrt -f 1 true || skip "no SCHED_FIFO here"
	rds B env RDS_UNREAD_PAD=1000 timeout 60 python3 "$UNREADPY" recv $ADDR_B 4001 $ADDR_A:5000 3000 "$d" backlog \
		>"$d/rb" 2>&1 &
	rb=$!
	wait_ready 1
	touch "$d/go"
	[ -e "$d/first.4001" ] || sleep 0.2
	rpid=$(proc_of B python3)
	[ -n "$rpid" ]
	kill -STOP "$rpid"
	rds A env RDS_UNREAD_PAD=1000 timeout 60 python3 "$UNREADPY" send $ADDR_A 5000 $ADDR_B:4001 3000 "$d" \
		>"$d/sa" 2>&1 &
	sa=$!
	# what B takes before the port is congested (SO_RCVBUF): about 100
	for _ in $(seq 200); do [ "$(counter B rx_delivered)" -ge 100 ] && break; sleep 0.05; done
	[ "$(counter B rx_delivered)" -ge 100 ]
	if [ "$1" = reload ]; then
		engine_reload B
		! bpf_receive ||
			grep -q 'not drained after 3000 ms' "${RDSB_LOG_DIR}/rdsb-engine-${HOSTS_PREFIX}-B.log"
	else
		engine_stop B kill
		if [ "$1" = kill-load ]; then
			engine_up B
			# above the loops too: the reader finds it at the end
			chrt -a -f -p 60 "$(engine_pid B)"
		fi
	fi
	chrt -f -p 60 "$rpid"
	# each loop ends itself, after 300 ms or 1000000 turns (about 5 s), as
	# a timeout beside it at its priority would never run
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" chrt -f 50 bash -c 'e=$(( ${EPOCHREALTIME/./} + 300000 )) n=0
			while (( ${EPOCHREALTIME/./} < e && ++n < 1000000 )); do :; done' &
		hogs+=($!)
	done
	kill -CONT "$rpid"
	wait "${hogs[@]}"
	[ "$1" != kill ] || engine_up B
	for _ in $(seq 200); do [ -e "$d/sent" ] && break; sleep 0.05; done
	touch "$d/new"
	wait $rb || { cat "$d/rb"; return 1; }
	cat "$d/rb"
	[ "$(cat "$d/rb")" = "ok 3001" ]
	touch "$d/done"
	wait $sa || { cat "$d/sa"; return 1; }
}

@test "rds-bpf reload of the receiver's engine with what it delivered unread in the psock backlog, the kernel's worker kept off the CPUs as the reader comes to the end: 3000 of 3000 in order" {
	backlog_behind_stop reload
}

@test "engine of the receiver killed -9 with what it delivered unread in the psock backlog, the kernel's worker kept off the CPUs as the reader comes to the end while no engine runs: 3000 of 3000 in order" {
	backlog_behind_stop kill
}

@test "engine of the receiver killed -9 with what it delivered unread in the psock backlog, the next engine loaded, the kernel's worker kept off the CPUs as the reader comes to the end: 3000 of 3000 in order" {
	backlog_behind_stop kill-load
}

# RDSB_CTL_STREAM_END (13) as a program past the library could send it, to
# the engine after a killed one (on the BPF receive path it holds the killed
# one's rdsb_socks and rdsb_rcvq): no index, an index past the maps, an
# index with a cookie that is not the socket's there (the receiver stopped,
# so its socket is still in the killed engine's map at index 0, 1 in the
# request): refused, and the engine goes on (a datagram after them arrives).
@test "engine killed -9: a request for a stream's length with no index, an index past the maps or a wrong cookie is refused (EINVAL, ENOENT), the next engine goes on" {
	local d=$BATS_TEST_TMPDIR
	stopped_receiver 1
	run in_host B python3 "$CTLRAWPY" 13 0 0
	echo "$output"; [[ "$output" = "err 22 val 0 abi "* ]]
	run in_host B python3 "$CTLRAWPY" 13 0xffffffff 0
	echo "$output"; [[ "$output" = "err 2 val 0 abi "* ]]
	for i in 1 2 3; do
		run in_host B python3 "$CTLRAWPY" 13 $i 12345
		echo "$output"; [[ "$output" = "err 2 val 0 abi "* ]]
	done
	kill -CONT "$rpid"
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1 -s 0:3000 -t 30 >"$d/sa"
	wait $rb || { cat "$d/rb"; return 1; }
	grep -q "^recv 1 msgs" "$d/rb"
}

# A sender's engine killed -9 with what it sent unacknowledged (a blackhole
# route on A: B's TCP never got it), the sender calling nothing on its socket
# afterwards (Python's socket module under the shim, waiting for a file):
# the library's copies go to the next engine by themselves, as the kernel
# delivers what sendmsg accepted whatever its sender does next.
@test "engine of the sender killed -9 with 50 datagrams unacknowledged, its application calling nothing on the socket afterwards: the next engine, loaded 1 s later, gets them from the library at once, 50 of 50 in order, the sender's CPU under 1 s" {
	local d=$BATS_TEST_TMPDIR rb sa
	rds B timeout 60 python3 "$UNREADPY" recv $ADDR_B 4001 $ADDR_A:5000 50 "$d" recv >"$d/rb" 2>&1 &
	rb=$!
	wait_ready 1
	touch "$d/go"
	# the connection up, then nothing more reaches B
	in_host A "$RDSB_BIN" ping -c 1 -i 20 $ADDR_B >"$d/ping" 2>&1
	in_host A ip route add blackhole $ADDR_B/32
	rds A timeout 60 python3 "$UNREADPY" send $ADDR_A 5000 $ADDR_B:4001 50 "$d" >"$d/sa" 2>&1 &
	sa=$!
	for _ in $(seq 100); do [ -e "$d/sent" ] && break; sleep 0.05; done
	[ -e "$d/sent" ]
	for _ in $(seq 100); do [ "$(unacked A)" -ge 50 ] && break; sleep 0.05; done
	[ "$(unacked A)" -ge 50 ]
	[ "$(counter B rx_delivered)" -eq 0 ]
	engine_stop A kill
	# the dead engine's TCP connections would still deliver it, orphans
	# sending on once the route is back: gone with what they held
	in_host A ss -K dst $ADDR_B >/dev/null
	[ -z "$(in_host A ss -tnH dst $ADDR_B)" ]
	in_host A ip route del blackhole $ADDR_B/32
	sleep 1	# no engine meanwhile: the library waits for one
	engine_up A
	# within the rebind time (2 s) and without a call of the sender's
	SECONDS=0
	until [ "$(counter B rx_delivered)" -ge 50 ]; do
		[ "$SECONDS" -lt 5 ] || { echo "B has $(counter B rx_delivered) of 50"; return 1; }
		sleep 0.05
	done
	touch "$d/new"
	wait $rb || { cat "$d/rb"; return 1; }
	[ "$(cat "$d/rb")" = "ok 51" ]
	touch "$d/done"
	wait $sa || { cat "$d/sa"; return 1; }
	[ "$(counter B rx_delivered)" -eq 51 ]
}

# proc_of HOST COMM: the pid of the one process COMM in HOST's namespace
proc_of() {
	local p
	for p in $(ip netns pids "$(ns_of "$1")"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
	done
	true
}

# past_rebind HOST: HOST's engine started more than its rebind time (2 s)
# ago (its start time in clock ticks since boot)
past_rebind() {
	for _ in $(seq 100); do
		awk -v a="$(engine_age "$1")" 'BEGIN { exit !(a > 2.2) }' && return 0
		sleep 0.1
	done
	return 1
}

engine_age() {	# engine_age HOST: seconds since HOST's engine started (its rebind time starts after)
	local start
	start=$(awk '{ print $22 }' "/proc/$(engine_pid "$1")/stat")
	awk -v s="$start" -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", $1 - s / hz }' /proc/uptime
}

# within_rebind HOST: HOST's engine is less than 1.8 s old (its rebind
# time, 2 s, is not over)
within_rebind() {
	local age
	age=$(engine_age "$1")
	echo "engine $1 started $age s ago"
	awk -v a="$age" 'BEGIN { exit !(a < 1.8) }'
}

held() {	# held HOST PORT: the bytes HOST's engine holds for that port of a socket not back yet
	in_host "$1" "$RDSB_BIN" status -j | jq ".held_ports[] | select(.port == $2) | .held_bytes"
}

# stopped_receiver N [SIZES]: B's receiver of N datagrams (sizes 0:3000) is
# bound, then stopped (SIGSTOP: it calls on its socket no more), and B's
# engine is killed -9 and loaded again; $rb is the receiver's job, $rpid its
# process
stopped_receiver() {
	local d=$BATS_TEST_TMPDIR
	# shellcheck disable=SC2086
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n "$1" -s "${2:-0:3000}" -t 30 ${recv_opts:-} --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	rpid=$(proc_of B rds-xfer)
	[ -n "$rpid" ]
	kill -STOP "$rpid"
	engine_stop B kill
	engine_up B
	past_rebind B
}

@test "engine of the receiver killed -9 while its receiver calls on its socket no more until past the next engine's rebind time: the port is held for it, congested, not dropped, 3000 of 3000 in order" {
	local d=$BATS_TEST_TMPDIR sa
	stopped_receiver 3000
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 3000 -s 0:3000 -t 30 >"$d/sa" 2>&1 &
	sa=$!
	# B's engine holds datagrams for the port while its socket is away,
	# up to the socket's receive buffer: then the port is congested and
	# A's sender waits (without the hold, B drops them)
	for _ in $(seq 200); do
		[ "$(in_host B "$RDSB_BIN" status -j | jq '.held_ports[0].congested')" = true ] && break
		[ "$(counter B drop_no_socket)" -gt 0 ] && break
		sleep 0.05
	done
	[ "$(in_host B "$RDSB_BIN" status -j | jq '.held_ports[0].congested')" = true ] ||
		[ "$(counter B drop_no_socket)" -gt 0 ]
	kill -CONT "$rpid"
	xfer_done 3000 5000
	[ "$(counter B drop_no_socket)" -eq 0 ]
}

@test "engine of the receiver killed -9, then its stopped receiver killed: what the next engine held for its port is dropped, counted, and another process binds the port" {
	local d=$BATS_TEST_TMPDIR sa
	stopped_receiver 10
	# with delivery acknowledgements it waits for B's
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 10 -s 100:100 -S 1 -t 30 >"$d/s1" &
	sa=$!
	# held, not dropped: the receiver's process lives
	for _ in $(seq 100); do
		[ "$(held B 4000)" = 1000 ] && break
		sleep 0.05
	done
	[ "$(held B 4000)" = 1000 ]
	# bound by the socket of the engine before, while its process lives
	run rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -t 1
	[ "$status" -ne 0 ]
	[[ "$output" == *"Address already in use"* ]]
	kill -9 "$rpid"
	wait $rb || true
	wait_counter B drop_no_socket 10
	[ -z "$(held B 4000)" ]
	wait $sa
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1 -s 100:100 -S 2 -t 10 --ready "$d/ready.c" >"$d/rc" &
	rb=$!
	wait_ready 2
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1 -s 100:100 -S 2 >"$d/s2"
	wait $rb || { cat "$d/rc"; return 1; }
	[ "$(sent_hash "$d/s2")" = "$(recv_hash "$d/rc" $ADDR_A:5000)" ]
}

# held_twice kill|unload: B's engine, killed -9 while B's receiver is
# stopped, is loaded again; A sends 50 datagrams that it holds for the
# receiver's port (below the socket's receive buffer: the port is not
# congested), each acknowledged to A; then B's engine goes again (HOW) and
# is loaded again before the receiver goes on: it gets all 50 once, in
# order, from the held log (without it, lost with the engine that held them)
held_twice() {
	local d=$BATS_TEST_TMPDIR sa bytes
	stopped_receiver 50 0:2000
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 50 -s 0:2000 -t 30 >"$d/sa" &
	sa=$!
	for _ in $(seq 100); do
		bytes=$(sed -n 's/^sent 50 msgs \([0-9]*\) bytes.*/\1/p' "$d/sa")
		[ -n "$bytes" ] && [ "$(held B 4000)" = "$bytes" ] && [ "$(unacked A)" = 0 ] && break
		sleep 0.05
	done
	echo "sent $bytes bytes, B holds $(held B 4000), A unacknowledged $(unacked A)"
	[ "$(held B 4000)" = "$bytes" ] && [ "$(unacked A)" = 0 ]
	engine_stop B "$1"
	engine_up B
	[ "$(held B 4000)" = "$bytes" ]
	kill -CONT "$rpid"
	xfer_done 50 5000
	[ "$(counter B drop_no_socket)" -eq 0 ]
	[ "$(counter B rx_held_unsaved)" -eq 0 ]
}

@test "engine of the receiver killed -9 twice while its receiver calls on its socket no more: what the engine between held for its port, acknowledged to the sender, outlives it, 50 of 50 once and in order" {
	held_twice kill
}

@test "engine of the receiver killed -9 twice while its receiver calls on its socket no more, the sender a socket of the same host: what the engine between held for the port, acknowledged at once, outlives it, 50 of 50 once and in order" {
	local d=$BATS_TEST_TMPDIR bytes
	stopped_receiver 50 0:2000
	# the loopback transport: acknowledged as soon as it is held
	rds B "$RDSB_XFER" send -b $ADDR_B:5000 -d $ADDR_B:4000 -n 50 -s 0:2000 -t 30 >"$d/sa"
	bytes=$(sed -n 's/^sent 50 msgs \([0-9]*\) bytes.*/\1/p' "$d/sa")
	echo "sent $bytes bytes, B holds $(held B 4000)"
	[ -n "$bytes" ] && [ "$(held B 4000)" = "$bytes" ]
	engine_stop B kill
	engine_up B
	# from the held log (without it, lost with the engine that held them)
	[ "$(held B 4000)" = "$bytes" ]
	kill -CONT "$rpid"
	wait $rb || { cat "$d/rb"; false; }
	cat "$d/rb"
	grep -q "^from $ADDR_B:5000 msgs 50 " "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_B:5000)" ]
	[ "$(counter B drop_no_socket)" -eq 0 ]
	[ "$(counter B rx_held_unsaved)" -eq 0 ]
}

@test "engine killed -9 twice, the sender a socket of the same host and its port bound by nobody yet: what the engine between held for its rebind time, acknowledged at once, outlives it, 50 of 50 once and in order" {
	local d=$BATS_TEST_TMPDIR sp rb
	# the sender's socket on the first engine; it sends on the second, in
	# its rebind time, to a port nobody bound
	rds B "$RDSB_XFER" send -b $ADDR_B:5000 -d $ADDR_B:4000 -n 50 -s 0:2000 -t 30 \
		--pause-at 0:"$d/paused" >"$d/sa" &
	sp=$!
	wait_file "$d/paused"
	engine_stop B kill
	engine_up B
	rm "$d/paused"
	wait $sp
	within_rebind B || skip "the datagrams were sent late in the engine's rebind time (a slow machine)"
	# what it held for the rebind time, from the held log (without it,
	# lost with the engine: the sender was told at once and sends no more)
	engine_stop B kill
	engine_up B
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 50 -s 0:2000 -t 10 --ready "$d/ready.b" >"$d/rb" &
	rb=$!
	wait_ready 1
	within_rebind B || { kill $rb; skip "the receiver bound late in the engine's rebind time (a slow machine)"; }
	wait $rb || { cat "$d/rb"; false; }
	cat "$d/rb"
	grep -q "^from $ADDR_B:5000 msgs 50 " "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_B:5000)" ]
	[ "$(counter B drop_no_socket)" -eq 0 ]
}

@test "engine of the receiver killed -9 right after the write that took what it held for a port, before its held log said so: the next engine's copies are dropped, 60 of 60 once and in order" {
	local d=$BATS_TEST_TMPDIR sa g was=-1 now
	# each datagram peeked first: a peek must not show a copy either
	recv_opts=--peek stopped_receiver 60 0:2000
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 60 -s 0:2000 -t 30 \
		--pause-at 50:"$d/paused" >"$d/sa" &
	sa=$!
	# B's engine holds the first 50 for the stopped receiver, acknowledged
	for _ in $(seq 100); do
		now=$(held B 4000)
		[ -e "$d/paused" ] && [ "$(unacked A)" = 0 ] && [ "$now" = "$was" ] && break
		was=$now
		sleep 0.1
	done
	echo "B holds $now bytes, A unacknowledged $(unacked A)"
	[ "$now" -gt 0 ] && [ "$now" = "$was" ]
	# the receiver goes on; its engine is killed once the write into its
	# stream took them, before the held log said so: the next engine
	# delivers them again from the log, and the library drops the copies
	gdb_kill B -ex 'break rdsb_heldlog_written' -ex continue &
	g=$!
	for _ in $(seq 200); do
		grep -q "^Breakpoint 1 at" "$d/gdb" 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.3
	kill -CONT "$rpid"
	wait $g
	grep -q "Breakpoint 1, rdsb_heldlog_written" "$d/gdb" || { cat "$d/gdb"; false; }
	engine_up B
	# the last 10 come after the copies
	rm -f "$d/paused"
	xfer_done 60 5000
	[ "$(counter B drop_no_socket)" -eq 0 ]
}

@test "engine of the receiver killed -9, then the next one unloaded while its receiver calls on its socket no more: what it held for the port goes to the engine after it, 50 of 50 once and in order" {
	held_twice unload
}

@test "xdp: load after the engine was killed -9 detaches the XDP program it left; another program on the device stays an error" {
	[ -z "${RDSB_LOAD_OPTS:-}" ] || skip "the xdp transport takes no data-path option (--bpf, --no-bpf, --sk-msg): runs in the default round"
	local d=$BATS_TEST_TMPDIR
	engine_stop A unload
	engine_stop B unload
	engine_up A --transport xdp --dev eth0
	engine_up B --transport xdp --dev eth0
	engine_stop A kill
	in_host A ip -j link show dev eth0 | jq -e '.[0].xdp.prog.name == "rdsx_xdp"'
	run engine_up A --transport xdp --dev eth0
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^rds-bpf: detached the XDP program (id [0-9]*) a stopped engine left on eth0$" <<<"$output"
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 2000 -s 0:3000 -t 30 --ready "$d/ready.b" >"$d/rb" &
	local rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 2000 -s 0:3000 -t 30 >"$d/sa"
	wait $rb
	grep -q "^recv 2000 msgs" "$d/rb"
	[ "$(sent_hash "$d/sa")" = "$(recv_hash "$d/rb" $ADDR_A:5000)" ]
	# a program that is not rds-bpf's stays attached, and load says so
	engine_stop A kill
	# (skb mode by default on veth: the program it left is a generic one)
	in_host A ip link set dev eth0 xdpgeneric off
	in_host A ip link set dev eth0 xdpdrv off
	in_host A ip link set dev eth0 xdpgeneric obj "$BATS_TEST_DIRNAME/../../build/bpf/rules.bpf.o" sec xdp
	run engine_up A --transport xdp --dev eth0 --mode skb
	[ "$status" -ne 0 ]
	grep -q "cannot attach XDP to eth0: .*hint: another program's XDP program is attached" <<<"$output"
	in_host A ip -j link show dev eth0 | jq -e '.[0].xdp.prog.name != "rdsx_xdp"'
}
