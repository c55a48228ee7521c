// Helpers shared by the cold-tier tests (cold_test.cc, cold_serial_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "objstore/object_store.h"
#include "storage/cold/cold_tier.h"
#include "storage/local_store.h"
#include "storage/tests/test_util.h"

namespace strata::coldtest {

using testing::Event;
using testing::Req;
using testing::SmallOptions;

// The object store a test archives to: a local directory, or a fresh prefix in radosgw's bucket.
enum class Kind { kFs, kS3 };
inline std::string KindName(const ::testing::TestParamInfo<Kind>& i) {
  return i.param == Kind::kFs ? "fs" : "s3";
}

struct ColdTarget {
  std::string url;
  std::string skip;  // why an S3 test cannot run
};

inline ColdTarget MakeTarget(Kind kind, const std::string& dir) {
  if (kind == Kind::kFs) return {"file://" + dir + "/cold", ""};
  const char* bucket = std::getenv("STRATA_TEST_S3_BUCKET");
  if (!bucket || !std::getenv("AWS_ENDPOINT_URL")) {
    return {"",
            "no S3 server: scripts/test.sh starts radosgw and sets AWS_ENDPOINT_URL and "
            "STRATA_TEST_S3_BUCKET"};
  }
  static std::atomic<int> n{0};
  return {"s3://" + std::string(bucket) + "/cold-test-" + std::to_string(::getpid()) + "-" +
              std::to_string(n++),
          ""};
}

inline StoreOptions ColdStoreOptions(const std::string& dir, const std::string& url) {
  StoreOptions o = SmallOptions(dir + "/data");
  o.cold.url = url;
  o.cold.retry_min = std::chrono::milliseconds(10);
  o.cold.retry_max = std::chrono::milliseconds(200);
  o.cold.s3.retry_deadline = std::chrono::milliseconds(2000);
  o.segment_max_age = std::chrono::seconds(3600);  // tests seal explicitly (ArchiveAll)
  return o;
}

// Appends `batches` appends of `per` events over `streams` streams; returns the count.
inline uint64_t Fill(LocalStore& store, int streams, int batches, int per,
                     const std::string& prefix = "s") {
  uint64_t n = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<EventData> events;
    for (int i = 0; i < per; ++i) {
      events.push_back(Event("Happened", "{\"b\":" + std::to_string(b) +
                                             ",\"i\":" + std::to_string(i) + ",\"pad\":\"" +
                                             std::string(100 + (b * 7 + i) % 200, 'x') + "\"}"));
    }
    auto r = store.Append(Req(prefix + "-" + std::to_string(b % streams), ExpectedRevision::Any(),
                              std::move(events)));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    n += per;
  }
  return n;
}

inline std::vector<RecordedEvent> ReadAllEvents(LocalStore& store,
                                                Direction dir = Direction::kForwards) {
  std::vector<RecordedEvent> out;
  ReadAllRequest req;
  req.direction = dir;
  req.max_count = 333;  // several pages
  while (true) {
    auto r = store.ReadAll(req);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r) return out;
    out.insert(out.end(), r->events.begin(), r->events.end());
    if (r->end) break;
    req.from = r->next;
  }
  return out;
}

inline std::vector<RecordedEvent> ReadStreamAll(LocalStore& store, const std::string& stream) {
  ReadStreamRequest req;
  req.stream = stream;
  req.max_count = 1'000'000;
  auto r = store.ReadStream(req);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? r->events : std::vector<RecordedEvent>{};
}

inline void ExpectSameEvents(const std::vector<RecordedEvent>& a,
                             const std::vector<RecordedEvent>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].event_id, b[i].event_id) << what << " at " << i;
    ASSERT_EQ(a[i].position, b[i].position) << what << " at " << i;
    ASSERT_EQ(a[i].revision, b[i].revision) << what << " at " << i;
    ASSERT_EQ(a[i].stream, b[i].stream) << what << " at " << i;
    ASSERT_EQ(a[i].data, b[i].data) << what << " at " << i;
    ASSERT_EQ(a[i].recorded_ts, b[i].recorded_ts) << what << " at " << i;
  }
}

// Every segment in the manifests, read back: each position exactly once, and exactly the
// positions of `events` (what the store holds).
inline void ExpectManifestCovers(objstore::ObjectStore& os, uint32_t shards,
                                 const std::vector<RecordedEvent>& events) {
  std::set<uint64_t> seen;
  uint64_t listed = 0;
  for (uint32_t s = 0; s < shards; ++s) {
    auto manifest = cold::LoadManifest(os, s);
    ASSERT_TRUE(manifest.has_value()) << manifest.error().ToString();
    for (const auto& seg : *manifest) {
      auto reader = cold::SegmentReader::Open(os, seg.key);
      ASSERT_TRUE(reader.has_value()) << seg.key << ": " << reader.error().ToString();
      EXPECT_EQ((*reader)->footer().events, seg.events);
      listed += seg.events;
      for (size_t b = 0; b < (*reader)->footer().blocks.size(); ++b) {
        auto block = (*reader)->ReadBlock(b);
        ASSERT_TRUE(block.has_value());
        ASSERT_TRUE(cold::ForEachRecord(*block, [&](uint64_t p, std::string_view) {
                      EXPECT_TRUE(seen.insert(p).second) << "position " << p << " archived twice";
                      return true;
                    }).has_value());
      }
    }
  }
  std::set<uint64_t> want;
  for (const auto& e : events) want.insert(e.position.value());
  EXPECT_EQ(listed, events.size());
  EXPECT_TRUE(seen == want) << "archived " << seen.size() << " positions, the store holds "
                            << want.size();
}

// Waits until every shard's warm floor is past 1 (retention ran), or fails.
inline void WaitForRetention(LocalStore& store) {
  for (int i = 0; i < 500; ++i) {
    auto a = store.Archive();
    ASSERT_TRUE(a.has_value());
    bool all = true;
    for (const auto& s : a->shards) all = all && s.warm_floor.value() > 1;
    if (all) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "local retention did not drop archived segments within 10 s";
}

// Failed archive attempts of all shards since the store opened.
inline uint64_t ArchiveErrors(const ArchiveStatus& a) {
  uint64_t n = 0;
  for (const auto& s : a.shards) n += s.errors;
  return n;
}

}  // namespace strata::coldtest
