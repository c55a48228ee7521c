// Bad input on the wire, against a real `strata serve`: each gets the status and trailers the
// official clients decode, and the server keeps serving without losing acknowledged events.
// At the end, without a server: the admin mapping (wire/admin.h) round-trips every field.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "admin.grpc.pb.h"
#include "serve_fixture.h"
#include "streams.grpc.pb.h"
#include "wire/admin.h"

namespace {
namespace pb = event_store::client::streams;
using strata::testing::Server;

std::string Trailer(const grpc::ClientContext& ctx, const std::string& key) {
  auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

pb::AppendReq Options(const std::string& stream) {
  pb::AppendReq r;
  r.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
  r.mutable_options()->mutable_any();
  return r;
}

pb::AppendReq Event(bool with_type = true, size_t data_bytes = 2) {
  pb::AppendReq r;
  auto* pm = r.mutable_proposed_message();
  char id[37];
  static int n = 0;
  std::snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", ++n);
  pm->mutable_id()->set_string(id);
  if (with_type) (*pm->mutable_metadata())["type"] = "T";
  (*pm->mutable_metadata())["content-type"] = "application/json";
  pm->set_data(std::string(data_bytes, 'x'));
  return r;
}

grpc::Status Append(pb::Streams::Stub& stub, const std::vector<pb::AppendReq>& msgs,
                    pb::AppendResp* resp, grpc::ClientContext* ctx) {
  auto writer = stub.Append(ctx, resp);
  for (const auto& m : msgs) writer->Write(m);
  writer->WritesDone();
  return writer->Finish();
}

uint64_t CountEvents(pb::Streams::Stub& stub, const std::string& stream) {
  grpc::ClientContext ctx;
  pb::ReadReq req;
  auto* o = req.mutable_options();
  o->mutable_stream()->mutable_stream_identifier()->set_stream_name(stream);
  o->mutable_stream()->mutable_start();
  o->set_count(100000);
  o->mutable_no_filter();
  o->mutable_uuid_option()->mutable_string();
  auto reader = stub.Read(&ctx, req);
  pb::ReadResp resp;
  uint64_t n = 0;
  while (reader->Read(&resp)) n += resp.has_event();
  reader->Finish();
  return n;
}

class Wire : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 0) << "strata serve did not start";
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(80 << 20);
    channel_ =
        grpc::CreateCustomChannel(server_.target(), grpc::InsecureChannelCredentials(), args);
    stub_ = pb::Streams::NewStub(channel_);
  }
  Server server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Streams::Stub> stub_;
};

TEST_F(Wire, MissingTypeIsInvalidArgumentWithTheClientsTrailer) {
  grpc::ClientContext ctx;
  pb::AppendResp resp;
  auto st = Append(*stub_, {Options("w-1"), Event(false)}, &resp, &ctx);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Trailer(ctx, "exception"), "missing-required-metadata-property");
  EXPECT_EQ(CountEvents(*stub_, "w-1"), 0u);
}

TEST_F(Wire, OversizeAppendIsRefusedWithMaximumAppendSizeExceeded) {
  grpc::ClientContext ctx;
  pb::AppendResp resp;
  auto st = Append(*stub_, {Options("w-big"), Event(true, (16u << 20) + 1)}, &resp, &ctx);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Trailer(ctx, "exception"), "maximum-append-size-exceeded");
}

TEST_F(Wire, WrongExpectedVersionOnDeleteCarriesTheTrailers) {
  grpc::ClientContext a;
  pb::AppendResp resp;
  ASSERT_TRUE(Append(*stub_, {Options("w-del"), Event()}, &resp, &a).ok());
  grpc::ClientContext ctx;
  pb::DeleteReq req;
  req.mutable_options()->mutable_stream_identifier()->set_stream_name("w-del");
  req.mutable_options()->set_revision(7);
  pb::DeleteResp dresp;
  auto st = stub_->Delete(&ctx, req, &dresp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Trailer(ctx, "exception"), "wrong-expected-version");
  EXPECT_EQ(Trailer(ctx, "stream-name"), "w-del");
  EXPECT_EQ(Trailer(ctx, "actual-version"), "0");
  EXPECT_EQ(Trailer(ctx, "expected-version"), "7");
}

TEST_F(Wire, MalformedProtobufIsRejectedAndTheServerKeepsServing) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::Slice garbage(std::string("\xff\xff\xff\xff\x0f\x12\x99", 7));
  grpc::ByteBuffer request(&garbage, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status st;
  generic.UnaryCall(&ctx, "/event_store.client.streams.Streams/Delete", grpc::StubOptions(),
                    &request, &response, [&](grpc::Status s) {
                      std::lock_guard l(mu);
                      st = s;
                      done = true;
                      cv.notify_all();
                    });
  std::unique_lock l(mu);
  cv.wait_for(l, std::chrono::seconds(10), [&] { return done; });
  ASSERT_TRUE(done);
  EXPECT_FALSE(st.ok());
  grpc::ClientContext a;
  pb::AppendResp resp;
  EXPECT_TRUE(Append(*stub_, {Options("w-after"), Event()}, &resp, &a).ok());
  EXPECT_EQ(CountEvents(*stub_, "w-after"), 1u);
}

TEST_F(Wire, UnknownFieldsAreIgnored) {
  pb::AppendReq ev = Event();
  // Field 99 (varint) is not in ProposedMessage: a newer client's addition.
  ev.mutable_proposed_message()
      ->GetReflection()
      ->MutableUnknownFields(ev.mutable_proposed_message())
      ->AddVarint(99, 42);
  grpc::ClientContext ctx;
  pb::AppendResp resp;
  EXPECT_TRUE(Append(*stub_, {Options("w-unknown"), ev}, &resp, &ctx).ok());
  EXPECT_TRUE(resp.has_success());
}

TEST_F(Wire, AClientThatDisconnectsMidAppendWritesNothing) {
  {
    grpc::ClientContext ctx;
    pb::AppendResp resp;
    auto writer = stub_->Append(&ctx, &resp);
    writer->Write(Options("w-cut"));
    writer->Write(Event());
    ctx.TryCancel();  // gone before WritesDone: the append never completes
    writer->Finish();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(CountEvents(*stub_, "w-cut"), 0u);
}

TEST_F(Wire, ASubscriberThatNeverReadsDoesNotStopTheServer) {
  grpc::ClientContext sub_ctx;
  pb::ReadReq req;
  auto* o = req.mutable_options();
  o->mutable_all()->mutable_start();
  o->mutable_subscription();
  o->mutable_no_filter();
  o->mutable_uuid_option()->mutable_string();
  auto reader = stub_->Read(&sub_ctx, req);  // never read from
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext ctx;
    pb::AppendResp resp;
    std::vector<pb::AppendReq> msgs{Options("w-flood")};
    for (int k = 0; k < 20; ++k) msgs.push_back(Event(true, 2000));
    ASSERT_TRUE(Append(*stub_, msgs, &resp, &ctx).ok()) << i;
  }
  EXPECT_EQ(CountEvents(*stub_, "w-flood"), 6000u);
  sub_ctx.TryCancel();
}

}  // namespace

namespace {
std::vector<pb::ReadResp> ReadStream(pb::Streams::Stub& stub, const std::string& stream,
                                     std::optional<uint64_t> from, uint32_t compatibility) {
  grpc::ClientContext ctx;
  pb::ReadReq req;
  auto* o = req.mutable_options();
  o->mutable_stream()->mutable_stream_identifier()->set_stream_name(stream);
  if (from) {
    o->mutable_stream()->set_revision(*from);
  } else {
    o->mutable_stream()->mutable_start();
  }
  o->set_count(10);
  o->mutable_no_filter();
  o->mutable_uuid_option()->mutable_string();
  o->mutable_control_option()->set_compatibility(compatibility);
  auto reader = stub.Read(&ctx, req);
  std::vector<pb::ReadResp> out;
  pb::ReadResp resp;
  while (reader->Read(&resp)) out.push_back(resp);
  EXPECT_TRUE(reader->Finish().ok());
  return out;
}

TEST_F(Wire, CompatibilityOneReadsSayWhereTheStreamStartsAndEnds) {
  grpc::ClientContext a;
  pb::AppendResp resp;
  ASSERT_TRUE(Append(*stub_, {Options("w-pos"), Event(), Event(), Event()}, &resp, &a).ok());
  // Level 0 (the default): events only.
  auto plain = ReadStream(*stub_, "w-pos", std::nullopt, 0);
  ASSERT_EQ(plain.size(), 3u);
  for (const auto& r : plain) EXPECT_TRUE(r.has_event());
  // Level 1: the events, then last_stream_position.
  auto full = ReadStream(*stub_, "w-pos", std::nullopt, 1);
  ASSERT_EQ(full.size(), 4u);
  EXPECT_EQ(full[3].content_case(), pb::ReadResp::kLastStreamPosition);
  EXPECT_EQ(full[3].last_stream_position(), 2u);
  // Past the end: first_stream_position says where the next event would be, then the last.
  auto past = ReadStream(*stub_, "w-pos", 5, 1);
  ASSERT_EQ(past.size(), 2u);
  EXPECT_EQ(past[0].content_case(), pb::ReadResp::kFirstStreamPosition);
  EXPECT_EQ(past[0].first_stream_position(), 3u);
  EXPECT_EQ(past[1].last_stream_position(), 2u);
}

TEST_F(Wire, AdminServiceReportsEngineFiguresAndTiers) {
  grpc::ClientContext a;
  pb::AppendResp resp;
  ASSERT_TRUE(Append(*stub_, {Options("w-admin"), Event(), Event()}, &resp, &a).ok());
  auto admin = strata::v1::Admin::NewStub(channel_);
  grpc::ClientContext ctx;
  strata::v1::Stats stats;
  ASSERT_TRUE(admin->GetStats(&ctx, strata::v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.shards_size(), 4);
  EXPECT_GE(stats.appended_events(), 2u);
  EXPECT_GE(stats.watermark(), 3u);  // positions 1 and 2 are durable
  uint64_t histogram = 0;
  for (uint64_t c : stats.append_latency_counts()) histogram += c;
  EXPECT_GE(histogram, 1u);
  EXPECT_EQ(stats.append_latency_counts_size(), stats.append_latency_bounds_us_size() + 1);
  grpc::ClientContext tctx;
  strata::v1::Tiers tiers;
  ASSERT_TRUE(admin->GetTiers(&tctx, strata::v1::GetTiersRequest(), &tiers).ok());
  ASSERT_EQ(tiers.tiers_size(), 3);
  EXPECT_EQ(tiers.tiers(0).name(), "hot");
  EXPECT_TRUE(tiers.tiers(1).configured());
  EXPECT_EQ(tiers.tiers(2).name(), "cold");
  EXPECT_TRUE(tiers.tiers(2).configured());  // serve archives to file://<data>-cold by default
  EXPECT_NE(tiers.tiers(2).description().find("archived segments in file://"), std::string::npos)
      << tiers.tiers(2).description();
}

TEST_F(Wire, BatchAppendRefusesEndlessUnfinishedAppendsAndKeepsServing) {
  grpc::ClientContext ctx;
  auto call = stub_->BatchAppend(&ctx);
  for (int i = 0; i < 5000; ++i) {
    pb::BatchAppendReq req;
    req.mutable_correlation_id()->mutable_structured()->set_least_significant_bits(i + 1);
    req.mutable_options()->mutable_stream_identifier()->set_stream_name("w-unfinished");
    req.mutable_options()->mutable_any();
    req.set_is_final(false);  // never finished
    if (!call->Write(req)) break;
  }
  call->WritesDone();
  pb::BatchAppendResp resp;
  while (call->Read(&resp)) {
  }
  auto st = call->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  grpc::ClientContext a;
  pb::AppendResp aresp;
  EXPECT_TRUE(Append(*stub_, {Options("w-after"), Event()}, &aresp, &a).ok());
  EXPECT_EQ(CountEvents(*stub_, "w-unfinished"), 0u);
}
}  // namespace

// The admin mapping (wire/admin.h) without a server: every field of each DTO set to a distinct
// non-default value goes to its strata.v1 message and back unchanged, and fills every field of
// the message but the ones only the service knows. A field forgotten in either direction, or
// two fields crossed, fails here.
namespace {
using google::protobuf::FieldDescriptor;

// The fields of `m`, and of every message in it, that hold their default value (proto3: not
// sent), by path.
void UnsetFields(const google::protobuf::Message& m, const std::string& prefix,
                 std::vector<std::string>* out) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = prefix + std::string(f->name());
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n == 0) out->push_back(name);
      for (int k = 0; message && k < n; ++k) {
        UnsetFields(r->GetRepeatedMessage(m, f, k), name + "[" + std::to_string(k) + "].", out);
      }
    } else if (!r->HasField(m, f)) {
      out->push_back(name);
    } else if (message) {
      UnsetFields(r->GetMessage(m, f), name + ".", out);
    }
  }
}
std::vector<std::string> UnsetFields(const google::protobuf::Message& m) {
  std::vector<std::string> out;
  UnsetFields(m, "", &out);
  return out;
}

strata::ShardStats FilledShardStats(uint64_t base) {
  strata::ShardStats s;
  s.shard = static_cast<uint32_t>(base + 1);
  s.events = base + 2;
  s.bytes = base + 3;
  s.streams = base + 4;
  s.last_position = strata::Position(base + 5);
  s.unindexed_events = base + 6;
  s.index_runs = base + 7;
  s.index_entries = base + 8;
  s.indexed_upto = strata::Position(base + 9);
  s.groups = base + 10;
  s.fsyncs = base + 11;
  s.appends = base + 12;
  s.queue_depth = base + 13;
  s.compaction_pending_bytes = base + 14;
  s.running_compactions = base + 15;
  s.write_stall_micros = base + 16;
  s.memtable_bytes = base + 17;
  s.write_stopped = true;
  return s;
}

void ExpectSameShardStats(const strata::ShardStats& a, const strata::ShardStats& b) {
  EXPECT_EQ(a.shard, b.shard);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.streams, b.streams);
  EXPECT_EQ(a.last_position.value(), b.last_position.value());
  EXPECT_EQ(a.unindexed_events, b.unindexed_events);
  EXPECT_EQ(a.index_runs, b.index_runs);
  EXPECT_EQ(a.index_entries, b.index_entries);
  EXPECT_EQ(a.indexed_upto.value(), b.indexed_upto.value());
  EXPECT_EQ(a.groups, b.groups);
  EXPECT_EQ(a.fsyncs, b.fsyncs);
  EXPECT_EQ(a.appends, b.appends);
  EXPECT_EQ(a.queue_depth, b.queue_depth);
  EXPECT_EQ(a.compaction_pending_bytes, b.compaction_pending_bytes);
  EXPECT_EQ(a.running_compactions, b.running_compactions);
  EXPECT_EQ(a.write_stall_micros, b.write_stall_micros);
  EXPECT_EQ(a.memtable_bytes, b.memtable_bytes);
  EXPECT_EQ(a.write_stopped, b.write_stopped);
}

TEST(AdminWire, StoreStatsRoundTripKeepsEveryFieldStatsCarries) {
  strata::StoreStats s;
  s.watermark = strata::Position(1001);
  s.ring_hits = 1002;
  s.ring_misses = 1003;
  s.appended_events = 1004;
  s.appended_bytes = 1005;
  s.append_latency.count = 0;
  for (size_t i = 0; i < s.append_latency.counts.size(); ++i) {
    s.append_latency.counts[i] = 2000 + i;
    s.append_latency.count += s.append_latency.counts[i];
  }
  s.append_latency.sum_us = 1006;
  s.subscriptions = 1007;
  s.subscription_lag_max = 1008;
  s.writable = false;
  s.write_error = "disk-full: the data directory's disk is full";
  s.disk_free_bytes = 1009;
  s.disk_total_bytes = 1010;
  s.disk_reserve_bytes = 1011;
  s.disk_full_refusals = 1012;
  s.shards = {FilledShardStats(100), FilledShardStats(200)};
  s.ring_bytes = 1013;
  s.subscription_lag_sum = 1014;
  s.index_streams_position = strata::Position(1015);
  s.index_streams = 1016;
  s.index_streams_unflushed = 1017;
  s.index_streams_failed = true;

  strata::v1::Stats proto;
  strata::wire::ToProto(s, &proto);
  EXPECT_EQ(UnsetFields(proto),
            (std::vector<std::string>{"version", "data_dir", "uptime_seconds"}));
  ASSERT_EQ(proto.append_latency_bounds_us_size(),
            static_cast<int>(strata::LatencyHistogram::kBoundsUs.size()));
  for (size_t i = 0; i < strata::LatencyHistogram::kBoundsUs.size(); ++i) {
    EXPECT_EQ(proto.append_latency_bounds_us(static_cast<int>(i)),
              strata::LatencyHistogram::kBoundsUs[i]);
  }

  const strata::StoreStats b = strata::wire::FromProto(proto);
  EXPECT_EQ(b.watermark.value(), s.watermark.value());
  EXPECT_EQ(b.ring_hits, s.ring_hits);
  EXPECT_EQ(b.ring_misses, s.ring_misses);
  EXPECT_EQ(b.appended_events, s.appended_events);
  EXPECT_EQ(b.appended_bytes, s.appended_bytes);
  EXPECT_EQ(b.append_latency.counts, s.append_latency.counts);
  EXPECT_EQ(b.append_latency.count, s.append_latency.count);
  EXPECT_EQ(b.append_latency.sum_us, s.append_latency.sum_us);
  EXPECT_EQ(b.subscriptions, s.subscriptions);
  EXPECT_EQ(b.subscription_lag_max, s.subscription_lag_max);
  EXPECT_EQ(b.writable, s.writable);
  EXPECT_EQ(b.write_error, s.write_error);
  EXPECT_EQ(b.disk_free_bytes, s.disk_free_bytes);
  EXPECT_EQ(b.disk_total_bytes, s.disk_total_bytes);
  EXPECT_EQ(b.disk_reserve_bytes, s.disk_reserve_bytes);
  EXPECT_EQ(b.disk_full_refusals, s.disk_full_refusals);
  ASSERT_EQ(b.shards.size(), s.shards.size());
  for (size_t i = 0; i < s.shards.size(); ++i) {
    SCOPED_TRACE("shard " + std::to_string(i));
    ExpectSameShardStats(b.shards[i], s.shards[i]);
  }
  EXPECT_EQ(b.ring_bytes, s.ring_bytes);
  EXPECT_EQ(b.subscription_lag_sum, s.subscription_lag_sum);
  EXPECT_EQ(b.index_streams_position, s.index_streams_position);
  EXPECT_EQ(b.index_streams, s.index_streams);
  EXPECT_EQ(b.index_streams_unflushed, s.index_streams_unflushed);
  EXPECT_EQ(b.index_streams_failed, s.index_streams_failed);
}

TEST(AdminWire, AWritableStoreSendsNoWriteErrorAndComesBackWritable) {
  strata::StoreStats s;
  s.writable = true;
  s.write_error = "an error from before the disk had room again";
  strata::v1::Stats proto;
  strata::wire::ToProto(s, &proto);
  EXPECT_EQ(proto.write_error(), "");
  const strata::StoreStats b = strata::wire::FromProto(proto);
  EXPECT_TRUE(b.writable);
  EXPECT_EQ(b.write_error, "");
}

TEST(AdminWire, ArchiveStatusRoundTripKeepsEveryField) {
  strata::ArchiveStatus a;
  a.enabled = true;
  a.url = "s3://events/prod";
  a.cold_reads = 11;
  a.cache_hits = 12;
  a.cache_misses = 13;
  a.cache_bytes = 14;
  for (uint64_t base : {100, 200}) {
    strata::ArchiveShardStatus s;
    s.shard = static_cast<uint32_t>(base + 1);
    s.segments = base + 2;
    s.archived_upto = strata::Position(base + 3);
    s.warm_floor = strata::Position(base + 4);
    s.backlog_bytes = base + 5;
    s.backlog_age_us = -static_cast<int64_t>(base + 6);  // signed on both sides
    s.uploaded_segments = base + 7;
    s.uploaded_bytes = base + 8;
    s.upload_seconds = static_cast<double>(base) + 0.25;
    s.errors = base + 9;
    s.last_error = "unavailable: shard " + std::to_string(base);
    a.shards.push_back(s);
  }

  strata::v1::Archive proto;
  strata::wire::ToProto(a, &proto);
  EXPECT_EQ(UnsetFields(proto), std::vector<std::string>{});

  const strata::ArchiveStatus b = strata::wire::FromProto(proto);
  EXPECT_EQ(b.enabled, a.enabled);
  EXPECT_EQ(b.url, a.url);
  EXPECT_EQ(b.cold_reads, a.cold_reads);
  EXPECT_EQ(b.cache_hits, a.cache_hits);
  EXPECT_EQ(b.cache_misses, a.cache_misses);
  EXPECT_EQ(b.cache_bytes, a.cache_bytes);
  ASSERT_EQ(b.shards.size(), a.shards.size());
  for (size_t i = 0; i < a.shards.size(); ++i) {
    SCOPED_TRACE("shard " + std::to_string(i));
    EXPECT_EQ(b.shards[i].shard, a.shards[i].shard);
    EXPECT_EQ(b.shards[i].segments, a.shards[i].segments);
    EXPECT_EQ(b.shards[i].archived_upto.value(), a.shards[i].archived_upto.value());
    EXPECT_EQ(b.shards[i].warm_floor.value(), a.shards[i].warm_floor.value());
    EXPECT_EQ(b.shards[i].backlog_bytes, a.shards[i].backlog_bytes);
    EXPECT_EQ(b.shards[i].backlog_age_us, a.shards[i].backlog_age_us);
    EXPECT_EQ(b.shards[i].uploaded_segments, a.shards[i].uploaded_segments);
    EXPECT_EQ(b.shards[i].uploaded_bytes, a.shards[i].uploaded_bytes);
    EXPECT_EQ(b.shards[i].upload_seconds, a.shards[i].upload_seconds);
    EXPECT_EQ(b.shards[i].errors, a.shards[i].errors);
    EXPECT_EQ(b.shards[i].last_error, a.shards[i].last_error);
  }
}

TEST(AdminWire, SegmentsRoundTripKeepEveryFieldInOrder) {
  std::vector<strata::SegmentInfo> segs;
  for (uint64_t base : {100, 200, 300}) {
    strata::SegmentInfo s;
    s.shard = static_cast<uint32_t>(base + 1);
    s.segment_id = (base << 48) | (base + 2);
    s.first_position = strata::Position(base + 3);
    s.last_position = strata::Position(base + 4);
    s.min_source_ts = -static_cast<int64_t>(base + 5);  // signed on both sides
    s.max_source_ts = static_cast<int64_t>(base + 6);
    s.max_recorded_ts = static_cast<int64_t>(base + 7);
    s.events = base + 8;
    s.bytes = base + 9;
    s.key = "segments/" + std::to_string(base) + ".seg";
    segs.push_back(s);
  }

  strata::v1::Segments proto;
  strata::wire::ToProto(segs, &proto);
  EXPECT_EQ(UnsetFields(proto), std::vector<std::string>{});

  const std::vector<strata::SegmentInfo> b = strata::wire::FromProto(proto);
  ASSERT_EQ(b.size(), segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    EXPECT_EQ(b[i].shard, segs[i].shard);
    EXPECT_EQ(b[i].segment_id, segs[i].segment_id);
    EXPECT_EQ(b[i].first_position.value(), segs[i].first_position.value());
    EXPECT_EQ(b[i].last_position.value(), segs[i].last_position.value());
    EXPECT_EQ(b[i].min_source_ts, segs[i].min_source_ts);
    EXPECT_EQ(b[i].max_source_ts, segs[i].max_source_ts);
    EXPECT_EQ(b[i].max_recorded_ts, segs[i].max_recorded_ts);
    EXPECT_EQ(b[i].events, segs[i].events);
    EXPECT_EQ(b[i].bytes, segs[i].bytes);
    EXPECT_EQ(b[i].key, segs[i].key);
  }
}

TEST(AdminWire, SnapshotInfoRoundTripKeepsEveryField) {
  strata::SnapshotInfo s;
  s.id = "20261123T161000Z";
  s.bytes = 1u << 30;
  s.files = 17;
  s.reused_files = 5;
  s.seconds = 42.5;

  strata::v1::SnapshotResult proto;
  strata::wire::ToProto(s, &proto);
  EXPECT_EQ(UnsetFields(proto), std::vector<std::string>{});

  const strata::SnapshotInfo b = strata::wire::FromProto(proto);
  EXPECT_EQ(b.id, s.id);
  EXPECT_EQ(b.bytes, s.bytes);
  EXPECT_EQ(b.files, s.files);
  EXPECT_EQ(b.reused_files, s.reused_files);
  EXPECT_EQ(b.seconds, s.seconds);
}

TEST(AdminWire, CheckReportRoundTripKeepsEveryFieldAndProblem) {
  strata::CheckReport r;
  r.records = 101;
  r.warm_files = 102;
  r.index_runs = 103;
  r.metadata_files = 104;
  r.local_segments = 105;
  r.cold_segments = 106;
  r.cold_blocks = 107;
  r.seconds = 3.25;
  r.online = true;
  r.Add({"record", "shard-2/000123.sst", 2, 1000, 2000, "CRC32C mismatch"});
  // The defaults of a problem that is not one shard's and not about positions survive too.
  r.Add({"store-description", "STRATA", -1, 0, 0, "missing"});

  strata::v1::CheckResponse proto;
  strata::wire::ToProto(r, &proto);
  EXPECT_EQ(UnsetFields(proto), std::vector<std::string>{});

  auto b = strata::wire::FromProto(proto);
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(b->records, r.records);
  EXPECT_EQ(b->warm_files, r.warm_files);
  EXPECT_EQ(b->index_runs, r.index_runs);
  EXPECT_EQ(b->metadata_files, r.metadata_files);
  EXPECT_EQ(b->local_segments, r.local_segments);
  EXPECT_EQ(b->cold_segments, r.cold_segments);
  EXPECT_EQ(b->cold_blocks, r.cold_blocks);
  EXPECT_EQ(b->seconds, r.seconds);
  EXPECT_EQ(b->online, r.online);
  ASSERT_EQ(b->problems.size(), r.problems.size());
  for (size_t i = 0; i < r.problems.size(); ++i) {
    SCOPED_TRACE("problem " + std::to_string(i));
    EXPECT_EQ(b->problems[i].kind, r.problems[i].kind);
    EXPECT_EQ(b->problems[i].location, r.problems[i].location);
    EXPECT_EQ(b->problems[i].shard, r.problems[i].shard);
    EXPECT_EQ(b->problems[i].first_position, r.problems[i].first_position);
    EXPECT_EQ(b->problems[i].last_position, r.problems[i].last_position);
    EXPECT_EQ(b->problems[i].message, r.problems[i].message);
  }
}

TEST(AdminWire, ACheckResponseThatIsNotAReportIsAnError) {
  strata::v1::CheckResponse proto;
  proto.set_json("{\"not\": \"a report\"}");
  auto r = strata::wire::FromProto(proto);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), strata::ErrorCode::kInternal);
}
}  // namespace
