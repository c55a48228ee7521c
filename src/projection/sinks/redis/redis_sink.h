// RedisSink: a projection's read model in Redis, written with hiredis. Keys (docs/projections.md):
//   <prefix>:<name>:current        the generation readers use (a number)
//   <prefix>:<name>:next           generation counter (INCR)
//   <prefix>:<name>:g<G>:model     numeric kinds: a sorted set key -> value; last: a hash
//   <prefix>:<name>:g<G>:meta      hash: checkpoint, events, fingerprint, updated_us, writer, epoch
// A commit is WATCH meta, a check of the checkpoint and the owner (writer, epoch), then MULTI, the
// model's changes (ZINCRBY per key for counts and sums, ZADD LT/GT for min/max, ZADD/HSET for last
// values) and the new meta, EXEC: Redis applies all of it or none, and AOF replays it the same way
// after a crash. A claim is WATCH meta next, a read, then MULTI, the new owner, EXEC. Error
// replies of a Redis that cannot serve yet (LOADING after a restart) are kUnavailable, never data.
// Thread-safety: one connection behind a mutex; calls from several threads are serialised.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "projection/sink.h"

namespace strata::projection {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  std::string Describe() const;  // redis://host:port/db, never the password
};

// redis://[:password@]host[:port][/db]
Result<RedisAddress> ParseRedisUrl(std::string_view url);

class RedisSink : public Sink {
 public:
  // Connects lazily: a Redis that is down makes calls fail (kUnavailable), not construction.
  RedisSink(RedisAddress address, std::string key_base, Op op,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  ~RedisSink() override;

  std::string Describe() const override { return address_.Describe(); }
  Result<uint64_t> Current() override;
  Result<uint64_t> NewGeneration() override;
  Result<SinkState> State(uint64_t generation) override;
  Result<SinkState> Claim(uint64_t generation, const std::string& writer,
                          uint64_t min_epoch) override;
  Status Commit(const Model& delta, Position expected, const SinkState& after,
                bool absolute) override;
  bool PrefersAbsolute() const override { return true; }
  Status Publish(uint64_t generation) override;
  Status Drop(uint64_t generation) override;
  Result<ReadResult> Read(uint64_t generation, const ReadRequest& request) override;

  std::string ModelKey(uint64_t generation) const;
  std::string MetaKey(uint64_t generation) const;
  std::string CurrentKey() const { return base_ + ":current"; }

 private:
  class Connection;
  // These three: the caller holds mu_ and has connected.
  // WATCHes `meta` and checks it is at `expected`, owned by after.writer at after.epoch
  // (kConflict with what it found otherwise, and the WATCH is dropped).
  Status Fence(const std::string& meta, Position expected, const SinkState& after);
  // Queues a commit's model commands (inside MULTI); returns how many.
  size_t QueueModel(const std::string& model, const Model& delta, bool absolute);
  void Unwatch();
  const RedisAddress address_;
  const std::string base_;
  const Op op_;
  std::mutex mu_;
  std::unique_ptr<Connection> conn_;  // guarded by mu_
};

}  // namespace strata::projection
