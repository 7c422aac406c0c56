#!/usr/bin/env bash
# Benchmarks, side by side in one run between two namespace hosts over veth:
# raw TCP baselines (iperf3 with 1 and 8 flows, a TCP ping-pong that sends
# each message in one write and reads it with poll + nonblocking recv, and
# that ping-pong with both ends receiving through a sockmap redirect, the
# latency floor of the BPF path's receive design) next to rds-bpf stress on
# the BPF path (`load --bpf`, the default's: sockmap receive, sk_msg sends),
# its receive path with every send through the engine (`load --bpf
# --no-sk-msg`, engine "bpfrx"), the userspace path (`load --no-bpf`) and
# the XDP/AF_XDP transport (`load --transport xdp`), each with 1 and 8 paths,
# for several message sizes:
#   throughput  one-way, BENCH_TASKS tasks x depth BENCH_DEPTH   (Gbit/s;
#               the receivers check each message's header, not its content,
#               which iperf3 does not read either: stress --no-verify)
#   latency     ping-pong, 1 task, depth 1, request = ack = size,
#               apps and engines of both hosts pinned to CPU BENCH_CPU (p50 us)
#   rate        64 B request/response, BENCH_TASKS x BENCH_DEPTH  (tx+rx msgs/s)
#   orate       64 B one-way, BENCH_TASKS x BENCH_DEPTH (msgs/s; the throughput run)
# beside a TCP sender that makes one write per 48+64 B record on BENCH_TASKS
# flows (tcp-records: one-way, and request/response at depth BENCH_DEPTH).
# Every measurement is taken BENCH_RUNS times, the runs one after the other
# with every path in each (in a rotating order), so that the ratios of a run
# compare paths measured side by side; the table gives medians, the targets
# the median of each run's ratio and its range over the runs.
# Writes runs.csv (every run), results.csv (medians and ranges), runs.jsonl
# (every stress result), table.txt and bench.png into BENCH_OUT (default
# build/bench). Numbers on this shared 2-core VM are noisy: read the ratios.
#
#   tools/bench.sh                 run, then report
#   tools/bench.sh --report DIR    table and plot again from DIR/results.csv
#   tools/bench.sh --xdp-ratio [N] only the XDP transport's 64 KiB target, in N
#                                  (5) rounds alternating it with RDS/TCP, with
#                                  medians and the engines' CPU per GB moved
#   tools/bench.sh --shim-ratio [N] the shim's cost: request/response, 1 task x
#                                  depth 16 (BENCH_TASKS, BENCH_DEPTH), 64 B and
#                                  1 KiB requests (BENCH_SIZES), rds-stress-sock
#                                  under the shim against rds-bpf stress (the same
#                                  loop on librdsb) in N (5) alternating rounds:
#                                  medians, ranges, the apps' CPU per request
# Environment: BENCH_SECS (3, per run), BENCH_SIZES ("64 4096 65536 1048576"),
# BENCH_PATHS ("1 8"), BENCH_ENGINES ("bpf bpfrx user xdp"), BENCH_TASKS (8),
# BENCH_DEPTH (16), BENCH_CPU (0), BENCH_PINGPONGS (2000 x BENCH_SECS), BENCH_RUNS (3),
# BENCH_OUT, BENCH_MTU (1500: the veth pair's, for every row; 3500 is the largest
# native XDP takes on veth, and the XDP transport's frames grow with it, 20 per
# 64 KiB message instead of 47: docs/xdp-encap.md), BENCH_TESTS ("throughput
# latency rate orate": the rows measured, each with its baseline, e.g.
# BENCH_TESTS="latency rate orate" BENCH_SIZES=64 for the 64 B rows alone,
# BENCH_TESTS=throughput BENCH_SIZES="65536 1048576" for the bulk rows),
# BENCH_RPS (0; 1: receive packet steering on both veth ends, as below),
# BENCH_VERIFY (0; 1: the one-way runs check every byte of every message too).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-$PWD/build/bench}
[[ $out == /* ]] || out=$here/$out

# ---- report: table.txt and bench.png from results.csv -----------------------
# results.csv: test,engine,paths,size,value,unit[,lo,hi] (value the median of
# the runs, lo and hi their range) with
#   throughput,iperf3,FLOWS,0,GBIT,gbit        latency,tcp,1,SIZE,P50,p50_us
#                                              latency,tcp-sockmap,1,SIZE,P50,p50_us
#   throughput,ENGINE,PATHS,SIZE,GBIT,gbit      latency,ENGINE,PATHS,SIZE,P50,p50_us
#   rate,ENGINE,PATHS,64,MSGS,msgs_per_s        orate,ENGINE,PATHS,64,MSGS,msgs_per_s
#   rate,tcp-rec,FLOWS,64,MSGS,msgs_per_s       orate,tcp-rec,FLOWS,64,MSGS,msgs_per_s
# runs.csv, beside it if the run wrote one: run,test,engine,paths,size,value,unit.
# ENGINE: bpf, bpfrx, user (all RDS/TCP) or xdp (the XDP transport, userspace path);
# the "x user" columns compare a row with user, the RDS/TCP transport.
table() {
	awk -F, '
	function name(s) {
		if (s >= 1048576 && s % 1048576 == 0) return sprintf("%d MiB", s / 1048576)
		if (s >= 1024 && s % 1024 == 0) return sprintf("%d KiB", s / 1024)
		return sprintf("%d B", s)
	}
	function verdict(x, ok) { return x == "-" ? "-" : (ok ? "met" : "NOT MET") }
	# One target: a over b, per run where runs.csv has both, else of the
	# medians; dir 1: at least lim, -1: at most.
	function target(e, what, a, b, lim, dir,   n, i, k, t, r, lo, hi, med, spread) {
		n = 0
		for (i = 1; i <= nrun; i++)
			if ((a "," i) in run && (b "," i) in run && run[b "," i] + 0 != 0)
				r[++n] = run[a "," i] / run[b "," i]
		if (!n && v[a] != "" && v[b] != "" && v[b] + 0 != 0)
			r[++n] = v[a] / v[b]
		for (i = 2; i <= n; i++) for (k = i; k > 1 && r[k - 1] > r[k]; k--) { t = r[k]; r[k] = r[k - 1]; r[k - 1] = t }
		med = !n ? "-" : sprintf("%.2f", n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2)
		spread = n > 1 ? sprintf("[%.2f-%.2f]", r[1], r[n]) : ""
		printf "  %-6s %-52s %6s %-12s %s\n", e, what, med, spread, verdict(med, dir > 0 ? med + 0 >= lim : med + 0 <= lim)
	}
	function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	function sorted(set, out,   n, k, i, j, t) {
		n = 0
		for (k in set) out[++n] = k + 0
		for (i = 2; i <= n; i++) for (j = i; j > 1 && out[j - 1] > out[j]; j--) { t = out[j]; out[j] = out[j - 1]; out[j - 1] = t }
		return n
	}
	FILENAME != ARGV[ARGC - 1] { if (FNR > 1) { run[$2 "," $3 "," $4 "," $5 "," $1] = $6; if ($1 > nrun) nrun = $1 } ; next }
	FNR == 1 { next }
	{ v[$1 "," $2 "," $3 "," $4] = $5 }
	$2 == "bpf" || $2 == "bpfrx" || $2 == "user" || $2 == "xdp" { eng[$2] = 1; paths[$3] = 1; if ($1 != "rate") sizes[$4] = 1 }
	END {
		ns = sorted(sizes, S); np = sorted(paths, P)
		ne = 0; if ("bpf" in eng) E[++ne] = "bpf"; if ("bpfrx" in eng) E[++ne] = "bpfrx"; if ("user" in eng) E[++ne] = "user"; if ("xdp" in eng) E[++ne] = "xdp"
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
		printf "\n%-20s %5s %-6s %12s %10s %12s %10s\n", "64 B msgs/s", "paths", "engine", "req/resp", "x user",
			"one-way", "x user"
		for (p = 1; p <= np; p++) for (e = 1; e <= ne; e++) {
			r = v["rate," E[e] "," P[p] ",64"]; o = v["orate," E[e] "," P[p] ",64"]
			if (r == "" && o == "") continue
			rb = v["rate,user," P[p] ",64"]; ob = v["orate,user," P[p] ",64"]
			printf "%-20s %5d %-6s %12s %10s %12s %10s\n", "", P[p], E[e], r, E[e] != "user" ? ratio(r, rb) : "",
				o, E[e] != "user" ? ratio(o, ob) : ""
			if (E[e] == "bpf" && rb != "") { rows++; if (r < rb * 0.95) slower++ }
			if (E[e] == "bpf" && ob != "" && o != "") { rows++; if (o < ob * 0.95) slower++ }
		}
		if (v["rate,tcp-rec," TASKS ",64"] != "")
			printf "%-20s %5d %-6s %12s %10s %12s\n", "", TASKS, "tcp-rec", v["rate,tcp-rec," TASKS ",64"], "",
				v["orate,tcp-rec," TASKS ",64"]
		printf "\nbaselines (veth MTU %s): iperf3 -P1 %s Gbit/s, -P8 %s Gbit/s; TCP ping-pong 64 B p50 %s us;\n",
			v["setting,mtu,0,0"] == "" ? 1500 : v["setting,mtu,0,0"],
			v["throughput,iperf3,1,0"], v["throughput,iperf3,8,0"], v["latency,tcp,1,64"]
		printf "           TCP ping-pong through a sockmap redirect 64 B p50 %s us\n",
			v["latency,tcp-sockmap,1,64"]
		if (v["setting,verify,0,0"] == "0")
			print "one-way runs: headers checked, content not read, as iperf3 (BENCH_VERIFY=1 checks it)"
		else
			print "one-way runs: every byte of every message checked"
		# the targets of issue 17, for each RDS/TCP data path at the largest
		# path count measured (the default load is "bpf"):
		# the median over the runs of each run ratio, and the range
		pm = P[np]
		printf "\ntargets (%d path%s; ratio: median over the runs of each run ratio [range]):\n", pm, pm == 1 ? "" : "s"
		for (e = 1; e <= ne; e++) {
			if (E[e] == "xdp") continue
			target(E[e], "64 B ping-pong p50 <= 1.5 x TCP ping-pong", "latency," E[e] "," pm ",64", "latency,tcp,1,64", 1.5, -1)
			target(E[e], "64 B msgs/s one-way >= 0.5 x TCP records", "orate," E[e] "," pm ",64", "orate,tcp-rec," TASKS ",64", 0.5, 1)
			target(E[e], "64 B msgs/s request/response >= 0.5 x TCP records", "rate," E[e] "," pm ",64", "rate,tcp-rec," TASKS ",64", 0.5, 1)
			target(E[e], "bulk 64 KiB >= 0.9 x iperf3 same flows", "throughput," E[e] "," pm ",65536", "throughput,iperf3," pm ",0", 0.9, 1)
			target(E[e], "bulk 1 MiB >= 0.8 x iperf3 same flows", "throughput," E[e] "," pm ",1048576", "throughput,iperf3," pm ",0", 0.8, 1)
		}
		target("xdp", "bulk 64 KiB >= 0.6 x RDS/TCP (user)", "throughput,xdp," pm ",65536", "throughput,user," pm ",65536", 0.6, 1)
		# rows where bpf is as fast (within 5 %) of the rows compared
		printf "  %-6s %-52s %6s %-12s %s\n", "bpf", "as fast as userspace (5 % noise) on every row",
			rows - slower "/" rows, "", verdict(rows ? "" : "-", (slower == 0))
	}' TASKS="${BENCH_TASKS:-8}" $([ -f "$(dirname "$1")/runs.csv" ] && echo "$(dirname "$1")/runs.csv") "$1"
}

plot() {	# DIR: bench.png from DIR/results.csv
	local dir=$1 tput=() lat=() f e p
	if ! command -v gnuplot >/dev/null; then
		echo "bench: no gnuplot, so no plot (tools/install-deps.sh installs it)" >&2
		return 0
	fi
	mkdir -p "$dir/plot"
	for e in bpf bpfrx user xdp; do
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
	# the 64 B message rates, one bar pair per path (req/resp, one-way)
	f=$dir/plot/rate.dat
	awk -F, 'NR > 1 && ($1 == "rate" || $1 == "orate") { k = $2 " " $3; if (!(k in seen)) { seen[k] = 1; K[++n] = k }
			if ($1 == "rate") r[k] = $5; else o[k] = $5 }
		END { for (i = 1; i <= n; i++) printf "\"%s\" %s %s\n", K[i], r[K[i]] == "" ? "-" : r[K[i]] / 1000, o[K[i]] == "" ? "-" : o[K[i]] / 1000 }' \
		"$dir/results.csv" >"$f"
	# a panel for what was measured (BENCH_TESTS)
	local rate=
	[ -s "$f" ] && rate="plot '$f' using 2:xtic(1) title 'request/response (tx+rx)', '' using 3 title 'one-way'"
	local IFS=,
	gnuplot <<-EOF
		set terminal pngcairo size 2000,640 font ",10"
		set output '$dir/bench.png'
		set multiplot layout 1,3 title 'rds-bpf stress (RDS/TCP: bpf, the default; bpfrx, --no-sk-msg; user, --no-bpf; XDP transport: xdp) vs TCP, two netns hosts over veth; medians of the runs'
		set grid
		set key below
		set datafile missing '-'
		set logscale x 2
		set xtics ('64 B' 64, '1 KiB' 1024, '4 KiB' 4096, '16 KiB' 16384, '64 KiB' 65536, '256 KiB' 262144, '1 MiB' 1048576)
		set xlabel 'message size'
		set logscale y
		set autoscale yfix
		set offsets graph 0.03, graph 0.03, graph 0.08, graph 0.05
		set ylabel 'throughput, one-way (Gbit/s)'
		${tput[*]:+plot ${tput[*]}}
		set ylabel 'ping-pong rtt p50 (us)'
		${lat[*]:+plot ${lat[*]}}
		unset logscale x
		set offsets 0, 0, graph 0.08, 0
		set xtics auto rotate by -30
		set xlabel 'path (engine, paths; tcp-rec: TCP, one write per 112 B record)'
		set ylabel '64 B messages per second (thousands)'
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.7 border -1
		set autoscale yfix
		set yrange [10:*]
		$rate
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
	if [[ $1 == --xdp-ratio || $1 == --shim-ratio ]] && [ $# -le 2 ] && [[ ${2:-5} =~ ^[1-9][0-9]*$ ]]; then
		AB_RUNS=${2:-5}
		AB_WHAT=${1#--}
	else
		echo "usage: tools/bench.sh [--report DIR_WITH_results.csv | --xdp-ratio [RUNS] | --shim-ratio [RUNS]] (settings: see the top of the script)" >&2
		exit 2
	fi
fi

# ---- measure ---------------------------------------------------------------
SECS=${BENCH_SECS:-3}
SIZES=${BENCH_SIZES:-64 4096 65536 1048576}
[ "${AB_WHAT:-}" != shim-ratio ] || SIZES=${BENCH_SIZES:-64 1024}
PATHS=${BENCH_PATHS:-1 8}
ENGINES=${BENCH_ENGINES:-bpf bpfrx user xdp}
TASKS=${BENCH_TASKS:-8}
[ "${AB_WHAT:-}" != shim-ratio ] || TASKS=${BENCH_TASKS:-1}
DEPTH=${BENCH_DEPTH:-16}
CPU=${BENCH_CPU:-0}
RUNS=${BENCH_RUNS:-3}
PP=${BENCH_PINGPONGS:-$((SECS * 2000))}
MTU=${BENCH_MTU:-1500}
TESTS=" ${BENCH_TESTS:-throughput latency rate orate} "
for t in $TESTS; do
	case $t in
	throughput | latency | rate | orate) ;;
	*) echo "bench: BENCH_TESTS: no test \"$t\" (throughput latency rate orate)" >&2; exit 2 ;;
	esac
done
measures() { [[ $TESTS == *" $1 "* ]]; }	# TEST: BENCH_TESTS has it
source tests/lib/hosts.sh
hosts_session "bench$$"
in_host A ip link set eth0 mtu "$MTU"
in_host B ip link set eth0 mtu "$MTU"
# BENCH_RPS=1: receive packet steering on both veth ends, every CPU in the
# mask. veth queues a packet on the backlog of the CPU that sent it, so a
# flow whose segments leave from two CPUs arrives reordered; a NIC's receive
# hashing keeps a flow on one queue, and RPS does the same here.
if [ "${BENCH_RPS:-0}" = 1 ]; then
	for ns in "$NS_A" "$NS_B"; do
		ip netns exec "$ns" sh -c "printf '%x' $(((1 << $(nproc)) - 1)) >/sys/class/net/eth0/queues/rx-0/rps_cpus"
	done
fi
mkdir -p "$out"
csv=$out/results.csv
: >"$out/runs.jsonl"
port=5000


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

# stress "passive options" active options... -> the active side's JSON result;
# STRESS (default: rds-bpf stress) is the command of both sides
stress() {
	local pargs=$1 rc=0 cmd
	read -ra cmd <<<"${STRESS:-$RDSB_BIN stress}"
	shift
	next_port
	# shellcheck disable=SC2086
	in_host B "${cmd[@]}" -r $ADDR_B -p $port -j $pargs >"$RDSB_LOG_DIR/passive" 2>&1 &
	in_host A "${cmd[@]}" -r $ADDR_A -s $ADDR_B -p $port -j -T "$SECS" "$@" \
		>"$RDSB_LOG_DIR/active" 2>"$RDSB_LOG_DIR/active.err" || rc=$?
	wait $! || true
	if [ $rc -ne 0 ]; then
		echo "bench: stress $* failed (exit $rc):" >&2
		cat "$RDSB_LOG_DIR/active.err" "$RDSB_LOG_DIR/passive" >&2
	fi
	cat "$RDSB_LOG_DIR/active" >>"$out/runs.jsonl"
	cat "$RDSB_LOG_DIR/active"
}

engines() {	# bpf|bpfrx|user|xdp PATHS: restart both engines so
	local opts=(--paths "$2")
	[ "$1" = bpf ] && opts+=(--bpf)
	[ "$1" = bpfrx ] && opts+=(--bpf --no-sk-msg)
	[ "$1" = user ] && opts+=(--no-bpf)
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

runs=$out/runs.csv
echo "run,test,engine,paths,size,value,unit" >"$runs"
record() { echo "$run,$1,$2,$3,$4,$5,$6" >>"$runs"; }

records() {	# oneway|reqresp -> msgs/s of tcp-records, TASKS flows
	local r try
	# a flow that failed (it says so on stderr) gets the baseline measured
	# once more: seen once in a one-second run on a loaded machine
	for try in 1 2; do
		next_port
		in_host B "$RDSB_ROOT/build/tests/tcp-records" server $ADDR_B:$port "$TASKS" >/dev/null &
		sleep 0.2
		r=$(in_host A "$RDSB_ROOT/build/tests/tcp-records" client $ADDR_B:$port "$TASKS" "$DEPTH" "$SECS" "$1" |
			awk '{ print $6 }')
		kill %% 2>/dev/null
		wait	# the server ends with its flows
		[ -n "$r" ] && break
	done
	echo "$r"
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
# --shim-ratio RUNS: an unmodified program's cost through the shim. The same
# stress loop on the BSD calls under LD_PRELOAD (tests/tools/rds-stress-sock)
# and on librdsb (rds-bpf stress), request/response, in RUNS rounds that
# alternate the two (the order swapped each round), with the CPU both sides'
# applications used per request (user+system; the engines' is the same work
# for both); then medians and ranges of each and of the per-round ratio.
sock_one() {	# lib|shim SIZE -> "msgs/s us_per_request"
	local j STRESS="$RDSB_BIN stress"
	[ "$1" = lib ] || STRESS="env LD_PRELOAD=$RDSB_PRELOAD $RDSB_ROOT/build/tests/rds-stress-sock"
	# `times` in the subshell: the CPU of its children, both sides' stress
	j=$(STRESS=$STRESS stress "" -t "$TASKS" -d "$DEPTH" -q "$2"; times >"$RDSB_LOG_DIR/times")
	jq -r --arg us "$(tail -n 1 "$RDSB_LOG_DIR/times" | tr 'ms' '  ' | awk '{ print ($1 * 60 + $2 + $3 * 60 + $4) * 1e6 }')" \
		'"\(.msgs_per_s) \(($us | tonumber) / .tx_msgs * 100 | round / 100)"' <<<"$j"
}
if [ "${AB_WHAT:-}" = shim-ratio ]; then
	[ -x "$RDSB_ROOT/build/tests/rds-stress-sock" ] || { echo "bench: build/tests/rds-stress-sock missing (make all)" >&2; exit 2; }
	engines bpf 1	# the default data path
	echo "== the shim: rds-stress-sock under LD_PRELOAD vs rds-bpf stress, request/response, $TASKS task(s) x depth $DEPTH, $SECS s a run"
	ab=$out/shim-ratio.csv
	echo "size,run,lib_msgs_per_s,lib_us_per_req,shim_msgs_per_s,shim_us_per_req,ratio" >"$ab"
	for s in $SIZES; do
		for i in $(seq "$AB_RUNS"); do
			if [ $((i % 2)) = 1 ]; then read -r lr lc <<<"$(sock_one lib "$s")"; read -r sr sc <<<"$(sock_one shim "$s")"
			else read -r sr sc <<<"$(sock_one shim "$s")"; read -r lr lc <<<"$(sock_one lib "$s")"; fi
			r=$(awk -v a="$sr" -v b="$lr" 'BEGIN { printf "%.3f", a / b }')
			echo "$s B run $i: librdsb $lr msgs/s ($lc us CPU a request), shim $sr msgs/s ($sc us), ratio $r"
			echo "$s,$i,$lr,$lc,$sr,$sc,$r" >>"$ab"
		done
		rows=$(awk -F, -v s="$s" 'NR > 1 && $1 == s { sub(/^[^,]*,/, ""); print }' "$ab")
		echo "$s B, medians of $AB_RUNS (min-max): librdsb $(median 2 <<<"$rows") msgs/s, $(median 3 <<<"$rows") us a request;" \
			"shim $(median 4 <<<"$rows") msgs/s, $(median 5 <<<"$rows") us a request; ratio $(median 6 <<<"$rows")"
	done
	echo "bench: runs in $ab"
	exit 0
fi
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

order=($ENGINES)
unread=(--no-verify)
[ "${BENCH_VERIFY:-0}" = 1 ] && unread=()
for run in $(seq "$RUNS"); do
	echo "== run $run of $RUNS: raw TCP baselines"
	record setting mtu 0 0 "$MTU" bytes
	record setting verify 0 0 "${BENCH_VERIFY:-0}" bool
	if measures throughput; then
		record throughput iperf3 1 0 "$(iperf 1)" gbit
		record throughput iperf3 8 0 "$(iperf 8)" gbit
	fi
	measures orate && record orate tcp-rec "$TASKS" 64 "$(records oneway)" msgs_per_s
	measures rate && record rate tcp-rec "$TASKS" 64 "$(records reqresp)" msgs_per_s
	for s in $SIZES; do
		measures latency || break
		record latency tcp 1 "$s" "$(tcp_pp tcp-pingpong "$s")" p50_us
		record latency tcp-sockmap 1 "$s" "$(tcp_pp tcp-sockmap-pingpong "$s")" p50_us
	done
	# the one-way 64 B run gives both throughput and orate
	osizes=
	measures throughput && osizes=$SIZES
	measures orate && [[ " $osizes " != *" 64 "* ]] && osizes="64 $osizes"
	for e in "${order[@]}"; do
		for p in $PATHS; do
			echo "== run $run of $RUNS: rds-bpf, $e, $p path(s)"
			engines "$e" "$p"
			for s in $osizes; do
				j=$(stress "" -o -t "$TASKS" -d "$DEPTH" -q "$s" "${unread[@]}")
				measures throughput && [[ " $SIZES " == *" $s "* ]] &&
					record throughput "$e" "$p" "$s" "$(jq -r .gbit_per_s <<<"$j")" gbit
				measures orate && [ "$s" = 64 ] &&
					record orate "$e" "$p" 64 "$(jq -r .msgs_per_s <<<"$j")" msgs_per_s
			done
			measures rate && record rate "$e" "$p" 64 \
				"$(stress "" -t "$TASKS" -d "$DEPTH" -q 64 -a 64 | jq -r .msgs_per_s)" msgs_per_s
			measures latency || continue
			pin_engines
			for s in $SIZES; do
				record latency "$e" "$p" "$s" \
					"$(stress "--cpu $CPU" --cpu "$CPU" -q "$s" -a "$s" | jq -r .rtt_p50_us)" p50_us
			done
		done
	done
	order=("${order[@]:1}" "${order[0]}")	# the next run starts with the next path
done
# results.csv: the median of each measurement over the runs, and its range
echo "test,engine,paths,size,value,unit,lo,hi" >"$csv"
awk -F, 'NR > 1 { k = $2 "," $3 "," $4 "," $5; n[k]++; x[k, n[k]] = $6 + 0; u[k] = $7 }
	END {
		for (k in n) {
			m = n[k]
			for (i = 2; i <= m; i++) for (j = i; j > 1 && x[k, j - 1] > x[k, j]; j--) { t = x[k, j]; x[k, j] = x[k, j - 1]; x[k, j - 1] = t }
			med = m % 2 ? x[k, (m + 1) / 2] : (x[k, m / 2] + x[k, m / 2 + 1]) / 2
			print k "," med "," u[k] "," x[k, 1] "," x[k, m]
		}
	}' "$runs" | sort >>"$csv"
echo
echo "$RUNS runs, $SECS s each; throughput: one-way, $TASKS tasks x depth $DEPTH; latency: 1 task, depth 1, request = ack = size, all on CPU $CPU"
report "$out"
