#!/bin/bash
# Boot the RDS test guest (build-image.sh) with its NIC on a tap in host netns NS
# and run one scenario in it; returns the scenario's exit status.
#
#   tests/vm/run-guest.sh --netns NS --guest-addr A[/PLEN] --host-addr B[/PLEN]
#       [--guest-addr6 A6[/PLEN] --host-addr6 B6[/PLEN]] [--kernel legacy|sid]
#       [--timeout S] [--log FILE] [--tap NAME] [--ready-file FILE]
#       [--add HOSTFILE:GUESTPATH]... [--bin HOSTFILE[:GUESTPATH]]...
#       [--rds-bpf] [--no-kernel-rds] [--rdma] -- CMD...
#
# CMD runs under busybox sh in the guest (cwd /tmp, rds-xfer in PATH). A single
# argument is used verbatim as a shell snippet (so "a & b; wait" works); several
# arguments are quoted one by one. The scenario sees RDSB_GUEST_ADDR,
# RDSB_HOST_ADDR, RDSB_GUEST_ADDR6, RDSB_HOST_ADDR6 (no prefix lengths).
# --bin adds a dynamically linked program (default: the same path) with the
# shared libraries it needs (its ldd closure, from the host, which runs the
# same Debian as the guest's userland needs). --rds-bpf adds this tree's
# build (rds-bpf, librdsb, the shim, rds-xfer, rds-transport) under /opt/rds-bpf with their
# libraries (libbpf1, libxdp1, libelf1, zlib1g, libc), /opt/rds-bpf/sbin in
# PATH and RDSB_PRELOAD, RDSB_XFER set as tests/lib/hosts.sh names them.
# --no-kernel-rds leaves rds and rds_tcp unloaded, so that rds-bpf in the
# guest can listen on the RDS/TCP port.
# --rdma gives the guest soft-RoCE: rdma_rxe, ib_uverbs, rdma_ucm (and the
# kernel's rds_rdma unless --no-kernel-rds), rxe0 on eth0, the rdma tool and
# the verbs provider for rxe (libibverbs1, ibverbs-providers, librdmacm1).
# The caller creates NS. The tap gets the host addresses (default PLEN 24/64).
# --tap NAME reuses an existing tap (left as it is, not deleted) so that
# host-side daemons can bind B before the guest boots; otherwise a new tap is
# created and removed on exit. --ready-file is created once the tap is up.
# Exit: guest rc; 124 timeout; 125 harness error (no result marker).
# At the timeout the guest gets an NMI first (qemu's monitor), on which its
# kernel panics (unknown_nmi_panic) and prints where its CPU was, in a frozen
# kernel too; those lines go to LOG.nmi, not LOG, and to stderr.
# RDSB_VM_ACCEL=kvm tries KVM (it hangs on this machine: default tcg),
# RDSB_VM_SMP (1), RDSB_VM_MEM (512M), RDSB_VM_APPEND (extra kernel args),
# RDSB_VM_BZIMAGE=1 boots the bzImage rather than the kernel ELF (PVH),
# RDSB_VM_STREAM=1 copies the console to stderr as it runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ns='' gaddr='' haddr='' gaddr6='' haddr6='' kernel=legacy timeout=120 log='' tap='' ready='' adds=() bins=()
kernel_rds=1 rdma=0
usage() { sed -n '2,15p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--netns) ns=$2; shift ;;
	--guest-addr) gaddr=$2; shift ;;
	--host-addr) haddr=$2; shift ;;
	--guest-addr6) gaddr6=$2; shift ;;
	--host-addr6) haddr6=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--log) log=$2; shift ;;
	--tap) tap=$2; shift ;;
	--ready-file) ready=$2; shift ;;
	--add) adds+=("$2"); shift ;;
	--bin) bins+=("$2"); shift ;;
	--rds-bpf)
		b=$(cd "$here/../../build" && pwd)
		bins+=("$b/sbin/rds-bpf:/opt/rds-bpf/sbin/rds-bpf" "$b/tests/rds-xfer:/opt/rds-bpf/tests/rds-xfer"
		       "$b/tests/rds-transport:/opt/rds-bpf/tests/rds-transport")
		for f in "$b"/lib/librdsb*.so*; do bins+=("$f:/opt/rds-bpf/lib/${f##*/}"); done
		;;
	--no-kernel-rds) kernel_rds=0 ;;
	--rdma)
		rdma=1
		bins+=(/usr/bin/rdma:/sbin/rdma)
		for f in /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so /etc/libibverbs.d/rxe.driver; do
			[ -e "$f" ] || { echo "run-guest: --rdma: $f missing (apt-get install ibverbs-providers)" >&2; exit 125; }
			adds+=("$f:$f")
		done
		;;
	--) shift; break ;;
	*) usage ;;
	esac
	shift
done
[ -n "$ns" ] && [ -n "$gaddr" ] && [ -n "$haddr" ] && [ $# -gt 0 ] || usage
[ -e "/run/netns/$ns" ] || { echo "run-guest: netns $ns does not exist (create it first)" >&2; exit 125; }
command -v qemu-system-x86_64 >/dev/null ||
	apt-get install -y -qq -o DPkg::Lock::Timeout=600 qemu-system-x86 >&2 ||
	{ apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 qemu-system-x86 >&2; }

img=$("$here/build-image.sh" "$kernel" | tail -1)
plen() { case $1 in */*) echo "$1" ;; *) echo "$1/$2" ;; esac; }
gaddr=$(plen "$gaddr" 24) haddr=$(plen "$haddr" 24)
[ -z "$gaddr6" ] || gaddr6=$(plen "$gaddr6" 64)
[ -z "$haddr6" ] || haddr6=$(plen "$haddr6" 64)

work=$(mktemp -d)
own_tap=0 qpid='' tailpid=''
cleanup() {
	[ -z "$qpid" ] || kill -9 "$qpid" 2>/dev/null || true
	[ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null || true
	[ "$own_tap" = 0 ] || ip -n "$ns" link del "$tap" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tap in NS with the host addresses ----
if [ -n "$tap" ] && ip -n "$ns" link show "$tap" >/dev/null 2>&1; then
	: # caller-owned tap: use as is
else
	tap=${tap:-rdsbt$$}
	ip -n "$ns" tuntap add dev "$tap" mode tap
	own_tap=1
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$haddr" dev "$tap"
	[ -z "$haddr6" ] || ip -n "$ns" -6 addr add "$haddr6" dev "$tap" nodad
	ip -n "$ns" link set "$tap" up
	# A route to the guest even when its address is outside the host's prefix.
	ip -n "$ns" route replace "${gaddr%/*}" dev "$tap"
	[ -z "$gaddr6" ] || ip -n "$ns" -6 route replace "${gaddr6%/*}" dev "$tap"
fi
[ -z "$ready" ] || touch "$ready"

# ---- the scenario: a second cpio appended to the initramfs (the kernel
# unpacks concatenated archives in order), so nothing needs a shared fs ----
mkdir -p "$work/root"
if [ $# -eq 1 ]; then
	printf '%s\n' "$1" >"$work/root/scenario.sh"
else
	for a in "$@"; do printf "'%s' " "${a//\'/\'\\\'\'}"; done >"$work/root/scenario.sh"
	echo >>"$work/root/scenario.sh"
fi
# A program and the libraries it loads, at the paths the host has them
# (the dynamic loader included: ldd lists it with its absolute path).
for b in "${bins[@]}"; do
	f=${b%%:*} g=${b#*:}
	[ "$g" != "$b" ] || g=$f
	[ -e "$f" ] || { echo "run-guest: --bin $f: no such file (make all first?)" >&2; exit 125; }
	adds+=("$f:$g")
	for l in $(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		adds+=("$(readlink -f "$l"):$l")
	done
done
for a in "${adds[@]}"; do
	mkdir -p "$work/root/$(dirname "${a#*:}")"
	cp -RL "${a%%:*}" "$work/root/${a#*:}"
done
(cd "$work/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) | cat "$img/initrd.gz" - >"$work/initrd"

# ---- boot ----
log_given=0
[ -z "$log" ] || log_given=1
log=${log:-${TMPDIR:-/tmp}/rds-bpf-vm.$tap.$$.log}
mac=$(printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
# no_timer_check: a TCG guest on a loaded host can miss the kernel's IO-APIC
# timer check by a tick and panic at boot ("IO-APIC + timer doesn't work")
append="console=ttyS0 panic=-1 loglevel=4 no_timer_check unknown_nmi_panic=1 rdsb.addr=$gaddr"
append+=" rdsb.host=${haddr%/*}"
[ -z "$gaddr6" ] || append+=" rdsb.addr6=$gaddr6"
[ -z "$haddr6" ] || append+=" rdsb.host6=${haddr6%/*}"
[ $kernel_rds = 1 ] || append+=" rdsb.kernel_rds=0"
[ $rdma = 0 ] || append+=" rdsb.rdma=1"
append+=" ${RDSB_VM_APPEND:-}"
: >"$log"
echo "run-guest: kernel $(cat "$img/kver"), console log $log" >&2
# the uncompressed kernel when the image has it (PVH entry, no decompression),
# unless RDSB_VM_BZIMAGE=1
kimg=$img/vmlinux
[ -s "$kimg" ] && [ "${RDSB_VM_BZIMAGE:-0}" != 1 ] || kimg=$img/vmlinuz
start=$SECONDS
# nsenter (not ip netns exec) because the tap must be opened inside NS;
# it execs qemu, so $! is qemu's pid.
nsenter --net="/run/netns/$ns" qemu-system-x86_64 -accel "${RDSB_VM_ACCEL:-tcg}" -cpu max \
	-smp "${RDSB_VM_SMP:-1}" -m "${RDSB_VM_MEM:-512M}" -nographic -no-reboot \
	-kernel "$kimg" -initrd "$work/initrd" -append "$append" \
	-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=" \
	-monitor "unix:$work/monitor,server=on,wait=off" </dev/null >>"$log" 2>&1 &
qpid=$!
if [ "${RDSB_VM_STREAM:-0}" = 1 ]; then
	tail -n +1 -f "$log" >&2 &
	tailpid=$!
fi
# Where the guest's CPU was at a timeout: an NMI through the monitor, then up to
# 10 s for the panic's lines (qemu exits at the panic's reboot). A guest
# that prints nothing for them is stuck where an NMI cannot reach.
nmi_stacks() {
	local size i
	size=$(stat -c %s "$log")
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"nmi\n")' \
		"$work/monitor" 2>/dev/null || { echo "run-guest: no NMI (the monitor did not answer)" >&2; return; }
	for i in $(seq 100); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
	tail -c +$((size + 1)) "$log" | tr -d '\r' >"$log.nmi"
	truncate -s "$size" "$log"
	if [ -s "$log.nmi" ]; then
		echo "---- the guest at the timeout (NMI, $log.nmi) ----" >&2
		grep -v '^ *$' "$log.nmi" | head -n 60 >&2
	else
		echo "run-guest: the guest printed nothing on an NMI" >&2
	fi
}

rc='' up=''
while kill -0 "$qpid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		echo "run-guest: TIMEOUT after ${timeout}s, killing qemu" >&2
		nmi_stacks
		rc=124
		break
	fi
	# how long the boot took: until guest-init.sh's marker
	if [ -z "$up" ] && grep -q '^RDSB-VM-READY' "$log"; then
		up=$((SECONDS - start))
		echo "run-guest: guest ready after ${up}s" >&2
	fi
	sleep 0.2
done
if [ -n "$rc" ]; then
	{ kill -9 "$qpid" && wait "$qpid"; } 2>/dev/null || true # no "Killed" job notice
else
	wait "$qpid" || echo "run-guest: qemu exited with $?" >&2
fi
qpid=''
[ -z "$tailpid" ] || { sleep 0.3; kill "$tailpid"; tailpid=''; } # let tail print the last lines
rc=${rc:-$(tr -d '\r' <"$log" | sed -n 's/^RDSB-VM-RESULT rc=\([0-9]*\)$/\1/p' | tail -1)}
echo "run-guest: guest rc=${rc:-none} after $((SECONDS - start))s" >&2
if [ "${rc:-125}" != 0 ] && [ "${RDSB_VM_STREAM:-0}" != 1 ]; then
	echo "---- last console lines ($log) ----" >&2
	tail -n 30 "$log" | tr -d '\r' >&2
fi
# A log nobody asked for is only kept when something went wrong.
[ "${rc:-125}" != 0 ] || [ "$log_given" = 1 ] || rm -f "$log"
exit "${rc:-125}"
