// strata check and damaged files: a byte flipped in each kind of file a store keeps is found and
// reported with its place, a damaged metadata file is `corruption` naming it (never an exception
// or an abort), and a damaged block of the log is never served as data.
#include "storage/check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "env/file.h"
#include "storage/index_runs.h"
#include "storage/tests/cold_test_util.h"

namespace strata {
namespace {
namespace fs = std::filesystem;
using coldtest::ColdStoreOptions;
using coldtest::Fill;
using testing::TempDir;

void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// The largest file of `dir` whose name ends with `suffix`.
fs::path Largest(const fs::path& dir, const std::string& suffix) {
  fs::path best;
  uintmax_t size = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(suffix) && e.file_size() > size) {
      size = e.file_size();
      best = e.path();
    }
  }
  return best;
}

std::vector<CheckProblem> ProblemsOf(const CheckReport& r, const std::string& kind) {
  std::vector<CheckProblem> out;
  for (const auto& p : r.problems) {
    if (p.kind == kind) out.push_back(p);
  }
  return out;
}

class CheckTest : public ::testing::Test {
 protected:
  // A store with SST files, index runs, index streams and archived segments; closed.
  void SetUp() override {
    options_ = ColdStoreOptions(dir_.path(), "file://" + dir_.path() + "/cold");
    auto store = LocalStore::Open(options_);
    ASSERT_TRUE(store) << store.error().ToString();
    events_ = Fill(**store, 40, 4000, 10);  // ~10 MB: several memtable flushes per shard
    ASSERT_TRUE((*store)->ArchiveAll(DeadlineIn(std::chrono::seconds(60))));
    ASSERT_TRUE((*store)->Close());
  }
  Result<CheckReport> Check(bool cold = false) {
    CheckOptions co;
    co.cold = cold;
    return storage::CheckDataDir(options_, co);
  }
  fs::path Data() const { return fs::path(dir_.path()) / "data"; }

  TempDir dir_;
  StoreOptions options_;
  uint64_t events_ = 0;
};

TEST_F(CheckTest, ACleanStoreHasNoProblemsAndEveryRecordIsChecked) {
  auto r = Check(/*cold=*/true);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->ok()) << r->ToText();
  EXPECT_EQ(r->records, events_);
  EXPECT_GT(r->warm_files, 0u);
  EXPECT_GT(r->index_runs, 0u);
  EXPECT_GT(r->cold_segments, 0u);
  EXPECT_GT(r->cold_blocks, r->cold_segments);
  EXPECT_GE(r->metadata_files, 1u);
  auto back = CheckReport::FromJson(r->ToJson());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->records, r->records);
  EXPECT_TRUE(back->ok());
}

TEST_F(CheckTest, AFlippedByteInAnSstFileIsFoundAndItsBlockIsNeverServed) {
  const fs::path sst = Largest(Data() / "shard-000" / "db", ".sst");
  ASSERT_FALSE(sst.empty());
  FlipByte(sst, fs::file_size(sst) / 3);
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  auto bad = ProblemsOf(*r, "warm-file");
  ASSERT_EQ(bad.size(), 1u) << r->ToText();
  EXPECT_EQ(bad[0].shard, 0);
  EXPECT_EQ(bad[0].location, sst.string());
  EXPECT_NE(bad[0].message.find("'events'"), std::string::npos) << bad[0].message;
  EXPECT_GT(bad[0].last_position, bad[0].first_position) << "names the positions the file holds";
  EXPECT_FALSE(ProblemsOf(*r, "record").empty()) << "the records there cannot be read either";
  std::printf("%s", r->ToText().c_str());

  // Reading through it fails with corruption naming where; it never returns the bytes.
  auto store = LocalStore::Open(options_);
  ASSERT_TRUE(store) << store.error().ToString();
  Status scan =
      (*store)->ScanAll(Position(1), Position(UINT64_MAX), [](const RecordView&) { return true; });
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().code(), ErrorCode::kCorruption) << scan.error().ToString();
  EXPECT_NE(scan.error().message().find("from position"), std::string::npos)
      << scan.error().message();
}

TEST_F(CheckTest, AFlippedByteInAnIndexRunIsFoundAndTheStoreSaysWhichFile) {
  const fs::path run = Largest(Data() / "shard-001" / "index", ".run");
  ASSERT_FALSE(run.empty());
  FlipByte(run, fs::file_size(run) - 7);
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  auto bad = ProblemsOf(*r, "index-run");
  ASSERT_EQ(bad.size(), 1u) << r->ToText();
  EXPECT_EQ(bad[0].shard, 1);
  EXPECT_EQ(bad[0].location, run.string());
  auto store = LocalStore::Open(options_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(store.error().message().find(run.string()), std::string::npos);
}

TEST_F(CheckTest, ADamagedStoreDescriptionIsCorruptionNamingItNeverAnException) {
  const fs::path strata = Data() / "STRATA";
  const std::string good = *env::ReadFile(strata.string());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"flipped", std::string(good).replace(5, 1, "#")},
      {"truncated", good.substr(0, good.size() / 2)},
      {"empty", ""},
      {"wrong types, valid trailer", "{\"format\": 1, \"shards\": \"two\"}\n"},
      {"not JSON, valid trailer", "\x01\x02\x03"},
  };
  for (const auto& [what, bytes] : cases) {
    if (what.find("valid trailer") != std::string::npos) {
      ASSERT_TRUE(env::WriteMetaFile(strata.string(), bytes));
    } else {
      std::ofstream(strata, std::ios::binary | std::ios::trunc) << bytes;
    }
    auto store = LocalStore::Open(options_);
    ASSERT_FALSE(store) << what;
    EXPECT_EQ(store.error().code(), ErrorCode::kCorruption)
        << what << ": " << store.error().ToString();
    EXPECT_NE(store.error().message().find(strata.string()), std::string::npos) << what;
    EXPECT_NE(store.error().message().find("strata restore"), std::string::npos) << what;
    auto r = Check();
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(ProblemsOf(*r, "store-description").size(), 1u) << what << "\n" << r->ToText();
  }
}

TEST_F(CheckTest, ADamagedIndexStreamsStateIsFoundAndRebuiltFromAll) {
  const fs::path state = Data() / "index-streams" / "STATE";
  ASSERT_TRUE(fs::exists(state));
  FlipByte(state, fs::file_size(state) / 2);
  auto r = Check();
  ASSERT_TRUE(r);
  EXPECT_EQ(ProblemsOf(*r, "index-streams-state").size(), 1u) << r->ToText();
  auto store = LocalStore::Open(options_);
  ASSERT_TRUE(store) << store.error().ToString();
  // Rebuilt: every event of the streams s-… is in $ce-s again.
  uint64_t seen = 0;
  for (int attempt = 0; attempt < 200 && seen < events_; ++attempt) {
    auto read = (*store)->ReadStream({.stream = "$ce-s", .max_count = events_});
    ASSERT_TRUE(read) << read.error().ToString();
    seen = read->events.size();
    if (seen < events_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(seen, events_);
}

TEST_F(CheckTest, AFlippedByteInAnArchivedOrLocalSegmentIsFoundWithItsPositions) {
  const fs::path seg = Largest(fs::path(dir_.path()) / "cold" / "segments" / "shard-000", ".seg");
  ASSERT_FALSE(seg.empty());
  // A local copy in the archiver's outbox, checked offline as well.
  const fs::path outbox = Data() / "shard-000" / "outbox";
  fs::create_directories(outbox);
  fs::copy_file(seg, outbox / seg.filename());
  auto clean = Check(/*cold=*/true);
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->ok()) << clean->ToText();
  EXPECT_EQ(clean->local_segments, 1u);

  FlipByte(seg, 40);  // inside the first block
  FlipByte(outbox / seg.filename(), 40);
  auto r = Check(/*cold=*/true);
  ASSERT_TRUE(r);
  auto cold = ProblemsOf(*r, "cold-segment");
  ASSERT_EQ(cold.size(), 1u) << r->ToText();
  EXPECT_EQ(cold[0].shard, 0);
  EXPECT_GT(cold[0].first_position, 0u);
  EXPECT_NE(cold[0].message.find("positions " + std::to_string(cold[0].first_position)),
            std::string::npos)
      << cold[0].message;
  EXPECT_EQ(ProblemsOf(*r, "local-segment").size(), 1u) << r->ToText();
  std::printf("%s", r->ToText().c_str());

  // Read through the cold tier, the damaged block is refused with its positions.
  objstore::S3Config none;
  auto store = objstore::Open("file://" + dir_.path() + "/cold", none);
  ASSERT_TRUE(store);
  auto manifest = cold::LoadManifest(**store, 0);
  ASSERT_TRUE(manifest);
  for (const auto& s : *manifest) {
    if (fs::path(s.key).filename() != seg.filename()) continue;
    auto reader = cold::SegmentReader::Open(**store, s.key);
    ASSERT_TRUE(reader);
    auto block = (*reader)->ReadBlock(0);
    ASSERT_FALSE(block);
    EXPECT_EQ(block.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(block.error().message().find("positions"), std::string::npos);
  }
}

TEST(IndexRunsManifest, AMalformedManifestIsCorruptionNeverAnException) {
  TempDir dir;
  storage::IndexRuns runs(dir.path() + "/index", Clock::Real(), 1000);
  for (const char* bad : {"1:abc", "7:1", "1:", ":5", "2:99999999999999999999999", "x"}) {
    auto st = runs.Load(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code(), ErrorCode::kCorruption) << bad;
    EXPECT_NE(st.error().message().find("malformed"), std::string::npos) << bad;
  }
  EXPECT_TRUE(runs.Load(""));
}

}  // namespace
}  // namespace strata
