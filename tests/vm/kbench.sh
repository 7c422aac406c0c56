#!/usr/bin/env bash
# The same-guest comparison: in one boot of a qemu guest (TCG, 1 vCPU by
# default) running Debian's kernel, the kernel's own AF_RDS, then rds-bpf
# under the shim, each next to plain TCP in the same phase: by default
# (KBENCH_LINK=veth) between the guest's namespace and a second one over a
# veth pair, where both RDS run RDS/TCP (the kernel's rds_tcp is per
# namespace) and TCP takes the same veth; or (KBENCH_LINK=loopback) over the
# guest's loopback, where the kernel's and rds-bpf's RDS to a local address
# both take their loopback connection (no TCP under it):
#   p50   64 B ping-pong, 1 task, depth 1 (us); TCP: tests/tools/tcp-pingpong
#   rate  64 B request/response, TASKS x DEPTH, tx+rx msgs/s; TCP: iperf3
#         -P TASKS -l 112 (one write per 48+64 B record), records/s
#   bulk  64 KiB one-way, TASKS x DEPTH (Gbit/s); TCP: iperf3 -P TASKS -l 64K
# Both RDS phases run one binary, tests/tools/rds-stress-sock (rds-bpf
# stress's loop on the BSD socket calls), so the rows run the same loop.
# Between the phases the guest unloads rds_tcp and rds (veth: with the
# namespace that held the kernel's connections), and `rds-bpf load`
# (the default data path unless KBENCH_LOAD_OPTS, printed in the table) takes the RDS/TCP port.
# Prints a table per kernel: medians of RUNS with the spread (min-max), each
# RDS row as a ratio to the TCP row of its phase, and rds-bpf against the
# kernel, raw and normalised by each phase's TCP (the machine's load drifts).
#
#   tests/vm/kbench.sh [legacy|sid]...        (default: legacy sid)
#   make bench BENCH_VM=1 / RDSB_VM_SCENARIOS=kbench tests/vm/run-suite.sh
# Environment: KBENCH_SECS (2, per run), KBENCH_RUNS (3), KBENCH_TASKS (8),
# KBENCH_DEPTH (16), KBENCH_LINK (veth, loopback), KBENCH_LOAD_OPTS (the guest's
# rds-bpf load, e.g. --bpf), KBENCH_OUT (build/kbench: console logs, results, tables),
# and run-guest.sh's RDSB_VM_SMP, RDSB_VM_MEM. Exit 1 if a row has no figure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SECS=${KBENCH_SECS:-2}
RUNS=${KBENCH_RUNS:-3}
TASKS=${KBENCH_TASKS:-8}
DEPTH=${KBENCH_DEPTH:-16}
out=${KBENCH_OUT:-$root/build/kbench}
LINK=${KBENCH_LINK:-veth}
case $LINK in loopback | veth) ;; *) echo "kbench: KBENCH_LINK is loopback or veth, not '$LINK'" >&2; exit 2 ;; esac
b=$root/build
for f in "$b/sbin/rds-bpf" "$b/tests/rds-stress-sock" "$b/tests/tcp-pingpong"; do
	[ -x "$f" ] || { echo "kbench: $f missing (hint: make all)" >&2; exit 2; }
done
command -v iperf3 >/dev/null || { echo "kbench: no iperf3 to copy into the guest (hint: make deps)" >&2; exit 2; }
mkdir -p "$out"
ns=rdsbkb$$
trap 'ip netns del $ns 2>/dev/null' EXIT

veth_ko() {	# KERNEL: a plain veth.ko of that image's kernel, from its cached .deb
	local cache=${RDSB_VM_CACHE:-/var/cache/rds-bpf-vm} kver deb
	kver=$(cat "$cache/$1/kver") || return 1
	for deb in "$cache"/debs/linux-*"$kver"*.deb; do
		dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards "*/$kver/kernel/drivers/net/veth.ko*" \
			>"$out/veth-$1.ko" 2>/dev/null
		[ -s "$out/veth-$1.ko" ] || continue
		# sid's modules are .ko.xz; busybox insmod wants them plain
		if xz -t "$out/veth-$1.ko" 2>/dev/null; then
			xz -dc <"$out/veth-$1.ko" >"$out/veth-$1.ko.plain" && mv "$out/veth-$1.ko.plain" "$out/veth-$1.ko"
		fi
		return 0
	done
	echo "kbench: no veth.ko for $kver in $cache/debs" >&2
	return 1
}

# The guest's script (busybox sh). Every figure is a line
# "KB PHASE ROW RUN VALUE" on the console; a run without one prints "-".
# shellcheck disable=SC2016 # the guest expands it
script='
S=/opt/rds-bpf/tests/rds-stress-sock port=5000 pre="" inB=""
SECS='$SECS' RUNS='$RUNS' TASKS='$TASKS' DEPTH='$DEPTH' LINK='$LINK'
A=$RDSB_GUEST_ADDR B=$RDSB_GUEST_ADDR
kb() { echo "KB $phase $1 $run ${2:--}"; }
pair_up() {	# veth: side B in a network namespace of its own (held by $P)
	unshare -n sleep 100000 &
	P=$!
	sleep 0.3
	ip=/opt/rds-bpf/sbin/ip	# iproute2 (busybox sh prefers its own applet)
	$ip link add va type veth peer name vb && $ip link set vb netns $P || return 1
	$ip addr add 10.95.0.1/24 dev va && $ip link set va up
	nsenter -t $P -n sh -c "$ip link set lo up; $ip addr add 10.95.0.2/24 dev vb; $ip link set vb up"
	A=10.95.0.1 B=10.95.0.2 inB="nsenter -t $P -n"
}
pair_down() { kill $P; wait $P; $ip link del va 2>/dev/null; }
rds() {	# FIELD OPTIONS...: one stress run, the field of its JSON result (a
	# failed run, e.g. a datagram lost, prints why and still gives its figure)
	f=$1; shift; port=$((port + 100))
	$inB $pre $S -r $B -p $port -j >p.out 2>&1 &
	$pre $S -r $A -s $B -p $port -j -T $SECS "$@" >a.out 2>&1 || sed "s/^/$phase: /" a.out p.out >&2
	wait
	sed -n "s/.*\"$f\":\([0-9.]*\).*/\1/p" a.out
}
tcp_pp() {
	port=$((port + 100))
	$inB /bin/tcp-pingpong server $B:$port &
	sleep 0.2
	/bin/tcp-pingpong client $B:$port $((SECS * 1000)) 64 | awk "{print \$5}"
	wait
}
tcp_stream() {	# LEN: iperf3 -P TASKS, the receiver'"'"'s Kbit/s
	port=$((port + 100))
	$inB iperf3 -s -1 -D -p $port
	sleep 0.3
	iperf3 -c $B -p $port -P $TASKS -l $1 -t $SECS -f k | awk "/SUM.*receiver/ {print \$6}"
}
measure() {
	run=1
	while [ $run -le $RUNS ]; do
		kb p50 "$(rds rtt_p50_us -q 64 -a 64)"
		kb tcp-p50 "$(tcp_pp)"
		kb rate "$(rds msgs_per_s -t $TASKS -d $DEPTH -q 64 -a 64)"
		r=$(tcp_stream 112); kb tcp-rate "${r:+$(awk "BEGIN {printf \"%.0f\", $r * 1000 / 8 / 112}")}"
		g=$(rds gbit_per_s -o -t $TASKS -d $DEPTH -q 65536); kb bulk "$g"
		r=$(tcp_stream 65536); kb tcp-bulk "${r:+$(awk "BEGIN {printf \"%.3f\", $r / 1e6}")}"
		run=$((run + 1))
	done
}
echo "KB cpus $(grep -c ^processor /proc/cpuinfo)"
if [ $LINK = veth ]; then
	insmod /lib/modules/veth.ko || exit 1
	pair_up || exit 1
fi
phase=kernel
measure
# rds_tcp listens in every namespace: it goes before rds-bpf can listen (once
# the namespace that held connections is gone)
[ $LINK = loopback ] || pair_down
i=0
until rmmod rds_tcp 2>/dev/null; do
	i=$((i + 1)); [ $i -le 50 ] || break
	sleep 0.2
done
rmmod rds || echo "KB note rds_tcp/rds would not unload"
[ $LINK = loopback ] || pair_up || exit 1
rds-bpf load '${KBENCH_LOAD_OPTS:-}' --log eng >load.out 2>&1 || { cat load.out eng; exit 1; }
[ -z "$inB" ] || $inB rds-bpf load '${KBENCH_LOAD_OPTS:-}' --log eng.b >>load.out 2>&1 || { cat load.out eng.b; exit 1; }
st=$(rds-bpf status -j)
dp=$(echo "$st" | sed -n "s/.*\"data_path\":\"\([a-z]*\)\".*/\1/p")
case $st in *sk_msg_sends\":true*) dp="$dp+sk_msg" ;; esac
echo "KB datapath $dp"
sed "s/^/load: /" load.out
phase=rds-bpf pre="env LD_PRELOAD=$RDSB_PRELOAD"
measure
# the engine counters (direct sends, paths, drops) on the console
rds-bpf info -c | sed "s/^/counters: /"
rds-bpf unload >/dev/null
[ -z "$inB" ] || $inB rds-bpf unload >/dev/null
'

# table KERNEL FILE: the medians of FILE's KB lines
table() {
	awk -v k="$1" -v link="$LINK" -v secs="$SECS" -v runs="$RUNS" -v tasks="$TASKS" -v depth="$DEPTH" '
	function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
	function med(key,   n, a, i) {
		n = 0
		for (i = 1; i <= runs; i++) if ((key, i) in v) a[++n] = v[key, i]
		if (!n) { missing++; return "" }
		sort(a, n); lo[key] = a[1]; hi[key] = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function cell(key, m) { return m == "" ? "-" : sprintf("%g (%g-%g)", m, lo[key], hi[key]) }
	function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	$1 == "KB" && $5 != "-" && NF == 5 { v[$2 "," $3, $4] = $5 }
	$1 == "KB" && $2 == "datapath" { dp = $3 }
	$1 == "KB" && $2 == "cpus" { cpus = $3 }
	END {
		printf "kernel %s, %s vCPU (TCG), over %s, %d runs of %d s per row; rds-bpf data path: %s\n", k, cpus, link, runs, secs, dp == "" ? "?" : dp
		printf "%-5s %-8s %24s %24s %7s %10s %10s\n", "row", "phase", "RDS median (min-max)", "TCP median (min-max)",
			"x TCP", "rds-bpf/", "normalised"
		printf "%-5s %-8s %24s %24s %7s %10s %10s\n", "", "", "", "", "", "kernel", "by TCP"
		split("p50 rate bulk", R, " ")
		for (i = 1; i <= 3; i++) {
			r = R[i]
			mk = med("kernel," r); tk = med("kernel,tcp-" r)
			mb = med("rds-bpf," r); tb = med("rds-bpf,tcp-" r)
			printf "%-5s %-8s %24s %24s %7s\n", r, "kernel", cell("kernel," r, mk), cell("kernel,tcp-" r, tk), ratio(mk, tk)
			xk = ratio(mk, tk); xb = ratio(mb, tb)
			printf "%-5s %-8s %24s %24s %7s %10s %10s\n", "", "rds-bpf", cell("rds-bpf," r, mb), cell("rds-bpf,tcp-" r, tb),
				xb, ratio(mb, mk), ratio(xb == "-" ? "" : xb, xk == "-" ? "" : xk)
		}
		printf "p50: 64 B ping-pong, us (lower is better); rate: 64 B request/response %dx%d, tx+rx msgs/s (TCP: iperf3 -P%d,\n", tasks, depth, tasks
		printf "one write per 112 B record, records/s); bulk: 64 KiB one-way %dx%d, Gbit/s (TCP: iperf3 -P%d -l 64K).\n", tasks, depth, tasks
		printf "A loaded, shared machine running TCG guests: read the ratios, not the absolutes.\n"
		exit missing > 0
	}' "$2"
}

rc=0
for kern in "${@:-legacy sid}"; do
	for k in $kern; do
		extra=()
		if [ "$LINK" = veth ]; then
			if ! { "$here/build-image.sh" "$k" >/dev/null 2>&1 && veth_ko "$k"; }; then
				rc=1
				continue
			fi
			extra=(--add "$out/veth-$k.ko:/lib/modules/veth.ko" --bin "$(command -v ip):/opt/rds-bpf/sbin/ip")
		fi
		ip netns add $ns
		log=$out/console-$k-$LINK
		echo "kbench: kernel $k, console in $log" >&2
		"$here/run-guest.sh" --rds-bpf --netns $ns --guest-addr 10.96.0.1/24 --host-addr 10.96.0.2/24 --kernel "$k" \
			--timeout "${KBENCH_TIMEOUT:-1200}" --log "$log" \
			--bin "$b/tests/rds-stress-sock:/opt/rds-bpf/tests/rds-stress-sock" \
			--bin "$b/tests/tcp-pingpong:/bin/tcp-pingpong" --bin "$(command -v iperf3):/bin/iperf3" "${extra[@]}" \
			-- "$script" >"$out/run-guest-$k-$LINK" 2>&1 || { rc=1; tail -n 20 "$out/run-guest-$k-$LINK" >&2; }
		ip netns del $ns
		tr -d '\r' <"$log" | grep '^KB ' >"$out/results-$k-$LINK"
		grep -q '^KB note' "$out/results-$k-$LINK" && grep '^KB note' "$out/results-$k-$LINK" >&2
		table "$k" "$out/results-$k-$LINK" | tee "$out/table-$k-$LINK.txt" || rc=1
		echo
	done
done
exit $rc
