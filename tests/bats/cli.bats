#!/usr/bin/env bats
# The command line every subcommand shares: --help (exit 0, stdout), bad
# usage (exit 2, usage on stderr, nothing on stdout), no engine (exit 3),
# --version with the libraries in use, status -j/-p.

load helpers

setup() { setup_two_hosts; }
teardown() { teardown_hosts; }

@test "--version: rds-bpf, the libbpf loaded (its file), libxdp" {
	run "$RDSB_BIN" --version
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "rds-bpf 0.1.0" ]
	[[ "${lines[1]}" =~ ^libbpf\ ([0-9]+)\.([0-9]+)\ \((/.*libbpf\.so\.[0-9.]+)\)$ ]]
	file=${BASH_REMATCH[3]}
	# the numbers libbpf reports are those of the file it was loaded from
	[[ "$file" == *"libbpf.so.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"* ]]
	[ "$(readlink -f "$(ldd "$RDSB_BIN" | awk '/libbpf/ {print $3}')")" = "$file" ]
	if ldd "$RDSB_BIN" | grep -q libxdp; then
		[[ "${lines[2]}" =~ ^libxdp\ / ]]
	else
		[ "${lines[2]}" = "libxdp not used (no XDP transport in this build)" ]
	fi
}

@test "every subcommand: --help on stdout with exit 0; bad options exit 2 with usage on stderr" {
	for cmd in load unload reload status info ping features; do
		run "$RDSB_BIN" "$cmd" --help
		echo "$cmd: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"usage: rds-bpf"* ]]
		run "$RDSB_BIN" "$cmd" --no-such-option
		[ "$status" -eq 2 ]
		[[ "$output" == *"usage: rds-bpf"* ]]
		[ -z "$("$RDSB_BIN" "$cmd" --no-such-option 2>/dev/null)" ]
	done
	for bad in "" "nosuchcommand" "--nosuchoption" "-x status"; do
		run "$RDSB_BIN" $bad
		[ "$status" -eq 2 ]
		[[ "$output" == *"usage: rds-bpf"* ]]
	done
	run "$RDSB_BIN" help
	[ "$status" -eq 0 ]
	for cmd in load unload reload status info ping features; do
		grep -qE "^  $cmd( |$)" <<<"$output"
	done
	# values out of range and stray arguments
	run in_host A "$RDSB_BIN" load --paths 9
	[ "$status" -eq 2 ]
	run in_host A "$RDSB_BIN" load --transport iwarp
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown transport 'iwarp' (available: tcp, xdp, ib)"* ]]
	run in_host A "$RDSB_BIN" load --no-bpf --sk-msg
	[ "$status" -eq 2 ]
	[ "$output" = "rds-bpf load: --sk-msg needs the sockmap data path, not --no-bpf" ]
	run in_host A "$RDSB_BIN" unload now
	[ "$status" -eq 2 ]
	run in_host A "$RDSB_BIN" status extra
	[ "$status" -eq 2 ]
}

@test "status -j and -p: the same JSON; -v accepted; no engine exits 3" {
	in_host A "$RDSB_BIN" ping -c 1 $ADDR_B >/dev/null
	a=$(in_host A "$RDSB_BIN" status -j)
	jq -e '.connections[0].faddr == "10.99.0.2"' <<<"$a"
	jq -e '.transport == "tcp" and .transport_counters == {}' <<<"$a"
	# the same state in both (the acknowledgements of the ping's datagrams
	# may still move the counters between two calls on a loaded machine)
	for _ in $(seq 20); do
		j=$(in_host A "$RDSB_BIN" status -j | jq -S -c .)
		p=$(in_host A "$RDSB_BIN" status -p | jq -S -c .)
		[ "$j" = "$p" ] && break
		sleep 0.1
	done
	[ "$j" = "$p" ]
	in_host A "$RDSB_BIN" status -p | grep -q '^    "connections": \[$'
	in_host A "$RDSB_BIN" -v status | grep -q '^connection 10.99.0.1 -> 10.99.0.2: tcp, npaths 8'
	in_host A "$RDSB_BIN" status -v >/dev/null
	in_host A "$RDSB_BIN" unload
	run in_host A "$RDSB_BIN" status -j
	[ "$status" -eq 3 ]
	[ "$output" = '{"loaded":false}' ]
	run in_host A "$RDSB_BIN" status
	[ "$status" -eq 3 ]
	[[ "$output" == *"hint: rds-bpf load"* ]]
}

@test "load --bpf where no sockmap data path can be had: exit 1 and why; the default load takes the userspace path after one line" {
	in_host A "$RDSB_BIN" unload
	# without CAP_BPF the maps fall back to shared memory, and so does the
	# default load; --bpf asked for the sockmap path and stops
	run in_host A capsh --drop=cap_bpf,cap_sys_admin,cap_perfmon -- -c "$RDSB_BIN load --bpf --foreground"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot create BPF maps: Operation not permitted (hint: needs CAP_BPF or root)"* ]]
	[[ "${lines[-1]}" == "rds-bpf: no BPF maps, so no sockmap data path: load --bpf stops" ]]
	run in_host A capsh --drop=cap_bpf,cap_sys_admin,cap_perfmon -- -c "$RDSB_BIN load"
	[ "$status" -eq 0 ]
	in_host A "$RDSB_BIN" status | grep -q 'userspace path'
	in_host A "$RDSB_BIN" unload
	# with CAP_BPF but not CAP_NET_ADMIN the maps load and the sockmap
	# programs do not: --bpf stops, the default load says so in one line
	# and carries datagrams on the userspace path
	run in_host A capsh --drop=cap_net_admin,cap_sys_admin -- -c "$RDSB_BIN load --bpf --foreground"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "rds-bpf: the sockmap data path did not load (Operation not permitted; strparser offset via bpf_$(kern_ctx_how)); load --bpf stops (load --no-bpf takes the userspace path); hint: needs CAP_BPF and CAP_NET_ADMIN, or root" ]
	run in_host A capsh --drop=cap_net_admin,cap_sys_admin -- -c "$RDSB_BIN load"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'sockmap' <<<"$output")" -eq 1 ]
	grep -qx "rds-bpf: the sockmap data path did not load (Operation not permitted; strparser offset via bpf_$(kern_ctx_how)); datagrams take the userspace path; hint: needs CAP_BPF and CAP_NET_ADMIN, or root" <<<"$output"
	in_host A "$RDSB_BIN" status -j | jq -e '.data_path == "userspace" and .pin_dir != ""'
	[ "$(bpftool -j map dump pinned "$(pins A)/rdsb_cong" | jq length)" -gt 0 ]
	# and datagrams flow both ways
	in_host A "$RDSB_BIN" ping -c 3 $ADDR_B
}

@test "a default load whose sockmap data path fails after its maps were pinned (open files run out): one line, the userspace path, and the sock_ops program loads on maps of its own" {
	in_host A "$RDSB_BIN" unload
	# the open-files limit that runs out inside the sockmap set-up, after
	# its object pinned its maps: the first from 40 up
	local n found=''
	for n in $(seq 40 90); do
		run in_host A prlimit --nofile=$n:$n "$RDSB_BIN" load
		if [ "$status" -eq 0 ] && grep -qE "^rds-bpf: cannot (set up the engine's (inbox|outbox)|set up the sockmap data path|attach the sockmap programs): Too many open files; datagrams take the userspace path$" <<<"$output"; then
			found=$n
			break
		fi
		in_host A "$RDSB_BIN" unload >/dev/null 2>&1 || true
	done
	echo "limit $found: $output"
	[ -n "$found" ]
	# the maps the given-up object shared are not handed to the next one
	# (their descriptors closed with it: EBADFD before)
	! grep -q 'sock_ops' <<<"$output"
	in_host A "$RDSB_BIN" status -j | jq -e '.data_path == "userspace" and .sockops_cgroup != ""'
}

@test "an engine that takes requests and never answers (stopped): status, info, ping and unload fail in one line within --timeout, exit 1" {
	local pid
	pid=$(engine_pid A)
	[ -n "$pid" ]
	kill -STOP "$pid"
	for cmd in status info "ping -c 1 $ADDR_B" unload; do
		SECONDS=0
		# shellcheck disable=SC2086
		run in_host A timeout 30 "$RDSB_BIN" --timeout 1 $cmd
		echo "$cmd ($SECONDS s): $output"
		kill -0 "$pid"	# the timeout gave up on the engine; nothing killed it
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "rds-bpf ${cmd%% *}: engine not answering: no reply within 1 s; hint: "* ]]
		[ "$SECONDS" -lt 10 ]
	done
	# the default bound, 10 s
	SECONDS=0
	run in_host A timeout 30 "$RDSB_BIN" status
	[ "$status" -eq 1 ]
	[[ "$output" == *"engine not answering: no reply within 10 s"* ]]
	[ "$SECONDS" -ge 9 ] && [ "$SECONDS" -lt 20 ]
	# a second load finds it there, stopped or not
	run in_host A timeout 30 "$RDSB_BIN" --timeout 1 load
	[ "$status" -eq 4 ]
	run in_host A "$RDSB_BIN" --timeout 0 status
	[ "$status" -eq 2 ]
	kill -CONT "$pid"
}
