// strata tail STREAM|$all: subscribe and print events as they arrive (catch-up, then live).
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "model/stream_name.h"

namespace strata::cli {
namespace {
std::atomic<bool> g_interrupted{false};

struct TailFlags {
  StoreFlags store;
  std::string stream;
  std::optional<uint64_t> after;
  bool from_start = false, json = false;
  uint64_t count = 0;
  std::vector<std::string> stream_prefix, type_prefix;
};

class PrintHandler : public SubscriptionHandler {
 public:
  PrintHandler(bool json, uint64_t limit) : json_(json), limit_(limit) {}
  bool OnEvent(const RecordedEvent& e) override {
    std::cout << (json_ ? EventToJson(e) : EventToLine(e)) << "\n" << std::flush;
    return limit_ == 0 || ++seen_ < limit_;
  }
  void OnCaughtUp() override {
    if (!json_) std::cerr << "-- caught up; following live events (Ctrl-C to stop)\n";
  }
  void OnStop(const Error* e) override {
    if (e) error_ = *e;
    std::lock_guard l(mu_);
    stopped_ = true;
  }
  bool stopped() {
    std::lock_guard l(mu_);
    return stopped_;
  }
  std::optional<Error> error_;

 private:
  bool json_;
  uint64_t limit_, seen_ = 0;
  std::mutex mu_;
  bool stopped_ = false;
};

int Run(TailFlags& f) {
  auto store = OpenStoreOrReport(f.store, true);
  if (!store) return 1;
  SubscribeRequest req;
  req.all = f.stream == kAllStreamName;
  req.stream = f.stream;
  req.from_end = !f.from_start && !f.after;
  if (f.after) {
    if (req.all)
      req.after_position = Position(*f.after);
    else
      req.after_revision = Revision(*f.after);
  }
  req.filter.stream_prefixes = f.stream_prefix;
  req.filter.type_prefixes = f.type_prefix;
  auto handler = std::make_shared<PrintHandler>(f.json, f.count);
  auto sub = store->Subscribe(req, handler);
  if (!sub) return ReportError(sub.error());
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });
  while (!g_interrupted && !handler->stopped()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*sub)->Cancel();
  sub->reset();
  if (handler->error_) return ReportError(*handler->error_);
  return 0;
}
}  // namespace

void RegisterTail(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<TailFlags>();
  auto* cmd =
      app.add_subcommand("tail", "Subscribe to a stream or $all and print events as they arrive");
  cmd->footer(
      "A data directory is locked by the process that has it open; follow a store that a\n"
      "server owns with --server HOST:PORT. Examples:\n"
      "  strata tail '$all' --from-start\n  strata tail order-1 --after 4\n"
      "  strata tail '$all' --server 127.0.0.1:2113");
  f->store.Register(cmd);
  cmd->add_option("stream", f->stream, "Stream name, or $all")->required();
  cmd->add_flag("--from-start", f->from_start, "Deliver history first (default: only new events)");
  cmd->add_option("--after", f->after, "Deliver after this revision (stream) or position ($all)");
  cmd->add_option("--count", f->count, "Stop after this many events (0: never)");
  cmd->add_flag("--json", f->json, "One JSON object per line");
  cmd->add_option("--stream-prefix", f->stream_prefix, "$all only: stream name prefix");
  cmd->add_option("--type-prefix", f->type_prefix, "$all only: event type prefix");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
