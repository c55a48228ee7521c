// Segment objects: round trip through both the writer and an object store, block lookup, the
// stream filter, and corruption detection (a flipped bit anywhere is reported, never served).

#include "storage/cold/segment_format.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/record.h"

namespace strata::cold {
namespace {

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<objstore::ObjectStore> store;
  std::vector<std::string> records;
  SegmentFooter footer;
};

std::string MakeRecord(uint64_t pos, const std::string& stream, int64_t ts) {
  RecordHeader h;
  h.position = Position(pos);
  h.revision = Revision(pos);
  h.stream_number = StreamNumber(1);
  h.source_ts = ts;
  h.recorded_ts = ts + 5;
  h.segment_id = SegmentId(7);
  h.event_id = Uuid::Random();
  EventData e;
  e.event_id = h.event_id;
  e.type = "Thing";
  e.data = std::string(100 + pos % 50, static_cast<char>('a' + pos % 26));
  std::string out;
  AppendRecord(h, stream, e, out);
  return out;
}

Fixture Build(size_t events, size_t block_bytes) {
  Fixture f;
  f.dir = std::filesystem::temp_directory_path() / ("strata-seg-" + Uuid::Random().ToString());
  std::filesystem::create_directories(f.dir);
  auto store = objstore::Open("file://" + (f.dir / "objects").string());
  EXPECT_TRUE(store);
  f.store = std::move(*store);
  auto w = SegmentWriter::Create((f.dir / "seg").string(), SegmentId(7), block_bytes);
  EXPECT_TRUE(w);
  for (size_t i = 0; i < events; ++i) {
    // Positions with gaps, as a shard's segment has (other shards take the others).
    f.records.push_back(MakeRecord(10 + 3 * i, "stream-" + std::to_string(i % 40),
                                   1'000'000 + static_cast<int64_t>(i)));
    EXPECT_TRUE((*w)->Add(f.records.back()));
  }
  auto footer = (*w)->Finish();
  EXPECT_TRUE(footer) << footer.error().ToString();
  f.footer = *footer;
  auto src = objstore::FileSource::Open((f.dir / "seg").string());
  EXPECT_TRUE(objstore::Upload(*f.store, "shard-000/seg-7", **src));
  return f;
}

TEST(SegmentFormatTest, RoundTripThroughAnObjectStore) {
  Fixture f = Build(5000, 16 << 10);
  auto r = SegmentReader::Open(*f.store, "shard-000/seg-7");
  ASSERT_TRUE(r) << r.error().ToString();
  const SegmentFooter& footer = (*r)->footer();
  EXPECT_EQ(footer.segment_id, 7u);
  EXPECT_EQ(footer.events, 5000u);
  EXPECT_EQ(footer.first_position, 10u);
  EXPECT_EQ(footer.last_position, 10u + 3 * 4999);
  EXPECT_EQ(footer.min_source_ts, 1'000'000);
  EXPECT_EQ(footer.max_source_ts, 1'004'999);
  EXPECT_GT(footer.blocks.size(), 10u);

  size_t i = 0;
  for (size_t b = 0; b < footer.blocks.size(); ++b) {
    auto block = (*r)->ReadBlock(b);
    ASSERT_TRUE(block) << block.error().ToString();
    ASSERT_TRUE(ForEachRecord(*block, [&](uint64_t pos, std::string_view rec) {
      EXPECT_EQ(pos, 10u + 3 * i);
      EXPECT_EQ(rec, f.records[i]);
      ++i;
      return true;
    }));
  }
  EXPECT_EQ(i, 5000u);
  std::filesystem::remove_all(f.dir);
}

TEST(SegmentFormatTest, FindBlockAndStreamFilter) {
  Fixture f = Build(3000, 8 << 10);
  auto r = SegmentReader::Open(*f.store, "shard-000/seg-7");
  ASSERT_TRUE(r);
  const auto& blocks = (*r)->footer().blocks;
  for (uint64_t pos : {10ull, 11ull, 10ull + 3 * 1500, 10ull + 3 * 2999}) {
    size_t b = (*r)->FindBlock(pos);
    ASSERT_LT(b, blocks.size()) << pos;
    EXPECT_LE(pos, blocks[b].last_position);
    if (b > 0) {
      EXPECT_GT(pos, blocks[b - 1].last_position);
    }
  }
  EXPECT_EQ((*r)->FindBlock(10 + 3 * 2999 + 1), blocks.size());
  for (int s = 0; s < 40; ++s) {
    EXPECT_TRUE((*r)->footer().MayContainStream("stream-" + std::to_string(s)));
  }
  int false_positives = 0;
  for (int s = 0; s < 1000; ++s) {
    false_positives += (*r)->footer().MayContainStream("other-" + std::to_string(s));
  }
  EXPECT_LT(false_positives, 50);  // ~1% expected
  std::filesystem::remove_all(f.dir);
}

TEST(SegmentFormatTest, EveryFlippedByteIsDetected) {
  Fixture f = Build(400, 4 << 10);
  auto bytes = objstore::GetString(*f.store, "shard-000/seg-7");
  ASSERT_TRUE(bytes);
  // Flip one byte at a spread of offsets covering blocks, footer and trailer.
  const size_t n = bytes->size();
  int detected = 0, tried = 0;
  for (size_t off = 0; off < n; off += std::max<size_t>(1, n / 97)) {
    for (size_t at : {off, n - 1 - (off % kSegmentTrailerBytes)}) {
      std::string bad = *bytes;
      bad[at] = static_cast<char>(bad[at] ^ 0x40);
      ASSERT_TRUE(objstore::PutString(*f.store, "bad", bad));
      ++tried;
      auto r = SegmentReader::Open(*f.store, "bad");
      Status st = OkStatus();
      if (!r) {
        st = r.error();
      } else {
        for (size_t b = 0; b < (*r)->footer().blocks.size() && st; ++b) {
          auto block = (*r)->ReadBlock(b);
          if (!block) st = block.error();
        }
      }
      if (!st) {
        EXPECT_EQ(st.error().code(), ErrorCode::kCorruption) << st.error().ToString();
        ++detected;
      }
    }
  }
  EXPECT_EQ(detected, tried);
  std::filesystem::remove_all(f.dir);
}

TEST(SegmentFormatTest, WriterRefusesPositionsOutOfOrderAndBadRecords) {
  auto dir = std::filesystem::temp_directory_path() / ("strata-seg-" + Uuid::Random().ToString());
  std::filesystem::create_directories(dir);
  auto w = SegmentWriter::Create((dir / "seg").string(), SegmentId(1));
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Add(MakeRecord(5, "s", 1)));
  EXPECT_FALSE((*w)->Add(MakeRecord(5, "s", 1)));
  std::string bad = MakeRecord(6, "s", 1);
  bad[bad.size() - 1] ^= 1;
  auto st = (*w)->Add(bad);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kCorruption);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata::cold
