// nofsync: an LD_PRELOAD shim that turns fsync, fdatasync, sync_file_range, syncfs, sync and
// msync into no-ops returning 0, for mutation checks: a power-loss test run with it must FAIL,
// which proves that the test depends on the program's syncs (and that crashfs drops what was
// never synced).
//
//   LD_PRELOAD=/path/to/libnofsync.so program ...
//
// It interposes the libc entry points, so calls made through libc (C, C++, Python's os.fsync,
// RocksDB) are caught; raw syscall(2)s and libc-internal calls are not. It keeps no state and
// is safe from any thread. Written as C++ with C linkage so the project needs no C compiler.
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>

namespace {

__attribute__((constructor)) void Announce() {
  static const char kMessage[] =
      "nofsync: fsync and fdatasync are no-ops in this process (a mutation check)\n";
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;  // nowhere to report a failed write to stderr
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int fsync(int) { return 0; }
__attribute__((visibility("default"))) int fdatasync(int) { return 0; }
__attribute__((visibility("default"))) int sync_file_range(int, off_t, off_t, unsigned int) {
  return 0;
}
__attribute__((visibility("default"))) int syncfs(int) { return 0; }
__attribute__((visibility("default"))) void sync(void) {}
__attribute__((visibility("default"))) int msync(void*, size_t, int) { return 0; }

}  // extern "C"
