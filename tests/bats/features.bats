#!/usr/bin/env bats
# rds-bpf features: what this kernel offers, and the data path load will pick,
# as root and without privileges.

load helpers

RDSB_BIN=${RDSB_BIN:-$BATS_TEST_DIRNAME/../../build/sbin/rds-bpf}

@test "features -j as root: this kernel's facts; the sockmap data path, as load gets it" {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	run "$RDSB_BIN" features -j
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e --arg k "$(uname -r)" '.kernel == $k' <<<"$output"
	jq -e '.bpffs == true and .bpf_maps == true and .data_path == "bpf" and .bpf_data_path == true and .transports == ["tcp", "xdp"]' <<<"$output"
	# the programs loaded as load loads them, with the kfunc where this kernel's BTF has it
	jq -e --arg k "strparser offset via bpf_$(kern_ctx_how)" '.bpf_data_path_detail == $k' <<<"$output"
	# and the sk_msg send program, as load loads it
	jq -e '.sk_msg_send_path == true and .sk_msg_send_path_detail == "the sk_msg program rdsb_txmsg"' <<<"$output"
	btf=false; [ -r /sys/kernel/btf/vmlinux ] && btf=true
	jq -e --argjson b $btf '.btf == $b' <<<"$output"
	rds=false; grep -q '^RDS ' /proc/net/protocols && rds=true
	jq -e --argjson r $rds '.kernel_rds == $r' <<<"$output"
	devs=$(ls /sys/class/infiniband 2>/dev/null | jq -R . | jq -s -c .)
	jq -e --argjson d "$devs" '.rdma_devices == $d' <<<"$output"
	# root has every capability rds-bpf asks for
	jq -e '.capabilities | [.[]] | all' <<<"$output"
	# the kernel here has sockmap and AF_XDP (machine.md); the answers are booleans
	jq -e '[.sockhash, .sk_skb, .sk_msg, .xdp, .xskmap, .af_xdp] | all(type == "boolean")' <<<"$output"
	jq -e '.sk_skb and .sk_msg and .sockhash' <<<"$output"
}

@test "features without privileges: no capability, userspace data path, still exit 0" {
	command -v setpriv || skip "setpriv not installed"
	run setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$RDSB_BIN" features -j
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e '.data_path == "userspace" and .bpf_data_path == false and .sk_msg_send_path == false and .bpf_maps == null and .sk_skb == null and (.btf | type) == "boolean"' <<<"$output"
	jq -e '.capabilities | [.[]] | any | not' <<<"$output"
	run setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$RDSB_BIN" features
	grep -qE '^  data path: userspace \(congestion maps in shared memory; BPF needs CAP_BPF or root\)$' <<<"$output"
	grep -qE '^  BPF maps \(pinned congestion maps\) +unknown \(needs CAP_BPF or root\)$' <<<"$output"
}

@test "features text: one line per probe, -p pretty equals -j; bad arguments exit 2" {
	run "$RDSB_BIN" features
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Kernel $(uname -r)" ]
	grep -qE '^  bpffs mounted at /sys/fs/bpf +(yes|no)' <<<"$output"
	grep -qE '^  BPF_PROG_TYPE_SK_SKB \(strparser, verdict\) +yes$' <<<"$output"
	grep -qE "^  data path: bpf \\(sockmap receive, pinned maps; load --no-bpf for the userspace one\\)$" <<<"$output"
	grep -qE '^  cap_bpf: BPF maps and programs +yes$' <<<"$output"
	[ "$("$RDSB_BIN" features -p | jq -S -c .)" = "$("$RDSB_BIN" features -j | jq -S -c .)" ]
	"$RDSB_BIN" features -p | grep -q '^    "capabilities": {$'
	run "$RDSB_BIN" features --bogus
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: rds-bpf features"* ]]
	run "$RDSB_BIN" features extra
	[ "$status" -eq 2 ]
	run "$RDSB_BIN" features --help
	[ "$status" -eq 0 ]
	[ "$output" = "usage: rds-bpf features [-v] [-j [-p]]" ]
}
