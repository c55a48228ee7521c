#!/usr/bin/env bash
# Runs every benchmark of bench/README.md in one go, so that all figures come from the same
# run on the same machine. Prints a summary at the end; raw JSON lines go to $OUT.
#   bash bench/run.sh [path/to/strata]      (make bench)
set -euo pipefail
STRATA=${1:-build/release/src/cli/strata}
BASELINE=$(dirname "$STRATA")/../../bench/rocksdb_baseline
DATA=${BENCH_DATA:-/tmp/strata-bench}
OUT=${OUT:-bench-results.jsonl}
RUNS=${RUNS:-3}
mkdir -p "$DATA"
: > "$OUT"
last_json() { tail -n 1; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
echo "== 1. RocksDB baseline (WriteBatch of 100, fsync per batch, one writer)"
"$BASELINE" --seconds 5 --runs "$RUNS" --dir "$DATA/rocksdb-baseline" | tee /dev/stderr | last_json >> "$OUT"

echo "== 2. strata bench ingest, as fast as possible, $RUNS runs"
for i in $(seq "$RUNS"); do
  "$STRATA" bench ingest --data "$DATA" --duration 10 --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"
done
MAX=$(grep '"bench":"ingest"' "$OUT" | python3 -c 'import sys,json,statistics; print(int(statistics.median(json.loads(l)["events_per_sec"] for l in sys.stdin)))')
RATE=$((MAX * 8 / 10))
echo "== 3a. strata bench ingest at 80% of the 300k target (240,000 events/s)"
"$STRATA" bench ingest --data "$DATA" --duration 10 --rate 240000 --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"
echo "== 3b. strata bench ingest at 80% of the median measured maximum ($RATE events/s)"
"$STRATA" bench ingest --data "$DATA" --duration 10 --rate "$RATE" --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"

BASE=$((MAX / 10))
echo "== 4. 10x burst: $BASE events/s for 5 s, then $((BASE * 10)) events/s"
"$STRATA" bench ingest --data "$DATA" --duration 12 --warmup 0 --rate "$BASE" --burst-after 5 \
  --burst-rate $((BASE * 10)) --json 2>&1 | tee /dev/stderr | last_json >> "$OUT"

echo "== 5. strata bench read (2M events, warm tier only)"
"$STRATA" bench read --data "$DATA" --events 2000000 --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"

echo "== 6. strata bench tail (append ack -> live subscriber)"
"$STRATA" bench tail --data "$DATA" --rate 20000 --duration 5 --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"

echo "== summary ($OUT)"
cat "$OUT"
