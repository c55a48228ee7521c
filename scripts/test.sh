#!/usr/bin/env bash
# Runs the whole test suite (unit, property, subscription, crash) with ctest.
set -euo pipefail
PRESET=${1:-release}
cd "$(dirname "$0")/.."
bash scripts/check-layout.sh
ctest --preset "$PRESET" --output-on-failure -j2 --timeout 900
