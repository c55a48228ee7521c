// Conversions between the KurrentDB v1 wire types (proto/) and Strata's model, and the mapping of
// Strata errors to the gRPC statuses and `exception` trailers the official clients decode
// (../shared/notes/kurrentdb-client-behaviour.md). Thread-safety: pure functions.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "base/error.h"
#include "base/uuid.h"
#include "model/event.h"
#include "model/expected_revision.h"
#include "shared.pb.h"
#include "storage/store.h"
#include "streams.pb.h"

namespace strata::server {

// Accepts both arms of the UUID oneof.
Result<Uuid> FromWire(const event_store::client::UUID& id);
void ToWire(const Uuid& id, bool structured, event_store::client::UUID* out);

// `created` metadata: 100-ns ticks since the Unix epoch, as a decimal string.
std::string CreatedTicks(int64_t recorded_us);

// The event as a ReadResp.event (commit == prepare == position).
void ToWire(const RecordedEvent& e, bool structured_ids,
            event_store::client::streams::ReadResp* out);

// A Strata error as the status (and trailers) KurrentDB would send for it.
grpc::Status ToStatus(const Error& e, grpc::ServerContext* ctx, const std::string& stream = "");

// An INVALID_ARGUMENT for malformed requests, with a message saying what to send instead.
grpc::Status BadRequest(const std::string& message);

// Fills an append's Success (AppendResp.Success or BatchAppendResp.Success: same field names).
template <class Success>
void FillSuccess(const AppendResult& r, Success* s) {
  if (r.stream_exists) {
    s->set_current_revision(r.last_revision.value());
  } else {
    s->mutable_no_stream();
  }
  if (r.count > 0) {
    s->mutable_position()->set_commit_position(r.last_position.value());
    s->mutable_position()->set_prepare_position(r.last_position.value());
  } else {
    s->mutable_no_position();
  }
}

template <class Options>
ExpectedRevision ExpectedFrom(const Options& o) {
  switch (o.expected_stream_revision_case()) {
    case Options::kRevision:
      return ExpectedRevision::Exact(Revision(o.revision()));
    case Options::kNoStream:
      return ExpectedRevision::NoStream();
    case Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    default:
      return ExpectedRevision::Any();
  }
}

}  // namespace strata::server
