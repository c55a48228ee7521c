// strata check: a scrub of everything a store keeps (docs/durability.md, "Checking a store").
//
// What is checked: the store description (STRATA), every block of every RocksDB SST file
// (their checksums) and every record of the log (its CRC32C, its key = its position, positions
// increasing), every index run a manifest names (header, size, entries checksum), the index
// streams' STATE and its runs, the local segment files in the archivers' outboxes (offline), and
// with `cold` every archived segment object against its manifest entry and the checksums of its
// footer, blocks and records. Each problem names what it is in: the shard, the file or object,
// and the position range it covers.
//
// Offline (CheckDataDir) opens RocksDB read-only and writes nothing; it refuses a store another
// process has open (check that one online: Store::Check, `strata check --server`).
//
// Thread-safety: plain values; the functions may run on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "storage/options.h"

namespace strata {

struct CheckProblem {
  // What was damaged: store-description, metadata, warm-file, record, index-manifest, index-run,
  // index-streams-state, local-segment, cold-manifest, cold-segment.
  std::string kind;
  std::string location;                            // the file or object key
  int64_t shard = -1;                              // -1: not one shard's
  uint64_t first_position = 0, last_position = 0;  // both 0: not about positions
  std::string message;
};

struct CheckReport {
  std::vector<CheckProblem> problems;
  uint64_t records = 0;         // log records decoded and checked
  uint64_t warm_files = 0;      // RocksDB SST files whose blocks were verified
  uint64_t index_runs = 0;      // index run files verified
  uint64_t metadata_files = 0;  // STRATA, STATE, an older store's cold-url, …
  uint64_t local_segments = 0;  // outbox segment files verified
  uint64_t cold_segments = 0;   // archived segment objects verified
  uint64_t cold_blocks = 0;
  double seconds = 0;
  bool online = false;  // checked through a running store

  bool ok() const { return problems.empty(); }
  void Add(CheckProblem p) { problems.push_back(std::move(p)); }
  std::string ToJson() const;
  static Result<CheckReport> FromJson(std::string_view json);
  // One line per problem, then a summary line.
  std::string ToText() const;
};

struct CheckOptions {
  bool cold = false;  // also read every archived segment object (slow: it downloads them)
};

namespace storage {

// Checks the store at options.data_dir, which no other process may have open.
Result<CheckReport> CheckDataDir(const StoreOptions& options, const CheckOptions& check);

}  // namespace storage
}  // namespace strata
