// strata: the command-line entry point. Only wiring; each command lives in cmd_*.cc.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"strata: a tiered event store (streams, $all, subscriptions) on local disk"};
  app.require_subcommand(1);
  app.footer("Run 'strata COMMAND --help' for a command's options. Data lives in --data (./data).");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log at debug level");
  int exit_code = 0;
  strata::cli::RegisterAppend(app, exit_code);
  strata::cli::RegisterRead(app, exit_code);
  strata::cli::RegisterTail(app, exit_code);
  strata::cli::RegisterStats(app, exit_code);
  strata::cli::RegisterBench(app, exit_code);
  strata::cli::RegisterStress(app, exit_code);
  strata::cli::RegisterServe(app, exit_code);
  app.parse_complete_callback(
      [&] { spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn); });
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
