#!/usr/bin/env bash
# A local Strata cluster on 127.0.0.1, for trying it out and for tests: three etcd members
# (scripts/etcd.sh), radosgw (scripts/radosgw.sh) and three `strata serve --cluster` members.
#
#   bash scripts/cluster.sh start DIR   builds nothing: uses STRATA (default build/release/src/cli/
#                                       strata); starts everything under DIR and prints the
#                                       connection string and the status command
#   bash scripts/cluster.sh stop DIR    stops the members (SIGTERM: they leave the cluster), then
#                                       radosgw and etcd, and removes DIR (radosgw keeps its objects
#                                       in memory, so nothing of a stopped cluster could be reused)
#
# Members: a, b, c on gRPC ports from CLUSTER_BASE_PORT (default 2113: 2113, 2123, 2133; HTTP one
# above each). Each archives to its own prefix of the bucket (s3://strata-test/<member>): a
# member's events are in its own store until the shared tier lands (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=${STRATA:-$PWD/build/release/src/cli/strata}
BASE=${CLUSTER_BASE_PORT:-2113}
MEMBERS=(a b c)

say() { echo "cluster: $*"; }
die() {
  echo "cluster: error: $*" >&2
  exit 1
}

cmd_start() {
  [ -x "$STRATA" ] || die "no strata binary at $STRATA; build it (cmake --build build/release) or set STRATA"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  bash scripts/etcd.sh start "$DIR/etcd" 3 > /dev/null
  bash scripts/radosgw.sh start "$DIR/rgw" > /dev/null
  # shellcheck source=/dev/null
  source "$DIR/etcd/env"
  # shellcheck source=/dev/null
  source "$DIR/rgw/env"
  local i=0 m port seeds=""
  for m in "${MEMBERS[@]}"; do
    port=$((BASE + 10 * i))
    nohup "$STRATA" serve --data "$DIR/$m" --grpc-port "$port" --http-port $((port + 1)) \
      --cold "s3://$STRATA_TEST_S3_BUCKET/$m" --cluster "$STRATA_ETCD" --node-id "$m" \
      > "$DIR/$m.log" 2>&1 &
    echo $! > "$DIR/$m.pid"
    seeds+="${seeds:+,}127.0.0.1:$port"
    i=$((i + 1))
  done
  for m in "${MEMBERS[@]}"; do
    for _ in $(seq 1 300); do
      grep -q "strata serving" "$DIR/$m.log" 2> /dev/null && break
      kill -0 "$(cat "$DIR/$m.pid")" 2> /dev/null || {
        tail -20 "$DIR/$m.log" >&2
        die "member $m exited (log: $DIR/$m.log)"
      }
      sleep 0.1
    done
  done
  echo "$STRATA_ETCD" > "$DIR/etcd-url"
  say "up: members ${MEMBERS[*]} (logs in $DIR/<member>.log)"
  # Every member as a gossip seed: the official clients ask the next seed when one is down.
  # (kurrentdb+discover:// makes them ask only the first host, meant as a DNS name that
  # resolves to all the members.)
  echo "  connect with: kurrentdb://$seeds?tls=false"
  echo "  status:       $STRATA cluster status --cluster $STRATA_ETCD"
}

cmd_stop() {
  local m pid
  for m in "${MEMBERS[@]}"; do
    [ -f "$DIR/$m.pid" ] || continue
    pid=$(cat "$DIR/$m.pid")
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$DIR/$m.pid"
  done
  [ -d "$DIR/rgw" ] && bash scripts/radosgw.sh stop "$DIR/rgw" > /dev/null
  [ -d "$DIR/etcd" ] && bash scripts/etcd.sh stop "$DIR/etcd" > /dev/null
  rm -rf "$DIR"
  say "stopped and removed $DIR"
}

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
DIR=$2
case "$1" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
