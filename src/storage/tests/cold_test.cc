// The cold tier end to end: archiving sealed segments, local retention, reads that fall through
// to the cold tier, the archiver under injected faults, snapshot and restore (the radosgw outage
// and the memory test are in cold_serial_test.cc). Each test runs against the local-directory
// store; the S3 ones against radosgw when scripts/test.sh provides it (AWS_* and
// STRATA_TEST_S3_BUCKET), else they say why they skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "objstore/object_store.h"
#include "storage/cold/cold_tier.h"
#include "storage/local_store.h"
#include "storage/snapshot.h"
#include "storage/tests/cold_test_util.h"
#include "storage/tests/faulty_store.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {

using testing::Event;
using testing::Req;
using testing::SmallOptions;
using testing::TempDir;
using namespace coldtest;  // NOLINT: the helpers of this suite

class ColdTierTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    target_ = MakeTarget(GetParam(), dir_.path());
    if (!target_.skip.empty()) GTEST_SKIP() << target_.skip;
  }
  TempDir dir_;
  ColdTarget target_;
};

TEST_P(ColdTierTest, ReadsAreIdenticalAcrossHotWarmAndCold) {
  std::map<std::string, std::vector<RecordedEvent>> hot;
  std::vector<RecordedEvent> hot_all;
  uint64_t n = 0;
  {  // Hot: read straight after appending, from the ring.
    auto store = LocalStore::Open(ColdStoreOptions(dir_.path(), target_.url));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    n = Fill(**store, 5, 60, 20);
    for (int s = 0; s < 5; ++s)
      hot["s-" + std::to_string(s)] = ReadStreamAll(**store, "s-" + std::to_string(s));
    hot_all = ReadAllEvents(**store);
    EXPECT_GT((*store)->Stats().ring_hits, 0u);
    ASSERT_TRUE((*store)->Close().has_value());
  }
  ASSERT_EQ(hot_all.size(), n);
  {  // Warm: a reopened store has an empty ring; nothing is archived or dropped yet.
    auto o = ColdStoreOptions(dir_.path(), target_.url);
    o.cold.archive = false;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (auto& [name, events] : hot)
      ExpectSameEvents(events, ReadStreamAll(**store, name), "warm " + name);
    ExpectSameEvents(hot_all, ReadAllEvents(**store), "warm $all");
    EXPECT_EQ((*store)->Archive()->cold_reads, 0u);
  }
  {  // Cold: archive everything with no local retention; the newest segment of each shard stays
     // warm, so add a second round of segments to push the first out.
    auto o = ColdStoreOptions(dir_.path(), target_.url);
    o.cold.local_retention = std::chrono::seconds(0);
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    Fill(**store, 5, 10, 5, "later");
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    WaitForRetention(**store);
    ASSERT_TRUE((*store)->Close().has_value());
  }
  {
    auto o = ColdStoreOptions(dir_.path(), target_.url);
    o.cold.archive = false;
    auto store = LocalStore::Open(o);  // the ring is empty again: older positions are cold only
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (auto& [name, events] : hot)
      ExpectSameEvents(events, ReadStreamAll(**store, name), "cold " + name);
    auto all = ReadAllEvents(**store);
    ASSERT_EQ(all.size(), n + 50);
    all.resize(n);
    ExpectSameEvents(hot_all, all, "cold $all");
    // Backwards across the tier boundary.
    auto back = ReadAllEvents(**store, Direction::kBackwards);
    ASSERT_EQ(back.size(), n + 50);
    std::reverse(back.begin(), back.end());
    back.resize(n);
    ExpectSameEvents(hot_all, back, "cold $all backwards");
    auto a = (*store)->Archive();
    ASSERT_TRUE(a.has_value());
    EXPECT_GT(a->cold_reads, 0u);
    EXPECT_GT(a->cache_misses, 0u);
    // A subscription catching up from the start crosses cold, warm and then goes live.
    struct Collect : SubscriptionHandler {
      std::mutex mu;
      std::vector<RecordedEvent> got;
      std::atomic<bool> caught_up{false};
      bool OnEvent(const RecordedEvent& e) override {
        std::lock_guard l(mu);
        got.push_back(e);
        return true;
      }
      void OnCaughtUp() override { caught_up = true; }
    };
    auto h = std::make_shared<Collect>();
    SubscribeRequest sr;
    sr.all = true;
    auto sub = (*store)->Subscribe(sr, h);
    ASSERT_TRUE(sub.has_value());
    for (int i = 0; i < 1000 && !h->caught_up; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(h->caught_up);
    std::lock_guard l(h->mu);
    ASSERT_GE(h->got.size(), n);
    std::vector<RecordedEvent> first(h->got.begin(), h->got.begin() + static_cast<long>(n));
    ExpectSameEvents(hot_all, first, "subscription from the start");
  }
}

TEST_P(ColdTierTest, SnapshotThenRestoreHasEveryArchivedEvent) {
  std::vector<RecordedEvent> before;
  {
    auto store = LocalStore::Open(ColdStoreOptions(dir_.path(), target_.url));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    Fill(**store, 7, 40, 10);
    auto snap = (*store)->Snapshot(nullptr);
    ASSERT_TRUE(snap.has_value()) << snap.error().ToString();
    EXPECT_GT(snap->files, 4u);
    Fill(**store, 7, 30, 10, "after");  // only in segments archived after the snapshot
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    before = ReadAllEvents(**store);
    ASSERT_TRUE((*store)->Close().has_value());
  }
  RestoreOptions ro;
  ro.from = target_.url;
  ro.data_dir = dir_.path() + "/restored";
  std::vector<std::string> phases;
  ro.progress = [&](const SnapshotProgress& p) { phases.push_back(p.phase); };
  auto r = RestoreStore(ro);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_FALSE(r->snapshot.empty());
  EXPECT_GT(r->segments, 0u);
  EXPECT_GE(r->events, 300u);
  EXPECT_NE(std::find(phases.begin(), phases.end(), "download"), phases.end());
  // A second restore into the same directory is refused, with what to do.
  auto again = RestoreStore(ro);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kInvalidConfig);

  auto o = ColdStoreOptions(dir_.path() + "/restored-x", target_.url);
  o.data_dir = ro.data_dir;
  o.cold.archive = false;
  o.create_if_missing = false;
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ExpectSameEvents(before, ReadAllEvents(**store), "restored $all");
  // The restored store takes appends after every restored position, with streams' revisions
  // continuing.
  uint64_t s0 = 0;
  for (const auto& e : before) s0 += e.stream == "s-0";
  auto stale = (*store)->Append(Req("s-0", ExpectedRevision::Exact(Revision(0)), {Event()}));
  ASSERT_FALSE(stale.has_value());  // the restored head knows s-0 is further on
  EXPECT_EQ(stale.error().code(), ErrorCode::kWrongExpectedRevision);
  auto ok = (*store)->Append(Req("s-0", ExpectedRevision::Exact(Revision(s0 - 1)), {Event()}));
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_GT(ok->first_position.value(), before.back().position.value());
}

TEST_P(ColdTierTest, RestoreFromSegmentsOnlyWhenThereIsNoSnapshot) {
  std::vector<RecordedEvent> before;
  {
    auto store = LocalStore::Open(ColdStoreOptions(dir_.path(), target_.url));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    Fill(**store, 3, 30, 10);
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    before = ReadAllEvents(**store);
  }
  RestoreOptions ro;
  ro.from = target_.url;
  ro.data_dir = dir_.path() + "/restored";
  auto r = RestoreStore(ro);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->snapshot.empty());
  EXPECT_EQ(r->events, before.size());
  auto o = ColdStoreOptions(dir_.path(), target_.url);
  o.data_dir = ro.data_dir;
  o.cold.archive = false;
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ExpectSameEvents(before, ReadAllEvents(**store), "restored from segments");
  for (int s = 0; s < 3; ++s)
    EXPECT_EQ(ReadStreamAll(**store, "s-" + std::to_string(s)).size(), 100u);
}

INSTANTIATE_TEST_SUITE_P(Stores, ColdTierTest, ::testing::Values(Kind::kFs, Kind::kS3), KindName);

// ---- the archiver under faults (local directory store wrapped by FaultyStore)

// A FaultyStore over a local directory, and store options that archive through it.
std::shared_ptr<FaultyStore> MakeFaulty(const std::string& dir) {
  auto base = objstore::Open("file://" + dir + "/cold");
  EXPECT_TRUE(base.has_value());
  return std::make_shared<FaultyStore>(std::shared_ptr<objstore::ObjectStore>(std::move(*base)));
}

StoreOptions FaultyOptions(const std::string& dir, std::shared_ptr<FaultyStore> store) {
  auto o = ColdStoreOptions(dir, "");
  o.cold.store = std::move(store);
  return o;
}

TEST(ColdArchiver, RetriesFailuresWithoutLosingOrDuplicatingSegments) {
  TempDir dir;
  auto f = MakeFaulty(dir.path());
  std::atomic<int> calls{0};
  // Every third write fails before it happens; every fifth manifest write happens but its
  // response is lost.
  f->SetFaults(
      [&](std::string_view op, std::string_view) {
        return (op == "put" || op == "upload_part" || op == "complete") && ++calls % 3 == 0;
      },
      [&](std::string_view op, std::string_view key) {
        return op == "put" && key.starts_with("manifest/") && ++calls % 5 == 0;
      });
  auto o = FaultyOptions(dir.path(), f);
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  uint64_t n = 0;
  for (int round = 0; round < 6; ++round) {
    n += Fill(**store, 4, 20, 10, "r" + std::to_string(round));
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
  }
  EXPECT_GT(f->injected(), 5u);
  auto a = (*store)->Archive();
  ASSERT_TRUE(a.has_value());
  EXPECT_GT(ArchiveErrors(*a), 0u);
  f->SetFaults(nullptr);
  auto all = ReadAllEvents(**store);
  EXPECT_EQ(all.size(), n);
  ExpectManifestCovers(*f, 2, all);
}

TEST(ColdArchiver, CrashBetweenUploadAndManifestLeavesNoDanglingOrDoubleEntry) {
  TempDir dir;
  auto f = MakeFaulty(dir.path());
  uint64_t n = 0;
  {
    // Segment objects upload, but no manifest entry can be written; then the process "dies"
    // (the store closes with exported, uploaded segments not in the manifest).
    f->SetFaults([](std::string_view op, std::string_view key) {
      return op == "put" && key.starts_with("manifest/");
    });
    auto o = FaultyOptions(dir.path(), f);
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    n += Fill(**store, 4, 30, 10);
    auto st = (*store)->ArchiveAll(DeadlineIn(std::chrono::milliseconds(1500)));
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code(), ErrorCode::kDeadlineExceeded);
    EXPECT_NE(st.error().message().find("injected fault"), std::string::npos)
        << st.error().message();
  }
  f->SetFaults(nullptr);
  auto uploaded = objstore::ListAll(*f, "segments/");
  ASSERT_TRUE(uploaded.has_value());
  EXPECT_GE(uploaded->size(), 2u);  // the orphans: objects with no entry
  auto entries = objstore::ListAll(*f, "manifest/");
  ASSERT_TRUE(entries.has_value());
  EXPECT_TRUE(entries->empty());
  {
    auto o = FaultyOptions(dir.path(), f);
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    n += Fill(**store, 4, 10, 10, "after");
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    auto all = ReadAllEvents(**store);
    EXPECT_EQ(all.size(), n);
    ExpectManifestCovers(*f, 2, all);
  }
}

TEST(ColdArchiver, AppendsContinueWhileTheObjectStoreIsDown) {
  TempDir dir;
  auto f = MakeFaulty(dir.path());
  f->SetFaults([](std::string_view, std::string_view) { return true; });  // all down
  auto o = FaultyOptions(dir.path(), f);
  o.segment_max_age = std::chrono::milliseconds(20);  // many sealed segments pile up
  auto opened = LocalStore::Open(o);
  // Opening needs the store (layout and manifests): down at open is a clear error.
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kUnavailable);
  f->SetFaults(nullptr);
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  f->SetFaults([](std::string_view, std::string_view) { return true; });
  uint64_t n = 0;
  for (int i = 0; i < 20; ++i) {
    n += Fill(**store, 4, 10, 10, "d" + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  auto a = (*store)->Archive();
  ASSERT_TRUE(a.has_value());
  uint64_t backlog = 0;
  for (const auto& s : a->shards) {
    backlog += s.backlog_bytes;
    EXPECT_EQ(s.segments, 0u);
  }
  EXPECT_GT(backlog, 0u);
  EXPECT_GT(ArchiveErrors(*a), 0u);
  EXPECT_EQ(ReadAllEvents(**store).size(), n);  // the warm tier serves everything meanwhile
  f->SetFaults(nullptr);                        // back up: the backlog drains
  ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
  ExpectManifestCovers(*f, 2, ReadAllEvents(**store));
}

TEST(ColdSnapshot, AnInterruptedSnapshotIsResumed) {
  TempDir dir;
  auto f = MakeFaulty(dir.path());
  auto o = FaultyOptions(dir.path(), f);
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  Fill(**store, 4, 40, 10);
  std::atomic<int> uploads{0};
  f->SetFaults([&](std::string_view op, std::string_view key) {
    return op == "put" && key.starts_with("snapshots/") && ++uploads > 3;
  });
  auto first = (*store)->Snapshot(nullptr);
  ASSERT_FALSE(first.has_value());
  f->SetFaults(nullptr);
  auto listed = ListSnapshots(*f);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());  // not committed
  auto second = (*store)->Snapshot(nullptr);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->reused_files, 3u);
  listed = ListSnapshots(*f);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, second->id);
}

TEST(ColdTier, AStoreRefusesAColdTierOfAnotherLayout) {
  TempDir dir;
  auto o = ColdStoreOptions(dir.path(), "file://" + dir.path() + "/cold");
  ASSERT_TRUE(LocalStore::Open(o).has_value());
  auto other = ColdStoreOptions(dir.path() + "/x", "file://" + dir.path() + "/cold");
  other.data_dir = dir.path() + "/other";
  other.shards = 3;
  auto s = LocalStore::Open(other);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().message().find("give each store its own"), std::string::npos);
}

TEST(ColdTier, AStoreRefusesAnotherStoresColdTierAndNeedsItsOwnToReadArchivedEvents) {
  TempDir dir;
  const std::string url = "file://" + dir.path() + "/cold";
  {
    auto o = ColdStoreOptions(dir.path(), url);
    o.cold.local_retention = std::chrono::seconds(0);
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    Fill(**store, 4, 20, 10);
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    Fill(**store, 16, 32, 10, "more");  // a second segment in every shard
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))).has_value());
    WaitForRetention(**store);
  }
  // Another (new, same layout) store on the same URL: refused, with what to do.
  auto other = ColdStoreOptions(dir.path(), url);
  other.data_dir = dir.path() + "/other";
  auto s = LocalStore::Open(other);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().message().find("belongs to another store"), std::string::npos)
      << s.error().message();
  EXPECT_NE(s.error().message().find("strata restore --from"), std::string::npos);
  // The first store without its cold tier: its archived events would be unreadable; refused.
  auto bare = ColdStoreOptions(dir.path(), "");
  auto b = LocalStore::Open(bare);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code(), ErrorCode::kInvalidConfig);
  EXPECT_NE(b.error().message().find("--cold"), std::string::npos) << b.error().message();
  // ... and with an empty URL instead of its own: refused too.
  auto wrong = ColdStoreOptions(dir.path(), "file://" + dir.path() + "/elsewhere");
  auto w = LocalStore::Open(wrong);
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message().find("holds no store"), std::string::npos) << w.error().message();
}

TEST(ColdSnapshot, ADamagedSnapshotDescriptionIsRefusedAndWritesNothingOutsideTheStore) {
  TempDir dir;
  const std::string url = "file://" + dir.path() + "/cold";
  {
    auto store = LocalStore::Open(ColdStoreOptions(dir.path(), url));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    Fill(**store, 2, 10, 10);
    ASSERT_TRUE((*store)->Snapshot(nullptr).has_value());
  }
  auto os = objstore::Open(url);
  ASSERT_TRUE(os.has_value());
  auto snaps = ListSnapshots(**os);
  ASSERT_TRUE(snaps.has_value());
  ASSERT_EQ(snaps->size(), 1u);
  const std::string key = "snapshots/" + snaps->front().id + "/snapshot.json";
  auto text = objstore::GetString(**os, key);
  ASSERT_TRUE(text.has_value());
  const std::string outside = dir.path() + "/outside";
  std::string evil = *text;
  const auto at = evil.find("\"shard-000/");
  ASSERT_NE(at, std::string::npos);
  evil.replace(at + 1, 0, outside + "/../");  // "/tmp/.../outside/../shard-000/..."
  ASSERT_TRUE(objstore::PutString(**os, key, evil).has_value());
  RestoreOptions ro;
  ro.from = url;
  ro.data_dir = dir.path() + "/restored";
  auto r = RestoreStore(ro);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(r.error().message().find("is damaged"), std::string::npos) << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(outside));
  // Not JSON at all: that snapshot is skipped when listing, the listing still works.
  ASSERT_TRUE(objstore::PutString(**os, key, "{not json").has_value());
  auto listed = ListSnapshots(**os);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
}

}  // namespace
}  // namespace strata
