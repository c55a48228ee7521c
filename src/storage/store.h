// Store: the event API of Strata, the same in process and over the network. Implemented by
// LocalStore (the node-local store, local_store.h) and client::RemoteStore (a running
// `strata serve`); one contract suite (tests/store_contract_test.cc) runs over both.
//
//   auto store = LocalStore::Open(options);   // recovers everything on open
//   store->Append({.stream = "order-1", .expected = ExpectedRevision::NoStream(), .events = …});
//   store->ReadStream({.stream = "order-1"});
//   auto sub = store->Subscribe({.all = true}, handler);
//
// Operations (stats, archiving, segments, snapshots, check) are another interface,
// StoreOperations (operations.h); scans without copying are local only (LocalStore::ScanAll).
//
// Thread-safety: every method may be called from any thread concurrently. AppendAsync callbacks
// run on a shard writer thread and must not block; Subscription handlers run on the
// subscription's own thread.
//
// Durability: an append is acknowledged (its callback gets a value) only when its records are
// durable as set by StoreOptions::durability. $all readers and subscriptions deliver only
// positions below the durable watermark, so they never see a gap or a reordering.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/retry.h"
#include "model/event.h"
#include "model/expected_revision.h"
#include "model/record.h"
#include "model/types.h"

namespace strata {

struct AppendRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  std::vector<EventData> events;     // appended atomically, in order; may be empty (a check only)
  Deadline deadline = NoDeadline();  // how long to wait for queue space
};

struct AppendResult {
  uint32_t count = 0;       // events written, or found when deduplicated
  Revision first_revision;  // of the first event (count > 0)
  Revision last_revision;   // the stream's revision after the append (stream_exists)
  Position first_position;  // (count > 0)
  Position last_position;   // (count > 0)
  bool stream_exists = false;
  bool deduplicated = false;  // a retry of an earlier append: nothing was written
};

struct DeleteRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  bool tombstone = false;  // false: soft delete (re-openable); true: never writable again
  Deadline deadline = NoDeadline();
};

struct DeleteResult {
  Position position;  // of the record that marks the deletion
};

enum class Direction : uint8_t { kForwards, kBackwards };

struct ReadStreamRequest {
  std::string stream;
  Direction direction = Direction::kForwards;
  // First revision to return (inclusive). nullopt: the start (forwards) or the end (backwards).
  std::optional<Revision> from;
  uint64_t max_count = 4096;
};

struct ReadStreamResult {
  std::vector<RecordedEvent> events;
  Revision last_revision;  // the stream's last revision
  bool end_of_stream = false;
  std::optional<Revision> next;  // where to continue, if not at the end
};

// Which $all events a reader or subscription wants. Empty lists accept everything; several
// prefixes are ORed; stream and type conditions are ANDed.
struct AllFilter {
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> type_prefixes;
  std::string stream_regex;  // ECMAScript, searched (not anchored); empty: none
  std::string type_regex;
  bool exclude_system = false;  // skip events whose type starts with '$'

  bool Empty() const {
    return stream_prefixes.empty() && type_prefixes.empty() && stream_regex.empty() &&
           type_regex.empty() && !exclude_system;
  }
};

struct ReadAllRequest {
  Direction direction = Direction::kForwards;
  // First position to consider (inclusive). nullopt: the start (forwards) or the end (backwards).
  std::optional<Position> from;
  uint64_t max_count = 4096;
  AllFilter filter;
  uint64_t max_scan = 0;  // stop after examining this many events (0: no limit)
};

struct ReadAllResult {
  std::vector<RecordedEvent> events;
  bool end = false;  // reached the end (the watermark, or the beginning backwards)
  Position next;     // where to continue (inclusive)
};

class SubscriptionHandler {
 public:
  virtual ~SubscriptionHandler() = default;
  // Return false to stop the subscription.
  virtual bool OnEvent(const RecordedEvent& event) = 0;
  // History is delivered; what follows is live.
  virtual void OnCaughtUp() {}
  // Filtered $all subscriptions: everything before `position` has been examined.
  virtual void OnCheckpoint(Position position) {}
  // The subscription ended: error is nullptr when it was cancelled or the handler stopped it.
  virtual void OnStop(const Error* error) {}
};

struct SubscribeRequest {
  bool all = false;  // $all, or `stream`
  std::string stream;
  // Where to start. Stream: deliver revisions after `after_revision` (nullopt: from the start).
  // $all: deliver positions after `after_position` (nullopt: from the start).
  std::optional<Revision> after_revision;
  std::optional<Position> after_position;
  bool from_end = false;                // only events appended from now on
  AllFilter filter;                     // $all only
  uint32_t checkpoint_interval = 1000;  // events examined between OnCheckpoint calls
};

class Subscription {
 public:
  virtual ~Subscription() = default;  // cancels and waits for the handler to return
  virtual void Cancel() = 0;
  virtual uint64_t delivered() const = 0;
  virtual Position position() const = 0;  // last position delivered or examined
};

class Store {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;

  virtual ~Store() = default;  // stops the writers after draining their queues

  // Appends asynchronously; `done` runs exactly once, on a writer thread or (for input errors)
  // on the caller's thread. It must not block.
  virtual void AppendAsync(AppendRequest request, AppendCallback done) = 0;
  Result<AppendResult> Append(AppendRequest request);
  virtual Result<DeleteResult> Delete(DeleteRequest request) = 0;

  virtual Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) = 0;
  virtual Result<ReadAllResult> ReadAll(const ReadAllRequest& request) = 0;
  virtual Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) = 0;

  // First position not yet durable: every position below it is readable from $all.
  virtual Position Watermark() const = 0;
  // Drains queues and closes. Idempotent.
  virtual Status Close() = 0;
};

}  // namespace strata
