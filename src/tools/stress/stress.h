// The stress tool (RocksDB's db_stress is the model): a randomized workload against a Store that
// records every acknowledged write in an ack log, and a verifier that checks a store recovered
// after a crash or a power cut against that log. `strata stress` (src/cli/cmd_stress.cc) is its
// main; tests/crash_test.cc and scripts/powerloss.sh drive that binary, since they kill it.
//
//   auto log = stress::AckLogWriter::Open(path, on_stop);        // before the workload
//   auto run = stress::RunWorkload(store, **log, config);         // config.duration seconds
//   … SIGKILL, power cut, restart …
//   auto acked = stress::ReadAckLog(path);
//   auto verdict = stress::VerifyAgainstLog(*local_store, acked);  // verdict.problems
//
// The ack log, one line per acknowledged write (docs/file-seam.md: written unbuffered, one
// write(2) per line, so a line is there once the write's acknowledgement was acted on):
//   A <stream> <first revision> <first position> <last position> <count> <id>,<id>,…   an append
//   S <stream> <position>                                                           a soft delete
//   T <stream> <position>                                                           a tombstone
// An acknowledgement whose line was not yet written when the process died is simply not
// checked; a torn last line is skipped. Keep the log off the store's disk in power-loss tests:
// it stands for what clients were told.
//
// Problems are findings, not errors: each is one line of text, in the order found, at most
// kMaxProblems of them. Thread-safety: RunWorkload runs its own threads and returns when they
// have stopped; AckLogWriter may be called from any thread; the rest is for one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/uuid.h"
#include "storage/local_store.h"
#include "storage/store.h"

namespace strata::env {
class WritableFile;
}

namespace strata::stress {

inline constexpr size_t kMaxProblems = 50;

// The writer of the ack log (the format above). Owned by the caller of RunWorkload.
class AckLogWriter {
 public:
  // Called once, with the error, when a line could not be written: the acknowledgements after it
  // go unchecked. It runs on the workload thread that wrote.
  using OnStop = std::function<void(const Error&)>;

  // Opens `path` for appending (created if missing).
  static Result<std::unique_ptr<AckLogWriter>> Open(const std::string& path, OnStop on_stop);
  ~AckLogWriter();

  // Records an acknowledged append of `events` (an "A" line).
  void Appended(const std::string& stream, const AppendResult& result,
                const std::vector<EventData>& events);
  // Records an acknowledged soft delete ("S") or tombstone ("T") at `position`.
  void Deleted(const std::string& stream, Position position, bool tombstone);

 private:
  AckLogWriter(std::unique_ptr<env::WritableFile> file, OnStop on_stop);
  void Write(const std::string& line);
  std::unique_ptr<env::WritableFile> file_;
  OnStop on_stop_;
  std::mutex mu_;
  bool failed_ = false;  // guarded by mu_
};

struct StressConfig {
  double duration_seconds = 10;
  uint64_t seed = 1;  // worker i draws from seed * 1000 + i
  uint32_t threads = 4;
  uint32_t streams = 64;  // streams s-0 … s-<streams-1>
  // Whether AppendResult::deduplicated tells a retry apart: true for a LocalStore. Over gRPC
  // (a RemoteStore) the KurrentDB protocol has no such flag, and only the positions of the
  // retry's answer tell a second write apart.
  bool store_reports_deduplication = true;
};

struct WorkloadReport {
  uint64_t acknowledged_events = 0;
  uint64_t subscription_events = 0;   // seen by the live $all subscription
  std::vector<std::string> problems;  // empty: the workload saw nothing wrong
};

// Runs config.threads workers for config.duration_seconds against `store`, each appending to
// random streams with exact, any, no-stream, stream-exists and wrong expected revisions,
// retrying its last acknowledged append (which must not be written twice), soft-deleting,
// tombstoning streams s-…7, and reading streams and $all pages (which must be in order); a live
// $all subscription checks that positions only grow. Every acknowledged append, delete and
// tombstone goes to `log`. An error only when the subscription cannot start; the store stays
// open (the caller closes it).
Result<WorkloadReport> RunWorkload(Store& store, AckLogWriter& log, const StressConfig& config);

// One acknowledged event, as the ack log has it.
struct AckedEvent {
  std::string stream;
  uint64_t revision = 0, position = 0;
};

// What the ack log says was acknowledged.
struct AckLog {
  std::unordered_map<Uuid, AckedEvent> events;
  std::set<std::string> tombstoned;
  uint64_t append_lines = 0;          // whole "A" lines read
  std::vector<std::string> problems;  // events acknowledged twice at different places
};

// Reads the ack log at `path`; a missing or unreadable file reads as an empty log.
AckLog ReadAckLog(const std::string& path);

// True when there is nothing to verify and nothing was lost: the log acknowledges nothing and
// there is no store in `data_dir` (a run killed while creating it; its STRATA file is written
// last).
bool NoStoreAndNothingAcknowledged(const AckLog& log, const std::string& data_dir);

struct VerifyReport {
  uint64_t acknowledged_events = 0;  // in the log
  uint64_t log_lines = 0;            // its append lines
  uint64_t records = 0;              // in $all
  uint64_t last_position = 0;        // of $all's last record
  uint64_t streams_checked = 0;
  uint64_t index_streams_checked = 0;
  std::vector<std::string> problems;  // the log's first, then the store's; empty: all is well
  // Positions claimed by appends that were never acknowledged (a crash between sequencing and
  // the write): $all's last position minus its records.
  uint64_t unused_positions() const { return last_position - records; }
};

// Checks the store against the log: $all in position order, every stream's revisions gapless,
// no event twice in a stream; every acknowledged event there once, at its stream, revision and
// position, and every acknowledged tombstone; stream reads (after $tb truncation, soft deletes
// and tombstones) equal to what $all holds; the $ce-/$et- index streams equal to the rule of
// docs/index-streams.md once the indexer has caught up (waits up to 30 s for it).
VerifyReport VerifyAgainstLog(LocalStore& store, const AckLog& log);

}  // namespace strata::stress
