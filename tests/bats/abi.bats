#!/usr/bin/env bats
# A library and an engine of two builds (RDSB_ABI, user/common/ctl_proto.h)
# never take each other's sockets: the engine refuses the library's OPEN and
# ATTACH, the library refuses the engine's answer, each with one line saying
# why, and `reload` leaves a running engine of another build running.

load helpers

CTLRAWPY=$BATS_TEST_DIRNAME/../tools/rds-ctlraw.py
FAKEPY=$BATS_TEST_DIRNAME/../tools/rds-fake-engine.py
ABI=$(sed -n 's/^#define RDSB_ABI\t*\([0-9]*\)$/\1/p' "$BATS_TEST_DIRNAME/../../user/common/ctl_proto.h")

setup() { RDSB_NO_ENGINE=1 load_hosts; }
teardown() { teardown_hosts; }

# fake_engine A|B ABI: an engine of another build on that host
fake_engine() {
	local log=$BATS_TEST_TMPDIR/fake-$1
	# nsenter execs python: $! is the fake engine
	nsenter --net="/run/netns/$(ns_of "$1")" python3 "$FAKEPY" "$2" "$log" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 100); do
		grep -qx ready "$log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

@test "the engine refuses OPEN and ATTACH of a library of another build (EPROTONOSUPPORT) and logs it once; its own build's OPEN works" {
	[ "$ABI" -ge 2 ]
	engine_up A
	for abi in 0 $((ABI - 1)) $((ABI + 1)) 65535; do
		for op in 1 10; do	# OPEN, ATTACH
			run in_host A python3 "$CTLRAWPY" $op 0 0 $abi
			echo "$op $abi: $output"
			[ "$output" = "err 93 val 0 abi $ABI" ]
		done
	done
	log=$RDSB_LOG_DIR/rdsb-engine-$HOSTS_PREFIX-A.log
	[ "$(grep -c 'refused a socket of a library of another build' "$log")" -eq 1 ]
	grep -q "(socket ABI 0, this engine's $ABI); hint: run applications with the librdsb of this rds-bpf" "$log"
	run in_host A python3 "$CTLRAWPY" 1 0 0
	echo "$output"
	[[ "$output" =~ ^err\ 0\ val\ [0-9]+\ abi\ $ABI$ ]]
	# and the library of this build opens, sends and receives as ever
	engine_up B
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 3 -s 100:200 -t 20 --ready "$BATS_TEST_TMPDIR/ready.1" >"$BATS_TEST_TMPDIR/r" &
	rpid=$!
	wait_ready
	rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 3 -s 100:200 -t 20 >"$BATS_TEST_TMPDIR/s"
	wait $rpid
	[ "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" = "$(sent_hash "$BATS_TEST_TMPDIR/s")" ]
}

@test "the library refuses an engine of another build, or from before the check: socket() fails with EPROTONOSUPPORT, its descriptors closed, one line on stderr" {
	for abi in 0 $((ABI + 1)); do
		fake_engine A $abi
		run rds A python3 -c '
import errno, os, socket
before = sorted(os.listdir("/proc/self/fd"))
for _ in range(3):
    try:
        socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET)
        print("opened")
    except OSError as e:
        print(errno.errorcode[e.errno])
print("fds", "same" if sorted(os.listdir("/proc/self/fd")) == before else "leaked")'
		echo "abi $abi: $output"
		[ "$(grep -c '^EPROTONOSUPPORT$' <<<"$output")" -eq 3 ]
		grep -qx "fds same" <<<"$output"
		[ "$(grep -c '^librdsb: the rds-bpf engine here is of another build' <<<"$output")" -eq 1 ]
		grep -q "(socket ABI $abi, this library's $ABI): RDS sockets fail with EPROTONOSUPPORT; hint: use the librdsb installed with that rds-bpf" <<<"$output"
		[ "$(grep -c '^1$' "$BATS_TEST_TMPDIR/fake-A")" -eq 3 ]	# three OPENs
		kill "$FAKE_PID"
		wait "$FAKE_PID" || true
		rm "$BATS_TEST_TMPDIR/fake-A"
	done
}

@test "reload leaves a running engine of another build running (exit 1, one line): its applications could not move" {
	fake_engine A $((ABI + 1))
	run in_host A "$RDSB_BIN" reload
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "rds-bpf reload: the running engine is of another build (socket ABI $((ABI + 1)), this one's $ABI): its applications could not move to this one; hint: stop them, rds-bpf unload, rds-bpf load" ]
	! grep -qx 7 "$BATS_TEST_TMPDIR/fake-A"	# no UNLOAD
	grep -qx 6 "$BATS_TEST_TMPDIR/fake-A"	# it asked (STATUS)
	# this build's engine: reload goes on as ever
	kill "$FAKE_PID"
	wait "$FAKE_PID" || true
	engine_up A
	run in_host A "$RDSB_BIN" reload
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "RDSB_CTL_LIB_PAGE from a program past the library: anything but a sealed memfd of a page or more is EINVAL, extra fds are dropped, nothing leaks, the engine goes on" {
	engine_up A
	pid=$(engine_pid A)
	before=$(ls /proc/$pid/fd | wc -l)
	run in_host A python3 "$BATS_TEST_DIRNAME/../tools/rds-libpage.py"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "none err 22
pipe err 22
devnull err 22
unsealed-memfd err 22
small-sealed-memfd err 22
two-fds err 0
three-fds err 0
sealed-memfd err 0
again err 0
engine answers" ]
	for _ in $(seq 50); do
		[ "$(ls /proc/$pid/fd | wc -l)" -eq "$before" ] && break
		sleep 0.1
	done
	[ "$(ls /proc/$pid/fd | wc -l)" -eq "$before" ]
}
