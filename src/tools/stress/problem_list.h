// ProblemList: the findings of the workload and the verifier, at most kMaxProblems of them in
// the order found. Internal to src/tools/stress. Thread-safety: Add may be called from any thread.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tools/stress/stress.h"

namespace strata::stress {

class ProblemList {
 public:
  explicit ProblemList(std::vector<std::string> first = {}) : problems_(std::move(first)) {}
  void Add(std::string problem) {
    std::lock_guard lock(mu_);
    if (problems_.size() < kMaxProblems) problems_.push_back(std::move(problem));
  }
  // What was found; call once the threads that add have stopped.
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::move(problems_);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> problems_;  // guarded by mu_
};

}  // namespace strata::stress
