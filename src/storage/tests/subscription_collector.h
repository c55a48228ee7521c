// Collector: a SubscriptionHandler for tests that records everything a subscription delivers —
// each event with whether OnCaughtUp had already been called when it arrived (so a test can
// assert live delivery, not only history), the checkpoints, and how it stopped — and lets the
// test thread wait for any of it. Used by the Store contract suite (tests/store_contract_test.cc)
// and the local-only subscription tests (subscription_test.cc).
//
// Thread-safety: the handler methods run on the subscription's thread, the accessors on the
// test's; every member is guarded by mu_. Accessors return copies.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "storage/store.h"

namespace strata::testing {

class Collector : public SubscriptionHandler {
 public:
  // `delay`: how long each OnEvent takes (a slow subscriber).
  explicit Collector(std::chrono::microseconds delay = std::chrono::microseconds(0))
      : delay_(delay) {}

  bool OnEvent(const RecordedEvent& e) override {
    if (delay_.count()) std::this_thread::sleep_for(delay_);
    std::lock_guard l(mu_);
    events_.push_back(e);
    after_caught_up_.push_back(caught_up_);
    if (!caught_up_) ++before_caught_up_;
    cv_.notify_all();
    return true;
  }
  void OnCaughtUp() override {
    std::lock_guard l(mu_);
    caught_up_ = true;
    cv_.notify_all();
  }
  void OnCheckpoint(Position p) override {
    std::lock_guard l(mu_);
    checkpoints_.push_back(p);
  }
  void OnStop(const Error* e) override {
    std::lock_guard l(mu_);
    stopped_ = true;
    if (e) error_ = *e;
    cv_.notify_all();
  }

  // Waits until at least `n` events arrived; false at the timeout.
  bool WaitFor(size_t n, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] { return events_.size() >= n; });
  }
  bool WaitForCaughtUp(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] { return caught_up_; });
  }
  bool WaitForStop(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] { return stopped_; });
  }

  size_t size() {
    std::lock_guard l(mu_);
    return events_.size();
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard l(mu_);
    return events_;
  }
  // Per delivered event (same index as events()): OnCaughtUp had been called before it.
  std::vector<bool> after_caught_up() {
    std::lock_guard l(mu_);
    return after_caught_up_;
  }
  size_t before_caught_up() {
    std::lock_guard l(mu_);
    return before_caught_up_;
  }
  bool caught_up() {
    std::lock_guard l(mu_);
    return caught_up_;
  }
  std::vector<Position> checkpoints() {
    std::lock_guard l(mu_);
    return checkpoints_;
  }
  bool stopped() {
    std::lock_guard l(mu_);
    return stopped_;
  }
  // The error OnStop was given (nullopt: none, or not stopped yet).
  std::optional<Error> error() {
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  const std::chrono::microseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RecordedEvent> events_;  // GUARDED_BY(mu_)
  std::vector<bool> after_caught_up_;  // GUARDED_BY(mu_)
  std::vector<Position> checkpoints_;  // GUARDED_BY(mu_)
  bool caught_up_ = false;             // GUARDED_BY(mu_)
  bool stopped_ = false;               // GUARDED_BY(mu_)
  size_t before_caught_up_ = 0;        // GUARDED_BY(mu_)
  std::optional<Error> error_;         // GUARDED_BY(mu_)
};

}  // namespace strata::testing
