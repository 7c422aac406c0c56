#!/bin/sh
# PID 1 of the rds-bpf test guest (busybox sh; build-image.sh copies it to /init).
# It brings up a kernel RDS/TCP peer, runs /scenario.sh (appended to the
# initramfs by run-guest.sh) and powers off. The host only sees the serial
# console, so everything important is a marker line:
#   RDSB-VM-READY kernel=...   the guest is configured and the scenario starts
#   RDSB-VM-RESULT rc=N        the scenario's exit status (run-guest.sh returns N)
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

# Config comes from the kernel command line (run-guest.sh sets it):
# rdsb.addr=A/PLEN rdsb.host=B rdsb.addr6=A6/PLEN rdsb.host6=B6, and
# rdsb.kernel_rds=0 to leave the kernel's RDS out (rds-bpf runs here),
# rdsb.rdma=1 for soft-RoCE on eth0 (rxe0; run-guest.sh --rdma adds the tools)
KERNEL_RDS=1 RDMA=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rdsb.addr=*) ADDR=${arg#*=} ;;
	rdsb.host=*) HOST=${arg#*=} ;;
	rdsb.addr6=*) ADDR6=${arg#*=} ;;
	rdsb.host6=*) HOST6=${arg#*=} ;;
	rdsb.kernel_rds=*) KERNEL_RDS=${arg#*=} ;;
	rdsb.rdma=*) RDMA=${arg#*=} ;;
	esac
done

# Modules in dependency order, as computed on the host by modprobe --show-depends.
for m in $(cat /lib/modules/load.list); do
	case "$KERNEL_RDS$m" in 0rds*) continue ;; esac
	insmod "/lib/modules/$m" || echo "RDSB-VM: insmod $m failed"
done

# For rds-bpf, when run-guest.sh --rds-bpf put it in /opt/rds-bpf: bpffs
# (load mounts it), cgroup v2 for its sock_ops program, /dev/shm.
if [ -d /opt/rds-bpf ]; then
	mkdir -p /sys/fs/cgroup /dev/shm
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	mount -t tmpfs shm /dev/shm
	export PATH=/opt/rds-bpf/sbin:$PATH RDSB_PRELOAD=/opt/rds-bpf/lib/librdsb-preload.so \
		RDSB_XFER=/opt/rds-bpf/tests/rds-xfer
fi
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
if [ -n "${ADDR:-}" ]; then
	ip addr add "$ADDR" dev eth0
	# An explicit host route, so the host address need not share the prefix.
	[ -n "${HOST:-}" ] && ip route add "$HOST" dev eth0 2>/dev/null
fi
if [ -n "${ADDR6:-}" ]; then
	# No duplicate address detection: the address must be usable at once.
	echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad
	ip -6 addr add "$ADDR6" dev eth0
	[ -n "${HOST6:-}" ] && ip -6 route add "$HOST6" dev eth0 2>/dev/null
fi
# soft-RoCE: rxe0 on eth0, and the kernel's RDS/IB unless rds-bpf runs here
if [ "$RDMA" = 1 ]; then
	for m in $(cat /lib/modules/rdma.list); do
		case "$KERNEL_RDS$m" in 0rds*) continue ;; esac
		insmod "/lib/modules/$m" || echo "RDSB-VM: insmod $m failed"
	done
	rdma link add rxe0 type rxe netdev eth0 || echo "RDSB-VM: rdma link add rxe0 failed"
fi
# Let rds-xfer --sndbuf/--rcvbuf ask for up to 64 MiB (1 MiB messages need
# sk_sndbuf > 2 MiB since RDS only uses half of it).
echo 67108864 >/proc/sys/net/core/wmem_max
echo 67108864 >/proc/sys/net/core/rmem_max

# What scenarios can use, without the prefix lengths.
export RDSB_GUEST_ADDR=${ADDR%/*} RDSB_HOST_ADDR=${HOST:-} RDSB_GUEST_ADDR6=${ADDR6%/*} RDSB_HOST_ADDR6=${HOST6:-}
echo
echo "RDSB-VM-READY kernel=$(uname -r) addr=${ADDR:-} addr6=${ADDR6:-} modules=$(lsmod | grep -c '^rds')"
cd /tmp || exit 1
sh /scenario.sh </dev/null
rc=$?
# A newline first: the scenario output may not end with one.
echo
echo "RDSB-VM-RESULT rc=$rc"
sync
poweroff -f
# poweroff needs ACPI; if it did not work, a sysrq power-off will.
echo o >/proc/sysrq-trigger
