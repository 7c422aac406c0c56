#!/usr/bin/env bash
# Interop against the real kernel: a qemu guest running Debian's kernel with
# rds + rds_tcp (bookworm's 6.1: legacy RDS/TCP; sid's 7.2: the 2026 series),
# rds-bpf in a host network namespace on a tap. Then the same scenarios
# host<->host, the peer being a second namespace running rds-bpf, so that a
# failure shows whether it is in the wire compatibility or in the engine.
#
# Every boot carries two RDS connections at once in opposite address orders:
# IPv4 and IPv6, one with the peer smaller (the peer connects), one with the
# host smaller (rds-bpf connects). A kernel peer has every boot below; the
# rds-bpf peer the first exchange, cong-monitor and the ib ones (the bats
# suite runs the rest rds-bpf against rds-bpf):
#   exchange (twice, the orders swapped): 0 B..256 KiB datagrams both ways by
#     content hash; 8 sockets each way and the path each port's traffic
#     takes; the 8 paths of the NPATHS handshake; rds ping; each datagram
#     on the wire once (retransmissions aside), no record bad, none of our
#     ports on two paths at once. Against a kernel the second boot has our
#     engine on the userspace data path (load --no-bpf); every other boot
#     runs the default, the BPF data path
#   reset: the host kills path sockets (ss -K) mid-transfer, both ways: the
#     one carrying our datagrams, the peer's, then all (one at a time for the
#     legacy kernel); nothing lost, duplicated or reordered, 8 paths back
#   congestion: our map makes the peer's nonblocking sender get ENOBUFS, and
#     the peer's map ours; everything arrives after the receiver drains
#   cong-monitor: a sender with RDS_CONG_MONITOR, both ways: right after
#     ENOBUFS a datagram to another port of the same host goes out, and the
#     RDS_CMSG_CONG_UPDATE of the drained port comes (rds-congprobe); then a
#     sender back to back with the default send queue: the other port's
#     datagram goes once the queue has room, and the update comes
#   guest (kernel peers only): rds-bpf itself runs in the guest on that
#     kernel (run-guest.sh --rds-bpf, no kernel RDS), `load --bpf` then plain
#     `load`, against rds-bpf here; datagrams both ways by content hash, the
#     guest engine's data path (status -j) as its `features -j` predicted
#   ib: RDS/IB over soft-RoCE between two guests on a bridge (see ib()
#     below): rds-bpf (load --transport ib) against the kernel's rds_rdma
#     on that kernel, or against rds-bpf (peer netns); both address orders
#     at once, datagrams 0 B..1 MiB both ways by content hash; then on each
#     end SO_RDS_TRANSPORT=IB and the bind rules (tests/tools/rds-transport.c
#     with 0: the kernel's answers are the reference) and a round trip
#   ib-reset: ib with rds-bpf's guest cut off the bridge for 8 s
#     mid-transfer: both ends' queue pairs fail, the connections come back,
#     retransmit, and nothing is lost or duplicated
#   ib-unplug: rxe0 deleted under rds-bpf's running engine: the delete
#     returns (the engine released the device), one log line, no spin, and
#     the connection recovers once rxe0 is added again
#   ib-fc (kernel peers): ib with the kernel's IB flow control
#     on (sysctl net.rds.ib.flow_control=1; its default is 0)
#   ib6 (kernel peers): ib over IPv6 (RDMA-CM on 16385): one connection on global
#     addresses (rds-bpf's smaller), one on link-local ones (the peer's)
#   ib-hostile: ib while a raw verbs peer (tests/tools/ib-hostile-peer) in
#     the peer's guest sends rds-bpf malformed CM data and frames, a credit
#     overflow and a flood: each refused, reset or kept as it must be,
#     counted exactly, the ib datagrams still whole, the engine idle after
#   ib-bench (on request, peer netns only; make bench BENCH_VM=1): rds-bpf
#     over ib and over tcp in the same two guests, bulk MB/s and 64 B
#     ping-pong p50, 3 rounds: medians, ranges and the per-round ratio
#   kbench (on request): the same-guest bench, tests/vm/kbench.sh (the kernel's
#     AF_RDS, then rds-bpf under the shim, each next to TCP, in one boot)
# Each boot's traffic is captured on the host's interface (tests/lib/capture.sh)
# and decoded by build/sbin/rds-dissect, and by tshark with tools/rds.lua to
# the same records; a failed check prints the last RDS records, and a failed
# run's directory is kept. TAP-style "ok N" lines.
#   errno: the AF_RDS errno table (tests/tools/rds-errno.c) run on the peer
#     against an echo service here: on a kernel peer these are the kernel's
#     own answers, on the rds-bpf peer the shim's; one table for all three,
#     where a kernel version differs the table says so
# RDSB_VM_PEERS picks the peers (default "legacy sid netns"), RDSB_VM_SCENARIOS
# the boots (default "exchange reset congestion cong-monitor guest errno ib ib-fc ib6
# ib-hostile ib-reset ib-unplug"; ib-bench and kbench on request; ib-hostile and ib-unplug
# with one peer only, sid if it is one).
# RDSB_LOAD_OPTS go to our engine's load in every boot (e.g. --bpf).
# RDSB_VM_JOBS: how many guests run at once (default: the CPUs; see the jobs
# below). Each boot ends with a line of how long it took.
# RDSB_VM_KEEP=1 keeps the work directory (captures, consoles) even when all passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/tests/lib/hosts.sh"
source "$root/tests/lib/capture.sh"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
PEERS=${RDSB_VM_PEERS:-legacy sid netns}
SCENARIOS=${RDSB_VM_SCENARIOS:-exchange reset congestion cong-monitor guest errno ib ib-fc ib6 ib-hostile ib-reset ib-unplug}
N=${RDSB_VM_MSGS:-200}		# bulk datagrams each way per connection
SIZES=${RDSB_VM_SIZES:-0:262144}
GSIZES=${RDSB_VM_GUEST_SIZES:-0:65536}	# rds-bpf in the guest (TCG: slower)
M=20				# datagrams from each of the 8 sockets
# A guest's time limit (run-guest.sh --timeout). It is also the idle timeout
# of our receivers that are ready before the guest boots: on a busy machine a
# TCG boot alone can take over a minute.
BOOT=240
# datagrams each way per connection while paths are killed: a TCG guest
# moves them at about 1 MB/s, so 10000 (10 MB each way) outlast the three
# rounds of kills
R=${RDSB_VM_RESET_MSGS:-10000}
work=$(mktemp -d)
GUEST_OPTS=()
ns=rdsbvm$$			# the host (rds-bpf under test)
ns2=rdsbvp$$			# the peer when it is rds-bpf too
n=0
failed=0

ns_down() {	# NS: engine, processes, pins, namespace
	[ -e "/run/netns/$1" ] || return 0
	nsenter --net="/run/netns/$1" "$RDSB_BIN" unload >/dev/null 2>&1
	ip netns pids "$1" 2>/dev/null | xargs -r kill -9 2>/dev/null
	rm -rf "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$1")"
	ip netns del "$1" 2>/dev/null
}
declare -A running=()	# the jobs (below) under way: pid -> job
cleanup() {
	local p
	for p in "${!running[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${!running[@]}"; do wait "$p" 2>/dev/null; done
	if [ $failed -gt 0 ] || [ "${RDSB_VM_KEEP:-0}" = 1 ]; then
		keep=$(mktemp -d "${TMPDIR:-/tmp}/rds-bpf-vm-failed.XXXXXX")
		mv "$work"/* "$keep"/ 2>/dev/null
		echo "# kept for inspection: $keep (decode a wire.pcap with build/sbin/rds-dissect, a roce.pcap with tests/tools/rds-ib-records.py)"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# Where a guest that timed out was (run-guest.sh's LOG.nmi, the panic an NMI
# set off), first and once for each boot's directory: a frozen guest says
# nothing else.
declare -A nmi_done=()
nmi_shown() {	# DIR
	local f
	[ -z "${nmi_done[$1]:-}" ] || return 0
	nmi_done[$1]=1
	for f in "$1"/*.nmi; do
		[ -s "$f" ] || continue
		echo "# ---- ${f##*/}: the guest at its timeout ----"
		{ grep -E 'Comm:|RIP:' "$f" | head -n 2
		  sed -n '/<\(IRQ\|TASK\)>/,/<\/TASK>/p' "$f" | grep -v '\]  ? ' | head -n 14; } | sed 's/^/# /'
	done
}
result() {	# NAME RC [DIAGNOSTICS_FILE]: one TAP line; on failure the
	# diagnostics and the last RDS records of the boot's capture ($d);
	# RC 77: not decided, a skip with the file's first line as the reason
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n $1"
		return
	fi
	if [ "$2" -eq 77 ]; then
		echo "ok $n $1 # SKIP $(head -n 1 "$3")"
		return
	fi
	echo "not ok $n $1"
	failed=$((failed + 1))
	nmi_shown "$d"
	[ -n "${3:-}" ] && sed 's/^/# /' "$3" | tail -n 40
	if [ -s "$d/wire.pcap" ]; then
		echo "# ---- the last RDS records on the wire ($d/wire.pcap) ----"
		"$RDSB_DISSECT" "$d/wire.pcap" 2>&1 | tail -n 40 | sed 's/^/# /'
	fi
	if [ -s "$d/roce.pcap" ]; then
		echo "# ---- the last RDS/IB messages on the wire ($d/roce.pcap, tests/tools/rds-ib-records.py) ----"
		"$root/tests/tools/rds-ib-records.py" "$d/roce.pcap" --tail 40 2>&1 | sed 's/^/# /'
	fi
}

# rds-xfer on the host; a blocking send waits for as long as the peer's
# congestion map says the port is congested, so everything has a bound
hx() { in_host $ns timeout $((BOOT + 60)) env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" "$@"; }
br() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }		# an address for ADDR:PORT

# ---- the peer: a qemu guest with kernel RDS, or a namespace with rds-bpf ----

# host_up PEER: the host namespace with its interface vmtap (a tap for the
# guest, a veth to the peer namespace), the capture, the engine(s).
# Addresses: $G4 $H4 $G6 $H6 (peer and host).
host_up() {
	ip netns add $ns
	ip -n $ns link set lo up
	if [ "$1" = netns ]; then
		ip netns add $ns2
		ip -n $ns2 link set lo up
		ip link add vmtap netns $ns type veth peer name eth0 netns $ns2
		ip -n $ns2 addr add "$G4/24" dev eth0
		ip -n $ns2 -6 addr add "$G6/64" dev eth0 nodad
		ip -n $ns2 link set eth0 up
		in_host $ns2 "$RDSB_BIN" load --log "$d/peer-engine.log" >/dev/null || return 1
	else
		ip -n $ns tuntap add dev vmtap mode tap
	fi
	ip -n $ns addr add "$H4/24" dev vmtap
	ip -n $ns -6 addr add "$H6/64" dev vmtap nodad
	ip -n $ns link set vmtap up
	capture_start $ns vmtap "$d/wire.pcap" || return 1
	# shellcheck disable=SC2086 # RDSB_LOAD_OPTS: options, as in tests/lib/hosts.sh
	in_host $ns "$RDSB_BIN" load --log "$d/engine.log" ${RDSB_LOAD_OPTS:-} >/dev/null
}

# host_down: keep the engines' status and the decoded capture, remove the rest
host_down() {
	capture_stop
	in_host $ns "$RDSB_BIN" status >"$d/status" 2>&1
	[ ! -e /run/netns/$ns2 ] || in_host $ns2 "$RDSB_BIN" status >"$d/peer-status" 2>&1
	ns_down $ns
	ns_down $ns2
	"$RDSB_DISSECT" -f "$d/wire.pcap" >"$d/wire.txt" 2>&1
}

# Shell functions for the peer's script (busybox sh in the guest):
# mark NAME tells the host (which polls the console) that NAME happened;
# ready FILE... waits for rds-xfer --ready files; show TAG FILE prints FILE
# with each line tagged, for the host to find. settle N waits until N
# RDS/TCP lanes (port 16385) are established with nothing unacknowledged on
# any, on two looks in a row (a lane hands the congestion map it queued as
# it came up to TCP from a worker, a moment later): the maps of the
# path-ups are through, and a later one is not overtaken by one of them.
PRELUDE='
mark() { echo; echo "RDSB-SYNC $1"; }
ready() {
	for f in "$@"; do
		i=0
		while [ ! -e "$f" ]; do
			i=$((i + 1)); [ $i -le 1200 ] || { echo "not ready: $f"; return 1; }
			sleep 0.05
		done
	done
}
show() { sed "s/^/$1: /" "$2"; }
lanes_idle() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v n="$1" '"'"'
		$4 == "01" && ($2 ~ /:4001$/ || $3 ~ /:4001$/) { up++; if ($5 !~ /^0+:/) busy++ }
		END { exit !(up == n && !busy) }'"'"'
}
settle() {
	i=0 seen=0
	while [ $seen -lt 2 ]; do
		if lanes_idle "$1"; then seen=$((seen + 1)); else seen=0; fi
		i=$((i + 1)); [ $i -le 200 ] || { echo "not settled: $1 lanes"; return 1; }
		sleep 0.1
	done
}
'

# peer_start PEER SCRIPT: boots the guest (or starts the namespace peer) that
# runs SCRIPT; its console goes to $d/console; $peer_pid. GUEST_OPTS: more
# run-guest.sh options (an array).
peer_start() {
	if [ "$1" = netns ]; then
		mkdir -p "$d/peer" "$d/bin"
		printf '#!/bin/sh\nexec env LD_PRELOAD="%s" "%s" "$@"\n' "$RDSB_PRELOAD" "$RDSB_XFER" >"$d/bin/rds-xfer"
		printf '#!/bin/sh\nexec env LD_PRELOAD="%s" "%s" "$@"\n' "$RDSB_PRELOAD" "$RDSB_ERRNO" >"$d/bin/rds-errno"
		printf '#!/bin/sh\nexec env LD_PRELOAD="%s" "%s" "$@"\n' "$RDSB_PRELOAD" "$root/build/tests/rds-congprobe" >"$d/bin/rds-congprobe"
		chmod +x "$d/bin/rds-xfer" "$d/bin/rds-errno" "$d/bin/rds-congprobe"
		(cd "$d/peer" && in_host $ns2 env PATH="$d/bin:$PATH" sh -c "$PRELUDE$2"'
			rc=$?; echo; echo "RDSB-VM-RESULT rc=$rc"; exit $rc') >"$d/console" 2>&1 &
	else
		: >"$d/console"
		"$here/run-guest.sh" "${GUEST_OPTS[@]}" --netns $ns --tap vmtap --guest-addr "$G4/24" --host-addr "$H4/24" \
			--guest-addr6 "$G6/64" --host-addr6 "$H6/64" --kernel "$1" --timeout "${peer_timeout:-$BOOT}" --log "$d/console" \
			--add "$errno_static:/bin/rds-errno" --add "$congprobe_static:/bin/rds-congprobe" -- "$PRELUDE$2" >"$d/run-guest.out" 2>&1 &
	fi
	peer_pid=$!
}

# peer_wait: the peer's exit status; its console, without CRs, in $d/peer.out
peer_wait() {
	local rc
	wait "$peer_pid"
	rc=$?
	peer_pid=''
	tr -d '\r' <"$d/console" >"$d/peer.out"
	return $rc
}

# wait_mark NAME: until the peer's script did "mark NAME" (or it ended)
wait_mark() {
	for _ in $(seq 2400); do
		tr -d '\r' <"$d/console" | grep -q "^RDSB-SYNC $1\$" && return 0
		kill -0 "$peer_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "the peer never reached '$1'" >>"$d/diag"
	return 1
}

host_jobs() {	# this shell's background jobs but the peer and the captures
	local j
	for j in $(jobs -p); do
		[ "$j" = "${peer_pid:-}" ] || [[ " ${CAPTURE_PIDS[*]} " == *" $j "* ]] || echo "$j"
	done
}

wait_host_jobs() {	# (a bare `wait` would wait for the captures too)
	local j
	for j in $(host_jobs); do wait "$j"; done
}

# ---- what the outputs say ----
sent_hash() { sed -n "s/^${2:-}sent .* hash \([0-9a-f]*\).*/\1/p" "$1" | head -n 1; }	# FILE [TAG: ]
from_hash() {	# FILE FROM COUNT [TAG: ]: hash of exactly COUNT datagrams from FROM
	grep -F "${4:-}from $2 msgs $3 " "$1" | head -n 1 | sed 's/.* hash \([0-9a-f]*\).*/\1/'
}
enobufs() { sed -n "s/^${2:-}sent .* enobufs \([0-9]*\).*/\1/p" "$1" | head -n 1; }
established() {	# ADDR: established RDS/TCP connections to ADDR in the host
	in_host $ns ss -Htn state established dst "$(br "$1")" '( sport = :16385 or dport = :16385 )' | wc -l
}
# wire_data SRC: distinct data records (sport, dport, seq, len: a
# retransmission is the same record; the length tells apart the datagrams
# of a port that moved to another path, whose numbers start again) from
# address SRC to the test ports 4000-4002
wire_data() {
	awk -v s="$(br "$1"):" 'index($2, s) == 1 && $NF == "data" && $14 ~ /^400[012]$/ && !(($12, $14, $6, $10) in seen) {
			seen[$12, $14, $6, $10]; n++}
		END {print n + 0}' "$d/wire.txt"
}
# wire_interleaved SRC: the ports from SRC whose datagrams went back to a
# TCP connection they had left for another, i.e. were on two paths at once
# (a port moves when the path count changes: only once all it sent before
# is acked, so that the receiver gets them in order)
wire_interleaved() {
	awk -v s="$(br "$1"):" 'index($2, s) == 1 && $NF == "data" && $14 ~ /^400[012]$/ {
			k = $12 ">" $14; st = $2 " " $4
			if ((k in last) && last[k] != st) {
				if ((k, st) in left) bad[k]
				left[k, last[k]]
			}
			last[k] = st
		}
		END {for (k in bad) print k}' "$d/wire.txt"
}
wire_clean() { grep -q ' bad 0 undecoded-streams 0$' "$d/wire.txt"; }
# wire_result NAME: the result of a check on the capture (status in $?);
# a capture that tcpdump could not keep whole decides nothing: a skip
wire_result() {
	local rc=$? lost
	lost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' "$d/wire.pcap.tcpdump")
	if [ "${lost:-0}" -gt 0 ] && [ $rc -ne 0 ]; then
		echo "the capture dropped $lost packets (machine busy)" >"$d/wire.lost"
		result "$1" 77 "$d/wire.lost"
	else
		result "$1" $rc "${2:-$d/wire.txt}"
	fi
}

# wire_crosscheck LABEL: Wireshark (tshark with tools/rds.lua) decodes the
# boot's capture to the same records as rds-dissect (a skip without tshark)
wire_crosscheck() {
	if ! command -v tshark >/dev/null; then
		echo "tshark is not installed (tools/install-deps.sh)" >"$d/wire.crosscheck"
		result "$1: Wireshark decodes the capture's records as rds-dissect does" 77 "$d/wire.crosscheck"
		return
	fi
	capture_crosscheck "$d/wire.pcap" >"$d/wire.crosscheck" 2>&1
	wire_result "$1: Wireshark decodes the capture's records as rds-dissect does" "$d/wire.crosscheck"
}

order() {	# PEER_ADDR HOST_ADDR: which one connects
	if [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; then echo "peer smaller"; else echo "host smaller"; fi
}

# ---- scenarios ----

# pings: rds-bpf ping, 3 times, to the peer on both connections
pings() {
	local x ga
	for x in 4 6; do
		eval "ga=\$G$x"
		in_host $ns "$RDSB_BIN" ping -c 3 -i 0.05 "$ga" >"$d/v$x.ping" 2>&1
	done
}

# exchange PEER LABEL: on both connections, bulk datagrams both ways at
# once (so both sides open the connection at the same moment), then 8
# sockets each way; paths, ping, the capture
exchange() {
	local peer=$1 label=$2 x ga ha p script='' rdy='' bulk='' ports='' bulk_pids=() port_pids=() want
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x"
		ga=$(br "$ga") ha=$(br "$ha")
		script+="rds-xfer recv -b $ga:4001 -n $N -s $SIZES -S 4 --rcvbuf 16777216 -t 100 --senders 1 --ready rdy.$x.1 >v$x.r1 2>&1 &
			bulk=\"\$bulk \$!\"
			rds-xfer recv -b $ga:4002 -n $((8 * M)) -s 0:2000 -S 6 -t 100 --senders 8 --ready rdy.$x.2 >v$x.r2 2>&1 &
			rds-xfer recv -b $ga:4999 -n 1 -s 0:0 -t 100 --ready rdy.$x.9 >/dev/null 2>&1 &
			"
		rdy+=" rdy.$x.1 rdy.$x.2 rdy.$x.9"
		bulk+="rds-xfer send -b $ga:5000 -d $ha:4000 -n $N -s $SIZES -S 3 --sndbuf 16777216 -t 100 >v$x.s1 2>&1 &
			bulk=\"\$bulk \$!\"
			"
		ports+="for p in 6000 6001 6002 6003 6004 6005 6006 6007; do
				rds-xfer send -b $ga:\$p -d $ha:4002 -n $M -s 0:2000 -S 5 -t 100 >v$x.s2.\$p 2>&1 &
			done
			"
	done
	script+="ready$rdy || exit 1
		mark ready
		$bulk
		wait \$bulk
		mark bulk-done
		$ports
		wait
		for f in v*; do show \$f \$f; done"
	: >"$d/diag"
	host_up "$peer" || return 1
	for x in 4 6; do
		eval "ha=\$H$x"
		hx recv -b "$(br "$ha")":4000 -n $N -s $SIZES -S 3 --rcvbuf 16777216 -t $BOOT --senders 1 \
			--ready "$d/rdy.$x.1" >"$d/v$x.hr1" 2>&1 &
		bulk_pids+=($!)
		hx recv -b "$(br "$ha")":4002 -n $((8 * M)) -s 0:2000 -S 5 -t $BOOT --senders 8 \
			--ready "$d/rdy.$x.2" >"$d/v$x.hr2" 2>&1 &
		port_pids+=($!)
	done
	for _ in $(seq 200); do [ "$(ls "$d"/rdy.* 2>/dev/null | wc -l)" -eq 4 ] && break; sleep 0.05; done
	peer_start "$peer" "$script"
	if wait_mark ready; then
		for x in 4 6; do
			eval "ga=\$G$x ha=\$H$x"
			hx send -b "$(br "$ha")":5000 -d "$(br "$ga")":4001 -n $N -s $SIZES -S 4 --sndbuf 16777216 -t 100 \
				>"$d/v$x.hs1" 2>&1 &
			bulk_pids+=($!)
		done
	fi
	wait "${bulk_pids[@]}"
	if wait_mark bulk-done; then
		for x in 4 6; do
			eval "ga=\$G$x ha=\$H$x"
			established "$ga" >"$d/v$x.paths"	# the peer is still there
			for p in 6000 6001 6002 6003 6004 6005 6006 6007; do
				hx send -b "$(br "$ha")":$p -d "$(br "$ga")":4002 -n $M -s 0:2000 -S 6 -t 100 \
					>"$d/v$x.hs2.$p" 2>&1 &
				port_pids+=($!)
			done
		done
	fi
	wait "${port_pids[@]}"
	pings
	for x in 4 6; do	# the peer's script ends when this arrives
		eval "ga=\$G$x ha=\$H$x"
		hx send -b "$(br "$ha")":4998 -d "$(br "$ga")":4999 -n 1 -s 0:0 -t 30 >/dev/null 2>&1
	done
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x"
		# the path our rule gives each port: bind the ports again, ask the engine
		for p in 6000 6001 6002 6003 6004 6005 6006 6007; do
			hx recv -b "$(br "$ha")":$p -n 1 -t 30 --ready "$d/ph.$x.$p" >/dev/null 2>&1 &
		done
	done
	for _ in $(seq 200); do [ "$(ls "$d"/ph.* 2>/dev/null | wc -l)" -eq 16 ] && break; sleep 0.05; done
	in_host $ns "$RDSB_BIN" info -P -j >"$d/port-paths.json" 2>&1
	in_host $ns "$RDSB_BIN" status -j >"$d/status.json" 2>&1
	# shellcheck disable=SC2046
	kill $(host_jobs) 2>/dev/null
	wait_host_jobs 2>/dev/null
	peer_wait >/dev/null
	host_down
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x"
		exchange_checks "$label" "$x" "$ga" "$ha" "$peer"
	done
	# the default load is on the BPF data path, load --no-bpf on the userspace one
	want=bpf
	[[ " ${RDSB_LOAD_OPTS:-} " != *" --no-bpf "* ]] || want=userspace
	{ cat "$d/status.json"; grep -i 'sockmap\|userspace' "$d/engine.log"; } >"$d/diag.path" 2>&1
	jq -e --arg w $want '.data_path == $w and .counters.rx_delivered > 0' "$d/status.json" >/dev/null
	result "$label: our engine ran on the $want data path (load${RDSB_LOAD_OPTS:+ $RDSB_LOAD_OPTS})" $? "$d/diag.path"
	wire_crosscheck "$label"
}

# exchange_checks LABEL 4|6 PEER_ADDR HOST_ADDR PEER
exchange_checks() {
	local label=$1 x=$2 ga=$3 ha=$4 peer=$5 side order name diag=$d/diag.$2 ok p s h stream streams want
	order="host smaller"
	[ "$(printf '%s\n%s\n' "$ga" "$ha" | sort -V | head -n 1)" = "$ga" ] && order="peer smaller"
	name="$label, IPv$x, $order"
	{
		echo "peer console (tail):"
		grep -v '^\[' "$d/peer.out" | grep -v "^v[46]" | tail -n 8
		grep -h "" "$d/v$x".* "$d/diag" 2>/dev/null
		grep "^v$x" "$d/peer.out"
		cat "$d/status"
		tail -n 15 "$d/engine.log"
	} >"$diag" 2>&1
	s=$(sent_hash "$d/peer.out" "v$x.s1: ")
	h=$(from_hash "$d/v$x.hr1" "$(br "$ga"):5000" $N)
	[ -n "$s" ] && [ "$s" = "$h" ]
	result "$name: $N datagrams ($SIZES B) peer->host, hashes equal" $? "$diag"
	s=$(sent_hash "$d/v$x.hs1")
	h=$(from_hash "$d/peer.out" "$(br "$ha"):5000" $N "v$x.r1: ")
	[ -n "$s" ] && [ "$s" = "$h" ]
	result "$name: $N datagrams ($SIZES B) host->peer, hashes equal" $? "$diag"
	ok=0
	for p in 6000 6001 6002 6003 6004 6005 6006 6007; do
		s=$(sent_hash "$d/peer.out" "v$x.s2.$p: ")
		h=$(from_hash "$d/v$x.hr2" "$(br "$ga"):$p" $M)
		[ -n "$s" ] && [ "$s" = "$h" ] && ok=$((ok + 1))
		s=$(sent_hash "$d/v$x.hs2.$p")
		h=$(from_hash "$d/peer.out" "$(br "$ha"):$p" $M "v$x.r2: ")
		[ -n "$s" ] && [ "$s" = "$h" ] && ok=$((ok + 1))
	done
	[ $ok -eq 16 ]
	result "$name: 8 sockets each way, $M datagrams each, all 16 hashes equal" $? "$diag"
	[ "$(cat "$d/v$x.paths")" -eq 8 ]
	result "$name: the NPATHS handshake opened 8 TCP paths" $? "$diag"
	[ "$(grep -cE '^ +[1-3]: [0-9]+ usec$' "$d/v$x.ping")" -eq 3 ]
	result "$name: rds-bpf ping answered 3 times" $? "$d/v$x.ping"
	want=$((N + 8 * M))
	wire_clean && [ "$(wire_data "$ga")" -eq $want ] && [ "$(wire_data "$ha")" -eq $want ]
	wire_result "$name: the capture holds each of the $want datagrams each way once (retransmissions aside), none bad"
	wire_interleaved "$ha" >"$diag.interleaved"
	[ ! -s "$diag.interleaved" ]
	wire_result "$name: none of our ports' datagrams are on two paths at once (listed: those that are)" \
		"$diag.interleaved"
	# Paths per port, on the wire. The peer's ports: each on one path (the
	# kernel hashes the bound port with a per-boot random seed, so which one
	# cannot be predicted), and not all on the same one. Ours: each on the
	# path our rule gives (rds-bpf info -P), i.e. the TCP connection that the
	# engine's status lists for that path index.
	{
		grep -F "stream $(br "$ga"):" "$d/wire.txt"
		grep -F "stream $(br "$ha"):" "$d/wire.txt"
		jq -c --arg f "$ga" '.port_paths[]? | select(.faddr == $f)' "$d/port-paths.json"
		jq -c --arg f "$ga" '.connections[] | select(.faddr == $f) | .paths[] | [.path, .lport, .fport]' "$d/status.json"
	} >"$diag.paths" 2>&1
	ok=0
	streams=''
	for p in 6000 6001 6002 6003 6004 6005 6006 6007; do
		stream=$(grep -F "stream $(br "$ga"):" "$d/wire.txt" | grep -F " $p>4002:" | grep -c " $p>4002:$M\b")
		[ "$stream" -eq 1 ] && [ "$(grep -F "stream $(br "$ga"):" "$d/wire.txt" | grep -c " $p>4002:")" -eq 1 ] &&
			ok=$((ok + 1))
		streams+=$(grep -F "stream $(br "$ga"):" "$d/wire.txt" | grep -F " $p>4002:" | cut -d' ' -f2-4)$'\n'
		# ours: path index -> TCP ports -> the stream that must carry port p
		local path lport fport
		path=$(jq --arg f "$ga" --argjson p "$p" '.port_paths[]? | select(.faddr == $f and .lport == $p) | .path' \
			"$d/port-paths.json" 2>/dev/null)
		read -r lport fport < <(jq -r --arg f "$ga" --argjson i "${path:--1}" \
			'.connections[] | select(.faddr == $f) | .paths[] | select(.path == $i) | "\(.lport) \(.fport)"' \
			"$d/status.json" 2>/dev/null)
		[ -n "${lport:-}" ] && grep -qF "stream $(br "$ha"):$lport -> $(br "$ga"):$fport " "$d/wire.txt" &&
			[ "$(grep -F " $p>4002:" "$d/wire.txt" | grep -F "stream $(br "$ha"):" | grep -c "")" -eq 1 ] &&
			grep -F "stream $(br "$ha"):$lport -> $(br "$ga"):$fport " "$d/wire.txt" | grep -q " $p>4002:$M\b" &&
			ok=$((ok + 1))
	done
	echo "per-port checks passed: $ok of 16, peer's paths used: $(sort -u <<<"$streams" | grep -c .)" >>"$diag.paths"
	[ $ok -eq 16 ] && [ "$(sort -u <<<"$streams" | grep -c .)" -ge 2 ]
	wire_result "$name: each port's datagrams take one path (ours the one our hash gives), several paths in use" \
		"$diag.paths"
	# SPORT_IDX (2026): the client binds path i's socket to a port = i mod 8
	# and the server maps the accepted socket to path sport % 8, so both
	# ends agree on which socket is which path. We always speak it; the
	# legacy kernel as the client does not.
	side=lport
	[ "$order" = "peer smaller" ] && side=fport
	if [ "$side" = lport ] || [ "$peer" != legacy ]; then
		jq -e --arg f "$ga" --arg side $side \
			'[.connections[] | select(.faddr == $f) | .paths[] | .[$side] % 8 == .path] | length == 8 and all' \
			"$d/status.json" >/dev/null
		result "$name: path i's TCP client port is i mod 8 on all 8 paths (SPORT_IDX)" $? "$diag.paths"
	fi
}

# kill_paths PEER_ADDR all|ours|theirs: kill (ss -K) every path socket to
# the peer, or the one that carries our datagrams (most bytes acked), or the
# busiest other one by bytes received (the peer's); prints how many
kill_paths() {
	local sock
	if [ "$2" = all ]; then
		in_host $ns ss -HK state established dst "$(br "$1")" '( sport = :16385 or dport = :16385 )' 2>/dev/null | grep -c .
		return
	fi
	# ss -i prints each socket on two lines: addresses, then its counters
	sock=$(in_host $ns ss -Htin state established dst "$(br "$1")" '( sport = :16385 or dport = :16385 )' |
		awk -v want="$2" 'function num(key,   i) {
				for (i = 1; i <= NF; i++) if (index($i, key ":") == 1) return substr($i, length(key) + 2) + 0
				return 0
			}
			NR % 2 == 1 {s = $3 " " $4; next}
			{n++; name[n] = s; acked[n] = num("bytes_acked"); recv[n] = num("bytes_received")}
			END {
				for (i = 1; i <= n; i++) if (!a || acked[i] > acked[a]) a = i
				for (i = 1; i <= n; i++) if (i != a && (!r || recv[i] > recv[r])) r = i
				print name[want == "ours" ? a : r]
			}')
	[ -n "$sock" ] || { echo 0; return; }
	# shellcheck disable=SC2086
	in_host $ns ss -HK state established src ${sock% *} dst ${sock#* } 2>/dev/null | grep -c .
}

# reset PEER LABEL (receivers with room for everything, so that no congestion
# map is in flight when a path dies: a legacy kernel was seen to leave its
# receiver's port congested in our view for good after such resets):
# R datagrams each way on both connections while the host
# kills path sockets (ss -K) three times: the one carrying our datagrams,
# the one carrying the peer's, then all (see below for the legacy kernel);
# nothing may be lost, duplicated or reordered, and all 8 paths come back
reset() {
	# shellcheck disable=SC2034 # kills4 and kills6 are counted through eval
	local peer=$1 label=$2 x ga ha script='' rdy='' senders='' pids=() kills4=0 kills6=0 k name rounds
	# two engines on the host moved 20000 datagrams before the kills came
	# round (0 kills, seen on a fast run): four times as many there
	local R=$R
	[ "$peer" = netns ] && R=$((R * 4))
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x"
		ga=$(br "$ga") ha=$(br "$ha")
		script+="rds-xfer recv -b $ga:4101 -n $R -s 0:2000 -S 8 -t 60 --rcvbuf 67108864 --senders 1 --ready rdy.$x.1 >v$x.r 2>&1 &
			rds-xfer recv -b $ga:4999 -n 1 -s 0:0 -t 200 --ready rdy.$x.9 >/dev/null 2>&1 &
			"
		rdy+=" rdy.$x.1 rdy.$x.9"
		[ "$peer" != netns ] && script+="rds-xfer recv -b $ga:4998 -n 1 -s 0:0 -t 60 --ready rdy.$x.8 >/dev/null 2>&1 &
			w$x=\$!
			" && rdy+=" rdy.$x.8"
		senders+="rds-xfer send -b $ga:5100 -d $ha:4100 -n $R -s 0:2000 -S 7 -t 60 >v$x.s 2>&1 &
			"
	done
	# A kernel peer's connections are up (warmed by one datagram from the
	# host) before either side sends: were both to open one at once, the
	# peer could be the one that connects path 0 too, and the side that
	# loses that duel resets the socket it accepted, with what its TCP
	# already acked unread, which the kernel's sender has forgotten
	# (docs/protocol.md §2.2): a loss kernel to kernel too (seen against
	# the 2026 kernel once in 6 runs: accept_reset_larger_peer 1, datagram
	# 102 of 10000 missing). Between two engines delivery acknowledgements
	# keep it.
	warm=''
	[ "$peer" != netns ] && warm='wait $w4 $w6'
	script+="ready$rdy || exit 1
		mark ready
		$warm
		$senders
		wait
		for f in v*; do show \$f \$f; done"
	host_up "$peer" || return 1
	for x in 4 6; do
		eval "ha=\$H$x"
		hx recv -b "$(br "$ha")":4100 -n $R -s 0:2000 -S 7 -t $BOOT --rcvbuf 67108864 --senders 1 --ready "$d/rdy.$x" >"$d/v$x.hr" 2>&1 &
		pids+=($!)
	done
	for _ in $(seq 200); do [ "$(ls "$d"/rdy.* 2>/dev/null | wc -l)" -eq 2 ] && break; sleep 0.05; done
	peer_start "$peer" "$script"
	if wait_mark ready; then
		for x in 4 6; do
			eval "ga=\$G$x ha=\$H$x"
			[ "$peer" != netns ] || continue
			hx send -b "$(br "$ha")":4997 -d "$(br "$ga")":4998 -n 1 -s 0:0 -t 30 >/dev/null 2>&1
			# (legacy: all 8 paths too, see the rounds below; elsewhere
			# the transfers would end before the kills)
			[ "$peer" = legacy ] || continue
			for _ in $(seq 100); do [ "$(established "$ga")" -eq 8 ] && break; sleep 0.1; done
		done
		for x in 4 6; do
			eval "ga=\$G$x ha=\$H$x"
			hx send -b "$(br "$ha")":5100 -d "$(br "$ga")":4101 -n $R -s 0:2000 -S 8 -t 60 >"$d/v$x.hs" 2>&1 &
			pids+=($!)
		done
		# under way (some datagrams in), then kill the paths of both
		# connections while our senders still send
		for _ in $(seq 600); do
			[ "$(in_host $ns "$RDSB_BIN" status -j | jq .counters.rx_delivered)" -gt $((R / 10)) ] && break
			sleep 0.05
		done
		rounds="ours theirs all"
		# The legacy kernel does not read a path's socket out before it
		# drops it (2026 kernels do), so a reset loses what its TCP had
		# acked but RDS not yet parsed: there, only paths that do not
		# carry our datagrams. It also pairs a reconnected socket with the
		# first path that is down: with several down, paths (and their
		# sequence numbers) can be paired anew, a loss kernel to kernel
		# too (docs/protocol.md §2.3, §2.5): one at a time, each after the last is
		# back.
		[ "$peer" = legacy ] && rounds="theirs theirs theirs"
		for k in $rounds; do
			for x in 4 6; do
				eval "ga=\$G$x"
				for _ in $(seq 50); do [ "$(established "$ga")" -eq 8 ] && break; sleep 0.1; done
				# only while datagrams still flow on this connection
				grep -q '^sent' "$d/v$x.hs" && grep -q '^recv' "$d/v$x.hr" && continue
				[ "$(kill_paths "$ga" $k)" -gt 0 ] && eval "kills$x=\$((kills$x + 1))"
			done
			sleep 0.4
		done
	fi
	wait "${pids[@]}"
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x"
		for _ in $(seq 100); do [ "$(established "$ga")" -eq 8 ] && break; sleep 0.1; done
		established "$ga" >"$d/v$x.paths"
		hx send -b "$(br "$ha")":4998 -d "$(br "$ga")":4999 -n 1 -s 0:0 -t 30 >/dev/null 2>&1
	done
	in_host $ns "$RDSB_BIN" status -j >"$d/status.json" 2>&1
	peer_wait >/dev/null
	host_down
	for x in 4 6; do
		eval "ga=\$G$x ha=\$H$x k=\$kills$x"
		name="$label, IPv$x, $(order "$ga" "$ha")"
		{ echo "kills while datagrams flowed: $k"; cat "$d/v$x.hr" "$d/v$x.hs" "$d/v$x.paths"
		  grep "^v$x" "$d/peer.out"; cat "$d/status"; } >"$d/diag.$x" 2>&1
		s=$(sent_hash "$d/peer.out" "v$x.s: ")
		[ "$k" -gt 0 ] && [ -n "$s" ] && [ "$s" = "$(from_hash "$d/v$x.hr" "$(br "$ga"):5100" $R)" ]
		result "$name: paths killed mid-transfer ($k times): $R datagrams peer->host arrive once, in order" $? "$d/diag.$x"
		s=$(sent_hash "$d/v$x.hs")
		[ "$k" -gt 0 ] && [ -n "$s" ] && [ "$s" = "$(from_hash "$d/peer.out" "$(br "$ha"):5100" $R "v$x.r: ")" ]
		result "$name: paths killed mid-transfer ($k times): $R datagrams host->peer arrive once, in order" $? "$d/diag.$x"
		[ "$(cat "$d/v$x.paths")" -eq 8 ]
		result "$name: all 8 paths are back after the kills" $? "$d/diag.$x"
	done
	[ "$(jq .counters.rx_delivered "$d/status.json")" -eq $((2 * R)) ]
	rc=$?
	result "$label, reset: our engine delivered exactly $((2 * R)) datagrams, no duplicate" $rc "$d/status.json"
	wire_crosscheck "$label"
}

# congestion PEER LABEL: on the IPv4 connection (peer smaller) our receiver
# holds off reading, so our congestion map makes the peer's nonblocking
# sender get ENOBUFS; on the IPv6 one (host smaller) the peer's receiver
# holds off and the peer's map does it to ours. Then everything arrives.
# Ours stops after CONG_V6_PAUSE datagrams (the peer's rcvbuf, 16 KiB, is
# full by then) until our engine has the peer's map with the port congested
# (info -C, at most 3 s), and then sends on: a kernel peer's
# TCP took all of 2000 into its buffers before its map reached us (7.2 in a
# TCG guest, 24 ms after the last: no ENOBUFS, in a CI-like run).
CONG_V6_N=400 CONG_V6_PAUSE=20
congestion() {
	local peer=$1 label=$2 g4 h4 g6 h6 s script sync=''
	g4=$(br "$G4") h4=$(br "$H4") g6=$(br "$G6") h6=$(br "$H6")
	script="rds-xfer recv -b $g6:4003 -n $CONG_V6_N -s 1000:4000 -S 9 --rcvbuf 16384 --hold 7000 -t 60 --senders 1 \\
			--ready rdy.r >v6.r 2>&1 &
		rds-xfer recv -b $g4:4999 -n 1 -s 0:0 -t 100 --ready rdy.sync >/dev/null 2>&1 &
		sync=\$!
		ready rdy.r rdy.sync || exit 1
		mark ready
		settle 8 || exit 1
		mark settled
		wait \$sync
		rds-xfer send -b $g4:5002 -d $h4:4002 -n 300 -s 1000:4000 -S 5 --nonblock -t 60 >v4.s 2>&1
		wait
		for f in v*; do show \$f \$f; done"
	host_up "$peer" || return 1
	peer_start "$peer" "$script"
	if wait_mark ready; then
		# the IPv6 connection's paths up first, and settled on the peer
		# (settle): the first congestion map of a path, queued as it came
		# up, can reach us after a later one from another path and clear
		# the port again (docs/protocol.md 1.3, "Several paths, no order
		# between maps")
		in_host $ns "$RDSB_BIN" ping -c 1 -I "$H6" "$G6" >/dev/null 2>&1
		wait_mark settled
		hx send -b "$h6":5003 -d "$g6":4003 -n $CONG_V6_N -s 1000:4000 -S 9 --nonblock -t 60 \
			--pause-at "$CONG_V6_PAUSE:$d/pause.v6" >"$d/v6.hs" 2>&1 &
		sync=$!
		# (the peer's receiver holds 7 s: its map comes well before that)
		(for _ in $(seq 200); do [ -e "$d/pause.v6" ] && break; sleep 0.05; done
		 t=$((SECONDS + 3))
		 until [ $SECONDS -ge $t ] || in_host $ns "$RDSB_BIN" info -C -j 2>/dev/null | jq -e --arg a "$G6" \
				'.congested_ports | any(.addr == $a and .port == 4003 and .side == "peer")' >/dev/null; do
			sleep 0.05
		 done
		 rm -f "$d/pause.v6") &
		hx recv -b "$h4":4002 -n 300 -s 1000:4000 -S 5 --rcvbuf 16384 --hold 4000 -t 60 --senders 1 \
			--ready "$d/rdy.h" >"$d/v4.hr" 2>&1 &
		for _ in $(seq 200); do [ -e "$d/rdy.h" ] && break; sleep 0.05; done
		hx send -b "$h4":4998 -d "$g4":4999 -n 1 -s 0:0 -t 30 >/dev/null 2>&1
		wait $! "$sync"
	fi
	wait_host_jobs
	peer_wait >/dev/null
	host_down
	{ cat "$d/v4.hr" "$d/v6.hs"; grep '^v[46]' "$d/peer.out"; cat "$d/status"; } >"$d/diag" 2>&1
	s=$(sent_hash "$d/peer.out" "v4.s: ")
	[ "$(enobufs "$d/peer.out" "v4.s: ")" -gt 0 ] && [ -n "$s" ] && [ "$s" = "$(from_hash "$d/v4.hr" "$g4:5002" 300)" ]
	rc=$?
	result "$label, IPv4, $(order "$G4" "$H4"): our congestion map makes the peer's nonblocking sender get ENOBUFS; all 300 arrive" $rc "$d/diag"
	s=$(sent_hash "$d/v6.hs")
	[ "$(enobufs "$d/v6.hs")" -gt 0 ] && [ -n "$s" ] && [ "$s" = "$(from_hash "$d/peer.out" "$h6:5003" $CONG_V6_N "v6.r: ")" ]
	rc=$?
	result "$label, IPv6, $(order "$G6" "$H6"): the peer's congestion map makes our nonblocking sender get ENOBUFS; all $CONG_V6_N arrive" $rc "$d/diag"
	# on the wire: each map first marks the held port, a later one clears it
	congested_then_clear "$h4" 4002
	wire_result "$label, IPv4: our congestion map on the wire marks port 4002, a later one clears it"
	congested_then_clear "$g6" 4003
	wire_result "$label, IPv6: the peer's congestion map on the wire marks port 4003, a later one clears it"
	wire_crosscheck "$label"
}

# cong_monitor PEER LABEL: a sender with RDS_CONG_MONITOR on (rds-congprobe
# send) hits ENOBUFS on a port whose receiver holds off reading 3 s after its
# first datagram (rds-congprobe hold), then at once sends to another port of
# the same host (an echo: never congested), then waits 15 s for the
# RDS_CMSG_CONG_UPDATE of the drained port. Then the same as a program
# would do it (burst): back to back, with the default send queue, whose
# EAGAIN the datagram to the other port may meet too, until the peer has
# acknowledged what it holds for the congested reader. Both ways at once on
# IPv4: the peer to our 4002 (burst: 4006) and 4004, we to the peer's 4012
# (4016) and 4014. The peer brings the connection up first (a round trip
# to our 4004) and lets its 8 paths settle: a map the peer queued at a
# path-up, read from its bitmap before the port congested, could complete
# after the one that marks it and clear it for good (docs/protocol.md 1.3,
# "Several paths, no order between maps"; our sender then never got
# ENOBUFS from a 7.2 peer).
cong_monitor() {
	local peer=$1 label=$2 who how tag script
	script="rds-congprobe hold $G4:4012 5 >hold.out 2>&1 &
		held=\$!
		rds-congprobe hold $G4:4016 5 >hold-burst.out 2>&1 &
		held2=\$!
		rds-xfer echo -b $G4:4014 -t 90 >/dev/null 2>&1 &
		echo=\$!
		rds-xfer pingpong -b $G4:5020 -d $H4:4004 -n 1 -s 1 -t 60 >/dev/null 2>&1 || { echo 'settle: no echo'; exit 1; }
		settle 8 || exit 1
		mark ready
		rds-congprobe send $G4:5002 $H4 4002 4004 20 | sed 's/^/probe: /'
		rds-congprobe send $G4:5006 $H4 4006 4004 20 burst | sed 's/^/burst: /'
		wait \$held \$held2
		kill \$echo
		show held hold.out
		show held hold-burst.out"
	host_up "$peer" || return 1
	hprobe hold "$H4":4002 5 >"$d/hold.out" 2>&1 &
	hprobe hold "$H4":4006 5 >"$d/hold-burst.out" 2>&1 &
	hx echo -b "$H4":4004 -t "$BOOT" --ready "$d/rdy.echo" >"$d/echo.out" 2>&1 &
	for _ in $(seq 200); do [ -e "$d/rdy.echo" ] && break; sleep 0.05; done
	peer_start "$peer" "$script"
	if wait_mark ready; then
		hprobe send "$H4":5012 "$G4" 4012 4014 20 >"$d/probe.out" 2>&1
		hprobe send "$H4":5016 "$G4" 4016 4014 20 burst >"$d/burst.out" 2>&1
	fi
	peer_wait >/dev/null
	kill $(host_jobs) 2>/dev/null
	wait_host_jobs
	host_down
	for how in probe burst; do
		for who in peer host; do
			if [ $who = peer ]; then
				sed -n "s/^$how: //p" "$d/peer.out" >"$d/$who.$how"
				{ cat "$d/$who.$how" "$d/hold.out" "$d/hold-burst.out" "$d/status"; } >"$d/diag.$who"
			else
				cp "$d/$how.out" "$d/$who.$how"
				{ cat "$d/$who.$how"; grep '^held: ' "$d/peer.out"; cat "$d/status"; } >"$d/diag.$who"
			fi
			sed "s/^/# $who ($how): /" "$d/$who.$how"
			tag=
			[ $how = probe ] || tag=" (back to back)"
			if [ $how = probe ]; then
				grep -q '^other: sent ' "$d/$who.$how"
				result "$label: the $who's sender, right after ENOBUFS on a congested port, sends to another port at once" $? "$d/diag.$who"
			else
				grep -qE '^other: sent |^other_retry: sent ' "$d/$who.$how"
				result "$label: the $who's sender, back to back, right after ENOBUFS sends to another port once its queue has room" $? "$d/diag.$who"
			fi
			grep -q '^update: mask .* after' "$d/$who.$how"
			result "$label: the $who's sender$tag gets the RDS_CMSG_CONG_UPDATE of the drained port" $? "$d/diag.$who"
		done
	done
}
# rds-congprobe on the host, through the shim
hprobe() { in_host $ns timeout $((BOOT + 60)) env LD_PRELOAD="$RDSB_PRELOAD" "$root/build/tests/rds-congprobe" "$@"; }

# congested_then_clear SRC PORT: a map from SRC with only PORT congested,
# then a later one with no port congested
congested_then_clear() {
	awk -v s="$1:" -v p="$2" 'index($2, s) == 1 && / congestion map / {
			if ($0 ~ "\\(1 ports congested: " p "\\)") set = 1
			else if (set && / \(0 ports congested\)/) clear = 1
		}
		END {exit !(set && clear)}' "$d/wire.txt"
}

# errno: rds-errno on the peer (the guest's kernel, or the shim in the peer
# namespace) against rds-xfer echo here; it exits 0 when every case answered
# as the table says.
errno_table() {
	local peer=$1 label=$2 script
	script="{ rds-errno $G4 $H4 4000 ${G4%.*}.99 $G6 $H6 2>&1; echo rc=\$?; } | sed 's/^/errno: /'"
	host_up "$peer" || return 1
	hx echo -b "$(br "$H4")":4000 -t 600 >"$d/echo.out" 2>&1 &
	peer_timeout=600 peer_start "$peer" "$script"	# its timeouts are long under tcg
	peer_wait >/dev/null
	kill $(host_jobs) 2>/dev/null
	wait_host_jobs
	host_down
	grep '^errno: ' "$d/peer.out" >"$d/diag"
	grep -qx 'errno: rc=0' "$d/peer.out"
	result "$label: the AF_RDS errno table (rds-errno), every case" $? "$d/diag"
	sed -n 's/^errno: # /#   /p' "$d/peer.out"	# its notes: the count, what a kernel version did
}

# the guest's rds-errno: static, from the same source
RDSB_ERRNO=${RDSB_ERRNO:-$root/build/tests/rds-errno}
errno_static=$work/rds-errno
gcc -static -O2 -I"$root/tests/tools" -o "$errno_static" "$root/tests/tools/rds-errno.c" ||
	echo "run-suite: no static rds-errno for the guest" >&2
congprobe_static=$work/rds-congprobe
gcc -static -O2 -Wall -Wextra -Werror -o "$congprobe_static" "$root/tests/tools/rds-congprobe.c" ||
	echo "run-suite: no static rds-congprobe for the guest" >&2
transport_static=$work/rds-transport
gcc -static -O2 -Wall -Wextra -Werror -o "$transport_static" "$root/tests/tools/rds-transport.c" ||
	echo "run-suite: no static rds-transport for the guest" >&2

# guest PEER LABEL: rds-bpf itself in the guest (run-guest.sh --rds-bpf; the
# kernel's RDS left out), on this kernel, against rds-bpf here: twice in one
# boot, plain `load` (the sockmap receive and the sk_msg send programs, the
# default) then `load --no-sk-msg` (the sockmap receive path, the engine
# sending), each on its own guest address (a new connection). Datagrams both
# ways by content hash; the guest engine is on the BPF data path, as its
# `features -j` predicted, and by default the guest's sends went out through rdsb_txmsg (the guest
# sends once it has received: the paths are up, so its sends need not wait
# in the engine for them).
guest() {
	local peer=$1 label=$2 i opts ga ha=$H4 p script='' pids=() name want
	local -a gas=("$G4" "$G4B") modes=('' '--no-sk-msg')
	for i in 0 1; do
		ga=${gas[$i]} opts=${modes[$i]} p=$((4000 + 10 * i))
		script+="rds-bpf features -j >feat.$i
			rds-bpf load $opts --log eng.$i || exit 1
			xf recv -b $ga:$((p + 1)) -n $N -s $GSIZES -S 4 --rcvbuf 16777216 -t 100 --senders 1 --ready rdy.$i >r.$i 2>&1 &
			r=\$!
			ready rdy.$i || exit 1
			mark ready.$i
			wait \$r
			xf send -b $ga:5000 -d $ha:$p -n $N -s $GSIZES -S 3 --sndbuf 16777216 -t 100 >s.$i 2>&1
			rds-bpf status -j >status.$i
			rds-bpf unload
			for f in feat.$i status.$i r.$i s.$i; do show \$f \$f; done
			grep -i 'sockmap\\|warn\\|userspace' eng.$i | sed 's/^/eng.$i: /'
			mark done.$i
			"
	done
	script="xf() { env LD_PRELOAD=\"\$RDSB_PRELOAD\" \"\$RDSB_XFER\" \"\$@\"; }
		ip addr add $G4B/24 dev eth0
		$script"
	host_up "$peer" || return 1
	for i in 0 1; do
		hx recv -b "$ha:$((4000 + 10 * i))" -n $N -s $GSIZES -S 3 --rcvbuf 16777216 -t $BOOT --senders 1 \
			--ready "$d/rdy.$i" >"$d/hr.$i" 2>&1 &
		pids+=($!)
	done
	for _ in $(seq 200); do [ "$(ls "$d"/rdy.* 2>/dev/null | wc -l)" -eq 2 ] && break; sleep 0.05; done
	GUEST_OPTS=(--rds-bpf --no-kernel-rds)
	peer_start "$peer" "$script"
	GUEST_OPTS=()
	for i in 0 1; do
		wait_mark ready.$i || break
		hx send -b "$ha:5000" -d "${gas[$i]}:$((4000 + 10 * i + 1))" -n $N -s $GSIZES -S 4 --sndbuf 16777216 -t 100 \
			>"$d/hs.$i" 2>&1
		wait_mark done.$i
	done
	wait "${pids[@]}"
	peer_wait >/dev/null
	host_down
	for i in 0 1; do
		ga=${gas[$i]} want=bpf
		name="$label, rds-bpf in the guest (load${modes[$i]:+ ${modes[$i]}})"
		# by default with sk_msg sends (which of a burst go directly
		# depends on TCP's acks: Nagle's rule, skmsg_send.c), else none
		direct='.sk_msg_sends'
		[ -n "${modes[$i]}" ] && direct='(.sk_msg_sends | not) and .counters.tx_direct == 0'
		sed -n "s/^feat.$i: //p" "$d/peer.out" >"$d/feat.$i.json"
		sed -n "s/^status.$i: //p" "$d/peer.out" >"$d/status.$i.json"
		{ grep -v '^\[' "$d/peer.out" | grep -v '^\(feat\|status\)\.' | tail -n 20
		  cat "$d/hr.$i" "$d/hs.$i" "$d/status"; tail -n 15 "$d/engine.log"; } >"$d/diag.$i" 2>&1
		s=$(sent_hash "$d/peer.out" "s.$i: ")
		[ -n "$s" ] && [ "$s" = "$(from_hash "$d/hr.$i" "$ga:5000" $N)" ]
		result "$name: $N datagrams ($GSIZES B) guest->host, hashes equal" $? "$d/diag.$i"
		s=$(sent_hash "$d/hs.$i")
		[ -n "$s" ] && [ "$s" = "$(from_hash "$d/peer.out" "$ha:5000" $N "r.$i: ")" ]
		result "$name: $N datagrams ($GSIZES B) host->guest, hashes equal" $? "$d/diag.$i"
		{ cat "$d/feat.$i.json" "$d/status.$i.json"; grep "^eng.$i: " "$d/peer.out"; } >"$d/diag.$i.path" 2>&1
		jq -e --arg w $want '.data_path == $w and .counters.rx_delivered == '"$N and $direct"' and .sockops_cgroup != ""' \
			"$d/status.$i.json" >/dev/null
		result "$name: the guest's engine is on the $want data path, delivered $N ($direct), its sock_ops program attached" $? \
			"$d/diag.$i.path"
		# features: the BPF data path by default, its sends too
		jq -e '.data_path == "bpf" and .bpf_data_path and .sk_msg_send_path' "$d/feat.$i.json" >/dev/null
		rc=$?
		result "$name: the guest's features -j predicted it ($(jq -r '"\(.bpf_data_path_detail); \(.sk_msg_send_path_detail)"' "$d/feat.$i.json" 2>/dev/null))" $rc \
			"$d/diag.$i.path"
	done
}

# ib PEER LABEL: RDS over soft-RoCE between two guests on a bridge (the
# kernel runs RDS/IB only in its initial namespace, so each end is a guest):
# guest A runs rds-bpf (load --transport ib), guest B the kernel's rds_rdma
# on PEER's kernel, or rds-bpf too (peer netns, on 6.1). Two connections at
# once in opposite address orders (A's 10.97.0.1 and 10.97.0.4 against B's
# 10.97.0.3), datagrams 0 B..1 MiB both ways on each, by content hash. The
# receivers meet over TCP (busybox nc) before anyone sends.
IB_N=${RDSB_VM_IB_MSGS:-16}
IB_SIZES=${RDSB_VM_IB_SIZES:-0:1048576}
IB_STALL=${RDSB_VM_IB_STALL:-60}
IB_T=${RDSB_VM_IB_TIMEOUT:-120}	# the transfers' idle timeout
ib_meet() {	# PEER: the guests' meet PORT, until the peer got there too (TCP over eth0)
	echo 'meet() {
			nc -l -p $1 </dev/null >/dev/null &
			l=$!
			i=0
			until echo x | nc -w 2 '"$1"' $1 2>/dev/null; do
				i=$((i + 1)); [ $i -le 1500 ] || { echo "the peer never came"; return 1; }
				sleep 0.2
			done
			wait $l
			mark met.$1
		}'
}
ib_addr_add() {	# ADDR: the guest's command that adds it to eth0 (IPv6: usable at once, no DAD)
	case $1 in
	*:*) echo "echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad; ip -6 addr add $1/64 dev eth0" ;;
	*) echo "ip addr add $1/24 dev eth0" ;;
	esac
}
ib_sa() {	# ADDR PORT: rds-xfer's ADDR:PORT, a link-local address scoped to eth0
	case $1 in
	fe80:*) echo "[$1%eth0]:$2" ;;
	*) echo "$(br "$1"):$2" ;;
	esac
}
ib_script() {	# KIND(bpf|kernel) SEND_SEED RECV_SEED ADDR=PEER...: the guest's scenario
	local kind=$1 sseed=$2 rseed=$3 k=0 p s='' first=''
	shift 3
	if [ "$kind" = bpf ]; then
		s+='xf() { env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" "$@"; }
			xt() { env LD_PRELOAD="$RDSB_PRELOAD" /opt/rds-bpf/tests/rds-transport "$@"; }
			rds-bpf features 2>&1 | grep -i "rdma\\|transports" >feat; show feat feat
			rds-bpf -v load --transport ib --log eng || { cat eng; exit 1; }
			'
	else
		s+='xf() { rds-xfer "$@"; }
			xt() { rds-transport "$@"; }
			'
		# ib-fc: the kernel's credit-based flow control on (net.rds.ib.flow_control)
		[ -z "${IB_KERNEL_FC:-}" ] || s+='echo 1 >/proc/sys/net/rds/ib/flow_control || exit 1
			'
	fi
	for p in "$@"; do
		[ -z "$first" ] || [ "${p%=*}" = "${first%=*}" ] || s+="$(ib_addr_add "${p%=*}")
			"
		first=${first:-$p}
		s+="xf recv -b $(ib_sa "${p%=*}" $((4001 + 10 * k))) -n $IB_N -s $IB_SIZES -S $((rseed + k)) --rcvbuf 33554432 -t $IB_T --senders 1 --ready rdy.$k >r.$k 2>&1 &
			xfers=\"\$xfers \$!\"
			"
		k=$((k + 1))
	done
	# the peer's address to meet on (IB_MEET: an IPv4 one when these are IPv6)
	s+="$(ib_meet "${IB_MEET:-${first#*=}}")"'
		for i in $(seq 0 '$((k - 1))'); do ready rdy.$i || exit 1; done
		meet 7000 || exit 1
		'
	s+='t0=$(cut -d" " -f1 /proc/uptime)
		'
	k=0
	for p in "$@"; do
		s+="xf send -b $(ib_sa "${p%=*}" $((4000 + 10 * k))) -d $(ib_sa "${p#*=}" $((4001 + 10 * k))) -n $IB_N -s $IB_SIZES -S $((sseed + k)) --sndbuf 33554432 -t $IB_T >s.$k 2>&1 &
			xfers=\"\$xfers \$!\"
			"
		k=$((k + 1))
	done
	# ib-hostile: what the guest does while the datagrams flow
	s+="${IB_DURING:-}
		"
	# ib-reset: the host cuts the guest off once both connections are up
	[ "$kind" = kernel ] || [ -z "${IB_FLAP:-}" ] || s+='( i=0
		until [ "$(rds-bpf status | grep -c "path 0: up")" -ge '"$k"' ]; do
			i=$((i + 1)); [ $i -le 1500 ] || exit; sleep 0.2
		done
		mark flowing ) &
		'
	# a transfer still running after IB_STALL s: what the engine, the
	# processes (state, syscall) and the kernel say, before the timeouts
	# (last what a failure's 40 lines of diagnostics should show)
	[ "$kind" = kernel ] || s+='( sleep '"$IB_STALL"'; { echo "transfer still running after '"$IB_STALL"' s"
		for q in /proc/[0-9]*; do echo "$q $(cat $q/comm) $(cut -d" " -f3 $q/stat) $(cut -d" " -f1 $q/syscall)"; done
		cat /proc/$(pidof rds-bpf)/stack; dmesg | tail -n 12; tail -n 12 eng; rds-bpf status
		# whether the guest still reaches its peer at all (a silent virtio-net)
		echo "eth0 tx_packets $(cat /sys/class/net/eth0/statistics/tx_packets) rx_packets $(cat /sys/class/net/eth0/statistics/rx_packets)"
		ping -c 1 -W 1 '"${IB_MEET:-${first#*=}}"' | grep -E "packets|round-trip"; } 2>&1 | sed "s/^/stall: /" ) &
		stall=$!
		'

	# both ends done before an engine goes: what it had not sent yet would be lost
	s+='wait $xfers
		[ -z "${stall:-}" ] || kill $stall 2>/dev/null
		echo "elapsed: $t0 $(cut -d" " -f1 /proc/uptime)"
		'
	# ib: SO_RDS_TRANSPORT=IB and the bind rules (rds-transport 0), each
	# end against an echo on the other: the kernel's answers and ours
	[ -z "${IB_TRANSPORT_TABLE:-}" ] || s+="xf echo -b ${first%=*}:4020 -n 1 -t 60 --ready rdy.e >echo.out 2>&1 &
		e=\$!
		ready rdy.e || exit 1
		meet 7002 || exit 1
		{ xt ${first%=*} ${first#*=} 4020 0 2>&1; echo rc=\$?; } | sed 's/^/transport: /'
		wait \$e || show echo echo.out
		"
	s+='meet 7001
		for f in s.* r.*; do show $f $f; done
		'"${IB_AFTER:-}"'
		'
	# ib-hostile: the peer's engine stays up until this one's idle time is
	# measured (IB_AFTER): gone, this engine's reconnects to it (a queue
	# pair and 17 MiB of rings registered each, in TCG) were the idle CPU
	[ -z "${IB_HOSTILE:-}" ] || s+='meet 7003 || exit 1
		'
	# the engine's log (its last 300 lines; the RDMA-CM events are info
	# lines), for the kept directory; then what the checks and a failure's
	# tail show
	[ "$kind" = kernel ] || s+='tail -n 300 eng | sed "s/^/log: /"
		rds-bpf info -I >ibinfo 2>&1; show ibinfo ibinfo
		rds-bpf status >st 2>&1; show st st
		grep -i "warn\|down\|error" eng | tail -n 20 | sed "s/^/eng: /"
		rds-bpf unload
		'
	echo "$s"
}

# ib_boot KERNEL BKIND SCRIPT_A SCRIPT_B: guest A (rds-bpf) and guest B
# (BKIND bpf: rds-bpf too, kernel: the kernel's rds_rdma) on a bridge, each
# running its script; their consoles in $d/a.out and $d/b.out.
ib_boot() {
	local kern=$1 bkind=$2 pa pb
	ip netns add $ns
	ip -n $ns link set lo up
	ip -n $ns link add vmbr type bridge
	ip -n $ns addr add "$HA/24" dev vmbr
	ip -n $ns link set vmbr up
	for t in vmtap vmtap2; do
		ip -n $ns tuntap add dev $t mode tap
		ip -n $ns link set $t master vmbr up
	done
	capture_start $ns vmbr "$d/roce.pcap" "udp port 4791" || return 1	# RoCEv2
	"$here/run-guest.sh" --rds-bpf --no-kernel-rds --rdma --netns $ns --tap vmtap --guest-addr "${GA4:-${GA[0]}}/24" \
		--host-addr "$HA/24" --kernel "$kern" --timeout 400 --log "$d/console.a" \
		-- "$PRELUDE$3" >"$d/run-guest.a" 2>&1 &
	pa=$!
	local bopts=(--rdma --add "$transport_static:/bin/rds-transport")
	[ "$bkind" = kernel ] || bopts=(--rdma --rds-bpf --no-kernel-rds)
	[ -z "${IB_HOSTILE:-}" ] || bopts+=(--bin "$root/build/tests/ib-hostile-peer:/bin/ib-hostile-peer")
	"$here/run-guest.sh" "${bopts[@]}" --netns $ns --tap vmtap2 --guest-addr "${GB4:-$GB}/24" \
		--host-addr "$HA/24" --kernel "$kern" --timeout 400 --log "$d/console.b" \
		-- "$PRELUDE$4" >"$d/run-guest.b" 2>&1 &
	pb=$!
	# ib-reset: rds-bpf's guest is cut off the bridge (its tap down, here)
	# 0.5 s after its connections came up, long enough for the queue
	# pairs' retries to run out on both ends, then let back: the
	# connections come back and retransmit. (Not eth0 down or an unreachable route in the guest: a
	# MAD that fails to go out puts rxe's QP1 in the error state for good,
	# and RDMA-CM on that device never connects again; not rxe0 deleted:
	# librdmacm keeps the device open, so the delete waits for rds-bpf.)
	local flap=''
	if [ -n "${IB_FLAP:-}" ]; then
		(for _ in $(seq 4000); do
			tr -d '\r' 2>/dev/null <"$d/console.a" | grep -q '^RDSB-SYNC flowing$' && break
			sleep 0.1
		done
		sleep 0.5
		ip -n $ns link set vmtap down && echo "down $(date +%s.%N)" >"$d/flap"
		sleep "$IB_FLAP"
		ip -n $ns link set vmtap up && echo "up $(date +%s.%N)" >>"$d/flap") &
		flap=$!
	fi
	wait $pa $pb $flap
	capture_stop
	ns_down $ns
	tr -d '\r' <"$d/console.a" >"$d/a.out"
	tr -d '\r' <"$d/console.b" >"$d/b.out"
}

ib() {
	local peer=$1 label=$2 kern=$1 bkind=kernel GA=(10.97.0.1 10.97.0.4) GB=10.97.0.3 HA=10.97.0.2 k GBS
	[ "$peer" = netns ] && kern=legacy bkind=bpf label=${label/host<->host/guest<->guest}
	[ "$peer" = netns ] || "$here/build-image.sh" "$kern" >/dev/null 2>&1 || return 1
	local pre_a='' pre_b='' after='' during='' GA4='' GB4=''
	GBS=("$GB" "$GB")	# the peer's address on each connection
	# ib6: the RDS addresses IPv6 (RDMA-CM on 16385), one connection on
	# global addresses, one on link-local ones; the guests meet over IPv4
	if [ -n "${IB_V6:-}" ]; then
		GA4=${GA[0]} GB4=$GB
		GA=(fd97::1 fe80::4) GB=fd97::3 GBS=(fd97::3 fe80::3)
		pre_a="$(ib_addr_add "${GA[0]}")
			" pre_b="$(ib_addr_add "$GB")
			"
	fi
	if [ -n "${IB_HOSTILE:-}" ]; then
		pre_a+="$(ib_addr_add $IB_HOSTILE_DST)
			"
		pre_b+="$(ib_addr_add $IB_HOSTILE_SRC)
			"
		during="ib-hostile-peer -s $IB_HOSTILE_SRC -d $IB_HOSTILE_DST --flood $IB_HOSTILE_FLOOD >hostile 2>&1
			show hostile hostile"
		# the engine alive, and its CPU time over 3 idle seconds (ticks of
		# USER_HZ, 100 on x86; uptime)
		after='e=$(pidof rds-bpf); c0=$(cut -d" " -f14,15 /proc/$e/stat); u0=$(cut -d" " -f1 /proc/uptime)
			sleep 3
			echo "idle: $e $c0 $u0 $(cut -d" " -f14,15 /proc/$e/stat) $(cut -d" " -f1 /proc/uptime) 100 $(pidof rds-bpf)"'
	fi
	ib_boot "$kern" $bkind "$pre_a$(IB_AFTER=$after IB_MEET=$GB4 ib_script bpf 30 40 "${GA[0]}=${GBS[0]}" "${GA[1]}=${GBS[1]}")" \
		"$pre_b$(IB_DURING=$during IB_MEET=$GA4 ib_script $bkind 40 30 "${GBS[0]}=${GA[0]}" "${GBS[1]}=${GA[1]}")"
	{ tail -n 30 "$d/a.out"; echo ----; tail -n 30 "$d/b.out"; } >"$d/diag"
	# what rds-bpf's guest moved, both ways on both connections, over its sending time (TCG)
	awk '/^[sr]\.[0-9]: (sent|recv) / {b += $5} /^elapsed: / {t = $3 - $2}
		END {if (t > 0) printf "# %s over soft-RoCE: %.1f MB both ways in %.1f s, %.2f MB/s (TCG guests)\n", l, b / 1e6, t, b / 1e6 / t}' \
		l="$label" "$d/a.out"
	for k in 0 1; do
		local ga=${GA[$k]} ord
		ord="the peer's address smaller"
		[ "$(order "${GBS[$k]}" "$ga")" = "peer smaller" ] || ord="rds-bpf's address smaller"
		[ "${ga#fe80:}" = "$ga" ] || ord+=", link-local"
		s=$(sent_hash "$d/a.out" "s.$k: ")
		[ -n "$s" ] && [ "$s" = "$(from_hash "$d/b.out" "$(br "$ga"):$((4000 + 10 * k))" $IB_N "r.$k: ")" ]
		result "$label over soft-RoCE ($ord): $IB_N datagrams ($IB_SIZES B) rds-bpf->peer, hashes equal" $? "$d/diag"
		s=$(sent_hash "$d/b.out" "s.$k: ")
		[ -n "$s" ] && [ "$s" = "$(from_hash "$d/a.out" "$(br "${GBS[$k]}"):$((4000 + 10 * k))" $IB_N "r.$k: ")" ]
		result "$label over soft-RoCE ($ord): $IB_N datagrams ($IB_SIZES B) peer->rds-bpf, hashes equal" $? "$d/diag"
	done
	# ib-hostile: its peer's credit frames count too, so its checks instead
	if [ -n "${IB_HOSTILE:-}" ]; then
		ib_hostile_checks
		return
	fi
	# credits: the kernel's flow control is off unless its sysctl says so
	# (ib-fc); two rds-bpf ends run it. On, both directions carried h_credit.
	local rxc txc want=off
	rxc=$(sed -n 's/^st:   ib_rx_credit_updates  *//p' "$d/a.out")
	txc=$(sed -n 's/^st:   ib_tx_credit_updates  *//p' "$d/a.out")
	[ $bkind = bpf ] || [ -n "${IB_KERNEL_FC:-}" ] && want=on
	if [ $want = on ]; then
		[ "${rxc:-0}" -gt 0 ] && [ "${txc:-0}" -gt 0 ]
	else
		[ -z "$rxc$txc" ] && grep -q '^st: ' "$d/a.out"
	fi
	result "$label over soft-RoCE: flow control $want (frames with h_credit: ${rxc:-0} received, ${txc:-0} sent)" $? "$d/diag"
	if [ -n "${IB_TRANSPORT_TABLE:-}" ]; then
		# the same table on both ends: the kernel's answers are the reference
		local side out
		for side in a b; do
			out=$d/$side.out
			grep '^transport: ' "$out" >"$d/transport.$side"
			grep -q '^transport: rc=0$' "$out" && grep -q '^transport: # [1-9][0-9]* ok, 0 failed$' "$out"
			rc=$?
			result "$label over soft-RoCE, $([ $side = a ] && echo rds-bpf || echo "the peer"): SO_RDS_TRANSPORT=IB, the bind rules and a round trip (rds-transport: $(sed -n 's/^transport: # //p' "$out"))" \
				$rc "$d/transport.$side"
		done
	fi
	[ -z "${IB_FLAP:-}" ] && return
	# the reset happened: rds-bpf's paths went down and it retransmitted
	awk '/^st:   (path_down|tx_retransmitted|drop_dup_seq) / {c = c " " $2 " " $3}
		END {print "# " l ": rds-bpf counted" (c ? c : " nothing")}' l="$label" "$d/a.out"
	grep -q '^up ' "$d/flap" && grep -q '^st:   path_down  *[1-9]' "$d/a.out" &&
		grep -q '^st:   tx_retransmitted  *[1-9]' "$d/a.out"
	result "$label over soft-RoCE: cut off the bridge ${IB_FLAP}s mid-transfer, connections dropped and retransmitted" $? "$d/diag"
}

# ib-hostile: while the ib datagrams flow, tests/tools/ib-hostile-peer in
# the peer's guest connects from IB_HOSTILE_SRC to rds-bpf's IB_HOSTILE_DST
# (the larger address: rds-bpf never connects back to it) once per case and
# sends what no RDS/IB peer sends. Each case ends as it must (the connect
# refused, the connection reset, or kept), the engine counts each exactly,
# the datagrams of the legitimate peer arrive whole (ib's checks), and the
# engine is alive and idle afterwards (CPU time over 3 s, not a spin).
IB_HOSTILE_SRC=10.97.0.5
IB_HOSTILE_DST=10.97.0.9
IB_HOSTILE_FLOOD=${RDSB_VM_IB_FLOOD:-2000}
ib_hostile_checks() {
	local c want got bad=0 line
	for c in cm-2.0:rejected cm-4-nomask:rejected cm-5.0:rejected cm-credit:rejected cm-short:open \
		bad-csum:reset len-over-frag:reset oversized:reset huge-len:reset truncated-frag:reset \
		short-frame:reset interleaved:reset dup-seq:open credit-overflow:reset flood:open; do
		want=${c#*:} got=$(sed -n "s/^hostile: case ${c%%:*}: //p" "$d/b.out")
		[ "$got" = "$want" ] || { echo "case ${c%%:*}: $got, not $want"; bad=1; }
	done >"$d/diag.hostile"
	grep '^hostile: ' "$d/b.out" >>"$d/diag.hostile"
	[ $bad = 0 ] && [ "$(grep -c '^hostile: case ' "$d/b.out")" -eq 15 ]
	result "$label over soft-RoCE: 15 hostile cases each refused, reset or kept as they must be" $? "$d/diag.hostile"
	# counted: the bad frames, credits and versions once each; the flood and
	# two single datagrams to a port nobody bound; the retransmitted duplicate
	# (a legitimate connection that reconnected meanwhile, a TCG guest's CM
	# timing out, has its retransmissions dropped as duplicates too: then
	# at least the one)
	local legit
	legit=$(awk -v h="$IB_HOSTILE_DST" '/^st: connection / { other = $3 != h }
		/^st:   path / && other { sub(/.*reconnects /, ""); n += $1 } END { print n + 0 }' "$d/a.out")
	bad=0
	for c in ib_bad_checksum:1 ib_bad_frame:6 ib_bad_credit:2 ib_connect_rejected:3 drop_dup_seq:1 \
		drop_no_socket:$((IB_HOSTILE_FLOOD + 2)); do
		got=$(sed -n "s/^st:   ${c%%:*}  *//p" "$d/a.out")
		[ "${got:-0}" = "${c#*:}" ] ||
			{ [ "${c%%:*}" = drop_dup_seq ] && [ "$legit" -gt 0 ] && [ "${got:-0}" -ge 1 ]; } ||
			{ echo "${c%%:*}: ${got:-0}, not ${c#*:}"; bad=1; }
	done >"$d/diag.count"
	echo "legitimate connections' reconnects: $legit" >>"$d/diag.count"
	grep '^st: ' "$d/a.out" >>"$d/diag.count"
	[ $bad = 0 ]
	result "$label over soft-RoCE: the engine counted each hostile frame exactly" $? "$d/diag.count"
	# "idle: PID UTIME0 STIME0 UPTIME0 UTIME1 STIME1 UPTIME1 CLK_TCK PID"
	line=$(grep '^idle: ' "$d/a.out")
	echo "$line" >"$d/diag.idle"
	awk '{ used = ($5 + $6 - $2 - $3) / $8; wall = $7 - $4
		printf "# %s: engine CPU %.2f s over %.1f s idle after the hostile peer\n", l, used, wall
		exit !(NF == 9 && $1 == $9 && wall >= 2.5 && used <= 0.1 * wall) }' l="$label" <<<"${line#idle: }"
	result "$label over soft-RoCE: the engine survived the hostile peer and idles (CPU <= 10% over 3 s)" $? "$d/diag.idle"
}

# ib-unplug: rxe0 deleted under rds-bpf's running engine and added again.
# Phase 1, IB_UNPLUG_N datagrams each way; then on A `rdma link delete
# rxe0`, which returns only once every context on the device is closed
# (rxe cannot disassociate them); 5 s without the device, the engine's
# CPU time counted (no spin); `rdma link add`, and phase 2 each way: the
# connections came back by themselves.
IB_UNPLUG_N=${RDSB_VM_IB_UNPLUG_MSGS:-8}
ib_unplug_script() {	# KIND(bpf|kernel) a|b SELF PEER: A (bpf) pulls its device, B keeps its own
	local s k role=$2
	set -- "$1" "$3" "$4"	# KIND SELF PEER
	s="$(ib_meet "$3")"
	if [ "$1" = bpf ]; then
		s+='
		xf() { env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" "$@"; }
		rds-bpf -v load --transport ib --log eng || { cat eng; exit 1; }'
	else
		s+='
		xf() { rds-xfer "$@"; }'
	fi
	for k in 1 2; do
		s+="
		xf recv -b $2:$((4000 + 10 * k + 1)) -n $IB_UNPLUG_N -s 0:65536 -S $((60 + k)) -t 120 --senders 1 --ready rdy.$k >r.$k 2>&1 &
		rx$k=\$!"
	done
	s+='
		ready rdy.1 rdy.2 || exit 1
		meet 7000 || exit 1
		'"xf send -b $2:4010 -d $3:4011 -n $IB_UNPLUG_N -s 0:65536 -S 61 -t 120 >s.1 2>&1"'
		wait $rx1
		meet 7001 || exit 1
		'
	if [ "$role" = a ]; then
		s+='pid=$(pidof rds-bpf)
		cpu() { awk "{print \$14 + \$15}" /proc/$pid/stat; }
		t0=$(cut -d" " -f1 /proc/uptime)
		rdma link delete rxe0 &
		dp=$!
		i=0
		while kill -0 $dp 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 $dp 2>/dev/null; then
			echo "unplug: delete still waiting after 30 s"	# not killable: the guest times out
		else
			wait $dp
			echo "unplug: delete rc=$? after $(awk -v t=$t0 "{print \$1 - t}" /proc/uptime) s"
		fi
		c0=$(cpu)
		sleep 5
		echo "unplug: engine cpu $(( $(cpu) - c0 )) ticks of $(getconf CLK_TCK 2>/dev/null || echo 100) per s in 5 s, alive $(pidof rds-bpf)"
		rdma link add rxe0 type rxe netdev eth0; echo "unplug: add rc=$?"
		'
	fi
	s+='meet 7002 || exit 1
		'"xf send -b $2:4020 -d $3:4021 -n $IB_UNPLUG_N -s 0:65536 -S 62 -t 120 >s.2 2>&1"'
		wait $rx2
		meet 7003
		for f in s.* r.*; do show $f $f; done
		'
	[ "$1" = kernel ] || s+='grep -i "removed\|released" eng | sed "s/^/eng: /"
		rds-bpf unload
		'
	echo "$s"
}

ib_unplug() {
	local peer=$1 label=$2 kern=$1 bkind=kernel GA=(10.97.0.1) GB=10.97.0.3 HA=10.97.0.2 k a b
	[ "$peer" = netns ] && kern=legacy bkind=bpf label=${label/host<->host/guest<->guest}
	[ "$peer" = netns ] || "$here/build-image.sh" "$kern" >/dev/null 2>&1 || return 1
	ib_boot "$kern" $bkind "$(ib_unplug_script bpf a "${GA[0]}" $GB)" "$(ib_unplug_script $bkind b $GB "${GA[0]}")"
	{ tail -n 30 "$d/a.out"; echo ----; tail -n 30 "$d/b.out"; } >"$d/diag"
	grep -q '^unplug: delete rc=0 ' "$d/a.out" && grep -q '^unplug: add rc=0$' "$d/a.out" &&
		[ "$(grep -c 'eng: .*RDMA device rxe0 removed: .* device released' "$d/a.out")" = 1 ]
	rc=$?
	result "$label over soft-RoCE: rxe0 deleted under the engine: the delete returns, one log line says so ($(sed -n 's/^unplug: delete rc=0 //p' "$d/a.out"))" \
		$rc "$d/diag"
	# no spin: under 0.5 s of CPU in the 5 s without a device, and alive
	awk '/^unplug: engine cpu / {ok = $4 < $7 / 2 && $NF ~ /^[0-9]+$/} END {exit !ok}' "$d/a.out"
	rc=$?
	result "$label over soft-RoCE: without its device the engine does not spin ($(sed -n 's/^unplug: engine cpu \([0-9]*\) ticks of \([0-9]*\).*/\1 ticks at \2 Hz in 5 s/p' "$d/a.out"))" \
		$rc "$d/diag"
	for k in 1 2; do
		a=$(sent_hash "$d/a.out" "s.$k: ") b=$(sent_hash "$d/b.out" "s.$k: ")
		[ -n "$a" ] && [ "$a" = "$(from_hash "$d/b.out" "${GA[0]}:$((4000 + 10 * k))" $IB_UNPLUG_N "r.$k: ")" ] &&
			[ -n "$b" ] && [ "$b" = "$(from_hash "$d/a.out" "$GB:$((4000 + 10 * k))" $IB_UNPLUG_N "r.$k: ")" ]
		rc=$?
		result "$label over soft-RoCE: $IB_UNPLUG_N datagrams each way $([ $k = 1 ] && echo before the unplug || echo "after rxe0 came back: the connection recovered"), hashes equal" \
			$rc "$d/diag"
	done
}

# ib-bench (on request, rds-bpf peer only; `make bench BENCH_VM=1`): in the
# same two guests, rds-bpf over soft-RoCE (load --transport ib) and over TCP
# (load), IB_BENCH_RUNS rounds, each round both transports (the order swaps
# every round): one-way bulk, IB_BENCH_N datagrams of 64 KiB A->B, timed on
# A from the first send to the last acknowledgement, and IB_BENCH_PP 64 B
# ping-pongs (p50, p99). Medians of the rounds with their range, and the
# median of each round's ib/tcp ratio with its range (IB_BENCH_OUT/ib-bench.txt).
IB_BENCH_N=${RDSB_VM_IB_BENCH_MSGS:-400}
IB_BENCH_PP=${RDSB_VM_IB_BENCH_PINGPONGS:-1000}
IB_BENCH_RUNS=${RDSB_VM_IB_BENCH_RUNS:-3}
IB_BENCH_OUT=${RDSB_VM_IB_BENCH_OUT:-}	# where ib-bench.txt goes (default: the boot's directory)
ib_bench_script() {	# a|b SELF PEER: A measures, B receives and echoes
	local s
	s="$(ib_meet "$3")"'
		xf() { env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" "$@"; }
		order="ib tcp"
		for run in $(seq '"$IB_BENCH_RUNS"'); do
		for tp in $order; do
			k=$tp.$run
			rds-bpf load --transport $tp --log eng.$k || { cat eng.$k; exit 1; }
			'
	if [ "$1" = a ]; then
		s+="meet 7100 || exit 1
			t0=\$(cut -d' ' -f1 /proc/uptime)
			xf send -b $2:4000 -d $3:4001 -n $IB_BENCH_N -s 65536 -S 50 --sndbuf 33554432 -t 120 >bs.\$k 2>&1
			show sent.\$k bs.\$k
			echo \"bench.\$k: bulk \$(awk '{print \$4}' bs.\$k) bytes \$t0 \$(cut -d' ' -f1 /proc/uptime)\"
			xf pingpong -b $2:4002 -d $3:4003 -n $IB_BENCH_PP -s 64 -t 60 2>&1 | sed \"s/^/bench.\$k: /\"
			meet 7101
			"
	else
		s+="xf recv -b $2:4001 -n $IB_BENCH_N -s 65536 -S 50 --rcvbuf 33554432 -t 120 --senders 1 --ready rdy.r >br.\$k 2>&1 &
			r=\$!
			xf echo -b $2:4003 -n $IB_BENCH_PP -t 120 --ready rdy.e >be.\$k 2>&1 &
			e=\$!
			ready rdy.r rdy.e || exit 1
			meet 7100 || exit 1
			wait \$r \$e
			show bench.\$k br.\$k
			rm -f rdy.r rdy.e
			meet 7101
			"
	fi
	s+='rds-bpf unload
		done
		order=$(echo $order | awk "{print \$2, \$1}")
		done'
	echo "$s"
}

ib_bench() {
	local GA=(10.97.0.1) GB=10.97.0.3 HA=10.97.0.2 tp s run ok=0 table=${IB_BENCH_OUT:-$d}/ib-bench.txt
	ib_boot legacy bpf "$(ib_bench_script a "${GA[0]}" $GB)" "$(ib_bench_script b $GB "${GA[0]}")"
	{ tail -n 30 "$d/a.out"; echo ----; tail -n 30 "$d/b.out"; } >"$d/diag"
	for run in $(seq "$IB_BENCH_RUNS"); do
		for tp in ib tcp; do
			# bulk: what B received is what A sent, by hash and count
			s=$(sent_hash "$d/a.out" "sent.$tp.$run: ")
			[ -n "$s" ] && [ "$s" = "$(from_hash "$d/b.out" "${GA[0]}:4000" "$IB_BENCH_N" "bench.$tp.$run: ")" ] &&
				grep -q "^bench.$tp.$run: pingpong $IB_BENCH_PP " "$d/a.out" || ok=1
		done
	done
	result "rds-bpf guest<->guest over ib and tcp, $IB_BENCH_RUNS rounds: $IB_BENCH_N datagrams of 64 KiB and $IB_BENCH_PP ping-pongs of 64 B each, hashes equal" \
		$ok "$d/diag"
	# "bench.TP.RUN: bulk BYTES bytes T0 T1", "bench.TP.RUN: pingpong N rtt_us p50 P p99 P"
	mkdir -p "$(dirname "$table")"
	awk -v runs="$IB_BENCH_RUNS" '
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function row(name, unit, key, fmt,   i, n, v, r, m, lo, hi, rm, rlo, rhi) {
			for (tp = 1; tp <= 2; tp++) {
				split("", v); n = 0
				for (i = 1; i <= runs; i++) if ((T[tp] SUBSEP key SUBSEP i) in x) v[++n] = x[T[tp], key, i]
				if (!n) { cell[tp] = "-"; missing++; continue }
				m = med(v, n); lo = v[1]; hi = v[n]
				cell[tp] = sprintf(fmt " (" fmt "-" fmt ")", m, lo, hi)
			}
			split("", r); n = 0
			for (i = 1; i <= runs; i++)
				if (("ib" SUBSEP key SUBSEP i) in x && ("tcp" SUBSEP key SUBSEP i) in x && x["tcp", key, i] > 0)
					r[++n] = x["ib", key, i] / x["tcp", key, i]
			ratio = n ? sprintf("%.2f (%.2f-%.2f)", med(r, n), r[1], r[n]) : "-"
			printf "%-27s %-26s %-26s %s\n", name " (" unit ")", cell[1], cell[2], ratio
		}
		BEGIN { T[1] = "ib"; T[2] = "tcp" }
		$1 ~ /^bench\.(ib|tcp)\.[0-9]+:$/ {
			split(substr($1, 7, length($1) - 7), k, "[.]")
			if ($2 == "bulk" && $6 > $5) x[k[1], "bulk", k[2]] = $3 / 1e6 / ($6 - $5)
			if ($2 == "pingpong") x[k[1], "p50", k[2]] = $6
		}
		END {
			printf "rds-bpf guest<->guest (two TCG guests on a bridge, soft-RoCE), %d rounds, medians (min-max)\n", runs
			printf "%-27s %-26s %-26s %s\n", "row", "ib (load --transport ib)", "tcp (load)", "ib/tcp per round"
			row("64 B ping-pong p50", "us", "p50", "%.0f")
			row("bulk 64 KiB one-way", "MB/s", "bulk", "%.2f")
			print "p50: lower is better; bulk: one sender, datagrams of 64 KiB, first send to last ack. Read the ratios."
			exit (missing > 0)
		}' "$d/a.out" >"$table"
	s=$?
	sed 's/^/# /' "$table"
	result "rds-bpf guest<->guest: ib and tcp, every row measured ($table)" $s "$table"
}

# scenario PEER SCENARIO LABEL: one job's boot(s), its checks; exchange.a and
# exchange.b are the exchange's two boots
scenario() {
	local peer=$1 label=$3
	case $2 in
	exchange.a)
		d=$work/$peer-a && mkdir -p "$d"
		G4=10.98.0.1 H4=10.98.0.2 G6=fd98::3 H6=fd98::2 exchange "$peer" "$label"
		;;
	exchange.b)	# a kernel peer: our engine on the userspace data path (load
		# --no-bpf), the other orders; the BPF data path has exchange.a
		# and every other boot
		d=$work/$peer-b && mkdir -p "$d"
		G4=10.98.0.3 H4=10.98.0.2 G6=fd98::1 H6=fd98::2 RDSB_LOAD_OPTS=--no-bpf \
			exchange "$peer" "$label (load --no-bpf here)"
		;;
	reset | congestion)
		d=$work/$peer-$2 && mkdir -p "$d"
		G4=10.98.0.1 H4=10.98.0.2 G6=fd98::3 H6=fd98::2 $2 "$peer" "$label"
		;;
	cong-monitor)
		d=$work/$peer-$2 && mkdir -p "$d"
		G4=10.98.0.1 H4=10.98.0.2 G6=fd98::3 H6=fd98::2 cong_monitor "$peer" "$label"
		;;
	errno)
		d=$work/$peer-errno && mkdir -p "$d"
		G4=10.98.0.1 H4=10.98.0.2 G6=fd98::3 H6=fd98::2 errno_table "$peer" "$label"
		;;
	guest)	# rds-bpf in the guest: a kernel peer only
		d=$work/$peer-guest && mkdir -p "$d"
		G4=10.98.0.1 G4B=10.98.0.5 H4=10.98.0.2 G6=fd98::3 H6=fd98::2 guest "$peer" "$label"
		;;
	ib)	# RDS/IB over soft-RoCE, two guests: against the kernel's rds_rdma, or rds-bpf
		d=$work/$peer-ib && mkdir -p "$d"
		IB_TRANSPORT_TABLE=1 ib "$peer" "$label"
		;;
	ib-bench)	# ib and tcp side by side in two rds-bpf guests (on request)
		d=$work/$peer-ib-bench && mkdir -p "$d"
		ib_bench
		;;
	ib-fc)	# ib with the kernel's flow control on (kernel peers)
		d=$work/$peer-ib-fc && mkdir -p "$d"
		IB_KERNEL_FC=1 ib "$peer" "$label, flow control on"
		;;
	ib6)	# ib with IPv6 addresses
		d=$work/$peer-ib6 && mkdir -p "$d"
		IB_V6=1 ib "$peer" "$label, IPv6"
		;;
	ib-hostile)	# ib with a raw verbs peer sending malformed frames beside it
		d=$work/$peer-ib-hostile && mkdir -p "$d"
		IB_HOSTILE=1 ib "$peer" "$label, hostile peer beside it"
		;;
	ib-unplug)	# rxe0 deleted under rds-bpf's engine, then added again
		d=$work/$peer-ib-unplug && mkdir -p "$d"
		ib_unplug "$peer" "$label, rxe0 unplugged"
		;;
	ib-reset)	# the same with rds-bpf's guest cut off the bridge mid-transfer
		d=$work/$peer-ib-reset && mkdir -p "$d"
		# booted from the bzImage: booted through the kernel ELF's PVH entry,
		# a TCG guest's virtio-net stopped transmitting after its tap came
		# back up (soft-RoCE then silent for good) in 1 of 2 runs against 6.1
		RDSB_VM_BZIMAGE=1 IB_FLAP=8 ib "$peer" "$label, reset"
		;;
	kbench)	# on request: the same-guest bench, the kernel's RDS vs rds-bpf vs TCP (tests/vm/kbench.sh)
		d=$work/$peer-kbench && mkdir -p "$d"
		KBENCH_OUT=$d "$here/kbench.sh" "$peer" | sed 's/^/# /'
		result "$label: the same-guest bench measured every row (tests/vm/kbench.sh)" "${PIPESTATUS[0]}" "$d/run-guest-$peer-${KBENCH_LINK:-veth}"
		;;
	esac
}

# ---- the jobs ----
# One job per boot (a guest, two for ib*, or the peer namespace), each in its
# own namespaces and directory, side by side: a TCG guest keeps one CPU busy,
# so a job takes one of RDSB_VM_JOBS slots (default: the CPUs) per guest, and
# the benches all of them. The first job in the list that fits starts; the
# TAP lines come out in the list's order, numbered here. RDSB_VM_JOBS=1 runs
# them one after the other.
SLOTS=${RDSB_VM_JOBS:-$(nproc)}
jobs_peer=() jobs_scenario=() jobs_label=() jobs_cost=() jobs_done=()
job_add() {	# PEER SCENARIO LABEL COST
	jobs_peer+=("$1") jobs_scenario+=("$2") jobs_label+=("$3") jobs_cost+=("$4") jobs_done+=(0)
}
# ib-hostile and ib-unplug boot once: with the sid kernel, or the first peer
once_peer=${PEERS%% *}
[[ " $PEERS " != *" sid "* ]] || once_peer=sid
for peer in $PEERS; do
	case $peer in
	legacy | sid)
		label="$peer kernel"
		if ! "$here/build-image.sh" "$peer" >"$work/build-$peer" 2>&1; then
			rc=$?
			[ $rc -eq 77 ] || rc=1
			d=$work
			job_add "$peer" build "$label" 0
			(result "$peer kernel image builds from Debian packages" $rc "$work/build-$peer") >"$work/job.$((${#jobs_peer[@]} - 1))"
			jobs_done[-1]=1
			continue
		fi
		;;
	netns) label="rds-bpf peer (host<->host)" ;;
	*) echo "run-suite: unknown peer '$peer' (legacy, sid, netns)" >&2; exit 2 ;;
	esac
	for scenario in $SCENARIOS; do
		case $scenario in
		# the rds-bpf peer: what the bats suite does not (core, robust,
		# congestion and errno.bats run rds-bpf against rds-bpf)
		exchange) job_add "$peer" exchange.a "$label" 1
			[ "$peer" = netns ] || job_add "$peer" exchange.b "$label" 1 ;;
		reset | congestion | errno) [ "$peer" = netns ] || job_add "$peer" "$scenario" "$label" 1 ;;
		cong-monitor) job_add "$peer" "$scenario" "$label" 1 ;;
		guest) [ "$peer" = netns ] || job_add "$peer" "$scenario" "$label" 1 ;;
		ib | ib-reset) job_add "$peer" "$scenario" "$label" 2 ;;
		# IPv6 over IB against the kernel's RDS/IB; between two rds-bpf
		# guests it is the same code on both ends as ib's
		ib6) [ "$peer" = netns ] || job_add "$peer" "$scenario" "$label" 2 ;;
		# the engine under hostile frames or without its device: what they
		# check is rds-bpf's alone, the peer only carries traffic beside it
		ib-hostile | ib-unplug) [ "$peer" != "$once_peer" ] || job_add "$peer" "$scenario" "$label" 2 ;;
		ib-fc) [ "$peer" = netns ] || job_add "$peer" "$scenario" "$label" 2 ;;
		ib-bench) [ "$peer" != netns ] || job_add "$peer" "$scenario" "$label" "$SLOTS" ;;
		kbench) [ "$peer" = netns ] || job_add "$peer" "$scenario" "$label" "$SLOTS" ;;
		*) echo "run-suite: unknown scenario '$scenario' (exchange, reset, congestion, cong-monitor, guest, errno, ib, ib6, ib-reset, ib-unplug, ib-bench, ib-fc, ib-hostile, kbench)" >&2; exit 2 ;;
		esac
	done
done

job_run() {	# I: job I in this subshell, its namespaces its own
	local t0=$SECONDS up
	ns=rdsbvm$BASHPID ns2=rdsbvp$BASHPID
	trap 'capture_stop; [ -z "${peer_pid:-}" ] || kill "$peer_pid" 2>/dev/null; ns_down $ns; ns_down $ns2' EXIT
	trap 'exit 143' TERM
	scenario "${jobs_peer[$1]}" "${jobs_scenario[$1]}" "${jobs_label[$1]}"
	# how long it took, and each guest's boot (run-guest.sh)
	up=$(sed -n 's/^run-guest: guest ready after \([0-9]*\)s$/\1 s/p' "$d"/run-guest.* 2>/dev/null |
		awk '{printf "%s%s", (NR > 1 ? ", " : ""), $0}')
	echo "# ${jobs_label[$1]}, ${jobs_scenario[$1]}: $((SECONDS - t0)) s${up:+ (guests ready after $up)}"
}

job_print() {	# I: job I's lines, numbered in the suite's count
	local line
	while IFS= read -r line; do
		if [[ $line =~ ^(not )?ok\ [0-9]+\ (.*)$ ]]; then
			n=$((n + 1))
			[ -z "${BASH_REMATCH[1]}" ] || failed=$((failed + 1))
			line="${BASH_REMATCH[1]}ok $n ${BASH_REMATCH[2]}"
		fi
		printf '%s\n' "$line"
	done <"$work/job.$1"
	[ ! -s "$work/job.$1.err" ] || cat "$work/job.$1.err" >&2
}

used=0 next=0 t0=$SECONDS
while :; do
	while [ $next -lt ${#jobs_peer[@]} ] && [ "${jobs_done[$next]}" = 1 ]; do
		job_print $next
		next=$((next + 1))
	done
	for i in "${!jobs_peer[@]}"; do
		[ "${jobs_done[$i]}" = 0 ] || continue
		cost=${jobs_cost[$i]}
		[ "$cost" -le $((SLOTS - used)) ] || [ "$used" -eq 0 ] || continue
		jobs_done[$i]=running
		( job_run "$i" ) >"$work/job.$i" 2>"$work/job.$i.err" &
		running[$!]=$i
		used=$((used + cost))
	done
	[ ${#running[@]} -gt 0 ] || break
	wait -n -p pid "${!running[@]}"
	i=${running[$pid]}
	unset "running[$pid]"
	used=$((used - jobs_cost[i]))
	jobs_done[$i]=1
done
echo "vm: $n checks, $failed failed in $((SECONDS - t0)) s ($SLOTS slots)"
[ $failed -eq 0 ]
