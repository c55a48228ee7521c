// Error, the error-code registry, and Result<T>: Strata's one error channel.
//
// Every failure that a caller can act on is an Error carrying a stable ErrorCode and a message
// that says what was wrong and what to do. Codes are part of the public contract (they travel
// over the wire and appear in logs): never renumber or reuse one; add new ones at the end.
// A broken invariant is not an Error: it asserts and aborts (STRATA_CHECK).
//
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace strata {

// The registry. Numbers are stable forever.
enum class ErrorCode : uint16_t {
  kInvalidArgument = 1,    // a request field is malformed; the message names it
  kInvalidStreamName = 2,  // empty, too long, or reserved stream name
  kEventTooLarge = 3,      // one event over the per-event limit
  kInvalidEventId = 4,     // malformed or nil UUID
  kInvalidExpectedRevision = 5,
  kUnknownOption = 6,          // an option/config key Strata does not know
  kWrongExpectedRevision = 7,  // optimistic concurrency check failed; actual_revision is set
  kStreamDeleted = 8,          // the stream is tombstoned and can never be written again
  kIdempotencyConflict = 9,    // some, not all, of the event ids were already appended
  kServerBusy = 10,            // back-pressure: queues full until the deadline
  kDeadlineExceeded = 11,
  kCorruption = 12,  // a checksum or format check failed; data is not served
  kIoError = 13,     // the OS or RocksDB failed an I/O
  kStreamNotFound = 14,
  kStoreClosed = 15,     // the store is shut down or failed; restart to recover
  kAppendTooLarge = 16,  // the whole append is over the per-append limit
  kInvalidConfig = 17,   // a configuration value is out of range or inconsistent
  kInternal = 18,
  kMissingMetadata = 19,   // an event lacks a required metadata key (type, content-type)
  kUnavailable = 20,       // a server (Strata, an object store) cannot be reached
  kObjectNotFound = 21,    // an object store has no object under the key
  kAlreadyExists = 22,     // a create-if-absent found the object already there
  kPermissionDenied = 23,  // credentials missing, wrong, or not allowed to do this
  kConflict = 24,          // another writer changed the state this operation expected
  kDiskFull = 25,          // no space left on a disk Strata writes; resumes once there is room
  kNotOwner = 26,          // another node owns the stream's partition; the message names it
};
// The highest code in use (for iterating over all of them); move it when adding one.
inline constexpr ErrorCode kLastErrorCode = ErrorCode::kNotOwner;

// A stable, lower-case, dash-separated name for each code ("wrong-expected-revision").
std::string_view ErrorCodeName(ErrorCode code);
// The inverse of ErrorCodeName; nullopt for a name no code has.
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name);

// What kind of failure a code is, for whoever turns errors into something coarser: the CLI's
// exit status and the gRPC status code both derive from it (and nothing else switches over
// every code), so a new code is classified once, here.
enum class ErrorClass : uint8_t {
  kBadInput,      // the request or the configuration is wrong: fix it, do not retry as is
  kPrecondition,  // the stream is not in the state the request expected (revision, deleted)
  kConflict,      // another writer changed what this operation read: read again and retry
  kNotFound,      // the stream does not exist
  kRetryLater,    // busy, closed or unreachable: the same request may succeed later
  kTimeout,       // the deadline passed first
  kNoSpace,       // a disk is full: resumes once there is room
  kDenied,        // credentials missing or not allowed
  kFault,         // corruption, I/O, or a bug on the serving side: see its logs
};
ErrorClass ClassOf(ErrorCode code);
std::string_view ErrorClassName(ErrorClass c);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "wrong-expected-revision: stream 'a' is at revision 4 …"
  std::string ToString() const;

  // For kWrongExpectedRevision: the stream's actual last revision, or nullopt when the stream
  // does not exist (or is soft-deleted).
  std::optional<uint64_t> actual_revision;

 private:
  ErrorCode code_;
  std::string message_;
};

// Result<T>: a value or an Error. [[nodiscard]]: ignoring one is a compile warning; to ignore
// deliberately, write IgnoreError(expr) so it can be grepped.
template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(Error e) : std::expected<T, Error>(std::unexpected(std::move(e))) {}  // NOLINT
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

template <class T>
inline void IgnoreError(const Result<T>&) {}

[[noreturn]] void CheckFailed(const char* expr, const char* file, int line, const char* msg);

}  // namespace strata

// Aborts on a broken invariant, in every build type.
#define STRATA_CHECK(cond, msg)                                           \
  do {                                                                    \
    if (!(cond)) ::strata::CheckFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

// Propagates an error: STRATA_TRY(status_expr);
#define STRATA_TRY(expr)                              \
  do {                                                \
    auto&& strata_try_r_ = (expr);                    \
    if (!strata_try_r_) return strata_try_r_.error(); \
  } while (0)
