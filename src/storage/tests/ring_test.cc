#include "storage/hot/ring.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

namespace strata::hot {
namespace {

HotOptions Small() {
  HotOptions o;
  o.ring_bytes = 1u << 20;
  o.ring_slots = 1024;
  o.max_age = std::chrono::milliseconds(0);
  return o;
}

TEST(Ring, ClaimsContiguousIncreasingPositions) {
  Ring ring(Small(), Position(10), Clock::Real());
  auto a = *ring.Claim(3, 30);
  auto b = *ring.Claim(2, 20);
  EXPECT_EQ(a.first, Position(10));
  EXPECT_EQ(b.first, Position(13));
  EXPECT_EQ(b.arena_offset, 30u);
  EXPECT_EQ(ring.next(), Position(15));
}

TEST(Ring, WatermarkWaitsForTheEarliestClaim) {
  Ring ring(Small(), Position(1), Clock::Real());
  auto a = *ring.Claim(2, 0);
  auto b = *ring.Claim(2, 0);
  ring.MarkDurable(b.first, 2);  // the later group finishes first
  EXPECT_EQ(ring.watermark(), Position(1)) << "a gap must never become visible";
  ring.MarkDurable(a.first, 2);
  EXPECT_EQ(ring.watermark(), Position(5));
}

TEST(Ring, ReadsPublishedRecordsBelowTheWatermarkOnly) {
  Ring ring(Small(), Position(1), Clock::Real());
  auto c = *ring.Claim(1, 5);
  ring.Publish(c.first, c.arena_offset, "hello", 0);
  std::string out;
  EXPECT_FALSE(ring.Read(c.first, &out)) << "not durable yet";
  ring.MarkDurable(c.first, 1);
  ASSERT_TRUE(ring.Read(c.first, &out));
  EXPECT_EQ(out, "hello");
}

TEST(Ring, OverwrittenEntriesAreMissesNotWrongData) {
  Ring ring(Small(), Position(1), Clock::Real());
  std::string rec(1000, 'a');
  std::vector<Position> ps;
  for (int i = 0; i < 3000; ++i) {  // 3 MB through a 1 MiB arena and 1024 slots
    rec[0] = static_cast<char>('a' + i % 26);
    auto c = *ring.Claim(1, rec.size());
    ring.Publish(c.first, c.arena_offset, rec, 0);
    ring.MarkDurable(c.first, 1);
    ps.push_back(c.first);
  }
  std::string out;
  EXPECT_FALSE(ring.Read(ps.front(), &out));
  ASSERT_TRUE(ring.Read(ps.back(), &out));
  EXPECT_EQ(out[0], static_cast<char>('a' + 2999 % 26));
}

TEST(Ring, EntriesOlderThanMaxAgeAreMisses) {
  ManualClock clock(1'000'000);
  HotOptions o = Small();
  o.max_age = std::chrono::milliseconds(5000);
  Ring ring(o, Position(1), &clock);
  auto c = *ring.Claim(1, 3);
  ring.Publish(c.first, c.arena_offset, "abc", clock.NowMicros());
  ring.MarkDurable(c.first, 1);
  std::string out;
  EXPECT_TRUE(ring.Read(c.first, &out));
  clock.Advance(std::chrono::seconds(6));
  EXPECT_FALSE(ring.Read(c.first, &out));
}

TEST(Ring, PositionsAreHandedOutOnlyBelowADurableReservation) {
  uint64_t reserved = 0;
  int calls = 0;
  Ring ring(Small(), Position(1), Clock::Real(), [&](uint64_t need) -> Result<uint64_t> {
    ++calls;
    reserved = need + 100;
    return reserved;
  });
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(ring.Claim(1, 0));
  EXPECT_EQ(calls, 3) << "one reservation per block of positions";
  EXPECT_LE(ring.next().value(), reserved);
}

TEST(Ring, AFailedReservationClaimsNothingAndALaterClaimTriesAgain) {
  bool fail = true;
  Ring ring(Small(), Position(1), Clock::Real(), [&](uint64_t need) -> Result<uint64_t> {
    if (fail) return Error(ErrorCode::kDiskFull, "no room for the reservation");
    return need + 10;
  });
  auto refused = ring.Claim(3, 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kDiskFull);
  EXPECT_EQ(ring.next().value(), 1u) << "nothing was claimed";
  fail = false;
  auto c = ring.Claim(3, 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first.value(), 1u);
}

TEST(Ring, AnAbandonedClaimIsAHoleTheWatermarkPassesWithoutARecord) {
  Ring ring(Small(), Position(1), Clock::Real());
  auto failed = *ring.Claim(4, 40);  // its write failed
  auto next = *ring.Claim(1, 5);
  ring.Publish(next.first, next.arena_offset, "later", 0);
  ring.MarkDurable(next.first, 1);
  EXPECT_EQ(ring.watermark().value(), 1u) << "the failed range still holds the watermark";
  ring.Abandon(failed.first, 4);
  EXPECT_EQ(ring.watermark().value(), 6u);
  std::string out;
  for (uint64_t p = 1; p <= 4; ++p) EXPECT_FALSE(ring.Read(Position(p), &out)) << p;
  EXPECT_TRUE(ring.Read(next.first, &out));
  EXPECT_EQ(out, "later");
}

// Property: with many writers claiming random-size ranges and finishing in random order, the
// watermark only grows, and every position below it is durable at the moment it is observed.
TEST(RingProperty, WatermarkNeverExposesAGapUnderConcurrentWriters) {
  HotOptions o = Small();
  o.ring_slots = 1 << 16;
  Ring ring(o, Position(1), Clock::Real());
  constexpr int kWriters = 4;
  constexpr uint64_t kPerWriter = 20000;
  std::vector<std::atomic<uint8_t>> durable(kWriters * (kPerWriter + 64) + 2);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> violations{0};
  std::thread observer([&] {
    uint64_t last = 1;
    while (!done) {
      uint64_t w = ring.watermark().value();
      if (w < last) violations++;
      for (uint64_t p = last; p < w; ++p) {
        if (!durable[p].load(std::memory_order_acquire)) violations++;
      }
      last = w;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      uint64_t written = 0;
      while (written < kPerWriter) {
        uint32_t n = 1 + rng() % 64;
        auto c = *ring.Claim(n, 0);
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
        for (uint32_t i = 0; i < n; ++i)
          durable[c.first.value() + i].store(1, std::memory_order_release);
        ring.MarkDurable(c.first, n);
        written += n;
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  observer.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_EQ(ring.watermark(), ring.next()) << "every claimed position became durable";
}

}  // namespace
}  // namespace strata::hot
