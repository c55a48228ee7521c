// What every benchmark shares (bench.h): the store it runs on, its directory, the process's RSS.
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tools/bench/bench.h"

namespace strata::bench {
namespace fs = std::filesystem;

Rss ReadRss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    auto kb = [&](const char* key) -> uint64_t {
      return std::stoull(line.substr(std::strlen(key))) * 1024;
    };
    if (line.rfind("VmRSS:", 0) == 0) r.current = kb("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) r.peak = kb("VmHWM:");
  }
  return r;
}

std::string RunDirName(const std::string& data_dir, const char* what) {
  return (fs::path(data_dir) /
          fmt::format("bench-{}-{}", what,
                      std::chrono::system_clock::now().time_since_epoch().count()))
      .string();
}

std::string MakeRunDir(const std::string& data_dir, const char* what) {
  auto dir = RunDirName(data_dir, what);
  fs::create_directories(dir);
  return dir;
}

StoreOpener OpenNotingFailure(bool* failed) {
  return [failed](const StoreOptions& options) {
    auto store = LocalStore::Open(options);
    if (!store) *failed = true;
    return store;
  };
}

Result<BenchStore> BenchStore::Open(const app::StoreConfig& config, const char* what, bool keep) {
  BenchStore b;
  b.keep_ = keep;
  if (!config.server.empty()) {
    auto handle = app::OpenStore(config, /*create=*/false);
    if (!handle) return handle.error();
    b.handle_ = std::move(*handle);
    b.remote_ = true;
    return b;
  }
  auto options = app::ToStoreOptions(config);
  if (!options) return options.error();
  options->data_dir = b.dir_ = MakeRunDir(config.data_dir, what);
  // Benchmarks measure the warm path; a cold tier only when asked for with --cold (the default
  // one would be shared by every run under --data).
  if (config.cold.empty()) options->cold.url.clear();
  options->cold.archive = !config.cold.empty();
  auto store = LocalStore::Open(*options);
  if (!store) return store.error();
  b.handle_ = app::StoreHandle(std::move(*store));
  return b;
}

void BenchStore::Close() {
  IgnoreError(handle_->Close());
  handle_ = {};
  if (!keep_ && !dir_.empty()) fs::remove_all(dir_);
}

}  // namespace strata::bench
