#!/usr/bin/env bats
# The AF_RDS errno table of the kernel (docs/protocol.md §3) for the TCP transport,
# checked by tests/tools/rds-errno (plain AF_RDS API, run through the shim) on
# host A, with an echo service on host B. One run; each test checks a group.

load helpers

UNREACH=10.99.0.99	# on the link, answered by nobody: messages to it stay queued

setup_file() {
	export BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
	setup_two_hosts
	export NS_A NS_B HOSTS_PREFIX
	rds B "$RDSB_XFER" echo -b $ADDR_B:4000 -t 60 --ready "$BATS_FILE_TMPDIR/ready.echo" \
		>"$BATS_FILE_TMPDIR/echo.out" 2>&1 3>&- &
	wait_ready
	local st=0
	rds A "$RDSB_ROOT/build/tests/rds-errno" $ADDR_A $ADDR_B 4000 $UNREACH $ADDR6_A $ADDR6_B \
		>"$BATS_FILE_TMPDIR/out" 2>&1 || st=$?
	echo "$st" >"$BATS_FILE_TMPDIR/status"
	# what the run left in the engines, once A has processed every close,
	# TCP has acknowledged all A sent and B has parsed the last datagram
	for _ in $(seq 100); do
		in_host A "$RDSB_BIN" status -j >"$BATS_FILE_TMPDIR/status.A"
		in_host B "$RDSB_BIN" status -j >"$BATS_FILE_TMPDIR/status.B"
		jq -e '([.sockets[] | select(.port >= 20000)] | length) == 0 and
			([.connections[] | select(.faddr == "10.99.0.2") | .paths[] | select(.unacked > 0 or .queued)] | length) == 0' \
			"$BATS_FILE_TMPDIR/status.A" >/dev/null &&
			jq -e '.counters.drop_no_socket >= 4 and .counters.rx_delivered >= 5' "$BATS_FILE_TMPDIR/status.B" >/dev/null &&
			break
		sleep 0.05
	done
}

teardown_file() {
	hosts_down
}

setup() {
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	out=$BATS_FILE_TMPDIR/out
}

# cases NAME... : each case printed exactly one line, "ok NAME"
cases() {
	local n bad=0
	for n in "$@"; do
		grep -E "^(ok|FAIL) $n(:|\$)" "$out" || { echo "missing: $n"; bad=1; }
		[ "$(grep -cx "ok $n" "$out")" -eq 1 ] || bad=1
	done
	return $bad
}

@test "rds-errno: exit code 0 and exactly 101 ok lines, no FAIL" {
	cat "$out"
	[ "$(cat "$BATS_FILE_TMPDIR/status")" -eq 0 ]
	[ "$(grep -c '^ok ' "$out")" -eq 101 ]
	[ "$(grep -c '^FAIL ' "$out")" -eq 0 ]
	grep -qx '# 101 ok, 0 failed' "$out"
}

@test "SO_RDS_TRANSPORT on the TCP transport: EINVAL, EPROTOTYPE (IB: not the initial namespace), ENOPROTOOPT (XDP), EOPNOTSUPP, TCP round trip" {
	run rds A "$RDSB_ROOT/build/tests/rds-transport" $ADDR_A $ADDR_B 4000 2
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ok ' <<<"$output")" -eq 20 ]
	grep -qx '# 20 ok, 0 failed' <<<"$output"
}

@test "socket(): SOCK_STREAM, SOCK_DGRAM, protocol != 0 -> ESOCKTNOSUPPORT" {
	cases socket_stream socket_dgram socket_protocol_nonzero socket_seqpacket_flags socket_so_type
}

@test "bind(): EINVAL, EADDRNOTAVAIL, ENOPROTOOPT, EADDRINUSE, port 0, close frees the port" {
	cases bind_short_addrlen bind_inaddr_any bind_multicast bind_broadcast bind_v6_linklocal_no_scope \
		bind_nonlocal bind_port_1 bind_ok_after_failures bind_already_bound bind_port_in_use \
		bind_nonlocal_explicit_tcp bind_port_0 bind_port_0_reserved close_frees_port
}

@test "connect(): EDESTADDRREQ, EINVAL, then send() without an address reaches the echo" {
	cases connect_inaddr_any connect_multicast connect_echo send_connected send_connected_echo
}

@test "sendmsg(): check order, EOPNOTSUPP, EINVAL, ENOTCONN, EMSGSIZE (1 MiB and sndbuf/2), zero length" {
	cases send_unbound send_unbound_oob_flags_first send_unbound_bad_dest_first send_no_dest_not_connected \
		send_msg_oob send_msg_nosignal send_msg_more send_short_namelen send_dest_inaddr_any \
		send_dest_broadcast send_dest_multicast send_v4_socket_v6_dest send_v6_socket_v4_dest \
		send_zero_length send_dontwait_ok sndbuf_doubled send_over_sndbuf_half send_sndbuf_half_exactly \
		send_over_1mib send_1mib_exactly
}

@test "send queue full: 5 x 1000 B accepted under sndbuf 4096, then EAGAIN, ETIMEDOUT; CANCEL_SENT_TO frees it" {
	cases send_queue_full_eagain send_queue_full_accepted send_queue_full_sndtimeo \
		send_queue_full_sndtimeo_waited cancel_sent_to cancel_sent_to_frees_sndbuf
	# the 5 queued messages, and the 2000 of the RDS_INFO cases, were cancelled by the engine
	[ "$(jq .counters.drop_cancelled "$BATS_FILE_TMPDIR/status.A")" -eq 2005 ]
}

@test "recvmsg(): EAGAIN, ETIMEDOUT, MSG_PEEK, MSG_TRUNC both ways, msg_name" {
	cases recv_dontwait_empty recv_rcvtimeo recv_rcvtimeo_waited recv_peek recv_after_peek \
		recv_peek_consumed_once recv_trunc_flag recv_trunc_rest_discarded recv_trunc_full_length recv_msg_name
}

@test "a signal's handler during a blocking recv: with SA_RESTART the recv goes on to the datagram, without it EINTR (rds_recvmsg: -ERESTARTSYS)" {
	cases recv_signal_sa_restart recv_signal_eintr
}

@test "SOL_RDS options: SO_RDS_TRANSPORT, RDS_CANCEL_SENT_TO, RDS_GET_MR (kernel check order)" {
	cases transport_get_fresh_none transport_optlen_2 transport_99 transport_negative transport_ib_absent \
		transport_tcp transport_get_tcp transport_twice transport_twice_bad_optlen transport_tcp_then_bind \
		transport_after_bind transport_get_after_bind cancel_sent_to_short_optlen get_mr_tcp \
		get_mr_bad_optlen get_mr_for_dest_tcp sol_rds_unknown_option cancel_sent_to_unbound \
		cancel_sent_to_unbound_short_optlen get_mr_unbound
}

@test "RDS_INFO: ENOSPC probe, item size; a returned sendmsg is listed at once and cancellable at once" {
	cases info_probe_enospc info_probe_len info_counters_item_size info_lists_send_at_once cancel_right_after_send
}

@test "shutdown/listen EOPNOTSUPP, getsockname unbound, FIONREAD, TOS, sendmmsg/recvmmsg, write/writev EOPNOTSUPP, readv (af_rds.c)" {
	cases getsockname_unbound_unspec recvmsg_eagain_keeps_controllen shutdown_eopnotsupp listen_eopnotsupp fionread_enotty siocrdssettos_tcp \
		siocrdsgettos_tcp_zero sendmmsg_3_eopnotsupp sendmmsg_1_each_after_shutdown siocrdssettos_after_send recvmmsg_3_in_order \
		writev_eopnotsupp write_eopnotsupp readv_one_datagram
}

@test "the engines saw exactly what the cases sent" {
	jq -c .counters "$BATS_FILE_TMPDIR/status.A" "$BATS_FILE_TMPDIR/status.B"
	# zero length, MSG_DONTWAIT, sndbuf/2 exactly, 1 MiB exactly: all to B:9, where nobody is bound
	[ "$(jq .counters.drop_no_socket "$BATS_FILE_TMPDIR/status.B")" -eq 4 ]
	# 4 echo round trips + 1 connected send: delivered once on B, echoed once to A
	[ "$(jq .counters.rx_delivered "$BATS_FILE_TMPDIR/status.B")" -eq 5 ]
	# plus, on A, the loopback sendmmsg of 3 and writev of 1 (t_fdops) and
	# the datagram that comes while a recv restarts (t_restart)
	[ "$(jq .counters.rx_delivered "$BATS_FILE_TMPDIR/status.A")" -eq 10 ]
	# nothing was malformed, duplicated or reset
	[ "$(jq '.counters | .drop_bad_app_record + .drop_dup_seq + .drop_bad_len + .path_down' "$BATS_FILE_TMPDIR/status.A")" -eq 0 ]
	# no socket of the run is left bound on A
	[ "$(jq '[.sockets[] | select(.port >= 20000)] | length' "$BATS_FILE_TMPDIR/status.A")" -eq 0 ]
}
