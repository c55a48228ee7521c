// EtcdClient: the part of etcd's v3 API the cluster needs (docs/cluster.md), over gRPC
// (proto/etcd/etcd.proto): key ranges, transactions, leases. This directory is the only one
// that includes etcd's generated code; the header is gRPC-free.
//
// A client holds one channel per endpoint. A call goes to the endpoint that answered last; when
// it cannot reach it (unavailable, or no answer before the call's timeout) it tries the next, so
// a killed etcd member costs one timeout at most. A call that reached etcd and was refused is not
// retried. Every call has a deadline (EtcdOptions::timeout); errors are kUnavailable (etcd could
// not be reached: the message names the endpoints) or kInternal (etcd refused the request),
// never an exception.
//
// Thread-safe: any number of threads may call at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace strata::router::etcd {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // host:port
  std::chrono::milliseconds timeout{2000};
};

// `etcd://HOST:PORT[,HOST:PORT...]` (the --cluster flag) -> endpoints; kInvalidConfig naming
// what is wrong.
Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url);

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

// One condition of a transaction.
struct Compare {
  enum class Target : uint8_t { kCreateRevision, kModRevision, kVersion, kValue };
  enum class Result : uint8_t { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  Target target = Target::kModRevision;
  Result result = Result::kEqual;
  int64_t number = 0;  // the revision or version compared with
  std::string value;   // for kValue

  // The key does not exist.
  static Compare Absent(std::string key) {
    return {std::move(key), Target::kCreateRevision, Result::kEqual, 0, {}};
  }
  // The key was last written at `revision`.
  static Compare ModRevisionIs(std::string key, int64_t revision) {
    return {std::move(key), Target::kModRevision, Result::kEqual, revision, {}};
  }
};

// One operation of a transaction.
struct Op {
  enum class Kind : uint8_t { kPut, kDelete, kGet };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;    // kPut
  int64_t lease = 0;    // kPut: attach to this lease (0: none)
  bool prefix = false;  // kDelete, kGet: every key starting with `key`

  static Op Put(std::string key, std::string value, int64_t lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease, false};
  }
  static Op Delete(std::string key) { return {Kind::kDelete, std::move(key), {}, 0, false}; }
  static Op GetPrefix(std::string prefix) { return {Kind::kGet, std::move(prefix), {}, 0, true}; }
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // etcd's revision after the transaction
  // For every kGet op of the branch that ran, in order: the keys it found.
  std::vector<std::vector<KeyValue>> gets;
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl_seconds = 0;
};

class EtcdClient {
 public:
  // Connects lazily: no request is made here (a wrong endpoint fails the first call).
  static Result<std::unique_ptr<EtcdClient>> Create(const EtcdOptions& options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Every key starting with `prefix`, in key order, and etcd's revision when it read them.
  Result<std::vector<KeyValue>> GetPrefix(std::string_view prefix, int64_t* revision = nullptr);
  // The key, or nullopt when it does not exist.
  Result<std::optional<KeyValue>> Get(std::string_view key);
  // Returns etcd's revision after the put.
  Result<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // Deletes the key (every key starting with it when `prefix`); returns how many were deleted.
  Result<int64_t> Delete(std::string_view key, bool prefix = false);
  // if (every compare holds) success else failure, atomically.
  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                        const std::vector<Op>& failure = {});

  Result<LeaseGrant> GrantLease(int64_t ttl_seconds);
  // Renews the lease; returns its new TTL in seconds, 0 when etcd no longer has it (it expired
  // or was revoked).
  Result<int64_t> KeepAlive(int64_t lease);
  Status RevokeLease(int64_t lease);

  // The version of the etcd member that answered (a cheap liveness probe).
  Result<std::string> Version();

  const std::vector<std::string>& endpoints() const;

 private:
  struct Impl;
  explicit EtcdClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::router::etcd
