#!/usr/bin/env bash
# Checks the dependency rules of DESIGN.md that the compiler cannot: third-party headers stay in
# the directory that adapts them, and no module includes a higher one.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad=$(grep -rln '#include <rocksdb/' src | grep -v '^src/storage/warm/' || true)
if [ -n "$bad" ]; then echo "layout: RocksDB included outside src/storage/warm: $bad"; fail=1; fi
for m in base model; do
  bad=$(grep -rlnE '#include "(storage|cli|server|app|router|projection|query)/' src/$m || true)
  if [ -n "$bad" ]; then echo "layout: src/$m includes a higher module: $bad"; fail=1; fi
done
bad=$(grep -rlnE '#include "(cli|server|app|router|projection|query)/' src/storage || true)
if [ -n "$bad" ]; then echo "layout: src/storage includes a higher module: $bad"; fail=1; fi
[ $fail -eq 0 ] && echo "layout: dependency rules hold"
exit $fail
