#!/usr/bin/env bash
# Runs the whole test suite (unit, property, subscription, crash) with ctest, once per preset
# given (default: release). `make test` passes "release debug": the debug preset has ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check-layout.sh
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(release)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The official clients for the compatibility suite, exactly as locked.
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)
# A real S3 server for the object-store tests: radosgw on 127.0.0.1 (scripts/radosgw.sh), stopped
# on exit. Its address and credentials reach the tests through the standard AWS_* variables.
RGW_DIR=$(mktemp -d /tmp/strata-radosgw.XXXXXX)
ETCD_DIR=$(mktemp -d /tmp/strata-etcd.XXXXXX)
cleanup() {
  bash scripts/radosgw.sh stop "$RGW_DIR" > /dev/null
  bash scripts/etcd.sh stop "$ETCD_DIR" > /dev/null
  rm -rf "$RGW_DIR" "$ETCD_DIR"
}
trap cleanup EXIT
bash scripts/radosgw.sh start "$RGW_DIR" | grep -v '^export'
# A real etcd for the cluster tests (src/router/tests): one member, shared by tests that use
# their own cluster names; tests that kill etcd start their own through STRATA_TEST_ETCD_SCRIPT.
bash scripts/etcd.sh start "$ETCD_DIR" 1 | grep -v '^export'
# shellcheck source=/dev/null
source "$ETCD_DIR/env"
export STRATA_ETCD STRATA_TEST_ETCD_SCRIPT=$PWD/scripts/etcd.sh
# shellcheck source=/dev/null
source "$RGW_DIR/env"
# The outage test (cold_serial_test, run alone) stops and restarts this radosgw through the script.
export STRATA_TEST_RGW_DIR=$RGW_DIR STRATA_TEST_RGW_SCRIPT=$PWD/scripts/radosgw.sh
for p in "${presets[@]}"; do
  echo "== tests ($p build)"
  ctest --preset "$p" --output-on-failure -j2 --timeout 900
done
