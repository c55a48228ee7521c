#!/usr/bin/env bash
# Starts and stops a throwaway etcd cluster on 127.0.0.1, for tests and local clusters.
#
#   bash scripts/etcd.sh start DIR [MEMBERS]   starts MEMBERS (default 1; 3 for a real quorum)
#                         etcd members on free ports, data under DIR/m<i>, waits until the
#                         cluster answers, writes DIR/env (export STRATA_ETCD=etcd://...) and
#                         prints it
#   bash scripts/etcd.sh stop DIR               stops every member of DIR; idempotent
#   bash scripts/etcd.sh kill-leader DIR        SIGKILLs the current leader (etcd failure tests);
#                                               prints its member index
#   bash scripts/etcd.sh stop-member DIR I / start-member DIR I   stop (SIGTERM) or restart member I
#   bash scripts/etcd.sh pause DIR / resume DIR  SIGSTOP / SIGCONT every member: etcd unavailable
#                         (calls hang, as behind a partition) without a restart, which in etcd 3.4
#                         can take half a minute before a member listens again
#
# Nothing outside DIR is touched. Members use distinct client, peer and metrics ports, so several
# clusters in different DIRs can run side by side.
set -euo pipefail

STOP_TIMEOUT=10
say() { echo "etcd: $*"; }
die() {
  echo "etcd: error: $*" >&2
  exit 1
}

free_ports() {
  python3 -c "
import socket
ss = [socket.socket() for _ in range($1)]
for s in ss: s.bind(('127.0.0.1', 0))
print(*(s.getsockname()[1] for s in ss))"
}

member_cmd() { # I -> the command line of member I (from DIR/ports)
  local i=$1 cluster="" j
  # shellcheck disable=SC2206
  local ports=($(cat "$DIR/ports"))
  local n=$((${#ports[@]} / 3))
  for ((j = 0; j < n; j++)); do
    cluster+="${cluster:+,}m$j=http://127.0.0.1:${ports[$((3 * j + 1))]}"
  done
  echo etcd --name "m$i" --data-dir "$DIR/m$i" \
    --listen-client-urls "http://127.0.0.1:${ports[$((3 * i))]}" \
    --advertise-client-urls "http://127.0.0.1:${ports[$((3 * i))]}" \
    --listen-peer-urls "http://127.0.0.1:${ports[$((3 * i + 1))]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ports[$((3 * i + 1))]}" \
    --listen-metrics-urls "http://127.0.0.1:${ports[$((3 * i + 2))]}" \
    --initial-cluster "$cluster" --initial-cluster-token "strata-$(basename "$DIR")" \
    --initial-cluster-state new --log-level warn --logger zap
}

start_member() {
  local i=$1
  # shellcheck disable=SC2046
  nohup $(member_cmd "$i") > "$DIR/m$i.log" 2>&1 &
  echo $! > "$DIR/m$i.pid"
}

endpoints() {
  # shellcheck disable=SC2206
  local ports=($(cat "$DIR/ports")) out="" j
  for ((j = 0; j < ${#ports[@]} / 3; j++)); do out+="${out:+,}127.0.0.1:${ports[$((3 * j))]}"; done
  echo "$out"
}

cmd_start() {
  local n=${1:-1} i
  command -v etcd > /dev/null || die "etcd is not installed; run scripts/setup.sh (etcd-server)"
  mkdir -p "$DIR"
  free_ports $((3 * n)) > "$DIR/ports"
  for ((i = 0; i < n; i++)); do start_member "$i"; done
  local eps
  eps=$(endpoints)
  for _ in $(seq 1 150); do
    if ETCDCTL_API=3 etcdctl --endpoints "$eps" endpoint health > /dev/null 2>&1; then
      echo "export STRATA_ETCD=etcd://$eps" > "$DIR/env"
      say "$n member(s) up in $DIR"
      cat "$DIR/env"
      return 0
    fi
    for ((i = 0; i < n; i++)); do
      kill -0 "$(cat "$DIR/m$i.pid")" 2> /dev/null || {
        tail -20 "$DIR/m$i.log" >&2
        die "member m$i exited"
      }
    done
    sleep 0.2
  done
  die "etcd did not become healthy in 30 s (logs in $DIR)"
}

stop_pid() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2> /dev/null; then
    kill -CONT "$pid" 2> /dev/null || true # a paused member would not act on SIGTERM
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$f"
}

cmd_stop() {
  local f
  for f in "$DIR"/m*.pid; do [ -e "$f" ] && stop_pid "$f"; done
  say "stopped $DIR"
}

is_leader() { # client port -> exit status 0 when that member is the leader
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$1" endpoint status -w json 2> /dev/null |
    python3 -c 'import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)' 2> /dev/null
}

cmd_kill_leader() {
  # shellcheck disable=SC2206
  local ports=($(cat "$DIR/ports")) j
  for ((j = 0; j < ${#ports[@]} / 3; j++)); do
    if [ -f "$DIR/m$j.pid" ] && is_leader "${ports[$((3 * j))]}"; then
      kill -9 "$(cat "$DIR/m$j.pid")"
      rm -f "$DIR/m$j.pid"
      echo "$j"
      return 0
    fi
  done
  die "no leader found"
}

[ $# -ge 2 ] || die "usage: $0 start|stop|kill-leader|stop-member|start-member|pause|resume DIR [ARG]"
CMD=$1
DIR=$2
shift 2
case "$CMD" in
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  kill-leader) cmd_kill_leader ;;
  stop-member) stop_pid "$DIR/m$1.pid" ;;
  pause | resume)
    for f in "$DIR"/m*.pid; do
      [ -e "$f" ] && kill "-$([ "$CMD" = pause ] && echo STOP || echo CONT)" "$(cat "$f")"
    done
    ;;
  start-member) start_member "$1" ;;
  *) die "unknown command $CMD" ;;
esac
