// Conversions between the KurrentDB v1 wire types (proto/) and Strata's model, shared by the
// server (src/server/grpc) and the client (src/client). Thread-safety: pure functions.
#pragma once

#include <string>

#include "base/error.h"
#include "base/uuid.h"
#include "model/event.h"
#include "model/expected_revision.h"
#include "shared.pb.h"
#include "storage/store.h"
#include "streams.pb.h"

namespace strata::wire {

// Accepts both arms of the UUID oneof.
Result<Uuid> FromWire(const event_store::client::UUID& id);
void ToWire(const Uuid& id, bool structured, event_store::client::UUID* out);

// `created` metadata: 100-ns ticks since the Unix epoch, as a decimal string.
std::string CreatedTicks(int64_t recorded_us);

// The event as a ReadResp.event (commit == prepare == position). An event read through an index
// stream (e.link) goes out as KurrentDB sends a resolved link: `event` the original and `link` a
// "$>" event of the index stream whose data is "<revision>@<stream>"; with resolve_links false,
// only that link event.
void ToWire(const RecordedEvent& e, bool structured_ids,
            event_store::client::streams::ReadResp* out, bool resolve_links = true);
// A ReadResp.event back into the model (the client side); kInvalidArgument for a malformed one.
// A resolved link gives the original event with `link` set.
Result<RecordedEvent> FromWire(const event_store::client::streams::ReadResp::ReadEvent& e);

// An event to propose in an Append or a BatchAppend (two message types, same field names).
template <class Proposed>
void ProposedToWire(const EventData& e, Proposed* out) {
  ToWire(e.event_id, false, out->mutable_id());
  (*out->mutable_metadata())["type"] = e.type;
  (*out->mutable_metadata())["content-type"] = e.content_type;
  out->set_custom_metadata(e.metadata);
  out->set_data(e.data);
}

// A proposed event (Append or BatchAppend) into the model: kMissingMetadata without `type` or
// `content-type`, kInvalidEventId without a valid id.
template <class Proposed>
Result<EventData> EventFromProposed(const Proposed& pm) {
  const auto& md = pm.metadata();
  auto type = md.find("type");
  auto content_type = md.find("content-type");
  if (type == md.end() || content_type == md.end()) {
    return Error(ErrorCode::kMissingMetadata,
                 "every event needs the metadata keys 'type' and 'content-type'");
  }
  auto id = FromWire(pm.id());
  if (!id) return id.error();
  EventData e;
  e.event_id = *id;
  e.type = type->second;
  e.content_type = content_type->second;
  e.metadata = pm.custom_metadata();
  e.data = pm.data();
  return e;
}

// The $all filter of a read or subscription, and how many examined events between checkpoints.
AllFilter FilterFrom(const event_store::client::streams::ReadReq::Options& o,
                     uint32_t* checkpoint_every);
// kInvalidArgument for what the protocol cannot express (stream and type conditions together).
Status FilterToWire(const AllFilter& f, event_store::client::streams::ReadReq::Options* o);

// The expected revision of AppendReq, DeleteReq and TombstoneReq options (arm `revision`) and
// of BatchAppendReq options (arm `stream_position`); the other arms share their names.
template <class Options>
ExpectedRevision ExpectedFrom(const Options& o) {
  if (o.has_no_stream()) return ExpectedRevision::NoStream();
  if (o.has_stream_exists()) return ExpectedRevision::StreamExists();
  if constexpr (requires { o.stream_position(); }) {
    if (o.expected_stream_position_case() == Options::kStreamPosition) {
      return ExpectedRevision::Exact(Revision(o.stream_position()));
    }
  } else {
    if (o.expected_stream_revision_case() == Options::kRevision) {
      return ExpectedRevision::Exact(Revision(o.revision()));
    }
  }
  return ExpectedRevision::Any();
}
template <class Options>
void ExpectedToWire(const ExpectedRevision& e, Options* o) {
  switch (e.kind()) {
    case ExpectedRevision::Kind::kExact:
      if constexpr (requires { o->set_stream_position(0); }) {
        o->set_stream_position(e.revision().value());
      } else {
        o->set_revision(e.revision().value());
      }
      break;
    case ExpectedRevision::Kind::kNoStream:
      o->mutable_no_stream();
      break;
    case ExpectedRevision::Kind::kStreamExists:
      o->mutable_stream_exists();
      break;
    case ExpectedRevision::Kind::kAny:
      o->mutable_any();
      break;
  }
}

}  // namespace strata::wire
