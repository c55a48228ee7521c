// Ring: the node-wide sequencer, the durable watermark, and the hot tier.
//
// Claim() hands out consecutive *slots*, one range per group commit, and gives each record of the
// range its position: the slot number itself (PositionScheme::kDense), or a clock position
// (kClock: tick << partition_bits | partition, one tick per record, ticks increasing with the
// slots). Either way positions grow with the slots. A writer makes its range durable in its own
// shard, then Publish()es each record into the ring and calls MarkDurable(). The watermark is
// the position of the first slot that is not yet durable (with every slot durable: the least
// position a later claim can get). It only advances over contiguous durable slots, so a reader
// that stays below it never sees a gap that is later filled, whatever order the shards finish in.
//
// Record bytes live in a fixed-size byte arena (ring_bytes); slots (ring_slots, a power of two)
// map slot -> position and arena bytes. Memory is fixed at construction. Entries older than
// max_age or overwritten by newer ones are misses, and the reader goes to the warm tier.
//
// Thread-safety: Claim/Publish/MarkDurable/Close from writer threads (any number); Read, Find,
// watermark, WaitForWatermark from any thread, lock-free except that a waiter sleeps on a
// condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "model/types.h"
#include "storage/hot/hot_options.h"

namespace strata::hot {

class Ring {
 public:
  // `next` is the least position to hand out (recovered on open). `reserve`, called under the
  // claim lock whenever a claim would pass the reserved limit, must durably record a new limit
  // (>= the argument) and return it, or the error that prevented it: positions are never handed
  // out past a durably reserved limit, so none is reused after a crash, whatever the durability
  // mode.
  using ReserveFn = std::function<Result<uint64_t>(uint64_t)>;
  Ring(const HotOptions& options, Position next, Clock* clock, ReserveFn reserve = nullptr);
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  struct Claimed {
    uint64_t slot = 0;          // the range's first slot
    uint64_t arena_offset = 0;  // pass to Publish, advanced by each record's size
    uint32_t count = 0;
    Position first;  // the first record's position
    uint64_t base = 0, step = 1;
    // The position of the range's i-th record, of `partition` (what Claim was given).
    Position At(uint32_t i, uint32_t partition) const {
      return Position(base + i * step + (step > 1 ? partition : 0));
    }
  };
  // Claims `count` slots and `bytes` of arena. `partitions` names each record's partition
  // (kClock; ignored and may be empty with kDense). Blocks (briefly) only if the claim would
  // reuse a slot that is not yet below the watermark. Fails (claiming nothing) when a needed
  // reservation cannot be persisted; a later claim tries again.
  Result<Claimed> Claim(uint32_t count, uint64_t bytes, std::span<const uint32_t> partitions = {});
  // A claimed range whose write failed: it holds no record and never will, so the watermark
  // passes over it as over a crash's unused positions (positions are unique, not dense).
  void Abandon(const Claimed& c) { MarkDurable(c); }

  // Copies the range's i-th record into the ring once it is durable. `arena_offset` is
  // Claimed::arena_offset plus the sizes of the group's earlier records. Records larger than a
  // quarter of the arena are not kept (readers go to the warm tier).
  void Publish(const Claimed& c, uint32_t i, uint64_t arena_offset, std::string_view record,
               int64_t recorded_ts);
  // Marks the claimed range durable and advances the watermark.
  void MarkDurable(const Claimed& c);
  // kClock: with every claimed slot durable, moves the watermark up to the clock (a heartbeat:
  // the store promises no record below it); returns the watermark. kDense: the watermark.
  Position Close();

  // The position of the first slot that is not yet durable; with every slot durable, the least
  // position a later claim can get. Every position below it is durable or will never exist.
  Position watermark() const { return Position(watermark_.load(std::memory_order_acquire)); }
  // The first slot that is not yet durable.
  uint64_t watermark_slot() const { return watermark_slot_.load(std::memory_order_acquire); }
  // The least position Claim() can hand out next.
  Position next() const;
  PositionScheme scheme() const { return scheme_; }

  // Copies the record at `p` into *out if the ring still has it. Lock-free.
  bool Read(Position p, std::string* out) const;
  // The first slot below the watermark whose record is at `p` or after, when the ring can tell
  // that no record between `p` and it is older than the ring (nullopt: ask the warm tier).
  std::optional<uint64_t> Find(Position p) const;
  // Copies slot `slot`'s record and position if the slot still holds it and it is below the
  // watermark. Lock-free.
  bool ReadSlot(uint64_t slot, Position* p, std::string* out) const;

  // Sleeps until the watermark is above `p` or `timeout` passes; returns watermark() > p.
  bool WaitForWatermarkAbove(Position p, std::chrono::milliseconds timeout);
  // Wakes every waiter (used on shutdown and cancellation).
  void WakeAll();

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t arena_bytes() const { return arena_size_; }

 private:
  struct Slot {
    std::atomic<uint64_t> claimed{0};  // slot number of the latest claim of this slot
    std::atomic<uint64_t> pos{0};      // its record's position (set at the claim)
    std::atomic<uint64_t> seq{0};      // slot number whose bytes are in the slot; 0: none
    std::atomic<uint64_t> durable{0};  // slot number marked durable in this slot
    std::atomic<uint64_t> arena_off{0};
    std::atomic<uint32_t> len{0};
    std::atomic<int64_t> recorded_ts{0};
  };

  void CopyIn(uint64_t off, std::string_view bytes);
  void CopyOut(uint64_t off, uint32_t len, char* dst) const;
  void AdvanceWatermark();
  // Under claim_mu_: the watermark's position for watermark slot `w`.
  uint64_t WatermarkPositionLocked(uint64_t w) const;
  // Under claim_mu_ (kClock): the first tick of a claim now.
  uint64_t NextTickLocked() const;
  void Notify();

  const PositionScheme scheme_;
  const uint32_t bits_;
  const uint64_t slot_mask_;
  const uint64_t arena_size_;
  const int64_t max_age_us_;
  Clock* const clock_;
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<char[]> arena_;

  std::mutex claim_mu_;
  uint64_t next_slot_;      // GUARDED_BY(claim_mu_)
  uint64_t last_tick_ = 0;  // GUARDED_BY(claim_mu_) kClock: the largest tick handed out
  uint64_t reserved_ = 0;   // GUARDED_BY(claim_mu_): positions < reserved_ may be handed out
  ReserveFn reserve_;
  std::atomic<uint64_t> arena_claimed_{0};  // total arena bytes ever claimed
  std::atomic<uint64_t> watermark_slot_;
  std::atomic<uint64_t> watermark_;  // a position

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::atomic<int> waiters_{0};

  mutable std::atomic<uint64_t> hits_{0};
  mutable std::atomic<uint64_t> misses_{0};
};

}  // namespace strata::hot
