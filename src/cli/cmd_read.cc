// strata read STREAM|$all: read events forwards or backwards.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "model/stream_name.h"

namespace strata::cli {
namespace {
struct ReadFlags {
  StoreFlags store;
  std::string stream;
  std::optional<uint64_t> from;
  uint64_t count = 100;
  bool backwards = false, json = false;
  std::vector<std::string> stream_prefix, type_prefix;
  std::string stream_regex, type_regex;
  bool exclude_system = false;
};

int Run(ReadFlags& f) {
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  auto print = [&](const RecordedEvent& e) {
    std::cout << (f.json ? EventToJson(e) : EventToLine(e)) << "\n";
  };
  if (f.stream == kAllStreamName) {
    ReadAllRequest req;
    req.direction = f.backwards ? Direction::kBackwards : Direction::kForwards;
    if (f.from) req.from = Position(*f.from);
    req.max_count = f.count;
    req.filter.stream_prefixes = f.stream_prefix;
    req.filter.type_prefixes = f.type_prefix;
    req.filter.stream_regex = f.stream_regex;
    req.filter.type_regex = f.type_regex;
    req.filter.exclude_system = f.exclude_system;
    auto r = store->ReadAll(req);
    if (!r) return ReportError(r.error());
    for (const auto& e : r->events) print(e);
    if (!f.json && !r->end) std::cerr << "(more: --from " << r->next.value() << ")\n";
    return 0;
  }
  ReadStreamRequest req;
  req.stream = f.stream;
  req.direction = f.backwards ? Direction::kBackwards : Direction::kForwards;
  if (f.from) req.from = Revision(*f.from);
  req.max_count = f.count;
  auto r = store->ReadStream(req);
  if (!r) return ReportError(r.error());
  for (const auto& e : r->events) print(e);
  if (!f.json && r->next) std::cerr << "(more: --from " << r->next->value() << ")\n";
  return 0;
}
}  // namespace

void RegisterRead(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<ReadFlags>();
  auto* cmd = app.add_subcommand("read", "Read a stream or $all");
  cmd->footer(
      "Examples:\n  strata read order-1\n  strata read order-1 --backwards --count 1\n"
      "  strata read '$all' --type-prefix Order --json");
  f->store.Register(cmd);
  cmd->add_option("stream", f->stream, "Stream name, or $all for the global log")->required();
  cmd->add_option("--from", f->from,
                  "First revision (stream) or position ($all) to read, inclusive");
  cmd->add_option("--count", f->count, "Events to read at most")->capture_default_str();
  cmd->add_flag("--backwards", f->backwards, "Read from the end towards the start");
  cmd->add_flag("--json", f->json, "One JSON object per line");
  cmd->add_option("--stream-prefix", f->stream_prefix,
                  "$all only: stream name prefix (repeatable)");
  cmd->add_option("--type-prefix", f->type_prefix, "$all only: event type prefix (repeatable)");
  cmd->add_option("--stream-regex", f->stream_regex, "$all only: stream name regex");
  cmd->add_option("--type-regex", f->type_regex, "$all only: event type regex");
  cmd->add_flag("--exclude-system", f->exclude_system, "$all only: skip $-prefixed event types");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
