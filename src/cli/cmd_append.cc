// strata append STREAM: append one event from flags, or many from JSON lines on stdin.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace strata::cli {
namespace {
struct AppendFlags {
  StoreFlags store;
  std::string stream, type = "Event", data, metadata, id, expected = "any";
  std::string content_type = "application/json";
  bool from_stdin = false;
};

Result<EventData> EventFromJsonLine(const std::string& line, size_t n) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error(ErrorCode::kInvalidArgument,
                 "line " + std::to_string(n) +
                     " is not a JSON object; write {\"type\": \"T\", \"data\": {...}}");
  }
  EventData e;
  e.type = j.value("type", "");
  if (j.contains("id")) {
    auto id = Uuid::Parse(j["id"].get<std::string>());
    if (!id) return id.error();
    e.event_id = *id;
  } else {
    e.event_id = Uuid::Random();
  }
  if (j.contains("data"))
    e.data = j["data"].is_string() ? j["data"].get<std::string>() : j["data"].dump();
  if (j.contains("metadata")) {
    e.metadata =
        j["metadata"].is_string() ? j["metadata"].get<std::string>() : j["metadata"].dump();
  }
  e.content_type = j.value("content_type", "application/json");
  return e;
}

int Run(const AppendFlags& f) {
  auto expected = ExpectedRevision::Parse(f.expected);
  if (!expected) return ReportError(expected.error());
  AppendRequest req;
  req.stream = f.stream;
  req.expected = *expected;
  if (f.from_stdin) {
    std::string line;
    size_t n = 0;
    while (std::getline(std::cin, line)) {
      ++n;
      if (line.empty()) continue;
      auto e = EventFromJsonLine(line, n);
      if (!e) return ReportError(e.error());
      req.events.push_back(std::move(*e));
    }
  } else {
    EventData e;
    e.type = f.type;
    e.data = f.data;
    e.metadata = f.metadata;
    e.content_type = f.content_type;
    if (!f.id.empty()) {
      auto id = Uuid::Parse(f.id);
      if (!id) return ReportError(id.error());
      e.event_id = *id;
    } else {
      e.event_id = Uuid::Random();
    }
    req.events.push_back(std::move(e));
  }
  auto store = OpenStoreOrReport(f.store, true);
  if (!store) return 1;
  auto r = store->Append(std::move(req));
  if (!r) return ReportError(r.error());
  if (r->count == 0) {
    std::cout << "nothing appended; stream revision " << r->last_revision.value() << "\n";
  } else {
    std::cout << (r->deduplicated ? "already appended (idempotent retry): " : "appended: ")
              << f.stream << " revisions " << r->first_revision.value() << ".."
              << r->last_revision.value() << ", positions " << r->first_position.value() << ".."
              << r->last_position.value() << "\n";
  }
  return 0;
}
}  // namespace

void RegisterAppend(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<AppendFlags>();
  auto* cmd = app.add_subcommand("append", "Append events to a stream");
  cmd->footer(
      "Examples:\n"
      "  strata append order-1 --type OrderPlaced --payload '{\"total\": 12}' --expected "
      "no_stream\n"
      "  printf '{\"type\":\"A\",\"data\":{}}\\n' | strata append order-1 --stdin");
  f->store.Register(cmd);
  cmd->add_option("stream", f->stream, "Stream name")->required();
  cmd->add_option("--type", f->type, "Event type")->capture_default_str();
  cmd->add_option("--payload", f->data, "Event data (JSON by default)");
  cmd->add_option("--metadata", f->metadata, "Event metadata");
  cmd->add_option("--content-type", f->content_type, "Content type of data")->capture_default_str();
  cmd->add_option("--id", f->id, "Event id (UUID); random if omitted. Reuse it to retry safely");
  cmd->add_option("--expected", f->expected,
                  "Expected revision: any, no_stream, stream_exists or a number")
      ->capture_default_str();
  cmd->add_flag("--stdin", f->from_stdin,
                "Read events as JSON lines {\"type\",\"data\",\"id\"?,\"metadata\"?} from stdin; "
                "they are appended atomically");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
