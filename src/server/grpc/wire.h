// The mapping of Strata errors to the gRPC statuses and `exception` trailers the official
// clients decode (../shared/notes/kurrentdb-client-behaviour.md), and response helpers. The
// model conversions themselves are in wire/convert.h. Thread-safety: pure functions.
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
#include "wire/convert.h"

namespace strata::server {

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

using wire::ExpectedFrom;
using wire::FromWire;
using wire::ToWire;

}  // namespace strata::server
