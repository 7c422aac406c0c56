#!/usr/bin/env bash
# Benchmarks, side by side in one run between two namespace hosts over veth:
# raw TCP baselines (iperf3 with 1 and 8 flows, a framed TCP ping-pong, and
# that ping-pong with both ends receiving through a sockmap redirect, the
# latency floor of the BPF path's receive design) next to rds-bpf stress on
# the BPF path (`load --bpf`), the BPF path with sk_msg sends (`load --bpf
# --sk-msg`, engine "skmsg"), the userspace path (`load`, the default) and
# the XDP/AF_XDP transport (`load --transport xdp`), each with 1 and 8 paths,
# for several message sizes:
#   throughput  one-way, BENCH_TASKS tasks x depth BENCH_DEPTH   (Gbit/s)
#   latency     ping-pong, 1 task, depth 1, request = ack = size,
#               apps and engines of both hosts pinned to CPU BENCH_CPU (p50 us)
#   rate        64 B request/response, BENCH_TASKS x BENCH_DEPTH  (tx+rx msgs/s)
# Writes results.csv (raw), runs.jsonl (every stress result), table.txt and
# bench.png into BENCH_OUT (default build/bench). Numbers on this shared
# 2-core VM are noisy: compare the ratios of one run.
#
#   tools/bench.sh                 run, then report
#   tools/bench.sh --report DIR    table and plot again from DIR/results.csv
#   tools/bench.sh --xdp-ratio [N] only the XDP transport's 64 KiB target, in N
#                                  (5) rounds alternating it with RDS/TCP, with
#                                  medians and the engines' CPU per GB moved
# Environment: BENCH_SECS (3, per run), BENCH_SIZES ("64 4096 65536 1048576"),
# BENCH_PATHS ("1 8"), BENCH_ENGINES ("bpf skmsg user xdp"), BENCH_TASKS (8),
# BENCH_DEPTH (16), BENCH_CPU (0), BENCH_PINGPONGS (2000 x BENCH_SECS), BENCH_OUT,
# BENCH_MTU (1500: the veth pair's, for every row; 3500 is the largest native
# XDP takes on veth, and the XDP transport's frames grow with it, 20 per
# 64 KiB message instead of 47: docs/xdp-encap.md).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-$PWD/build/bench}
[[ $out == /* ]] || out=$here/$out

# ---- report: table.txt and bench.png from results.csv -----------------------
# results.csv: test,engine,paths,size,value,unit with
#   throughput,iperf3,FLOWS,0,GBIT,gbit        latency,tcp,1,SIZE,P50,p50_us
#                                              latency,tcp-sockmap,1,SIZE,P50,p50_us
#   throughput,ENGINE,PATHS,SIZE,GBIT,gbit      latency,ENGINE,PATHS,SIZE,P50,p50_us
#   rate,ENGINE,PATHS,64,MSGS,msgs_per_s
# ENGINE: bpf, skmsg, user (all RDS/TCP) or xdp (the XDP transport, userspace path);
# the "x user" columns compare a row with user, the RDS/TCP transport.
table() {
	awk -F, '
	function name(s) {
		if (s >= 1048576 && s % 1048576 == 0) return sprintf("%d MiB", s / 1048576)
		if (s >= 1024 && s % 1024 == 0) return sprintf("%d KiB", s / 1024)
		return sprintf("%d B", s)
	}
	function verdict(x, ok) { return x == "-" ? "-" : (ok ? "met" : "NOT MET") }
	function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	function sorted(set, out,   n, k, i, j, t) {
		n = 0
		for (k in set) out[++n] = k + 0
		for (i = 2; i <= n; i++) for (j = i; j > 1 && out[j - 1] > out[j]; j--) { t = out[j]; out[j] = out[j - 1]; out[j - 1] = t }
		return n
	}
	NR == 1 { next }
	{ v[$1 "," $2 "," $3 "," $4] = $5 }
	$2 == "bpf" || $2 == "skmsg" || $2 == "user" || $2 == "xdp" { eng[$2] = 1; paths[$3] = 1; if ($1 != "rate") sizes[$4] = 1 }
	END {
		ns = sorted(sizes, S); np = sorted(paths, P)
		ne = 0; if ("bpf" in eng) E[++ne] = "bpf"; if ("skmsg" in eng) E[++ne] = "skmsg"; if ("user" in eng) E[++ne] = "user"; if ("xdp" in eng) E[++ne] = "xdp"
		printf "%-8s %5s %-6s %8s %9s %8s %7s %10s %10s\n", "size", "paths", "engine", "Gbit/s", "x iperf3",
			"p50 us", "x TCP", "x user", "x user"
		printf "%-8s %5s %-6s %8s %9s %8s %7s %10s %10s\n", "", "", "", "", "same -P", "", "pingpong",
			"Gbit/s", "p50"
		slower = 0; rows = 0
		for (i = 1; i <= ns; i++) for (p = 1; p <= np; p++) for (e = 1; e <= ne; e++) {
			s = S[i]; k = "," P[p] "," s
			t = v["throughput," E[e] k]; l = v["latency," E[e] k]
			if (t == "" && l == "") continue
			tb = v["throughput,user" k]; lb = v["latency,user" k]
			printf "%-8s %5d %-6s %8s %9s %8s %7s %10s %10s\n", name(s), P[p], E[e], t,
				ratio(t, v["throughput,iperf3," P[p] ",0"]), l, ratio(l, v["latency,tcp,1," s]),
				E[e] != "user" ? ratio(t, tb) : "", E[e] != "user" ? ratio(l, lb) : ""
			if (E[e] == "bpf" && tb != "") { rows++; if (t < tb * 0.95) slower++ }
			if (E[e] == "bpf" && lb != "") { rows++; if (l > lb * 1.05) slower++ }
		}
		printf "\n%-20s %5s %-6s %12s %10s\n", "64 B msgs/s (tx+rx)", "paths", "engine", "msgs/s", "x user"
		for (p = 1; p <= np; p++) for (e = 1; e <= ne; e++) {
			r = v["rate," E[e] "," P[p] ",64"]
			if (r == "") continue
			rb = v["rate,user," P[p] ",64"]
			printf "%-20s %5d %-6s %12s %10s\n", "", P[p], E[e], r, E[e] != "user" ? ratio(r, rb) : ""
			if (E[e] == "bpf" && rb != "") { rows++; if (r < rb * 0.95) slower++ }
		}
		printf "\nbaselines (veth MTU %s): iperf3 -P1 %s Gbit/s, -P8 %s Gbit/s; TCP ping-pong 64 B p50 %s us;\n",
			v["setting,mtu,0,0"] == "" ? 1500 : v["setting,mtu,0,0"],
			v["throughput,iperf3,1,0"], v["throughput,iperf3,8,0"], v["latency,tcp,1,64"]
		printf "           TCP ping-pong through a sockmap redirect 64 B p50 %s us\n",
			v["latency,tcp-sockmap,1,64"]
		# the targets of the BPF data path, for the largest path count measured
		pm = P[np]
		t = ratio(v["throughput,bpf," pm ",65536"], v["throughput,iperf3," pm ",0"])
		l = ratio(v["latency,bpf," pm ",64"], v["latency,tcp,1,64"])
		r = ratio(v["rate,bpf," pm ",64"], v["rate,user," pm ",64"])
		printf "\ntargets (%d path%s):\n", pm, pm == 1 ? "" : "s"
		printf "  %-52s %6s  %s\n", "bulk 64 KiB, BPF >= 0.8 x iperf3 same flows", t, verdict(t, (t >= 0.8))
		printf "  %-52s %6s  %s\n", "64 B ping-pong p50, BPF <= 1.5 x TCP ping-pong", l, verdict(l, (l <= 1.5))
		printf "  %-52s %6s  %s\n", "64 B msgs/s depth >= 16, BPF >= 2 x userspace", r, verdict(r, (r >= 2))
		printf "  %-52s %6s  %s\n", "BPF as fast as userspace (5 % noise) on every row",
			slower "/" rows, verdict(rows ? "" : "-", (slower == 0))
		x = ratio(v["throughput,xdp," pm ",65536"], v["throughput,user," pm ",65536"])
		printf "  %-52s %6s  %s\n", "bulk 64 KiB, XDP transport >= 0.6 x RDS/TCP (user)", x, verdict(x, (x >= 0.6))
	}' "$1"
}

plot() {	# DIR: bench.png from DIR/results.csv
	local dir=$1 tput=() lat=() f e p
	if ! command -v gnuplot >/dev/null; then
		echo "bench: no gnuplot, so no plot (tools/install-deps.sh installs it)" >&2
		return 0
	fi
	mkdir -p "$dir/plot"
	for e in bpf skmsg user xdp; do
		for p in $(awk -F, -v e=$e '$2 == e { print $3 }' "$dir/results.csv" | sort -nu); do
			for m in throughput latency; do
				f=$dir/plot/$m-$e-$p.dat
				awk -F, -v m=$m -v e=$e -v p="$p" '$1 == m && $2 == e && $3 == p { print $4, $5 }' \
					"$dir/results.csv" | sort -n >"$f"
				[ -s "$f" ] || continue
				if [ $m = throughput ]; then tput+=("'$f' using 1:2 with linespoints title '$e, $p path(s)'")
				else lat+=("'$f' using 1:2 with linespoints title '$e, $p path(s)'"); fi
			done
		done
	done
	# iperf3 has no message size: a flat line over the sizes measured
	for p in 1 8; do
		f=$dir/plot/throughput-iperf3-$p.dat
		awk -F, -v p=$p 'NR > 1 && $1 == "throughput" && $2 != "iperf3" { s[$4] = 1 }
			$2 == "iperf3" && $3 == p { g = $5 } END { if (g != "") for (k in s) print k, g }' \
			"$dir/results.csv" | sort -n >"$f"
		[ -s "$f" ] && tput+=("'$f' using 1:2 with lines dashtype 2 title 'iperf3 -P$p'")
	done
	f=$dir/plot/latency-tcp.dat
	awk -F, '$1 == "latency" && $2 == "tcp" { print $4, $5 }' "$dir/results.csv" | sort -n >"$f"
	[ -s "$f" ] && lat+=("'$f' using 1:2 with linespoints dashtype 2 title 'TCP ping-pong'")
	f=$dir/plot/latency-tcp-sockmap.dat
	awk -F, '$1 == "latency" && $2 == "tcp-sockmap" { print $4, $5 }' "$dir/results.csv" | sort -n >"$f"
	[ -s "$f" ] && lat+=("'$f' using 1:2 with linespoints dashtype 3 title 'TCP ping-pong, sockmap redirect'")
	local IFS=,
	gnuplot <<-EOF
		set terminal pngcairo size 1400,560 font ",10"
		set output '$dir/bench.png'
		set multiplot layout 1,2 title 'rds-bpf stress (RDS/TCP: bpf, user; XDP transport: xdp) vs TCP, two netns hosts over veth'
		set logscale x 2
		set xtics ('64 B' 64, '1 KiB' 1024, '4 KiB' 4096, '16 KiB' 16384, '64 KiB' 65536, '256 KiB' 262144, '1 MiB' 1048576)
		set xlabel 'message size'
		set grid
		set key left top
		set logscale y
		set offsets graph 0.03, graph 0.03, graph 0.1, graph 0.05
		set ylabel 'throughput, one-way (Gbit/s)'
		plot ${tput[*]}
		set ylabel 'ping-pong rtt p50 (us)'
		plot ${lat[*]}
		unset multiplot
	EOF
}

report() {
	table "$1/results.csv" | tee "$1/table.txt"
	plot "$1"
	echo "bench: results in $1 (results.csv, table.txt, bench.png)"
}

AB_RUNS=
if [ $# -gt 0 ]; then
	if [ "$1" = --report ] && [ $# -eq 2 ] && [ -f "$2/results.csv" ]; then
		report "$2"
		exit 0
	fi
	if [ "$1" = --xdp-ratio ] && [ $# -le 2 ] && [[ ${2:-5} =~ ^[1-9][0-9]*$ ]]; then
		AB_RUNS=${2:-5}
	else
		echo "usage: tools/bench.sh [--report DIR_WITH_results.csv | --xdp-ratio [RUNS]] (settings: see the top of the script)" >&2
		exit 2
	fi
fi

# ---- measure ---------------------------------------------------------------
SECS=${BENCH_SECS:-3}
SIZES=${BENCH_SIZES:-64 4096 65536 1048576}
PATHS=${BENCH_PATHS:-1 8}
ENGINES=${BENCH_ENGINES:-bpf skmsg user xdp}
TASKS=${BENCH_TASKS:-8}
DEPTH=${BENCH_DEPTH:-16}
CPU=${BENCH_CPU:-0}
PP=${BENCH_PINGPONGS:-$((SECS * 2000))}
MTU=${BENCH_MTU:-1500}
source tests/lib/hosts.sh
hosts_session "bench$$"
in_host A ip link set eth0 mtu "$MTU"
in_host B ip link set eth0 mtu "$MTU"
mkdir -p "$out"
csv=$out/results.csv
echo "test,engine,paths,size,value,unit" >"$csv"
: >"$out/runs.jsonl"
port=5000

record() { echo "$1,$2,$3,$4,$5,$6" >>"$csv"; }
record setting mtu 0 0 "$MTU" bytes

next_port() { port=$((port + 100)); }

iperf() {	# flows -> Gbit/s
	next_port
	in_host B iperf3 -s -1 -D -p $port >/dev/null
	sleep 0.2
	in_host A iperf3 -c $ADDR_B -p $port -P "$1" -t "$SECS" -J |
		jq -r '.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000'
}

tcp_pp() {	# tcp-pingpong|tcp-sockmap-pingpong size -> p50 us; both ends on CPU $CPU
	next_port
	in_host B taskset -c "$CPU" "$RDSB_ROOT/build/tests/$1" server $ADDR_B:$port &
	in_host A taskset -c "$CPU" "$RDSB_ROOT/build/tests/$1" client $ADDR_B:$port "$PP" "$2" |
		awk '{ print $5 }'
	wait
}

# stress "passive options" active options... -> the active side's JSON result
stress() {
	local pargs=$1 rc=0
	shift
	next_port
	# shellcheck disable=SC2086
	in_host B "$RDSB_BIN" stress -r $ADDR_B -p $port -j $pargs >"$RDSB_LOG_DIR/passive" 2>&1 &
	in_host A "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -p $port -j -T "$SECS" "$@" \
		>"$RDSB_LOG_DIR/active" 2>"$RDSB_LOG_DIR/active.err" || rc=$?
	wait $! || true
	if [ $rc -ne 0 ]; then
		echo "bench: stress $* failed (exit $rc):" >&2
		cat "$RDSB_LOG_DIR/active.err" "$RDSB_LOG_DIR/passive" >&2
	fi
	cat "$RDSB_LOG_DIR/active" >>"$out/runs.jsonl"
	cat "$RDSB_LOG_DIR/active"
}

engines() {	# bpf|skmsg|user|xdp PATHS: restart both engines so
	local opts=(--paths "$2")
	[ "$1" = bpf ] && opts+=(--bpf)
	[ "$1" = skmsg ] && opts+=(--bpf --sk-msg)
	[ "$1" = xdp ] && opts+=(--transport xdp --dev eth0)
	in_host A "$RDSB_BIN" unload >/dev/null
	in_host B "$RDSB_BIN" unload >/dev/null
	engine_up A "${opts[@]}" >/dev/null
	engine_up B "${opts[@]}" >/dev/null
}

pin_engines() {	# every thread of both engines onto CPU $CPU, as the ping-pong ends
	local p
	for p in $(ip netns pids "$NS_A") $(ip netns pids "$NS_B"); do
		taskset -a -p -c "$CPU" "$p" >/dev/null
	done
}

# --xdp-ratio RUNS: the XDP transport's 64 KiB one-way throughput against
# RDS/TCP's (userspace path), 8 paths, in RUNS rounds that alternate the two
# (the order swapped each round, so both see the same load), with the CPU
# the two engines used per GB moved (softirq included: on veth the receive
# side runs in the sender's sendto); then medians and ranges.
cpu_ns() {	# PID...: their CPU time so far
	local p t=0
	for p in "$@"; do
		t=$((t + $(cut -d' ' -f1 "/proc/$p/schedstat")))
	done
	echo $t
}
ab_one() {	# user|xdp -> "Gbit/s ms/GB"
	local pids c0 j
	engines "$1" 8
	# shellcheck disable=SC2207
	pids=($(ip netns pids "$NS_A") $(ip netns pids "$NS_B"))	# the two engines, alone there
	c0=$(cpu_ns "${pids[@]}")
	j=$(stress "" -o -t "$TASKS" -d "$DEPTH" -q 65536)
	jq -r --arg ns $(($(cpu_ns "${pids[@]}") - c0)) --arg s "$SECS" \
		'"\(.gbit_per_s) \(($ns | tonumber) / 1e6 / (.gbit_per_s * ($s | tonumber) / 8) | round)"' <<<"$j"
}
median() {	# column N of the CSV on stdin (no header) -> "median (min-max)"
	cut -d, -f"$1" | sort -n | awk '{ v[NR] = $1 }
		END { printf "%s (%s-%s)", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}
if [ -n "$AB_RUNS" ]; then
	echo "== XDP transport vs RDS/TCP, 64 KiB one-way, $TASKS tasks x depth $DEPTH, 8 paths, MTU $MTU, $SECS s a run"
	ab=$out/xdp-ratio.csv
	echo "run,tcp_gbit,tcp_ms_per_gb,xdp_gbit,xdp_ms_per_gb,ratio" >"$ab"
	for i in $(seq "$AB_RUNS"); do
		if [ $((i % 2)) = 1 ]; then read -r tg tc <<<"$(ab_one user)"; read -r xg xc <<<"$(ab_one xdp)"
		else read -r xg xc <<<"$(ab_one xdp)"; read -r tg tc <<<"$(ab_one user)"; fi
		r=$(awk -v x="$xg" -v t="$tg" 'BEGIN { printf "%.3f", x / t }')
		echo "run $i: RDS/TCP $tg Gbit/s ($tc ms/GB), XDP $xg Gbit/s ($xc ms/GB), ratio $r"
		echo "$i,$tg,$tc,$xg,$xc,$r" >>"$ab"
	done
	echo "medians of $AB_RUNS (min-max): RDS/TCP $(tail -n +2 "$ab" | median 2) Gbit/s, $(tail -n +2 "$ab" | median 3) ms/GB;" \
		"XDP $(tail -n +2 "$ab" | median 4) Gbit/s, $(tail -n +2 "$ab" | median 5) ms/GB; ratio $(tail -n +2 "$ab" | median 6)"
	echo "bench: runs in $ab"
	exit 0
fi

echo "== raw TCP baselines"
record throughput iperf3 1 0 "$(iperf 1)" gbit
record throughput iperf3 8 0 "$(iperf 8)" gbit
for s in $SIZES; do
	record latency tcp 1 "$s" "$(tcp_pp tcp-pingpong "$s")" p50_us
	record latency tcp-sockmap 1 "$s" "$(tcp_pp tcp-sockmap-pingpong "$s")" p50_us
done
for e in $ENGINES; do
	for p in $PATHS; do
		echo "== rds-bpf, $e, $p path(s)"
		engines "$e" "$p"
		for s in $SIZES; do
			record throughput "$e" "$p" "$s" \
				"$(stress "" -o -t "$TASKS" -d "$DEPTH" -q "$s" | jq -r .gbit_per_s)" gbit
		done
		record rate "$e" "$p" 64 \
			"$(stress "" -t "$TASKS" -d "$DEPTH" -q 64 -a 64 | jq -r .msgs_per_s)" msgs_per_s
		pin_engines
		for s in $SIZES; do
			record latency "$e" "$p" "$s" \
				"$(stress "--cpu $CPU" --cpu "$CPU" -q "$s" -a "$s" | jq -r .rtt_p50_us)" p50_us
		done
	done
done
echo
echo "$SECS s per run; throughput: one-way, $TASKS tasks x depth $DEPTH; latency: 1 task, depth 1, request = ack = size, all on CPU $CPU"
report "$out"
