#!/usr/bin/env bash
# Writes vmlinux.h for BPF programs that need CO-RE, from the running
# kernel's BTF. The programs built today use only UAPI headers.
set -euo pipefail
out=${1:-build/bpf/vmlinux.h}
mkdir -p "$(dirname "$out")"
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "vmlinux.h-gen: this kernel has no BTF (/sys/kernel/btf/vmlinux); hint: CONFIG_DEBUG_INFO_BTF=y" >&2
	exit 1
fi
bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$out"
