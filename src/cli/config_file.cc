#include "cli/config_file.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

namespace strata::cli {

Result<std::vector<std::string>> ExpandConfigFile(const CLI::App& app,
                                                  std::vector<std::string> args) {
  // Find the subcommand path and --config.
  size_t cmd_end = 1;
  const CLI::App* cmd = &app;
  while (cmd_end < args.size()) {
    const CLI::App* sub = nullptr;
    try {
      sub = cmd->get_subcommand(args[cmd_end]);
    } catch (const CLI::OptionNotFound&) {
    }
    if (!sub) break;
    cmd = sub;
    ++cmd_end;
  }
  std::string path;
  std::set<std::string> given;
  size_t config_at = 0, config_len = 0;
  for (size_t i = cmd_end; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    given.insert(name);
    if (name == "config" && config_len == 0) {
      config_at = i;
      if (eq != std::string::npos) {
        path = a.substr(eq + 1);
        config_len = 1;
      } else if (i + 1 < args.size()) {
        path = args[i + 1];
        config_len = 2;
      }
    }
  }
  if (config_len) {
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(config_at),
               args.begin() + static_cast<std::ptrdiff_t>(config_at + config_len));
  }
  if (path.empty()) return args;
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Error(ErrorCode::kInvalidConfig,
                 "config file " + path + " is not valid TOML: " + std::string(e.description()) +
                     " (line " + std::to_string(e.source().begin.line) + ")");
  }
  std::vector<std::string> inserted;
  for (const auto& [key, value] : table) {
    std::string k(key.str());
    // [[projection]] tables: each becomes --projection <its JSON> (added to any given on the
    // command line), for the commands that take projections.
    if (k == "projection" && value.is_array_of_tables()) {
      bool takes = true;
      try {
        cmd->get_option("--projection");
      } catch (const CLI::OptionNotFound&) {
        takes = false;
      }
      if (!takes) {
        return Error(ErrorCode::kUnknownOption,
                     "config file " + path + ": '" + cmd->get_name() +
                         "' takes no projections ([[projection]] is for serve, verify and replay)");
      }
      for (const auto& t : *value.as_array()) {
        std::ostringstream json;
        json << toml::json_formatter{*t.as_table()};
        inserted.push_back("--projection");
        inserted.push_back(json.str());
      }
      continue;
    }
    const CLI::Option* opt = nullptr;
    try {
      opt = cmd->get_option("--" + k);
    } catch (const CLI::OptionNotFound&) {
    }
    if (!opt || k == "config") {
      return Error(ErrorCode::kUnknownOption, "config file " + path + ": unknown key '" + k +
                                                  "'; the keys are the long flag "
                                                  "names of '" +
                                                  cmd->get_name() + "' (see its --help)");
    }
    if (given.count(k)) continue;  // the command line wins
    std::string text;
    if (auto s = value.as_string()) {
      text = s->get();
    } else if (auto i = value.as_integer()) {
      text = std::to_string(i->get());
    } else if (auto f = value.as_floating_point()) {
      text = std::to_string(f->get());
    } else if (auto b = value.as_boolean()) {
      if (!b->get()) continue;
      inserted.push_back("--" + k);
      continue;
    } else {
      return Error(ErrorCode::kInvalidConfig,
                   "config file " + path + ": key '" + k + "' must be a string, number or boolean");
    }
    inserted.push_back("--" + k);
    inserted.push_back(text);
  }
  args.insert(args.begin() + static_cast<std::ptrdiff_t>(cmd_end), inserted.begin(),
              inserted.end());
  return args;
}

}  // namespace strata::cli
