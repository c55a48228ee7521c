// Sink: where a projection's read model lives, with its checkpoint, in generations for
// blue/green replay. The in-memory sink (the model Strata serves itself) and the Redis sink
// implement it; one contract test suite runs against both (tests/projection_test.cc,
// SinkContract).
//
// Exactly-once rests on one rule: Commit applies a delta and moves the checkpoint in one atomic
// step, and only if the checkpoint is still the one the writer last saw. A writer that restarts
// reads the checkpoint back and folds from the next position, so no event is applied twice or
// skipped, whichever side crashed.
//
// Ownership tells a sink that lost data from a second writer (docs/projections.md, "Exactly
// once"). A writer Claims a generation before it commits: the claim records the writer's identity
// and an epoch above every epoch the generation had, and every Commit is fenced on that owner as
// well as on the checkpoint. After a refused commit the writer reads the state back: its own
// owner with an older checkpoint, or an epoch below its own (a missing state has epoch 0), is a
// sink that went back in time (a Redis that lost writes) and is refolded from; a different
// writer with an epoch at or above its own is a second writer, and the writer stops (kConflict)
// instead of applying anything.
//
// Generations: readers are served the `current` generation. Replay builds generation g+1 while g
// serves, then Publish(g+1) switches readers in one atomic step; a generation is never visible
// half-built unless it was published that way (reset). Thread-safety: implementations are safe
// to call from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/types.h"
#include "projection/fold.h"

namespace strata::projection {

struct SinkState {
  uint64_t generation = 0;
  Position checkpoint;      // last position applied (0: none)
  uint64_t events = 0;      // events applied
  std::string fingerprint;  // ProjectionSpec::Fingerprint() of the spec that built it
  int64_t updated_us = 0;   // wall clock of the last commit
  std::string writer;       // the owner: the identity of the writer that claimed it ("": none)
  uint64_t epoch = 0;       // the owner's epoch: each claim sets one above every earlier one
};

struct ReadRequest {
  std::vector<std::string> keys;  // these keys' values
  uint32_t top = 0;               // and/or the `top` highest (numeric models)
  bool all = false;               // the whole model (verify)
};

struct ReadResult {
  SinkState state;  // the generation's state, consistent with the values below
  uint64_t cardinality = 0;
  std::vector<std::optional<Value>> values;         // for ReadRequest::keys, in order
  std::vector<std::pair<std::string, double>> top;  // highest first
  std::optional<Model> all;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string Describe() const = 0;  // "memory", "redis://127.0.0.1:6379/0"

  // The generation readers are served (0: none published yet).
  virtual Result<uint64_t> Current() = 0;
  // Allocates a generation number never used before by this projection (a fresh, empty model).
  virtual Result<uint64_t> NewGeneration() = 0;
  // The state of generation g (checkpoint 0, no fingerprint, no owner if it holds nothing yet).
  virtual Result<SinkState> State(uint64_t generation) = 0;
  // Takes ownership of generation g for `writer`, in one atomic step: its owner becomes `writer`
  // with epoch max(its epoch, min_epoch) + 1, and the generation counter is raised to g if it is
  // below (a sink that lost it never hands out g again). A generation at checkpoint 0 holds
  // nothing: a model left there without its state (a deleted meta key) is removed. Returns the
  // state as claimed; the caller folds from its checkpoint. The previous owner's commits are
  // refused from here on.
  virtual Result<SinkState> Claim(uint64_t generation, const std::string& writer,
                                  uint64_t min_epoch) = 0;
  // Atomically folds `delta` into generation `after.generation` and sets its state to `after`,
  // if its checkpoint is still `expected` and its owner is still `after.writer` at
  // `after.epoch` (kConflict otherwise: nothing is applied; State() tells why). With
  // `absolute`, the values are the keys' whole new values, not changes (count and sum models: the
  // writer holds the whole model, as during a replay into an empty generation).
  virtual Status Commit(const Model& delta, Position expected, const SinkState& after,
                        bool absolute = false) = 0;
  // Whether whole values are cheaper to write than changes (Redis: one variadic ZADD per 512
  // keys instead of one ZINCRBY per key).
  virtual bool PrefersAbsolute() const { return false; }
  // Makes `generation` current in one atomic step.
  virtual Status Publish(uint64_t generation) = 0;
  // Deletes a generation's model and state (not the current one).
  virtual Status Drop(uint64_t generation) = 0;
  virtual Result<ReadResult> Read(uint64_t generation, const ReadRequest& request) = 0;
};

}  // namespace strata::projection
