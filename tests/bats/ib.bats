#!/usr/bin/env bats
# The ib transport where there is no RDMA device (this host's kernel has no
# RDMA): load refuses with one line and the hint, and leaves nothing behind.
# Over soft-RoCE it runs in the qemu guests: tests/vm/run-suite.sh, scenario ib.

load helpers

setup() {
	ls /sys/class/infiniband/* >/dev/null 2>&1 && skip "this host has RDMA devices"
	load_hosts
}
teardown() { teardown_hosts; }

@test "load --transport ib without an RDMA device: one line with the soft-RoCE hint, exit 1, no engine, no pins" {
	run in_host A "$RDSB_BIN" load --transport ib
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "rds-bpf load: no RDMA device for the ib transport (soft-RoCE: rdma link add rxe0 type rxe netdev eth0)" ]
	run in_host A "$RDSB_BIN" load --transport ib --dev rxe7
	[ "$status" -eq 1 ]
	[ "$output" = "rds-bpf load: no RDMA device rxe7 (rdma link show lists them)" ]
	run in_host A "$RDSB_BIN" status
	[ "$status" -eq 3 ]
	[ ! -e "/sys/fs/bpf/rds-bpf/$(stat -Lc %i "/run/netns/$NS_A")" ]
	# --dev names an interface for xdp and an RDMA device for ib; no other option of ib's
	run in_host A "$RDSB_BIN" load --transport ib --sk-msg
	[ "$status" -eq 2 ]
	[[ "$output" == *"--sk-msg is not an option of the ib transport"* ]]
}
