#include "server/grpc/wire.h"

namespace strata::server {

grpc::Status BadRequest(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

namespace {

grpc::StatusCode GrpcCodeOf(ErrorClass c) {
  switch (c) {
    case ErrorClass::kBadInput:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorClass::kPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorClass::kConflict:
      return grpc::StatusCode::ABORTED;
    case ErrorClass::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ErrorClass::kRetryLater:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorClass::kTimeout:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ErrorClass::kNoSpace:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorClass::kDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case ErrorClass::kFault:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

// The KurrentDB `exception` trailer (and its companions) the official clients turn into their
// typed errors; Strata's own codes travel by name so RemoteStore gets the same Error back.
void AddExceptionTrailers(const Error& e, grpc::ServerContext* ctx, const std::string& stream) {
  auto trailer = [&](const char* k, const std::string& v) { ctx->AddTrailingMetadata(k, v); };
  switch (e.code()) {
    case ErrorCode::kStreamDeleted:
      trailer("exception", "stream-deleted");
      trailer("stream-name", stream);
      return;
    case ErrorCode::kWrongExpectedRevision:
      trailer("exception", "wrong-expected-version");
      trailer("stream-name", stream);
      trailer("actual-version", e.actual_revision ? std::to_string(*e.actual_revision) : "-1");
      return;
    case ErrorCode::kEventTooLarge:
    case ErrorCode::kAppendTooLarge:
      trailer("exception", "maximum-append-size-exceeded");
      return;
    case ErrorCode::kStreamNotFound:
      trailer("exception", "stream-not-found");
      trailer("stream-name", stream);
      return;
    case ErrorCode::kIdempotencyConflict:
      trailer("exception", "idempotency-conflict");
      return;
    case ErrorCode::kMissingMetadata:
      trailer("exception", "missing-required-metadata-property");
      trailer("required-properties", "type, content-type");
      return;
    case ErrorCode::kDiskFull:
      trailer("exception", "disk-full");
      return;
    default:
      if (ClassOf(e.code()) == ErrorClass::kBadInput) {
        trailer("exception", std::string(ErrorCodeName(e.code())));
      }
      return;
  }
}

}  // namespace

grpc::Status ToStatus(const Error& e, grpc::ServerContext* ctx, const std::string& stream) {
  AddExceptionTrailers(e, ctx, stream);
  const ErrorClass c = ClassOf(e.code());
  // A fault's message carries its code: the client has no trailer to recover it from.
  return grpc::Status(GrpcCodeOf(c), c == ErrorClass::kFault ? e.ToString() : e.message());
}

}  // namespace strata::server
