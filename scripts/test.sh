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
for p in "${presets[@]}"; do
  echo "== tests ($p build)"
  ctest --preset "$p" --output-on-failure -j2 --timeout 900
done
