// ExpectedRevision: the optimistic-concurrency condition of an append or delete.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "model/types.h"

namespace strata {

class ExpectedRevision {
 public:
  enum class Kind : uint8_t { kAny, kNoStream, kStreamExists, kExact };

  static ExpectedRevision Any() { return ExpectedRevision(Kind::kAny, 0); }
  static ExpectedRevision NoStream() { return ExpectedRevision(Kind::kNoStream, 0); }
  static ExpectedRevision StreamExists() { return ExpectedRevision(Kind::kStreamExists, 0); }
  static ExpectedRevision Exact(Revision r) { return ExpectedRevision(Kind::kExact, r.value()); }
  // "any", "no_stream", "stream_exists" or a revision number; anything else is
  // kInvalidExpectedRevision with the accepted forms in the message.
  static Result<ExpectedRevision> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  Revision revision() const { return Revision(revision_); }  // only for kExact
  std::string ToString() const;

 private:
  ExpectedRevision(Kind k, uint64_t r) : kind_(k), revision_(r) {}
  Kind kind_;
  uint64_t revision_;
};

}  // namespace strata
