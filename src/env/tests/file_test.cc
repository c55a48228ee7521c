// The file seam: atomic replacement, checked metadata files, and errors that say what happened.
#include "env/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace strata::env {
namespace {
namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strata-env-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Overwrite(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  fs::path dir_;
};

TEST_F(FileTest, MetaFileRoundTripsAndStaysReadableText) {
  const std::string p = Path("STRATA");
  ASSERT_TRUE(WriteMetaFile(p, "{\"shards\": 4}\n"));
  auto back = ReadMetaFile(p, "restore it");
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, "{\"shards\": 4}\n");
  auto raw = ReadFile(p);
  ASSERT_TRUE(raw);
  EXPECT_TRUE(raw->starts_with("{\"shards\": 4}\n#strata-meta v1 length=14 crc32c=")) << *raw;
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST_F(FileTest, DamagedMetaFilesAreCorruptionNamingTheFileAndTheRemedy) {
  const std::string p = Path("meta");
  ASSERT_TRUE(WriteMetaFile(p, "payload bytes"));
  const std::string good = *ReadFile(p);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"truncated", good.substr(0, good.size() - 5)},
      {"truncated payload", good.substr(3)},
      {"flipped byte", std::string("Payload bytes") + good.substr(13)},
      {"garbage", "\x01\x02garbage\n"},
  };
  for (const auto& [what, bytes] : cases) {
    Overwrite(p, bytes);
    auto r = ReadMetaFile(p, "do this to fix it");
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorruption) << what;
    EXPECT_NE(r.error().message().find(p), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("do this to fix it"), std::string::npos) << what;
  }
}

TEST_F(FileTest, LegacyFilesWithoutTrailerAreAcceptedOnlyWhenAsked) {
  const std::string p = Path("legacy");
  Overwrite(p, "{\"format\": 1}\n");
  EXPECT_FALSE(ReadMetaFile(p, "x"));
  auto r = ReadMetaFile(p, "x", /*accept_legacy=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "{\"format\": 1}\n");
  // A damaged trailer is never taken for a legacy file.
  ASSERT_TRUE(WriteMetaFile(p, "abc"));
  std::string bytes = *ReadFile(p);
  bytes[bytes.size() - 3] ^= 1;
  Overwrite(p, bytes);
  EXPECT_FALSE(ReadMetaFile(p, "x", true));
}

TEST_F(FileTest, MissingFilesAreNotFound) {
  auto r = ReadMetaFileIfExists(Path("nope"), "x");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  auto f = ReadFile(Path("nope"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kObjectNotFound);
}

TEST_F(FileTest, WritableFileBuffersUntilFlushAndWritesHeadersInPlace) {
  const std::string p = Path("run");
  auto f = WritableFile::Open(p, WritableFile::Mode::kExclusive, 16);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->Append("0123456789"));
  EXPECT_EQ(fs::file_size(p), 0u);  // still buffered
  ASSERT_TRUE((*f)->Append("abcdefghij"));
  EXPECT_EQ((*f)->size(), 20u);
  ASSERT_TRUE((*f)->WriteAt(0, "XY"));
  ASSERT_TRUE((*f)->Sync());
  ASSERT_TRUE((*f)->Close());
  EXPECT_EQ(*ReadFile(p), "XY23456789abcdefghij");
  auto again = WritableFile::Open(p, WritableFile::Mode::kExclusive);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(FileTest, AppendModeContinuesAtTheEnd) {
  const std::string p = Path("acks");
  for (int i = 0; i < 2; ++i) {
    auto f = WritableFile::Open(p, WritableFile::Mode::kAppend, 0);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->Append("line\n"));
    EXPECT_EQ((*f)->size(), 5u * (i + 1));
    // Unbuffered: in the file before any Flush.
    EXPECT_EQ(fs::file_size(p), 5u * (i + 1));
  }
}

TEST_F(FileTest, ReplaceCreatesDirectoriesAndReplacesWhole) {
  const std::string p = Path("a/b/c/state");
  ASSERT_TRUE(CreateDirs(Path("a/b/c")));
  ASSERT_TRUE(ReplaceFile(p, "one"));
  ASSERT_TRUE(ReplaceFile(p, "two"));
  EXPECT_EQ(*ReadFile(p), "two");
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST_F(FileTest, ErrorsNameThePathAndDiskFullNamesTheFreeSpace) {
  auto r = WritableFile::Open(Path("missing-dir/file"), WritableFile::Mode::kTruncate);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIoError);
  EXPECT_NE(r.error().message().find("missing-dir/file"), std::string::npos);
  Error full = FromErrno(ENOSPC, "writing", Path("x"));
  EXPECT_EQ(full.code(), ErrorCode::kDiskFull);
  EXPECT_NE(full.message().find(dir_.string()), std::string::npos) << full.message();
  EXPECT_NE(full.message().find("free"), std::string::npos) << full.message();
  // /dev/full answers every write with ENOSPC.
  auto dev = WritableFile::Open("/dev/full", WritableFile::Mode::kAppend, 0);
  ASSERT_TRUE(dev);
  auto st = (*dev)->Append("x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kDiskFull) << st.error().ToString();
}

TEST_F(FileTest, SpaceOfReportsTheFilesystem) {
  auto s = SpaceOf(dir_.string());
  ASSERT_TRUE(s);
  EXPECT_GT(s->total_bytes, 0u);
  EXPECT_LE(s->free_bytes, s->total_bytes);
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3u << 20), "3.0 MiB");
}

}  // namespace
}  // namespace strata::env
