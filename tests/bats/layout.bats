#!/usr/bin/env bats
# The engine's layering (docs/architecture.md): the core reaches a transport
# only through its ops table, so nothing in user/ or tools/ uses a symbol
# defined in transports/ but the transport objects, named once, in the
# registry (user/engine/transport.c).

ROOT=$BATS_TEST_DIRNAME/../..
B=$ROOT/build

@test "layering: only user/engine/transport.c names a transport, and only its ops table" {
	defined=$(nm -g --defined-only "$B"/obj/transports/*/*.o | awk 'NF == 3 {print $3}' | sort -u)
	[ "$(grep -c . <<<"$defined")" -gt 20 ]
	uses=$(for o in "$B"/obj/user/*/*.o "$B"/obj/tools/*.o "$B"/pic/user/*/*.o; do
		nm -u "$o" | awk '{print $2}' | grep -xF "$defined" | sed "s|^|${o#"$B"/} |"
	done | sort)
	echo "$uses"
	[ "$uses" = "$(printf 'obj/user/engine/transport.o %s\n' rdsb_ib_transport rdsb_tcp_transport rdsb_xdp_transport)" ]
	# and nothing compares a transport by pointer
	run grep -rnE '(==|!=) *&rdsb_[a-z]+_transport' "$ROOT"/user "$ROOT"/tools "$ROOT"/transports
	[ "$status" -eq 1 ]
}
