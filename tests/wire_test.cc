// Bad input on the wire, against a real `strata serve`: each gets the status and trailers the
// official clients decode, and the server keeps serving without losing acknowledged events.
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
