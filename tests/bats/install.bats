#!/usr/bin/env bats
# make install: the man pages render without a warning and name every
# subcommand; the systemd unit passes systemd-analyze verify.

ROOT=$BATS_TEST_DIRNAME/../..

setup() {
	DEST=$BATS_TEST_TMPDIR/dest
	make -C "$ROOT" -s install DESTDIR="$DEST" PREFIX=/usr/local >/dev/null
	MAN=$DEST/usr/local/share/man
}

@test "man pages: installed, no groff warning, every subcommand and call documented" {
	for p in man8/rds-bpf.8 man3/librdsb.3 man8/librdsb-preload.8 man8/rds-dissect.8; do
		[ -f "$MAN/$p" ]
		run sh -c "groff -man -Tutf8 -ww '$MAN/$p' 2>&1 >/dev/null"
		echo "$p: $output"
		[ -z "$output" ]
		MANWIDTH=100 man -l "$MAN/$p" >/dev/null
	done
	page=$(MANWIDTH=200 man -l "$MAN/man8/rds-bpf.8" 2>/dev/null)
	# every command of the CLI's usage has its entry
	for cmd in $("$ROOT/build/sbin/rds-bpf" --help | sed -n 's/^  \([a-z]\+\).*/\1/p'); do
		grep -qE "^ +$cmd( |$)" <<<"$page"
	done
	# every rdsb_ call of the public header, in the library's page
	lib=$(MANWIDTH=200 man -l "$MAN/man3/librdsb.3" 2>/dev/null)
	for fn in $(grep -o 'rdsb_[a-z]*(' "$ROOT/include/rds-bpf/rds.h" | tr -d '('); do
		grep -q "$fn()" <<<"$lib"
	done
}

@test "systemd unit: installed with the sbin path, verified by systemd-analyze" {
	unit=$DEST/usr/local/lib/systemd/system/rds-bpf.service
	grep -qx 'ExecStart=/usr/local/sbin/rds-bpf load --foreground' "$unit"
	grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN' "$unit"
	command -v systemd-analyze || skip "systemd-analyze not installed"
	# verify against the installed binary and man pages
	sed "s|/usr/local/sbin|$DEST/usr/local/sbin|g" "$unit" >"$BATS_TEST_TMPDIR/rds-bpf.service"
	run env MANPATH="$MAN" systemd-analyze verify "$BATS_TEST_TMPDIR/rds-bpf.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
