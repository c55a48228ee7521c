#!/usr/bin/env bash
# The object-store WAL's price (docs/wal.md): in-process `bench ingest` with --durability sync
# (the baseline: local fsync) and --durability object-store (fsync plus one WAL PUT per commit
# interval to radosgw on 127.0.0.1), alternating, ROUNDS pairs each (default 3):
#   latency  at a fixed RATE (default 20,000 events/s): append p50/p99 (call -> ack) and PUTs/s
#   ingest   as fast as it goes: events/s
# Prints every run and the medians. Starts its own radosgw (scripts/radosgw.sh) and stops it.
#   bash bench/wal.sh [ROUNDS]        INTERVAL=10 DUR=8 RATE=20000 bash bench/wal.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DUR=${DUR:-8}
RATE=${RATE:-20000}
INTERVAL=${INTERVAL:-10}
S=${STRATA:-build/release/src/cli/strata}
DIR=$(mktemp -d /tmp/strata-walbench.XXXXXX)
cleanup() {
  bash scripts/radosgw.sh stop "$DIR/rgw" > /dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/rgw"
# Room for every run's segments and WAL objects (radosgw blocks writes once its OSD is full).
export RADOSGW_MEMSTORE_BYTES=${RADOSGW_MEMSTORE_BYTES:-8589934592}
bash scripts/radosgw.sh start "$DIR/rgw" | grep -v '^export'
# shellcheck source=/dev/null
source "$DIR/rgw/env"

field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() {  # durability extra-flags... -> the JSON line
  local durability=$1
  shift
  local n
  n=$(date +%s%N)  # a fresh prefix per run (run is called in a subshell: no counter survives)
  rm -rf "$DIR/d"
  if ! "$S" bench ingest --data "$DIR/d" --duration "$DUR" --durability "$durability" \
    --cold "s3://$STRATA_TEST_S3_BUCKET/walbench-$n" --wal-interval-ms "$INTERVAL" --json "$@" \
    > "$DIR/out" 2> "$DIR/err"; then
    echo "bench ingest --durability $durability failed:" >&2
    tail -n 5 "$DIR/out" >&2
    tail -n 5 "$DIR/err" >&2
    exit 1
  fi
  tail -1 "$DIR/out"
}

for d in sync object-store; do : > "$DIR/$d.p50"; : > "$DIR/$d.p99"; : > "$DIR/$d.puts"; : > "$DIR/$d.rate"; done
for i in $(seq "$ROUNDS"); do
  for d in sync object-store; do
    j=$(run "$d" --rate "$RATE")
    echo "$j" | field p50_ms >> "$DIR/$d.p50"
    echo "$j" | field p99_ms >> "$DIR/$d.p99"
    echo "$j" | field wal_puts_per_sec >> "$DIR/$d.puts"
    echo "latency round $i $d: p50 $(echo "$j" | field p50_ms) ms  p99 $(echo "$j" | field p99_ms) ms  PUTs/s $(echo "$j" | field wal_puts_per_sec)  bytes/PUT $(echo "$j" | field wal_bytes_per_put)"
  done
done
for i in $(seq "$ROUNDS"); do
  for d in sync object-store; do
    j=$(run "$d")
    echo "$j" | field events_per_sec >> "$DIR/$d.rate"
    echo "ingest round $i $d: $(echo "$j" | field events_per_sec) events/s  p50 $(echo "$j" | field p50_ms) ms  p99 $(echo "$j" | field p99_ms) ms  PUTs/s $(echo "$j" | field wal_puts_per_sec)"
  done
done
for d in sync object-store; do
  echo "median $d at $RATE events/s: p50 $(median < "$DIR/$d.p50") ms  p99 $(median < "$DIR/$d.p99") ms  PUTs/s $(median < "$DIR/$d.puts");  unthrottled: $(median < "$DIR/$d.rate") events/s"
done
