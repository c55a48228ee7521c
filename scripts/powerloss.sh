#!/usr/bin/env bash
# Power-loss test: runs Strata on crashfs (tests/powerloss), a FUSE file system that forgets
# everything not made durable by fsync/fdatasync (of the file, and of the directory for creates,
# renames and unlinks), cuts the power at random moments, and checks what survived with
# `strata stress --verify`: every acknowledged event present exactly once at its revision and
# position, $all ordered, the stream and index streams consistent with the log, the store opens.
#
#   scripts/powerloss.sh [ROUNDS]        default 20; the last line is "N passed, M failed"
#
# Each round mounts crashfs over one backing directory (the store grows from round to round),
# runs a workload on it, cuts (half the rounds tear the last unsynced write of every file at a
# random byte instead of dropping it), SIGKILLs every writer, unmounts, and verifies the backing
# directory as the cut left it. Every fifth round runs `strata serve` under `strata stress
# --server` (the acknowledgements it checks) and `strata bench ingest --server` (more load)
# instead of the in-process `strata stress`.
#
# The ack log lives outside crashfs: it stands for what the clients were told.
# STRATA_BIN and CRASHFS_BIN name the binaries (default: the release build); the environment
# is passed through to strata, so LD_PRELOAD=…/libnofsync.so makes this fail (the mutation check:
# see tests/powerloss/README.md). Needs root and /dev/fuse; exits 77 (skipped) without them.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
STRATA=${STRATA_BIN:-build/release/src/cli/strata}
CRASHFS=${CRASHFS_BIN:-build/release/tests/powerloss/crashfs}
for b in "$STRATA" "$CRASHFS"; do
  [ -x "$b" ] || { echo "powerloss: $b is not built (cmake --build --preset release)"; exit 2; }
done
if [ ! -e /dev/fuse ] || ! command -v fusermount3 > /dev/null; then
  echo "powerloss: skipped: needs /dev/fuse and fusermount3 (package fuse3)"
  exit 77
fi

# POWERLOSS_DIR: work there and keep it (a later run continues its store and ack log).
if [ -n "${POWERLOSS_DIR:-}" ]; then
  WORK=$POWERLOSS_DIR
  KEEP=1
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d /tmp/strata-powerloss.XXXXXX)
fi
BACKING=$WORK/backing
MNT=$WORK/mnt
ACKS=$WORK/acks.log
mkdir -p "$BACKING" "$MNT"
pids=()
crashfs_pid=
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  if mountpoint -q "$MNT"; then
    [ -e "$MNT/.crashfs-control" ] && echo cut > "$MNT/.crashfs-control" 2> /dev/null
    fusermount3 -u "$MNT" 2> /dev/null || umount -l "$MNT" 2> /dev/null
  fi
  [ -n "$crashfs_pid" ] && wait "$crashfs_pid" 2> /dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "powerloss: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

mount_crashfs() {  # seed, tear flag
  local args=(--seed "$1")
  [ "$2" = tear ] && args+=(--tear)
  env -u LD_PRELOAD "$CRASHFS" "${args[@]}" "$BACKING" "$MNT" 2> "$WORK/crashfs.log" &
  crashfs_pid=$!
  for _ in $(seq 200); do
    [ -e "$MNT/.crashfs-control" ] && return 0
    sleep 0.02
  done
  echo "powerloss: crashfs did not mount:"; cat "$WORK/crashfs.log"
  return 1
}

# Starts strata serve on the mount; sets SERVER to its gRPC address.
start_serve() {
  "$STRATA" serve --data "$MNT/data" --grpc-port 0 --http-port 0 > "$WORK/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 500); do
    SERVER=$(grep -oE 'on 127\.0\.0\.1:[0-9]+' "$WORK/serve.log" | head -1 | cut -d' ' -f2)
    [ -n "$SERVER" ] && return 0
    kill -0 "${pids[-1]}" 2> /dev/null || break
    sleep 0.02
  done
  echo "powerloss: strata serve did not start:"; cat "$WORK/serve.log"
  return 1
}

passed=0
failed=0
for round in $(seq 1 "$ROUNDS"); do
  tear=drop
  [ $((round % 2)) -eq 0 ] && tear=tear
  mode=stress
  [ $((round % 5)) -eq 0 ] && mode=serve
  mount_crashfs "$round" "$tear" || { failed=$((failed + 1)); break; }
  pids=()
  if [ "$mode" = stress ]; then
    "$STRATA" stress --data "$MNT/data" --log "$ACKS" --duration 120 --seed "$round" \
      --durability sync > "$WORK/stress.log" 2>&1 &
    pids+=($!)
  else
    start_serve || { failed=$((failed + 1)); break; }
    "$STRATA" stress --server "$SERVER" --data "$BACKING/data" --log "$ACKS" --duration 120 \
      --seed "$round" > "$WORK/stress.log" 2>&1 &
    pids+=($!)
    "$STRATA" bench ingest --server "$SERVER" --duration 120 --warmup 0 > /dev/null 2>&1 &
    pids+=($!)
  fi
  # The cut: 0.3 to 3.3 s in (the store is created in the first round's first moments).
  delay_ms=$((300 + RANDOM % 3000))
  sleep "$(printf '0.%03d' $((delay_ms % 1000)))"
  sleep $((delay_ms / 1000))
  alive=yes
  kill -0 "${pids[0]}" 2> /dev/null || alive=no
  echo cut > "$MNT/.crashfs-control"
  # Power is gone: every process on the machine dies with it.
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
  pids=()
  control=$(cat "$MNT/.crashfs-control" 2> /dev/null)
  dropped=$(echo "$control" | grep -E '^(dropped_bytes|dropped_entries|torn_files):' |
    tr '\n' ' ' | sed 's/ $//')
  cut_errors=$(echo "$control" | sed -n 's/^cut_errors: //p')
  fusermount3 -u "$MNT"
  wait "$crashfs_pid" 2> /dev/null
  crashfs_pid=
  out=$("$STRATA" stress --verify --data "$BACKING/data" --log "$ACKS" 2>&1 | grep -v '^nofsync:')
  rc=$?  # pipefail: the status of strata unless grep found nothing
  verdict=ok
  if [ $rc -ne 0 ] || [ "$alive" = no ] || [ "${cut_errors:-1}" != 0 ]; then
    verdict=FAILED
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
  printf 'round %2d (%s, %s, cut after %4d ms; %s): %s %s\n' "$round" "$mode" "$tear" \
    "$delay_ms" "$dropped" "$verdict" "$(echo "$out" | head -1)"
  if [ "$verdict" = FAILED ]; then
    echo "$out" | sed -n '2,12p'
    [ "$alive" = no ] && { echo "  the workload had exited before the cut:"; tail -5 "$WORK/stress.log"; }
    [ "${cut_errors:-1}" != 0 ] && echo "  crashfs could not restore the durable state: $control"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
