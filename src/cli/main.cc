// strata: the command-line entry point. Only wiring; each command lives in cmd_*.cc.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config_file.h"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is for the command's output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("strata"));
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
  strata::cli::RegisterCluster(app, exit_code);
  strata::cli::RegisterCold(app, exit_code);
  strata::cli::RegisterCheck(app, exit_code);
  strata::cli::RegisterProjection(app, exit_code);
  app.parse_complete_callback(
      [&] { spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn); });
  std::vector<std::string> args(argv, argv + argc);
  auto expanded = strata::cli::ExpandConfigFile(app, args);
  if (!expanded) return strata::cli::ReportError(expanded.error());
  // CLI11 parses a reversed vector (it pops from the back).
  std::vector<std::string> reversed(expanded->rbegin(), expanded->rend() - 1);
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
