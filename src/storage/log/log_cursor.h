// LogCursor: a shard's log in position order, whichever tier holds it. The warm tier (RocksDB's
// events column family), the cold tier (archived segments) and the shard's tiered view over both
// implement it; readers, the archiver and snapshots iterate through it without knowing the tier.
// Thread-safety: one thread per cursor.
#pragma once

#include <string_view>

#include "base/error.h"
#include "model/types.h"

namespace strata::storage {

class LogCursor {
 public:
  virtual ~LogCursor() = default;
  virtual void Seek(Position p) = 0;         // first record at or after p
  virtual void SeekForPrev(Position p) = 0;  // last record at or before p
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual Position position() const = 0;
  virtual std::string_view record() const = 0;  // valid until the cursor moves
  virtual Status status() const = 0;
};

}  // namespace strata::storage
