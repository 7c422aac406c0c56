#!/bin/bash
# A clean Debian 12 root for the package test (tests/bats/package.bats):
#   tests/lib/deb-root.sh          prints the root's directory (built once)
# debootstrap --variant=minbase of bookworm, plus man-db (to read the pages)
# and, in its apt cache, the libraries rds-bpf depends on, so installing the
# package later needs no download. Cached in ${RDSB_DEB_CACHE:-/var/cache/rds-bpf-deb}:
# building it takes minutes, using it (an overlay per test) takes none.
# Exit 77 = cannot be built here (reason on stderr), e.g. no mirror.
set -euo pipefail

cache=${RDSB_DEB_CACHE:-/var/cache/rds-bpf-deb}
# what the package pulls in (librdsb0's and rds-bpf's shlibs), fetched once;
# a root per list, so that trees with different lists do not rebuild each other's
deps="libbpf1 libxdp1 libelf1 zlib1g libpcap0.8 libibverbs1 librdmacm1"
root=$cache/bookworm-$(echo "$deps" | sha256sum | cut -c1-8)
log() { echo "deb-root: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

mkdir -p "$cache"
exec 9>"$cache/.lock" # parallel test jobs share one root: build once
flock 9
if [ -e "$root/.complete" ] && [ "$(cat "$root/.complete")" = "$deps" ]; then
	echo "$root"
	exit 0
fi
command -v debootstrap >/dev/null || skip "debootstrap is not installed (tools/install-deps.sh)"
mirror=$(awk '/^URIs:/{u=$2} /^Suites:.*bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
rm -rf "$root" "$root.new"
log "debootstrap bookworm into $root (once; takes a few minutes)"
debootstrap --variant=minbase --include=man-db bookworm "$root.new" "${mirror:-http://deb.debian.org/debian}" \
	>"$cache/debootstrap.log" 2>&1 || skip "debootstrap failed: $(tail -n 1 "$cache/debootstrap.log")"
cp /etc/resolv.conf "$root.new/etc/resolv.conf"
chroot "$root.new" apt-get update -qq >&2 || skip "apt-get update in the root failed"
# shellcheck disable=SC2086
chroot "$root.new" apt-get install -y -qq --download-only $deps >&2 || skip "could not fetch $deps"
: >"$root.new/etc/resolv.conf"
echo "$deps" >"$root.new/.complete"
mv "$root.new" "$root"
echo "$root"
