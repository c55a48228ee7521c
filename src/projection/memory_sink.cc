#include "projection/memory_sink.h"

#include <algorithm>
#include <mutex>

namespace strata::projection {

MemorySink::Generation& MemorySink::At(uint64_t generation) {
  auto& g = generations_[generation];
  if (!g) {
    g = std::make_unique<Generation>(op_);
    g->state.generation = generation;
  }
  return *g;
}

Result<uint64_t> MemorySink::Current() {
  std::shared_lock lock(mu_);
  return current_;
}

Result<uint64_t> MemorySink::NewGeneration() {
  std::unique_lock lock(mu_);
  return ++last_generation_;
}

Result<SinkState> MemorySink::State(uint64_t generation) {
  std::shared_lock lock(mu_);
  auto it = generations_.find(generation);
  if (it == generations_.end()) {
    SinkState s;
    s.generation = generation;
    return s;
  }
  return it->second->state;
}

Result<SinkState> MemorySink::Claim(uint64_t generation, const std::string& writer,
                                    uint64_t min_epoch) {
  std::unique_lock lock(mu_);
  Generation& g = At(generation);
  if (g.state.checkpoint.value() == 0) g.model.Clear();
  g.state.writer = writer;
  g.state.epoch = std::max(g.state.epoch, min_epoch) + 1;
  last_generation_ = std::max(last_generation_, generation);
  return g.state;
}

Status MemorySink::Commit(const Model& delta, Position expected, const SinkState& after,
                          bool absolute) {
  std::unique_lock lock(mu_);
  Generation& g = At(after.generation);
  if (g.state.checkpoint != expected || g.state.writer != after.writer ||
      g.state.epoch != after.epoch) {
    return Error(ErrorCode::kConflict,
                 "generation " + std::to_string(after.generation) + " is at checkpoint " +
                     std::to_string(g.state.checkpoint.value()) + " owned by '" + g.state.writer +
                     "' epoch " + std::to_string(g.state.epoch) + ", not at " +
                     std::to_string(expected.value()) + " owned by '" + after.writer + "' epoch " +
                     std::to_string(after.epoch));
  }
  if (absolute) {
    for (const auto& [k, v] : delta.numbers()) g.model.mutable_numbers()[k] = v;
    for (const auto& [k, v] : delta.texts()) g.model.mutable_texts()[k] = v;
  } else {
    g.model.Merge(delta);
  }
  g.state = after;
  return OkStatus();
}

Status MemorySink::Publish(uint64_t generation) {
  std::unique_lock lock(mu_);
  At(generation);
  current_ = generation;
  return OkStatus();
}

Status MemorySink::Drop(uint64_t generation) {
  std::unique_lock lock(mu_);
  if (generation == current_) {
    return Error(ErrorCode::kInvalidArgument, "generation " + std::to_string(generation) +
                                                  " is the current one and cannot be dropped");
  }
  generations_.erase(generation);
  return OkStatus();
}

Result<ReadResult> MemorySink::Read(uint64_t generation, const ReadRequest& request) {
  std::shared_lock lock(mu_);
  ReadResult r;
  r.state.generation = generation;
  auto it = generations_.find(generation);
  if (it == generations_.end()) {
    r.values.resize(request.keys.size());
    if (request.all) r.all.emplace(op_);
    return r;
  }
  const Generation& g = *it->second;
  r.state = g.state;
  r.cardinality = g.model.size();
  for (const auto& k : request.keys) r.values.push_back(g.model.Get(k));
  if (request.top) r.top = g.model.Top(request.top);
  if (request.all) r.all = g.model;
  return r;
}

}  // namespace strata::projection
