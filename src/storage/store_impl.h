// StoreImpl: the Store behind the public interface. Owns the shards, the ring (sequencer,
// watermark, hot tier) and the subscriptions' bookkeeping. Internal to src/storage.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "objstore/object_store.h"
#include "storage/cold/archiver.h"
#include "storage/cold/cold_tier.h"
#include "storage/cold/wal_writer.h"
#include "storage/hot/ring.h"
#include "storage/index_streams.h"
#include "storage/local_store.h"
#include "storage/shard.h"
#include "storage/store_description.h"
#include "storage/warm/warm_shard.h"

namespace strata::storage {

// Shard 0's meta key holding the ring's durable position reservation (restore raises it too).
inline constexpr std::string_view kReservationKey = "sequencer.reserved";

class SubscriptionImpl;
// The last $all position a subscription has delivered or examined (for lag metrics).
uint64_t SubscriptionPosition(const SubscriptionImpl* s);

// A compiled AllFilter.
class FilterMatcher {
 public:
  static Result<FilterMatcher> Compile(const AllFilter& filter);
  bool Matches(std::string_view stream, std::string_view type) const;
  bool empty() const { return empty_; }

 private:
  AllFilter f_;
  std::optional<std::regex> stream_re_, type_re_;
  bool empty_ = true;
};

class StoreImpl : public LocalStore {
 public:
  static Result<std::unique_ptr<StoreImpl>> Open(const StoreOptions& options);
  ~StoreImpl() override;

  void AppendAsync(AppendRequest request, AppendCallback done) override;
  Result<DeleteResult> Delete(DeleteRequest request) override;
  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override;
  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override;
  Status ScanAll(Position from, Position to,
                 const std::function<bool(const RecordView&)>& visit) override;
  Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) override;
  Result<CheckReport> Check(const CheckOptions& options) override;
  Position Watermark() const override { return ring_->watermark(); }
  uint32_t partitions() const override { return options_.partitions; }
  StoreStats Stats() override;
  Status Close() override;
  Result<ArchiveStatus> Archive() override;
  Result<std::vector<SegmentInfo>> ListSegments() override;
  Status ArchiveAll(Deadline deadline) override;
  Result<SnapshotInfo> Snapshot(
      const std::function<void(const SnapshotProgress&)>& progress) override;

  // For subscriptions.
  hot::Ring& ring() { return *ring_; }
  bool closing() const { return closing_.load(std::memory_order_acquire); }
  bool Register(SubscriptionImpl* s);    // false once the store is closing
  void Unregister(SubscriptionImpl* s);  // called by the subscription's thread as it exits
  Result<std::optional<StreamHead>> GetHead(std::string_view stream);
  // Reads an index stream ($ce-…, $et-…); `head` (optional) gets the index state the page was
  // read from: the page holds every event of the stream at positions up to head->checkpoint.
  Result<ReadStreamResult> ReadIndexStream(const ReadStreamRequest& request,
                                           IndexStreams::Head* head = nullptr);
  IndexStreams& index_streams() { return *index_streams_; }
  const StoreOptions& options() const { return options_; }

 private:
  explicit StoreImpl(const StoreOptions& options) : options_(options) {}
  Status OpenShards();
  // OpenShards' steps, in order.
  Status PrepareNewStore();
  Status ReadDescription();
  Status OpenShard(uint32_t i, uint64_t* last);
  Status CommitNewStore();
  Status OpenRing(uint64_t last);
  Status OpenIndexStreams();
  Status OpenCold();
  // The object-store WAL: opened with the cold tier, started with the ring; before the shards
  // start, the local records a crash left out of it are written to it (CatchUpWal).
  Status OpenWal();
  Status StartWal();
  Status CatchUpWal();
  std::optional<std::string> RecordableColdUrl() const;
  void RecordColdUrl();
  Status CheckColdIdentity(uint64_t floor);
  void StartArchivers();
  Shard& ShardFor(std::string_view stream);
  Status ValidateAppend(const AppendRequest& r) const;
  void AsyncSyncLoop();

  StoreOptions options_;
  std::optional<std::string> recorded_cold_url_;  // in STRATA
  std::unique_ptr<DiskGuard> disk_;               // before the shards, which use it
  std::shared_ptr<warm::SharedResources> shared_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<hot::Ring> ring_;
  // Cold tier (empty without one). Archivers stop before the shards.
  std::shared_ptr<objstore::ObjectStore> cold_store_;
  std::unique_ptr<cold::BlockCache> block_cache_;
  std::vector<std::unique_ptr<cold::ColdShard>> cold_shards_;
  std::unique_ptr<cold::ExportSlots> export_slots_;
  std::vector<std::unique_ptr<cold::Archiver>> archivers_;
  std::unique_ptr<cold::WalWriter> wal_;  // with cold.wal; stops after the shards
  std::unique_ptr<IndexStreams> index_streams_;
  std::mutex snapshot_mu_;  // one snapshot at a time
  std::atomic<bool> closing_{false};
  bool closed_ = false;
  std::mutex close_mu_;

  std::mutex subs_mu_;
  std::condition_variable subs_cv_;
  std::set<SubscriptionImpl*> subs_;  // GUARDED_BY(subs_mu_)

  LatencyHistogram append_latency_;
  std::atomic<uint64_t> appended_events_{0}, appended_bytes_{0};

  std::thread async_sync_;
  std::mutex async_mu_;
  std::condition_variable async_cv_;
};

}  // namespace strata::storage
