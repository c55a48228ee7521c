#!/usr/bin/env bash
# The projection figures (bench/README.md, "Projections"), from one run on one machine, against a
# redis-server this script starts on a free port of 127.0.0.1:
#   1. `strata bench projection`: replay rate into the in-memory model (baseline: a bare $all scan
#      of the same store, same run), into Redis with the default flush (10,000 events / 500 ms),
#      and verify time for 1,000,000 keys (full and a sample of 10,000);
#   2. projection lag under load: `strata serve` with one projection (in-memory + Redis sinks);
#      `strata bench ingest --server` at full speed gives the maximum; then a fresh server takes
#      80% of it for DURATION s, and `strata projection status --json` gives each sink's lag
#      (commit time - recorded time, per event) p50/p99 over the live events. RUNS times; medians.
#   bash bench/projection.sh [path/to/strata]
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=$(realpath "${1:-build/release/src/cli/strata}")
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
EVENTS=${EVENTS:-2000000}
WORK=$(mktemp -d "${BENCH_DATA:-/tmp}/strata-bench-proj.XXXXXX")
OUT=${OUT:-bench-projection-results.jsonl}
: > "$OUT"
REDIS_PID=
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2> /dev/null && wait "$SERVE_PID" 2> /dev/null
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2> /dev/null && wait "$REDIS_PID" 2> /dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(f"{statistics.median(v):.1f}")'; }
field() { python3 -c "import sys,json; print(json.loads(sys.stdin.readlines()[-1])['$1'])"; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; RUNS=$RUNS EVENTS=$EVENTS"
RPORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/redis" --save "" --appendonly yes \
  --daemonize no > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$RPORT" ping > /dev/null 2>&1 && break; sleep 0.05; done
REDIS=redis://127.0.0.1:$RPORT/0
echo "== redis-server $(redis-server --version | awk '{print $3}') on $REDIS (appendonly, fsync every second)"

echo "== 1. strata bench projection --events $EVENTS --rounds $RUNS"
"$STRATA" bench projection --data "$WORK" --redis "$REDIS" --events "$EVENTS" --rounds "$RUNS" \
  --durability async | tee "$WORK/bench.out"
tail -n 1 "$WORK/bench.out" >> "$OUT"

echo "== 2. lag at 80% of the maximum ingest (strata bench ingest --server, ${DURATION} s)"
SPEC='{"name":"lag","kind":"count","streams":["bench"],"redis":"'$REDIS'"}'
serve() { # $1: data dir; sets SERVE_PID and GPORT
  GPORT=$(free_port)
  "$STRATA" serve --data "$1" --cold none --grpc-port "$GPORT" --http-port 0 \
    --projection "$SPEC" > "$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 100); do grep -q 'strata serving' "$WORK/serve.log" && break; sleep 0.1; done
}
stop_serve() { kill "$SERVE_PID"; wait "$SERVE_PID" 2> /dev/null || true; SERVE_PID=; }
p50m=() p99m=() p50r=() p99r=() rates=()
for run in $(seq "$RUNS"); do
  redis-cli -p "$RPORT" flushall > /dev/null
  serve "$WORK/max-$run"
  max=$("$STRATA" bench ingest --server "127.0.0.1:$GPORT" --duration 10 --warmup 2 --json \
    2> /dev/null | field events_per_sec)
  stop_serve
  rate=$(python3 -c "print(int($max * 0.8))")
  redis-cli -p "$RPORT" flushall > /dev/null
  serve "$WORK/lag-$run"
  "$STRATA" bench ingest --server "127.0.0.1:$GPORT" --duration "$DURATION" --warmup 2 \
    --rate "$rate" --json 2> /dev/null | tail -n 1 > "$WORK/ingest.json"
  "$STRATA" projection status lag --server "127.0.0.1:$GPORT" --json > "$WORK/status.json"
  stop_serve
  read -r m50 m99 r50 r99 <<< "$(python3 -c "
import json; s = json.load(open('$WORK/status.json'))['sinks']
m = [x for x in s if x['sink'] == 'memory'][0]; r = [x for x in s if x['sink'] != 'memory'][0]
print(m['lag_p50_us'] / 1000, m['lag_p99_us'] / 1000, r['lag_p50_us'] / 1000, r['lag_p99_us'] / 1000)")"
  got=$(field events_per_sec < "$WORK/ingest.json")
  echo "  run $run: max ingest $max events/s; at $rate/s (got $got): lag p50/p99 memory $m50/$m99 ms, Redis $r50/$r99 ms"
  echo "{\"run\":$run,\"max_ingest\":$max,\"rate\":$rate,\"achieved\":$got,\"memory_p50_ms\":$m50,\"memory_p99_ms\":$m99,\"redis_p50_ms\":$r50,\"redis_p99_ms\":$r99}" >> "$OUT"
  rates+=("$max") p50m+=("$m50") p99m+=("$m99") p50r+=("$r50") p99r+=("$r99")
done
echo "== medians of $RUNS runs: max ingest $(echo "${rates[@]}" | median) events/s; lag at 80%:" \
  "memory p50 $(echo "${p50m[@]}" | median) ms p99 $(echo "${p99m[@]}" | median) ms;" \
  "Redis p50 $(echo "${p50r[@]}" | median) ms p99 $(echo "${p99r[@]}" | median) ms"
echo "== results in $OUT"
