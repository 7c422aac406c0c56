#!/usr/bin/env bats
# The XDP/AF_XDP transport (docs/xdp-encap.md) between two namespace hosts:
# delivery both ways, loss/duplication/reordering on the wire invisible to
# applications, hostile frames counted by the XDP program.

load helpers

RDSX_LOSS=${RDSX_LOSS:-$BATS_TEST_DIRNAME/../../build/tests/rdsx-loss}

setup() {
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	export RDSB_LOG_DIR="$BATS_TEST_TMPDIR"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	hosts_up_bridged "$(hosts_name rx)"
	engine_up A --transport xdp --dev eth0
	engine_up B --transport xdp --dev eth0
}

teardown() {
	for d in wa wb; do
		in_host W "$RDSX_LOSS" detach $d "/sys/fs/bpf/${HOSTS_PREFIX}-$d" 2>/dev/null || true
	done
	teardown_hosts
}

# xdp_counter HOST INDEX: the XDP program's counter (enum rdsx_counter), summed over CPUs
xdp_counter() {
	local dir
	dir=/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$( [ "$1" = A ] && echo "$NS_A" || echo "$NS_B")")
	bpftool map lookup pinned "$dir/rdsx_counters" key "$2" 0 0 0 -j | jq '[.formatted.values[].value] | add'
}
C_REDIRECT=1 C_ACK_CONSUMED=2 C_DROP_TRUNCATED=6 C_DROP_BAD_PATH=9 C_DROP_BAD_LEN=10 C_DROP_BAD_CONG=11

# tcounter HOST NAME: a transport counter as `rds-bpf status -j` reports it
tcounter() {
	in_host "$1" "$RDSB_BIN" status -j | jq ".transport_counters.$2"
}

# transfer N SIZES: A -> B and B -> A at once, N and N/2 datagrams, hashes compared
transfer() {
	local n=$1 sizes=$2 t=${3:-60}
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n "$n" -s "$sizes" -t "$t" --ready "$BATS_TEST_TMPDIR/ready.b" >"$BATS_TEST_TMPDIR/rb" &
	local rb=$!
	rds A "$RDSB_XFER" recv -b "[$ADDR6_A]:4000" -n $((n / 2)) -s "$sizes" -t "$t" --ready "$BATS_TEST_TMPDIR/ready.a" >"$BATS_TEST_TMPDIR/ra" &
	local ra=$!
	wait_ready 2
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n "$n" -s "$sizes" -t "$t" >"$BATS_TEST_TMPDIR/sa" &
	local sa=$!
	rds B "$RDSB_XFER" send -b "[$ADDR6_B]:5000" -d "[$ADDR6_A]:4000" -n $((n / 2)) -s "$sizes" -t "$t" >"$BATS_TEST_TMPDIR/sb"
	wait $sa
	wait $rb
	wait $ra
	cat "$BATS_TEST_TMPDIR"/s? "$BATS_TEST_TMPDIR"/r?
	grep -q "^recv $n msgs" "$BATS_TEST_TMPDIR/rb"
	grep -q "^recv $((n / 2)) msgs" "$BATS_TEST_TMPDIR/ra"
	[ "$(sent_hash "$BATS_TEST_TMPDIR/sa")" = "$(recv_hash "$BATS_TEST_TMPDIR/rb" $ADDR_A:5000)" ]
	[ "$(sent_hash "$BATS_TEST_TMPDIR/sb")" = "$(recv_hash "$BATS_TEST_TMPDIR/ra" "\[$ADDR6_B\]:5000")" ]
}

@test "xdp: datagrams of 0 B to 100 KB both ways (IPv4 and IPv6) arrive whole, in order, once" {
	transfer 400 0:100000
	in_host A "$RDSB_BIN" status | grep -q "xdp, npaths 8"
	# on veth, skb mode unless --mode native: it costs less CPU there (docs/xdp-encap.md)
	in_host A ip link show eth0 | grep -q ' xdpgeneric '
	# data went through the XDP program to AF_XDP, acks were consumed in XDP
	[ "$(xdp_counter B $C_REDIRECT)" -gt 400 ]
	[ "$(xdp_counter A $C_ACK_CONSUMED)" -gt 0 ]
	# status shows the transport's counters: userspace, then the XDP program's
	in_host A "$RDSB_BIN" status -j | jq -e '.transport == "xdp" and (.transport_counters | keys_unsorted) ==
		["tx_frames", "rx_frames", "retransmits", "fast_retransmits", "acks_sent", "rx_reordered", "rx_dup",
		 "rx_out_of_window", "rx_bad_record", "xdp_pass", "xdp_redirect", "xdp_ack_consumed",
		 "xdp_ack_stale_epoch", "xdp_cong_applied", "xdp_cong_old", "xdp_drop_truncated",
		 "xdp_drop_ip_fragment", "xdp_drop_bad_udp_len", "xdp_drop_bad_path", "xdp_drop_bad_len",
		 "xdp_drop_bad_cong", "xdp_drop_unknown_conn", "xdp_drop_no_xsk", "xdp_ack_beyond_sent",
		 "xdp_drop_bad_ack", "xdp_drop_bad_credit", "xdp_drop_cong_foreign", "xdp_drop_cong_too_new",
		 "xdp_cong_expired", "xsk_rx_ring_full",
		 "xsk_rx_fill_ring_empty", "xsk_rx_dropped", "xsk_tx_invalid"]'
	[ "$(tcounter B xdp_redirect)" -gt 400 ]
	[ "$(tcounter B rx_frames)" -gt 400 ]
	in_host B "$RDSB_BIN" status | grep -Eq '^  rx_frames +[0-9]+$'
	in_host B "$RDSB_BIN" status | grep -qx 'xdp transport counters:'
}

@test "xdp: 8 tasks x 16 x 1 MiB on 8 paths: the windows fit the receiver's AF_XDP ring, nothing lost or dropped" {
	in_host B "$RDSB_BIN" stress -r $ADDR_B -p 6000 -j >"$BATS_TEST_TMPDIR/passive" 2>&1 &
	run in_host A "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -p 6000 -j -T 1 -o -t 8 -d 16 -q 1048576
	echo "$output"
	wait $!
	[ "$status" -eq 0 ]
	jq -e '.tx_msgs > 16 and .tx_msgs == .peer_rx_msgs and .lost == 0 and .bad == 0' <<<"$output"
	for h in A B; do
		in_host $h "$RDSB_BIN" status -j | jq -e '.transport_counters |
			{xsk_rx_fill_ring_empty, xsk_rx_ring_full, xsk_rx_dropped, rx_out_of_window, retransmits} |
			debug | .xsk_rx_fill_ring_empty == 0 and .xsk_rx_ring_full == 0 and .xsk_rx_dropped == 0'
	done
}

# unique_rx HOST: data frames the host took in order (not duplicates, not beyond its window)
unique_rx() {
	in_host "$1" "$RDSB_BIN" status -j | jq '.transport_counters | .rx_frames - .rx_dup - .rx_out_of_window'
}

@test "xdp: on a 3500-byte MTU (native XDP's largest on veth) a 64 KiB datagram is 20 frames, not 47, and arrives whole" {
	in_host A "$RDSB_BIN" unload
	in_host B "$RDSB_BIN" unload
	for d in wa wb br0; do in_host W ip link set $d mtu 3500; done
	in_host A ip link set eth0 mtu 3500
	in_host B ip link set eth0 mtu 3500
	engine_up A --transport xdp --dev eth0 --mode native
	engine_up B --transport xdp --dev eth0 --mode native
	in_host A ip link show eth0 | grep -q ' mtu 3500 xdp '	# native (skb mode says xdpgeneric)
	transfer 2 65536	# both connections up
	rm -f "$BATS_TEST_TMPDIR"/ready.*
	local a b
	a=$(unique_rx A)
	b=$(unique_rx B)
	# 3424 bytes a frame over IPv4 (A -> B), 3404 over IPv6 (B -> A)
	transfer 40 65536
	[ $(($(unique_rx B) - b)) -eq $((40 * 20)) ]
	[ $(($(unique_rx A) - a)) -eq $((20 * 20)) ]
}

@test "xdp: 1% loss on the wire is invisible to applications" {
	in_host W "$RDSX_LOSS" attach wa "/sys/fs/bpf/${HOSTS_PREFIX}-wa" 10 0 0
	in_host W "$RDSX_LOSS" attach wb "/sys/fs/bpf/${HOSTS_PREFIX}-wb" 10 0 0
	transfer 3000 0:3000
	in_host W "$RDSX_LOSS" stats "/sys/fs/bpf/${HOSTS_PREFIX}-wb" | awk '{ exit !($4 > 0) }'
}

@test "xdp: 10% loss plus duplicates and reordering on the wire are invisible to applications" {
	in_host W "$RDSX_LOSS" attach wa "/sys/fs/bpf/${HOSTS_PREFIX}-wa" 100 20 20
	in_host W "$RDSX_LOSS" attach wb "/sys/fs/bpf/${HOSTS_PREFIX}-wb" 100 20 20
	transfer 3000 0:9000 120
	for d in wa wb; do
		run in_host W "$RDSX_LOSS" stats "/sys/fs/bpf/${HOSTS_PREFIX}-$d"
		echo "$d: $output"
		# the injector did drop, duplicate and reorder
		echo "$output" | awk '{ exit !($4 > 0 && $6 > 0 && $8 > 0) }'
	done
	# both transports repaired it: retransmitted, dropped duplicates, put frames back in order
	for h in A B; do
		in_host $h "$RDSB_BIN" status -j | jq -e '.transport_counters |
			.retransmits > 0 and .rx_dup > 0 and .rx_reordered > 0 and .acks_sent > 0 and
			.xdp_ack_consumed > 0 and .tx_frames > 1500 and .rx_frames > 1500'
	done
}

@test "xdp: hostile frames are counted drops and the transport keeps working" {
	transfer 10 0:100
	before_trunc=$(xdp_counter A $C_DROP_TRUNCATED)
	before_path=$(xdp_counter A $C_DROP_BAD_PATH)
	before_len=$(xdp_counter A $C_DROP_BAD_LEN)
	before_cong=$(xdp_counter A $C_DROP_BAD_CONG)
	in_host B python3 - "$ADDR_A" <<'PY'
import socket, struct, sys
def frame(sport, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.sendto(payload, (sys.argv[1], 16386))
    s.close()
def hdr(seq=1, ack=0, hlen=0, sp=5000, dp=4000, flags=0, frame_no=7, epoch=1):
    return struct.pack(">QQIHHBB4sH16s", seq, ack, hlen, sp, dp, flags, 0, struct.pack(">I", frame_no), epoch, b"")
for _ in range(3):
    frame(16392, b"x" * 20)                                  # rds_header cut short
    frame(9999, hdr())                                       # no such path
    frame(16393, hdr(hlen=2 << 20) + b"y" * 10)              # h_len above 1 MiB
    frame(16393, hdr(hlen=5) + b"z" * 10)                    # fragment longer than its record
    frame(16393, hdr(frame_no=0, hlen=3) + b"abc")           # data outside the sequence
    frame(16392, hdr(seq=9, hlen=100, sp=0, dp=0, flags=1, frame_no=0) + b"\0" * 1024)  # map chunk, bad h_len
PY
	sleep 0.5
	[ "$(xdp_counter A $C_DROP_TRUNCATED)" -eq $((before_trunc + 3)) ]
	[ "$(xdp_counter A $C_DROP_BAD_PATH)" -eq $((before_path + 3)) ]
	[ "$(xdp_counter A $C_DROP_BAD_LEN)" -eq $((before_len + 9)) ]
	[ "$(xdp_counter A $C_DROP_BAD_CONG)" -eq $((before_cong + 3)) ]
	# status reports the same drop counts
	[ "$(tcounter A xdp_drop_truncated)" -eq $((before_trunc + 3)) ]
	[ "$(tcounter A xdp_drop_bad_path)" -eq $((before_path + 3)) ]
	[ "$(tcounter A xdp_drop_bad_len)" -eq $((before_len + 9)) ]
	[ "$(tcounter A xdp_drop_bad_cong)" -eq $((before_cong + 3)) ]
	in_host A "$RDSB_BIN" status >/dev/null
	rm -f "$BATS_TEST_TMPDIR"/ready.*
	transfer 200 0:20000
}

# xdp_map HOST MAP: a pinned map of the host's XDP transport, dumped as JSON
xdp_map() {
	bpftool -j map dump pinned "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$( [ "$1" = A ] && echo "$NS_A" || echo "$NS_B")")/$2"
}

# A's state for its IPv4 connection to B: the rdsx_conns index, then on path
# 0 our epoch, B's epoch and the last frame sent, then the congestion map
# version of chunk 0 and B's map slot
conn_state() {
	local ci
	ci=$(xdp_map A rdsx_conns | jq '.[] | select(.formatted.key.faddr[12:] == [10, 99, 0, 2]) | .formatted.value.index')
	xdp_map A rdsx_paths | jq -r --argjson i $((ci * 8)) '.[] | select(.key == $i or .formatted.key == $i) | .formatted.value | "\(.tx_epoch) \(.rx_epoch) \(.sent)"' | head -1 | tr '\n' ' '
	xdp_map A rdsx_cong_ver | jq -r --argjson i "$ci" '.[] | select(.formatted.key == $i) | .formatted.value.ver[0]' | tr '\n' ' '
	xdp_map A rdsx_conns | jq '.[] | select(.formatted.key.faddr[12:] == [10, 99, 0, 2]) | .formatted.value.fslot'
}

# spoof KIND ARGS...: tests/tools/rdsx-spoof.py from the wire's bridge (a host
# on the link that is neither peer), as B (10.99.0.2) to A
spoof() {
	in_host W python3 "$BATS_TEST_DIRNAME/../tools/rdsx-spoof.py" br0 "$(in_host A cat /sys/class/net/eth0/address)" \
		$ADDR_B $ADDR_A "$@"
}

@test "xdp: spoofed congestion maps, acks and credits from a host on the link are counted drops; a map that got in expires; traffic flows" {
	transfer 10 0:100
	read -r tx rx sent ver fslot <<<"$(conn_state)"
	echo "A: tx_epoch $tx rx_epoch $rx sent $sent ver $ver fslot $fslot"
	[ "$rx" -gt 0 ] && [ "$sent" -gt 0 ] && [ "$ver" -gt 0 ]
	other=$(( (rx + 1) % 65536 ? (rx + 1) % 65536 : 1 ))
	# a host that has not seen the frames: the issue's 8 chunks of version
	# 2^64-1, every port congested; acks of another epoch, acks of nothing
	declare -A was
	for c in xdp_drop_cong_foreign xdp_ack_stale_epoch xdp_drop_bad_ack xdp_ack_beyond_sent \
		 xdp_drop_bad_credit xdp_drop_cong_too_new xdp_cong_expired xdp_cong_applied; do
		was[$c]=$(tcounter A $c)
	done
	# by exactly n, once the frames are in (5 s)
	grew() {
		for _ in $(seq 50); do [ "$(tcounter A "$1")" -ge $((was[$1] + $2)) ] && break; sleep 0.1; done
		echo "$1: ${was[$1]} -> $(tcounter A "$1")"
		[ "$(tcounter A "$1")" -eq $((was[$1] + $2)) ]
	}
	[ "$(spoof cong 0xffffffffffffffff $other 0 255)" -eq 8 ]
	[ "$(spoof ack $(( ((tx + 1) % 65536) << 32 | 5 )) $other 0)" -eq 8 ]
	[ "$(spoof ack 0 $other 0)" -eq 8 ]
	grew xdp_drop_cong_foreign 8
	grew xdp_ack_stale_epoch 8
	grew xdp_drop_bad_ack 8
	rm -f "$BATS_TEST_TMPDIR"/ready.*
	transfer 200 0:20000
	# one that has (it read the epochs, as a host seeing the frames could):
	# an ack beyond what A sent, a credit no ring allows, a version 2^64-1
	read -r tx rx sent ver fslot <<<"$(conn_state)"
	[ "$(spoof ack $(( tx << 32 | (sent + 1000) )) $rx 4 0)" -eq 1 ]
	[ "$(spoof ack $(( tx << 32 | sent )) $rx 255 0)" -eq 1 ]
	[ "$(spoof cong 0xffffffffffffffff $rx 0 255)" -eq 8 ]
	grew xdp_ack_beyond_sent 1
	grew xdp_drop_bad_credit 1
	grew xdp_drop_cong_too_new 8
	# a version within the slack gets in and congests every port of B...
	was[xdp_cong_applied]=$(tcounter A xdp_cong_applied)
	[ "$(spoof cong $((ver + 5000000)) $rx 0 255)" -eq 8 ]
	grew xdp_cong_applied 8
	# ...until B's next repeat of its own map, 2 s after the spoofed one
	for _ in $(seq 40); do [ "$(tcounter A xdp_cong_expired)" -ge $((was[xdp_cong_expired] + 8)) ] && break; sleep 0.1; done
	grew xdp_cong_expired 8
	bpftool -j map lookup pinned "$(pins A)/rdsb_cong" key $((fslot & 255)) $((fslot >> 8 & 255)) 0 0 |
		jq -e '[.formatted.value.bits[]] | all(. == 0)' >/dev/null
	rm -f "$BATS_TEST_TMPDIR"/ready.*
	transfer 200 0:20000
}

@test "xdp: SO_RDS_TRANSPORT is RDS_TRANS_XDP (4); TCP is ENOPROTOOPT, IB and GAP EPROTOTYPE (not the initial namespace); a socket that selected it round-trips" {
	rds B "$RDSB_XFER" echo -b $ADDR_B:4000 -n 1 -t 30 --ready "$BATS_TEST_TMPDIR/ready.echo" &
	local echo=$!
	wait_ready
	run rds A "$RDSB_ROOT/build/tests/rds-transport" $ADDR_A $ADDR_B 4000 4
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ok ' <<<"$output")" -eq 20 ]
	grep -qx '# 20 ok, 0 failed' <<<"$output"
	wait $echo
}
