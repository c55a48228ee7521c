// strata check: scrubs a store (storage/check.h) and reports every problem with its place.
//   strata check --data DIR            offline: the store must not be open in another process
//   strata check --server HOST:PORT    online: the running server checks itself
//   --cold [URL]                       also every archived segment (the store's cold tier)
//   --json                             the report as one JSON document
// Exit status: 0 nothing wrong, 1 problems found, 2 bad input, other errors as usual.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"

namespace strata::cli {
namespace {

struct CheckFlags {
  StoreFlags store;
  bool json = false;
  CLI::Option* cold = nullptr;
};

int Run(const CheckFlags& f) {
  CheckOptions co;
  co.cold = f.cold->count() > 0;
  Result<CheckReport> report = Error(ErrorCode::kInternal, "not run");
  if (!f.store.server.empty()) {
    auto store = OpenStoreOrReport(f.store, /*create=*/false);
    if (!store) return 1;
    std::cerr << "strata check: the server at " << f.store.server
              << " is reading everything it keeps…\n";
    report = store.operations().Check(co);
  } else {
    StoreFlags flags = f.store;
    if (!co.cold) flags.cold = "none";  // the recorded URL is then checked, not needed to open
    auto options = flags.ToOptions();
    if (!options) return ReportError(options.error());
    std::cerr << "strata check: reading everything in " << options->data_dir
              << (co.cold ? " and its cold tier " + options->cold.url : std::string()) << "…\n";
    report = storage::CheckDataDir(*options, co);
  }
  if (!report) return ReportError(report.error());
  std::cout << (f.json ? report->ToJson() + "\n" : report->ToText());
  return report->ok() ? 0 : 1;
}

}  // namespace

void RegisterCheck(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<CheckFlags>();
  auto* cmd = app.add_subcommand(
      "check", "Scrub a store: every checksum of the log, the indexes, the metadata files");
  cmd->footer(
      "Checks every record's CRC and every RocksDB block, every index run and its manifest, the\n"
      "index streams' STATE, the archivers' local segment files, and with --cold every archived\n"
      "segment against its footer. Each problem names its shard, file and position range.\n"
      "Offline (--data) the store must not be open elsewhere; a running server checks itself\n"
      "with --server. Exit status 1 when anything is damaged.");
  f->store.Register(cmd);
  f->cold = cmd->get_option("--cold");
  f->cold->expected(0, 1)->description(
      "Also check every archived segment: of this cold tier URL, or with no value the store's "
      "own (the one its STRATA records, else file://<data>-cold)");
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
