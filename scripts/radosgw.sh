#!/usr/bin/env bash
# Starts and stops a throwaway single-node Ceph cluster with radosgw (S3) on 127.0.0.1, for tests.
#
# The object-store tests need a real S3 server (SigV4, payload hashes, Range GET, ListObjectsV2,
# multipart), and Ceph's radosgw is the only one packaged in Debian. One monitor, one OSD whose data
# lives in RAM (memstore) and one radosgw start in a few seconds, as root and without systemd.
#
#   bash scripts/radosgw.sh start DIR   creates DIR (conf, keyring, mon and osd data, logs, pids),
#                                       starts the daemons on free ports, creates an S3 user and the
#                                       bucket strata-test, writes DIR/env (export lines) and prints it
#   bash scripts/radosgw.sh stop-rgw DIR / start-rgw DIR   stop / restart only radosgw (outage
#                                       tests; the cluster and its objects stay)
#   bash scripts/radosgw.sh stop DIR    stops the daemons of DIR by PID (rgw, osd, mon); idempotent;
#                                       removes only the pid files: the caller deletes DIR
#
# Everything lives under DIR and every command gets `-c DIR/ceph.conf`: /etc/ceph and /var/lib/ceph
# are never touched, and clusters in different DIRs (own fsid, own ports) can run side by side.
# RADOSGW_MEMSTORE_BYTES sets the OSD's RAM capacity (default 1 GiB).
set -euo pipefail

ACCESS_KEY=strata
SECRET_KEY=strata-secret-key
BUCKET=strata-test
REGION=us-east-1
RGW_NAME=client.rgw.strata
MEMSTORE_BYTES=${RADOSGW_MEMSTORE_BYTES:-1073741824}
HTTP_TIMEOUT=90 # seconds for radosgw to answer HTTP
WRITE_TIMEOUT=60 # seconds for the first write (bucket creation) to succeed
STOP_TIMEOUT=10  # seconds between SIGTERM and SIGKILL

say() { echo "radosgw: $*"; }
die() {
  echo "radosgw: error: $*" >&2
  exit 1
}
elapsed() { echo "$(($(date +%s%N) / 1000000 - T0))" | awk '{printf "%.1f s", $1 / 1000}'; }

# Prints the last lines of a daemon's log and of its stdout/stderr.
show_log() {
  local f
  for f in "$DIR/log/$1.log" "$DIR/log/$1.out"; do
    [ -s "$f" ] && { echo "--- tail of $f" >&2; tail -n 30 "$f" >&2; }
  done
  return 0
}

# Two distinct free TCP ports on 127.0.0.1, from the OS (both sockets are open at once).
free_ports() {
  python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))'
}

write_conf() {
  cat > "$CONF" << EOF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# The monitor commits every 1 s by default, and radosgw creates its pools one after another, each
# waiting for a commit or two: 0.1 s brings the start from about 14 s down to about 2.5 s.
paxos propose interval = 0.1
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file =
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.\$channel.log
crash dir = $DIR/crash
keyring = $DIR/keyring
mon data = $DIR/mon
osd data = $DIR/osd

[osd]
osd objectstore = memstore
# At start an OSD sends 'osd crush set-device-class' and 'osd crush create-or-move' to the monitor,
# and about one start in eight sends them before its monitor client has the monitor map: the
# monitor refuses a command with fsid 0 ('wrong fsid'), and the OSD exits. The script places the
# OSD in the CRUSH map itself, before starting it, and the OSD sends no command.
osd class update on start = false
osd crush update on start = false
memstore device bytes = $MEMSTORE_BYTES

[$RGW_NAME]
# tcp_nodelay: without it a small response on a reused connection waits 40 ms for a delayed ACK.
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $DIR/rgw
EOF
}

# Runs NAME's command in the background, its output in DIR/log/NAME.out, its PID in DIR/NAME.pid.
launch() {
  local name=$1
  shift
  "$@" < /dev/null > "$DIR/log/$name.out" 2>&1 &
  echo $! > "$DIR/$name.pid"
}

# True if the daemon of DIR/NAME.pid runs (not a zombie, and its command line names this DIR's conf,
# so that a recycled PID is never taken for it).
running() {
  local pid
  pid=$(cat "$DIR/$1.pid" 2> /dev/null) || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2> /dev/null)" != Z ] || return 1
  tr '\0' ' ' 2> /dev/null < "/proc/$pid/cmdline" | grep -qF -- "-c $CONF "
}

ceph_cli() { timeout 60 ceph -c "$CONF" --connect-timeout 30 "$@"; }

start_mon() {
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' > /dev/null
  monmaptool --create --add a "v1:127.0.0.1:$MON_PORT" --fsid "$FSID" "$DIR/monmap" > /dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" > "$DIR/log/mon-mkfs.out" 2>&1 ||
    { show_log mon-mkfs; die "ceph-mon --mkfs failed"; }
  launch mon ceph-mon -c "$CONF" -i a -f
  ceph_cli mon stat > /dev/null 2>&1 || { show_log mon.a; show_log mon; die "the monitor does not answer"; }
  say "monitor up on 127.0.0.1:$MON_PORT ($(elapsed))"
}

start_osd() {
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph_cli osd new "$uuid") || die "'ceph osd new' failed"
  ceph_cli osd crush add "osd.$id" 1.0 host=localhost root=default > /dev/null 2>&1 ||
    die "'ceph osd crush add osd.$id' failed"
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" > "$DIR/log/osd-mkfs.out" 2>&1 ||
    { show_log osd-mkfs; die "ceph-osd --mkfs failed"; }
  launch osd ceph-osd -c "$CONF" -i "$id" -f
  say "osd.$id started, memstore of $MEMSTORE_BYTES bytes ($(elapsed))"
}

# radosgw opens its port only once the OSD is up and its pools exist.
start_rgw() {
  local deadline=$((SECONDS + HTTP_TIMEOUT))
  launch rgw radosgw -c "$CONF" -n "$RGW_NAME" -f
  until curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/"; do
    local who
    for who in mon osd rgw; do
      running "$who" || { show_log "$RGW_NAME"; show_log "$who"; die "the $who daemon exited"; }
    done
    if [ $SECONDS -ge $deadline ]; then
      show_log "$RGW_NAME"
      show_log osd.0
      die "radosgw did not answer on http://127.0.0.1:$RGW_PORT within $HTTP_TIMEOUT s"
    fi
    sleep 0.5
  done
  say "radosgw answers on http://127.0.0.1:$RGW_PORT ($(elapsed))"
}

create_user() {
  timeout 60 radosgw-admin -c "$CONF" user create --uid="$ACCESS_KEY" --display-name="$ACCESS_KEY" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" > "$DIR/log/user-create.out" 2>&1 ||
    { show_log user-create; die "radosgw-admin user create failed"; }
}

# The first write to a new cluster can fail or hang for a few seconds: retry until it succeeds.
create_bucket() {
  local deadline=$((SECONDS + WRITE_TIMEOUT)) code
  while :; do
    code=$(curl -s -o "$DIR/log/bucket-create.out" -w '%{http_code}' --max-time 20 -X PUT \
      --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$RGW_PORT/$BUCKET") || true
    [ "$code" = 200 ] && break
    if [ $SECONDS -ge $deadline ]; then
      show_log bucket-create
      show_log "$RGW_NAME"
      die "creating bucket $BUCKET failed (last HTTP status: $code) within $WRITE_TIMEOUT s"
    fi
    sleep 1
  done
  say "user $ACCESS_KEY and bucket $BUCKET created ($(elapsed))"
}

write_env() {
  cat > "$DIR/env" << EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export AWS_REGION=$REGION
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export STRATA_TEST_S3_BUCKET=$BUCKET
EOF
  cat "$DIR/env"
}

# SIGTERM, up to STOP_TIMEOUT s, then SIGKILL; returns once the process is gone.
stop_one() {
  local name=$1 pid i
  [ -f "$DIR/$name.pid" ] || return 0
  if running "$name"; then
    pid=$(cat "$DIR/$name.pid")
    kill -TERM "$pid" 2> /dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      running "$name" || break
      sleep 0.1
    done
    if running "$name"; then
      say "$name (pid $pid) ignored SIGTERM for $STOP_TIMEOUT s: SIGKILL"
      kill -KILL "$pid" 2> /dev/null || true
      while running "$name"; do sleep 0.1; done
    fi
    say "$name stopped (pid $pid)"
  fi
  rm -f "$DIR/$name.pid"
}

stop_all() {
  stop_one rgw
  stop_one osd
  stop_one mon
}

# If start fails halfway, stop what it started so that no daemon is left behind.
on_start_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    say "start failed: stopping the daemons it started (logs stay in $DIR/log)" >&2
    stop_all
  fi
  exit $rc
}

cmd_start() {
  [ ! -e "$DIR/ceph.conf" ] || die "$DIR already holds a cluster: stop it and delete the directory"
  mkdir -p "$DIR"/{log,run,mon,osd,rgw,crash}
  T0=$(($(date +%s%N) / 1000000))
  trap on_start_exit EXIT
  FSID=$(cat /proc/sys/kernel/random/uuid)
  read -r MON_PORT RGW_PORT < <(free_ports)
  write_conf
  say "starting in $DIR (fsid $FSID)"
  start_mon
  start_osd
  start_rgw
  create_user
  create_bucket
  write_env
  say "started in $(elapsed)"
}

# For outage tests: stop only radosgw (the cluster keeps its data), and start it again on its port.
cmd_stop_rgw() { stop_one rgw; }
cmd_start_rgw() {
  T0=$(($(date +%s%N) / 1000000))
  RGW_PORT=$(sed -n 's/.*endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$CONF")
  [ -n "$RGW_PORT" ] || die "no radosgw port in $CONF"
  start_rgw
}

cmd_stop() {
  [ -d "$DIR" ] || { say "nothing to stop: $DIR does not exist"; return 0; }
  stop_all
}

[ $# -eq 2 ] || die "usage: $0 start|stop|stop-rgw|start-rgw DIR"
case "$2" in *[[:space:]]*) die "DIR must not contain white space: '$2'" ;; esac
case "$2" in /*) DIR=${2%/} ;; *) DIR=$PWD/${2%/} ;; esac
CONF=$DIR/ceph.conf
case "$1" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  stop-rgw) cmd_stop_rgw ;;
  start-rgw) cmd_start_rgw ;;
  *) die "usage: $0 start|stop|stop-rgw|start-rgw DIR" ;;
esac
