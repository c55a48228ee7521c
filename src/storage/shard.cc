// Shard: construction, start and stop. The writer is ShardWriter (shard_writer.cc), the indexer
// ShardIndexer (shard_indexer.cc); recovery and the warm floor are in shard_log.cc, reads and
// stats in shard_read.cc.
#include "storage/shard.h"

namespace strata::storage {

Shard::Shard(ShardId id, const StoreOptions& options, std::unique_ptr<warm::WarmShard> warm,
             std::string index_dir, DiskGuard* disk)
    : id_(id),
      options_(options),
      warm_(std::move(warm)),
      writer_(id, options_, warm_.get(), &indexer_, disk),
      indexer_(id, options_, warm_.get(), std::move(index_dir), disk, writer_.indexer_owner()) {}

Shard::~Shard() { Stop(); }

void Shard::Start(hot::Ring* ring) {
  started_ = true;
  writer_.Start(ring);
  indexer_.Start();
}

void Shard::Stop() {
  if (!started_) return;
  // The writer first: it completes every queued op and hands its last group to the indexer,
  // which indexes and flushes it before it stops.
  writer_.Stop();
  indexer_.Stop();
  started_ = false;
}

}  // namespace strata::storage
