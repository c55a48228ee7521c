// Shared pieces of the CLI: the store flags every command takes, and output helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "app/store_config.h"
#include "projection/spec.h"

namespace strata::cli {

// Flags that configure the store (app::StoreConfig); every command that opens one takes them.
struct StoreFlags : app::StoreConfig {
  void Register(CLI::App* cmd);
  // Options from the flags; kInvalidConfig for a bad value.
  Result<StoreOptions> ToOptions() const { return app::ToStoreOptions(*this); }
};

// Opens the local store or prints the error and returns nullptr.
std::unique_ptr<LocalStore> OpenOrReport(const StoreOptions& options);
// The store the flags name: the server of --server, else the data directory of --data (created
// only if `create`). Prints the error and returns nullptr on failure.
app::StoreHandle OpenStoreOrReport(const StoreFlags& flags, bool create);

// The specs of repeated --projection JSON flags (a config's [[projection]] tables become those).
Result<std::vector<projection::ProjectionSpec>> ParseProjectionFlags(
    const std::vector<std::string>& jsons);

// Prints "strata: <code>: <message>" to stderr; returns the exit code for it.
int ReportError(const Error& e);

// One event as a JSON object (data as text when it is valid UTF-8 JSON/text, else base64).
std::string EventToJson(const RecordedEvent& e);
// One event as a human line: "pos  stream@rev  type  data".
std::string EventToLine(const RecordedEvent& e);

// "1,234,567"
std::string Thousands(double v);

}  // namespace strata::cli
