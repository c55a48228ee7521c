// The ObjectStore contract, run against every implementation: the fs store in a temporary
// directory, and the s3 store against a real S3 server (radosgw, started by scripts/test.sh
// through scripts/radosgw.sh, which exports AWS_ENDPOINT_URL, the credentials and
// STRATA_TEST_S3_BUCKET).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "base/uuid.h"
#include "objstore/object_store.h"

namespace strata::objstore {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return s;
}

const char* S3Bucket() { return std::getenv("STRATA_TEST_S3_BUCKET"); }

class ContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string run = Uuid::Random().ToString().substr(0, 8);
    if (GetParam() == "fs") {
      dir_ = std::filesystem::temp_directory_path() / ("strata-objstore-" + run);
      auto s = Open("file://" + dir_.string());
      ASSERT_TRUE(s) << s.error().ToString();
      store_ = std::move(*s);
    } else {
      if (!S3Bucket()) {
        GTEST_SKIP() << "no S3 server: STRATA_TEST_S3_BUCKET is unset (scripts/test.sh starts "
                        "radosgw and sets it; run the tests through it)";
      }
      S3Config c;
      c.retry_deadline = std::chrono::seconds(20);
      auto s = Open(std::string("s3://") + S3Bucket() + "/contract-" + run, c);
      ASSERT_TRUE(s) << s.error().ToString();
      store_ = std::move(*s);
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ContractTest, PutGetHeadRoundTrip) {
  const std::string data = RandomBytes(1 << 20, 1);
  ASSERT_TRUE(PutString(*store_, "a/b/object", data));
  auto got = GetString(*store_, "a/b/object");
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(*got, data);
  auto info = store_->Head("a/b/object");
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->key, "a/b/object");
  EXPECT_EQ(info->size, data.size());
  EXPECT_FALSE(info->etag.empty());

  ASSERT_TRUE(PutString(*store_, "empty", ""));
  auto empty = GetString(*store_, "empty");
  ASSERT_TRUE(empty) << empty.error().ToString();
  EXPECT_EQ(*empty, "");
}

TEST_P(ContractTest, ReplacingAnObjectShowsTheNewBytes) {
  ASSERT_TRUE(PutString(*store_, "k", "first"));
  ASSERT_TRUE(PutString(*store_, "k", "second, longer"));
  EXPECT_EQ(*GetString(*store_, "k"), "second, longer");
}

TEST_P(ContractTest, RangeGets) {
  const std::string data = RandomBytes(300'000, 2);
  ASSERT_TRUE(PutString(*store_, "ranged", data));
  EXPECT_EQ(*GetString(*store_, "ranged", {1000, 5000}), data.substr(1000, 5000));
  EXPECT_EQ(*GetString(*store_, "ranged", {299'990, std::nullopt}), data.substr(299'990));
  EXPECT_EQ(*GetString(*store_, "ranged", {299'990, 100}), data.substr(299'990));  // clipped
  EXPECT_EQ(*GetString(*store_, "ranged", {0, 1}), data.substr(0, 1));
  auto past = GetString(*store_, "ranged", {300'000, 10});
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), ErrorCode::kInvalidArgument) << past.error().ToString();
}

TEST_P(ContractTest, MissingObjects) {
  auto g = GetString(*store_, "no/such/key");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), ErrorCode::kObjectNotFound) << g.error().ToString();
  auto h = store_->Head("no/such/key");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code(), ErrorCode::kObjectNotFound) << h.error().ToString();
  EXPECT_TRUE(store_->Delete("no/such/key"));  // deleting what is absent succeeds

  ASSERT_TRUE(PutString(*store_, "gone", "x"));
  ASSERT_TRUE(store_->Delete("gone"));
  EXPECT_EQ(GetString(*store_, "gone").error().code(), ErrorCode::kObjectNotFound);
}

TEST_P(ContractTest, CreateIfAbsentNeverReplaces) {
  ASSERT_TRUE(PutString(*store_, "once", "first", {.if_absent = true}));
  auto again = PutString(*store_, "once", "second", {.if_absent = true});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists) << again.error().ToString();
  EXPECT_EQ(*GetString(*store_, "once"), "first");
}

TEST_P(ContractTest, ConcurrentCreateIfAbsentHasOneWinner) {
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto st = PutString(*store_, "race", "writer " + std::to_string(t), {.if_absent = true});
      if (st) {
        ++won;
      } else if (st.error().code() == ErrorCode::kAlreadyExists) {
        ++lost;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), 3);
}

TEST_P(ContractTest, ListsInKeyOrderWithPages) {
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) {
    char k[32];
    std::snprintf(k, sizeof k, "list/item-%03d", i);
    keys.push_back(k);
  }
  // Written out of order, with neighbours that the prefix must exclude.
  for (int i = 24; i >= 0; --i) ASSERT_TRUE(PutString(*store_, keys[i], std::to_string(i)));
  ASSERT_TRUE(PutString(*store_, "lis", "no"));
  ASSERT_TRUE(PutString(*store_, "listing/x", "no"));
  ASSERT_TRUE(PutString(*store_, "list/sub/deeper", "yes"));

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List("list/", token, 10);
    ASSERT_TRUE(page) << page.error().ToString();
    EXPECT_LE(page->objects.size(), 10u);
    for (auto& o : page->objects) seen.push_back(o.key);
    token = page->next;
    ++pages;
  } while (!token.empty() && pages < 10);
  std::vector<std::string> want = keys;
  want.push_back("list/sub/deeper");
  EXPECT_EQ(seen, want);
  EXPECT_EQ(pages, 3);

  auto some = ListAll(*store_, "list/item-01");
  ASSERT_TRUE(some);
  ASSERT_EQ(some->size(), 10u);
  EXPECT_EQ(some->front().key, "list/item-010");
  EXPECT_EQ(some->front().size, 2u);
  auto none = ListAll(*store_, "nothing-here/");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(ContractTest, MultipartUploadCompletesIntoOneObject) {
  const std::string a = RandomBytes(kMinPartSize, 3), b = RandomBytes(kMinPartSize, 4),
                    c = RandomBytes(1000, 5);
  auto id = store_->CreateMultipart("multi/object");
  ASSERT_TRUE(id) << id.error().ToString();
  std::vector<PartInfo> parts;
  // Parts may arrive in any order; completion orders them by number.
  for (auto [n, bytes] : {std::pair{2, &b}, std::pair{1, &a}, std::pair{3, &c}}) {
    StringSource src(*bytes);
    auto etag = store_->UploadPart("multi/object", *id, n, src);
    ASSERT_TRUE(etag) << etag.error().ToString();
    parts.push_back({n, *etag});
  }
  std::sort(parts.begin(), parts.end(), [](auto& x, auto& y) { return x.number < y.number; });
  EXPECT_EQ(store_->Head("multi/object").error().code(), ErrorCode::kObjectNotFound)
      << "visible before completion";
  ASSERT_TRUE(store_->CompleteMultipart("multi/object", *id, parts));
  auto got = GetString(*store_, "multi/object");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), a.size() + b.size() + c.size());
  EXPECT_TRUE(*got == a + b + c);
  EXPECT_EQ(*GetString(*store_, "multi/object", {kMinPartSize - 3, 6}),
            a.substr(kMinPartSize - 3) + b.substr(0, 3));
}

TEST_P(ContractTest, AbortedMultipartLeavesNothing) {
  auto id = store_->CreateMultipart("aborted");
  ASSERT_TRUE(id);
  StringSource src("part");
  auto etag = store_->UploadPart("aborted", *id, 1, src);
  ASSERT_TRUE(etag);
  ASSERT_TRUE(store_->AbortMultipart("aborted", *id));
  EXPECT_EQ(store_->Head("aborted").error().code(), ErrorCode::kObjectNotFound);
  auto late = store_->CompleteMultipart("aborted", *id, {{1, *etag}});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kObjectNotFound) << late.error().ToString();
  StringSource again("part");
  auto part = store_->UploadPart("aborted", "no-such-upload", 1, again);
  ASSERT_FALSE(part);
  EXPECT_EQ(part.error().code(), ErrorCode::kObjectNotFound) << part.error().ToString();
}

TEST_P(ContractTest, SmallPartsButTheLastAreRefused) {
  auto id = store_->CreateMultipart("small-parts");
  ASSERT_TRUE(id);
  std::vector<PartInfo> parts;
  for (int n = 1; n <= 2; ++n) {
    StringSource src("tiny part");
    auto etag = store_->UploadPart("small-parts", *id, n, src);
    ASSERT_TRUE(etag);
    parts.push_back({n, *etag});
  }
  auto st = store_->CompleteMultipart("small-parts", *id, parts);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().ToString();
  EXPECT_TRUE(store_->AbortMultipart("small-parts", *id));
}

TEST_P(ContractTest, CompletionChecksEachPartsEtag) {
  auto id = store_->CreateMultipart("etags");
  ASSERT_TRUE(id);
  StringSource src("the only part");
  auto etag = store_->UploadPart("etags", *id, 1, src);
  ASSERT_TRUE(etag);
  auto wrong = store_->CompleteMultipart("etags", *id, {{1, "\"0123456789abcdef\""}});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument) << wrong.error().ToString();
  EXPECT_EQ(store_->Head("etags").error().code(), ErrorCode::kObjectNotFound);
  ASSERT_TRUE(store_->CompleteMultipart("etags", *id, {{1, *etag}}));
  EXPECT_EQ(*GetString(*store_, "etags"), "the only part");
}

TEST_P(ContractTest, UploadStreamsFilesInParts) {
  const std::string data = RandomBytes(12 << 20, 6);
  auto path =
      std::filesystem::temp_directory_path() / ("strata-upload-" + Uuid::Random().ToString());
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
  auto src = FileSource::Open(path.string());
  ASSERT_TRUE(src);
  std::vector<uint64_t> progress;
  ASSERT_TRUE(Upload(*store_, "uploaded/big", **src, kMinPartSize,
                     [&](uint64_t n) { progress.push_back(n); }));
  EXPECT_EQ(progress, (std::vector<uint64_t>{kMinPartSize, 2 * kMinPartSize, data.size()}));
  EXPECT_TRUE(*GetString(*store_, "uploaded/big") == data);

  // A source at most one part long is one put.
  auto small = FileSource::Open(path.string(), 100, 1000);
  ASSERT_TRUE(small);
  ASSERT_TRUE(Upload(*store_, "uploaded/small", **small));
  EXPECT_EQ(*GetString(*store_, "uploaded/small"), data.substr(100, 1000));
  std::filesystem::remove(path);
}

TEST_P(ContractTest, ASinkErrorStopsTheGet) {
  ASSERT_TRUE(PutString(*store_, "streamed", RandomBytes(1 << 20, 7)));
  size_t got = 0;
  auto st = store_->Get("streamed", {}, [&](std::string_view chunk) -> Status {
    got += chunk.size();
    return Error(ErrorCode::kInternal, "the consumer gave up");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "the consumer gave up");
  EXPECT_LT(got, size_t{1} << 20);
}

TEST_P(ContractTest, BadKeysAreRefusedWithAReason) {
  for (std::string key : {"", "a//b", "../escape", "a/./b", "trailing/"}) {
    auto st = PutString(*store_, key, "x");
    ASSERT_FALSE(st) << key;
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_FALSE(st.error().message().empty());
  }
}

TEST_P(ContractTest, ConcurrentPutsAndGets) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string key = "conc/" + std::to_string(t) + "/" + std::to_string(i);
        std::string data = RandomBytes(10'000 + i, t * 100 + i);
        if (!PutString(*store_, key, data)) ++failures;
        auto got = GetString(*store_, key);
        if (!got || *got != data) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ListAll(*store_, "conc/")->size(), 40u);
}

INSTANTIATE_TEST_SUITE_P(Stores, ContractTest, ::testing::Values("fs", "s3"),
                         [](const auto& info) { return info.param; });

// ---- what is particular to each store

TEST(OpenTest, UrlsAreCheckedWithAHint) {
  for (const char* url : {"", "ftp://x", "file://relative/path", "s3://ab", "s3://"}) {
    auto s = Open(url);
    ASSERT_FALSE(s) << url;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument) << url;
  }
  EXPECT_NE(Open("gs://bucket").error().message().find("file:///"), std::string::npos);
}

TEST(FsStoreTest, ReservedNamesAndCrashLeftovers) {
  auto dir = std::filesystem::temp_directory_path() / ("strata-fs-" + Uuid::Random().ToString());
  auto s = Open("file://" + dir.string());
  ASSERT_TRUE(s);
  auto st = PutString(**s, ".strata-tmp/x", "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(PutString(**s, "visible", "x"));
  // The internal directories never show in listings.
  auto all = ListAll(**s, "");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().key, "visible");
  std::filesystem::remove_all(dir);
}

class S3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!S3Bucket()) {
      GTEST_SKIP() << "no S3 server: STRATA_TEST_S3_BUCKET is unset (scripts/test.sh starts "
                      "radosgw and sets it)";
    }
  }
};

TEST_F(S3Test, WrongCredentialsArePermissionDenied) {
  S3Config c;
  c.access_key = "no-such-key";
  c.secret_key = "wrong";
  auto s = Open(std::string("s3://") + S3Bucket() + "/creds", c);
  ASSERT_TRUE(s);
  auto st = PutString(**s, "x", "y");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kPermissionDenied) << st.error().ToString();
  EXPECT_NE(st.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST_F(S3Test, MissingBucketSaysSo) {
  auto s = Open("s3://strata-no-such-bucket/x");
  ASSERT_TRUE(s);
  auto st = PutString(**s, "x", "y");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidConfig) << st.error().ToString();
  EXPECT_NE(st.error().message().find("does not exist"), std::string::npos);
}

TEST_F(S3Test, UnreachableEndpointRetriesUntilTheDeadline) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  c.retry_deadline = std::chrono::milliseconds(1500);
  auto s = Open(std::string("s3://") + S3Bucket() + "/down", c);
  ASSERT_TRUE(s);
  const auto start = std::chrono::steady_clock::now();
  auto st = PutString(**s, "x", "y");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable) << st.error().ToString();
  EXPECT_NE(st.error().message().find("times over"), std::string::npos);
  EXPECT_GE(took, std::chrono::milliseconds(500));  // it did back off and retry
}

TEST(S3ConfigTest, MissingCredentialsAreAConfigError) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";
  const char* saved_key = std::getenv("AWS_ACCESS_KEY_ID");
  std::string keep = saved_key ? saved_key : "";
  unsetenv("AWS_ACCESS_KEY_ID");
  auto s = Open("s3://bucket/prefix", c);
  if (saved_key) setenv("AWS_ACCESS_KEY_ID", keep.c_str(), 1);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

}  // namespace
}  // namespace strata::objstore
