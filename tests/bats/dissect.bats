#!/usr/bin/env bats
# rds-dissect: a real capture between two engines decodes to exactly the
# records that were sent; hand-made captures (tests/tools/mkpcap.py) check
# reassembly (retransmission, out of order), every record kind, and that
# broken or hostile files give a clear error or a counted "bad" line; pcapng
# (editcap, dumpcap) decodes as pcap does, and -i captures live.

load helpers

MKPCAP="$BATS_TEST_DIRNAME/../tools/mkpcap.py"

setup() {
	source "$BATS_TEST_DIRNAME/../lib/capture.sh"
}
teardown() {
	capture_stop
	[ -z "${NS_A:-}" ] || teardown_hosts
}

dissect() {	# dissect CASE [options]: run the dissector on a hand-made capture
	python3 "$MKPCAP" "$1" "$BATS_TEST_TMPDIR/$1.pcap"
	run "$RDSB_DISSECT" "${@:2}" "$BATS_TEST_TMPDIR/$1.pcap"
	echo "$output"
}

@test "a capture between two engines: every datagram is one data record on one path, lengths add up" {
	setup_two_hosts
	capture_start "$NS_A" eth0 "$BATS_TEST_TMPDIR/wire.pcap"
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 50 -s 0:3000 -t 30 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.b" >"$BATS_TEST_TMPDIR/rb" &
	rb=$!
	rds A "$RDSB_XFER" recv -b $ADDR_A:4001 -n 30 -s 0:3000 -t 30 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.a" >"$BATS_TEST_TMPDIR/ra" &
	ra=$!
	wait_ready 2
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 50 -s 0:3000 >"$BATS_TEST_TMPDIR/sa"
	rds B "$RDSB_XFER" send -b $ADDR_B:6000 -d $ADDR_A:4001 -n 30 -s 0:3000 >"$BATS_TEST_TMPDIR/sb"
	wait $rb
	wait $ra
	sleep 0.2
	capture_stop
	run "$RDSB_DISSECT" -f "$BATS_TEST_TMPDIR/wire.pcap"
	echo "$output" | tail -n 25
	[ "$status" -eq 0 ]
	summary=$(grep '^summary:' <<<"$output")
	grep -q ' data 80 .* cut 0 bad 0 undecoded-streams 0$' <<<"$summary"
	# 8 paths, both directions: 16 streams
	grep -q ' streams 16 ' <<<"$summary"
	# each sender's datagrams on exactly one stream, all of them
	[ "$(grep -c '^stream .* 5000>4000:50$' <<<"$output")" -eq 1 ]
	[ "$(grep -c '^stream .* 6000>4001:30$' <<<"$output")" -eq 1 ]
	[ "$(grep -c '>4000:\|>4001:' <<<"$output")" -eq 2 ]
	# the payload lengths on the wire add up to what the senders sent
	bytes_a=$(sed -n 's/^sent 50 msgs \([0-9]*\) bytes.*/\1/p' "$BATS_TEST_TMPDIR/sa")
	bytes_b=$(sed -n 's/^sent 30 msgs \([0-9]*\) bytes.*/\1/p' "$BATS_TEST_TMPDIR/sb")
	[ "$(awk '/ sport 5000 dport 4000 .* data$/ {n += $10} END {print n}' <<<"$output")" -eq "$bytes_a" ]
	[ "$(awk '/ sport 6000 dport 4001 .* data$/ {n += $10} END {print n}' <<<"$output")" -eq "$bytes_b" ]
	# per path, the sequence numbers of what was sent count up without a gap
	awk '/ (data|probe-ping|probe-pong|ping|pong)$/ {k = $2 $4; if (k in last && $6 != last[k] + 1) bad++; last[k] = $6}
	     END {exit bad > 0}' <<<"$output"
	# the handshake: a probe ping carrying NPATHS=8, GEN_NUM, SPORT_IDX, and
	# rds-bpf's delivery acknowledgements (both ways), which then come, and
	# lanes above the count paired by their names (0x04)
	grep -qE ' sport 1 dport 0 flags - credit 0 ext NPATHS=8,GEN_NUM=0x[0-9a-f]{8},SPORT_IDX=0,DELIV=0x07\(rds-bpf\) probe-ping$' <<<"$output"
	grep -qE ' sport 0 dport 0 flags DELIV_ACK\(rds-bpf\) credit 0 ext - deliv-ack [1-9][0-9]*$' <<<"$output"
	# Wireshark (tools/rds.lua) sees the same records
	if command -v tshark; then capture_crosscheck "$BATS_TEST_TMPDIR/wire.pcap"; fi
}

# space_back [load options of A, the sender]: B on the BPF receive path
space_back() {
	load_hosts
	engine_up A "$@"
	engine_up B --bpf
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 200 -s 3000:3000 -t 10 --senders 1 \
		--ready "$BATS_TEST_TMPDIR/ready.b" >"$BATS_TEST_TMPDIR/rb" &
	rb=$!
	wait_ready 1
	capture_start "$NS_A" eth0 "$BATS_TEST_TMPDIR/wire.pcap"
	# the connection up, and B's engine done with its probe: its verdict
	# delivers what comes next without it
	in_host A "$RDSB_BIN" ping -c 1 $ADDR_B >/dev/null
	inbox_read B
	dropped=$(counter A drop_socket_closed)
	kill -STOP "$(engine_pid B)"
	# 16 KiB of send space for 600 KB: it comes back at TCP's acknowledgement
	# (as the kernel's), so all of it reaches B's application while B's
	# engine, which acknowledges delivery, is stopped
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 200 -s 3000:3000 --sndbuf 16384 \
		>"$BATS_TEST_TMPDIR/sa" &
	sa=$!
	wait $rb || { kill -CONT "$(engine_pid B)"; false; }
	# A keeps them for the next connection until then: its sender's drain
	# before close waits for that (closing would drop them, as the kernel's)
	held=$(in_host A "$RDSB_BIN" status -j | jq '[.connections[].paths[].unacked] | add')
	echo "held: $held"
	kill -CONT "$(engine_pid B)"
	[ "$held" -gt 0 ]
	wait $sa
	[ "$(sent_hash "$BATS_TEST_TMPDIR/sa")" = "$(recv_hash "$BATS_TEST_TMPDIR/rb" $ADDR_A:5000)" ]
	[ "$(counter A drop_socket_closed)" -eq "$dropped" ]
	sleep 0.2
	capture_stop
	run "$RDSB_DISSECT" -f "$BATS_TEST_TMPDIR/wire.pcap"
	[ "$status" -eq 0 ]
	[ "$(grep -c ' sport 5000 dport 4000 .* data$' <<<"$output")" -eq 200 ]
	# no record asked for an acknowledgement at once; B's came
	! grep -E ' flags [^ ]*ACK_REQUIRED' <<<"$output"
	grep -qE '10\.99\.0\.2:[0-9]+ -> 10\.99\.0\.1:[0-9]+ .* flags DELIV_ACK\(rds-bpf\) .* deliv-ack [1-9][0-9]*$' <<<"$output"
}

@test "a sender's send space comes back at TCP's acknowledgement: it sends past its sndbuf while the receiver's engine is stopped, and keeps its messages until their delivery is acknowledged" {
	space_back
}

@test "the same from a sender on the sk_msg send path" {
	space_back --bpf --sk-msg
	direct=$(in_host A "$RDSB_BIN" status -j | jq .counters.tx_direct)
	echo "direct: $direct"
	# mostly all 200 directly; but a burst the engine wrote together
	# (busy_until_ns) takes the next millisecond's through it too, and once
	# the sender's datagrams queue there they keep it busy: 23 to 133 in 6
	# of 31 runs (2026-12-07); none direct would be a broken sk_msg path
	[ "$direct" -ge 10 ]
}

@test "records: handshake, congestion map, data (retransmitted, out of order), ping and pong" {
	dissect good
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 9 ]
	[ "${lines[0]}" = "0.002000 10.0.0.2:16385 -> 10.0.0.1:40000 seq 0 ack 0 len 8192 sport 0 dport 0 flags CONG_BITMAP credit 0 ext - congestion map (2 ports congested: 9 4002)" ]
	[ "${lines[1]}" = "0.003000 10.0.0.1:40000 -> 10.0.0.2:16385 seq 1 ack 0 len 0 sport 1 dport 0 flags - credit 0 ext NPATHS=8,GEN_NUM=0xa1b2c3d4,SPORT_IDX=0 probe-ping" ]
	[ "${lines[2]}" = "0.004000 10.0.0.2:16385 -> 10.0.0.1:40000 seq 1 ack 0 len 0 sport 0 dport 1 flags - credit 0 ext NPATHS=8 probe-pong" ]
	# the retransmitted segment is not decoded twice, the hole is filled in order
	[ "${lines[3]}" = "0.008000 10.0.0.1:40000 -> 10.0.0.2:16385 seq 2 ack 0 len 100 sport 5000 dport 4000 flags RETRANSMITTED credit 0 ext - data" ]
	[ "${lines[4]}" = "0.008000 10.0.0.1:40000 -> 10.0.0.2:16385 seq 3 ack 0 len 3000 sport 5000 dport 4000 flags - credit 0 ext - data" ]
	[ "${lines[5]}" = "0.008000 10.0.0.1:40000 -> 10.0.0.2:16385 seq 4 ack 0 len 0 sport 5000 dport 4000 flags - credit 0 ext - data" ]
	[ "${lines[6]}" = "0.009000 10.0.0.1:40000 -> 10.0.0.2:16385 seq 5 ack 0 len 2 sport 7 dport 0 flags - credit 0 ext - ping" ]
	[ "${lines[7]}" = "0.010000 10.0.0.2:16385 -> 10.0.0.1:40000 seq 2 ack 0 len 0 sport 0 dport 7 flags - credit 0 ext - pong" ]
	[ "${lines[8]}" = "summary: packets 11 streams 2 records 8 data 3 probe-pings 1 probe-pongs 1 pings 1 pongs 1 cong-maps 1 cut 0 bad 0 undecoded-streams 0" ]
}

@test "IPv6, and a file written on a big-endian host with nanosecond stamps, decode the same records" {
	python3 "$MKPCAP" good "$BATS_TEST_TMPDIR/good.pcap"
	good=$("$RDSB_DISSECT" "$BATS_TEST_TMPDIR/good.pcap" | cut -d' ' -f5-)
	dissect v6
	[ "$status" -eq 0 ]
	grep -qF '[fd00::1]:40000 -> [fd00::2]:16385 seq 3 ack 0 len 3000 sport 5000 dport 4000' <<<"$output"
	[ "$(cut -d' ' -f5- <<<"$output")" = "$good" ]
	dissect swapped
	[ "$status" -eq 0 ]
	[ "$(cut -d' ' -f5- <<<"$output")" = "$good" ]
	[ "${lines[0]%% *}" = 0.000002 ]
}

@test "-f: which RDS ports each stream carried" {
	dissect good -f
	[ "$status" -eq 0 ]
	grep -qx 'stream 10.0.0.1:40000 -> 10.0.0.2:16385 records 5 data 3 ports 5000>4000:3' <<<"$output"
	grep -qx 'stream 10.0.0.2:16385 -> 10.0.0.1:40000 records 3 data 0 ports -' <<<"$output"
}

@test "not a capture: empty, bad magic, a pcapng without an interface give one clear line and exit 1" {
	dissect empty
	[ "$status" -eq 1 ]
	[ "$output" = "rds-dissect: $BATS_TEST_TMPDIR/empty.pcap: truncated dump file; tried to read 4 file header bytes, only got 0" ]
	dissect bad-magic
	[ "$status" -eq 1 ]
	[ "$output" = "rds-dissect: $BATS_TEST_TMPDIR/bad-magic.pcap: unknown file format (want pcap or pcapng)" ]
	dissect pcapng
	[ "$status" -eq 1 ]
	[ "$output" = "rds-dissect: $BATS_TEST_TMPDIR/pcapng.pcap: the capture file has no Interface Description Blocks" ]
	run "$RDSB_DISSECT" "$BATS_TEST_TMPDIR/nonexistent.pcap"
	[ "$status" -eq 1 ]
	[ "$output" = "rds-dissect: $BATS_TEST_TMPDIR/nonexistent.pcap: No such file or directory" ]
}

@test "pcapng (editcap), also from standard input, decodes to the same lines as pcap" {
	command -v editcap || skip "editcap not installed (tshark's wireshark-common, tools/install-deps.sh)"
	for c in good v6 swapped rst; do
		python3 "$MKPCAP" $c "$BATS_TEST_TMPDIR/$c.pcap"
		editcap -F pcapng "$BATS_TEST_TMPDIR/$c.pcap" "$BATS_TEST_TMPDIR/$c.pcapng"
		[ "$(head -c 4 "$BATS_TEST_TMPDIR/$c.pcapng" | od -An -tx4 | tr -d ' ')" = 0a0d0d0a ]
		want=$("$RDSB_DISSECT" -f "$BATS_TEST_TMPDIR/$c.pcap")
		[ "$(grep -c . <<<"$want")" -ge 3 ]
		[ "$("$RDSB_DISSECT" -f "$BATS_TEST_TMPDIR/$c.pcapng")" = "$want" ]
		[ "$("$RDSB_DISSECT" -f - <"$BATS_TEST_TMPDIR/$c.pcapng")" = "$want" ]
	done
}

@test "-i: a live capture between two engines, and dumpcap's pcapng of the same traffic, decode the same records" {
	command -v dumpcap || skip "dumpcap not installed (wireshark-common, tools/install-deps.sh)"
	setup_two_hosts
	nsenter --net="/run/netns/$NS_A" "$RDSB_DISSECT" -f -i eth0 >"$BATS_TEST_TMPDIR/live" \
		2>"$BATS_TEST_TMPDIR/live.err" &
	CAPTURE_PIDS+=($!) # capture_stop (teardown) ends it whatever happens
	# udp port 9: the marker below, which rds-dissect passes over
	nsenter --net="/run/netns/$NS_A" dumpcap -q -B 128 -i eth0 -f 'tcp port 16385 or udp port 9' \
		-w "$BATS_TEST_TMPDIR/wire.pcapng" 2>"$BATS_TEST_TMPDIR/dumpcap.err" &
	CAPTURE_PIDS+=($!)
	CAPTURE_FILES+=("$BATS_TEST_TMPDIR/wire.pcapng")
	for _ in $(seq 200); do
		grep -q 'Capturing on' "$BATS_TEST_TMPDIR/dumpcap.err" &&
			grep -q '^rds-dissect: capturing on eth0, TCP port 16385$' "$BATS_TEST_TMPDIR/live.err" && break
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/live.err"
	# dumpcap says "Capturing on" before its file and socket are there: a
	# UDP marker until one is in the file (it writes each packet as it comes)
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/wire.pcapng" ] && break; sleep 0.05; done
	size=$(stat -c %s "$BATS_TEST_TMPDIR/wire.pcapng")
	for _ in $(seq 100); do
		in_host A bash -c "echo marker >/dev/udp/$ADDR_B/9" || true
		sleep 0.1
		[ "$(stat -c %s "$BATS_TEST_TMPDIR/wire.pcapng")" -gt "$size" ] && break
	done
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/wire.pcapng")" -gt "$size" ]
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 20 -s 0:3000 -t 30 --ready "$BATS_TEST_TMPDIR/ready.b" \
		>"$BATS_TEST_TMPDIR/rb" &
	rb=$!
	wait_ready 1
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 20 -s 0:3000 >/dev/null
	wait $rb
	capture_stop
	cat "$BATS_TEST_TMPDIR/live" "$BATS_TEST_TMPDIR/live.err" "$BATS_TEST_TMPDIR/dumpcap.err"
	ls -l "$BATS_TEST_TMPDIR/wire.pcapng"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/live.err")" -eq 1 ]
	grep -q '^stream .* 5000>4000:20$' "$BATS_TEST_TMPDIR/live"
	grep -q ' data 20 .* cut 0 bad 0 undecoded-streams 0$' "$BATS_TEST_TMPDIR/live"
	[ "$(head -c 4 "$BATS_TEST_TMPDIR/wire.pcapng" | od -An -tx4 | tr -d ' ')" = 0a0d0d0a ]
	run "$RDSB_DISSECT" -f "$BATS_TEST_TMPDIR/wire.pcapng"
	[ "$status" -eq 0 ]
	# the same records (times differ: each capture counts from its first
	# packet; the packet counts by the markers dumpcap has too)
	[ "$(cut -d' ' -f2- <<<"$output" | sed 's/^packets [0-9]* //')" = \
		"$(cut -d' ' -f2- "$BATS_TEST_TMPDIR/live" | sed 's/^packets [0-9]* //')" ]
	capture_crosscheck "$BATS_TEST_TMPDIR/wire.pcapng"
}

@test "tshark with tools/rds.lua: the same records as rds-dissect in every well-formed hand-made capture" {
	command -v tshark || skip "tshark not installed (tools/install-deps.sh)"
	# not here: captures rds-dissect refuses to guess in (no SYN, a snaplen
	# cut, garbage after which a stream is dead) where Wireshark decodes on
	for c in good v6 swapped rst cong-bad-len ext-stop huge-len truncated hole bad-ip; do
		python3 "$MKPCAP" $c "$BATS_TEST_TMPDIR/$c.pcap"
		capture_crosscheck "$BATS_TEST_TMPDIR/$c.pcap"
	done
	editcap -F pcapng "$BATS_TEST_TMPDIR/good.pcap" "$BATS_TEST_TMPDIR/good.pcapng"
	capture_crosscheck "$BATS_TEST_TMPDIR/good.pcapng"
	# another port: rds-dissect -p, the dissector's rds.tcp_port preference
	MKPCAP_PORT=16390 python3 "$MKPCAP" good "$BATS_TEST_TMPDIR/port.pcap"
	capture_crosscheck "$BATS_TEST_TMPDIR/port.pcap" 16390
	[ "$("$RDSB_DISSECT" -p 16390 "$BATS_TEST_TMPDIR/port.pcap" | grep -c ' seq ')" -eq 8 ]
	[ "$("$RDSB_DISSECT" "$BATS_TEST_TMPDIR/port.pcap" | grep -c ' seq ')" -eq 0 ]
	[ "$(tshark -n -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/port.pcap" -Y rds 2>/dev/null | wc -l)" -eq 0 ]
	# or Decode As
	[ "$(tshark -n -o tcp.reassemble_out_of_order:TRUE -d tcp.port==16390,rds -X lua_script:"$RDSB_LUA" \
		-r "$BATS_TEST_TMPDIR/port.pcap" -Y rds -T fields -e rds.kind 2>/dev/null | tr '\n' ' ')" = \
		"congestion map probe-ping probe-pong data,data,data ping pong " ]
}

@test "tshark with tools/rds.lua: fields, flags, extension headers, congested ports, probes on port 16385" {
	command -v tshark || skip "tshark not installed (tools/install-deps.sh)"
	python3 "$MKPCAP" good "$BATS_TEST_TMPDIR/good.pcap"
	fields() {	# FILTER FIELD... [-2]: one line per matching frame (-2: two passes)
		local filter=$1 e=() two=
		shift
		for x in "$@"; do
			if [ "$x" = -2 ]; then two=-2; else e+=(-e "$x"); fi
		done
		tshark -n -o tcp.reassemble_out_of_order:TRUE -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/good.pcap" \
			-Y "$filter" -T fields -E separator=' ' -E aggregator=, "${e[@]}" $two 2>/dev/null
	}
	[ "$(fields "rds.flags.cong_bitmap == 1" rds.len rds.cong.count rds.cong.port)" = "8192 2 9,4002" ]
	[ "$(fields rds.ext.npaths rds.kind rds.ext.npaths rds.ext.gen_num rds.ext.sport_idx rds.ext.type)" = \
		"$(printf '%s\n' 'probe-ping 8 0xa1b2c3d4 0 5,6,8' 'probe-pong 8   5')" ]
	[ "$(fields "rds.flags.retransmitted == 1" rds.seq rds.sport rds.dport rds.len)" = "2,3,4 5000,5000,5000 4000,4000,4000 100,3000,0" ]
	[ "$(fields 'rds.kind == "ping" || rds.kind == "pong"' rds.kind rds.sport rds.dport)" = "$(printf '%s\n' 'ping 7 0' 'pong 0 7')" ]
	# registered on 16385 (no -d): every TCP byte of the capture is in a record, none is left as bare data
	[ "$(fields 'tcp.len > 0 && !rds && !tcp.reassembled_in' frame.number -2)" = "" ]
}

@test "tshark with tools/rds.lua: broken records are marked, never a Lua error, also in damaged captures" {
	command -v tshark || skip "tshark not installed (tools/install-deps.sh)"
	for c in garbage huge-len cong-bad-len ext-stop snaplen no-syn; do
		python3 "$MKPCAP" $c "$BATS_TEST_TMPDIR/$c.pcap"
		run tshark -n -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/$c.pcap" -V
		[ "$status" -eq 0 ]
		grep -q '^Reliable Datagram Sockets over TCP' <<<"$output"
		if grep -i 'lua error\|Dissector bug\|\[Malformed Packet' <<<"$output"; then false; fi
	done
	# randomly damaged captures: whatever tshark makes of the file, the dissector never fails
	python3 "$MKPCAP" good "$BATS_TEST_TMPDIR/good.pcap"
	python3 - "$BATS_TEST_TMPDIR/good.pcap" "$BATS_TEST_TMPDIR/fz" <<'EOF2'
import random, sys
data = open(sys.argv[1], "rb").read()
r = random.Random(7)
for i in range(25):
    b = bytearray(data)
    for _ in range(r.randrange(1, 10)):
        pos = r.randrange(24, len(b))  # the file header intact: tshark reads on
        b[pos] = r.randrange(256)
    open(f"{sys.argv[2]}.{i}", "wb").write(b)
EOF2
	for i in $(seq 0 24); do
		out=$(timeout 30 tshark -n -o tcp.reassemble_out_of_order:TRUE -X lua_script:"$RDSB_LUA" \
			-r "$BATS_TEST_TMPDIR/fz.$i" -V 2>&1) || true
		if grep -i 'lua error\|Dissector bug' <<<"$out"; then echo "fz.$i"; false; fi
	done
	[ "$(tshark -n -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/garbage.pcap" -Y rds.bad_len -T fields -e frame.number 2>/dev/null)" = 2 ]
	[ "$(tshark -n -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/cong-bad-len.pcap" -Y rds.bad_cong_map -T fields -e rds.len 2>/dev/null)" = "100,5" ]
	[ "$(tshark -n -X lua_script:"$RDSB_LUA" -r "$BATS_TEST_TMPDIR/ext-stop.pcap" -Y rds.ext_stop -T fields -e rds.ext.stop 2>/dev/null)" = 3 ]
}

@test "-i: a missing interface is one line and exit 1" {
	run "$RDSB_DISSECT" -i rdsb-no-such-if
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	grep -q '^rds-dissect: rdsb-no-such-if: ' <<<"$output"
}

@test "usage errors exit 2" {
	run "$RDSB_DISSECT"
	[ "$status" -eq 2 ]
	run "$RDSB_DISSECT" -p 0 x.pcap
	[ "$status" -eq 2 ]
	[ "$output" = "rds-dissect: bad port '0' (want 1..65535)" ]
	run "$RDSB_DISSECT" a.pcap b.pcap
	[ "$status" -eq 2 ]
	run "$RDSB_DISSECT" -i lo a.pcap
	[ "$status" -eq 2 ]
}

@test "a file cut inside a packet, or with an absurd packet length: what came before, then a bad line" {
	dissect truncated
	[ "$status" -eq 1 ]
	[ "$(grep -c ' data$' <<<"$output")" -eq 3 ]
	grep -qx 'bad: after packet 10: truncated dump file; tried to read 102 captured bytes, only got 92' <<<"$output"
	grep -q ' bad 1 ' <<<"$output"
	dissect huge-caplen
	[ "$status" -eq 1 ]
	grep -qx 'bad: after packet 11: invalid packet capture length 2147483647, bigger than snaplen of 262144' <<<"$output"
	grep -q ' records 8 .* bad 1 ' <<<"$output"
}

@test "garbage or a huge h_len: one bad line, the stream is not decoded further" {
	dissect garbage
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	grep -q 'bad: h_len above 1048576, the rest of this stream is not decoded$' <<<"${lines[0]}"
	grep -q ' records 0 .* bad 1 ' <<<"${lines[1]}"
	dissect huge-len
	[ "$status" -eq 1 ]
	grep -q ' seq 1 ack 0 len 2 .* data$' <<<"${lines[0]}"
	grep -q ' seq 2 ack 0 len 4294967295 .* bad: h_len above 1048576' <<<"${lines[1]}"
	grep -q ' records 1 data 1 .* bad 1 ' <<<"${lines[2]}"
}

@test "a congestion map of the wrong size is bad, framing goes on by h_len" {
	dissect cong-bad-len
	[ "$status" -eq 1 ]
	grep -q 'len 100 sport 0 dport 0 flags CONG_BITMAP .* bad: not 8192 bytes, the kernel ignores it$' <<<"${lines[0]}"
	grep -q ' seq 1 ack 0 len 5 sport 5000 dport 4000 .* data$' <<<"${lines[1]}"
}

@test "an extension type above 15 ends the list where the kernel stops" {
	dissect ext-stop
	[ "$status" -eq 0 ]
	grep -q ' ext NPATHS=2,stops-at-3:0x14 data$' <<<"${lines[0]}"
}

@test "a RST cuts a record; data after the RST is not part of the stream" {
	dissect rst
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "0.002000 10.0.0.1:40000 -> 10.0.0.2:16385 cut: RST after 10 of 100 payload bytes (seq 2 sport 5000 dport 4000)" ]
	grep -q ' records 1 data 1 .* cut 1 bad 0 ' <<<"${lines[2]}"
}

@test "no SYN, a hole, a snaplen cut, a broken IP header: said and counted, never guessed" {
	dissect no-syn
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "stream 10.0.0.1:40000 -> 10.0.0.2:16385: its SYN is not in the capture, 51 bytes not decoded" ]
	grep -q ' records 0 .* undecoded-streams 1$' <<<"${lines[1]}"
	dissect hole
	[ "$status" -eq 1 ]
	grep -q ' bad: a hole in the capture before its last bytes' <<<"${lines[1]}"
	dissect snaplen
	[ "$status" -eq 1 ]
	grep -q ' bad: the capture lost bytes (snaplen)' <<<"${lines[0]}"
	dissect bad-ip
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "packet 2 bad: bad IPv4 header" ]
	grep -q ' seq 1 ack 0 len 1 .* data$' <<<"${lines[1]}"
}

@test "300 randomly damaged captures: exit 0 or 1, never a crash or a hang" {
	python3 "$MKPCAP" good "$BATS_TEST_TMPDIR/good.pcap"
	python3 - "$BATS_TEST_TMPDIR/good.pcap" "$BATS_TEST_TMPDIR/fz" <<'EOF'
import random, sys
data = open(sys.argv[1], "rb").read()
r = random.Random(4)
for i in range(300):
    b = bytearray(data)
    for _ in range(r.randrange(1, 20)):
        pos = r.randrange(len(b))
        k = r.randrange(3)
        if k == 0:
            b[pos] = r.randrange(256)
        elif k == 1:
            del b[pos:pos + r.randrange(1, 64)]
        else:
            b[pos:pos] = bytes(r.randrange(256) for _ in range(r.randrange(1, 16)))
    open(f"{sys.argv[2]}.{i}", "wb").write(b)
EOF
	for i in $(seq 0 299); do
		rc=0
		timeout 5 "$RDSB_DISSECT" "$BATS_TEST_TMPDIR/fz.$i" >/dev/null 2>&1 || rc=$?
		[ "$rc" -le 1 ] || { echo "fz.$i: exit $rc"; false; }
	done
}
