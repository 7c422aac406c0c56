#!/usr/bin/env bash
# The main job on a local default: two namespace hosts joined by veth, the
# engine loaded in each, datagrams both ways (content-checked), a short
# stress run from several sockets, and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/hosts.sh
hosts_session "demo$$"
engine_up A
engine_up B
echo "== host A $ADDR_A and host B $ADDR_B, engine loaded on both"
ready=$RDSB_LOG_DIR/ready

echo "== 1000 datagrams each way, 0 B to 64 KiB, content hashed"
rds B "$RDSB_XFER" recv -b $ADDR_B:4000 -n 1000 -s 0:65536 --ready $ready.b >$RDSB_LOG_DIR/rb &
rb=$!
rds A "$RDSB_XFER" recv -b $ADDR_A:4000 -n 1000 -s 0:65536 --ready $ready.a >$RDSB_LOG_DIR/ra &
ra=$!
until [ -e $ready.a ] && [ -e $ready.b ]; do sleep 0.05; done
rds A "$RDSB_XFER" send -b $ADDR_A:5000 -d $ADDR_B:4000 -n 1000 -s 0:65536 &
rds B "$RDSB_XFER" send -b $ADDR_B:5000 -d $ADDR_A:4000 -n 1000 -s 0:65536
wait $rb $ra
cat $RDSB_LOG_DIR/rb $RDSB_LOG_DIR/ra

echo "== stress: 8 sockets on A, 5000 datagrams each to one socket on B"
rm -f $ready.b
rds B "$RDSB_XFER" recv -b $ADDR_B:4100 -n 40000 -s 64:4096 --senders 8 -t 120 --ready $ready.b >$RDSB_LOG_DIR/stress &
rb=$!
until [ -e $ready.b ]; do sleep 0.05; done
start=$(date +%s.%N)
for i in $(seq 8); do
	rds A "$RDSB_XFER" send -b $ADDR_A:$((5100 + i)) -d $ADDR_B:4100 -n 5000 -s 64:4096 >/dev/null &
done
wait $rb
end=$(date +%s.%N)
tail -n 1 $RDSB_LOG_DIR/stress
awk -v s="$start" -v e="$end" 'BEGIN { printf "stress: 40000 datagrams in %.2f s (%.0f datagrams/s, includes 1 s sender linger)\n", e - s, 40000 / (e - s) }'

echo "== ping-pong, 64 B"
rm -f $ready.b
rds B "$RDSB_XFER" echo -b $ADDR_B:4200 -n 2000 --ready $ready.b >/dev/null &
until [ -e $ready.b ]; do sleep 0.05; done
rds A "$RDSB_XFER" pingpong -b $ADDR_A:4200 -d $ADDR_B:4200 -n 2000 -s 64
wait

echo "== engine state on host A"
in_host A "$RDSB_BIN" status
