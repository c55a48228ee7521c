#include "server/grpc/wire.h"

#include "base/coding.h"

namespace strata::server {

Result<Uuid> FromWire(const event_store::client::UUID& id) {
  if (id.has_string()) return Uuid::Parse(id.string());
  if (id.has_structured()) {
    char b[16];
    PutBigEndian64(b, static_cast<uint64_t>(id.structured().most_significant_bits()));
    PutBigEndian64(b + 8, static_cast<uint64_t>(id.structured().least_significant_bits()));
    return Uuid::FromBytes(b);
  }
  return Error(ErrorCode::kInvalidEventId,
               "the event has no id; give every event a UUID (string or structured)");
}

void ToWire(const Uuid& id, bool structured, event_store::client::UUID* out) {
  if (structured) {
    auto* s = out->mutable_structured();
    s->set_most_significant_bits(static_cast<int64_t>(GetBigEndian64(id.data())));
    s->set_least_significant_bits(static_cast<int64_t>(GetBigEndian64(id.data() + 8)));
  } else {
    out->set_string(id.ToString());
  }
}

std::string CreatedTicks(int64_t recorded_us) { return std::to_string(recorded_us * 10); }

void ToWire(const RecordedEvent& e, bool structured_ids,
            event_store::client::streams::ReadResp* out) {
  auto* re = out->mutable_event();
  auto* ev = re->mutable_event();
  ToWire(e.event_id, structured_ids, ev->mutable_id());
  ev->mutable_stream_identifier()->set_stream_name(e.stream);
  ev->set_stream_revision(e.revision.value());
  ev->set_prepare_position(e.position.value());
  ev->set_commit_position(e.position.value());
  auto& md = *ev->mutable_metadata();
  md["type"] = e.type;
  md["content-type"] = e.content_type;
  md["created"] = CreatedTicks(e.recorded_ts);
  ev->set_custom_metadata(e.metadata);
  ev->set_data(e.data);
  re->set_commit_position(e.position.value());
}

grpc::Status BadRequest(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status ToStatus(const Error& e, grpc::ServerContext* ctx, const std::string& stream) {
  auto trailer = [&](const char* k, const std::string& v) { ctx->AddTrailingMetadata(k, v); };
  switch (e.code()) {
    case ErrorCode::kStreamDeleted:
      trailer("exception", "stream-deleted");
      trailer("stream-name", stream);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message());
    case ErrorCode::kWrongExpectedRevision:
      trailer("exception", "wrong-expected-version");
      trailer("stream-name", stream);
      trailer("actual-version", e.actual_revision ? std::to_string(*e.actual_revision) : "-1");
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message());
    case ErrorCode::kEventTooLarge:
    case ErrorCode::kAppendTooLarge:
      trailer("exception", "maximum-append-size-exceeded");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message());
    case ErrorCode::kStreamNotFound:
      trailer("exception", "stream-not-found");
      trailer("stream-name", stream);
      return grpc::Status(grpc::StatusCode::NOT_FOUND, e.message());
    case ErrorCode::kIdempotencyConflict:
      trailer("exception", "idempotency-conflict");
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message());
    case ErrorCode::kServerBusy:
    case ErrorCode::kStoreClosed:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.message());
    case ErrorCode::kDeadlineExceeded:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, e.message());
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidStreamName:
    case ErrorCode::kInvalidEventId:
    case ErrorCode::kInvalidExpectedRevision:
    case ErrorCode::kUnknownOption:
    case ErrorCode::kInvalidConfig:
      trailer("exception", std::string(ErrorCodeName(e.code())));
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message());
    case ErrorCode::kCorruption:
    case ErrorCode::kIoError:
    case ErrorCode::kInternal:
      return grpc::Status(grpc::StatusCode::INTERNAL, e.ToString());
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, e.ToString());
}

}  // namespace strata::server
