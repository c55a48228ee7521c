#include <gtest/gtest.h>

#include "model/expected_revision.h"
#include "model/record.h"
#include "model/stream_name.h"

namespace strata {
namespace {

RecordHeader SampleHeader() {
  RecordHeader h;
  h.position = Position(42);
  h.revision = Revision(7);
  h.stream_number = StreamNumber(3);
  h.source_ts = 1'700'000'000'000'000;
  h.recorded_ts = 1'700'000'000'000'123;
  h.segment_id = SegmentId((1ull << 48) | 5);
  h.event_id = Uuid::Random();
  return h;
}

EventData SampleEvent() {
  EventData e;
  e.type = "OrderPlaced";
  e.content_type = "application/json";
  e.metadata = R"({"corr":"abc"})";
  e.data = R"({"total":12})";
  return e;
}

TEST(Record, RoundTripsEveryField) {
  RecordHeader h = SampleHeader();
  EventData e = SampleEvent();
  std::string buf;
  AppendRecord(h, "order-1", e, buf);
  EXPECT_EQ(buf.size(), EncodedRecordSize("order-1", e));
  auto v = DecodeRecord(buf);
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_EQ(v->header.position, h.position);
  EXPECT_EQ(v->header.revision, h.revision);
  EXPECT_EQ(v->header.stream_number, h.stream_number);
  EXPECT_EQ(v->header.source_ts, h.source_ts);
  EXPECT_EQ(v->header.recorded_ts, h.recorded_ts);
  EXPECT_EQ(v->header.segment_id, h.segment_id);
  EXPECT_EQ(v->header.event_id, h.event_id);
  EXPECT_EQ(v->stream, "order-1");
  EXPECT_EQ(v->type, e.type);
  EXPECT_EQ(v->content_type, e.content_type);
  EXPECT_EQ(v->metadata, e.metadata);
  EXPECT_EQ(v->data, e.data);
  EXPECT_EQ(PeekRecordLength(buf), buf.size());
}

TEST(Record, DetectsEverySingleByteCorruption) {
  std::string buf;
  AppendRecord(SampleHeader(), "order-1", SampleEvent(), buf);
  for (size_t i = 0; i < buf.size(); ++i) {
    std::string bad = buf;
    bad[i] ^= 0x5a;
    auto v = DecodeRecord(bad);
    ASSERT_FALSE(v) << "flip at byte " << i << " went unnoticed";
    EXPECT_EQ(v.error().code(), ErrorCode::kCorruption);
  }
}

TEST(Record, DetectsTornWrites) {
  std::string buf;
  AppendRecord(SampleHeader(), "order-1", SampleEvent(), buf);
  for (size_t n : {size_t{0}, size_t{7}, size_t{40}, buf.size() - 1}) {
    auto v = DecodeRecord(std::string_view(buf).substr(0, n));
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code(), ErrorCode::kCorruption);
  }
}

TEST(ExpectedRevision, ParsesEveryForm) {
  EXPECT_EQ(ExpectedRevision::Parse("any")->kind(), ExpectedRevision::Kind::kAny);
  EXPECT_EQ(ExpectedRevision::Parse("no_stream")->kind(), ExpectedRevision::Kind::kNoStream);
  EXPECT_EQ(ExpectedRevision::Parse("stream_exists")->kind(),
            ExpectedRevision::Kind::kStreamExists);
  auto exact = ExpectedRevision::Parse("12");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->revision(), Revision(12));
  for (const char* bad : {"", "-1", "12x", "anything", "99999999999999999999999"}) {
    auto r = ExpectedRevision::Parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidExpectedRevision);
  }
}

TEST(StreamName, AcceptsOrdinaryAndMetadataNames) {
  EXPECT_TRUE(ValidateStreamName("order-1"));
  EXPECT_TRUE(ValidateStreamName("$$order-1"));
  EXPECT_TRUE(ValidateStreamName(std::string(kMaxStreamNameBytes, 'a')));
  EXPECT_EQ(OriginalStreamOf("$$order-1"), "order-1");
  EXPECT_EQ(CategoryOf("order-1"), "order");
}

TEST(StreamName, RejectsBadNamesWithTheRule) {
  for (std::string bad :
       {std::string(), std::string(kMaxStreamNameBytes + 1, 'a'), std::string("a\0b", 3),
        std::string("$all"), std::string("$$$$x"), std::string("$$")}) {
    auto st = ValidateStreamName(bad);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidStreamName);
    EXPECT_FALSE(st.error().message().empty());
  }
}

}  // namespace
}  // namespace strata
