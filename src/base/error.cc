#include "base/error.h"

namespace strata {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kInvalidStreamName:
      return "invalid-stream-name";
    case ErrorCode::kEventTooLarge:
      return "event-too-large";
    case ErrorCode::kInvalidEventId:
      return "invalid-event-id";
    case ErrorCode::kInvalidExpectedRevision:
      return "invalid-expected-revision";
    case ErrorCode::kUnknownOption:
      return "unknown-option";
    case ErrorCode::kWrongExpectedRevision:
      return "wrong-expected-revision";
    case ErrorCode::kStreamDeleted:
      return "stream-deleted";
    case ErrorCode::kIdempotencyConflict:
      return "idempotency-conflict";
    case ErrorCode::kServerBusy:
      return "server-busy";
    case ErrorCode::kDeadlineExceeded:
      return "deadline-exceeded";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kIoError:
      return "io-error";
    case ErrorCode::kStreamNotFound:
      return "stream-not-found";
    case ErrorCode::kStoreClosed:
      return "store-closed";
    case ErrorCode::kAppendTooLarge:
      return "append-too-large";
    case ErrorCode::kInvalidConfig:
      return "invalid-config";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kMissingMetadata:
      return "missing-required-metadata-property";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kObjectNotFound:
      return "object-not-found";
    case ErrorCode::kAlreadyExists:
      return "already-exists";
    case ErrorCode::kPermissionDenied:
      return "permission-denied";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kDiskFull:
      return "disk-full";
    case ErrorCode::kNotOwner:
      return "not-owner";
  }
  return "unknown";
}

ErrorClass ClassOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidStreamName:
    case ErrorCode::kEventTooLarge:
    case ErrorCode::kInvalidEventId:
    case ErrorCode::kInvalidExpectedRevision:
    case ErrorCode::kUnknownOption:
    case ErrorCode::kAppendTooLarge:
    case ErrorCode::kInvalidConfig:
    case ErrorCode::kMissingMetadata:
      return ErrorClass::kBadInput;
    case ErrorCode::kWrongExpectedRevision:
    case ErrorCode::kStreamDeleted:
    case ErrorCode::kIdempotencyConflict:
      return ErrorClass::kPrecondition;
    case ErrorCode::kConflict:
      return ErrorClass::kConflict;
    case ErrorCode::kStreamNotFound:
      return ErrorClass::kNotFound;
    case ErrorCode::kServerBusy:
    case ErrorCode::kStoreClosed:
    case ErrorCode::kUnavailable:
    case ErrorCode::kNotOwner:  // the request may succeed at the owner, or here later
      return ErrorClass::kRetryLater;
    case ErrorCode::kDeadlineExceeded:
      return ErrorClass::kTimeout;
    case ErrorCode::kDiskFull:
      return ErrorClass::kNoSpace;
    case ErrorCode::kPermissionDenied:
      return ErrorClass::kDenied;
    // An object store's missing or existing object is the serving side's problem to a caller.
    case ErrorCode::kObjectNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kCorruption:
    case ErrorCode::kIoError:
    case ErrorCode::kInternal:
      return ErrorClass::kFault;
  }
  return ErrorClass::kFault;
}

std::string_view ErrorClassName(ErrorClass c) {
  switch (c) {
    case ErrorClass::kBadInput:
      return "bad-input";
    case ErrorClass::kPrecondition:
      return "precondition";
    case ErrorClass::kConflict:
      return "conflict";
    case ErrorClass::kNotFound:
      return "not-found";
    case ErrorClass::kRetryLater:
      return "retry-later";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kNoSpace:
      return "no-space";
    case ErrorClass::kDenied:
      return "denied";
    case ErrorClass::kFault:
      return "fault";
  }
  return "fault";
}

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (uint16_t c = 1; c <= static_cast<uint16_t>(kLastErrorCode); ++c) {
    if (ErrorCodeName(static_cast<ErrorCode>(c)) == name) return static_cast<ErrorCode>(c);
  }
  return std::nullopt;
}

std::string Error::ToString() const {
  std::string s(ErrorCodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

void CheckFailed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "strata: invariant broken at %s:%d: %s (%s)\n", file, line, msg, expr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace strata
