#include <gtest/gtest.h>

#include "base/coding.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "base/histogram.h"
#include "base/uuid.h"

namespace strata {
namespace {

TEST(LatencyHistogram, BucketsAreUpperInclusiveAndSumIsInMicroseconds) {
  LatencyHistogram h;
  using std::chrono::microseconds;
  h.Record(microseconds(50));         // bucket 0 (<= 50 us)
  h.Record(microseconds(51));         // bucket 1 (<= 100 us)
  h.Record(microseconds(10000));      // <= 10 ms
  h.Record(std::chrono::seconds(9));  // +Inf
  auto s = h.Read();
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.counts[0], 1u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[7], 1u);  // kBoundsUs[7] == 10000
  EXPECT_EQ(s.counts[LatencyHistogram::kBuckets - 1], 1u);
  EXPECT_EQ(s.sum_us, 50u + 51u + 10000u + 9000000u);
  EXPECT_EQ(s.QuantileBoundUs(0.0), 50u);
  EXPECT_EQ(s.QuantileBoundUs(0.5), 100u);
  EXPECT_EQ(s.QuantileBoundUs(0.7), 10000u);
  EXPECT_EQ(s.QuantileBoundUs(1.0), UINT64_MAX);
  EXPECT_EQ(LatencyHistogram().Read().QuantileBoundUs(0.5), 0u);
}

TEST(ErrorCodes, NamesRoundTrip) {
  for (uint16_t c = 1; c <= static_cast<uint16_t>(kLastErrorCode); ++c) {
    auto code = static_cast<ErrorCode>(c);
    EXPECT_NE(ErrorCodeName(code), "unknown") << c;
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(code)), code) << c;
  }
  EXPECT_EQ(ErrorCodeFromName("no-such-error"), std::nullopt);
}

TEST(Crc32c, MatchesKnownVectors) {
  // RFC 3720 B.4 test vectors and the classic check value.
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::Value(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s = "hello, strata event store";
  uint32_t whole = crc32c::Value(s.data(), s.size());
  uint32_t part = crc32c::Extend(crc32c::Value(s.data(), 7), s.data() + 7, s.size() - 7);
  EXPECT_EQ(whole, part);
}

TEST(Crc32c, MaskRoundTrips) {
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xffffffffu})
    EXPECT_EQ(crc32c::Unmask(crc32c::Mask(v)), v);
  EXPECT_NE(crc32c::Mask(0xE3069283u), 0xE3069283u);
}

TEST(Coding, BigEndianSortsNumerically) {
  char a[8], b[8];
  PutBigEndian64(a, 255);
  PutBigEndian64(b, 256);
  EXPECT_LT(std::string(a, 8), std::string(b, 8));
  EXPECT_EQ(GetBigEndian64(b), 256u);
}

TEST(Coding, VarintRoundTripsAndRejectsTruncation) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, (1ull << 35) + 7, ~0ull}) {
    std::string s;
    AppendVarint(s, v);
    EXPECT_EQ(s.size(), VarintLength(v));
    const char* p = s.data();
    uint64_t out = 0;
    ASSERT_TRUE(GetVarint(&p, s.data() + s.size(), &out));
    EXPECT_EQ(out, v);
    if (s.size() > 1) {
      p = s.data();
      EXPECT_FALSE(GetVarint(&p, s.data() + s.size() - 1, &out));
    }
  }
}

TEST(Uuid, ParsesAndPrintsCanonicalForm) {
  auto u = Uuid::Parse("3F2A9C1E-0B7D-4E8A-9C55-2D1F6A7B8C90");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->ToString(), "3f2a9c1e-0b7d-4e8a-9c55-2d1f6a7b8c90");
  auto braced = Uuid::Parse("{3f2a9c1e-0b7d-4e8a-9c55-2d1f6a7b8c90}");
  ASSERT_TRUE(braced);
  EXPECT_EQ(*braced, *u);
}

TEST(Uuid, RejectsMalformedWithAClearError) {
  for (const char* bad :
       {"", "3f2a9c1e", "3f2a9c1e-0b7d-4e8a-9c55-2d1f6a7b8c9g",
        "3f2a9c1e00b7d-4e8a-9c55-2d1f6a7b8c90", "not a uuid at all at all at all!"}) {
    auto u = Uuid::Parse(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_EQ(u.error().code(), ErrorCode::kInvalidEventId);
    EXPECT_NE(u.error().message().find("8-4-4-4-12"), std::string::npos);
  }
}

TEST(Uuid, RandomIsVersion4AndUnique) {
  auto a = Uuid::Random(), b = Uuid::Random();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.ToString()[14], '4');
  EXPECT_FALSE(a.IsNil());
  EXPECT_TRUE(Uuid().IsNil());
}

TEST(Error, CodesHaveStableNames) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kWrongExpectedRevision), "wrong-expected-revision");
  EXPECT_EQ(static_cast<int>(ErrorCode::kWrongExpectedRevision), 7);
  EXPECT_EQ(static_cast<int>(ErrorCode::kCorruption), 12);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kDiskFull), "disk-full");
  EXPECT_EQ(static_cast<int>(ErrorCode::kDiskFull), 25);
  EXPECT_EQ(ErrorCodeFromName("disk-full"), ErrorCode::kDiskFull);
  Error e(ErrorCode::kServerBusy, "queue full");
  EXPECT_EQ(e.ToString(), "server-busy: queue full");
}

TEST(Error, EveryCodeHasOneClassAndTheCliAndGrpcDeriveFromIt) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotOwner), "not-owner");
  EXPECT_EQ(static_cast<int>(ErrorCode::kNotOwner), 26);
  // Every code has a name and a class (a new code without one fails here, not in production).
  for (int c = 1; c <= static_cast<int>(kLastErrorCode); ++c) {
    const auto code = static_cast<ErrorCode>(c);
    EXPECT_NE(ErrorCodeName(code), "unknown") << c;
    EXPECT_NE(ErrorClassName(ClassOf(code)), "") << c;
  }
  // What the CLI exits 2 for and the server answers INVALID_ARGUMENT for: the input's fault.
  for (ErrorCode c :
       {ErrorCode::kInvalidArgument, ErrorCode::kInvalidStreamName, ErrorCode::kInvalidEventId,
        ErrorCode::kInvalidExpectedRevision, ErrorCode::kUnknownOption, ErrorCode::kInvalidConfig,
        ErrorCode::kEventTooLarge, ErrorCode::kAppendTooLarge, ErrorCode::kMissingMetadata}) {
    EXPECT_EQ(ClassOf(c), ErrorClass::kBadInput) << ErrorCodeName(c);
  }
  EXPECT_EQ(ClassOf(ErrorCode::kWrongExpectedRevision), ErrorClass::kPrecondition);
  EXPECT_EQ(ClassOf(ErrorCode::kConflict), ErrorClass::kConflict);
  EXPECT_EQ(ClassOf(ErrorCode::kServerBusy), ErrorClass::kRetryLater);
  EXPECT_EQ(ClassOf(ErrorCode::kNotOwner), ErrorClass::kRetryLater);
  EXPECT_EQ(ClassOf(ErrorCode::kDiskFull), ErrorClass::kNoSpace);
  EXPECT_EQ(ClassOf(ErrorCode::kCorruption), ErrorClass::kFault);
  EXPECT_EQ(ClassOf(ErrorCode::kObjectNotFound), ErrorClass::kFault);
  EXPECT_EQ(ErrorClassName(ErrorClass::kRetryLater), "retry-later");
}

}  // namespace
}  // namespace strata
