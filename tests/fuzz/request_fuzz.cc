// libFuzzer target over the server's request decoding: the bytes a client sends for Append,
// BatchAppend, Read and Delete are parsed as the protobuf messages the server receives and run
// through the same decoding functions (src/wire/convert.h) the services call. Besides "no crash,
// no sanitizer report", it checks that every event the server would accept survives a round trip
// through the encoder unchanged, and that stream names are validated without surprises.
//
// The first input byte picks the message; the rest is the message's wire bytes.
// Build: cmake --preset fuzz && cmake --build --preset fuzz --target request_fuzz (clang-16).
// With STRATA_FUZZ_SEEDS=DIR set, valid requests are written to DIR first as a seed corpus.
// With STRATA_FUZZ_SELFTEST=1 it fails at once (to check that a failure fails the suite).
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model/stream_name.h"
#include "streams.pb.h"
#include "wire/convert.h"

namespace {
namespace pb = event_store::client::streams;
using strata::Result;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "request_fuzz: invariant broken: %s\n", what);
  std::abort();
}

template <class Proposed>
void CheckProposed(const Proposed& pm) {
  Result<strata::EventData> e = strata::wire::EventFromProposed(pm);
  if (!e) {
    if (e.error().code() != strata::ErrorCode::kMissingMetadata &&
        e.error().code() != strata::ErrorCode::kInvalidEventId) {
      Fail("a proposed event was refused with an unexpected code");
    }
    if (e.error().message().empty()) Fail("an error without a message");
    return;
  }
  Proposed again;
  strata::wire::ProposedToWire(*e, &again);
  auto back = strata::wire::EventFromProposed(again);
  if (!back) Fail("an accepted event does not decode after re-encoding");
  if (back->event_id != e->event_id || back->type != e->type ||
      back->content_type != e->content_type || back->data != e->data ||
      back->metadata != e->metadata) {
    Fail("an accepted event changed in a round trip");
  }
}

void CheckStream(const std::string& name) {
  auto st = strata::ValidateStreamName(name);
  if (!st && st.error().message().empty()) Fail("a stream-name error without a message");
}

void Append(const std::string& bytes) {
  pb::AppendReq req;
  if (!req.ParseFromString(bytes)) return;
  if (req.has_options()) {
    CheckStream(req.options().stream_identifier().stream_name());
    (void)strata::wire::ExpectedFrom(req.options());
  }
  if (req.has_proposed_message()) CheckProposed(req.proposed_message());
}

void BatchAppend(const std::string& bytes) {
  pb::BatchAppendReq req;
  if (!req.ParseFromString(bytes)) return;
  (void)req.correlation_id().SerializeAsString();  // the server keys pending appends by it
  if (req.has_options()) CheckStream(req.options().stream_identifier().stream_name());
  for (const auto& pm : req.proposed_messages()) CheckProposed(pm);
}

void Read(const std::string& bytes) {
  pb::ReadReq req;
  if (!req.ParseFromString(bytes)) return;
  const auto& o = req.options();
  uint32_t every = 0;
  strata::AllFilter f = strata::wire::FilterFrom(o, &every);
  if (every == 0) Fail("a checkpoint interval of zero");
  pb::ReadReq::Options again;
  if (strata::wire::FilterToWire(f, &again)) {
    uint32_t every2 = 0;
    strata::AllFilter f2 = strata::wire::FilterFrom(again, &every2);
    if (f2.stream_prefixes != f.stream_prefixes || f2.type_prefixes != f.type_prefixes ||
        f2.stream_regex != f.stream_regex || f2.type_regex != f.type_regex) {
      Fail("a filter changed in a round trip");
    }
  }
  if (o.has_stream()) CheckStream(o.stream().stream_identifier().stream_name());
}

void Delete(const std::string& bytes) {
  pb::DeleteReq req;
  if (!req.ParseFromString(bytes)) return;
  CheckStream(req.options().stream_identifier().stream_name());
  (void)strata::wire::ExpectedFrom(req.options());
}

void WriteSeeds(const char* dir) {
  auto put = [&](int n, char kind, const google::protobuf::Message& m) {
    std::ofstream(std::string(dir) + "/seed-" + std::to_string(n), std::ios::binary)
        << kind << m.SerializeAsString();
  };
  pb::AppendReq opts;
  opts.mutable_options()->mutable_stream_identifier()->set_stream_name("order-1");
  opts.mutable_options()->set_revision(3);
  put(0, 0, opts);
  pb::AppendReq ev;
  auto* pm = ev.mutable_proposed_message();
  pm->mutable_id()->set_string("0b7ab0a0-7e4b-4c6e-9a1e-3f5a2c1d9e01");
  (*pm->mutable_metadata())["type"] = "OrderPlaced";
  (*pm->mutable_metadata())["content-type"] = "application/json";
  pm->set_data("{\"total\":12}");
  put(1, 0, ev);
  pb::BatchAppendReq batch;
  batch.mutable_correlation_id()->mutable_structured()->set_least_significant_bits(7);
  batch.mutable_options()->mutable_stream_identifier()->set_stream_name("user-9");
  batch.mutable_options()->mutable_no_stream();
  auto* bpm = batch.add_proposed_messages();
  bpm->mutable_id()->mutable_structured()->set_most_significant_bits(42);
  (*bpm->mutable_metadata())["type"] = "Joined";
  (*bpm->mutable_metadata())["content-type"] = "application/octet-stream";
  batch.set_is_final(true);
  put(2, 1, batch);
  pb::ReadReq read;
  auto* o = read.mutable_options();
  o->mutable_all()->mutable_start();
  o->set_count(100);
  o->mutable_filter()->mutable_event_type()->add_prefix("Order");
  o->mutable_filter()->set_max(32);
  o->mutable_uuid_option()->mutable_string();
  put(3, 2, read);
  pb::DeleteReq del;
  del.mutable_options()->mutable_stream_identifier()->set_stream_name("order-1");
  del.mutable_options()->mutable_stream_exists();
  put(4, 3, del);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in string fields is logged per parse
  if (std::getenv("STRATA_FUZZ_SELFTEST")) Fail("self-test: the harness can fail");
  if (const char* dir = std::getenv("STRATA_FUZZ_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      Append(bytes);
      break;
    case 1:
      BatchAppend(bytes);
      break;
    case 2:
      Read(bytes);
      break;
    default:
      Delete(bytes);
      break;
  }
  return 0;
}
