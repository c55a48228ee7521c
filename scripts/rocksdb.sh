#!/usr/bin/env bash
# Builds RocksDB in release mode (NDEBUG: no assertions) from Debian's own source package of the
# version Debian ships (7.8.3-2), and installs it where CMakeLists.txt looks for it:
#
#   ~/.cache/strata/rocksdb-7.8.3-2/install   (headers, librocksdb.a, the CMake package)
#
# Why: Debian's librocksdb is compiled without NDEBUG, so any RocksDB-internal assert() aborts
# the server (a full disk did: "Assertion `sync_without_flush_called_' failed"). Same source and
# Debian patches, same -O2, same PORTABLE setting; the differences are NDEBUG, a static library
# only, and only the compressions Strata uses (zstd; lz4 kept).
#
# Idempotent and cached: the install is reused while its stamp matches this script's settings;
# objects go through ccache, so a rebuild after `rm -rf ~/.cache/strata` costs little on the same
# machine. A cold build takes about 20 minutes on 2 cores (see bench/README.md). Needs the deb-src
# entry and dpkg-dev that scripts/setup.sh installs.
#
#   bash scripts/rocksdb.sh          build if needed, print the install directory
#   bash scripts/rocksdb.sh --force  rebuild
set -euo pipefail

VERSION=7.8.3
DEBIAN_REVISION=2
ROOT="${HOME}/.cache/strata/rocksdb-${VERSION}-${DEBIAN_REVISION}"
INSTALL="$ROOT/install"
JOBS=${JOBS:-2}

CMAKE_ARGS=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  # Debian's package is -O2 without NDEBUG; this is -O2 with it.
  "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG"
  "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG"
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  -DCMAKE_C_COMPILER_LAUNCHER=ccache
  -DCMAKE_INSTALL_PREFIX="$INSTALL"
  -DCMAKE_INSTALL_LIBDIR=lib
  # Strata subclasses RocksDB types (listeners, compaction filters): keep RTTI, as Debian does.
  -DUSE_RTTI=ON
  -DPORTABLE=ON
  -DFAIL_ON_WARNINGS=OFF
  -DROCKSDB_BUILD_SHARED=OFF
  -DWITH_ZSTD=ON -DWITH_LZ4=ON
  -DWITH_SNAPPY=OFF -DWITH_ZLIB=OFF -DWITH_BZ2=OFF
  -DWITH_GFLAGS=OFF -DWITH_JEMALLOC=OFF -DWITH_LIBURING=OFF -DWITH_TBB=OFF
  -DWITH_TESTS=OFF -DWITH_BENCHMARK_TOOLS=OFF -DWITH_CORE_TOOLS=OFF -DWITH_TOOLS=OFF
  -DWITH_ALL_TESTS=OFF
)
STAMP_TEXT="rocksdb ${VERSION}-${DEBIAN_REVISION} ${CMAKE_ARGS[*]}"

if [ "${1:-}" != "--force" ] && [ -f "$INSTALL/.stamp" ] && [ "$(cat "$INSTALL/.stamp")" = "$STAMP_TEXT" ]; then
  echo "$INSTALL"
  exit 0
fi

for tool in cmake ninja ccache dpkg-source apt-get; do
  command -v "$tool" > /dev/null || { echo "rocksdb.sh: $tool is missing; run scripts/setup.sh first" >&2; exit 1; }
done

start=$(date +%s)
mkdir -p "$ROOT/download"
SRC="$ROOT/src"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  echo "rocksdb.sh: fetching Debian's source package rocksdb ${VERSION}-${DEBIAN_REVISION}" >&2
  (cd "$ROOT/download" &&
    { ls rocksdb_${VERSION}-${DEBIAN_REVISION}.dsc > /dev/null 2>&1 ||
      apt-get source --download-only "rocksdb=${VERSION}-${DEBIAN_REVISION}" > /dev/null 2>&1 ||
      { echo "rocksdb.sh: apt-get source rocksdb failed; is the deb-src entry of scripts/setup.sh there?" >&2; exit 1; }; })
  rm -rf "$SRC"
  # Unpacks the original tarball and applies Debian's patches.
  dpkg-source --no-check -x "$ROOT/download/rocksdb_${VERSION}-${DEBIAN_REVISION}.dsc" "$SRC" > /dev/null
fi

echo "rocksdb.sh: building RocksDB ${VERSION} (release, NDEBUG) in $ROOT/build with -j$JOBS" >&2
cmake -S "$SRC" -B "$ROOT/build" "${CMAKE_ARGS[@]}" > "$ROOT/configure.log" 2>&1 ||
  { tail -30 "$ROOT/configure.log" >&2; exit 1; }
# Progress every 10 % on stderr: a cold build is long.
if ! cmake --build "$ROOT/build" --target rocksdb -j"$JOBS" 2>&1 | tee "$ROOT/build.log" |
  awk '/^\[[0-9]+\/[0-9]+\]/ { split(substr($1, 2), a, "/"); p = int(100 * a[1] / a[2]);
         if (p >= next_p) { printf "rocksdb.sh: %d%% (%s)\n", p, $1 > "/dev/stderr"; fflush("/dev/stderr"); next_p = p + 10 } }'; then
  grep -m5 'error' "$ROOT/build.log" >&2 || true
  tail -20 "$ROOT/build.log" >&2
  exit 1
fi
rm -rf "$INSTALL"
cmake --install "$ROOT/build" > "$ROOT/install.log" 2>&1 || { tail -30 "$ROOT/install.log" >&2; exit 1; }
echo "$STAMP_TEXT" > "$INSTALL/.stamp"
echo "rocksdb.sh: built and installed in $(( $(date +%s) - start )) s" >&2
echo "$INSTALL"
