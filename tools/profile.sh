#!/usr/bin/env bash
# Where a datagram's time goes: a CPU profile of one bench row between two
# namespace hosts (perf record -g, cpu-clock), each sample put in one category
# by tools/profile.py and given in us per round trip or per datagram.
#   tools/profile.sh pingpong tcp|tcp-sockmap|bpf|bpfrx|user
#       64 B ping-pong, 1 path (PROFILE_PATHS), the ends and both engines on
#       CPU 0 as bench.sh's latency rows; CPU 0 recorded: its time is one round
#       trip's (idle included), in us per round trip
#   tools/profile.sh bulk iperf3|bpf|bpfrx|user
#       64 KiB one-way (PROFILE_SIZE), 8 tasks x depth 16 on 8 paths (iperf3
#       -P8 -l 64K); every CPU recorded, in CPU us per datagram moved
#   tools/profile.sh rate tcp-records|bpf|bpfrx|user
#       64 B request/response, 8 tasks x depth 16 on 8 paths (tcp-records:
#       8 flows, one write per 48+64 B record, as bench.sh's baseline); every
#       CPU recorded, in CPU us per message (requests and responses, as the
#       bench counts them)
# bpf is the default load (sockmap receive, sk_msg sends), bpfrx `--no-sk-msg`,
# user `--no-bpf`. PROFILE_SIZE (65536): the bulk row's datagram, bytes.
# PROFILE_SECS (2) of recording, 1.5 s into a run; the raw
# samples stay in PROFILE_OUT (build/profile).
set -euo pipefail
cd "$(dirname "$0")/.."
row=${1:-} mode=${2:-}
case "$row $mode" in
"pingpong tcp" | "pingpong tcp-sockmap" | "pingpong bpf" | "pingpong bpfrx" | "pingpong user") ;;
"bulk iperf3" | "bulk bpf" | "bulk bpfrx" | "bulk user") ;;
"rate tcp-records" | "rate bpf" | "rate bpfrx" | "rate user") ;;
*) echo "usage: tools/profile.sh pingpong tcp|tcp-sockmap|bpf|bpfrx|user | bulk iperf3|bpf|bpfrx|user |" \
	"rate tcp-records|bpf|bpfrx|user" >&2; exit 2 ;;
esac
size=${PROFILE_SIZE:-65536}
[[ $size =~ ^[1-9][0-9]*$ ]] && [ "$size" -le 1048576 ] ||
	{ echo "profile: PROFILE_SIZE: bytes, 1 to 1048576" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile: no perf (apt-get install linux-perf)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "profile: needs root (network namespaces, perf -a)" >&2; exit 1; }
out=${PROFILE_OUT:-$PWD/build/profile}
secs=${PROFILE_SECS:-2}
paths=${PROFILE_PATHS:-$([ "$row" = pingpong ] && echo 1 || echo 8)}
run=$((secs + 4))
base=$out/$row-$mode
mkdir -p "$out"
source tests/lib/hosts.sh
hosts_session "prof$$"

# the tids of the processes matching PATTERN, each with ROLE, into $base.roles
roles() {	# ROLE PATTERN
	local p t
	for p in $(pgrep -f "$2"); do
		for t in /proc/"$p"/task/*; do echo "${t##*/} $1"; done
	done >>"$base.roles"
}

record() {	# in the background: 1.5 s in, the roles, then the profile
	local where=(-a)
	[ "$row" = pingpong ] && where=(-C 0)
	(
		sleep 1.5
		roles app "$1"
		roles engine "rds-bpf load"
		perf record -q "${where[@]}" -F 10000 -g -e cpu-clock -o "$base.data" -- sleep "$secs" >/dev/null 2>&1
	) &
}

: >"$base.roles"
rm -f "$base.data"
units=	# round trips or datagrams a second
if [ "$mode" = tcp ] || [ "$mode" = tcp-sockmap ]; then
	prog=$RDSB_ROOT/build/tests/tcp-$([ "$mode" = tcp ] && echo pingpong || echo sockmap-pingpong)
	count=$((run * 25000))
	in_host B taskset -c 0 "$prog" server "$ADDR_B:4000" &
	sleep 0.3
	record "$prog"
	t0=$(date +%s%N)
	in_host A taskset -c 0 "$prog" client "$ADDR_B:4000" "$count" 64 >"$RDSB_LOG_DIR/active"
	units=$(awk -v n="$count" -v ns=$(($(date +%s%N) - t0)) 'BEGIN { print n / (ns / 1e9) }')
elif [ "$mode" = tcp-records ]; then
	prog=$RDSB_ROOT/build/tests/tcp-records
	in_host B "$prog" server "$ADDR_B:4000" 8 >/dev/null &
	sleep 0.3
	record "tcp-records"
	units=$(in_host A "$prog" client "$ADDR_B:4000" 8 16 "$run" reqresp | awk '{ print $6 }')
elif [ "$mode" = iperf3 ]; then
	in_host B iperf3 -s -1 -D -p 4000 >/dev/null
	sleep 0.2
	record "iperf3 -"
	units=$(in_host A iperf3 -c "$ADDR_B" -p 4000 -P 8 -l "$size" -t "$run" -J |
		jq ".end.sum_received.bytes / .end.sum_received.seconds / $size")
else
	opts=(--paths "$paths")
	[ "$mode" = bpf ] && opts+=(--bpf)
	[ "$mode" = bpfrx ] && opts+=(--bpf --no-sk-msg)
	[ "$mode" = user ] && opts+=(--no-bpf)
	engine_up A "${opts[@]}" >/dev/null
	engine_up B "${opts[@]}" >/dev/null
	if [ "$row" = pingpong ]; then
		for p in $(ip netns pids "$NS_A") $(ip netns pids "$NS_B"); do taskset -a -p -c 0 "$p" >/dev/null; done
		pargs=(--cpu 0) args=(--cpu 0 -q 64 -a 64)
	elif [ "$row" = rate ]; then
		pargs=() args=(-t 8 -d 16 -q 64 -a 64)
	else
		pargs=() args=(-o -t 8 -d 16 -q "$size")
	fi
	in_host B "$RDSB_BIN" stress -r "$ADDR_B" -p 4000 -j "${pargs[@]}" >"$RDSB_LOG_DIR/passive" 2>&1 &
	sleep 0.3
	record "rds-bpf stress"
	in_host A "$RDSB_BIN" stress -r "$ADDR_A" -s "$ADDR_B" -p 4000 -j -T "$run" "${args[@]}" >"$RDSB_LOG_DIR/active"
	# a round trip is a request sent; bulk datagrams are what the peer
	# received; the rate counts requests and responses (msgs_per_s)
	units=$(jq "if \"$row\" == \"bulk\" then .peer_rx_msgs / .secs elif \"$row\" == \"rate\" then .msgs_per_s
		else .tx_msgs / .secs end" "$RDSB_LOG_DIR/active")
fi
wait
perf script -i "$base.data" -F comm,tid,time,ip,sym >"$base.txt" 2>/dev/null
cpus=$(nproc) unit=datagram
[ "$row" = pingpong ] && cpus=1 unit="round trip"
[ "$row" = rate ] && unit=message
echo "$row $mode, $paths path(s): $(printf '%.0f' "$units") ${unit}s a second"
python3 tools/profile.py "$base.txt" "$base.roles" "$units" "$cpus" "$unit"
