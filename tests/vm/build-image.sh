#!/bin/bash
# Build a qemu guest image with a real kernel RDS/TCP peer, for run-guest.sh:
#   tests/vm/build-image.sh [legacy|sid]
# legacy = Debian bookworm's 6.1 kernel (legacy RDS/TCP: NPATHS only),
# sid    = Debian sid's current kernel (7.x: the 2026 RDS/TCP series).
# Output (the directory is printed as the last stdout line):
#   ${RDSB_VM_CACHE:-/var/cache/rds-bpf-vm}/FLAVOR/{vmlinuz,vmlinux,initrd.gz,kver}
# (vmlinux: the kernel ELF from vmlinuz, when it has a PVH entry)
# Only Debian packages are used. The kernel .deb is downloaded once and cached;
# the initramfs is rebuilt whenever this script, guest-init.sh, rds-xfer.c or
# msggen.h changes (it takes seconds). RDSB_VM_REFRESH=1 re-picks the newest kernel.
# RDSB_VM_MODULES adds modules (e.g. "rdma_rxe rds_rdma"); deps are resolved.
# Exit 77 = cannot be built here (reason on stderr), e.g. sid unreachable.
set -euo pipefail

flavor=${1:-legacy}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cache=${RDSB_VM_CACHE:-/var/cache/rds-bpf-vm}
out=$cache/$flavor
modules="virtio_pci virtio_net rds rds_tcp ${RDSB_VM_MODULES:-}"
log() { echo "build-image[$flavor]: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
case $flavor in legacy | sid) ;; *) echo "usage: $0 [legacy|sid]" >&2; exit 2 ;; esac

# Install missing tools. Other jobs may be using apt at the same time: wait for the lock.
apt_install() {
	local q=(-y -qq -o DPkg::Lock::Timeout=600)
	apt-get install "${q[@]}" "$@" >&2 || { apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 && apt-get install "${q[@]}" "$@" >&2; }
}
pkgs=()
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
for t in cpio:cpio modprobe:kmod gcc:gcc xz:xz-utils zstd:zstd gzip:gzip flock:util-linux; do
	command -v "${t%%:*}" >/dev/null || pkgs+=("${t#*:}")
done
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || pkgs+=(libc6-dev)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

mkdir -p "$out" "$cache/debs"
exec 9>"$out/.lock" # parallel test jobs share one cache: build once
flock 9

# ---- pick and download the kernel package (cached) ----
aptopts=()
if [ "$flavor" = sid ]; then
	# sid's lists go to a private directory (Dir::Cache too, so the machine's
	# pkgcache.bin never sees sid); the machine's sources stay untouched. Mirror
	# and keyring are copied from the bookworm entry of /etc/apt/sources.list.d.
	priv=$cache/sid-apt
	mkdir -p "$priv/sources.list.d" "$priv/lists/partial" "$priv/cache/archives/partial"
	uri=$(awk '/^URIs:/{u=$2} /^Suites:.*bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	key=$(awk '/^Signed-By:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nArchitectures: amd64\nSigned-By: %s\n' \
		"${uri:-http://deb.debian.org/debian}" "${key:-/usr/share/keyrings/debian-archive-keyring.gpg}" \
		>"$priv/sources.list.d/sid.sources"
	aptopts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$priv/sources.list.d"
		-o Dir::State::Lists="$priv/lists" -o Dir::Cache="$priv/cache" -o Acquire::Languages=none -o APT::Sandbox::User=root)
fi
# $out/debs lists the cached kernel package(s): one for bookworm; sid (7.x)
# splits the kernel into linux-binary (vmlinuz), linux-modules and linux-base.
debs=$(cat "$out/debs" 2>/dev/null || true)
have=1
for d in $debs; do [ -s "$d" ] || have=0; done
if [ -z "$debs" ] || [ $have = 0 ] || [ "${RDSB_VM_REFRESH:-0}" = 1 ]; then
	if [ "$flavor" = sid ]; then
		err=$(apt-get "${aptopts[@]}" -qq update 2>&1) || skip "apt-get update of sid failed: $(echo "$err" | tail -3 | tr '\n' ' ')"
		# linux-image-amd64 depends on the current ABI's linux-image-VER.
		img=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
		[ -n "$img" ] || skip "no linux-image-amd64 dependency in sid's package lists"
		pkgs=()
		for p in linux-binary linux-modules linux-base; do
			apt-cache "${aptopts[@]}" show "$p-${img#linux-image-}" >/dev/null 2>&1 && pkgs+=("$p-${img#linux-image-}")
		done
		[ ${#pkgs[@]} -gt 0 ] || pkgs=("$img") # not split (older layout)
	else
		pick() { apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -1; }
		pkg=$(pick)
		[ -n "$pkg" ] || { apt-get update -qq -o DPkg::Lock::Timeout=600 >&2; pkg=$(pick); }
		[ -n "$pkg" ] || { log "no linux-image-6.1.0-*-amd64-unsigned in apt-cache"; exit 1; }
		pkgs=("$pkg")
	fi
	log "downloading ${pkgs[*]}"
	(cd "$cache/debs" && apt-get "${aptopts[@]}" -o APT::Sandbox::User=root -qq download "${pkgs[@]}" >&2) ||
		{ [ "$flavor" = sid ] && skip "apt-get download ${pkgs[*]} failed"; exit 1; }
	debs=$(for p in "${pkgs[@]}"; do ls -t "$cache/debs/${p}_"*.deb | head -1; done)
	echo "$debs" >"$out/debs"
fi

# ---- rebuild the initramfs only when an input changed ----
stamp=$(cat "$0" "$here/guest-init.sh" "$src/tests/tools/rds-xfer.c" "$src/tests/tools/msggen.h" <(echo "$debs $modules") | sha256sum | cut -c1-16)
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$out"
	exit 0
fi
log "building image from $(for d in $debs; do basename "$d"; done | tr '\n' ' ')"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for d in $debs; do dpkg-deb -x "$d" "$work/pkg"; done
# bookworm ships /lib/modules, sid /usr/lib/modules; depmod -b wants BASE/lib/modules.
moddir=$(find "$work/pkg" -type d -path '*/modules/*' -prune -name '[0-9]*' | head -1)
[ -n "$moddir" ] || { log "no modules directory in $debs"; exit 1; }
kver=$(basename "$moddir")
mkdir -p "$work/base/lib/modules"
mv "$moddir" "$work/base/lib/modules/$kver"
depmod -b "$work/base" "$kver" # the .deb has no modules.dep (postinst makes it)

root=$work/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
# add_modules LIST MODULE...: each module and its dependencies, plain .ko,
# their names in load order in LIST (those already in an earlier list left out)
add_modules() {
	local list=$1
	shift
	: >"$list"
	for m in "$@"; do
		# "insmod PATH" lines in load order, or "builtin NAME" (nothing to load).
		modprobe -d "$work/base" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
	done | awk '!seen[$0]++' | while read -r path; do
		name=$(basename "$path")
		name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
		[ ! -e "$root/lib/modules/$name" ] || continue
		# busybox insmod wants a plain .ko: decompress here.
		case $path in
		*.xz) xz -dc "$path" ;; *.zst) zstd -qdc "$path" ;; *.gz) gzip -dc "$path" ;; *) cat "$path" ;;
		esac >"$root/lib/modules/$name"
		echo "$name" >>"$list"
	done
}
# shellcheck disable=SC2086 # lists of module names
add_modules "$root/lib/modules/load.list" $modules
# soft-RoCE and the kernel's RDS/IB, loaded only by guests booted with rdsb.rdma=1
# (rdma_rxe asks the crypto API for "crc32" by name: no module dependency;
# 7.x kernels have it built in)
rdma_mods="rdma_rxe ib_uverbs rdma_ucm rds_rdma"
! modprobe -d "$work/base" -S "$kver" --show-depends crc32_generic >/dev/null 2>&1 || rdma_mods="crc32_generic $rdma_mods"
# shellcheck disable=SC2086
add_modules "$root/lib/modules/rdma.list" $rdma_mods
grep -q '^rds_tcp.ko$' "$root/lib/modules/load.list" || { log "rds_tcp.ko not found in $kver"; exit 1; }
log "modules: $(tr '\n' ' ' <"$root/lib/modules/load.list"); for rdsb.rdma=1: $(tr '\n' ' ' <"$root/lib/modules/rdma.list")"

cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 755 "$here/guest-init.sh" "$root/init"
gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/rds-xfer" "$src/tests/tools/rds-xfer.c"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.gz"
# bookworm: /boot/vmlinuz-KVER; sid: modules/KVER/vmlinuz (moved to base above).
find "$work/pkg" "$work/base" \( -name "vmlinuz-$kver" -o -path "*/$kver/vmlinuz" \) -exec cp {} "$work/vmlinuz" \;
[ -s "$work/vmlinuz" ] || { log "no vmlinuz-$kver in $debs"; exit 1; }
# The kernel ELF inside the bzImage, booted directly through its PVH entry:
# TCG spends 7 of a 6.1 guest's 13 s of boot decompressing xz. The payload's
# offset and length are in the setup header (Documentation/arch/x86/boot.rst),
# counted from the protected-mode code after the setup sectors.
vmlinux_of() {	# BZIMAGE OUT: false when there is none with a PVH entry
	local setup off len
	setup=$(od -An -tu1 -j 0x1f1 -N1 "$1" | tr -d ' ')
	off=$(od -An -tu4 -j 0x248 -N4 "$1" | tr -d ' ')
	len=$(od -An -tu4 -j 0x24c -N4 "$1" | tr -d ' ')
	tail -c +$(((${setup:-0} + 1) * 512 + off + 1)) "$1" | head -c "$len" >"$2.z"
	case $(od -An -tx1 -N4 "$2.z" | tr -d ' ') in
	fd377a58) xz -dc "$2.z" ;; 28b52ffd) zstd -qdc "$2.z" ;; 1f8b08*) gzip -dc "$2.z" ;; *) false ;;
	esac >"$2" 2>/dev/null || true
	rm -f "$2.z"
	# XEN_ELFNOTE_PHYS32_ENTRY (18): what qemu needs to boot an ELF kernel
	readelf -n "$2" 2>/dev/null | grep -qE '^ +Xen +0x[0-9a-f]+[[:space:]]+.*(0x00000012|PHYS32)'
}
vmlinux_of "$work/vmlinuz" "$work/vmlinux" || { log "no PVH kernel in vmlinuz-$kver: booting the bzImage"; rm -f "$work/vmlinux"; }

mv "$work/vmlinuz" "$out/vmlinuz"
rm -f "$out/vmlinux"
[ ! -s "$work/vmlinux" ] || mv "$work/vmlinux" "$out/vmlinux"
mv "$work/initrd.gz" "$out/initrd.gz"
echo "$kver" >"$out/kver"
echo "$stamp" >"$out/stamp"
log "kernel $kver ready in $out"
echo "$out"
