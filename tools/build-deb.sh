#!/usr/bin/env bash
# make deb: rds-bpf_VERSION_ARCH.deb, librdsb0 and librdsb-dev, built by
# dpkg-buildpackage (debian/) from a copy of the tree, then checked by lintian.
#   tools/build-deb.sh OUTDIR
# The packages, .buildinfo, .changes and lintian.txt land in OUTDIR; the tree
# itself stays as it is. Exit 1 if the build fails or lintian finds an error.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "$1" && cd "$1" && pwd)
version=$(cat VERSION)
deb_version=$(dpkg-parsechangelog -S Version)
if [ "$deb_version" != "$version" ]; then
	echo "make deb: debian/changelog is at $deb_version, VERSION at $version (add an entry: dch -v $version)" >&2
	exit 1
fi
for t in dpkg-buildpackage dh lintian; do
	command -v $t >/dev/null || { echo "make deb: $t is missing (make deps installs it)" >&2; exit 1; }
done
src=$out/rds-bpf-$version
rm -rf "$src" "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$src"
# the sources, without this tree's build output
tar -c --exclude=./build --exclude=./.git --exclude='./debian/.debhelper' . | tar -x -C "$src"
# a build of its own: not a sub-make of `make deb` (its flags, its jobserver)
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b -j"$(nproc)") \
	>"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	echo "make deb: dpkg-buildpackage failed (the whole log: $out/build.log)" >&2
	exit 1
}
rm -rf "$src"
changes=$out/rds-bpf_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
rc=0
lintian --info "$changes" >"$out/lintian.txt" 2>&1 || rc=$?
cat "$out/lintian.txt"
ls "$out"/*.deb
exit $rc
