#!/usr/bin/env bats
# Unmodified AF_RDS programs under the shim behave as on the kernel: Python's
# own socket.AF_RDS (tests/tools/rds-shim.py) and C programs
# (tests/tools/rds-shim.c), on host A's engine (loopback) and towards an
# address nobody answers, where messages stay queued.

load helpers

SHIMPY=$BATS_TEST_DIRNAME/../tools/rds-shim.py
UNREACH=10.99.0.99

setup_file() {
	export BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
	setup_two_hosts
	export NS_A NS_B HOSTS_PREFIX
}

teardown_file() {
	hosts_down
}

setup() {
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
}

shimpy() {	# shimpy CASE PORT: one case of rds-shim.py on A, which prints "ok CASE"
	run rds A env PEER_NS="$NS_B" PEER_ADDR=$ADDR_B timeout 60 python3 "$SHIMPY" "$1" $ADDR_A "$2" $UNREACH
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "ok $1" ]
}

@test "close() while another thread blocks in recv: the reader gets the next datagram, never the reused fd (Python)" {
	shimpy close-while-recv 5000
}

@test "POLLOUT tracks the send queue: settimeout send, poll and select on a full queue sleep; a drained queue wakes poll (Python)" {
	shimpy pollout-full-queue 5010
}

@test "poll as rds_poll: a congestion map update is POLLIN|POLLRDNORM|POLLWRBAND once, a fresh socket's first poll included (Python)" {
	shimpy poll-cong-generation 5015
}

@test "EPOLLOUT tracks the send queue: level and edge triggered, asleep on a full queue, a closed fd leaves the set (Python)" {
	shimpy epollout-full-queue 5020
}

@test "asyncio sock_sendto on a full queue waits asleep through epoll and sends once the queue drains (Python)" {
	shimpy asyncio-full-queue 5025
}

@test "dup, fromfd, dup2 are the same RDS socket: options, sends, receives; it lives until the last is closed (Python)" {
	shimpy dup 5030
}

@test "close_range closes an RDS fd as close() does: the number's next owner is its own, the port is free (Python)" {
	shimpy close-range 5035
}

@test "shutdown and listen: EOPNOTSUPP, the socket keeps working; FIONREAD ENOTTY; SIOCRDSSETTOS/GETTOS as the TCP transport (Python)" {
	shimpy unsupported 5040
}

@test "write and writev: EOPNOTSUPP as the kernel (MSG_EOR); read and readv: one datagram each (Python)" {
	shimpy vector-io 5050
}

@test "fork with two readers on one socket: 2000 datagrams, each whole at exactly one of them, in order (Python)" {
	shimpy fork-readers 5060
}

@test "fork with two senders on one socket, payloads of 4 to 44 KiB (in the copy ring): 2 x 300 datagrams, each whole, once, each sender's in order (Python)" {
	local before
	before=$(counter A tx_in_ring)
	shimpy fork-senders 5067
	[ "$(counter A tx_in_ring)" -gt "$before" ]
}

@test "datagrams queued back to back, read with MSG_PEEK, short buffers, MSG_TRUNC, split iovecs, after poll: each exactly its bytes, POLLIN until the last (Python)" {
	shimpy queued-reads 5062
}

@test "fork: the socket is one object, a bind and SO_RCVBUF in the child are the parent's (Python)" {
	shimpy fork-state 5065
}

@test "subprocess (vfork, close_range in the child), posix_spawn (close actions on the RDS fds too) and a child of fork closing its copies leave the parent's sockets and epoll registrations (Python)" {
	shimpy children-leave-sockets 5097
}

@test "SCM_RIGHTS to another process, the sender closing at once: the receiver has the bound socket, receives and answers from it (Python)" {
	shimpy scm-rights 5090
}

@test "exec: the new image has the inherited RDS socket, the parent closing at once (Python)" {
	shimpy exec 5095
}

@test "posix_spawn: the socket duplicated into the child by a file action, the parent closing at once (Python)" {
	shimpy posix-spawn 5093
}

@test "subprocess.Popen with pass_fds: the socket goes to the child (vfork, close_range of the rest, exec), the parent closing at once (Python)" {
	shimpy popen 5085
}

@test "closing every fd but its sockets (os.closerange): the RDS sockets keep working (Python)" {
	shimpy closerange-keeps 5087
}

@test "closing one by one every fd but its sockets: the library's own fds refuse (EBADF, dup2 EBUSY), sit above the program's limit, close with the sockets; each socket is the lowest free fd (Python)" {
	shimpy close-each-keeps 5088
}

@test "RLIMIT_NOFILE: as many RDS sockets as UDP sockets, the library's fds above the program's soft limit, the limit unchanged; with no room above it, EMFILE and nothing left open (Python)" {
	shimpy fd-limit 5089
}

@test "one process, sockets on two hosts' engines (setns): each sees its own engine's addresses, both ways (Python)" {
	shimpy two-namespaces 5070
}

@test "SO_TIMESTAMP (SOL_SOCKET and SOL_RDS) delivers SCM_TIMESTAMP; SO_RDS_MSG_RXPATH_LATENCY delivers its cmsg, EFAULT as the kernel (Python)" {
	shimpy timestamps 5080
}

# The standard benchmark's loop (rds-stress: poll, recvfrom until EAGAIN,
# sendmsg; tests/tools/rds-pollloop.c) against an echo on B, 2000 requests of
# 1 KiB, 16 outstanding, each libc call of the shim traced: every reply is
# two reads of the delivery stream (record header, payload), every request
# at most one send (on the path socket, or the wakeup of an engine asleep on
# the socket's request queue; else none), every loop one poll; a recvfrom that finds nothing is one read and
# the only call that asks the fd's flags (fcntl F_GETFL), besides a send that
# found no send space and failed with EAGAIN (on the sk_msg path what went out
# direct holds its space until the engine reads TCP's acks; on the engine's
# path 16 requests of 1 KiB never fill it); no control request to the engine
# once the datagrams flow. Its thread's calls, that is: the library's
# watcher thread sleeps in a poll of its own.
@test "an event loop as rds-stress's: per reply one read with the rest of its header, another only when its header did not start with the last payload, per request at most one send, F_GETFL only when nothing waits, no engine round trip" {
	local trace=$BATS_TEST_TMPDIR/loop.trace replies loops eagain full first headers echo
	rds B "$RDSB_XFER" echo -b $ADDR_B:5150 -t 60 --ready "$BATS_TEST_TMPDIR/echo.ready" >/dev/null 2>&1 &
	echo=$!
	for _ in $(seq 100); do [ -e "$BATS_TEST_TMPDIR/echo.ready" ] && break; sleep 0.05; done
	run in_host A timeout 120 strace -ff -qq -e trace=fcntl,recvfrom,recvmsg,sendmsg,sendto,poll,ppoll -o "$trace" \
		env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_ROOT/build/tests/rds-pollloop" $ADDR_A:5151 $ADDR_B:5150 2000 16 1024
	# by pid: job %1 of a test is bats's timeout watchdog
	kill $echo 2>/dev/null || true
	wait $echo || true
	echo "$output"
	[ "$status" -eq 0 ]
	# a file per thread: the application's, and the library's watcher
	# (its first send starts it: user/lib/watch.c), which sleeps in a poll
	# of its own; the application's is the one with its 2000 sends
	[ "$(find "$BATS_TEST_TMPDIR" -name 'loop.trace.*' | wc -l)" -eq 2 ]
	trace=$(wc -l "$trace".* | sort -n | sed -n '2s/^ *[0-9]* //p')
	read -r replies loops eagain full <<<"$(sed -n 's/^replies \([0-9]*\) loops \([0-9]*\) eagain \([0-9]*\) full \([0-9]*\)$/\1 \2 \3 \4/p' <<<"$output")"
	[ "$replies" -eq 2000 ]
	headers=$(grep 'recvfrom(' "$trace" | grep -vc '= -1 EAGAIN')
	echo "F_GETFL $(grep -c 'fcntl([0-9]*, F_GETFL)' "$trace"), recvfrom $(grep -c 'recvfrom(' "$trace") of which EAGAIN $(grep -c 'recvfrom(.*= -1 EAGAIN' "$trace"), recvmsg $(grep -c 'recvmsg(' "$trace"), loops $loops, eagain $eagain, full $full"
	[ "$(grep -c 'recvfrom(.*= -1 EAGAIN' "$trace")" -eq "$eagain" ]
	[ "$(grep -c 'fcntl([0-9]*, F_GETFL)' "$trace")" -eq $((eagain + full)) ]
	sk_msg_sends || [ "$full" -eq 0 ]
	# each payload in one read, with the rest of its header and the start of the next
	[ "$(grep -c 'recvmsg(.*= 10[0-9][0-9]$' "$trace")" -eq 2000 ]
	# a header read of its own only where it did not come along (the first
	# of a batch): replies arrive in batches
	[ "$headers" -lt $((2000 - loops)) ]
	# a poll for POLLOUT with no send space sleeps on the socket's eventfd,
	# and again if a release left too little: more than one poll(2) then
	[ "$full" -gt 0 ] || [ "$(grep -Ec '(pp|p)oll\(' "$trace")" -eq "$loops" ]
	[ "$(grep -Ec '(pp|p)oll\(' "$trace")" -ge "$loops" ]
	# from the first request on, per request at most one send: its record
	# on the path socket (header and payload), or the 48-byte wakeup of an
	# engine that armed the socket's request queue before it slept (the
	# first request's, at least); nothing else, no engine round trip
	first=$(grep -nE 'sendmsg\(.*iov_len=(1024|48)\}\]' "$trace" | head -n 1 | cut -d: -f1)
	[ -n "$first" ]
	sends=$(tail -n +"$first" "$trace" | grep -Ec 'send(msg|to)\(')
	echo "sends from the first request: $sends"
	[ "$sends" -ge 1 ] && [ "$sends" -le 2000 ]
	[ "$(tail -n +"$first" "$trace" | grep -E 'send(msg|to)\(' | grep -Evc 'iov_len=(1024|48)\}\]')" -eq 0 ]
}
