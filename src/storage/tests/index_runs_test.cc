#include "storage/index_runs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/tests/test_util.h"

namespace strata::storage {
namespace {

constexpr int64_t kWindow = 7LL * 24 * 3600 * 1'000'000;

class IndexRunsTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/index"; }
  Status NoPersist(const std::string& m) {
    manifest_ = m;
    return OkStatus();
  }
  testing::TempDir tmp_;
  std::string manifest_;
};

TEST_F(IndexRunsTest, FindsStreamRevisionsAcrossRunsInOrder) {
  IndexRuns runs(dir(), Clock::Real(), kWindow);
  ASSERT_TRUE(runs.Load(""));
  // Stream 7 has revisions 0..9 spread over two runs; stream 8 interleaves.
  std::vector<StreamIndexEntry> a, b;
  std::vector<DedupeIndexEntry> none;
  for (uint64_t r = 0; r < 10; ++r) (r < 6 ? a : b).push_back({7, r, 100 + r});
  for (uint64_t r = 0; r < 5; ++r) a.push_back({8, r, 200 + r});
  auto p1 = runs.WriteRuns(a, none);
  ASSERT_TRUE(p1);
  runs.Publish(*p1);
  auto p2 = runs.WriteRuns(b, none);
  ASSERT_TRUE(p2);
  runs.Publish(*p2);
  auto found = runs.FindStream(7, 3, 8);
  ASSERT_EQ(found.size(), 6u);
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].first, 3 + i);
    EXPECT_EQ(found[i].second, 103 + i);
  }
  EXPECT_TRUE(runs.FindStream(9, 0, 100).empty());
}

TEST_F(IndexRunsTest, MergesSimilarRunsAndKeepsEveryEntry) {
  IndexRuns runs(dir(), Clock::Real(), kWindow);
  ASSERT_TRUE(runs.Load(""));
  std::vector<DedupeIndexEntry> none;
  uint64_t rev = 0;
  for (int flush = 0; flush < 8; ++flush) {
    std::vector<StreamIndexEntry> e;
    for (int i = 0; i < 100; ++i, ++rev) e.push_back({rev % 3, rev, rev + 1});
    auto p = runs.WriteRuns(e, none);
    ASSERT_TRUE(p);
    runs.Publish(*p);
  }
  EXPECT_EQ(runs.run_count(), 8u);
  int merges = 0;
  while (true) {
    auto m = runs.MergeOnce([&](const std::string& s) { return NoPersist(s); });
    ASSERT_TRUE(m);
    if (!*m) break;
    ++merges;
  }
  EXPECT_GE(merges, 2);
  EXPECT_LE(runs.run_count(), 3u) << "a tier of 4 similar runs is merged into one";
  EXPECT_EQ(runs.entry_count(RunKind::kStream), 800u);
  auto found = runs.FindStream(1, 0, 1000);
  ASSERT_EQ(found.size(), 267u);
  for (auto& [r, p] : found) EXPECT_EQ(p, r + 1);
  // The manifest written by the last merge reloads to the same contents.
  IndexRuns reloaded(dir(), Clock::Real(), kWindow);
  ASSERT_TRUE(reloaded.Load(manifest_));
  EXPECT_EQ(reloaded.FindStream(1, 0, 1000), found);
}

TEST_F(IndexRunsTest, DedupeEntriesExpireAfterTheWindow) {
  ManualClock clock(1'000'000'000'000);
  IndexRuns runs(dir(), &clock, kWindow);
  ASSERT_TRUE(runs.Load(""));
  std::vector<StreamIndexEntry> none;
  Uuid old_id = Uuid::Random(), new_id = Uuid::Random();
  std::vector<DedupeIndexEntry> first{{1, old_id, 0, 10, clock.NowMicros()}};
  auto p = runs.WriteRuns(none, first);
  ASSERT_TRUE(p);
  runs.Publish(*p);
  ASSERT_TRUE(runs.FindDedupe(1, old_id));
  clock.Advance(std::chrono::hours(24 * 8));
  std::vector<DedupeIndexEntry> second{{1, new_id, 1, 11, clock.NowMicros()}};
  p = runs.WriteRuns(none, second);
  ASSERT_TRUE(p);
  runs.Publish(*p);
  auto m = runs.MergeOnce([&](const std::string& s) { return NoPersist(s); });
  ASSERT_TRUE(m);
  EXPECT_TRUE(*m);
  EXPECT_FALSE(runs.FindDedupe(1, old_id)) << "older than the window: gone";
  EXPECT_TRUE(runs.FindDedupe(1, new_id));
  EXPECT_FALSE(runs.FindDedupe(2, new_id)) << "ids are per stream";
}

TEST_F(IndexRunsTest, LoadDeletesFilesNotInTheManifest) {
  std::string manifest;
  {
    IndexRuns runs(dir(), Clock::Real(), kWindow);
    ASSERT_TRUE(runs.Load(""));
    std::vector<StreamIndexEntry> e{{1, 0, 5}};
    std::vector<DedupeIndexEntry> none;
    auto p = runs.WriteRuns(e, none);
    ASSERT_TRUE(p);
    runs.Publish(*p);
    manifest = runs.EncodeManifest();
    std::vector<StreamIndexEntry> orphan{{1, 1, 6}};  // written, never in a manifest
    ASSERT_TRUE(runs.WriteRuns(orphan, none));
  }
  IndexRuns runs(dir(), Clock::Real(), kWindow);
  ASSERT_TRUE(runs.Load(manifest));
  EXPECT_EQ(runs.FindStream(1, 0, 10).size(), 1u);
  size_t files = 0;
  for (auto& f : std::filesystem::directory_iterator(dir())) files += f.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(IndexRunsTest, ACorruptRunIsReportedOnLoad) {
  std::string manifest;
  {
    IndexRuns runs(dir(), Clock::Real(), kWindow);
    ASSERT_TRUE(runs.Load(""));
    std::vector<StreamIndexEntry> e{{1, 0, 5}, {1, 1, 6}};
    std::vector<DedupeIndexEntry> none;
    auto p = runs.WriteRuns(e, none);
    ASSERT_TRUE(p);
    runs.Publish(*p);
    manifest = runs.EncodeManifest();
  }
  for (auto& f : std::filesystem::directory_iterator(dir())) {
    std::fstream file(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(70);
    file.put('\x7f');
  }
  IndexRuns runs(dir(), Clock::Real(), kWindow);
  auto st = runs.Load(manifest);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace strata::storage
