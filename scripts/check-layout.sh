#!/usr/bin/env bash
# Checks the dependency rules of DESIGN.md that the compiler cannot: third-party headers stay in
# the directory that adapts them, and no module includes a higher one.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad=$(grep -rln '#include <rocksdb/' src | grep -v '^src/storage/warm/' || true)
if [ -n "$bad" ]; then echo "layout: RocksDB included outside src/storage/warm: $bad"; fail=1; fi
for m in base model; do
  bad=$(grep -rlnE '#include "(env|objstore|storage|cli|server|app|router|projection|query)/' src/$m || true)
  if [ -n "$bad" ]; then echo "layout: src/$m includes a higher module: $bad"; fail=1; fi
done
bad=$(grep -rlnE '#include "(cli|server|app|router|projection|query)/' src/storage || true)
if [ -n "$bad" ]; then echo "layout: src/storage includes a higher module: $bad"; fail=1; fi
bad=$(grep -rlnE '#include "(cli|server|client|app|router|projection|query)/' src/wire || true)
if [ -n "$bad" ]; then echo "layout: src/wire includes a higher module: $bad"; fail=1; fi
bad=$(grep -rlnE '#include "(cli|server|app|router|projection|query)/' src/client || true)
if [ -n "$bad" ]; then echo "layout: src/client includes the server or the CLI: $bad"; fail=1; fi
bad=$(grep -rlnE '#include <(curl/|pugixml)' src | grep -v '^src/objstore/s3/' || true)
if [ -n "$bad" ]; then echo "layout: curl or pugixml included outside src/objstore/s3: $bad"; fail=1; fi
bad=$(grep -rlnE '#include "(model|objstore|storage|cli|server|client|wire|app|router|projection|query)/' src/env || true)
if [ -n "$bad" ]; then echo "layout: src/env includes more than src/base: $bad"; fail=1; fi
bad=$(grep -rln '#include <fuse' src || true)
if [ -n "$bad" ]; then echo "layout: FUSE is a test tool (tests/powerloss), not in src: $bad"; fail=1; fi
bad=$(grep -rlnE '#include "(model|storage|cli|server|client|wire|app|router|projection|query)/' src/objstore || true)
if [ -n "$bad" ]; then echo "layout: src/objstore includes more than src/base and src/env: $bad"; fail=1; fi
# hiredis in the Redis sink (and the tests that drive a real Redis); simdjson in the fold.
bad=$(grep -rln '#include <hiredis/' src | grep -vE '^src/projection/(sinks/redis|tests)/' || true)
if [ -n "$bad" ]; then echo "layout: hiredis included outside src/projection/sinks/redis: $bad"; fail=1; fi
bad=$(grep -rln '#include <simdjson' src | grep -v '^src/projection/fold.cc' || true)
if [ -n "$bad" ]; then echo "layout: simdjson included outside src/projection/fold.cc: $bad"; fail=1; fi
bad=$(grep -rlnE '#include "(cli|server|app|router|query)/' src/projection || true)
if [ -n "$bad" ]; then echo "layout: src/projection includes a higher module: $bad"; fail=1; fi
[ $fail -eq 0 ] && echo "layout: dependency rules hold"
# Formatting (.clang-format) is part of the conventions, so it is checked too.
if command -v clang-format > /dev/null; then
  unformatted=$(git ls-files --cached --others --exclude-standard '*.h' '*.cc' | while read -r f; do
    clang-format --dry-run --Werror "$f" > /dev/null 2>&1 || echo "$f"
  done)
  if [ -n "$unformatted" ]; then
    echo "format: run 'make format'; these files differ from .clang-format:"
    echo "$unformatted" | sed 's/^/  /'
    fail=1
  else
    echo "format: clean"
  fi
fi
exit $fail
