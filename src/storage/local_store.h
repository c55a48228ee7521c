// LocalStore: the node-local store, embeddable without any server (libstrata): the event API
// (store.h) and the operations (operations.h) of the store in one data directory, plus what
// only a local store can do without copying. StoreImpl (store_impl.h) is the implementation.
//
//   auto store = LocalStore::Open(options);   // recovers everything on open
//   if (!store) return store.error();
//   (*store)->Append(…);  (*store)->Stats();  (*store)->ScanAll(…);
#pragma once

#include <functional>
#include <memory>

#include "storage/operations.h"
#include "storage/options.h"
#include "storage/store.h"

namespace strata {

class LocalStore : public Store, public StoreOperations {
 public:
  // Opens (recovering everything) or, with options.create_if_missing, creates the store.
  static Result<std::unique_ptr<LocalStore>> Open(const StoreOptions& options);

  // The store's partitions (fixed when it was created; model/partition.h).
  virtual uint32_t partitions() const = 0;

  // Visits $all records in [from, to) ∩ [.., watermark) in position order without copying;
  // stops early when `visit` returns false. For scans, replays and verification.
  virtual Status ScanAll(Position from, Position to,
                         const std::function<bool(const RecordView&)>& visit) = 0;
};

}  // namespace strata
