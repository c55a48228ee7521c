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
}  // namespace

Ring::Ring(const HotOptions& options, Position next, Clock* clock, ReserveFn reserve)
    : slot_mask_(RoundUpPow2(std::max<size_t>(options.ring_slots, 1024)) - 1),
      arena_size_(std::max<size_t>(options.ring_bytes, 1u << 20)),
      max_age_us_(std::chrono::duration_cast<std::chrono::microseconds>(options.max_age).count()),
      clock_(clock),
      slots_(new Slot[slot_mask_ + 1]),
      arena_(new char[arena_size_]),
      next_position_(next.value()),
      reserved_(reserve ? 0 : UINT64_MAX),
      reserve_(std::move(reserve)),
      watermark_(next.value()) {
  STRATA_CHECK(next.value() >= 1, "positions start at 1");
}

Position Ring::next() const {
  auto* self = const_cast<Ring*>(this);
  std::lock_guard lock(self->claim_mu_);
  return Position(next_position_);
}

Result<Ring::Claimed> Ring::Claim(uint32_t count, uint64_t bytes) {
  STRATA_CHECK(count > 0, "empty claim");
  STRATA_CHECK(count <= slot_mask_ + 1, "claim larger than the ring");
  std::unique_lock lock(claim_mu_);
  // A slot can be reused only once its previous position is below the watermark. Every claimed
  // range becomes durable or abandoned, so this wait ends.
  while (next_position_ + count - watermark_.load(std::memory_order_acquire) > slot_mask_ + 1) {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
  if (next_position_ + count > reserved_) {
    auto got = reserve_(next_position_ + count);
    if (!got) return got.error();
    STRATA_CHECK(*got >= next_position_ + count, "a reservation below the claim");
    reserved_ = *got;
  }
  Claimed c{Position(next_position_), arena_claimed_.fetch_add(bytes, std::memory_order_seq_cst)};
  next_position_ += count;
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

void Ring::Publish(Position p, uint64_t arena_offset, std::string_view record,
                   int64_t recorded_ts) {
  Slot& s = slots_[p.value() & slot_mask_];
  s.seq.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (record.size() > arena_size_ / 4) return;  // too large to keep hot
  CopyIn(arena_offset, record);
  s.arena_off.store(arena_offset, std::memory_order_relaxed);
  s.len.store(static_cast<uint32_t>(record.size()), std::memory_order_relaxed);
  s.recorded_ts.store(recorded_ts, std::memory_order_relaxed);
  s.seq.store(p.value(), std::memory_order_release);
}

void Ring::MarkDurable(Position first, uint32_t count) {
  for (uint64_t p = first.value(); p < first.value() + count; ++p) {
    slots_[p & slot_mask_].durable.store(p, std::memory_order_release);
  }
  AdvanceWatermark();
}

void Ring::AdvanceWatermark() {
  uint64_t w = watermark_.load(std::memory_order_acquire);
  bool advanced = false;
  while (slots_[w & slot_mask_].durable.load(std::memory_order_acquire) == w) {
    if (watermark_.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst)) {
      ++w;
      advanced = true;
    }
  }
  if (advanced && waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(wait_mu_);
    wait_cv_.notify_all();
  }
}

bool Ring::Read(Position p, std::string* out) const {
  const Slot& s = slots_[p.value() & slot_mask_];
  auto miss = [&] {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  };
  if (p.value() >= watermark_.load(std::memory_order_acquire)) return miss();
  if (s.seq.load(std::memory_order_acquire) != p.value()) return miss();
  uint64_t off = s.arena_off.load(std::memory_order_relaxed);
  uint32_t len = s.len.load(std::memory_order_relaxed);
  int64_t ts = s.recorded_ts.load(std::memory_order_relaxed);
  if (max_age_us_ > 0 && clock_->NowMicros() - ts > max_age_us_) return miss();
  if (arena_claimed_.load(std::memory_order_acquire) > off + arena_size_) return miss();
  out->resize(len);
  CopyOut(off, len, out->data());
  std::atomic_thread_fence(std::memory_order_acquire);
  // The copy is valid only if the slot still holds p and no newer claim reached its bytes.
  if (s.seq.load(std::memory_order_relaxed) != p.value()) return miss();
  if (arena_claimed_.load(std::memory_order_relaxed) > off + arena_size_) return miss();
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
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
