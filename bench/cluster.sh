#!/usr/bin/env bash
# Cluster figures (docs/cluster.md), from one run on this machine, ROUNDS rounds (default 3),
# medians; every server uses --durability object-store against the same radosgw:
#   single    one `strata serve`, one `bench ingest --server` against it, as fast as it goes
#   cluster   scripts/cluster.sh's three members; one `bench ingest --server` per member at the
#             same time (each forwards about 2/3 of its appends), events/s summed
#   latency   RATE events/s (default 5000) against member a (a third of the partitions local) and
#             against a `--role router` member (every append forwarded): p50/p99, the
#             forwarding overhead
# All processes share the machine's cores (nproc below): the aggregate is bounded by them.
#   bash bench/cluster.sh [ROUNDS]            DUR=8 RATE=5000 bash bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DUR=${DUR:-8}
RATE=${RATE:-5000}
S=$(realpath "${STRATA:-build/release/src/cli/strata}")
DIR=$(mktemp -d /tmp/strata-clusterbench.XXXXXX)
BASE=${CLUSTER_BASE_PORT:-2213}
SINGLE_PID="" ROUTER_PID=""
cleanup() {  # never fails: a failing command in an EXIT trap under set -e would end it early
  if [ -n "$SINGLE_PID" ]; then kill "$SINGLE_PID" 2> /dev/null || true; fi
  if [ -n "$ROUTER_PID" ]; then kill "$ROUTER_PID" 2> /dev/null || true; fi
  STRATA=$S bash scripts/cluster.sh stop "$DIR/c" > /dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
wait_serving() {  # log pid
  for _ in $(seq 1 300); do
    grep -q "strata serving" "$1" 2> /dev/null && return 0
    kill -0 "$2" 2> /dev/null || break
    sleep 0.1
  done
  tail -20 "$1" >&2
  echo "bench/cluster.sh: the server did not start (log $1)" >&2
  exit 1
}
ingest() {  # target out-file [flags...]: one bench ingest --server, its JSON line in out-file
  local target=$1 out=$2
  shift 2
  "$S" bench ingest --server "$target" --connections 2 --duration "$DUR" --warmup 2 --json "$@" \
    2> /dev/null | tail -1 > "$out"
}

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; DUR=$DUR RATE=$RATE"
export RADOSGW_MEMSTORE_BYTES=${RADOSGW_MEMSTORE_BYTES:-8589934592}
CLUSTER_BASE_PORT=$BASE STRATA=$S bash scripts/cluster.sh start "$DIR/c"
# shellcheck source=/dev/null
source "$DIR/c/rgw/env"
ETCD=$(cat "$DIR/c/etcd-url")
A=127.0.0.1:$BASE B=127.0.0.1:$((BASE + 10)) C=127.0.0.1:$((BASE + 20))
ROUTER=127.0.0.1:$((BASE + 30)) SINGLE=127.0.0.1:$((BASE + 40))
"$S" serve --data "$DIR/router" --grpc-port $((BASE + 30)) --http-port $((BASE + 31)) \
  --cluster "$ETCD" --node-id r --role router --cold none > "$DIR/router.log" 2>&1 &
ROUTER_PID=$!
wait_serving "$DIR/router.log" "$ROUTER_PID"
"$S" serve --data "$DIR/single" --grpc-port $((BASE + 40)) --http-port $((BASE + 41)) \
  --durability object-store --cold "s3://$STRATA_TEST_S3_BUCKET/single" > "$DIR/single.log" 2>&1 &
SINGLE_PID=$!
wait_serving "$DIR/single.log" "$SINGLE_PID"
sleep 5  # the members balance the partitions (every second, a few moves per round)

: > "$DIR/single.rate"; : > "$DIR/cluster.rate"
for k in a r; do : > "$DIR/$k.p50"; : > "$DIR/$k.p99"; done
for i in $(seq "$ROUNDS"); do
  ingest "$SINGLE" "$DIR/o.single"
  field events_per_sec < "$DIR/o.single" >> "$DIR/single.rate"
  ingest "$A" "$DIR/o.a" &
  pa=$!
  ingest "$B" "$DIR/o.b" &
  pb=$!
  ingest "$C" "$DIR/o.c" &
  pc=$!
  wait "$pa" "$pb" "$pc"
  sum=$(cat "$DIR/o.a" "$DIR/o.b" "$DIR/o.c" | field events_per_sec | awk '{s+=$1} END {print s}')
  echo "$sum" >> "$DIR/cluster.rate"
  echo "round $i: single $(field events_per_sec < "$DIR/o.single") events/s (p50 $(field p50_ms < "$DIR/o.single") ms, p99 $(field p99_ms < "$DIR/o.single") ms); 3 members $sum events/s (a p50 $(field p50_ms < "$DIR/o.a") ms, p99 $(field p99_ms < "$DIR/o.a") ms)"
  for k in a r; do
    target=$A
    [ "$k" = r ] && target=$ROUTER
    ingest "$target" "$DIR/o.$k" --rate "$RATE"
    field p50_ms < "$DIR/o.$k" >> "$DIR/$k.p50"
    field p99_ms < "$DIR/o.$k" >> "$DIR/$k.p99"
  done
  echo "round $i at $RATE events/s: member a p50 $(field p50_ms < "$DIR/o.a") ms p99 $(field p99_ms < "$DIR/o.a") ms; router p50 $(field p50_ms < "$DIR/o.r") ms p99 $(field p99_ms < "$DIR/o.r") ms"
done
echo "median: single $(median < "$DIR/single.rate") events/s; 3 members $(median < "$DIR/cluster.rate") events/s"
echo "median at $RATE events/s: member a p50 $(median < "$DIR/a.p50") ms p99 $(median < "$DIR/a.p99") ms; router (all forwarded) p50 $(median < "$DIR/r.p50") ms p99 $(median < "$DIR/r.p99") ms"
for m in a b c; do
  echo "member $m: $(curl -s "http://127.0.0.1:$(( BASE + 1 + 10 * $(printf '%d' "'$m" | awk '{print $1-97}') ))/metrics" | grep -E '^strata_wal_objects_total|^strata_cluster_partitions_owned ' | tr '\n' ' ')"
done
