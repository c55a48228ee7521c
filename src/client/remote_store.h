// RemoteStore: the Store interface over a running `strata serve`, through the KurrentDB v1 gRPC
// protocol (Streams) and Strata's admin service (strata.v1.Admin). The CLI's `--server` and
// `strata bench ingest --server` use it, so every command works the same on a local data
// directory and against a server.
//
// Appends go over long-lived BatchAppend calls, one per connection, as the official clients do:
// each append is one request message with is_final, answered by correlation id; writes that
// queue up are coalesced into fewer HTTP/2 frames (gRPC's buffer hint). Reads, deletes and
// subscriptions are ordinary calls.
//
// Differences from a local Store, all stated in the results:
//   - AppendResult.first_position is derived (last_position - count + 1: a single append's
//     events have consecutive positions); `deduplicated` is not reported by the protocol;
//   - an event over the size limit is kAppendTooLarge, not kEventTooLarge (the protocol has one
//     "maximum append size exceeded" error);
//   - there is no ScanAll: scans without copying are LocalStore's (run them with --data on the
//     server's machine).
// Thread-safety: as Store.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/error.h"
#include "storage/operations.h"
#include "storage/store.h"

namespace strata::client {

struct RemoteOptions {
  std::string target = "127.0.0.1:2113";  // host:port of `strata serve`
  uint32_t connections = 1;               // TCP connections; appends are spread over them
  std::chrono::milliseconds connect_timeout{5000};
  // A cluster member forwarding: sent as every call's :authority and first in its user agent
  // (server/grpc tells forwarded calls by it).
  std::string forwarded_by;
};

// The event API and the operations of a running server.
class RemoteStore : public Store, public StoreOperations {};

// Connects (waits until the server answers, up to connect_timeout) or returns kUnavailable.
Result<std::unique_ptr<RemoteStore>> ConnectStore(const RemoteOptions& options);

// Calls strata.v1.Admin/Projection on the server: action and JSON arguments in, the JSON
// document out (docs/projections.md). `timeout` bounds the call (verify can take a while).
Result<std::string> CallProjection(const RemoteOptions& options, const std::string& action,
                                   const std::string& name, const std::string& args_json,
                                   std::chrono::milliseconds timeout);

}  // namespace strata::client
