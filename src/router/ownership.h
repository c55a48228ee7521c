// Ownership: which node owns a partition, since when, and under which fencing token. Every
// request for a stream reaches a shard through the Router, which asks this first. One node owns
// every partition today (SingleNodeOwnership); the cluster puts an etcd implementation behind
// the same interface, where a lease's token grows each time the partition changes hands, so a
// deposed owner's writes can be refused (fenced) wherever the token is checked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace strata::router {

struct Lease {
  std::string node;            // the owner's node id
  uint64_t since_epoch = 0;    // the ownership epoch in which it took the partition
  uint64_t fencing_token = 0;  // grows with every change of owner; never reused
};

// A member of the cluster, as clients and other nodes reach it.
struct MemberAddress {
  std::string node;
  std::string advertise;  // host:port of its gRPC API (empty for a single node: the server's own)
  bool self = false;
  bool data = true;  // holds partitions (false: a router)
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
  // True while this node still owns `partition` under `token` (a Lease's fencing token): what an
  // append checks after it is durable and before it is acknowledged.
  virtual bool Holds(uint32_t partition, uint64_t token) const = 0;
  // Called before this node first writes to `partition` (then again only after a restart). A
  // cluster records that the partition now holds data on this node, so that it is not moved
  // away while data cannot follow it yet (docs/cluster.md).
  virtual Status BeforeFirstWrite(uint32_t partition) = 0;
  // The live members (a single node: itself).
  virtual std::vector<MemberAddress> Members() const = 0;
  // Whether ownership can change while this process runs (false for one node: then the router
  // need not check Holds after each append).
  virtual bool MayChange() const = 0;
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
  bool Holds(uint32_t, uint64_t) const override { return true; }
  Status BeforeFirstWrite(uint32_t) override { return OkStatus(); }
  std::vector<MemberAddress> Members() const override { return {{self_, "", true, true}}; }
  bool MayChange() const override { return false; }

 private:
  std::string self_;
  uint32_t partitions_;
};

}  // namespace strata::router
