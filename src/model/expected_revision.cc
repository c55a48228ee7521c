#include "model/expected_revision.h"

#include <charconv>

namespace strata {

Result<ExpectedRevision> ExpectedRevision::Parse(std::string_view text) {
  if (text == "any") return Any();
  if (text == "no_stream" || text == "no-stream") return NoStream();
  if (text == "stream_exists" || text == "stream-exists") return StreamExists();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size() && !text.empty() &&
      v < kTombstoneRevision) {
    return Exact(Revision(v));
  }
  return Error(ErrorCode::kInvalidExpectedRevision,
               "expected revision '" + std::string(text.substr(0, 40)) +
                   "' is not valid; use any, no_stream, stream_exists or a revision number "
                   "(0 for a stream with one event)");
}

std::string ExpectedRevision::ToString() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no_stream";
    case Kind::kStreamExists:
      return "stream_exists";
    case Kind::kExact:
      return std::to_string(revision_);
  }
  return "?";
}

}  // namespace strata
