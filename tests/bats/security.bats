#!/usr/bin/env bats
# What a local user must not be able to do to the engine or through it:
# make root delete files through planted pins, stop or reconfigure the engine,
# write the congestion maps, or keep descriptors of the process that loaded it.

load helpers

setup() { load_hosts; }
teardown() { teardown_hosts; }

NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# victim: a directory of root's with three files; victim_hash: their contents
victim() {
	mkdir -p "$BATS_TEST_TMPDIR/victim"
	for f in a b c; do echo "$f" >"$BATS_TEST_TMPDIR/victim/$f"; done
}
victim_hash() { (cd "$BATS_TEST_TMPDIR/victim" && sha256sum a b c | sha256sum); }

# in_bpffs SCRIPT: SCRIPT (bash) in a mount namespace of its own whose
# /sys/fs/bpf is a fresh bpffs of the default mode, 1777, as a plain
# `mount -t bpf bpf /sys/fs/bpf` leaves it; NS, BIN, LOG, VICTIM and
# NOBODY (a command prefix) are set
in_bpffs() {
	unshare --mount --propagation private env NS="/run/netns/$NS_A" BIN="$RDSB_BIN" \
		LOG="$BATS_TEST_TMPDIR/engine.log" VICTIM="$BATS_TEST_TMPDIR/victim" NOBODY="${NOBODY[*]}" \
		bash -ec "mount -t bpf bpf /sys/fs/bpf; [ \$(stat -c %a /sys/fs/bpf) = 1777 ]; $1"
}

@test "pins: symlinks a user plants under a mode-1777 bpffs are never followed; the pin directories are root's, 0700" {
	victim
	before=$(victim_hash)
	ino=$(stat -Lc %i "/run/netns/$NS_A")
	# the pin root itself a user's symlink to root's files: load refuses
	run in_bpffs '$NOBODY ln -s "$VICTIM" /sys/fs/bpf/rds-bpf
		nsenter --net="$NS" "$BIN" load --log "$LOG"'
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "rds-bpf: refusing to pin in /sys/fs/bpf/rds-bpf: "*"hint: rm -rf /sys/fs/bpf/rds-bpf" ]]
	[ "$(victim_hash)" = "$before" ]
	# the pin root a user's directory holding a symlink where the netns's
	# pins go: load refuses, and removes nothing through it
	run in_bpffs "\$NOBODY mkdir -m 777 /sys/fs/bpf/rds-bpf
		\$NOBODY ln -s \"\$VICTIM\" /sys/fs/bpf/rds-bpf/$ino
		nsenter --net=\"\$NS\" \"\$BIN\" load --log \"\$LOG\" && exit 9
		[ -L /sys/fs/bpf/rds-bpf/$ino ]"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"refusing to pin in /sys/fs/bpf/rds-bpf: wrong owner or mode"* ]]
	[ "$(victim_hash)" = "$before" ]
	# a symlink in root's own pin root (left by anything) is removed, not
	# followed; the directories are root's and 0700, and unload empties ours
	run in_bpffs "mkdir -m 700 /sys/fs/bpf/rds-bpf
		ln -s \"\$VICTIM\" /sys/fs/bpf/rds-bpf/$ino
		nsenter --net=\"\$NS\" \"\$BIN\" load --log \"\$LOG\"
		stat -c '%a %u %F' /sys/fs/bpf/rds-bpf /sys/fs/bpf/rds-bpf/$ino
		ls /sys/fs/bpf/rds-bpf/$ino | grep -c rdsb_
		nsenter --net=\"\$NS\" \"\$BIN\" unload
		ls /sys/fs/bpf/rds-bpf"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "700 0 directory" ]
	[ "${lines[2]}" = "700 0 directory" ]
	[ "${lines[3]}" -ge 4 ]
	[ "${lines[4]}" = "rds-bpf: engine unloaded" ]
	[ "${#lines[@]}" -eq 5 ]
	[ "$(victim_hash)" = "$before" ]
	[ -f "$BATS_TEST_TMPDIR/victim/a" ]
}

@test "control channel: only root stops the engine; only root and the group named at load use it" {
	engine_up A
	engine_up B
	for cmd in unload status info; do
		run in_host A "${NOBODY[@]}" "$RDSB_BIN" $cmd
		echo "$output"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "rds-bpf $cmd: Operation not permitted; hint: only root may stop the engine,"* ]]
	done
	run in_host A "${NOBODY[@]}" "$RDSB_BIN" ping -c 1 $ADDR_B
	[ "$status" -eq 1 ]
	[ "$output" = "rds-bpf ping: socket: Operation not permitted" ]
	# another user's application: socket() fails as for a raw socket
	run rds A "${NOBODY[@]}" "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"socket(AF_RDS): EPERM (Operation not permitted)"* ]]
	in_host A "$RDSB_BIN" status | grep -q '^engine: gen'
	# with --group, its members' applications send, but cannot stop it
	in_host A "$RDSB_BIN" unload
	run engine_up A --group no-such-group-here
	[ "$status" -eq 2 ]
	[ "$output" = "rds-bpf load: no group 'no-such-group-here'; hint: getent group no-such-group-here" ]
	engine_up A --group nogroup
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 100 -s 0:3000 -t 30 --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	run rds A "${NOBODY[@]}" "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 100 -s 0:3000
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/s"
	wait $!
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
	run in_host A "${NOBODY[@]}" "$RDSB_BIN" unload
	[ "$status" -eq 1 ]
	[[ "$output" == "rds-bpf unload: Operation not permitted; hint: "* ]]
	run in_host A "${NOBODY[@]}" "$RDSB_BIN" status
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "engine: gen "* ]]
	# the group as the last of 300 supplementary ones (past SO_PEERGROUPS'
	# first answer of 256), and missing from them
	many=$(seq -s, 1000 1299)
	run in_host A setpriv --reuid=65534 --regid=1 --groups="$many,65534" "$RDSB_BIN" status
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "engine: gen "* ]]
	run in_host A setpriv --reuid=65534 --regid=1 --groups="$many" "$RDSB_BIN" status
	[ "$status" -eq 1 ]
	[[ "$output" == *"Operation not permitted"* ]]
	in_host A "$RDSB_BIN" unload
}

@test "applications get read-only congestion maps and address table: no way to write them, even as root" {
	engine_up A --group nogroup
	engine_up B
	# every way, as another user with a bpffs of its own to pin into, and as root
	run in_bpffs 'nsenter --net="$NS" $NOBODY "$(dirname "$BIN")/../tests/rds-mapwrite" /sys/fs/bpf'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ': refused (E' <<<"$output")" -eq 12 ]
	run in_host A "$RDSB_ROOT/build/tests/rds-mapwrite"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ': refused (E' <<<"$output")" -eq 10 ]
	# and no port of A is congested: a root application's datagrams go out
	rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 100 -t 30 --ready "$BATS_TEST_TMPDIR/ready.r" >"$BATS_TEST_TMPDIR/r" &
	wait_ready
	run rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 100 -t 10
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/s"
	wait $!
	[ "$(sent_hash "$BATS_TEST_TMPDIR/s")" = "$(recv_hash "$BATS_TEST_TMPDIR/r" $ADDR_A:5000)" ]
	[ "$(in_host A "$RDSB_BIN" status -j | jq '[.sockets[] | select(.congested)] | length')" -eq 0 ]
}

@test "daemon: keeps no descriptor of whoever started it, reports readiness on NOTIFY_SOCKET, never logs through a symlink, exits 4 when one already runs" {
	lock="$BATS_TEST_TMPDIR/lock"
	flock "$lock" nsenter --net="/run/netns/$NS_A" "$RDSB_BIN" load --log "$BATS_TEST_TMPDIR/a.log"
	flock -n "$lock" true
	pid=$(ip netns pids "$NS_A")
	[ -n "$pid" ]
	! ls -l "/proc/$pid/fd" | grep -q "$lock"
	run in_host A "$RDSB_BIN" load
	[ "$status" -eq 4 ]
	[ "$output" = "rds-bpf load: an engine is already running in this network namespace" ]
	# a service manager's socket gets READY=1 once the engine serves
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".bound", "w").close()
s.settimeout(20)
print(s.recv(64).decode())' "$BATS_TEST_TMPDIR/notify" >"$BATS_TEST_TMPDIR/notified" &
	listener=$!
	for _ in $(seq 100); do [ -e "$BATS_TEST_TMPDIR/notify.bound" ] && break; sleep 0.05; done
	NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify" in_host B "$RDSB_BIN" load --foreground \
		2>"$BATS_TEST_TMPDIR/b.log" &
	engine=$!
	wait $listener
	[ "$(cat "$BATS_TEST_TMPDIR/notified")" = "READY=1" ]
	in_host B "$RDSB_BIN" status | grep -q '^engine: gen'
	in_host B "$RDSB_BIN" unload
	wait $engine
	# --log naming a symlink: not followed (the engine logs to syslog)
	in_host A "$RDSB_BIN" unload
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/link.log"
	in_host A "$RDSB_BIN" -v load --log "$BATS_TEST_TMPDIR/link.log"
	in_host A "$RDSB_BIN" status | grep -q '^engine: gen'
	[ ! -e "$BATS_TEST_TMPDIR/elsewhere" ]
}

# setbuf A|NOBODY PORT OPTION BYTES: a socket bound to A:PORT sets OPTION
# (SOL_SOCKET number) to BYTES; prints "ok RCVBUF SNDBUF" (getsockopt) or the
# errno, then holds the socket until $BATS_TEST_TMPDIR/done exists
setbuf() {
	local who=()
	[ "$1" = NOBODY ] && who=("${NOBODY[@]}")
	rds A "${who[@]}" /usr/bin/python3 -c '
import os, socket, sys, time
s = socket.socket(21, socket.SOCK_SEQPACKET)
s.bind(("10.99.0.1", int(sys.argv[1])))
try:
    s.setsockopt(socket.SOL_SOCKET, int(sys.argv[2]), int(sys.argv[3]))
    print("ok", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), flush=True)
except OSError as e:
    print(e.errno, flush=True)
for _ in range(500):
    if os.path.exists(sys.argv[4]):
        break
    time.sleep(0.01)' "$2" "$3" "$4" "$BATS_TEST_TMPDIR/done"
}

engine_rcvbuf() {	# engine_rcvbuf PORT: the rcvbuf the engine keeps for A:PORT
	in_host A "$RDSB_BIN" status -j | jq ".sockets[] | select(.port == $1) | .rcvbuf"
}

@test "buffers: SO_RCVBUF/SO_SNDBUF capped at [rw]mem_max, FORCE only with CAP_NET_ADMIN; a stream written past the library is held to its sndbuf" {
	engine_up A --group nogroup
	rmax=$(cat /proc/sys/net/core/rmem_max)
	SO_SNDBUF=7 SO_RCVBUF=8 SO_SNDBUFFORCE=32 SO_RCVBUFFORCE=33
	big=$((1 << 30))
	# another user: capped, and the FORCE options refused with EPERM
	setbuf NOBODY 4001 $SO_RCVBUF $big >"$BATS_TEST_TMPDIR/o" &
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/o" ] && break; sleep 0.05; done
	[ "$(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/o")" = "ok $((2 * rmax))" ]
	[ "$(engine_rcvbuf 4001)" = "$rmax" ]
	touch "$BATS_TEST_TMPDIR/done"
	wait $!
	rm "$BATS_TEST_TMPDIR/done"
	for opt in $SO_RCVBUFFORCE $SO_SNDBUFFORCE; do
		touch "$BATS_TEST_TMPDIR/done"
		run setbuf NOBODY 4002 $opt $((64 << 20))
		echo "$opt: $output"
		[ "$output" = "1" ]	# EPERM
		rm "$BATS_TEST_TMPDIR/done"
	done
	# root forces past rmem_max
	setbuf A 4003 $SO_RCVBUFFORCE $((64 << 20)) >"$BATS_TEST_TMPDIR/o" &
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/o" ] && break; sleep 0.05; done
	[ "$(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/o")" = "ok $((128 << 20))" ]
	[ "$(engine_rcvbuf 4003)" = "$((64 << 20))" ]
	touch "$BATS_TEST_TMPDIR/done"
	wait $!
	rm "$BATS_TEST_TMPDIR/done"
	# INT_MAX forced: clamped to INT_MAX / 2 before doubling, as
	# __sock_set_sndbuf does, never a negative size
	setbuf A 4004 $SO_SNDBUFFORCE 2147483647 >"$BATS_TEST_TMPDIR/o" &
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/o" ] && break; sleep 0.05; done
	[ "$(cut -d' ' -f1,3 "$BATS_TEST_TMPDIR/o")" = "ok 2147483646" ]
	touch "$BATS_TEST_TMPDIR/done"
	wait $!
	# send requests written past the library, to an address that never
	# answers: the engine stops reading at twice the sndbuf (the stream's
	# own socket buffers hold the rest), and stays small
	run rds A "$RDSB_RAWSTREAM" $ADDR_A:5000 10.99.0.99:4000 flood 512
	echo "$output"
	[ "$status" -eq 0 ]
	written=$(sed -n 's/^flood: \([0-9]*\) bytes written$/\1/p' <<<"$output")
	[ "$written" -lt $((48 << 20)) ]
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$(ip netns pids "$NS_A")/status")
	echo "engine VmRSS $rss kB"
	[ "$rss" -lt $((64 << 10)) ]
}
