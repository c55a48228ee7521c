// Conversions between the strata.v1.Admin messages (proto/admin.proto) and the operator DTOs of
// StoreOperations (storage/operations.h, storage/check.h): the one mapping, used by the server
// (server/grpc/admin_service.cc, struct → proto) and the client (client/remote_store.cc,
// proto → struct). Every field a message carries is mapped both ways; FromProto(ToProto(x))
// gives back x apart from what the message does not carry, listed at each pair.
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "admin.pb.h"
#include "base/error.h"
#include "storage/check.h"
#include "storage/operations.h"

namespace strata::wire {

// Engine figures. ToProto fills every field but the ones only the server knows (version,
// data_dir, uptime_seconds), which the service sets after it; it writes the constant bucket
// bounds (LatencyHistogram::kBoundsUs) next to the counts.
// `writable` travels as write_error: empty while appends are accepted (the error of a writable
// store is not sent); append_latency.count comes back as the sum of the counts.
void ToProto(const StoreStats& s, strata::v1::Stats* out);
StoreStats FromProto(const strata::v1::Stats& s);
void ToProto(const ShardStats& s, strata::v1::ShardStats* out);
ShardStats FromProto(const strata::v1::ShardStats& s);

// The cold tier's archivers (GetArchive).
void ToProto(const ArchiveStatus& a, strata::v1::Archive* out);
ArchiveStatus FromProto(const strata::v1::Archive& a);
void ToProto(const ArchiveShardStatus& s, strata::v1::ArchiveShard* out);
ArchiveShardStatus FromProto(const strata::v1::ArchiveShard& s);

// The archived segments (ListSegments).
void ToProto(const std::vector<SegmentInfo>& segments, strata::v1::Segments* out);
std::vector<SegmentInfo> FromProto(const strata::v1::Segments& segments);
void ToProto(const SegmentInfo& s, strata::v1::Segment* out);
SegmentInfo FromProto(const strata::v1::Segment& s);

// A committed snapshot (Snapshot).
void ToProto(const SnapshotInfo& s, strata::v1::SnapshotResult* out);
SnapshotInfo FromProto(const strata::v1::SnapshotResult& s);

// The check report (Check) travels as its JSON (CheckReport::ToJson, FromJson); kInternal when
// the server's JSON is not a report.
void ToProto(const CheckReport& r, strata::v1::CheckResponse* out);
Result<CheckReport> FromProto(const strata::v1::CheckResponse& r);

}  // namespace strata::wire
