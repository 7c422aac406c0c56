# shellcheck shell=bash
# Wire captures for tests: tcpdump of the RDS/TCP port in a namespace, and
# the dissector's view of them (build/sbin/rds-dissect). Source it, then:
#   capture_start NS IFACE FILE [FILTER]   (returns once tcpdump is capturing;
#                                 FILTER: a pcap filter, by default the RDS/TCP port)
#   capture_stop                  (every capture this shell started)
RDSB_ROOT=${RDSB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RDSB_DISSECT=${RDSB_DISSECT:-$RDSB_ROOT/build/sbin/rds-dissect}
CAPTURE_PIDS=()
CAPTURE_FILES=()

capture_start() {	# NS IFACE FILE [FILTER]
	local err=$3.tcpdump
	: >"$err"
	# --immediate-mode: each packet reaches tcpdump at once, not after the
	# ring buffer's 1 s block timeout. It also gives every packet a ring
	# frame of the snaplen: a snaplen just above a 64 KiB GSO packet and
	# 128 MiB of ring hold ~2000 packets, where the defaults (256 KiB, 2 MiB)
	# hold 8 and drop bursts. No -U: a write per packet is too slow for
	# veth speeds; tcpdump writes out its buffer when stopped.
	nsenter --net="/run/netns/$1" tcpdump -i "$2" -s 66000 -B 131072 --immediate-mode -w "$3" \
		${4:-tcp port 16385} 2>"$err" &
	CAPTURE_PIDS+=($!)
	CAPTURE_FILES+=("$3")
	for _ in $(seq 100); do
		grep -q 'listening on' "$err" && return 0
		kill -0 $! 2>/dev/null || break
		sleep 0.05
	done
	echo "capture_start: tcpdump on $2 did not start: $(tail -n 1 "$err")" >&2
	return 1
}

capture_stop() {
	local p f size
	# let tcpdump write what is still on its way: until no file grows for
	# 0.2 s (a file not there is the caller's to find, not a failure here)
	for _ in $(seq 25); do
		size=$(for f in "${CAPTURE_FILES[@]}"; do stat -c %s "$f" 2>/dev/null || echo none; done)
		sleep 0.2
		[ "$size" = "$(for f in "${CAPTURE_FILES[@]}"; do stat -c %s "$f" 2>/dev/null || echo none; done)" ] && break
	done
	for p in "${CAPTURE_PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	CAPTURE_PIDS=()
	CAPTURE_FILES=()
}

# capture_crosscheck FILE [PORT]: Wireshark's view of FILE (tshark with
# tools/rds.lua) against rds-dissect's, record for record: the same lines in
# the same order (time, endpoints, every header field, extension headers,
# kind). Prints the difference and fails if there is one, or if there is no
# record at all. PORT: the RDS/TCP port, if not 16385.
RDSB_LUA=${RDSB_LUA:-$RDSB_ROOT/tools/rds.lua}
capture_crosscheck() {
	local want got port=${2:-16385}
	want=$("$RDSB_DISSECT" -p "$port" "$1" | grep -E '^[0-9]+\.[0-9]{6} .* seq [0-9]+ ack ') || true
	# a frame completing several records lists them joined by '|'; IPv6
	# endpoints as rds-dissect writes them, [addr]:port; times cut to us
	got=$(tshark -n -o tcp.reassemble_out_of_order:TRUE -o rds.tcp_port:"$port" -X lua_script:"$RDSB_LUA" \
		-r "$1" -Y rds -T fields \
		-e frame.time_relative -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
		-e rds.record -E aggregator='|' 2>/dev/null |
		awk -F'\t' '{
			src = $2 != "" ? $2 ":" $4 : "[" $3 "]:" $4
			dst = $5 != "" ? $5 ":" $7 : "[" $6 "]:" $7
			n = split($8, rec, "|")
			for (i = 1; i <= n; i++)
				print substr($1, 1, length($1) - 3), src, "->", dst, rec[i]
		}')
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		echo "capture_crosscheck $1: rds-dissect ($(grep -c . <<<"$want") records) and tshark ($(grep -c . <<<"$got")) differ:"
		diff <(echo "$want") <(echo "$got") | head -n 20
		return 1
	fi
}
