# shellcheck shell=bash
# Two (or more) namespace hosts joined by veth, for tests, the demo and the
# benchmarks. Source it, then: hosts_up PREFIX; in_host A cmd...; hosts_down.
# Host A is 10.99.0.1 / fd99::1, host B 10.99.0.2 / fd99::2 (A is smaller).
# Namespaces are entered with nsenter, not `ip netns exec`, which remounts
# /sys and would hide bpffs.

RDSB_ROOT=${RDSB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RDSB_BIN=${RDSB_BIN:-$RDSB_ROOT/build/sbin/rds-bpf}
RDSB_PRELOAD=${RDSB_PRELOAD:-$RDSB_ROOT/build/lib/librdsb-preload.so}
RDSB_XFER=${RDSB_XFER:-$RDSB_ROOT/build/tests/rds-xfer}
RDSB_RAWSTREAM=${RDSB_RAWSTREAM:-$RDSB_ROOT/build/tests/rds-rawstream}
RDSB_TXRAW=${RDSB_TXRAW:-$RDSB_ROOT/build/tests/rds-txraw}
ADDR_A=10.99.0.1
ADDR_B=10.99.0.2
ADDR6_A=fd99::1
ADDR6_B=fd99::2

# hosts_name LETTERS: a prefix no other run on this machine has now (the
# shell's pid; tests run side by side must not delete each other's hosts)
hosts_name() { printf '%s%x%02x' "$1" $$ $((RANDOM % 256)); }

hosts_up() {
	HOSTS_PREFIX=${1:-rdsb$$}
	NS_A=${HOSTS_PREFIX}a
	NS_B=${HOSTS_PREFIX}b
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "${HOSTS_PREFIX}va" netns "$NS_A" type veth peer name "${HOSTS_PREFIX}vb" netns "$NS_B"
	hosts_addresses
}

# hosts_up_bridged PREFIX: as hosts_up, but A and B hang off a bridge in a
# third namespace W, "the wire" (ports wa and wb), where tests can inject
# loss on what is forwarded to each host
hosts_up_bridged() {
	HOSTS_PREFIX=${1:-rdsb$$}
	NS_A=${HOSTS_PREFIX}a
	NS_B=${HOSTS_PREFIX}b
	NS_W=${HOSTS_PREFIX}w
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip netns add "$NS_W"
	ip link add "${HOSTS_PREFIX}va" netns "$NS_A" type veth peer name wa netns "$NS_W"
	ip link add "${HOSTS_PREFIX}vb" netns "$NS_B" type veth peer name wb netns "$NS_W"
	in_host W ip link add br0 type bridge
	in_host W ip link set wa master br0
	in_host W ip link set wb master br0
	in_host W ip link set br0 up
	in_host W ip link set wa up
	in_host W ip link set wb up
	hosts_addresses
}

hosts_addresses() {	# the interface of each host becomes eth0 with its addresses
	in_host A ip link set lo up
	in_host B ip link set lo up
	in_host A ip link set "${HOSTS_PREFIX}va" name eth0
	in_host B ip link set "${HOSTS_PREFIX}vb" name eth0
	in_host A ip addr add $ADDR_A/24 dev eth0
	in_host B ip addr add $ADDR_B/24 dev eth0
	in_host A ip -6 addr add $ADDR6_A/64 dev eth0 nodad
	in_host B ip -6 addr add $ADDR6_B/64 dev eth0 nodad
	in_host A ip link set eth0 up
	in_host B ip link set eth0 up
}

# in_host A|B cmd... : run cmd inside that host's network namespace
in_host() {
	local ns
	case $1 in A) ns=$NS_A ;; B) ns=$NS_B ;; W) ns=$NS_W ;; *) ns=$1 ;; esac
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# rds A|B cmd... : run an unmodified AF_RDS program on that host through the shim
rds() {
	local h=$1
	shift
	in_host "$h" env LD_PRELOAD="$RDSB_PRELOAD" "$@"
}

# RDSB_LOAD_OPTS (e.g. --no-bpf, for the userspace data path) go to every load.
# RDSB_TRANSPORT=xdp loads the XDP/AF_XDP transport on the host's interface
# (eth0 on every host, see hosts_addresses) instead of RDS/TCP.
engine_up() {	# engine_up A|B [load options]
	local h=$1
	shift
	case ${RDSB_TRANSPORT:-tcp} in
	tcp) ;;
	xdp) set -- --transport xdp --dev eth0 "$@" ;;
	*) echo "RDSB_TRANSPORT=$RDSB_TRANSPORT: tcp or xdp" >&2; return 2 ;;
	esac
	# shellcheck disable=SC2086
	in_host "$h" "$RDSB_BIN" load --log "${RDSB_LOG_DIR:-/tmp}/rdsb-engine-${HOSTS_PREFIX}-$h.log" \
		${RDSB_LOAD_OPTS:-} "$@"
}

# Whether engine_up's engines receive on the sockmap (BPF) data path: the
# tcp transport's default, unless RDSB_LOAD_OPTS says --no-bpf
bpf_receive() {
	[[ " ${RDSB_LOAD_OPTS:-} " != *" --no-bpf "* && ${RDSB_TRANSPORT:-tcp} = tcp ]]
}

# sk_msg_sends: whether this round's engines let applications send on the
# path sockets (the default's, with the BPF receive path; not --no-sk-msg)
sk_msg_sends() {
	bpf_receive && [[ " ${RDSB_LOAD_OPTS:-} " != *" --no-sk-msg "* ]]
}

# hosts_procs: what every process still in the hosts is doing (a failed or
# timed-out test prints it): state, kernel wait channel, and each thread's
# stack when gdb is there
hosts_procs() {	# [stacks]: with the threads' stacks (gdb), else a line each
	local ns p
	for ns in ${NS_A:-} ${NS_B:-}; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			echo "--- $ns pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)" \
			     "state $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) wchan $(cat "/proc/$p/wchan" 2>/dev/null)"
			[ "${1:-}" = stacks ] && command -v gdb >/dev/null || continue
			timeout 20 gdb -p "$p" -batch -ex 'thread apply all bt 12' 2>/dev/null |
				grep -E '^(Thread|#)' | cut -c1-200 | head -n 60
		done
	done
}

hosts_down() {
	local h
	for h in A B; do
		local ns
		case $h in A) ns=$NS_A ;; B) ns=$NS_B ;; esac
		[ -e "/run/netns/$ns" ] || continue
		in_host "$h" "$RDSB_BIN" unload >/dev/null 2>&1 || true
		# anything else still running in the namespace, and the pins of
		# an engine that could not unload (killed by a test)
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		rm -rf "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$ns")"
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "${NS_W:-}" ]; then ip netns del "$NS_W" 2>/dev/null || true; fi
}

# hosts_session PREFIX: for scripts (demo, bench): bpffs, two hosts, a log
# directory, all removed when the script exits
hosts_session() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	RDSB_LOG_DIR=$(mktemp -d)
	export RDSB_LOG_DIR
	hosts_up "$1"
	trap 'hosts_down; rm -rf "$RDSB_LOG_DIR"' EXIT
}
