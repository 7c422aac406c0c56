#!/usr/bin/env bash
# Benchmarks, side by side in one run between two namespace hosts over veth:
# raw TCP baselines (iperf3, a framed TCP ping-pong) next to rds-bpf, with
# 8 paths and with 1 path, for several message sizes. Prints ratios.
# Numbers on this shared 2-core VM are noisy: compare the ratios of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/hosts.sh
hosts_session "bench$$"
SECS=${BENCH_SECS:-3}
PP=${BENCH_PINGPONGS:-5000}
out=$RDSB_LOG_DIR
declare -A R

iperf() {	# flows -> Gbit/s
	in_host B iperf3 -s -1 -D -p 5201 >/dev/null
	sleep 0.2
	in_host A iperf3 -c $ADDR_B -p 5201 -P "$1" -t "$SECS" -J | jq -r '.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000'
}

# rds_bulk SOCKETS SIZE COUNT_PER_SOCKET -> Gbit/s (payload), timed at the receiver
rds_bulk() {
	local n=$1 size=$2 count=$3 total
	total=$((n * count))
	rm -f $out/ready
	rds B "$RDSB_XFER" recv -b $ADDR_B:7000 -n $total -s $size:$size --senders $n -t 120 \
		--rcvbuf 8388608 --ready $out/ready >$out/bulk &
	local rb=$!
	until [ -e $out/ready ]; do sleep 0.02; done
	local start end
	start=$(date +%s%N)
	for i in $(seq "$n"); do
		rds A "$RDSB_XFER" send -b $ADDR_A:$((7100 + i)) -d $ADDR_B:7000 -n "$count" -s $size:$size \
			--sndbuf 8388608 >/dev/null &
	done
	wait $rb
	end=$(date +%s%N)
	wait
	awk -v b=$((total * size)) -v ns=$((end - start)) 'BEGIN { printf "%.3f", b * 8 / ns }'
}

rds_rate() {	# 64 B messages/s from 8 sockets
	local n=8 count=$1 total
	total=$((n * count))
	rm -f $out/ready
	rds B "$RDSB_XFER" recv -b $ADDR_B:7000 -n $total -s 64:64 --senders $n -t 120 \
		--rcvbuf 8388608 --ready $out/ready >$out/rate &
	local rb=$!
	until [ -e $out/ready ]; do sleep 0.02; done
	local start end
	start=$(date +%s%N)
	for i in $(seq $n); do
		rds A "$RDSB_XFER" send -b $ADDR_A:$((7200 + i)) -d $ADDR_B:7000 -n "$count" -s 64:64 \
			--sndbuf 8388608 >/dev/null &
	done
	wait $rb
	end=$(date +%s%N)
	wait
	awk -v m=$total -v ns=$((end - start)) 'BEGIN { printf "%.0f", m * 1e9 / ns }'
}

tcp_pp() {	# p50 us
	in_host B "$RDSB_ROOT/build/tests/tcp-pingpong" server $ADDR_B:7300 &
	local s=$!
	taskset -c 0 nsenter --net=/run/netns/$NS_A "$RDSB_ROOT/build/tests/tcp-pingpong" client $ADDR_B:7300 "$PP" 64 |
		awk '{print $5}'
	wait $s 2>/dev/null || true
}

rds_pp() {	# p50 us
	rm -f $out/ready
	rds B "$RDSB_XFER" echo -b $ADDR_B:7400 -n "$PP" --ready $out/ready >/dev/null &
	until [ -e $out/ready ]; do sleep 0.02; done
	rds A "$RDSB_XFER" pingpong -b $ADDR_A:7400 -d $ADDR_B:7400 -n "$PP" -s 64 | awk '{print $5}'
	wait
}

engines() {	# restart both engines with these load options
	in_host A "$RDSB_BIN" unload >/dev/null
	in_host B "$RDSB_BIN" unload >/dev/null
	engine_up A "$@" >/dev/null
	engine_up B "$@" >/dev/null
}

echo "== raw TCP baselines"
R[iperf1]=$(iperf 1)
R[iperf8]=$(iperf 8)
R[tcp_pp]=$(tcp_pp)

for paths in 8 1; do
	echo "== rds-bpf, $paths path(s), userspace data path"
	engines --paths $paths --no-bpf
	R[bulk64k_$paths]=$(rds_bulk 8 65536 $((SECS * 1500)))
	R[bulk1m_$paths]=$(rds_bulk 4 1048576 $((SECS * 60)))
	R[bulk4k_$paths]=$(rds_bulk 8 4096 $((SECS * 8000)))
	R[rate64_$paths]=$(rds_rate $((SECS * 10000)))
	R[pp_$paths]=$(rds_pp)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\n%-44s %12s %12s %8s\n' "measurement" "rds-bpf" "baseline" "ratio"
row() { printf '%-44s %12s %12s %8s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
row "bulk 64 KiB, 8 paths, Gbit/s vs iperf3 -P 8" "${R[bulk64k_8]}" "${R[iperf8]}"
row "bulk 64 KiB, 1 path, Gbit/s vs iperf3 -P 1" "${R[bulk64k_1]}" "${R[iperf1]}"
row "bulk 1 MiB, 8 paths, Gbit/s vs iperf3 -P 8" "${R[bulk1m_8]}" "${R[iperf8]}"
row "bulk 4 KiB, 8 paths, Gbit/s vs iperf3 -P 8" "${R[bulk4k_8]}" "${R[iperf8]}"
row "mprds: bulk 64 KiB 8 paths vs 1 path" "${R[bulk64k_8]}" "${R[bulk64k_1]}"
row "64 B msgs/s, 8 sockets, 8 paths vs 1 path" "${R[rate64_8]}" "${R[rate64_1]}"
row "ping-pong 64 B p50 us vs TCP ping-pong" "${R[pp_8]}" "${R[tcp_pp]}"
