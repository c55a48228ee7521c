// Verify: recomputes a projection's model from the store and compares it with a sink, as of the
// sink's own checkpoint: cardinality, every key's value (or a random sample of keys, with the
// confidence that gives), and how far the checkpoint lags the store. `strata verify` prints it
// and exits 0 only when everything agrees within the allowed lag: a deploy gate.
// Thread-safety: Verify is a plain function; it reads the store and the sink, and writes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "projection/sink.h"
#include "storage/local_store.h"

namespace strata::projection {

struct VerifyOptions {
  uint64_t sample = 0;             // compare this many random keys (0: every key)
  uint64_t max_lag_positions = 0;  // the checkpoint may trail the store's last position by this
  uint32_t list = 20;              // mismatches listed in the report
  uint64_t seed = 0;               // for the sample (0: random)
};

struct Mismatch {
  std::string key;
  std::optional<Value> store, sink;  // nullopt: the key is missing on that side
};

struct VerifyReport {
  std::string projection, sink;
  uint64_t generation = 0;
  Position checkpoint;     // the sink's, which the recount stopped at
  Position last_position;  // the store's last position when verify finished
  uint64_t lag_positions = 0;
  uint64_t max_lag_positions = 0;
  uint64_t store_keys = 0, sink_keys = 0;
  uint64_t compared_keys = 0, mismatched_keys = 0;
  std::vector<Mismatch> mismatches;  // the first VerifyOptions::list of them
  bool sampled = false;
  double detectable_fraction =
      0;  // sampled: a share of wrong keys this large is found 99% of the time
  uint64_t records_scanned = 0;  // of the store, matching or not
  double seconds = 0;
  std::vector<std::string> problems;  // one line each; empty means it agrees
  Op op = Op::kCount;

  bool ok() const { return problems.empty(); }
  std::string ToText() const;
  std::string ToJson() const;
};

// The human form of a report's JSON (VerifyReport::ToJson, or what a server's verify returned).
std::string VerifyTextFromJson(std::string_view report_json);

Result<VerifyReport> Verify(LocalStore* store, const ProjectionSpec& spec, Sink* sink,
                            const VerifyOptions& options);

}  // namespace strata::projection
