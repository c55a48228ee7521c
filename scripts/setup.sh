#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Strata needs.
# Idempotent: re-running it installs nothing new. Needs root (or sudo) on Debian 12.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  librocksdb-dev libzstd-dev liblz4-dev libsnappy-dev libbz2-dev zlib1g-dev
  libxxhash-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
  libspdlog-dev libfmt-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libcpp-httplib-dev
  clang-format
  # scripts/function-lengths.sh (run by check-layout.sh): Universal Ctags gives every function's
  # first and last line.
  universal-ctags
  # The cold tier (src/objstore): S3 over libcurl's SigV4 signing, S3's XML answers with pugixml.
  libcurl4-openssl-dev libpugixml-dev
  # The process tests read /health and /metrics with curl.
  curl
  # A real S3 server for the object-store contract tests: Ceph's radosgw on one monitor and one
  # memstore OSD (scripts/radosgw.sh), all on 127.0.0.1.
  radosgw ceph-mon ceph-osd ceph-common
  # The libFuzzer target (tests/fuzz): clang 16 is the first Debian clang that compiles
  # libstdc++ 12's std::expected; libclang-rt-16-dev has libFuzzer and the sanitizer runtimes.
  clang-16 libclang-rt-16-dev
  # Projections (src/projection): the Redis sink speaks to Redis through hiredis; JSON fields of
  # event data are read with simdjson's on-demand parser, which finds a field without building a
  # document tree (a fold reads one or two fields of every event); redis-server for the tests.
  libhiredis-dev libsimdjson-dev redis-server
  # GNU time: peak RSS of a whole process for the cold-tier benchmark (bench/cold.sh).
  time
  # RocksDB is built from Debian's source package in release mode (scripts/rocksdb.sh):
  # dpkg-source unpacks it with Debian's patches. librocksdb-dev above stays for the comparison
  # build (STRATA_SYSTEM_ROCKSDB) only.
  dpkg-dev
  # Power-loss tests (tests/powerloss): a FUSE filesystem that forgets what was not synced.
  fuse3 libfuse3-dev
  # The cluster (docs/cluster.md): etcd holds membership, partition ownership and fencing tokens;
  # the server speaks etcd's v3 gRPC API itself (proto/etcd), the tests run real etcd members
  # (scripts/etcd.sh) and etcdctl.
  etcd-server etcd-client
)

# Node.js runs the official-client compatibility tests. Machines of this kind ship it (with npm);
# Debian's own packages are used only where there is none (they conflict with NodeSource's).
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  PACKAGES+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Source packages (apt-get source rocksdb): a deb-src entry for Debian 12's main archive.
SRC_LIST=/etc/apt/sources.list.d/strata-deb-src.sources
need_update=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  echo "setup: adding a deb-src entry ($SRC_LIST) for apt-get source"
  printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm' \
    'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
    $SUDO tee "$SRC_LIST" > /dev/null
  need_update=1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  if [ $need_update -eq 1 ]; then $SUDO apt-get update -qq; fi
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
