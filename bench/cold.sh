#!/usr/bin/env bash
# The cold tier's figures (bench/README.md, "Cold tier"), all from one run on one machine:
#   1. `strata bench cold` RUNS times against radosgw (S3 on loopback) and against the local
#      directory store: archive throughput, snapshot, single-event cold reads, $all scan from
#      cold, restore s/GiB;
#   2. the baselines of the same run: a plain `curl` PUT of the same number of bytes as the
#      archiver uploaded (one stream, and one per shard in parallel), and `cp` + `sync` of them
#      for the directory store;
#   3. peak RSS of `strata archive flush` draining a BACKLOG_GB backlog, against `strata archive
#      status` opening the same store (GNU time's maximum resident set size);
#   4. append throughput with archiving on and off (`strata bench ingest`, with and without --cold).
#   bash bench/cold.sh [path/to/strata]
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=$(realpath "${1:-build/release/src/cli/strata}")
GB=${GB:-1}
RUNS=${RUNS:-3}
BACKLOG_GB=${BACKLOG_GB:-2}
WORK=$(mktemp -d "${BENCH_DATA:-/tmp}/strata-bench-cold.XXXXXX")
OUT=${OUT:-bench-cold-results.jsonl}
: > "$OUT"
trap 'bash scripts/radosgw.sh stop "$WORK/rgw" > /dev/null; rm -rf "$WORK"' EXIT
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(f"{statistics.median(v):.2f}")'; }
since() { python3 -c "import time; print(round(time.time() - $1, 3))"; }
field() { python3 -c "import sys,json; print(json.loads(sys.stdin.readlines()[-1])['$1'])"; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; GB=$GB RUNS=$RUNS"
# The OSD keeps objects in RAM: room for the segments, snapshots and baselines of every run.
RADOSGW_MEMSTORE_BYTES=$((12 << 30)) bash scripts/radosgw.sh start "$WORK/rgw" | grep -v '^export'
# shellcheck source=/dev/null
source "$WORK/rgw/env"
S3="s3://$STRATA_TEST_S3_BUCKET/bench"
curl_put() {  # FILE KEY -> seconds
  curl -s -o /dev/null -w '%{time_total}\n' -T "$1" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$AWS_ENDPOINT_URL/$STRATA_TEST_S3_BUCKET/$2"
}

for i in $(seq "$RUNS"); do
  for target in s3 fs; do
    url=$S3
    [ $target = fs ] && url=file://$WORK/fscold
    echo "== run $i: strata bench cold --cold $url --gb $GB"
    "$STRATA" bench cold --data "$WORK/b" --cold "$url" --gb "$GB" --segment-mb 32 2> /dev/null |
      tee "$WORK/last.txt"
    line=$(tail -n 1 "$WORK/last.txt")
    bytes=$(echo "$line" | field archive_uploaded_bytes)
    head -c "$bytes" /dev/urandom > "$WORK/blob"
    if [ $target = s3 ]; then
      one=$(curl_put "$WORK/blob" "baseline-$i")
      split -n 4 "$WORK/blob" "$WORK/part."
      start=$(date +%s.%N)
      for p in "$WORK"/part.*; do curl_put "$p" "baseline-$i-$(basename "$p")" > /dev/null & done
      wait
      four=$(since "$start")
      rm -f "$WORK"/part.*
    else
      mkdir -p "$WORK/cp"
      start=$(date +%s.%N)
      cp "$WORK/blob" "$WORK/cp/blob-$i" && sync
      one=$(since "$start")
      four=$one
      rm -f "$WORK/cp/blob-$i"
    fi
    echo "baseline: the same $bytes bytes: $one s in one stream, $four s in four"
    echo "$line" | python3 -c "
import sys, json
j = json.loads(sys.stdin.read()); j['target'] = '$target'
j['baseline_one_s'] = $one; j['baseline_four_s'] = $four
print(json.dumps(j))" >> "$OUT"
  done
done

echo "== peak RSS: a ${BACKLOG_GB} GiB backlog drained by 'strata archive flush' (radosgw)"
fill=$("$STRATA" bench cold --data "$WORK/backlog" --cold "$S3" --gb "$BACKLOG_GB" --segment-mb 32 --fill-only 2> /dev/null | tail -n 1)
data=$(echo "$fill" | field data)
url=$(echo "$fill" | field url)
# The first open re-indexes the fill's unindexed tail; the second is the baseline: the same store
# opened and its backlog measured, without archiving.
"$STRATA" archive status --data "$data" --cold "$url" > /dev/null
/usr/bin/time -f '%M' -o "$WORK/rss-status" "$STRATA" archive status --data "$data" --cold "$url" > /dev/null
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$WORK/rss-flush" "$STRATA" archive flush --data "$data" --cold "$url"
flush_s=$(since "$start")
echo "peak RSS: archive status $(cat "$WORK/rss-status") KiB, archive flush $(cat "$WORK/rss-flush") KiB ($flush_s s)"
echo "{\"bench\":\"cold-rss\",\"backlog_gb\":$BACKLOG_GB,\"status_kib\":$(cat "$WORK/rss-status"),\"flush_kib\":$(cat "$WORK/rss-flush"),\"flush_s\":$flush_s}" >> "$OUT"
rm -rf "$WORK/backlog"

echo "== appends with and without archiving (strata bench ingest, 10 s, 1 s segments)"
for i in $(seq "$RUNS"); do
  off=$("$STRATA" bench ingest --data "$WORK/ingest" --duration 10 --json 2> /dev/null | tail -n 1 | field events_per_sec)
  on=$("$STRATA" bench ingest --data "$WORK/ingest" --duration 10 --json --cold "file://$WORK/ingest-cold-$i" --segment-seconds 1 2> /dev/null | tail -n 1 | field events_per_sec)
  echo "ingest: $off events/s without archiving, $on with"
  echo "{\"bench\":\"cold-ingest\",\"off\":$off,\"on\":$on}" >> "$OUT"
done

echo "== medians of $RUNS runs"
for target in s3 fs; do
  sel() { grep "\"target\": \"$target\"" "$OUT" | python3 -c "import sys,json; [print(json.loads(l)['$1']) for l in sys.stdin]" | median; }
  echo "$target: archive $(sel archive_payload_mib_s) MiB/s of payload ($(sel archive_uploaded_mib_s) MiB/s uploaded, $(sel archive_seconds) s);" \
    "baseline same bytes $(sel baseline_one_s) s one stream, $(sel baseline_four_s) s four;" \
    "cold read p50 $(sel read_p50_ms) ms p99 $(sel read_p99_ms) ms; scan $(sel scan_events_s) events/s $(sel scan_mib_s) MiB/s;" \
    "snapshot $(sel snapshot_seconds) s; restore $(sel restore_s_per_gib) s/GiB of store ($(sel restore_s_per_payload_gib) s/GiB of payload)"
done
grep cold-ingest "$OUT" | python3 -c "import sys,json,statistics; r=[json.loads(l) for l in sys.stdin]; print('ingest median: off', statistics.median(x['off'] for x in r), 'on', statistics.median(x['on'] for x in r))"
echo "raw results: $OUT"
