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
  ring.MarkDurable(b);  // the later group finishes first
  EXPECT_EQ(ring.watermark(), Position(1)) << "a gap must never become visible";
  ring.MarkDurable(a);
  EXPECT_EQ(ring.watermark(), Position(5));
}

TEST(Ring, ReadsPublishedRecordsBelowTheWatermarkOnly) {
  Ring ring(Small(), Position(1), Clock::Real());
  auto c = *ring.Claim(1, 5);
  ring.Publish(c, 0, c.arena_offset, "hello", 0);
  std::string out;
  EXPECT_FALSE(ring.Read(c.first, &out)) << "not durable yet";
  ring.MarkDurable(c);
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
    ring.Publish(c, 0, c.arena_offset, rec, 0);
    ring.MarkDurable(c);
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
  ring.Publish(c, 0, c.arena_offset, "abc", clock.NowMicros());
  ring.MarkDurable(c);
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
  ring.Publish(next, 0, next.arena_offset, "later", 0);
  ring.MarkDurable(next);
  EXPECT_EQ(ring.watermark().value(), 1u) << "the failed range still holds the watermark";
  ring.Abandon(failed);
  EXPECT_EQ(ring.watermark().value(), 6u);
  std::string out;
  for (uint64_t p = 1; p <= 4; ++p) EXPECT_FALSE(ring.Read(Position(p), &out)) << p;
  EXPECT_TRUE(ring.Read(next.first, &out));
  EXPECT_EQ(out, "later");
}

HotOptions Clocked() {
  HotOptions o = Small();
  o.positions = PositionScheme::kClock;
  o.partition_bits = 6;
  return o;
}

// Publishes one durable record per partition given, as one claim.
Ring::Claimed Commit(Ring& ring, std::vector<uint32_t> partitions) {
  auto c = *ring.Claim(static_cast<uint32_t>(partitions.size()), partitions.size(), partitions);
  for (uint32_t i = 0; i < partitions.size(); ++i) {
    ring.Publish(c, i, c.arena_offset + i, std::string(1, static_cast<char>('a' + i)), 0);
  }
  ring.MarkDurable(c);
  return c;
}

TEST(RingClock, PositionsAreTicksOfTheClockWithThePartitionInTheLowBits) {
  ManualClock clock(kClockEpochMicros + 5'000'000);
  Ring ring(Clocked(), Position(1), &clock);
  auto a = Commit(ring, {3, 3, 17});
  EXPECT_EQ(a.At(0, 3).value(), (5'000'000u << 6) | 3);
  EXPECT_EQ(a.At(1, 3).value(), (5'000'001u << 6) | 3);
  EXPECT_EQ(a.At(2, 17).value(), (5'000'002u << 6) | 17);
  EXPECT_EQ(a.first, a.At(0, 3));
  // The clock has not moved: the next tick follows the last one handed out.
  auto b = Commit(ring, {0});
  EXPECT_EQ(b.first.value(), 5'000'003u << 6);
  clock.Advance(std::chrono::seconds(1));
  auto c = Commit(ring, {63});
  EXPECT_EQ(c.first.value(), (6'000'000u << 6) | 63) << "never behind the physical clock";
  EXPECT_EQ(ring.watermark().value(), 6'000'001u << 6);
}

TEST(RingClock, NeverBehindTheRecoveredPositionEvenWithTheClockBehind) {
  ManualClock clock(kClockEpochMicros + 1'000);
  const uint64_t recovered = (9'000'000u << 6) | 5;
  Ring ring(Clocked(), Position(recovered + 1), &clock);
  auto c = Commit(ring, {0});
  EXPECT_GT(c.first.value(), recovered);
  EXPECT_GE(ring.watermark().value(), c.first.value() + 1);
}

TEST(RingClock, TheWatermarkIsTheFirstUndurableRecordAndCloseMovesItToTheClockWhenIdle) {
  ManualClock clock(kClockEpochMicros + 2'000'000);
  Ring ring(Clocked(), Position(1), &clock);
  auto a = *ring.Claim(2, 0, std::vector<uint32_t>{1, 1});
  auto b = *ring.Claim(1, 0, std::vector<uint32_t>{2});
  ring.MarkDurable(b);  // the later group finishes first
  EXPECT_EQ(ring.watermark(), a.first) << "a gap must never become visible";
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(ring.Close(), a.first) << "nothing closes past an undurable record";
  ring.MarkDurable(a);
  EXPECT_EQ(ring.watermark().value(), b.first.value() - 2 + (1u << 6))
      << "the tick after the last one handed out";
  const Position closed = ring.Close();
  EXPECT_EQ(closed.value(), 3'000'000u << 6) << "a heartbeat closes up to the clock";
  auto c = Commit(ring, {0});
  EXPECT_GE(c.first, closed) << "nothing is written below a closed position";
}

TEST(RingClock, ReadsFindRecordsByPositionAndScanSlotsInOrder) {
  ManualClock clock(kClockEpochMicros + 1'000'000);
  Ring ring(Clocked(), Position(1), &clock);
  auto a = Commit(ring, {4, 9});
  clock.Advance(std::chrono::milliseconds(3));
  auto b = Commit(ring, {9});
  std::string out;
  ASSERT_TRUE(ring.Read(a.At(1, 9), &out));
  EXPECT_EQ(out, "b");
  ASSERT_TRUE(ring.Read(b.first, &out));
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(ring.Read(Position(b.first.value() - 1), &out)) << "no record there";
  // A position between two records finds the later one: nothing lies between.
  auto slot = ring.Find(Position(a.At(1, 9).value() + 1));
  ASSERT_TRUE(slot);
  Position at;
  ASSERT_TRUE(ring.ReadSlot(*slot, &at, &out));
  EXPECT_EQ(at, b.first);
  EXPECT_FALSE(ring.ReadSlot(*slot + 1, &at, &out)) << "at the watermark's slot";
}

TEST(RingClock, OverwrittenSlotsAreMissesAndFindSendsOlderPositionsToTheWarmTier) {
  ManualClock clock(kClockEpochMicros + 1'000'000);
  Ring ring(Clocked(), Position(1), &clock);
  std::vector<Position> ps;
  for (int i = 0; i < 3000; ++i) ps.push_back(Commit(ring, {static_cast<uint32_t>(i % 64)}).first);
  std::string out;
  EXPECT_FALSE(ring.Read(ps.front(), &out));
  EXPECT_FALSE(ring.Find(ps.front())) << "older than the ring: the warm tier must answer";
  EXPECT_TRUE(ring.Read(ps.back(), &out));
  EXPECT_TRUE(ring.Find(ps[2500]));
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
        ring.MarkDurable(c);
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

// The same property with clock positions (sparse, from the real clock) and heartbeats: whenever
// the watermark is observed, no record below it is still undurable, and it only grows.
TEST(RingProperty, ClockWatermarkNeverPassesAnUndurableRecord) {
  HotOptions o = Clocked();
  o.ring_slots = 1 << 16;
  Ring ring(o, Position(1), Clock::Real());
  constexpr int kWriters = 4;
  constexpr uint64_t kPerWriter = 20000;
  const size_t n_slots = kWriters * (kPerWriter + 64) + 2;
  std::vector<std::atomic<uint64_t>> pos(n_slots);     // set once claimed
  std::vector<std::atomic<uint8_t>> durable(n_slots);  // set before MarkDurable
  std::atomic<bool> done{false};
  std::atomic<uint64_t> violations{0}, checked{0};
  std::thread observer([&] {
    uint64_t last = 0, first_open = 1, rounds = 0;
    while (!done) {
      if (++rounds % 16 == 0) ring.Close();  // heartbeats among the claims
      const uint64_t w = ring.watermark().value();
      if (w < last) violations++;
      last = w;
      while (first_open < n_slots && durable[first_open].load(std::memory_order_acquire))
        ++first_open;
      for (uint64_t s = first_open; s < std::min(n_slots, first_open + 256); ++s) {
        const uint64_t p = pos[s].load(std::memory_order_acquire);
        if (p != 0 && !durable[s].load(std::memory_order_acquire)) {
          checked++;
          if (p < w) violations++;
        }
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      uint64_t written = 0;
      while (written < kPerWriter) {
        uint32_t n = 1 + rng() % 64;
        std::vector<uint32_t> parts(n, rng() % 64);
        auto c = *ring.Claim(n, 0, parts);
        for (uint32_t i = 0; i < n; ++i) pos[c.slot + i].store(c.At(i, parts[i]).value());
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
        for (uint32_t i = 0; i < n; ++i) durable[c.slot + i].store(1, std::memory_order_release);
        ring.MarkDurable(c);
        written += n;
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  observer.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GT(checked.load(), 0u) << "the observer saw undurable records to check";
  EXPECT_EQ(ring.watermark(), ring.next()) << "every claimed record became durable";
}

}  // namespace
}  // namespace strata::hot
