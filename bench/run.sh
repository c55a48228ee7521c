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
# GRPC_ONLY=1: only the in-process ingest maximum (the baseline of the same run) and section 7.
if [ "${GRPC_ONLY:-0}" = 1 ]; then
  echo "== 2. strata bench ingest, as fast as possible, $RUNS runs (baseline for section 7)"
  for i in $(seq "$RUNS"); do
    "$STRATA" bench ingest --data "$DATA" --duration 10 --json 2>/dev/null | tee /dev/stderr | last_json >> "$OUT"
  done
  MAX=$(grep '"bench":"ingest"' "$OUT" | python3 -c 'import sys,json,statistics; print(int(statistics.median(json.loads(l)["events_per_sec"] for l in sys.stdin)))')
else
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

fi

echo "== 7. over gRPC: strata serve on loopback, driven by strata bench --server (BatchAppend)"
SERVE_DIR="$DATA/serve"
rm -rf "$SERVE_DIR"
"$STRATA" serve --data "$SERVE_DIR" --grpc-port 0 --http-port 0 > "$DATA/serve.out" 2>&1 &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "on 127.0.0.1:" "$DATA/serve.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$DATA/serve.out" | head -1)
echo "   server on 127.0.0.1:$PORT (in-process median above: $MAX events/s)"
for i in $(seq "$RUNS"); do
  "$STRATA" bench ingest --server "127.0.0.1:$PORT" --connections 2 --duration 10 --json 2>/dev/null \
    | tee /dev/stderr | last_json | sed 's/"bench":"ingest"/"bench":"grpc-ingest"/' >> "$OUT"
done
GMAX=$(grep '"bench":"grpc-ingest"' "$OUT" | python3 -c 'import sys,json,statistics; print(int(statistics.median(json.loads(l)["events_per_sec"] for l in sys.stdin)))')
echo "== 7b. over gRPC at 80% of its median maximum ($((GMAX * 8 / 10)) events/s)"
"$STRATA" bench ingest --server "127.0.0.1:$PORT" --connections 2 --duration 10 --rate $((GMAX * 8 / 10)) --json 2>/dev/null \
  | tee /dev/stderr | last_json | sed 's/"bench":"ingest"/"bench":"grpc-ingest-80"/' >> "$OUT"
echo "== 7c. over gRPC: append ack -> live \$all subscriber, both through the server"
"$STRATA" bench tail --server "127.0.0.1:$PORT" --rate 20000 --duration 5 --json 2>/dev/null \
  | tee /dev/stderr | last_json | sed 's/"bench":"tail"/"bench":"grpc-tail"/' >> "$OUT"
echo "== 7d. the official Node client alone against the server (its own throughput and CPU)"
if [ ! -d tests/compat/node_modules ]; then (cd tests/compat && npm ci --silent); fi
node tests/compat/bench-ingest.mjs "127.0.0.1:$PORT" 10 512 | last_json >> "$OUT"
kill -TERM $SERVE_PID; wait $SERVE_PID || true
trap - EXIT

echo "== summary ($OUT)"
cat "$OUT"

# The cold tier's figures need radosgw and about 10 minutes: COLD=1 make bench, or bench/cold.sh.
if [ "${COLD:-0}" = 1 ]; then
  echo "== 8. the cold tier (bench/cold.sh)"
  bash bench/cold.sh "$STRATA"
fi
