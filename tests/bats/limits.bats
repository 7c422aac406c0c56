#!/usr/bin/env bats
# Limits: what peers and applications hold in the engine is bounded and
# given back. Address slots: a connection that is idle (no path up, nothing
# queued) is freed after 10 s, and its address slots are taken for new
# addresses 10 s after that (the quarantine: readers name senders by slot);
# when none is left, a send to a new destination fails with ENOMEM.
# Lanes parked for a path: 16 per peer address, so that a connect storm
# (raw peers from 32 addresses, or 16 engines on the bridge of
# hosts_up_bridged) resets none: before, the 16 places were shared, and the
# storm of engines reset 1106 lanes, and lost datagrams. Sends: 4 MiB held per
# connection in the sending engine, beyond each socket's sndbuf.
# RDS/TCP: the peers here are raw TCP peers, and lanes are TCP connections.

load helpers

setup() {
	[ "${RDSB_TRANSPORT:-tcp}" = tcp ] || skip "RDS/TCP only"
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	export RDSB_LOG_DIR="$BATS_TEST_TMPDIR"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	hosts_up_bridged "$(hosts_name rb)"
	engine_up B
}
teardown() {
	local ns
	for ns in ${STORM_NS:-}; do
		in_host "$ns" "$RDSB_BIN" unload >/dev/null 2>&1 || true
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "${NS_A:-}" ]; then teardown_hosts; fi
}

# storm_hosts N: N more hosts 10.99.0.(10+i) with engines, on a bridge
# with A and B (hosts_up_bridged)
storm_hosts() {
	local i ns
	for i in $(seq 1 "$1"); do
		ns=${HOSTS_PREFIX}p$i
		ip netns add "$ns"
		STORM_NS="${STORM_NS:-} $ns"
		ip link add "${HOSTS_PREFIX}v$i" netns "$ns" type veth peer name "p$i" netns "$NS_W"
		in_host W ip link set "p$i" master br0
		in_host W ip link set "p$i" up
		in_host "$ns" ip link set lo up
		in_host "$ns" ip addr add "10.99.0.$((10 + i))/24" dev "${HOSTS_PREFIX}v$i"
		in_host "$ns" ip link set "${HOSTS_PREFIX}v$i" up
		in_host "$ns" "$RDSB_BIN" load --log "$BATS_TEST_TMPDIR/rdsb-engine-$ns.log" >/dev/null
	done
}

# fill FIRST N [BIND]: a socket on B bound to $ADDR_B:4600 sends one datagram
# to each of N unreachable destinations 10.97.x.y from the FIRST-th on
# (prints "sent S" and how many sendmsg failed, by errno), then a second
# socket binds to BIND (prints "bind ok" or the errno's name)
fill() {
	rds B python3 - "$ADDR_B" "$@" <<'PY'
import errno, socket, sys
s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
s.bind((sys.argv[1], 4600))
first, n = int(sys.argv[2]), int(sys.argv[3])
sent, failed = 0, {}
for i in range(first, first + n):
    try:
        s.sendto(b"x" * 64, ("10.97.%d.%d" % (i // 250, i % 250 + 1), 4000))
        sent += 1
    except OSError as e:
        failed[errno.errorcode[e.errno]] = failed.get(errno.errorcode[e.errno], 0) + 1
print("sent", sent, *("%s %d" % kv for kv in sorted(failed.items())))
if len(sys.argv) > 4:
    t = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    try:
        t.bind((sys.argv[4], 4700))
        print("bind ok")
    except OSError as e:
        print("bind", errno.errorcode[e.errno])
PY
}

connections() { in_host B "$RDSB_BIN" status -j | jq '.connections | length'; }

@test "a full address table: sends to new destinations fail with ENOMEM, binds with EADDRNOTAVAIL; idle connections give their slots back" {
	connection_setup_test
	in_host B ip addr add 10.99.0.5/24 dev eth0
	# 256 slots: B's own address and 255 destinations; 45 sends find none
	# and fail at sendmsg, as the kernel's (rds_conn_create_outgoing)
	run fill 0 300 10.99.0.5
	echo "$output"
	[ "${lines[0]}" = "sent 255 ENOMEM 45" ]
	[ "${lines[1]}" = "bind EADDRNOTAVAIL" ]
	[ "$(counter B drop_no_connection)" -eq 0 ]
	[ "$(connections)" -eq 255 ]
	grep -q 'address table full (256 addresses in use)' "$BATS_TEST_TMPDIR"/rdsb-engine-*-B.log
	# said at most once every 5 s, not once per dropped send (45)
	[ "$(cat "$BATS_TEST_TMPDIR"/rdsb-engine-*-B.log | grep -c 'address table full')" -lt 10 ]
	# the socket closed: its 255 queued datagrams went with it, and the
	# connections, idle now, are freed 10 s later
	[ "$(counter B drop_socket_closed)" -eq 255 ]
	for _ in $(seq 150); do
		[ "$(connections)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(connections)" -eq 0 ]
	# slots nothing uses are not taken for new addresses within 10 s
	run fill 300 10
	[ "${lines[0]}" = "sent 0 ENOMEM 10" ]
	sleep 10.5
	run fill 310 200 10.99.0.5
	echo "$output"
	[ "${lines[0]}" = "sent 200" ]
	[ "${lines[1]}" = "bind ok" ]
	[ "$(counter B drop_no_connection)" -eq 0 ]
	[ "$(connections)" -eq 200 ]
}

@test "the engine takes the open-files limit its hard limit allows; past it socket() or bind() fails with ENOBUFS (not EADDRNOTAVAIL: the address check needs a descriptor too), once logged, and a closed socket makes room" {
	local log=$BATS_TEST_TMPDIR/rdsb-engine-fds.log pid
	in_host B "$RDSB_BIN" unload
	in_host B bash -c "ulimit -Sn 300 && ulimit -Hn 700 && exec \"\$0\" load --log \"\$1\"" "$RDSB_BIN" "$log"
	pid=$(engine_pid B)
	[ "$(awk '/^Max open files/ { print $4 " " $5 }' "/proc/$pid/limits")" = "700 700" ]
	# 6 descriptors a socket (the default load's: with sk_msg sends, the
	# engine's end of the socket's send socket too): about 100 fit
	run in_host B env LD_PRELOAD="$RDSB_PRELOAD" python3 - "$ADDR_B" <<'PY'
import errno, socket, sys
socks = []
try:
    while len(socks) < 1000:
        s = None
        s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
        s.bind((sys.argv[1], 5000 + len(socks)))
        socks.append(s)
    print("no limit")
except OSError as e:
    print("opened", len(socks), "then", errno.errorcode[e.errno])
    if s:
        s.close()   # its bind failed: the socket is the application's to close
socks.pop().close()
t = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
t.bind((sys.argv[1], 4999))
print("after a close: bound")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^opened\ (8[5-9]|9[0-9]|10[0-9])\ then\ ENOBUFS$ ]]
	grep -q 'hint: raise the engine.s open-files limit (LimitNOFILE, ulimit -Hn), 6 per socket' "$log"
	[ "${lines[1]}" = "after a close: bound" ]
	[ "$(grep -c 'out of file descriptors' "$log")" -eq 1 ]
}

@test "a connect storm: 32 peer addresses open 8 lanes each before the probe; every early lane waits, none is reset" {
	connection_setup_test
	# B listens on 10.99.0.200, above every peer: the peers connect
	in_host B ip addr add 10.99.0.200/24 dev eth0
	local pids=() i
	for i in $(seq 100 131); do
		in_host A ip addr add 10.99.0.$i/24 dev eth0
	done
	for i in $(seq 100 131); do
		in_host A python3 "$HOSTILE" lanes --count 7 --src 10.99.0.$i --dst 10.99.0.200 \
			>"$BATS_TEST_TMPDIR/storm.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	cat "$BATS_TEST_TMPDIR"/storm.* | grep '^lanes' | sort | uniq -c
	[ "$(cat "$BATS_TEST_TMPDIR"/storm.* | grep -c '^lanes open 7 reset 0$')" -eq 64 ]
	[ "$(counter B accept_parked)" -eq 448 ]
	[ "$(counter B accept_reset_no_path)" -eq 0 ]
}

@test "a connection reset for coming from the larger address is freed once B's connect back fails for 10 s" {
	connection_setup_test
	in_host A ip addr add 10.99.0.3/24 dev eth0
	run hostile larger --src 10.99.0.3
	echo "$output"
	grep -qx 'result reset' <<<"$output"
	[ "$(counter B accept_reset_larger_peer)" -eq 1 ]
	# B connects back to 10.99.0.3:16385, where no one listens
	[ "$(connections)" -eq 1 ]
	for _ in $(seq 150); do
		[ "$(connections)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(connections)" -eq 0 ]
}

@test "the sending engine holds at most 4 MiB for one connection: the senders beyond it wait, then all arrive" {
	# B's receiver counts 166400 datagrams
	rds B python3 - "$ADDR_B" 166400 "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/received" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 4000))
open(sys.argv[3], "w").close()
s.settimeout(30)
n = 0
while n < int(sys.argv[2]):
    s.recv(100)
    n += 1
print("received", n)
PY
	local rx=$!
	wait_ready
	# A cannot reach B for now: its sends to B wait in its engine
	in_host A ip route add blackhole $ADDR_B/32
	engine_up A
	local pid rss0 rss1 sent
	pid=$(pgrep -n -f "rdsb-engine-${HOSTS_PREFIX}-A.log")
	rss0=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
	# 100 sockets, each 64-byte datagrams until its sndbuf is full: 1664
	# each (wmem_default 212992, half of it payload), 166400 in all
	rds A python3 - "$ADDR_A" "$ADDR_B" >"$BATS_TEST_TMPDIR/sent" <<'PY' &
import errno, socket, sys, time
socks, n = [], 0
for i in range(100):
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    s.bind((sys.argv[1], 5000 + i))
    socks.append(s)
    while True:
        try:
            s.sendto(b"x" * 64, socket.MSG_DONTWAIT, (sys.argv[2], 4000))
            n += 1
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ENOBUFS):
                raise
            break
print(n, flush=True)
time.sleep(60)		# the sockets stay open until every datagram is out
PY
	local tx=$!
	for _ in $(seq 300); do [ -s "$BATS_TEST_TMPDIR/sent" ] && break; sleep 0.1; done
	sent=$(cat "$BATS_TEST_TMPDIR/sent")
	echo "sent $sent"
	[ "$sent" -eq 166400 ]
	[ "$(counter A tx_conn_full)" -eq 1 ]
	rss1=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
	echo "engine RSS $rss0 kB -> $rss1 kB"
	# 4 MiB of messages, and at most 64 KiB read past them per socket;
	# unbounded, the 166400 messages took 37 MB here
	[ $((rss1 - rss0)) -lt 16000 ]
	# B is reachable: every datagram arrives
	in_host A ip route del blackhole $ADDR_B/32
	wait $rx
	cat "$BATS_TEST_TMPDIR/received"
	[ "$(cat "$BATS_TEST_TMPDIR/received")" = "received 166400" ]
	[ "$(counter B drop_no_socket)" -eq 0 ]
	kill "$tx" 2>/dev/null || true
}

@test "a connect storm of 16 engines into one host: every lane waits for its path, every datagram arrives in order" {
	# B listens on 10.99.0.200, above every peer: they connect to it
	in_host B ip addr add 10.99.0.200/24 dev eth0
	storm_hosts 16
	rds B "$RDSB_XFER" recv -b 10.99.0.200:4000 -n 32000 -s 64:64 -t 30 --senders 16 \
		--ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	local r=$! i pids=()
	wait_ready
	# all at once: each waits for the file go
	for i in $(seq 1 16); do
		rds "${HOSTS_PREFIX}p$i" sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done; shift; exec "$@"' sh \
			"$BATS_TEST_TMPDIR/go" "$RDSB_XFER" send -b "10.99.0.$((10 + i)):5000" \
			-d 10.99.0.200:4000 -n 2000 -s 64:64 >/dev/null &
		pids+=($!)
	done
	sleep 0.5
	touch "$BATS_TEST_TMPDIR/go"
	for i in "${pids[@]}"; do wait "$i"; done
	wait $r
	cat "$BATS_TEST_TMPDIR/r"
	grep -qx 'recv 32000 msgs 2048000 bytes senders 16' "$BATS_TEST_TMPDIR/r"
	! grep -q mismatch "$BATS_TEST_TMPDIR/r"
	[ "$(counter B accept_reset_no_path)" -eq 0 ]
	[ "$(counter B path_down)" -eq 0 ]
	[ "$(counter B rx_delivered)" -eq 32000 ]
}
