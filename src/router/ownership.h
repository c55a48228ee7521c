// Ownership: which node owns a partition, since when, and under which fencing token. Every
// request for a stream reaches a shard through the Router, which asks this first. One node owns
// every partition today (SingleNodeOwnership); the cluster puts an etcd implementation behind
// the same interface, where a lease's token grows each time the partition changes hands, so a
// deposed owner's writes can be refused (fenced) wherever the token is checked.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace strata::router {

struct Lease {
  std::string node;            // the owner's node id
  uint64_t since_epoch = 0;    // the ownership epoch in which it took the partition
  uint64_t fencing_token = 0;  // grows with every change of owner; never reused
};

class Ownership {
 public:
  virtual ~Ownership() = default;
  // This node's id.
  virtual const std::string& self() const = 0;
  // The current owner of `partition` (< partitions()); kUnavailable when it is not known now
  // (e.g. the coordination service cannot be reached).
  virtual Result<Lease> OwnerOf(uint32_t partition) = 0;
  virtual uint32_t partitions() const = 0;
};

// One node owns every partition, from epoch 1, token 1: a single-node store.
class SingleNodeOwnership : public Ownership {
 public:
  SingleNodeOwnership(std::string self, uint32_t partitions)
      : self_(std::move(self)), partitions_(partitions) {}
  const std::string& self() const override { return self_; }
  Result<Lease> OwnerOf(uint32_t partition) override {
    return Lease{self_, /*since_epoch=*/1, /*fencing_token=*/1};
  }
  uint32_t partitions() const override { return partitions_; }

 private:
  std::string self_;
  uint32_t partitions_;
};

}  // namespace strata::router
