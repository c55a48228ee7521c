#!/usr/bin/env bash
# Runs the libFuzzer target over request decoding (tests/fuzz/request_fuzz.cc) for a bounded
# time, from a fresh seed corpus; any crash, sanitizer report or broken invariant fails it and
# leaves the input as crash-* in the current directory. Build it first:
#   cmake --preset fuzz && cmake --build --preset fuzz
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh      (longer runs by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZER=build/fuzz/tests/fuzz/request_fuzz
SECONDS_BUDGET=${FUZZ_SECONDS:-45}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
echo "== fuzz: request decoding for ${SECONDS_BUDGET}s (libFuzzer, ASan+UBSan)"
status=0
STRATA_FUZZ_SEEDS="$corpus" "$FUZZER" -max_total_time="$SECONDS_BUDGET" -print_final_stats=1 \
  -timeout=10 -rss_limit_mb=2048 "$corpus" > "$corpus.log" 2>&1 || status=$?
# Only the summary is printed; on failure, the whole report.
if [ $status -ne 0 ]; then cat "$corpus.log"; else grep -E "^(Done|stat::)" "$corpus.log"; fi
rm -f "$corpus.log"
exit $status
