// Gate: admits file system operations while the power is on and shuts them all out for good
// once it is cut.
//
// Thread-safety: all methods may be called from any thread. Close() waits until every admitted
// operation has left, runs the cut with none in flight and none admitted meanwhile (Enter fails
// from the moment Close starts), and returns only when the cut is done, also to a second caller
// that arrives while the first is still cutting.
#pragma once

#include <condition_variable>
#include <mutex>

namespace strata::powerloss {

class Gate {
 public:
  // True if the operation may proceed; it must then call Exit() when done.
  bool Enter() {
    std::lock_guard lock(mu_);
    if (state_ != State::kLive) return false;
    ++active_;
    return true;
  }

  void Exit() {
    std::lock_guard lock(mu_);
    if (--active_ == 0) changed_.notify_all();
  }

  // Runs `cut` alone, once. False if another caller ran it (it has finished by then).
  template <class Fn>
  bool Close(Fn&& cut) {
    std::unique_lock lock(mu_);
    if (state_ != State::kLive) {
      changed_.wait(lock, [&] { return state_ == State::kCut; });
      return false;
    }
    state_ = State::kCutting;
    changed_.wait(lock, [&] { return active_ == 0; });
    lock.unlock();
    cut();
    lock.lock();
    state_ = State::kCut;
    changed_.notify_all();
    return true;
  }

  bool Live() const {
    std::lock_guard lock(mu_);
    return state_ == State::kLive;
  }

 private:
  enum class State { kLive, kCutting, kCut };
  mutable std::mutex mu_;
  std::condition_variable changed_;
  State state_ = State::kLive;  // GUARDED_BY(mu_)
  int active_ = 0;              // GUARDED_BY(mu_)
};

// Scoped admission: `Admission a(gate); if (!a) return -EIO;`.
class Admission {
 public:
  explicit Admission(Gate& gate) : gate_(gate), admitted_(gate.Enter()) {}
  ~Admission() {
    if (admitted_) gate_.Exit();
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  explicit operator bool() const { return admitted_; }

 private:
  Gate& gate_;
  const bool admitted_;
};

}  // namespace strata::powerloss
