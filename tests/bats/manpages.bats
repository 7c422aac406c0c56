#!/usr/bin/env bats
# The man pages against the programs: every flag of every rds-bpf command's
# --help is in that command's entry of rds-bpf(8) and every flag of the
# entry's synopsis is in --help; rds-dissect(8) likewise; FILES names exactly
# the maps a running engine pins.

load helpers

ROOT=$BATS_TEST_DIRNAME/../..

setup() {
	source "$BATS_TEST_DIRNAME/../lib/hosts.sh"
	source "$BATS_TEST_DIRNAME/../lib/capture.sh"
}
teardown() {
	[ -z "${NS_A:-}" ] || teardown_hosts
}

page() {	# the rendered page, lines unwrapped
	MANWIDTH=400 man -l "$ROOT/docs/man/$1" 2>/dev/null
}

# the flags in text: -x, --long-name; a cluster -abc is -a -b -c
flags() {
	grep -oE '(^|[][ (|,])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[][ (|,]*//' |
		awk '/^--/ {print; next} {for (i = 2; i <= length($0); i++) print "-" substr($0, i, 1)}' |
		grep -vxE -- '--?h(elp)?' | sort -u
}

# a command's entry in rds-bpf(8): from its line to the next command's
entry() {
	awk -v cmd="$1" '
		/^       [a-z]+( |$)/ { on = ($1 == cmd) }
		/^[A-Z]/ { on = 0 }
		on' <<<"$PAGE"
}

@test "rds-bpf(8): every command's flags, both ways, and the global ones" {
	PAGE=$(page rds-bpf.8)
	usage=$("$RDSB_BIN" --help)
	for cmd in $(sed -n 's/^  \([a-z]\+\).*/\1/p' <<<"$usage"); do
		if [ "$cmd" = load ]; then	# its usage is in the main one
			help=$(awk '/^  [a-z]/ {on = ($1 == "load")} on' <<<"$usage")
		else
			help=$("$RDSB_BIN" "$cmd" --help)
		fi
		body=$(entry "$cmd")
		[ -n "$body" ] || { echo "rds-bpf(8) has no entry for $cmd"; false; }
		missing=$(comm -23 <(flags <<<"$help") <(flags <<<"$body"))
		[ -z "$missing" ] || { echo "$cmd: in --help, not in rds-bpf(8):" $missing; false; }
		extra=$(comm -13 <(flags <<<"$help") <(head -n 1 <<<"$body" | flags))
		[ -z "$extra" ] || { echo "$cmd: in rds-bpf(8)'s synopsis, not in --help:" $extra; false; }
	done
	# the main usage's own flags: -v, -vv, --version
	for f in -v -vv --version; do
		grep -q -- "$f" <<<"$(head -n 1 <<<"$usage")$(grep -- '--version' <<<"$usage")"
		grep -qE -- "(^| )$f(,| |$)" <<<"$PAGE"
	done
}

@test "rds-bpf(8): the check above fails on a flag the page lacks" {
	PAGE=$(page rds-bpf.8 | sed 's/--sk-msg/--sk-message/g')
	help=$(awk '/^  [a-z]/ {on = ($1 == "load")} on' <<<"$("$RDSB_BIN" --help)")
	[ "$(comm -23 <(flags <<<"$help") <(entry load | flags))" = --sk-msg ]
}

@test "rds-dissect(8): its flags, both ways" {
	PAGE=$(page rds-dissect.8)
	help=$("$RDSB_DISSECT" --help)
	[ "$(flags <<<"$help")" = "$(sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' <<<"$PAGE" | flags)" ]
	[ "$(flags <<<"$help")" = "$(sed -n '/^OPTIONS/,/^EXIT STATUS/p' <<<"$PAGE" | flags)" ]
	[ "$(flags <<<"$help" | tr '\n' ' ')" = "-f -i -p " ]
}

@test "rds-bpf(8) FILES: exactly the maps an engine pins, with and without sk_msg sends" {
	files=$(page rds-bpf.8 | sed -n '/^FILES/,/^EXIT STATUS/p' | sed -n 's/^              \(rdsb_[a-z_]*\)$/\1/p' | sort)
	[ "$(wc -l <<<"$files")" -ge 17 ]
	load_hosts
	for opts in "" "--no-sk-msg"; do
		# shellcheck disable=SC2086
		engine_up A $opts
		pinned=$(ls "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$NS_A")" | sort)
		in_host A "$RDSB_BIN" unload
		[ "$pinned" = "$files" ] || { echo "load $opts:"; diff <(echo "$files") <(echo "$pinned"); false; }
	done
}
