#!/usr/bin/env bash
# crashfs_selftest.sh [CRASHFS_BINARY] [NOFSYNC_LIBRARY]
#
# Checks every rule of crashfs's durability model (crashfs.cc) on small files: each test mounts
# crashfs on a fresh backing directory, changes files through the mount with python3 (os.write,
# os.fsync, os.fdatasync, os.rename, fsync of a directory opened O_RDONLY), cuts the power,
# unmounts, checks the backing directory, and remounts to check that the mount shows the same.
# With NOFSYNC_LIBRARY (libnofsync.so) it also checks the mutation shim: under it a synced write
# must be lost at the cut. Needs root (or /dev/fuse access), fuse3 and python3. Prints
# `N passed, M failed` last and exits non-zero on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CRASHFS=${1:-$HERE/crashfs}
NOFSYNC=${2:-}
if [[ -z $NOFSYNC && -e "$(dirname "$CRASHFS")/libnofsync.so" ]]; then
  NOFSYNC="$(dirname "$CRASHFS")/libnofsync.so"
fi
[[ -x $CRASHFS ]] || {
  echo "crashfs_selftest: no crashfs binary at $CRASHFS"
  echo "usage: crashfs_selftest.sh [CRASHFS_BINARY [NOFSYNC_LIBRARY]]"
  exit 2
}
command -v fusermount3 > /dev/null || { echo "crashfs_selftest: fusermount3 missing (fuse3)"; exit 2; }
if [[ ! -c /dev/fuse || ! -r /dev/fuse || ! -w /dev/fuse ]]; then
  echo "skip: /dev/fuse is not usable here (FUSE needs it; run as root or in a privileged container)"
  exit 77  # ctest SKIP_RETURN_CODE
fi
# The real interpreter, not a wrapper script (pyenv's shims would carry LD_PRELOAD into bash).
PY=$(python3 -c 'import sys; print(sys.executable)')

WORK=$(mktemp -d /tmp/crashfs-selftest.XXXXXX)
cleanup() {
  local mounts
  mounts=$(grep -o " $WORK/[^ ]* fuse" /proc/mounts 2> /dev/null | awk '{print $1}' || true)
  for m in $mounts; do fusermount3 -u -z "$m" 2> /dev/null || true; done
  if [[ -s $WORK/pids ]]; then
    while read -r pid; do kill "$pid" 2> /dev/null || true; done < "$WORK/pids"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The file operations, run with the mount point as the working directory.
cat > "$WORK/h.py" << 'EOF'
import ctypes, errno, os, sys

def w(path, data, off=None, append=False, fsync=False, fdatasync=False, trunc=False):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0) | (os.O_TRUNC if trunc else 0)
    fd = os.open(path, flags, 0o644)
    try:
        if off is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, off)
        if fsync:
            os.fsync(fd)
        if fdatasync:
            os.fdatasync(fd)
    finally:
        os.close(fd)

def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)

def syncdir(path="."):
    fsync(path)  # a directory opened O_RDONLY, fsynced: FUSE fsyncdir

def r(path):
    with open(path, "rb") as f:
        return f.read()

_libc = ctypes.CDLL(None, use_errno=True)

def rename2(src, dst, flags):  # RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2
    if _libc.renameat2(-100, src.encode(), -100, dst.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def cut():
    with open(".crashfs-control", "w") as f:
        f.write("cut\n")

def expect_eio(what, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno == errno.EIO:
            return
        sys.exit(f"{what}: expected EIO, got {e}")
    sys.exit(f"{what}: expected EIO, it succeeded")
EOF

PASSED=0
FAILED=0
FAILED_NAMES=()

# ---- Helpers for one test (they run inside the test's subshell) ------------------------------

# A fresh backing directory B and mount point M for test $1.
setup() {
  B=$WORK/$1/b
  M=$WORK/$1/m
  mkdir -p "$B" "$M"
}

# Mounts crashfs (extra options: "$@") on $M over $B and waits for the mount.
mount_fs() {
  # Not on the test's stdout: a crashfs left running must not hold a pipe open.
  "$CRASHFS" "$@" "$B" "$M" >> "$WORK/crashfs.log" 2>&1 &
  CRASHFS_PID=$!
  echo "$CRASHFS_PID" >> "$WORK/pids"
  for _ in $(seq 100); do
    grep -qs " $M fuse" /proc/mounts && return 0
    sleep 0.05
  done
  echo "crashfs did not mount $M"
  return 1
}

unmount_fs() {
  fusermount3 -u "$M"
  wait "$CRASHFS_PID"  # crashfs exits 0 after an unmount
}

# Runs python code with the helpers, in the mount point.
py() {
  (cd "$M" && PYTHONPATH=$WORK "$PY" -c "from h import *
$1")
}

cut_power() {
  echo cut > "$M/.crashfs-control"
  grep -qx 'state: cut' "$M/.crashfs-control"
}

cut_and_unmount() {
  cut_power
  unmount_fs
  [[ ! -e $B/.crashfs-graveyard ]] || { echo "graveyard left in $B"; return 1; }
}

# Remounts and checks that the mount shows exactly the backing directory, then unmounts.
remount_check() {
  mount_fs
  diff <(cd "$B" && find . -path ./.crashfs-graveyard -prune -o -print | sort) \
    <(cd "$M" && find . | sort)
  (cd "$B" && find . -type f) | while read -r f; do cmp "$B/$f" "$M/$f"; done
  unmount_fs
}

expect_content() {  # FILE TEXT
  [[ -f $1 ]] || { echo "expected $1 to exist"; return 1; }
  cmp <(printf '%s' "$2") "$1" || { echo "$1: expected '$2', got '$(cat "$1")'"; return 1; }
}

expect_absent() {
  [[ ! -e $1 && ! -L $1 ]] || { echo "expected $1 to be gone"; return 1; }
}

same_inode() {
  [[ $(stat -c %i "$1") == $(stat -c %i "$2") ]] || { echo "$1 and $2 differ"; return 1; }
}

# Runs test function $1 in a subshell with -e in force and counts the result.
run() {
  local rc
  set +e
  (set -e; "$1") > "$WORK/$1.out" 2>&1
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then
    PASSED=$((PASSED + 1))
    echo "ok   $1"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    echo "FAIL $1"
    sed 's/^/     /' "$WORK/$1.out"
  fi
}

# ---- File contents ----------------------------------------------------------------------------

test_unsynced_write_is_lost() {
  setup "${FUNCNAME[0]}"
  printf durable > "$B/f"
  mount_fs
  py 'w("f", b"-more", append=True); w("f", b"XX", off=0)
w("new", b"never synced")
syncdir()'  # the new name is durable, its content is not
  grep -qx 'unsynced_bytes: 19' "$M/.crashfs-control"
  cut_and_unmount
  expect_content "$B/f" durable
  expect_content "$B/new" ""
  remount_check
}

test_fdatasynced_file_without_dir_sync_vanishes() {
  setup "${FUNCNAME[0]}"
  mount_fs
  py 'w("a", b"data", fdatasync=True); w("b", b"data", fsync=True)'
  cut_and_unmount
  expect_absent "$B/a"
  expect_absent "$B/b"
  remount_check
}

test_synced_file_in_synced_dir_survives() {
  setup "${FUNCNAME[0]}"
  mount_fs
  py 'w("a", b"fdatasynced", fdatasync=True); w("b", b"fsynced", fsync=True); syncdir()
w("a", b"+lost", append=True)'
  cut_and_unmount
  expect_content "$B/a" fdatasynced
  expect_content "$B/b" fsynced
  remount_check
}

test_overwrite_of_synced_data_is_undone() {
  setup "${FUNCNAME[0]}"
  printf 0123456789 > "$B/f"
  mount_fs
  py 'w("f", b"AB", off=2); w("f", b"CDEFG", off=8); w("f", b"HI", off=3)
w("g", b"abcdefgh", fsync=True); syncdir(); w("g", b"XYZ", off=1)'
  cut_and_unmount
  expect_content "$B/f" 0123456789
  expect_content "$B/g" abcdefgh
  remount_check
}

# A property test of the undo records: random overwrites, extensions and truncations of a 1 MiB
# file, with a sync halfway; the cut must bring back exactly the content at the sync.
test_random_overwrites_and_truncates_are_undone() {
  setup "${FUNCNAME[0]}"
  "$PY" -c 'import random, sys
open(sys.argv[1], "wb").write(random.Random(1).randbytes(1 << 20))' "$B/f"
  mount_fs
  py 'import hashlib, random
rng = random.Random(7)
fd = os.open("f", os.O_RDWR)
def churn(n):
    for _ in range(n):
        size = os.fstat(fd).st_size
        op = rng.random()
        if op < 0.8:
            os.pwrite(fd, rng.randbytes(rng.randint(1, 9000)), rng.randint(0, size + 100))
        elif op < 0.9:
            os.ftruncate(fd, rng.randint(0, size))
        else:
            os.ftruncate(fd, size + rng.randint(0, 5000))
churn(300)
os.fsync(fd)
open(os.environ["PYTHONPATH"] + "/sha", "w").write(hashlib.sha256(r("f")).hexdigest())
churn(300)
os.close(fd)'
  cut_and_unmount
  [[ $(sha256sum < "$B/f" | cut -d' ' -f1) == $(cat "$WORK/sha") ]]
  remount_check
}

test_truncate_is_undone() {
  setup "${FUNCNAME[0]}"
  printf 0123456789 > "$B/f"
  printf abcdef > "$B/g"
  printf keep > "$B/h"
  mount_fs
  py 'os.truncate("f", 3)
fd = os.open("g", os.O_WRONLY | os.O_TRUNC); os.pwrite(fd, b"Z", 20); os.close(fd)
w("h", b"new", trunc=True)'
  cut_and_unmount
  expect_content "$B/f" 0123456789
  expect_content "$B/g" abcdef
  expect_content "$B/h" keep
  remount_check
}

test_tear_keeps_a_prefix_of_the_last_unsynced_write() {
  setup "${FUNCNAME[0]}"
  printf durable > "$B/f"
  printf D > "$B/g"
  printf 0123456789 > "$B/h"
  mount_fs --tear --seed 42
  py 'w("f", bytes(range(256)) * 4, append=True)
w("g", b"AAAA", append=True); w("g", b"BBBBBBBB", append=True)
w("h", b"XY", off=4)'
  cut_power
  grep -qx 'torn_files: 2' "$M/.crashfs-control"
  unmount_fs
  "$PY" - "$B" << 'EOF'
import sys
b = sys.argv[1]
f = open(f"{b}/f", "rb").read()
assert 7 < len(f) < 7 + 1024, len(f)
assert f == b"durable" + (bytes(range(256)) * 4)[: len(f) - 7], f[:20]
g = open(f"{b}/g", "rb").read()
# The earlier unsynced write is dropped (zeros), the last one torn inside.
assert 5 < len(g) < 13, g
assert g == b"D" + b"\0" * 4 + b"B" * (len(g) - 5), g
assert open(f"{b}/h", "rb").read() == b"0123456789"
EOF
  remount_check
}

test_fallocate_keep_size_and_mmap_read_work() {
  setup "${FUNCNAME[0]}"
  mount_fs
  py 'import mmap
w("f", b"mapped content", fsync=True); syncdir()
fd = os.open("f", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
assert libc.fallocate(fd, 1, 0, 1 << 20) == 0, os.strerror(ctypes.get_errno())  # KEEP_SIZE
assert os.fstat(fd).st_size == 14
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
assert m[:6] == b"mapped", m[:6]
m.close(); os.close(fd)'
  cut_and_unmount
  expect_content "$B/f" "mapped content"
  remount_check
}

# ---- Directory entries ------------------------------------------------------------------------

test_rename_without_dir_sync_is_undone() {
  setup "${FUNCNAME[0]}"
  printf A > "$B/a"
  printf C > "$B/c"
  printf X > "$B/x"
  printf Y > "$B/y"
  mount_fs
  py 'os.rename("a", "b"); os.rename("x", "c")
rename2("y", "z", 1)'  # RENAME_NOREPLACE
  cut_and_unmount
  expect_content "$B/a" A
  expect_absent "$B/b"
  expect_content "$B/c" C
  expect_content "$B/x" X
  expect_content "$B/y" Y
  expect_absent "$B/z"
  remount_check
}

test_rename_exchange_is_undone_unless_synced() {
  setup "${FUNCNAME[0]}"
  printf A > "$B/a"
  printf B > "$B/b"
  mkdir "$B/d"
  printf P > "$B/d/p"
  printf Q > "$B/d/q"
  mount_fs
  py 'rename2("a", "b", 2)  # RENAME_EXCHANGE
assert r("a") == b"B"
rename2("d/p", "d/q", 2); syncdir("d")'
  cut_and_unmount
  expect_content "$B/a" A
  expect_content "$B/b" B
  expect_content "$B/d/p" Q
  expect_content "$B/d/q" P
  remount_check
}

test_rename_with_both_dirs_synced_survives() {
  setup "${FUNCNAME[0]}"
  mkdir "$B/d1" "$B/d2"
  printf A > "$B/d1/a"
  printf old > "$B/CURRENT"
  mount_fs
  py 'os.rename("d1/a", "d2/b"); syncdir("d1"); syncdir("d2")
w("CURRENT.tmp", b"new", fdatasync=True); os.rename("CURRENT.tmp", "CURRENT"); syncdir()'
  cut_and_unmount
  expect_absent "$B/d1/a"
  expect_content "$B/d2/b" A
  expect_content "$B/CURRENT" new
  expect_absent "$B/CURRENT.tmp"
  remount_check
}

# Each side of a rename is durable with its own directory: syncing only the target leaves the
# object durable under both names (a hard link), syncing only the source loses it.
test_rename_sides_are_durable_separately() {
  setup "${FUNCNAME[0]}"
  mkdir "$B/d1" "$B/d2" "$B/d3" "$B/d4"
  printf A > "$B/d1/a"
  printf B > "$B/d3/b"
  mount_fs
  py 'os.rename("d1/a", "d2/a"); syncdir("d2"); os.rename("d2/a", "d2/a2")
os.rename("d3/b", "d4/b"); syncdir("d3")'
  cut_and_unmount
  expect_content "$B/d1/a" A
  expect_content "$B/d2/a" A
  same_inode "$B/d1/a" "$B/d2/a"
  expect_absent "$B/d2/a2"
  expect_absent "$B/d3/b"
  expect_absent "$B/d4/b"
  remount_check
}

test_unlink_without_dir_sync_is_undone() {
  setup "${FUNCNAME[0]}"
  printf content > "$B/f"
  printf open > "$B/g"
  mount_fs
  py 'os.unlink("f")
fd = os.open("g", os.O_RDWR); os.unlink("g"); os.write(fd, b"written after unlink"); os.fsync(fd)
assert os.listdir(".") == [], os.listdir(".")
os.close(fd)'
  grep -qx 'graveyard_entries: 2' "$M/.crashfs-control"
  cut_and_unmount
  expect_content "$B/f" content
  expect_content "$B/g" "written after unlink"  # its content was synced through the open fd
  remount_check
}

test_unlink_then_dir_sync_is_gone() {
  setup "${FUNCNAME[0]}"
  printf content > "$B/f"
  printf replaced > "$B/t"
  mount_fs
  py 'os.unlink("f"); w("s", b"source", fsync=True); os.rename("s", "t"); syncdir()'
  grep -qx 'graveyard_entries: 0' "$M/.crashfs-control"
  cut_and_unmount
  expect_absent "$B/f"
  expect_content "$B/t" source
  remount_check
}

test_hard_link_is_durable_with_its_dir() {
  setup "${FUNCNAME[0]}"
  mkdir "$B/d"
  printf F > "$B/f"
  printf G > "$B/g"
  mount_fs
  py 'os.link("f", "f2")
os.link("g", "d/g2"); syncdir("d"); os.unlink("g")'
  cut_and_unmount
  expect_content "$B/f" F
  expect_absent "$B/f2"
  expect_content "$B/g" G
  expect_content "$B/d/g2" G
  same_inode "$B/g" "$B/d/g2"
  remount_check
}

test_mkdir_needs_the_parent_sync() {
  setup "${FUNCNAME[0]}"
  mount_fs
  py 'os.makedirs("kept/sub"); syncdir(); syncdir("kept")
w("kept/sub/y", b"y", fsync=True)  # sub is durable, its entry y is not
os.mkdir("lost"); w("lost/x", b"x", fsync=True); syncdir("lost")'  # lost is not
  cut_and_unmount
  expect_absent "$B/lost"
  [[ -d $B/kept/sub ]]
  expect_absent "$B/kept/sub/y"
  remount_check
}

test_rmdir_is_undone_unless_synced() {
  setup "${FUNCNAME[0]}"
  mkdir -p "$B/e" "$B/gone" "$B/full"
  printf x > "$B/full/x"
  mount_fs
  py 'os.rmdir("e")
os.unlink("full/x"); os.rmdir("full")
os.rmdir("gone"); os.mkdir("gone"); os.rmdir("gone")
syncdir()'  # the parent: all three stay removed ...
  grep -qx 'graveyard_entries: 0' "$M/.crashfs-control"
  cut_and_unmount
  expect_absent "$B/e"
  expect_absent "$B/full"
  expect_absent "$B/gone"
  # ... and without that sync they would be back, "full" with its file:
  rm -rf "$B"/*
  mkdir -p "$B/e" "$B/full"
  printf x > "$B/full/x"
  mount_fs
  py 'os.rmdir("e"); os.unlink("full/x"); os.rmdir("full")'
  cut_and_unmount
  [[ -d $B/e ]]
  expect_content "$B/full/x" x
  remount_check
}

test_symlink_and_crashfs_names_are_hidden() {
  setup "${FUNCNAME[0]}"
  mount_fs
  py 'os.symlink("target", "kept"); os.symlink("t2", "lost"); syncdir(); os.symlink("t3", "lost2")
assert sorted(os.listdir(".")) == ["kept", "lost", "lost2"], os.listdir(".")
assert not os.path.exists(".crashfs-graveyard")
os.unlink("lost")'
  cut_and_unmount
  [[ $(readlink "$B/kept") == target ]]
  [[ $(readlink "$B/lost") == t2 ]]
  expect_absent "$B/lost2"
  remount_check
}

# ---- The cut ----------------------------------------------------------------------------------

test_every_operation_fails_with_eio_after_the_cut() {
  setup "${FUNCNAME[0]}"
  printf f > "$B/f"
  mount_fs
  py 'fd = os.open("f", os.O_RDWR)
dfd = os.open(".", os.O_RDONLY)
cut()
expect_eio("write", os.write, fd, b"x")
expect_eio("read", os.pread, fd, 1, 0)
expect_eio("fsync", os.fsync, fd)
expect_eio("fsyncdir", os.fsync, dfd)
expect_eio("stat", os.stat, "f")
expect_eio("open", os.open, "f", os.O_RDONLY)
expect_eio("create", os.open, "g", os.O_CREAT | os.O_WRONLY)
expect_eio("listdir", os.listdir, ".")
expect_eio("mkdir", os.mkdir, "d")
expect_eio("unlink", os.unlink, "f")
expect_eio("rename", os.rename, "f", "g")
expect_eio("close", os.close, fd)
assert r(".crashfs-control").startswith(b"state: cut\n")'
  unmount_fs
  expect_content "$B/f" f
}

test_unmount_works_after_sigkilling_a_writer_with_open_files() {
  setup "${FUNCNAME[0]}"
  mount_fs
  (cd "$M" && PYTHONPATH=$WORK exec "$PY" -c 'from h import *
import time
fds = [os.open(f"f{i}", os.O_CREAT | os.O_RDWR) for i in range(4)]
syncdir()
n = 0
while True:
    for fd in fds:
        try:
            os.write(fd, b"x" * 100)
            if n % 10 == 0:
                os.fdatasync(fd)
        except OSError:
            time.sleep(0.01)
    n += 1') &
  local writer=$!
  sleep 0.5
  cut_power
  kill -9 "$writer"
  wait "$writer" || true
  unmount_fs
  for i in 0 1 2 3; do [[ -f $B/f$i ]]; done
  remount_check
}

test_clean_unmount_keeps_the_current_state() {
  setup "${FUNCNAME[0]}"
  printf old > "$B/f"
  mount_fs
  py 'w("f", b"new", trunc=True); w("g", b"g"); os.mkdir("d")
w("x", b"x"); syncdir(); os.unlink("x")'
  unmount_fs
  expect_content "$B/f" new
  expect_content "$B/g" g
  [[ -d $B/d ]]
  expect_absent "$B/x"
  expect_absent "$B/.crashfs-graveyard"
}

test_bad_arguments_print_usage() {
  local out
  out=$("$CRASHFS" 2>&1) && return 1
  [[ $out == usage:* ]]
  out=$("$CRASHFS" --bogus a b 2>&1) && return 1
  [[ $out == usage:* ]]
}

# ---- The mutation shim ------------------------------------------------------------------------

test_nofsync_shim_loses_synced_writes() {
  setup "${FUNCNAME[0]}"
  printf durable > "$B/f"
  mount_fs
  local err
  err=$( (cd "$M" && LD_PRELOAD=$NOFSYNC PYTHONPATH=$WORK "$PY" -c 'from h import *
w("f", b"SYNCED!", off=0, fsync=True); w("n", b"new", fdatasync=True); syncdir()') 2>&1)
  [[ $err == *"nofsync: fsync and fdatasync are no-ops in this process (a mutation check)"* ]]
  cut_and_unmount
  expect_content "$B/f" durable  # without the shim: "SYNCED!" (test_synced_file_in_...)
  expect_absent "$B/n"
}

for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
  if [[ $t == test_nofsync_shim_loses_synced_writes && -z $NOFSYNC ]]; then
    echo "skip $t (no libnofsync.so given as the second argument)"
    continue
  fi
  run "$t"
done
if [[ $FAILED -gt 0 ]]; then
  echo "crashfs log:"
  sed 's/^/     /' "$WORK/crashfs.log"
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
