// --config FILE for every command: a TOML file whose keys are the command's long flag names
// (`data = "./data"`, `grpc-port = 2113`). Its values become flags inserted before the user's,
// only for flags the user did not give, so the command line always wins. An unknown key is an
// error naming it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace strata::cli {

// Returns the arguments with the config file's values expanded (or an error for a bad file).
Result<std::vector<std::string>> ExpandConfigFile(const CLI::App& app,
                                                  std::vector<std::string> args);

}  // namespace strata::cli
