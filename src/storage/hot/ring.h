// Ring: the node-wide sequencer, the durable watermark, and the hot tier.
//
// Positions are handed out by Claim() in increasing, contiguous ranges (one range per group
// commit). A writer makes its range durable in its own shard, then Publish()es each record into
// the ring and calls MarkDurable(). The watermark is the first position that is not yet durable:
// it only advances over contiguous durable positions, so a reader that stays below it never sees
// a gap that is later filled, whatever order the shards finish in.
//
// Record bytes live in a fixed-size byte arena (ring_bytes); slots (ring_slots, a power of two)
// map position -> arena bytes. Memory is fixed at construction. Entries older than max_age or
// overwritten by newer ones are misses, and the reader goes to the warm tier.
//
// Thread-safety: Claim/Publish/MarkDurable from writer threads (any number); Read, watermark,
// WaitForWatermark from any thread, lock-free except that a waiter sleeps on a condition
// variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "model/types.h"
#include "storage/hot/hot_options.h"

namespace strata::hot {

class Ring {
 public:
  // `next` is the first position to hand out (recovered on open). `reserve`, called under the
  // claim lock whenever a claim would pass the reserved limit, must durably record a new limit
  // (>= the argument) and return it, or the error that prevented it: positions are never handed
  // out past a durably reserved limit, so none is reused after a crash, whatever the durability
  // mode.
  using ReserveFn = std::function<Result<uint64_t>(uint64_t)>;
  Ring(const HotOptions& options, Position next, Clock* clock, ReserveFn reserve = nullptr);
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  struct Claimed {
    Position first;
    uint64_t arena_offset;  // pass to Publish, advanced by each record's size
  };
  // Claims `count` positions and `bytes` of arena. Blocks (briefly) only if the claim would
  // reuse a slot whose position is not yet below the watermark. Fails (claiming nothing) when a
  // needed reservation cannot be persisted; a later claim tries again.
  Result<Claimed> Claim(uint32_t count, uint64_t bytes);
  // A claimed range whose write failed: it holds no record and never will, so the watermark
  // passes over it as over a crash's unused positions (positions are unique, not dense).
  void Abandon(Position first, uint32_t count) { MarkDurable(first, count); }

  // Copies one durable record into the ring. `arena_offset` is Claimed::arena_offset plus the
  // sizes of the group's earlier records. Records larger than a quarter of the arena are not
  // kept (readers go to the warm tier).
  void Publish(Position p, uint64_t arena_offset, std::string_view record, int64_t recorded_ts);
  // Marks [first, first + count) durable and advances the watermark.
  void MarkDurable(Position first, uint32_t count);

  // First position that is not yet durable.
  Position watermark() const { return Position(watermark_.load(std::memory_order_acquire)); }
  // Next position Claim() will hand out.
  Position next() const;

  // Copies the record at `p` into *out if the ring still has it. Lock-free.
  bool Read(Position p, std::string* out) const;

  // Sleeps until the watermark is above `p` or `timeout` passes; returns watermark() > p.
  bool WaitForWatermarkAbove(Position p, std::chrono::milliseconds timeout);
  // Wakes every waiter (used on shutdown and cancellation).
  void WakeAll();

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t arena_bytes() const { return arena_size_; }

 private:
  struct Slot {
    std::atomic<uint64_t> seq{0};      // position whose bytes are in the slot; 0: none
    std::atomic<uint64_t> durable{0};  // position marked durable in this slot
    std::atomic<uint64_t> arena_off{0};
    std::atomic<uint32_t> len{0};
    std::atomic<int64_t> recorded_ts{0};
  };

  void CopyIn(uint64_t off, std::string_view bytes);
  void CopyOut(uint64_t off, uint32_t len, char* dst) const;
  void AdvanceWatermark();

  const uint64_t slot_mask_;
  const uint64_t arena_size_;
  const int64_t max_age_us_;
  Clock* const clock_;
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<char[]> arena_;

  std::mutex claim_mu_;
  uint64_t next_position_;  // GUARDED_BY(claim_mu_)
  uint64_t reserved_ = 0;   // GUARDED_BY(claim_mu_): positions < reserved_ may be handed out
  ReserveFn reserve_;
  std::atomic<uint64_t> arena_claimed_{0};  // total arena bytes ever claimed
  std::atomic<uint64_t> watermark_;

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::atomic<int> waiters_{0};

  mutable std::atomic<uint64_t> hits_{0};
  mutable std::atomic<uint64_t> misses_{0};
};

}  // namespace strata::hot
