// The ack log (format in stress.h): its writer, through the file seam unbuffered, and its reader.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "env/file.h"
#include "tools/stress/stress.h"

namespace strata::stress {

Result<std::unique_ptr<AckLogWriter>> AckLogWriter::Open(const std::string& path, OnStop on_stop) {
  // buffer_bytes 0: one write(2) per line, so a line survives a SIGKILL right after Write.
  auto file = env::WritableFile::Open(path, env::WritableFile::Mode::kAppend, /*buffer_bytes=*/0);
  if (!file) return file.error();
  return std::unique_ptr<AckLogWriter>(new AckLogWriter(std::move(*file), std::move(on_stop)));
}

AckLogWriter::AckLogWriter(std::unique_ptr<env::WritableFile> file, OnStop on_stop)
    : file_(std::move(file)), on_stop_(std::move(on_stop)) {}

AckLogWriter::~AckLogWriter() = default;

void AckLogWriter::Write(const std::string& line) {
  std::lock_guard lock(mu_);
  if (auto st = file_->Append(line); !st && !failed_) {
    failed_ = true;  // later acks go unchecked; say so once
    if (on_stop_) on_stop_(st.error());
  }
}

void AckLogWriter::Appended(const std::string& stream, const AppendResult& r,
                            const std::vector<EventData>& events) {
  std::string ids;
  for (size_t i = 0; i < events.size(); ++i) {
    if (i) ids += ',';
    ids += events[i].event_id.ToString();
  }
  Write(fmt::format("A {} {} {} {} {} {}\n", stream, r.first_revision.value(),
                    r.first_position.value(), r.last_position.value(), r.count, ids));
}

void AckLogWriter::Deleted(const std::string& stream, Position position, bool tombstone) {
  Write(fmt::format("{} {} {}\n", tombstone ? 'T' : 'S', stream, position.value()));
}

namespace {

// One "A" line: its events, at consecutive revisions, and at positions evenly spaced from the
// first to the last (consecutive, or one clock tick apart: hot/hot_options.h).
void ReadAppendLine(std::istringstream& line, const std::string& stream, AckLog* log) {
  uint64_t rev, pos, last, n;
  std::string ids;
  line >> rev >> pos >> last >> n >> ids;
  if (!line || n == 0 || last < pos) return;  // a torn last line
  const uint64_t step = n > 1 ? (last - pos) / (n - 1) : 1;
  std::istringstream is(ids);
  std::string id;
  for (uint64_t i = 0; std::getline(is, id, ','); ++i) {
    auto u = Uuid::Parse(id);
    if (!u) continue;
    AckedEvent e{stream, rev + i, pos + i * step};
    auto [it, inserted] = log->events.emplace(*u, e);
    if (!inserted && (it->second.position != e.position || it->second.revision != e.revision) &&
        log->problems.size() < kMaxProblems) {
      log->problems.push_back(fmt::format("event {} acknowledged twice with different places", id));
    }
  }
  ++log->append_lines;
}

}  // namespace

AckLog ReadAckLog(const std::string& path) {
  AckLog log;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    std::istringstream line(text);
    std::string kind, stream;
    line >> kind >> stream;
    if (kind == "A") {
      ReadAppendLine(line, stream, &log);
    } else if (kind == "T") {
      log.tombstoned.insert(stream);
    }
  }
  return log;
}

bool NoStoreAndNothingAcknowledged(const AckLog& log, const std::string& data_dir) {
  return log.events.empty() && log.tombstoned.empty() &&
         !std::filesystem::exists(std::filesystem::path(data_dir) / "STRATA");
}

}  // namespace strata::stress
