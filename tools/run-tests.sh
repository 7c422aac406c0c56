#!/usr/bin/env bash
# The whole suite: unit tests, then the bats integration tests between
# namespace hosts, then the interop suite against the kernel in qemu.
set -uo pipefail
cd "$(dirname "$0")/.."
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
pass=0
fail=0
for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	if "$t"; then pass=$((pass + 1)); else echo "FAIL: $t"; fail=$((fail + 1)); fi
done
echo "unit: $pass passed, $fail failed"
bats_rc=0
bats --timing tests/bats || bats_rc=$?
vm_rc=0
if [ -x tests/vm/run-suite.sh ]; then
	tests/vm/run-suite.sh || vm_rc=$?
fi
[ $fail -eq 0 ] && [ $bats_rc -eq 0 ] && [ $vm_rc -eq 0 ]
