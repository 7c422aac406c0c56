#!/usr/bin/env bats
# rds-bpf stress (rds-stress's model) between two namespace hosts, and the
# table and plot of make bench.

load helpers

setup() {
	[[ $BATS_TEST_DESCRIPTION == bench* ]] || setup_two_hosts
}
teardown() {
	[ -z "${NS_A:-}" ] || teardown_hosts
}

# field NAME FILE: NAME's value in FILE's '::' line, by the field list --help documents
field() {
	awk -F, -v want="$1" -v names="$("$RDSB_BIN" stress --help | sed -n 's/^  \(role,.*\)/\1/p')" '
		BEGIN { n = split(names, h, ",") }
		/^::/ { sub(/^::/, ""); if (split($0, v, ",") != n) { print "field count"; exit 1 }
			for (i = 1; i <= n; i++) if (h[i] == want) print v[i] }' "$2"
}

passive() {	# passive [options]: the passive side on B, output in $BATS_TEST_TMPDIR/passive
	in_host B timeout 60 "$RDSB_BIN" stress -r "${PASSIVE_ADDR:-$ADDR_B}" "$@" >"$BATS_TEST_TMPDIR/passive" 2>&1 &
	PASSIVE=$!
}

@test "one-way: every message sent is received, none bad or out of order; a line per second" {
	passive
	run in_host A timeout 60 "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -o -t 4 -d 16 -q 4K -T 2
	echo "$output" | tee "$BATS_TEST_TMPDIR/active"
	pst=0
	wait $PASSIVE || pst=$?
	cat "$BATS_TEST_TMPDIR/passive"
	[ "$status" -eq 0 ]
	[ "$pst" -eq 0 ]
	a=$BATS_TEST_TMPDIR/active p=$BATS_TEST_TMPDIR/passive
	[ "$(field role $a),$(field mode $a),$(field tasks $a),$(field depth $a)" = "active,oneway,4,16" ]
	[ "$(field role $p),$(field mode $p),$(field req_bytes $p)" = "passive,oneway,4096" ]
	sent=$(field tx_msgs $a)
	[ "$sent" -gt 1000 ]
	# drained: the passive side counted exactly what was sent, and both sides agree
	[ "$(field rx_msgs $p)" -eq "$sent" ]
	[ "$(field peer_rx_msgs $a)" -eq "$sent" ]
	[ "$(field peer_tx_msgs $p)" -eq "$sent" ]
	[ "$(field rx_bytes $p)" -eq $((sent * 4096)) ]
	[ "$(field tx_bytes $a)" -eq $((sent * 4096)) ]
	[ "$(field rx_msgs $a)" -eq 0 ]
	for f in bad out_of_order peer_bad peer_out_of_order lost; do
		[ "$(field $f $a)" -eq 0 ]
		[ "$(field $f $p)" -eq 0 ]
	done
	# per-second lines on each side before the result (tasks, tx/s, rx/s, ...)
	[ "$(grep -cE '^ +4 +[0-9]+ +[0-9]+ ' $a)" -ge 1 ]
	[ "$(grep -cE '^ +4 +0 +[0-9]+ ' $p)" -ge 1 ]
}

@test "request/response over IPv6 with -q/-a sizes: rtt values, sizes and counts exact (JSON)" {
	PASSIVE_ADDR=$ADDR6_B passive -j -p 4100 --cpu 0
	run in_host A timeout 60 "$RDSB_BIN" stress -r $ADDR6_A -s $ADDR6_B -p 4100 -t 2 -d 4 -q 1000 -a 200 -T 1 --cpu 0 -j
	echo "$output"
	pst=0
	wait $PASSIVE || pst=$?
	cat "$BATS_TEST_TMPDIR/passive"
	[ "$status" -eq 0 ]
	[ "$pst" -eq 0 ]
	a=$output
	p=$(cat "$BATS_TEST_TMPDIR/passive")
	n=$(jq .tx_msgs <<<"$a")
	[ "$n" -gt 100 ]
	# every request answered once: 4 counts equal on both sides
	[ "$(jq '[.tx_msgs, .rx_msgs, .peer_tx_msgs, .peer_rx_msgs] | unique | length' <<<"$a")" -eq 1 ]
	[ "$(jq '[.tx_msgs, .rx_msgs, .peer_tx_msgs, .peer_rx_msgs] | unique | .[0]' <<<"$p")" -eq "$n" ]
	[ "$(jq .tx_bytes <<<"$a")" -eq $((n * 1000)) ]
	[ "$(jq .rx_bytes <<<"$a")" -eq $((n * 200)) ]
	[ "$(jq .rx_bytes <<<"$p")" -eq $((n * 1000)) ]
	[ "$(jq '.role + "," + .mode + "," + (.req_bytes | tostring) + "," + (.ack_bytes | tostring)' -r <<<"$p")" = "passive,reqresp,1000,200" ]
	# rtt: positive, p50 <= p99, mean within what 1 s allows
	jq -e '.rtt_p50_us > 0 and .rtt_p50_us <= .rtt_p99_us and .rtt_mean_us > 0 and .rtt_mean_us < 1000000' <<<"$a"
	jq -e '.rtt_p50_us == 0 and .msgs_per_s > 0' <<<"$p"
	jq -e '[.bad, .out_of_order, .peer_bad, .peer_out_of_order, .lost] | add == 0' <<<"$a"
}

# with_foreign N SIZE active-options...: the active side with these options
# (and -j) on A, N datagrams of SIZE bytes that are not stress messages sent to
# passive task 0 (port 4001) meanwhile; both sides must exit 1, N counted bad
with_foreign() {
	local n=$1 size=$2 act ast=0 pst=0
	shift 2
	passive -j
	in_host A timeout 60 "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -T 2 -j "$@" >"$BATS_TEST_TMPDIR/active" 2>&1 &
	act=$!
	sleep 0.7
	rds A "$RDSB_XFER" send -b $ADDR_A:6000 -d $ADDR_B:4001 -n "$n" -s "$size:$size" --linger 0
	wait $act || ast=$?
	wait $PASSIVE || pst=$?
	cat "$BATS_TEST_TMPDIR/active" "$BATS_TEST_TMPDIR/passive"
	[ "$ast" -eq 1 ]
	[ "$pst" -eq 1 ]
	a=$(grep '^{' "$BATS_TEST_TMPDIR/active") p=$(grep '^{' "$BATS_TEST_TMPDIR/passive")
	[ "$(jq .bad <<<"$p")" -eq "$n" ]
	[ "$(jq .peer_bad <<<"$a")" -eq "$n" ]
	[ "$(jq .out_of_order <<<"$p")" -eq 0 ]
	grep -q "rds-bpf stress: 0 bad, 0 out of order (peer: $n, 0)" "$BATS_TEST_TMPDIR/active"
}

@test "a foreign datagram to a task's port is counted bad, and both sides exit 1" {
	# request/response, so that no queue builds up in front of the foreign datagrams
	with_foreign 3 64 -q 64 -a 64
}

@test "--no-verify: the passive side reads headers only, counts exact; a foreign datagram is still bad" {
	with_foreign 2 65536 -o -t 2 -d 16 -q 64K --no-verify
	sent=$(jq .tx_msgs <<<"$a")
	[ "$sent" -gt 100 ]
	# the two foreign datagrams are received too: sent + 2, and 64 KiB each
	[ "$(jq .rx_msgs <<<"$p")" -eq $((sent + 2)) ]
	[ "$(jq .rx_bytes <<<"$p")" -eq $(((sent + 2) * 65536)) ]
}

@test "bad arguments: one line saying which, the usage, exit 2; no engine: exit 3" {
	for args in "" "-r" "-r 10.99.0.1 -t 0" "-r 10.99.0.1 -s 10.99.0.2 -t 65" "-r 10.99.0.1 -s 10.99.0.2 -q 31" \
		"-r 10.99.0.1 -s 10.99.0.2 -q 1048577" "-r 10.99.0.1 -s 10.99.0.2 -a 2M" "-r 10.99.0.1 -s 10.99.0.2 -d 1x" \
		"-r 10.99.0.1 -s 10.99.0.2 -d 4097" "-r 10.99.0.1 -s 10.99.0.2 -T -1" "-r 10.99.0.1 -s 10.99.0.2 --cpu abc" \
		"-r not-an-address" "-r 10.99.0.1:4000 -s 10.99.0.2" "-r 224.0.0.1 -s 10.99.0.2" "-r 10.99.0.1 -s fd99::2" \
		"-r 10.99.0.1 -t 2" "-r 10.99.0.1 -o" "-r 10.99.0.1 -s 10.99.0.2 extra" "-r 10.99.0.1 -s 10.99.0.2 --bogus" \
		"-r 10.99.0.1 -s 10.99.0.2 -p 65500 -t 64" "-r 10.99.0.1 -s 10.99.0.2 -p 0" \
		"-r 10.99.0.1 -s 10.99.0.2 -w 0" "-r 10.99.0.1 -s 10.99.0.2 -w 3601" "-r 10.99.0.1 -w 5" \
		"-r 10.99.0.1 --no-verify" "-r 10.99.0.1 -s 10.99.0.2 --no-verify=1"; do
		# shellcheck disable=SC2086
		run in_host A "$RDSB_BIN" stress $args
		echo "[$args] -> $status: $output"
		[ "$status" -eq 2 ]
		[[ "${lines[0]}" == "rds-bpf stress: "* || "${lines[0]}" == "stress: "* ]]
		[[ "${lines[1]}" == "usage: rds-bpf stress "* ]]
	done
	run in_host A "$RDSB_BIN" stress --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"role,mode,tasks,"* ]]
	in_host A "$RDSB_BIN" unload
	run in_host A "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -T 1
	[ "$status" -eq 3 ]
	[[ "$output" == *"rds-bpf load"* ]]
}

@test "bench: --report turns a results.csv into the table of ratios and a PNG" {
	d=$BATS_TEST_TMPDIR/report
	mkdir -p "$d"
	cat >"$d/results.csv" <<-EOF
		test,engine,paths,size,value,unit
		throughput,iperf3,1,0,20,gbit
		throughput,iperf3,8,0,40,gbit
		latency,tcp,1,64,10,p50_us
		latency,tcp,1,65536,40,p50_us
		throughput,bpf,8,64,1,gbit
		throughput,bpf,8,65536,36,gbit
		latency,bpf,8,64,14,p50_us
		latency,bpf,8,65536,50,p50_us
		rate,bpf,8,64,800000,msgs_per_s
		throughput,user,8,64,0.5,gbit
		throughput,user,8,65536,40,gbit
		latency,user,8,64,28,p50_us
		latency,user,8,65536,50,p50_us
		rate,user,8,64,500000,msgs_per_s
		throughput,xdp,8,65536,24,gbit
	EOF
	# three runs of two rows: the target is the median of the runs' ratios
	cat >"$d/runs.csv" <<-EOF
		run,test,engine,paths,size,value,unit
		1,latency,bpf,8,64,14,p50_us
		1,latency,tcp,1,64,10,p50_us
		2,latency,bpf,8,64,30,p50_us
		2,latency,tcp,1,64,20,p50_us
		3,latency,bpf,8,64,12,p50_us
		3,latency,tcp,1,64,6,p50_us
	EOF
	run "$BATS_TEST_DIRNAME/../../tools/bench.sh" --report "$d"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qE '^  bpf +64 B ping-pong p50 <= 1.5 x TCP ping-pong +1\.50 \[1\.40-2\.00\] +met$' "$d/table.txt"
	rm "$d/runs.csv"
	run "$BATS_TEST_DIRNAME/../../tools/bench.sh" --report "$d"
	[ "$status" -eq 0 ]
	# size paths engine Gbit/s x-iperf3 p50 x-tcp bpf/user-Gbit/s bpf/user-p50
	grep -qE '^64 KiB +8 bpf +36 +0\.90 +50 +1\.25 +0\.90 +1\.00$' "$d/table.txt"
	grep -qE '^64 B +8 user +0\.5 +0\.01 +28 +2\.80 *$' "$d/table.txt"
	grep -qE '^ +8 bpf +800000 +1\.60 +-$' "$d/table.txt"
	# the targets, per data path: met, NOT MET, or - when a row is missing
	grep -qE '^  bpf +bulk 64 KiB >= 0.9 x iperf3 same flows +0\.90 +met$' "$d/table.txt"
	grep -qE '^  bpf +64 B ping-pong p50 <= 1.5 x TCP ping-pong +1\.40 +met$' "$d/table.txt"
	grep -qE '^  user +64 B ping-pong p50 <= 1.5 x TCP ping-pong +2\.80 +NOT MET$' "$d/table.txt"
	grep -qE '^  user +bulk 1 MiB >= 0.8 x iperf3 same flows +- +-$' "$d/table.txt"
	grep -qE '^  bpf +as fast as userspace \(5 % noise\) on every row +4/5 +NOT MET$' "$d/table.txt"
	grep -qE '^64 KiB +8 xdp +24 +0\.60 +- +0\.60 +-$' "$d/table.txt"
	grep -qE '^  xdp +bulk 64 KiB >= 0.6 x RDS/TCP \(user\) +0\.60 +met$' "$d/table.txt"
	grep -q 'baselines (veth MTU 1500)' "$d/table.txt"	# the default when results.csv does not say
	grep -q '^one-way runs: every byte of every message checked$' "$d/table.txt"	# as before the setting
	[ "$(head -c 8 "$d/bench.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
	run "$BATS_TEST_DIRNAME/../../tools/bench.sh" --report "$d/missing"
	[ "$status" -eq 2 ]
}

@test "bench: a one-second run of one size and one path count fills every row" {
	export BENCH_SECS=1 BENCH_SIZES=64 BENCH_PATHS=1 BENCH_RUNS=1 BENCH_OUT=$BATS_TEST_TMPDIR/bench
	run timeout 120 "$BATS_TEST_DIRNAME/../../tools/bench.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	csv=$BENCH_OUT/results.csv
	# every measurement, once, with a positive value
	[ "$(cut -d, -f1-4 "$csv" | sort | tr '\n' ' ')" = "latency,bpf,1,64 latency,bpfrx,1,64 latency,tcp,1,64 \
latency,tcp-sockmap,1,64 latency,user,1,64 latency,xdp,1,64 orate,bpf,1,64 orate,bpfrx,1,64 orate,tcp-rec,8,64 \
orate,user,1,64 orate,xdp,1,64 rate,bpf,1,64 rate,bpfrx,1,64 rate,tcp-rec,8,64 rate,user,1,64 \
rate,xdp,1,64 setting,mtu,0,0 setting,verify,0,0 test,engine,paths,size throughput,bpf,1,64 throughput,bpfrx,1,64 throughput,iperf3,1,0 \
throughput,iperf3,8,0 throughput,user,1,64 throughput,xdp,1,64 " ]
	# one run: its value is the median, and the range is that value
	awk -F, 'NR > 1 && !($5 == $7 && $5 == $8) { print "not one run: " $0; bad = 1 } END { exit bad }' "$csv"
	[ "$(wc -l <"$BENCH_OUT/runs.csv")" -eq 25 ]	# a header, 21 measurements and 2 settings
	awk -F, 'NR > 1 && $1 != "setting" && !($5 > 0) { print "not positive: " $0; bad = 1 } END { exit bad }' "$csv"
	grep -q '^setting,verify,0,0,0,bool' "$csv"
	grep -q '^one-way runs: headers checked, content not read, as iperf3' "$BENCH_OUT/table.txt"
	[ "$(wc -l <"$BENCH_OUT/runs.jsonl")" -eq 12 ]
	jq -e -s 'map(.bad + .out_of_order + .peer_bad + .peer_out_of_order + .lost) | add == 0' "$BENCH_OUT/runs.jsonl"
	grep -qE '^64 B +1 bpf ' "$BENCH_OUT/table.txt"
	[ -s "$BENCH_OUT/bench.png" ]
}

# ab_bench OPTION RUNS: tools/bench.sh's alternating mode, which must succeed
ab_bench() {
	run timeout 120 "$BATS_TEST_DIRNAME/../../tools/bench.sh" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
}

# ab_rows CSV FIRST RATIO NUM DEN: the count of rows for each value of the
# first column, and "bad" unless every value from column FIRST on is
# positive and RATIO = NUM / DEN (columns) on every row
ab_rows() {
	awk -F, -v f="$2" -v r="$3" -v a="$4" -v b="$5" 'NR > 1 { for (i = f; i <= NF; i++) if (!($i > 0)) bad = 1
		if (($r - $a / $b) ^ 2 > 0.001 ^ 2) bad = 1; n[$1]++ }
		END { for (k in n) print k, n[k]; if (bad) print "bad" }' "$1" | sort -n
}

@test "bench: --xdp-ratio alternates RDS/TCP and XDP at 64 KiB, on the MTU asked, and gives medians and CPU per GB" {
	export BENCH_SECS=1 BENCH_MTU=3500 BENCH_OUT=$BATS_TEST_TMPDIR/ab
	ab_bench --xdp-ratio 2
	grep -q '8 paths, MTU 3500, 1 s a run' <<<"$output"
	# two runs, every value positive, the ratio XDP / TCP
	[ "$(ab_rows "$BENCH_OUT/xdp-ratio.csv" 2 6 4 2)" = "$(printf '1 1\n2 1')" ]
	grep -qE '^medians of 2 \(min-max\): RDS/TCP [0-9.]+ \([0-9.]+-[0-9.]+\) Gbit/s, .* ratio [0-9.]+ ' <<<"$output"
	run "$BATS_TEST_DIRNAME/../../tools/bench.sh" --xdp-ratio 0
	[ "$status" -eq 2 ]
}

@test "bench: --shim-ratio alternates rds-stress-sock under the shim and rds-bpf stress, 1 task x depth 16, and gives medians and CPU per request" {
	export BENCH_SECS=1 BENCH_SIZES="64 1024" BENCH_OUT=$BATS_TEST_TMPDIR/ab
	ab_bench --shim-ratio 2
	grep -q 'request/response, 1 task(s) x depth 16, 1 s a run' <<<"$output"
	# two runs a size, every value positive, the ratio shim / librdsb
	[ "$(ab_rows "$BENCH_OUT/shim-ratio.csv" 3 7 5 3)" = "$(printf '64 2\n1024 2')" ]
	for s in 64 1024; do
		grep -qE "^$s B, medians of 2 \(min-max\): librdsb [0-9.]+ \([0-9.]+-[0-9.]+\) msgs/s, .* ratio [0-9.]+ " <<<"$output"
	done
}

@test "-T 0 runs until SIGINT, then drains and reports everything received" {
	passive -z
	# nsenter, not in_host: $! must be the stress process, not a subshell
	nsenter --net="/run/netns/$NS_A" "$RDSB_BIN" stress -r $ADDR_A -s $ADDR_B -T 0 -t 2 -d 8 -q 512 -a 64 -z \
		>"$BATS_TEST_TMPDIR/active" 2>&1 &
	act=$!
	sleep 1.5
	kill -INT $act
	# a watchdog: a stress that ignores SIGINT fails the test instead of hanging it
	(sleep 15 && kill -9 $act) >/dev/null 2>&1 3>&- &
	dog=$!
	ast=0 pst=0
	wait $act || ast=$?
	kill $dog
	wait $PASSIVE || pst=$?
	cat "$BATS_TEST_TMPDIR/active" "$BATS_TEST_TMPDIR/passive"
	[ "$ast" -eq 0 ]
	[ "$pst" -eq 0 ]
	n=$(field tx_msgs "$BATS_TEST_TMPDIR/active")
	[ "$n" -gt 100 ]
	[ "$(field rx_msgs "$BATS_TEST_TMPDIR/active")" -eq "$n" ]
	[ "$(field rx_msgs "$BATS_TEST_TMPDIR/passive")" -eq "$n" ]
	[ "$(field lost "$BATS_TEST_TMPDIR/active")" -eq 0 ]
}

@test "rds-stress-sock: the same loop on the BSD calls, on rds-bpf under the shim; no shim: the kernel's AF_RDS (none here)" {
	sock=$RDSB_ROOT/build/tests/rds-stress-sock
	in_host B timeout 60 env LD_PRELOAD="$RDSB_PRELOAD" "$sock" -r $ADDR_B -p 4300 -j >"$BATS_TEST_TMPDIR/passive" 2>&1 &
	PASSIVE=$!
	run in_host A timeout 60 env LD_PRELOAD="$RDSB_PRELOAD" "$sock" -r $ADDR_A -s $ADDR_B -p 4300 -t 2 -d 4 -q 64 -a 64 -T 1 -j
	echo "$output"
	pst=0
	wait $PASSIVE || pst=$?
	cat "$BATS_TEST_TMPDIR/passive"
	[ "$status" -eq 0 ]
	[ "$pst" -eq 0 ]
	a=$output
	n=$(jq .tx_msgs <<<"$a")
	[ "$n" -gt 100 ]
	[ "$(jq '[.tx_msgs, .rx_msgs, .peer_tx_msgs, .peer_rx_msgs] | unique | length' <<<"$a")" -eq 1 ]
	[ "$(jq .rx_bytes "$BATS_TEST_TMPDIR/passive")" -eq $((n * 64)) ]
	jq -e '[.bad, .out_of_order, .peer_bad, .peer_out_of_order, .lost] | add == 0' <<<"$a"
	# B's engine delivered them (the requests; the answers went to A)
	[ "$(in_host B "$RDSB_BIN" status -j | jq .counters.rx_delivered)" -ge "$n" ]
	# without the shim the calls are the kernel's, and this kernel has no RDS
	run in_host A "$sock" -r $ADDR_A -s $ADDR_B -p 4301 -T 1
	echo "$output"
	[ "$status" -eq 3 ]
	[[ $output == *"Address family not supported"* ]]
}

# nsenter, not in_host, so that $! is the stress process and its tasks its children
stress_on() {	# stress_on A|B NAME options...: a side in the background, stdout in NAME, stderr in NAME.err
	local h=$1 out=$BATS_TEST_TMPDIR/$2
	shift 2
	nsenter --net="/run/netns/$(ns_of "$h")" "$RDSB_BIN" stress "$@" >"$out" 2>"$out.err" &
}

@test "a drain that stands still (the passive side's tasks stopped): timed out with what is in flight, nothing lost claimed, exit 4" {
	stress_on B passive -r $ADDR_B -j
	pas=$!
	stress_on A active -r $ADDR_A -s $ADDR_B -o -t 2 -d 16 -q 4K -T 2 -w 1 -j
	act=$!
	sleep 1
	tasks=$(pgrep -P $pas | tr '\n' ' ')
	[ "$(wc -w <<<"$tasks")" -eq 2 ]
	# shellcheck disable=SC2086
	kill -STOP $tasks
	ast=0 pst=0
	wait $act || ast=$?
	# shellcheck disable=SC2086
	kill -CONT $tasks
	wait $pas || pst=$?
	a=$BATS_TEST_TMPDIR/active p=$BATS_TEST_TMPDIR/passive
	cat "$a" "$a.err" "$p" "$p.err"
	[ "$ast" -eq 4 ]
	[ "$pst" -eq 4 ]
	# what the passive side counted before its tasks stopped, and nothing more
	sent=$(jq .tx_msgs "$a") got=$(jq .rx_msgs "$p")
	[ "$got" -gt 0 ]
	[ "$sent" -gt "$got" ]
	[ "$(jq .peer_rx_msgs "$a")" -eq "$got" ]
	[ "$(jq .peer_tx_msgs "$p")" -eq "$sent" ]
	for f in "$a" "$p"; do
		jq -e --argjson n $((sent - got)) '.drain_timed_out == true and .in_flight == $n and .lost == null and
			.bad + .out_of_order + .peer_bad + .peer_out_of_order == 0' "$f"
		grep -q "^rds-bpf stress: the drain wait ran out with $((sent - got)) messages in flight" "$f.err"
		! grep -q "lost$" "$f.err"
	done
	grep -q "(no progress for 1 s).*-w SECS waits longer" "$a.err"
	[ "$(wc -l <"$a.err")" -eq 1 ]
}

@test "a drain that moves waits past the wait: passive tasks resumed one at a time, 3 s apart, all counted, exit 0" {
	stress_on B passive -r $ADDR_B -z
	pas=$!
	stress_on A active -r $ADDR_A -s $ADDR_B -o -t 4 -d 16 -q 4K -T 2 -z
	act=$!
	sleep 1
	tasks=$(pgrep -P $pas | tr '\n' ' ')
	[ "$(wc -w <<<"$tasks")" -eq 4 ]
	# shellcheck disable=SC2086
	kill -STOP $tasks
	# the default wait (5 s) ends a drain that stands still for 5 s: these
	# resumes keep it moving for 12 s, longer than any fixed wait before
	for t in $tasks; do
		sleep 3
		kill -CONT "$t"
	done
	ast=0 pst=0
	wait $act || ast=$?
	wait $pas || pst=$?
	a=$BATS_TEST_TMPDIR/active p=$BATS_TEST_TMPDIR/passive
	cat "$a" "$a.err" "$p" "$p.err"
	[ "$ast" -eq 0 ]
	[ "$pst" -eq 0 ]
	sent=$(field tx_msgs "$a")
	[ "$sent" -gt 1000 ]
	[ "$(field rx_msgs "$p")" -eq "$sent" ]
	[ "$(field peer_rx_msgs "$a")" -eq "$sent" ]
	for f in lost drain_timed_out in_flight; do
		[ "$(field $f "$a")" -eq 0 ]
		[ "$(field $f "$p")" -eq 0 ]
	done
	[ "$(field secs "$a" | cut -d. -f1)" -ge 12 ]
}

# hostile B: connect to the passive side's control port and send $1 (printf format), then close
hostile_ctl() {
	in_host A bash -c "exec 3<>/dev/tcp/$ADDR_B/4000 && printf '$1' >&3 && exec 3>&-"
}

@test "the passive side refuses a truncated, a garbled and an out-of-range control message" {
	# PARAMS: version, tasks, depth, req, ack, one-way, secs, no-verify (8-byte words, big-endian)
	magic='RDSSTRES'
	params='\0\0\0\0\0\0\0\1'	# type PARAMS
	for case in "truncated:${magic}${params}\0\0\0:reset by peer" \
		"garbled:$(printf 'x%.0s' $(seq 80)):Protocol error" \
		"range:${magic}${params}\0\0\0\0\0\0\0\1\0\0\0\0\0\0\3\350$(printf '\\0\\0\\0\\0\\0\\0\\0\\1%.0s' 1 2 3)\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0:out of range" \
		"no-verify 2:${magic}${params}\0\0\0\0\0\0\0\3$(printf '\\0\\0\\0\\0\\0\\0\\0\\1%.0s' 1 2)$(printf '\\0\\0\\0\\0\\0\\0\\3\\350%.0s' 1 2)\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2:out of range"; do
		IFS=: read -r name msg want <<<"$case"
		passive
		for _ in $(seq 50); do
			in_host B ss -Htln "( sport = :4000 )" | grep -q . && break
			sleep 0.05
		done
		hostile_ctl "$msg"
		st=0
		wait $PASSIVE || st=$?
		echo "$name -> $st: $(cat "$BATS_TEST_TMPDIR/passive")"
		[ "$st" -eq 1 ]
		[ "$(wc -l <"$BATS_TEST_TMPDIR/passive")" -eq 1 ]
		grep -q "$want" "$BATS_TEST_TMPDIR/passive"
	done
}

@test "profile: each sample goes in one category by who ran and what its stack did, in us per unit of work" {
	d=$BATS_TEST_TMPDIR
	# perf script -F comm,tid,time,ip,sym: a header line, the stack leaf first
	sed 's/^ *|//' >"$d/samples.txt" <<-'EOF'
		rds-bpf   101 100.000001:
		|	ffffffff81000001 _copy_from_iter
		|	ffffffff81000002 sk_msg_memcopy_from_iter
		|	ffffffff81000003 tcp_bpf_sendmsg
		|	            1234 __libc_sendmsg
		|
		swapper     0 100.000002:
		|	ffffffff81000010 default_idle
		|
		kworker/0:1   55 100.000003:
		|	ffffffff81000020 _raw_spin_unlock_irqrestore
		|	ffffffff81000021 sk_psock_backlog
		|	ffffffff81000022 process_one_work
		|
		rds-bpf   101 100.000004:
		|	            1000 body_sum
		|	            1001 stress_task_run
		|
		rds-bpf   102 100.000005:
		|	ffffffff81000030 bpf_prog_0123_rdsb_verdict
		|	ffffffff81000031 sk_psock_strp_read
		|	ffffffff81000032 __strp_recv
		|	ffffffff81000033 net_rx_action
		|	ffffffff81000034 tcp_sendmsg
		|
		rds-bpf   101 100.000006:
		|	            2000 syscall
		|
		rds-bpf   102 100.000007:
		|	ffffffff81000040 finish_task_switch.isra.0
		|	ffffffff81000041 __schedule
		|	ffffffff81000042 do_epoll_wait
		|
		rds-bpf   102 100.000008:
		|	            3000 rdsb_engine_run
	EOF
	printf '101 app\n102 engine\n' >"$d/roles"
	# 8 samples of 1 CPU, 500 units a second: 2000 us a unit, 250 us a sample
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/samples.txt" "$d/roles" 500 1 datagram
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "8 samples of 1 CPU(s); 2000.0 CPU us per datagram" ]
	grep -qE '^app +750\.00 us +37\.5%$' <<<"$output"
	grep -qE '^    copy: into the kernel \(send\) +250\.00 us +12\.5%$' <<<"$output"
	grep -qE '^    stress: check of every payload byte +250\.00 us' <<<"$output"
	grep -qE '^    syscall return \(kernel time with interrupts off\) +250\.00 us' <<<"$output"
	grep -qE '^engine +750\.00 us' <<<"$output"
	grep -qE '^    rx: strparser, parser and verdict programs, redirect +250\.00 us' <<<"$output"
	grep -qE '^    context switch +250\.00 us' <<<"$output"
	grep -qE '^    user: other +250\.00 us' <<<"$output"
	grep -qE '^kworker +250\.00 us' <<<"$output"
	grep -qE '^    rx: psock backlog worker +250\.00 us' <<<"$output"
	grep -qE '^idle +250\.00 us' <<<"$output"
	# no samples, no work done, or the wrong arguments: an error, no table
	: >"$d/empty.txt"
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/empty.txt" "$d/roles" 500 1 datagram
	[ "$status" -ne 0 ] && [ "$output" = "profile: no samples or no units of work" ]
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/samples.txt" "$d/roles" 0 1 datagram
	[ "$status" -ne 0 ] && [ "$output" = "profile: no samples or no units of work" ]
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/samples.txt"
	[ "$status" -ne 0 ] && [[ $output == *"profile.py SAMPLES ROLES UNITS_PER_S CPUS UNIT_NAME"* ]]
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/samples.txt" "$d/roles" many 1 datagram
	[ "$status" -ne 0 ] && [[ $output == *"profile.py SAMPLES ROLES UNITS_PER_S CPUS UNIT_NAME"* ]]
	# not perf script's output (a truncated header, random bytes), or a bad
	# roles line: one line naming the place, no table
	{ head -4 "$d/samples.txt"; echo "rds-bpf 101"; } >"$d/cut.txt"
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/cut.txt" "$d/roles" 500 1 datagram
	[ "$status" -ne 0 ] && [ "$output" = "profile: $d/cut.txt:5: not perf script -F comm,tid,time,ip,sym output" ]
	head -c 4096 /dev/urandom >"$d/random.txt"
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/random.txt" "$d/roles" 500 1 datagram
	[ "$status" -ne 0 ] && [[ $output == "profile: $d/random.txt:"*": not perf script"* ]]
	printf '101 app\nengine 102\n' >"$d/badroles"
	run "$BATS_TEST_DIRNAME/../../tools/profile.py" "$d/samples.txt" "$d/badroles" 500 1 datagram
	[ "$status" -ne 0 ] && [ "$output" = "profile: $d/badroles:2: not \"tid role\"" ]
	run "$BATS_TEST_DIRNAME/../../tools/profile.sh" pingpong iperf3
	[ "$status" -eq 2 ] && [[ $output == usage:* ]]
	run "$BATS_TEST_DIRNAME/../../tools/profile.sh" rate iperf3
	[ "$status" -eq 2 ] && [[ $output == usage:* ]]
	# a bulk datagram RDS cannot carry, or not a number: one line, no run
	for bad in 0 1048577 64K -1; do
		PROFILE_SIZE=$bad run "$BATS_TEST_DIRNAME/../../tools/profile.sh" bulk bpf
		[ "$status" -eq 2 ] && [ "$output" = "profile: PROFILE_SIZE: bytes, 1 to 1048576" ]
	done
}
