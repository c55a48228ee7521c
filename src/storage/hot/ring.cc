#include "storage/hot/ring.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "base/error.h"

namespace strata::hot {
namespace {
uint64_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Raises `a` to `v` if it is below; true if it did.
bool RaiseTo(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_acquire);
  while (cur < v) {
    if (a.compare_exchange_weak(cur, v, std::memory_order_seq_cst)) return true;
  }
  return false;
}
}  // namespace

Ring::Ring(const HotOptions& options, Position next, Clock* clock, ReserveFn reserve)
    : scheme_(options.positions),
      bits_(options.partition_bits),
      slot_mask_(RoundUpPow2(std::max<size_t>(options.ring_slots, 1024)) - 1),
      arena_size_(std::max<size_t>(options.ring_bytes, 1u << 20)),
      max_age_us_(std::chrono::duration_cast<std::chrono::microseconds>(options.max_age).count()),
      clock_(clock),
      slots_(new Slot[slot_mask_ + 1]),
      arena_(new char[arena_size_]),
      next_slot_(scheme_ == PositionScheme::kDense ? next.value() : 1),
      reserved_(reserve ? 0 : UINT64_MAX),
      reserve_(std::move(reserve)),
      watermark_slot_(next_slot_) {
  STRATA_CHECK(next.value() >= 1, "positions start at 1");
  STRATA_CHECK(bits_ >= 1 && bits_ <= 6, "partition_bits must be between 1 and 6");
  if (scheme_ == PositionScheme::kClock) last_tick_ = (next.value() - 1) >> bits_;
  watermark_.store(WatermarkPositionLocked(next_slot_), std::memory_order_release);
}

uint64_t Ring::NextTickLocked() const {
  const int64_t now = clock_->NowMicros() - kClockEpochMicros;
  return std::max<uint64_t>(last_tick_ + 1, now > 0 ? static_cast<uint64_t>(now) : 0);
}

uint64_t Ring::WatermarkPositionLocked(uint64_t w) const {
  if (scheme_ == PositionScheme::kDense) return w;
  if (w < next_slot_) return slots_[w & slot_mask_].pos.load(std::memory_order_relaxed);
  return (last_tick_ + 1) << bits_;
}

Position Ring::next() const {
  auto* self = const_cast<Ring*>(this);
  std::lock_guard lock(self->claim_mu_);
  if (scheme_ == PositionScheme::kDense) return Position(next_slot_);
  return Position((last_tick_ + 1) << bits_);
}

Result<Ring::Claimed> Ring::Claim(uint32_t count, uint64_t bytes,
                                  std::span<const uint32_t> partitions) {
  STRATA_CHECK(count > 0, "empty claim");
  STRATA_CHECK(count <= slot_mask_ + 1, "claim larger than the ring");
  const bool clock = scheme_ == PositionScheme::kClock;
  STRATA_CHECK(!clock || partitions.size() == count, "a clock claim names every partition");
  std::unique_lock lock(claim_mu_);
  // A slot can be reused only once its previous record is below the watermark. Every claimed
  // range becomes durable or abandoned, so this wait ends.
  while (next_slot_ + count - watermark_slot_.load(std::memory_order_acquire) > slot_mask_ + 1) {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
  Claimed c;
  c.slot = next_slot_;
  c.count = count;
  if (clock) {
    c.base = NextTickLocked() << bits_;
    c.step = uint64_t{1} << bits_;
  } else {
    c.base = next_slot_;
  }
  const uint64_t top = c.base + (count - 1) * c.step + (c.step - 1);  // past any partition
  if (top + 1 > reserved_) {
    auto got = reserve_(top + 1);
    if (!got) return got.error();
    STRATA_CHECK(*got >= top + 1, "a reservation below the claim");
    reserved_ = *got;
  }
  for (uint32_t i = 0; i < count; ++i) {
    Slot& s = slots_[(c.slot + i) & slot_mask_];
    const uint64_t pos = c.At(i, clock ? partitions[i] : 0).value();
    // A seqlock's write side: readers check `claimed` after reading `pos`.
    s.claimed.store(c.slot + i, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.pos.store(pos, std::memory_order_relaxed);
  }
  c.first = c.At(0, clock ? partitions[0] : 0);
  c.arena_offset = arena_claimed_.fetch_add(bytes, std::memory_order_seq_cst);
  next_slot_ += count;
  if (clock) last_tick_ = (c.base >> bits_) + count - 1;
  return c;
}

void Ring::CopyIn(uint64_t off, std::string_view bytes) {
  uint64_t at = off % arena_size_;
  uint64_t first = std::min<uint64_t>(bytes.size(), arena_size_ - at);
  std::memcpy(arena_.get() + at, bytes.data(), first);
  if (first < bytes.size()) std::memcpy(arena_.get(), bytes.data() + first, bytes.size() - first);
}

void Ring::CopyOut(uint64_t off, uint32_t len, char* dst) const {
  uint64_t at = off % arena_size_;
  uint64_t first = std::min<uint64_t>(len, arena_size_ - at);
  std::memcpy(dst, arena_.get() + at, first);
  if (first < len) std::memcpy(dst + first, arena_.get(), len - first);
}

void Ring::Publish(const Claimed& c, uint32_t i, uint64_t arena_offset, std::string_view record,
                   int64_t recorded_ts) {
  const uint64_t slot = c.slot + i;
  Slot& s = slots_[slot & slot_mask_];
  s.seq.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (record.size() > arena_size_ / 4) return;  // too large to keep hot
  CopyIn(arena_offset, record);
  s.arena_off.store(arena_offset, std::memory_order_relaxed);
  s.len.store(static_cast<uint32_t>(record.size()), std::memory_order_relaxed);
  s.recorded_ts.store(recorded_ts, std::memory_order_relaxed);
  s.seq.store(slot, std::memory_order_release);
}

void Ring::MarkDurable(const Claimed& c) {
  for (uint64_t slot = c.slot; slot < c.slot + c.count; ++slot) {
    slots_[slot & slot_mask_].durable.store(slot, std::memory_order_release);
  }
  AdvanceWatermark();
}

void Ring::AdvanceWatermark() {
  uint64_t w = watermark_slot_.load(std::memory_order_acquire);
  while (slots_[w & slot_mask_].durable.load(std::memory_order_acquire) == w) {
    if (watermark_slot_.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst)) ++w;
  }
  bool raised;
  if (scheme_ == PositionScheme::kDense) {
    raised = RaiseTo(watermark_, watermark_slot_.load(std::memory_order_acquire));
  } else {
    // The position of the watermark's slot is set at its claim, under the claim lock.
    std::lock_guard lock(claim_mu_);
    raised = RaiseTo(watermark_,
                     WatermarkPositionLocked(watermark_slot_.load(std::memory_order_acquire)));
  }
  if (raised) Notify();
}

Position Ring::Close() {
  if (scheme_ == PositionScheme::kClock) {
    bool raised;
    {
      std::lock_guard lock(claim_mu_);
      const uint64_t w = watermark_slot_.load(std::memory_order_acquire);
      if (w == next_slot_) last_tick_ = NextTickLocked() - 1;
      raised = RaiseTo(watermark_, WatermarkPositionLocked(w));
    }
    if (raised) Notify();
  }
  return watermark();
}

void Ring::Notify() {
  if (waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(wait_mu_);
    wait_cv_.notify_all();
  }
}

bool Ring::ReadSlot(uint64_t slot, Position* p, std::string* out) const {
  const Slot& s = slots_[slot & slot_mask_];
  auto miss = [&] {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  };
  if (slot >= watermark_slot_.load(std::memory_order_acquire)) return miss();
  if (s.seq.load(std::memory_order_acquire) != slot) return miss();
  const uint64_t pos = s.pos.load(std::memory_order_relaxed);
  uint64_t off = s.arena_off.load(std::memory_order_relaxed);
  uint32_t len = s.len.load(std::memory_order_relaxed);
  int64_t ts = s.recorded_ts.load(std::memory_order_relaxed);
  if (max_age_us_ > 0 && clock_->NowMicros() - ts > max_age_us_) return miss();
  if (arena_claimed_.load(std::memory_order_acquire) > off + arena_size_) return miss();
  out->resize(len);
  CopyOut(off, len, out->data());
  std::atomic_thread_fence(std::memory_order_acquire);
  // The copy is valid only if the slot still holds this claim's record and no newer claim
  // reached its bytes.
  if (s.seq.load(std::memory_order_relaxed) != slot) return miss();
  if (s.claimed.load(std::memory_order_relaxed) != slot) return miss();
  if (arena_claimed_.load(std::memory_order_relaxed) > off + arena_size_) return miss();
  hits_.fetch_add(1, std::memory_order_relaxed);
  *p = Position(pos);
  return true;
}

std::optional<uint64_t> Ring::Find(Position p) const {
  const uint64_t hi = watermark_slot_.load(std::memory_order_acquire);
  if (scheme_ == PositionScheme::kDense) {
    if (p.value() < hi) return p.value();  // the slot is the position
    return std::nullopt;
  }
  const uint64_t lo = hi > slot_mask_ + 1 ? hi - (slot_mask_ + 1) : 1;
  // The position of slot `s` if the slot still holds that claim (a seqlock's read side).
  auto position_of = [&](uint64_t s) -> std::optional<uint64_t> {
    const Slot& slot = slots_[s & slot_mask_];
    if (slot.claimed.load(std::memory_order_acquire) != s) return std::nullopt;
    const uint64_t pos = slot.pos.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.claimed.load(std::memory_order_relaxed) != s) return std::nullopt;
    return pos;
  };
  // Positions grow with the slots; slots reclaimed since are a prefix of [lo, hi).
  uint64_t l = lo, r = hi;
  while (l < r) {
    const uint64_t m = l + (r - l) / 2;
    auto pos = position_of(m);
    if (pos && *pos >= p.value()) {
      r = m;
    } else {
      l = m + 1;
    }
  }
  if (l < hi) {
    auto pos = position_of(l);
    if (pos && *pos == p.value()) return l;
  }
  if (l > lo) {
    auto before = position_of(l - 1);
    if (before && *before < p.value()) return l;  // nothing between p and slot l's record
  }
  return std::nullopt;
}

bool Ring::Read(Position p, std::string* out) const {
  auto slot = Find(p);
  if (!slot) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Position at;
  if (!ReadSlot(*slot, &at, out)) return false;
  if (at == p) return true;
  hits_.fetch_sub(1, std::memory_order_relaxed);  // the slot holds a later record: p is not hot
  misses_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool Ring::WaitForWatermarkAbove(Position p, std::chrono::milliseconds timeout) {
  if (watermark_.load(std::memory_order_acquire) > p.value()) return true;
  std::unique_lock lock(wait_mu_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  wait_cv_.wait_for(lock, timeout,
                    [&] { return watermark_.load(std::memory_order_acquire) > p.value(); });
  waiters_.fetch_sub(1, std::memory_order_acq_rel);
  return watermark_.load(std::memory_order_acquire) > p.value();
}

void Ring::WakeAll() {
  std::lock_guard lock(wait_mu_);
  wait_cv_.notify_all();
}

}  // namespace strata::hot
