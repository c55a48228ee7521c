// Cold-tier tests that must run alone (ctest RUN_SERIAL): one stops and restarts the shared
// radosgw (the other tests would see the outage), one measures this process's memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "storage/snapshot.h"
#include "storage/tests/cold_test_util.h"

namespace strata {
namespace {

using testing::Event;
using testing::TempDir;
using namespace coldtest;  // NOLINT: the helpers of this suite

// ---- memory: archiving a 2 GiB backlog holds a bounded amount, not the backlog

uint64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Samples this process's RSS every 10 ms while alive; peak() is the highest seen.
class RssSampler {
 public:
  RssSampler()
      : thread_([this] {
          while (!stop_) {
            peak_ = std::max<uint64_t>(peak_, RssBytes());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
        }) {}
  ~RssSampler() { Stop(); }
  uint64_t Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

TEST(ColdArchiver, MemoryStaysBoundedWhileArchivingA2GiBBacklog) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RSS under a sanitizer measures its shadow memory and quarantine, not Strata; "
                  "the release build runs this test";
#endif
  TempDir dir;
  auto o = ColdStoreOptions(dir.path(), "file://" + dir.path() + "/cold");
  o.shards = 4;
  o.warm.memtable_budget = 256u << 20;
  o.segment_max_bytes = 64u << 20;
  const uint64_t backlog = 2ull << 30;
  {
    o.cold.archive = false;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    std::string payload(1000, 'x');
    std::mt19937 rng(3);
    for (auto& c : payload) c = static_cast<char>('a' + rng() % 26);
    std::atomic<int> outstanding{0};
    for (uint64_t bytes = 0; bytes < backlog; bytes += 100 * payload.size()) {
      while (outstanding.load() > 32) std::this_thread::sleep_for(std::chrono::microseconds(200));
      AppendRequest req;
      req.stream = "s-" + std::to_string(rng() % 1000);
      for (int i = 0; i < 100; ++i) {
        auto e = Event("Happened", payload);
        e.data[i % payload.size()] = static_cast<char>('A' + i % 26);
        req.events.push_back(std::move(e));
      }
      ++outstanding;
      (*store)->AppendAsync(std::move(req), [&](Result<AppendResult> r) {
        EXPECT_TRUE(r.has_value());
        --outstanding;
      });
    }
    while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Baseline: the same store opened without archiving, its whole log scanned once.
  uint64_t baseline = 0;
  {
    RssSampler sampler;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    uint64_t n = 0;
    ASSERT_TRUE((*store)
                    ->ScanAll(Position(1), (*store)->Watermark(),
                              [&](const RecordView&) {
                                ++n;
                                return true;
                              })
                    .has_value());
    EXPECT_GT(n, 2'000'000u);
    baseline = sampler.Stop();
  }
  // Archiving: four archivers drain the 2 GiB backlog.
  uint64_t archiving = 0;
  {
    RssSampler sampler;
    o.cold.archive = true;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::minutes(10))).has_value());
    archiving = sampler.Stop();
    auto segs = (*store)->ListSegments();
    ASSERT_TRUE(segs.has_value());
    uint64_t events = 0;
    for (const auto& sg : *segs) events += sg.events;
    EXPECT_GE(events * 1000, backlog);  // all of it is archived
  }
  std::printf("peak RSS: %.0f MiB scanning the store, %.0f MiB archiving its 2 GiB backlog\n",
              baseline / 1048576.0, archiving / 1048576.0);
  // The bound: what four archivers hold (a block and its compressed copy, a zstd context, an
  // iterator's read-ahead, the upload buffer) is a few MiB each; 128 MiB leaves room for
  // allocator noise while being far below the backlog.
  EXPECT_LT(archiving, baseline + (128u << 20));
}

// ---- a real outage: radosgw stopped and restarted while the archiver works

// radosgw stopped and started again on the same port (the cluster and its objects stay), through
// scripts/radosgw.sh; each test gets a fresh prefix of its bucket.
class RadosgwOutage : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = std::getenv("STRATA_TEST_RGW_SCRIPT");
    rgw_dir_ = std::getenv("STRATA_TEST_RGW_DIR");
    if (!script_ || !rgw_dir_) {
      GTEST_SKIP() << "no radosgw to stop: scripts/test.sh sets STRATA_TEST_RGW_SCRIPT and _DIR";
    }
    target_ = MakeTarget(Kind::kS3, dir_.path());
    ASSERT_TRUE(target_.skip.empty()) << target_.skip;
    options_ = ColdStoreOptions(dir_.path(), target_.url);
    options_.cold.s3.retry_deadline = std::chrono::milliseconds(500);
  }
  // "stop-rgw" or "start-rgw".
  void Rgw(const char* cmd) {
    const std::string c = std::string("bash ") + script_ + " " + cmd + " " + rgw_dir_ + " > " +
                          dir_.path() + "/" + cmd + ".log 2>&1";
    ASSERT_EQ(std::system(c.c_str()), 0) << c;
  }

  const char* script_ = nullptr;
  const char* rgw_dir_ = nullptr;
  TempDir dir_;
  ColdTarget target_;
  StoreOptions options_;
};
class ColdArchiverS3 : public RadosgwOutage {};
class WalS3 : public RadosgwOutage {};

TEST_F(ColdArchiverS3, SurvivesRadosgwStoppedAndRestarted) {
  auto o = options_;
  o.segment_max_age = std::chrono::milliseconds(50);
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  uint64_t n = Fill(**store, 4, 20, 10, "before");
  ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
  Rgw("stop-rgw");
  for (int i = 0; i < 10; ++i) {  // appends go on during the outage; segments seal and queue
    n += Fill(**store, 4, 10, 10, "during" + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto a = (*store)->Archive();
  ASSERT_TRUE(a.has_value());
  EXPECT_GT(ArchiveErrors(*a), 0u) << "the archiver did not notice the outage";
  Rgw("start-rgw");
  ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(120))).has_value());
  auto os = objstore::Open(target_.url);
  ASSERT_TRUE(os.has_value());
  auto all = ReadAllEvents(**store);
  EXPECT_EQ(all.size(), n);
  ExpectManifestCovers(**os, 2, all);
}

// The object-store WAL through a radosgw outage: appends made while radosgw is stopped are not
// acknowledged until it is back (the WAL retries), then every one is, and a restore from the
// object store alone (the disk lost) holds every acknowledged event.
TEST_F(WalS3, AppendsWaitThroughARadosgwRestartAndAllSurviveTheDisk) {
  auto o = options_;
  o.cold.wal = true;
  o.cold.archive = false;  // the WAL alone holds what is acknowledged
  std::vector<RecordedEvent> before;
  std::atomic<uint64_t> acked_during{0};
  {
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    uint64_t n = Fill(**store, 4, 20, 5, "before");
    Rgw("stop-rgw");
    std::atomic<int> pending{0};
    for (int i = 0; i < 40; ++i) {
      ++pending;
      (*store)->AppendAsync(
          Req("during-" + std::to_string(i % 4), ExpectedRevision::Any(), {Event(), Event()}),
          [&](Result<AppendResult> r) {
            EXPECT_TRUE(r.has_value()) << r.error().ToString();
            if (r) ++acked_during;
            --pending;
          });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    EXPECT_EQ(acked_during.load(), 0u) << "acknowledged while radosgw was down";
    Rgw("start-rgw");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (pending > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(pending.load(), 0) << "appends still waiting after radosgw came back";
    EXPECT_EQ(acked_during.load(), 40u);
    n += 80;
    before = ReadAllEvents(**store);
    ASSERT_EQ(before.size(), n);
    EXPECT_GT((*store)->Stats().wal_put_failures, 0u) << "the WAL did not notice the outage";
  }
  std::filesystem::remove_all(dir_.path() + "/data");  // the disk is lost
  RestoreOptions ro;
  ro.from = target_.url;
  ro.s3 = o.cold.s3;
  ro.data_dir = dir_.path() + "/data";
  auto r = RestoreStore(ro);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->wal_events, before.size());
  o.shards = 0;
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ExpectSameEvents(before, ReadAllEvents(**store), "restored after the outage");
}

}  // namespace
}  // namespace strata
