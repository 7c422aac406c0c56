#!/usr/bin/env bats
# The release: one version everywhere, librdsb's versioned ABI, `make deb`
# (lintian-clean), the packages installed into a clean Debian 12 root and
# purged without a trace, and the demo and the benchmarks run from the
# package's binaries. The root is a cached debootstrap (tests/lib/deb-root.sh);
# each test gets an overlay of it.

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
VERSION=$(cat "$ROOT/VERSION")
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

setup_file() {
	# built once for every test of the file
	make -C "$ROOT" -s deb DEBDIR="$BATS_FILE_TMPDIR/deb" >"$BATS_FILE_TMPDIR/make-deb.out" 2>&1 ||
		echo $? >"$BATS_FILE_TMPDIR/make-deb.failed"
}

setup() {
	DEB=$BATS_FILE_TMPDIR/deb
	if [ -e "$BATS_FILE_TMPDIR/make-deb.failed" ]; then
		cat "$BATS_FILE_TMPDIR/make-deb.out"
		false
	fi
}

teardown() {
	[ -z "${CHROOT:-}" ] && return 0
	umount "$CHROOT/proc" 2>/dev/null || true
	umount "$CHROOT" 2>/dev/null || umount -l "$CHROOT" || true
}

@test "one version: VERSION in rds-bpf --version, pkg-config, the man pages and debian/changelog" {
	[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
	[ "$("$ROOT/build/sbin/rds-bpf" --version | head -n 1)" = "rds-bpf $VERSION" ]
	[ "$(cd "$ROOT" && dpkg-parsechangelog -S Version)" = "$VERSION" ]
	dest=$BATS_TEST_TMPDIR/dest
	make -C "$ROOT" -s install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
	[ "$(PKG_CONFIG_PATH=$dest/usr/local/lib/pkgconfig pkg-config --modversion rds-bpf)" = "$VERSION" ]
	n=0
	for m in "$dest"/usr/local/share/man/man*/*; do
		head -n 1 "$m" | grep -qF "\"rds-bpf $VERSION\""
		n=$((n + 1))
	done
	[ "$n" -eq 4 ]
	# nothing else writes the version down
	v=${VERSION//./\\.}
	run grep -rnE "(^|[^0-9.])$v([^0-9.]|\$)" "$ROOT"/tools "$ROOT"/include "$ROOT"/docs/man "$ROOT"/rds-bpf.pc.in \
		"$ROOT/Makefile" "$ROOT/dist"
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "librdsb: every exported symbol is rdsb_* and versioned LIBRDSB_0.1, as debian/librdsb0.symbols lists" {
	lib=$ROOT/build/lib/librdsb.so.0
	# defined dynamic symbols: name and version (objdump -T: ... VERSION NAME)
	# (the version's own definition is an absolute symbol named after it)
	syms=$(objdump -T "$lib" | awk '$2 == "g" && $4 != "*UND*" && $4 != "*ABS*" {print $(NF - 1), $NF}')
	echo "$syms"
	[ "$(grep -c . <<<"$syms")" -ge 15 ]
	run grep -v '^LIBRDSB_0\.1 rdsb_[a-z_]*$' <<<"$syms"
	[ "$status" -eq 1 ]
	# and nothing else leaves the library (nm: no global that is not rdsb_*)
	run sh -c "nm -D --defined-only '$lib' | awk '\$2 ~ /[A-Z]/ && \$3 !~ /^rdsb_[a-z_]*@@LIBRDSB_0.1\$/ && \$3 != \"LIBRDSB_0.1\"'"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# every call of the public header is exported
	for fn in $(grep -o 'rdsb_[a-z_]*(' "$ROOT/include/rds-bpf/rds.h" | tr -d '(' | sort -u); do
		grep -qx "LIBRDSB_0.1 $fn" <<<"$syms"
	done
	# the symbols file of the package: the same list
	[ "$(sed -n 's/^ \(rdsb_[a-z_]*\)@LIBRDSB_0.1 .*/\1/p' "$ROOT/debian/librdsb0.symbols" | sort)" = \
		"$(awk '{print $2}' <<<"$syms" | sort)" ]
}

@test "make deb: rds-bpf, librdsb0 and librdsb-dev, the files split the Debian way, lintian without an error" {
	cat "$DEB/lintian.txt"
	run grep -E '^(E|W):' "$DEB/lintian.txt"
	[ "$status" -eq 1 ]
	for p in rds-bpf librdsb0 librdsb-dev; do
		[ -f "$DEB/${p}_${VERSION}_$ARCH.deb" ]
		[ "$(dpkg-deb -f "$DEB/${p}_${VERSION}_$ARCH.deb" Version)" = "$VERSION" ]
	done
	files() { dpkg-deb -c "$DEB/${1}_${VERSION}_$ARCH.deb" | awk '{print $6}' | grep -v '/$' | grep -v '^./usr/share/doc/'; }
	[ "$(files rds-bpf | sort)" = "$(sort <<EOF2
./lib/systemd/system/rds-bpf.service
./usr/lib/$MULTIARCH/rds-bpf/librdsb-preload.so
./usr/lib/$MULTIARCH/wireshark/plugins/rds.lua
./usr/sbin/rds-bpf
./usr/sbin/rds-dissect
./usr/share/man/man8/librdsb-preload.8.gz
./usr/share/man/man8/rds-bpf.8.gz
./usr/share/man/man8/rds-dissect.8.gz
./usr/share/lintian/overrides/rds-bpf
EOF2
)" ]
	[ "$(files librdsb0)" = "./usr/lib/$MULTIARCH/librdsb.so.0" ]
	[ "$(files librdsb-dev | sort | tr '\n' ' ')" = "./usr/include/rds-bpf/info.h ./usr/include/rds-bpf/maps.h ./usr/include/rds-bpf/rds.h ./usr/include/rds-bpf/rules.h ./usr/include/rds-bpf/wire.h ./usr/include/rds-bpf/xdp.h ./usr/lib/$MULTIARCH/librdsb.so ./usr/lib/$MULTIARCH/pkgconfig/rds-bpf.pc ./usr/share/man/man3/librdsb.3.gz " ]
	dpkg-deb -f "$DEB/librdsb-dev_${VERSION}_$ARCH.deb" Depends | grep -qx "librdsb0 (= $VERSION)"
	# the Lua dissector goes where this Wireshark looks for global Lua plugins
	if command -v tshark; then
		[ "$(tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:\s*//p')" = "/usr/lib/$MULTIARCH/wireshark/plugins" ]
	fi
}

@test "a clean Debian 12 root: the packages install, rds-bpf --version and man rds-bpf work, purge leaves nothing" {
	rc=0
	base=$("$ROOT/tests/lib/deb-root.sh") || rc=$?
	[ "$rc" -ne 77 ] || skip "no Debian 12 root here (tests/lib/deb-root.sh)"
	[ "$rc" -eq 0 ]
	mkdir -p "$BATS_TEST_TMPDIR"/{upper,work,root}
	CHROOT=$BATS_TEST_TMPDIR/root
	# an overlay leaves the cached root as it is; where /tmp cannot carry one, a copy
	mount -t overlay overlay -o "lowerdir=$base,upperdir=$BATS_TEST_TMPDIR/upper,workdir=$BATS_TEST_TMPDIR/work" \
		"$CHROOT" 2>/dev/null || cp -a "$base/." "$CHROOT"
	mount -t proc proc "$CHROOT/proc"
	# everything but apt's and dpkg's bookkeeping, caches and logs, and
	# adduser's (libibverbs1's postinst adds the system group rdma: adduser
	# leaves its backup /etc/gshadow- and its lock directory /run/adduser)
	tree() {
		chroot "$CHROOT" find / -xdev \( -path /proc -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
			-o -path /var/log -o -path /tmp -o -path /root -o -path /etc/gshadow- -o -path /run/adduser \) -prune \
			-o -print | sort
	}
	tree >"$BATS_TEST_TMPDIR/before"
	mkdir "$CHROOT/debs"
	cp "$DEB"/{rds-bpf,librdsb0,librdsb-dev}_"${VERSION}_$ARCH".deb "$CHROOT/debs/"
	run chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		/debs/rds-bpf_"${VERSION}_$ARCH".deb /debs/librdsb0_"${VERSION}_$ARCH".deb /debs/librdsb-dev_"${VERSION}_$ARCH".deb
	echo "$output" | tail -n 20
	[ "$status" -eq 0 ]
	rm -r "$CHROOT/debs"
	run chroot "$CHROOT" rds-bpf --version
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "rds-bpf $VERSION" ]
	grep -q "^libbpf 1\.[0-9]* (/usr/lib/$MULTIARCH/libbpf.so.1" <<<"$output"
	run chroot "$CHROOT" env MANWIDTH=80 man rds-bpf
	[ "$status" -eq 0 ]
	grep -q 'rds-bpf - Reliable Datagram Sockets without the kernel module' <<<"$output"
	grep -q "rds-bpf $VERSION" <<<"$output"
	chroot "$CHROOT" env MANWIDTH=80 man 8 rds-dissect | grep -q 'rds-dissect - RDS/TCP records'
	chroot "$CHROOT" env MANWIDTH=80 man 3 librdsb >/dev/null
	chroot "$CHROOT" rds-dissect --help | grep -q '^usage: rds-dissect'
	[ -f "$CHROOT/usr/lib/$MULTIARCH/wireshark/plugins/rds.lua" ]
	[ -f "$CHROOT/lib/systemd/system/rds-bpf.service" ]
	grep -qx 'ExecStart=/usr/sbin/rds-bpf load --foreground' "$CHROOT/lib/systemd/system/rds-bpf.service"
	chroot "$CHROOT" sh -c "LD_PRELOAD=/usr/lib/$MULTIARCH/rds-bpf/librdsb-preload.so true"
	# purged, with what apt pulled in for them: the tree as it was
	run chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --autoremove rds-bpf librdsb0 librdsb-dev
	echo "$output" | tail -n 5
	[ "$status" -eq 0 ]
	[ -z "$(chroot "$CHROOT" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | grep -v '^ii ')" ]
	tree >"$BATS_TEST_TMPDIR/after"
	diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}

# RDSB_BIN and RDSB_PRELOAD (tests/lib/hosts.sh) choose the programs; here, a
# wrapper logs each use of the package's rds-bpf, so the run proves it was used
@test "make demo and make bench with the package's rds-bpf and shim" {
	x=$BATS_TEST_TMPDIR/pkg
	for p in rds-bpf librdsb0; do dpkg-deb -x "$DEB/${p}_${VERSION}_$ARCH.deb" "$x"; done
	printf '#!/bin/sh\necho "$*" >>%s\nexec %s "$@"\n' "$BATS_TEST_TMPDIR/used" "$x/usr/sbin/rds-bpf" >"$x/rds-bpf"
	chmod +x "$x/rds-bpf"
	export RDSB_BIN=$x/rds-bpf RDSB_PRELOAD=$x/usr/lib/$MULTIARCH/rds-bpf/librdsb-preload.so
	run make -C "$ROOT" -s demo
	echo "$output" | tail -n 20
	[ "$status" -eq 0 ]
	grep -q 'datagrams/s' <<<"$output"
	[ "$(grep -c '^load' "$BATS_TEST_TMPDIR/used")" -eq 2 ]
	run env BENCH_SECS=1 BENCH_SIZES=64 BENCH_PATHS=1 BENCH_ENGINES=user BENCH_OUT="$BATS_TEST_TMPDIR/bench" \
		make -C "$ROOT" -s bench
	echo "$output" | tail -n 20
	[ "$status" -eq 0 ]
	grep -q '^rate,user,1,64,[0-9]' "$BATS_TEST_TMPDIR/bench/results.csv"
	[ "$(grep -c '^stress' "$BATS_TEST_TMPDIR/used")" -ge 2 ]
	# and neither script reaches for the tree's rds-bpf or shim behind the variables
	run grep -nE 'build/(sbin|lib)/' "$ROOT/tools/demo.sh" "$ROOT/tools/bench.sh"
	[ "$status" -eq 1 ]
}
