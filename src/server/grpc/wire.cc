#include "server/grpc/wire.h"

namespace strata::server {

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
    case ErrorCode::kMissingMetadata:
      trailer("exception", "missing-required-metadata-property");
      trailer("required-properties", "type, content-type");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message());
    case ErrorCode::kServerBusy:
    case ErrorCode::kStoreClosed:
    case ErrorCode::kUnavailable:
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
    case ErrorCode::kPermissionDenied:
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, e.message());
    case ErrorCode::kConflict:
      return grpc::Status(grpc::StatusCode::ABORTED, e.message());
    case ErrorCode::kDiskFull:
      trailer("exception", "disk-full");
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, e.message());
    case ErrorCode::kObjectNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kCorruption:
    case ErrorCode::kIoError:
    case ErrorCode::kInternal:
      return grpc::Status(grpc::StatusCode::INTERNAL, e.ToString());
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, e.ToString());
}

}  // namespace strata::server
