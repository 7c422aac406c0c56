#!/usr/bin/env bash
# Installs what rds-bpf needs to build and test, from Debian's packages.
set -euo pipefail
pkgs=(build-essential clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
      bats iproute2 iperf3 tcpdump python3 jq util-linux procps strace
      qemu-system-x86 busybox-static cpio kmod groff-base man-db libxdp-dev gnuplot-nox
      libpcap-dev tshark debhelper dpkg-dev fakeroot lintian debootstrap libcmocka-dev
      libclang-rt-14-dev libibverbs-dev librdmacm-dev ibverbs-providers gdb)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
