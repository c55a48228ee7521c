#include "cli/config_file.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

namespace strata::cli {

namespace {

// The subcommand the arguments name (`app` itself if none) and where its own arguments start.
struct Command {
  const CLI::App* cmd;
  size_t args_from;
};
Command FindCommand(const CLI::App& app, const std::vector<std::string>& args) {
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
  return {cmd, cmd_end};
}

// The long flags given from `from` on, and the first --config among them: its path (empty if
// none), and the arguments it takes (at, len; len 0: none).
struct GivenFlags {
  std::set<std::string> names;
  std::string config_path;
  size_t config_at = 0, config_len = 0;
};
GivenFlags FindGivenFlags(const std::vector<std::string>& args, size_t from) {
  GivenFlags g;
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    g.names.insert(name);
    if (name == "config" && g.config_len == 0) {
      g.config_at = i;
      if (eq != std::string::npos) {
        g.config_path = a.substr(eq + 1);
        g.config_len = 1;
      } else if (i + 1 < args.size()) {
        g.config_path = args[i + 1];
        g.config_len = 2;
      }
    }
  }
  return g;
}

Result<toml::table> ParseConfigFile(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Error(ErrorCode::kInvalidConfig,
                 "config file " + path + " is not valid TOML: " + std::string(e.description()) +
                     " (line " + std::to_string(e.source().begin.line) + ")");
  }
}

// [[projection]] tables: each becomes --projection <its JSON> (added to any given on the command
// line), for the commands that take projections.
Status AddProjections(const CLI::App& cmd, const std::string& path, const toml::node& value,
                      std::vector<std::string>& inserted) {
  bool takes = true;
  try {
    cmd.get_option("--projection");
  } catch (const CLI::OptionNotFound&) {
    takes = false;
  }
  if (!takes) {
    return Error(ErrorCode::kUnknownOption,
                 "config file " + path + ": '" + cmd.get_name() +
                     "' takes no projections ([[projection]] is for serve, verify and replay)");
  }
  for (const auto& t : *value.as_array()) {
    std::ostringstream json;
    json << toml::json_formatter{*t.as_table()};
    inserted.push_back("--projection");
    inserted.push_back(json.str());
  }
  return OkStatus();
}

// Key `k` as flags: --k VALUE, or --k alone for true (nothing for false); nothing when the
// command line gave the flag. An error for a key that is not a long flag of `cmd`.
Status AddFlag(const CLI::App& cmd, const std::string& path, const std::string& k,
               const toml::node& value, const std::set<std::string>& given,
               std::vector<std::string>& inserted) {
  const CLI::Option* opt = nullptr;
  try {
    opt = cmd.get_option("--" + k);
  } catch (const CLI::OptionNotFound&) {
  }
  if (!opt || k == "config") {
    return Error(ErrorCode::kUnknownOption, "config file " + path + ": unknown key '" + k +
                                                "'; the keys are the long flag "
                                                "names of '" +
                                                cmd.get_name() + "' (see its --help)");
  }
  if (given.count(k)) return OkStatus();  // the command line wins
  std::string text;
  if (auto s = value.as_string()) {
    text = s->get();
  } else if (auto i = value.as_integer()) {
    text = std::to_string(i->get());
  } else if (auto f = value.as_floating_point()) {
    text = std::to_string(f->get());
  } else if (auto b = value.as_boolean()) {
    if (b->get()) inserted.push_back("--" + k);
    return OkStatus();
  } else {
    return Error(ErrorCode::kInvalidConfig,
                 "config file " + path + ": key '" + k + "' must be a string, number or boolean");
  }
  inserted.push_back("--" + k);
  inserted.push_back(text);
  return OkStatus();
}

}  // namespace

Result<std::vector<std::string>> ExpandConfigFile(const CLI::App& app,
                                                  std::vector<std::string> args) {
  const Command command = FindCommand(app, args);
  const GivenFlags given = FindGivenFlags(args, command.args_from);
  if (given.config_len) {
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(given.config_at),
               args.begin() + static_cast<std::ptrdiff_t>(given.config_at + given.config_len));
  }
  const std::string& path = given.config_path;
  if (path.empty()) return args;
  auto table = ParseConfigFile(path);
  if (!table) return table.error();
  std::vector<std::string> inserted;
  for (const auto& [key, value] : *table) {
    std::string k(key.str());
    if (k == "projection" && value.is_array_of_tables()) {
      STRATA_TRY(AddProjections(*command.cmd, path, value, inserted));
    } else {
      STRATA_TRY(AddFlag(*command.cmd, path, k, value, given.names, inserted));
    }
  }
  args.insert(args.begin() + static_cast<std::ptrdiff_t>(command.args_from), inserted.begin(),
              inserted.end());
  return args;
}

}  // namespace strata::cli
