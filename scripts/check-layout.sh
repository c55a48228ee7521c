#!/usr/bin/env bash
# Checks the dependency rules that the compiler cannot: which module may include which (the
# edges of docs/architecture.md, from DESIGN.md's layout), and that third-party headers stay in
# the directory that adapts them. Then formatting, and that no function over 80 lines lacks a
# stated reason (scripts/function-lengths.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

# may_include DIR ALLOWED...: every `#include "X/..."` of a project module in DIR's files (tests
# excluded) names DIR itself or one of ALLOWED. A module is a top-level directory of src/, or one
# of storage's tiers (storage/hot, storage/warm, storage/cold, storage/log), which are libraries
# below the rest of storage: a tier includes no other tier except the tier-neutral storage/log,
# and not the store above it.
modules=" base env model objstore storage router projection query kafka wire client tools server app cli "
tiers="hot|warm|cold|log"
module_of() {  # an include path -> its module ("" for a header that is not a project module's)
  case "$1" in
    storage/hot/* | storage/warm/* | storage/cold/* | storage/log/*) echo "$1" | cut -d/ -f1-2 ;;
    *) case "$modules" in *" ${1%%/*} "*) echo "${1%%/*}" ;; esac ;;
  esac
}
may_include() {
  local dir=$1
  shift
  local allowed=" $dir $* "
  local f inc m
  while IFS= read -r f; do
    while IFS= read -r inc; do
      m=$(module_of "$inc")
      [ -z "$m" ] && continue
      case "$allowed" in
        *" $m "*) ;;
        *)
          echo "layout: $f includes \"$inc\": src/$dir may include only: $*"
          fail=1
          ;;
      esac
    done < <(grep -hoE '^#include "[^"]+"' "$f" | sed -E 's/^#include "([^"]+)"/\1/')
  done < <(find "src/$dir" -name '*.h' -o -name '*.cc' | grep -v '/tests/' |
    if [ "$dir" = storage ]; then grep -vE "^src/storage/($tiers)/"; else cat; fi || true)
}

may_include base
may_include env base
may_include model base
may_include objstore base env
may_include storage base env model objstore storage/hot storage/warm storage/cold storage/log
may_include storage/log base model
may_include storage/hot base model storage/log
may_include storage/warm base env model storage/log
may_include storage/cold base env model objstore storage/log
may_include router base model storage
may_include projection base model storage router
may_include wire base model storage
may_include client base model storage wire
may_include server base model storage router projection wire
may_include tools base model env storage router projection client app
may_include app base model env objstore storage router projection wire client server
may_include cli base model env objstore storage router projection client app tools

# Third-party headers stay in the directory that adapts them.
bad=$(grep -rln '#include <rocksdb/' src | grep -v '^src/storage/warm/' || true)
if [ -n "$bad" ]; then echo "layout: RocksDB included outside src/storage/warm: $bad"; fail=1; fi
bad=$(grep -rlnE '#include <(curl/|pugixml)' src | grep -v '^src/objstore/s3/' || true)
if [ -n "$bad" ]; then echo "layout: curl or pugixml included outside src/objstore/s3: $bad"; fail=1; fi
bad=$(grep -rlnE '#include <grpcpp/|#include <google/protobuf/' src | grep -vE '^src/(server/grpc|client|wire|router/etcd)/' || true)
if [ -n "$bad" ]; then echo "layout: gRPC or protobuf included outside server/grpc, client, wire, router/etcd: $bad"; fail=1; fi
# etcd's generated code only in its adapter.
bad=$(grep -rln '#include "etcd/etcd\.' src | grep -v '^src/router/etcd/' || true)
if [ -n "$bad" ]; then echo "layout: etcd's generated code included outside src/router/etcd: $bad"; fail=1; fi
bad=$(grep -rln '#include <fuse' src || true)
if [ -n "$bad" ]; then echo "layout: FUSE is a test tool (tests/powerloss), not in src: $bad"; fail=1; fi
# hiredis in the Redis sink (and the tests that drive a real Redis); simdjson in the fold.
bad=$(grep -rln '#include <hiredis/' src | grep -vE '^src/projection/(sinks/redis|tests)/' || true)
if [ -n "$bad" ]; then echo "layout: hiredis included outside src/projection/sinks/redis: $bad"; fail=1; fi
bad=$(grep -rln '#include <simdjson' src | grep -v '^src/projection/fold.cc' || true)
if [ -n "$bad" ]; then echo "layout: simdjson included outside src/projection/fold.cc: $bad"; fail=1; fi
bad=$(grep -rln '#include <CLI/' src | grep -v '^src/cli/' || true)
if [ -n "$bad" ]; then echo "layout: CLI11 included outside src/cli: $bad"; fail=1; fi
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
if ! bash scripts/function-lengths.sh --check > /tmp/strata-function-lengths.$$ 2>&1; then
  cat /tmp/strata-function-lengths.$$
  fail=1
else
  echo "functions: none over 80 lines without a stated reason"
fi
rm -f /tmp/strata-function-lengths.$$
exit $fail
