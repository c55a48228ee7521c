#!/usr/bin/env bash
# Alternating A/B pairs of two strata binaries on the same workload, for "did this change cost
# speed?": in-process ingest (`bench ingest`), CPU per event at a fixed rate, and ingest over
# gRPC (`strata serve` + `bench ingest --server`), ROUNDS times each (default 3), A then B then
# A …, printing every run and the medians. The machine is noisy: compare medians of the same
# session only.
#   bash bench/ab.sh /tmp/strata-before build/release/src/cli/strata [ROUNDS]
set -euo pipefail
A=${1:?usage: bench/ab.sh STRATA_A STRATA_B [ROUNDS]}
B=${2:?usage: bench/ab.sh STRATA_A STRATA_B [ROUNDS]}
ROUNDS=${3:-3}
DUR=${DUR:-8}
RATE=${RATE:-150000}
DIR=$(mktemp -d /tmp/strata-ab.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

ingest() {  # binary -> events/s
  rm -rf "$DIR/d"
  "$1" bench ingest --data "$DIR/d" --duration "$DUR" --json 2> /dev/null | field events_per_sec
}
cpu_per_event() {  # binary -> µs of CPU (user+sys, whole process) per event at RATE
  rm -rf "$DIR/d"
  /usr/bin/time -o "$DIR/time" -f "%U %S" "$1" bench ingest --data "$DIR/d" --duration "$DUR" \
    --warmup 0 --rate "$RATE" --json > "$DIR/out" 2> /dev/null
  local t events
  t=$(tail -1 "$DIR/time")
  events=$(field events < "$DIR/out")
  echo "$t $events" | awk '{printf "%.2f\n", ($1 + $2) * 1e6 / $3}'
}
grpc() {  # binary -> events/s over gRPC (server and load generator on this machine)
  rm -rf "$DIR/s" "$DIR/s-cold"
  "$1" serve --data "$DIR/s" --cold none --grpc-port 0 --http-port 0 > "$DIR/serve.log" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\) (gRPC.*/\1/p' "$DIR/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  "$1" bench ingest --server "127.0.0.1:$port" --connections 2 --duration "$DUR" --json \
    2> /dev/null | field events_per_sec
  kill -TERM $pid
  wait $pid || true
}

for what in ${WHAT:-ingest cpu_per_event grpc}; do
  : > "$DIR/a.$what"
  : > "$DIR/b.$what"
  for i in $(seq "$ROUNDS"); do
    a=$($what "$A")
    b=$($what "$B")
    echo "$what round $i: A $a  B $b"
    echo "$a" >> "$DIR/a.$what"
    echo "$b" >> "$DIR/b.$what"
  done
  echo "$what median: A $(median < "$DIR/a.$what")  B $(median < "$DIR/b.$what")"
done
