// A full disk under `strata serve`: a small tmpfs fills while clients append over gRPC. The
// server must not die; appends fail fast with `disk-full` naming the directory and the free
// space; reads, /health (503, with the reason) and /metrics keep working; once the tmpfs is
// grown, appends resume on their own, without a restart; and every acknowledged event is read
// back, from the running server and from the store reopened after a clean stop.
//
// Two ways to fill it: with the default reserve the store refuses appends before the disk is
// full; with --disk-reserve-mb 0 the writes really hit ENOSPC inside RocksDB (WAL, flushes),
// the index runs and the archiver's outbox, and the store must recover from that.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "client/remote_store.h"
#include "process_util.h"
#include "serve_fixture.h"
#include "storage/local_store.h"

namespace strata {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::RunCommand;

// A tmpfs of a given size, grown with Resize, unmounted at the end.
class Tmpfs {
 public:
  explicit Tmpfs(size_t mib) {
    dir_ = fs::temp_directory_path() / ("strata-diskfull-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const std::string opts = "size=" + std::to_string(mib) + "m";
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    fs::remove_all(dir_);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  bool Resize(size_t mib) {
    const std::string opts = "size=" + std::to_string(mib) + "m";
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) == 0;
  }
  fs::path path() const { return dir_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

struct Acked {
  uint64_t first_revision, first_position;
  std::vector<Uuid> ids;
};

// Appenders over gRPC that remember every acknowledged append and every refusal.
class Load {
 public:
  explicit Load(Store* store) : store_(store) {}
  ~Load() { Stop(); }
  void Start(int threads) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  void Stop() {
    stop_ = true;
    for (auto& th : threads_) th.join();
    threads_.clear();
  }
  uint64_t acked() const { return acked_.load(); }
  uint64_t refused() const { return refused_.load(); }
  Clock::time_point last_ack() const {
    return Clock::time_point(Clock::duration(last_ack_.load()));
  }
  std::string first_refusal() {
    std::lock_guard l(mu_);
    return first_refusal_;
  }
  std::vector<std::string> unexpected() {
    std::lock_guard l(mu_);
    return unexpected_;
  }
  std::map<std::string, std::vector<Acked>> appends() {
    std::lock_guard l(mu_);
    return appends_;
  }
  double slowest_refusal_ms() const { return slowest_refusal_us_.load() / 1000.0; }

 private:
  void Run(int t) {
    uint64_t k = 0;
    while (!stop_) {
      const std::string stream = "df-" + std::to_string(t) + "-" + std::to_string(k++ % 50);
      AppendRequest req;
      req.stream = stream;
      req.deadline = DeadlineIn(std::chrono::seconds(30));
      for (int i = 0; i < 1 + static_cast<int>(k % 3); ++i) {
        EventData e;
        e.event_id = Uuid::Random();
        e.type = "Filled";
        e.data = "{\"pad\":\"" + std::string(1000, 'x') + "\"}";
        req.events.push_back(std::move(e));
      }
      std::vector<Uuid> ids;
      for (const auto& e : req.events) ids.push_back(e.event_id);
      const auto started = Clock::now();
      auto r = store_->Append(std::move(req));
      if (r) {
        std::lock_guard l(mu_);
        appends_[stream].push_back({r->first_revision.value(), r->first_position.value(), ids});
        acked_ += ids.size();
        last_ack_ = Clock::now().time_since_epoch().count();
      } else if (r.error().code() == ErrorCode::kDiskFull) {
        const uint64_t us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
        if (us > slowest_refusal_us_) slowest_refusal_us_ = us;
        if (refused_++ == 0) {
          std::lock_guard l(mu_);
          first_refusal_ = r.error().ToString();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      } else {
        std::lock_guard l(mu_);
        if (unexpected_.size() < 10) unexpected_.push_back(r.error().ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }

  Store* store_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> acked_{0}, refused_{0}, slowest_refusal_us_{0};
  std::atomic<Clock::rep> last_ack_{0};
  std::mutex mu_;
  std::string first_refusal_;
  std::vector<std::string> unexpected_;
  std::map<std::string, std::vector<Acked>> appends_;
};

// Every acknowledged event is in `store` at its revision and position, with its id.
void ExpectAllAcked(Store& store, const std::map<std::string, std::vector<Acked>>& appends,
                    const char* where) {
  uint64_t checked = 0;
  for (const auto& [stream, acks] : appends) {
    std::map<uint64_t, std::pair<uint64_t, Uuid>> by_revision;
    std::optional<Revision> from;
    while (true) {
      auto r = store.ReadStream({.stream = stream, .from = from, .max_count = 4096});
      ASSERT_TRUE(r) << where << ": " << r.error().ToString();
      for (const auto& e : r->events) {
        by_revision[e.revision.value()] = {e.position.value(), e.event_id};
      }
      if (r->end_of_stream || !r->next) break;
      from = r->next;
    }
    // Revisions stay gapless: a failed append's revisions were rolled back, not skipped.
    uint64_t expect = 0;
    for (const auto& [revision, at] : by_revision) {
      ASSERT_EQ(revision, expect++) << where << ": " << stream << " has a gap in its revisions";
    }
    for (const auto& a : acks) {
      for (size_t i = 0; i < a.ids.size(); ++i) {
        auto it = by_revision.find(a.first_revision + i);
        ASSERT_NE(it, by_revision.end())
            << where << ": lost " << stream << "@" << a.first_revision + i;
        EXPECT_EQ(it->second.first, a.first_position + i) << where << ": " << stream;
        EXPECT_EQ(it->second.second, a.ids[i]) << where << ": " << stream;
        ++checked;
      }
    }
  }
  std::printf("%s: %llu acknowledged events read back\n", where,
              static_cast<unsigned long long>(checked));
}

std::string Http(int port, const std::string& path, int* status) {
  std::string out;
  RunCommand("curl -s -w '\\n%{http_code}' http://127.0.0.1:" + std::to_string(port) + path, &out);
  const auto nl = out.rfind('\n');
  *status = nl == std::string::npos ? 0 : std::atoi(out.c_str() + nl + 1);
  return out.substr(0, nl == std::string::npos ? 0 : nl);
}

// `cold`: the store's cold tier URL ("" for none).
void FillThenGrow(const std::vector<std::string>& flags, const std::string& cold,
                  const char* label) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  Tmpfs disk(48);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();
  std::vector<std::string> args = {
      "--write-buffer-mb",         "4", "--memtable-budget-mb", "64", "--cold",
      cold.empty() ? "none" : cold};
  args.insert(args.end(), flags.begin(), flags.end());
  testing::Server server(args, (disk.path() / "data").string());
  ASSERT_GT(server.port(), 0) << "strata serve did not start";
  client::RemoteOptions ro;
  ro.target = server.target();
  ro.connections = 2;
  auto remote = client::ConnectStore(ro);
  ASSERT_TRUE(remote) << remote.error().ToString();

  Load load(remote->get());
  load.Start(4);
  const auto fill_started = Clock::now();
  while (load.refused() == 0 && Clock::now() - fill_started < std::chrono::seconds(180)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(load.refused(), 0u) << "the disk never filled";
  std::printf("%s: full after %.1f s and %llu acknowledged events; first refusal:\n  %s\n", label,
              std::chrono::duration<double>(Clock::now() - fill_started).count(),
              static_cast<unsigned long long>(load.acked()), load.first_refusal().c_str());
  const std::string refusal = load.first_refusal();
  EXPECT_NE(refusal.find("disk-full"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find(disk.path().string()), std::string::npos) << "names the directory";
  EXPECT_NE(refusal.find("free"), std::string::npos) << "says how much is free";

  // Full for a while, under load: the server stays up and keeps serving everything but appends.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(server.running()) << "strata serve died on a full disk";
  int status = 0;
  const std::string health = Http(server.http_port(), "/health", &status);
  EXPECT_EQ(status, 503) << health;
  EXPECT_NE(health.find("\"writable\":false"), std::string::npos) << health;
  EXPECT_NE(health.find("disk-full"), std::string::npos) << health;
  const std::string metrics = Http(server.http_port(), "/metrics", &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(metrics.find("strata_writable 0"), std::string::npos);
  auto during = load.appends();
  ASSERT_FALSE(during.empty());
  auto read = (*remote)->ReadStream({.stream = during.begin()->first});
  ASSERT_TRUE(read) << "reads must work on a full disk: " << read.error().ToString();
  EXPECT_FALSE(read->events.empty());
  std::string stats;
  EXPECT_EQ(RunCommand(std::string(STRATA_BINARY) + " stats --server " + server.target(), &stats),
            0)
      << stats;
  EXPECT_NE(stats.find("REFUSED"), std::string::npos) << stats;

  // Room again: appends resume on their own.
  const uint64_t acked_when_full = load.acked();
  ASSERT_TRUE(disk.Resize(512)) << "cannot grow the tmpfs";
  const auto grown = Clock::now();
  while (load.acked() == acked_when_full && Clock::now() - grown < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(load.acked(), acked_when_full) << "appends did not resume after the disk grew";
  std::printf("%s: appends resumed %.2f s after the disk grew; slowest refusal %.1f ms\n", label,
              std::chrono::duration<double>(load.last_ack() - grown).count(),
              load.slowest_refusal_ms());
  const uint64_t resumed_at = load.acked();
  while (load.acked() < resumed_at + 2000 && Clock::now() - grown < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Every shard takes appends again (a shard whose index flush failed resumes once its retry
  // succeeds): /health says ready.
  std::string health_after;
  while (Clock::now() - grown < std::chrono::seconds(60)) {
    health_after = Http(server.http_port(), "/health", &status);
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200) << health_after;
  std::printf("%s: every shard writable %.2f s after the disk grew\n", label,
              std::chrono::duration<double>(Clock::now() - grown).count());
  load.Stop();
  for (const auto& u : load.unexpected()) ADD_FAILURE() << "unexpected append error: " << u;

  const auto appends = load.appends();
  ExpectAllAcked(**remote, appends, label);
  remote->reset();
  EXPECT_EQ(server.Stop(SIGTERM), 0) << "strata serve did not stop cleanly";
  // And from disk, reopened: recovery finds every acknowledged event.
  StoreOptions o;
  o.data_dir = (disk.path() / "data").string();
  o.create_if_missing = false;
  o.cold.url = cold;
  o.cold.archive = false;
  auto local = LocalStore::Open(o);
  ASSERT_TRUE(local) << local.error().ToString();
  ExpectAllAcked(**local, appends, "reopened");
}

TEST(DiskFull, TheReserveRefusesAppendsUntilTheDiskGrowsAndNothingIsLost) {
  FillThenGrow({"--disk-reserve-mb", "8"}, "", "reserve 8 MiB");
}

TEST(DiskFull, ARealEnospcInRocksDbIndexesAndArchiverIsSurvivedAndResumed) {
  const std::string cold =
      fs::temp_directory_path() / ("strata-diskfull-cold-" + std::to_string(getpid()));
  fs::remove_all(cold);
  FillThenGrow({"--disk-reserve-mb", "0", "--segment-seconds", "1"}, "file://" + cold,
               "no reserve");
  fs::remove_all(cold);
}

}  // namespace
}  // namespace strata
