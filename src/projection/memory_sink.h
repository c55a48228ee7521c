// MemorySink: the read model inside Strata itself, served by the CLI, HTTP and admin gRPC. It is
// rebuilt from $all when the server starts (docs/projections.md says what that costs).
// Thread-safety: any thread; readers share a lock that commits take exclusively.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>

#include "projection/sink.h"

namespace strata::projection {

class MemorySink : public Sink {
 public:
  explicit MemorySink(Op op) : op_(op) {}
  std::string Describe() const override { return "memory"; }
  Result<uint64_t> Current() override;
  Result<uint64_t> NewGeneration() override;
  Result<SinkState> State(uint64_t generation) override;
  Result<SinkState> Claim(uint64_t generation, const std::string& writer,
                          uint64_t min_epoch) override;
  Status Commit(const Model& delta, Position expected, const SinkState& after,
                bool absolute) override;
  Status Publish(uint64_t generation) override;
  Status Drop(uint64_t generation) override;
  Result<ReadResult> Read(uint64_t generation, const ReadRequest& request) override;

 private:
  struct Generation {
    explicit Generation(Op op) : model(op) {}
    SinkState state;
    Model model;
  };
  Generation& At(uint64_t generation);  // creates it; caller holds mu_ exclusively

  const Op op_;
  std::shared_mutex mu_;
  std::map<uint64_t, std::unique_ptr<Generation>> generations_;
  uint64_t current_ = 0;
  uint64_t last_generation_ = 0;
};

}  // namespace strata::projection
