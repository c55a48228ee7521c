// Each command registers itself on the root CLI11 app; its callback stores the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace strata::cli {

void RegisterAppend(CLI::App& app, int& exit_code);
void RegisterRead(CLI::App& app, int& exit_code);
void RegisterTail(CLI::App& app, int& exit_code);
void RegisterStats(CLI::App& app, int& exit_code);
void RegisterBench(CLI::App& app, int& exit_code);
void RegisterStress(CLI::App& app, int& exit_code);
void RegisterServe(CLI::App& app, int& exit_code);
// `strata cluster status|drain` (cmd_cluster.cc).
void RegisterCluster(CLI::App& app, int& exit_code);
void RegisterCold(CLI::App& app, int& exit_code);
// `strata check` (cmd_check.cc).
void RegisterCheck(CLI::App& app, int& exit_code);
// `strata projection …`, `strata verify`, `strata replay` (cmd_projection.cc).
void RegisterProjection(CLI::App& app, int& exit_code);
// `strata bench cold` (cmd_bench_cold.cc), under the `bench` command.
void RegisterBenchCold(CLI::App* bench, int& exit_code);
// `strata bench projection` (cmd_bench_projection.cc).
void RegisterBenchProjection(CLI::App* bench, int& exit_code);

}  // namespace strata::cli
