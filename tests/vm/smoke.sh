#!/bin/bash
# Proves the VM harness: boots the legacy guest and, inside it, runs rds-xfer
# against the guest kernel's own RDS (guest address to itself = the kernel's
# loopback transport) over IPv4 and IPv6, 100 messages of 0..65536 bytes each,
# plus an echo/pingpong round, and checks that sender and receiver hashes match.
# It also pings the host side of the tap, which later host<->guest scenarios need.
#   tests/vm/smoke.sh [legacy|sid]
# Exit 0 pass, 1 fail, 77 skip (qemu or tap cannot work on this machine).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel=${1:-legacy}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (netns, tap)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v qemu-system-x86_64 >/dev/null ||
	apt-get install -y -qq -o DPkg::Lock::Timeout=600 qemu-system-x86 >/dev/null 2>&1 ||
	{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq -o DPkg::Lock::Timeout=600 qemu-system-x86 >/dev/null 2>&1; } ||
	skip "qemu-system-x86 cannot be installed"
qemu-system-x86_64 -accel tcg -machine none -nographic -S -monitor none </dev/null >/dev/null 2>&1 &
qpid=$!
sleep 0.5
kill -0 "$qpid" 2>/dev/null || { wait "$qpid" || true; skip "qemu-system-x86_64 -accel tcg does not start"; }
kill "$qpid"
wait "$qpid" 2>/dev/null || true

rc=0
"$here/build-image.sh" "$kernel" >/dev/null || rc=$?
[ "$rc" = 77 ] && skip "image for $kernel cannot be built (see above)"
[ "$rc" = 0 ] || { echo "FAIL: build-image.sh $kernel exited $rc"; exit 1; }

ns=rdsb-smoke-$$
log=${TMPDIR:-/tmp}/rds-bpf-vm-smoke.$$.log
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT

# Runs in the guest (busybox sh). xfer ADDR checks one recv/send pair:
# recv must be bound before send starts (RDS drops datagrams for unbound ports).
scenario='
set -e
xfer() {
	rm -f ready
	rds-xfer recv -b "$1:4001" -n 100 -s 0:65536 -S 7 -t 30 --senders 1 --ready ready >recv.out &
	r=$!
	while [ ! -e ready ]; do kill -0 $r; sleep 0.05; done
	rds-xfer send -b "$1:4000" -d "$1:4001" -n 100 -s 0:65536 -S 7 -t 30 >send.out
	wait $r
	cat send.out recv.out
	s=$(awk "{print \$7}" send.out)
	h=$(awk "/^from /{print \$8}" recv.out)
	[ -n "$s" ] && [ "$s" = "$h" ] && echo "SMOKE-HASH-OK $1 $s"
}
ping -c1 -W5 "$RDSB_HOST_ADDR" >/dev/null && echo "SMOKE-PING-OK"
xfer "$RDSB_GUEST_ADDR"
xfer "[$RDSB_GUEST_ADDR6]"
rds-xfer echo -b "$RDSB_GUEST_ADDR:4002" -n 50 -t 30 --ready ready2 &
e=$!
while [ ! -e ready2 ]; do kill -0 $e; sleep 0.05; done
rds-xfer pingpong -b "$RDSB_GUEST_ADDR:4003" -d "$RDSB_GUEST_ADDR:4002" -n 50 -s 1000 -t 30
wait $e
'
start=$SECONDS
rc=0
"$here/run-guest.sh" --netns "$ns" --kernel "$kernel" --timeout 120 --log "$log" \
	--guest-addr 10.251.0.2 --host-addr 10.251.0.1 --guest-addr6 fd00:251::2 --host-addr6 fd00:251::1 \
	-- "$scenario" || rc=$?
# Double-check from the host side too: both hash lines and the ping must be there.
ok=$(tr -d '\r' <"$log" | grep -c -E '^SMOKE-(HASH|PING)-OK' || true)
if [ "$rc" = 0 ] && [ "$ok" = 3 ]; then
	tr -d '\r' <"$log" | grep -E '^(SMOKE-|RDSB-VM-READY|pingpong )'
	echo "PASS: vm smoke ($kernel) in $((SECONDS - start))s"
	rm -f "$log"
	exit 0
fi
echo "FAIL: vm smoke ($kernel): guest rc=$rc, $ok/3 checks ok, log $log"
exit 1
