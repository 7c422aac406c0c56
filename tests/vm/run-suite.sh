#!/usr/bin/env bash
# Interop against the real kernel: a qemu guest running Debian's kernel with
# rds + rds_tcp, and rds-bpf in a host network namespace on a tap. For each
# kernel generation (bookworm 6.1 legacy, sid 7.2 with the 2026 RDS/TCP
# series) and each address order (guest smaller: the kernel connects; host
# smaller: rds-bpf connects), datagrams of 0 B to 256 KiB go both ways with
# content hashes compared end to end, and the 8 paths of the NPATHS
# handshake are counted. Prints TAP-style "ok N" / "not ok N" lines.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/tests/lib/hosts.sh"
source "$root/tests/lib/capture.sh"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
N=${RDSB_VM_MSGS:-200}
SIZES=${RDSB_VM_SIZES:-0:262144}
work=$(mktemp -d)
ns=rdsbvm$$
n=0
failed=0
cleanup() {
	capture_stop
	nsenter --net=/run/netns/$ns "$RDSB_BIN" unload >/dev/null 2>&1
	ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null
	[ -e /run/netns/$ns ] && rm -rf "/sys/fs/bpf/rds-bpf/$(stat -Lc %i /run/netns/$ns)"
	ip netns del $ns 2>/dev/null
	if [ $failed -gt 0 ]; then
		# the captures, consoles and logs of what failed
		keep=$(mktemp -d "${TMPDIR:-/tmp}/rds-bpf-vm-failed.XXXXXX")
		mv "$work"/* "$keep"/ 2>/dev/null
		echo "# kept for inspection: $keep (wire.pcap: build/sbin/rds-dissect FILE)"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

result() {	# name rc [diagnostics file [scenario dir with wire.pcap]]
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n $1"
	elif [ "$2" -eq 77 ]; then
		echo "ok $n $1 # skip $(tail -n 1 "$3" 2>/dev/null)"
	else
		echo "not ok $n $1"
		failed=$((failed + 1))
		[ -n "${3:-}" ] && sed 's/^/# /' "$3" | tail -n 40
		if [ -n "${4:-}" ] && [ -s "$4/wire.pcap" ]; then
			echo "# ---- the last RDS records on the wire ($4/wire.pcap) ----"
			"$RDSB_DISSECT" "$4/wire.pcap" 2>&1 | tail -n 40 | sed 's/^/# /'
		fi
	fi
}

# vm_host_up DIR HOST_ADDR [HOST_ADDR6]: the host netns, its tap, the engine
vm_host_up() {
	ip netns add $ns
	ip -n $ns link set lo up
	ip -n $ns tuntap add dev vmtap mode tap
	ip -n $ns addr add "$2/24" dev vmtap
	[ -z "${3:-}" ] || ip -n $ns -6 addr add "$3/64" dev vmtap nodad
	ip -n $ns link set vmtap up
	capture_start $ns vmtap "$1/wire.pcap" || return 1
	in_host $ns "$RDSB_BIN" load --log "$1/engine.log" >/dev/null
}

# vm_host_down DIR: keep the engine's status, then remove everything
vm_host_down() {
	capture_stop
	in_host $ns "$RDSB_BIN" status >"$1/status" 2>&1
	in_host $ns "$RDSB_BIN" unload >/dev/null 2>&1
	ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del $ns
}

# scenario KERNEL GUEST_ADDR HOST_ADDR [GUEST_ADDR6 HOST_ADDR6]: one boot,
# traffic both ways, over IPv6 when the v6 addresses are given
scenario() {
	local kernel=$1 g4=$2 h4=$3 d=$work/$1-$2-${4:-v4} g h v6args=()
	g=$g4
	h=$h4
	if [ -n "${4:-}" ]; then
		g="[$4]"
		h="[$5]"
		v6args=(--guest-addr6 "$4/64" --host-addr6 "$5/64")
	fi
	mkdir -p "$d"
	vm_host_up "$d" $h4 "${5:-}" || return 1
	# host: receive from the guest, then (once the guest's datagrams are all
	# here, so its receiver is bound) count paths and send to the guest
	(
		in_host $ns env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" recv -b $h:4000 -n $N -s $SIZES -S 3 \
			--rcvbuf 16777216 -t 100 >"$d/host-recv" 2>&1 || exit 1
		in_host $ns ss -Htn state established "( sport = :16385 or dport = :16385 )" >"$d/paths"
		in_host $ns "$RDSB_BIN" ping -c 3 -i 0.05 "${4:-$g4}" >"$d/ping" 2>&1
		in_host $ns env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" send -b $h:5000 -d $g:4001 -n $N -s $SIZES -S 4 \
			--sndbuf 16777216 -t 100 >"$d/host-send" 2>&1
	) &
	local hostpid=$!
	"$here/run-guest.sh" --netns $ns --tap vmtap --guest-addr $g4/24 --host-addr $h4/24 "${v6args[@]}" --kernel "$kernel" \
		--timeout 150 --log "$d/console" -- \
		"rds-xfer recv -b $g:4001 -n $N -s $SIZES -S 4 --rcvbuf 16777216 -t 100 > /tmp/r 2>&1 &
		 rds-xfer send -b $g:5000 -d $h:4000 -n $N -s $SIZES -S 3 --sndbuf 16777216 -t 100 || exit 1
		 wait \$! ; rc=\$?; cat /tmp/r; exit \$rc" >"$d/guest.out" 2>&1
	local grc=$?
	wait $hostpid
	local hrc=$?
	vm_host_down "$d"
	# what crossed, as each side saw it
	local g_sent h_from g_from h_sent npaths
	g_sent=$(sed -n 's/.*sent [0-9]* msgs .* hash \([0-9a-f]*\).*/\1/p' "$d/console" | head -n 1)
	h_from=$(grep -F "from $g:5000 msgs $N " "$d/host-recv" | sed 's/.* hash \([0-9a-f]*\).*/\1/')
	h_sent=$(sed -n 's/^sent .* hash \([0-9a-f]*\).*/\1/p' "$d/host-send" 2>/dev/null)
	g_from=$(grep -F "from $h:5000 msgs $N " "$d/console" | head -n 1 | sed 's/.* hash \([0-9a-f]*\).*/\1/')
	npaths=$(wc -l <"$d/paths" 2>/dev/null || echo 0)
	{
		echo "guest rc $grc, host rc $hrc, paths $npaths"
		echo "guest->host: sent $g_sent, received $h_from"
		echo "host->guest: sent $h_sent, received $g_from"
	} >"$d/summary"
	cat "$d/summary" "$d/status" "$d/host-recv" "$d/host-send" >"$d/diag" 2>/dev/null
	grep -v "^\[" "$d/console" | tail -n 15 >>"$d/diag"
	tail -n 20 "$d/engine.log" >>"$d/diag" 2>/dev/null
	local order="host smaller"
	[ "$g" \< "$h" ] && order="guest smaller"
	[ -n "${4:-}" ] && order="$order, IPv6"
	if [ "$grc" -eq 77 ] || [ "$grc" -eq 125 ] && ! [ -s "$d/guest.out" ]; then :; fi
	[ $grc -eq 0 ] && [ $hrc -eq 0 ] && [ -n "$g_sent" ] && [ "$g_sent" = "$h_from" ]
	result "$kernel kernel, $order: $N datagrams ($SIZES B) guest->host, hashes equal" $? "$d/diag" "$d"
	[ $grc -eq 0 ] && [ $hrc -eq 0 ] && [ -n "$h_sent" ] && [ "$h_sent" = "$g_from" ]
	result "$kernel kernel, $order: $N datagrams ($SIZES B) host->guest, hashes equal" $? "$d/diag" "$d"
	[ "$npaths" -eq 8 ]
	result "$kernel kernel, $order: the NPATHS handshake opened 8 TCP paths" $? "$d/diag" "$d"
	[ "$(grep -cE '^ +[1-3]: [0-9]+ usec$' "$d/ping")" -eq 3 ]
	result "$kernel kernel, $order: rds-bpf ping answered 3 times by the kernel" $? "$d/ping" "$d"
}

# cong_scenario KERNEL: our receiver does not read for 15 s (longer than the
# guest takes to boot and send); our congestion map,
# sent on the wire, makes the kernel's nonblocking sender get ENOBUFS;
# when we drain, everything arrives.
cong_scenario() {
	local kernel=$1 g=10.98.0.1 h=10.98.0.2 d=$work/$1-cong
	mkdir -p "$d"
	vm_host_up "$d" $h || return 1
	in_host $ns env LD_PRELOAD="$RDSB_PRELOAD" "$RDSB_XFER" recv -b $h:4002 -n 300 -s 1000:4000 -S 5 \
		--rcvbuf 16384 --hold 15000 -t 100 >"$d/host-recv" 2>&1 &
	local hostpid=$!
	"$here/run-guest.sh" --netns $ns --tap vmtap --guest-addr $g/24 --host-addr $h/24 --kernel "$kernel" \
		--timeout 150 --log "$d/console" -- \
		"rds-xfer send -b $g:5002 -d $h:4002 -n 300 -s 1000:4000 -S 5 --nonblock -t 100" >"$d/guest.out" 2>&1
	local grc=$?
	wait $hostpid
	local hrc=$?
	vm_host_down "$d"
	local line sent from enobufs
	line=$(grep -E "sent [0-9]+ msgs" "$d/console" | head -n 1)
	sent=$(sed -n 's/.* hash \([0-9a-f]*\) .*/\1/p' <<<"$line")
	enobufs=$(sed -n 's/.* enobufs \([0-9]*\).*/\1/p' <<<"$line")
	from=$(grep -F "from $g:5002 msgs 300 " "$d/host-recv" | sed 's/.* hash \([0-9a-f]*\).*/\1/')
	{ echo "guest rc $grc, host rc $hrc, enobufs ${enobufs:-?}, sent $sent, received $from"; cat "$d/status" "$d/host-recv"; } >"$d/diag"
	[ $grc -eq 0 ] && [ $hrc -eq 0 ] && [ "${enobufs:-0}" -gt 0 ] && [ -n "$sent" ] && [ "$sent" = "$from" ]
	result "$kernel kernel: our congestion map makes the kernel's sender get ENOBUFS; all 300 arrive after the drain" $? "$d/diag" "$d"
}

for kernel in legacy sid; do
	if ! "$here/build-image.sh" "$kernel" >"$work/build-$kernel" 2>&1; then
		rc=$?
		[ $rc -eq 77 ] || rc=1
		result "$kernel kernel image builds from Debian packages" $rc "$work/build-$kernel"
		continue
	fi
	scenario "$kernel" 10.98.0.1 10.98.0.2
	scenario "$kernel" 10.98.0.3 10.98.0.2
	scenario "$kernel" 10.98.0.1 10.98.0.2 fd98::1 fd98::2
	cong_scenario "$kernel"
done
echo "vm: $n checks, $failed failed"
[ $failed -eq 0 ]
