#include "wire/admin.h"

namespace strata::wire {

// ---- engine figures

void ToProto(const ShardStats& s, strata::v1::ShardStats* out) {
  out->set_shard(s.shard);
  out->set_events(s.events);
  out->set_bytes(s.bytes);
  out->set_streams(s.streams);
  out->set_last_position(s.last_position.value());
  out->set_indexed_upto(s.indexed_upto.value());
  out->set_index_runs(s.index_runs);
  out->set_index_entries(s.index_entries);
  out->set_unindexed_events(s.unindexed_events);
  out->set_group_commits(s.groups);
  out->set_fsyncs(s.fsyncs);
  out->set_appends(s.appends);
  out->set_queue_depth(s.queue_depth);
  out->set_memtable_bytes(s.memtable_bytes);
  out->set_compaction_pending_bytes(s.compaction_pending_bytes);
  out->set_running_compactions(s.running_compactions);
  out->set_write_stall_micros(s.write_stall_micros);
  out->set_write_stopped(s.write_stopped);
}

ShardStats FromProto(const strata::v1::ShardStats& s) {
  ShardStats o;
  o.shard = s.shard();
  o.events = s.events();
  o.bytes = s.bytes();
  o.streams = s.streams();
  o.last_position = Position(s.last_position());
  o.indexed_upto = Position(s.indexed_upto());
  o.index_runs = s.index_runs();
  o.index_entries = s.index_entries();
  o.unindexed_events = s.unindexed_events();
  o.groups = s.group_commits();
  o.fsyncs = s.fsyncs();
  o.appends = s.appends();
  o.queue_depth = s.queue_depth();
  o.memtable_bytes = s.memtable_bytes();
  o.compaction_pending_bytes = s.compaction_pending_bytes();
  o.running_compactions = s.running_compactions();
  o.write_stall_micros = s.write_stall_micros();
  o.write_stopped = s.write_stopped();
  return o;
}

void ToProto(const StoreStats& s, strata::v1::Stats* out) {
  out->set_watermark(s.watermark.value());
  out->set_appended_events(s.appended_events);
  out->set_appended_bytes(s.appended_bytes);
  out->clear_append_latency_bounds_us();
  for (uint64_t b : LatencyHistogram::kBoundsUs) out->add_append_latency_bounds_us(b);
  out->clear_append_latency_counts();
  for (uint64_t c : s.append_latency.counts) out->add_append_latency_counts(c);
  out->set_append_latency_sum_us(s.append_latency.sum_us);
  out->set_subscriptions(s.subscriptions);
  out->set_subscription_lag_max(s.subscription_lag_max);
  out->set_ring_hits(s.ring_hits);
  out->set_ring_misses(s.ring_misses);
  out->set_write_error(s.writable ? "" : s.write_error);
  out->set_disk_free_bytes(s.disk_free_bytes);
  out->set_disk_total_bytes(s.disk_total_bytes);
  out->set_disk_reserve_bytes(s.disk_reserve_bytes);
  out->set_disk_full_refusals(s.disk_full_refusals);
  out->set_ring_bytes(s.ring_bytes);
  out->set_subscription_lag_sum(s.subscription_lag_sum);
  out->set_index_streams_position(s.index_streams_position.value());
  out->set_index_streams(s.index_streams);
  out->set_index_streams_unflushed(s.index_streams_unflushed);
  out->set_index_streams_failed(s.index_streams_failed);
  out->clear_shards();
  for (const ShardStats& sh : s.shards) ToProto(sh, out->add_shards());
}

StoreStats FromProto(const strata::v1::Stats& s) {
  StoreStats out;
  out.watermark = Position(s.watermark());
  out.appended_events = s.appended_events();
  out.appended_bytes = s.appended_bytes();
  // The buckets are LatencyHistogram's; a newer server's extra ones are dropped.
  for (int i = 0;
       i < s.append_latency_counts_size() && i < static_cast<int>(LatencyHistogram::kBuckets);
       ++i) {
    out.append_latency.counts[i] = s.append_latency_counts(i);
    out.append_latency.count += s.append_latency_counts(i);
  }
  out.append_latency.sum_us = s.append_latency_sum_us();
  out.subscriptions = s.subscriptions();
  out.subscription_lag_max = s.subscription_lag_max();
  out.ring_hits = s.ring_hits();
  out.ring_misses = s.ring_misses();
  out.writable = s.write_error().empty();
  out.write_error = s.write_error();
  out.disk_free_bytes = s.disk_free_bytes();
  out.disk_total_bytes = s.disk_total_bytes();
  out.disk_reserve_bytes = s.disk_reserve_bytes();
  out.disk_full_refusals = s.disk_full_refusals();
  out.ring_bytes = s.ring_bytes();
  out.subscription_lag_sum = s.subscription_lag_sum();
  out.index_streams_position = Position(s.index_streams_position());
  out.index_streams = s.index_streams();
  out.index_streams_unflushed = s.index_streams_unflushed();
  out.index_streams_failed = s.index_streams_failed();
  out.shards.reserve(s.shards_size());
  for (const auto& sh : s.shards()) out.shards.push_back(FromProto(sh));
  return out;
}

// ---- the cold tier

void ToProto(const ArchiveShardStatus& s, strata::v1::ArchiveShard* out) {
  out->set_shard(s.shard);
  out->set_segments(s.segments);
  out->set_archived_upto(s.archived_upto.value());
  out->set_warm_floor(s.warm_floor.value());
  out->set_backlog_bytes(s.backlog_bytes);
  out->set_backlog_age_us(s.backlog_age_us);
  out->set_uploaded_segments(s.uploaded_segments);
  out->set_uploaded_bytes(s.uploaded_bytes);
  out->set_upload_seconds(s.upload_seconds);
  out->set_errors(s.errors);
  out->set_last_error(s.last_error);
}

ArchiveShardStatus FromProto(const strata::v1::ArchiveShard& s) {
  ArchiveShardStatus o;
  o.shard = s.shard();
  o.segments = s.segments();
  o.archived_upto = Position(s.archived_upto());
  o.warm_floor = Position(s.warm_floor());
  o.backlog_bytes = s.backlog_bytes();
  o.backlog_age_us = s.backlog_age_us();
  o.uploaded_segments = s.uploaded_segments();
  o.uploaded_bytes = s.uploaded_bytes();
  o.upload_seconds = s.upload_seconds();
  o.errors = s.errors();
  o.last_error = s.last_error();
  return o;
}

void ToProto(const ArchiveStatus& a, strata::v1::Archive* out) {
  out->set_enabled(a.enabled);
  out->set_url(a.url);
  out->set_cold_reads(a.cold_reads);
  out->set_cache_hits(a.cache_hits);
  out->set_cache_misses(a.cache_misses);
  out->set_cache_bytes(a.cache_bytes);
  out->clear_shards();
  for (const auto& s : a.shards) ToProto(s, out->add_shards());
}

ArchiveStatus FromProto(const strata::v1::Archive& a) {
  ArchiveStatus out;
  out.enabled = a.enabled();
  out.url = a.url();
  out.cold_reads = a.cold_reads();
  out.cache_hits = a.cache_hits();
  out.cache_misses = a.cache_misses();
  out.cache_bytes = a.cache_bytes();
  out.shards.reserve(a.shards_size());
  for (const auto& s : a.shards()) out.shards.push_back(FromProto(s));
  return out;
}

void ToProto(const SegmentInfo& s, strata::v1::Segment* out) {
  out->set_shard(s.shard);
  out->set_segment_id(s.segment_id);
  out->set_first_position(s.first_position.value());
  out->set_last_position(s.last_position.value());
  out->set_min_source_ts(s.min_source_ts);
  out->set_max_source_ts(s.max_source_ts);
  out->set_max_recorded_ts(s.max_recorded_ts);
  out->set_events(s.events);
  out->set_bytes(s.bytes);
  out->set_key(s.key);
}

SegmentInfo FromProto(const strata::v1::Segment& s) {
  SegmentInfo o;
  o.shard = s.shard();
  o.segment_id = s.segment_id();
  o.first_position = Position(s.first_position());
  o.last_position = Position(s.last_position());
  o.min_source_ts = s.min_source_ts();
  o.max_source_ts = s.max_source_ts();
  o.max_recorded_ts = s.max_recorded_ts();
  o.events = s.events();
  o.bytes = s.bytes();
  o.key = s.key();
  return o;
}

void ToProto(const std::vector<SegmentInfo>& segments, strata::v1::Segments* out) {
  out->clear_segments();
  out->mutable_segments()->Reserve(static_cast<int>(segments.size()));
  for (const auto& s : segments) ToProto(s, out->add_segments());
}

std::vector<SegmentInfo> FromProto(const strata::v1::Segments& segments) {
  std::vector<SegmentInfo> out;
  out.reserve(segments.segments_size());
  for (const auto& s : segments.segments()) out.push_back(FromProto(s));
  return out;
}

// ---- snapshots and the check

void ToProto(const SnapshotInfo& s, strata::v1::SnapshotResult* out) {
  out->set_id(s.id);
  out->set_bytes(s.bytes);
  out->set_files(s.files);
  out->set_reused_files(s.reused_files);
  out->set_seconds(s.seconds);
}

SnapshotInfo FromProto(const strata::v1::SnapshotResult& s) {
  SnapshotInfo o;
  o.id = s.id();
  o.bytes = s.bytes();
  o.files = s.files();
  o.reused_files = s.reused_files();
  o.seconds = s.seconds();
  return o;
}

void ToProto(const CheckReport& r, strata::v1::CheckResponse* out) { out->set_json(r.ToJson()); }

Result<CheckReport> FromProto(const strata::v1::CheckResponse& r) {
  return CheckReport::FromJson(r.json());
}

}  // namespace strata::wire
