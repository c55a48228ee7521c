// Taking a partition over from another store's object store (storage/adopt.h): every event of
// the partition comes over at its revision with its id, data and metadata, soft deletes and
// tombstones included, whether it was archived in a segment or only in the WAL; a retry of an
// acknowledged append is deduplicated by the new store; a second takeover writes nothing; and a
// history that contradicts what the store holds is refused, naming the stream.
#include "storage/adopt.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/partition.h"
#include "objstore/object_store.h"
#include "storage/local_store.h"
#include "storage/tests/cold_test_util.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {

using namespace coldtest;  // NOLINT: the helpers of the cold-tier suites
using testing::TempDir;

StoreOptions WriterOptions(const std::string& dir, const std::string& url) {
  StoreOptions o = ColdStoreOptions(dir, url);
  o.cold.wal = true;
  o.cold.wal_interval = std::chrono::milliseconds(5);
  return o;
}

// What a read of `stream` answers, comparable between two stores.
struct StreamState {
  std::optional<ErrorCode> code;  // the read's error, if it failed
  std::vector<std::tuple<uint64_t, Uuid, std::string, std::string, std::string>> events;
  bool operator==(const StreamState&) const = default;
};

StreamState ReadState(LocalStore& store, const std::string& stream) {
  ReadStreamRequest req;
  req.stream = stream;
  req.max_count = 1'000'000;
  auto r = store.ReadStream(req);
  StreamState s;
  if (!r) {
    s.code = r.error().code();
    return s;
  }
  for (const auto& e : r->events) {
    s.events.emplace_back(e.revision.value(), e.event_id, e.type, e.data, e.metadata);
  }
  return s;
}

std::vector<EventData> Events(int n, const std::string& tag) {
  std::vector<EventData> out;
  for (int i = 0; i < n; ++i) {
    EventData e = Event("T" + std::to_string(i % 3), "{\"" + tag + "\":" + std::to_string(i) + "}");
    e.metadata = "{\"m\":" + std::to_string(i) + "}";
    out.push_back(std::move(e));
  }
  return out;
}

TEST(Adopt, TakesOverEveryEventOfAPartitionFromAnotherStoresObjectStore) {
  TempDir dir;
  const std::string url = "file://" + dir.path() + "/cold";
  std::set<std::string> streams;
  std::vector<std::pair<std::string, std::vector<EventData>>> acked;  // every append, in order
  {
    auto a = LocalStore::Open(WriterOptions(dir.path() + "/a", url));
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    auto append = [&](const std::string& stream, std::vector<EventData> events) {
      auto r = (*a)->Append(Req(stream, ExpectedRevision::Any(), events));
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      acked.emplace_back(stream, std::move(events));
      streams.insert(stream);
    };
    for (int i = 0; i < 40; ++i) append("order-" + std::to_string(i % 13), Events(1 + i % 4, "a"));
    // Some of it archived in segments, the rest only in the WAL.
    ASSERT_TRUE((*a)->ArchiveAll(NoDeadline()).has_value());
    for (int i = 0; i < 30; ++i) append("order-" + std::to_string(i % 17), Events(1 + i % 3, "b"));
    EventData meta = Event("$metadata", "{\"$maxCount\":100,\"owner\":\"x\"}");
    append("$$order-2", {meta});
    ASSERT_TRUE((*a)->Delete({"order-3", ExpectedRevision::Any(), false, NoDeadline()}));
    append("order-3", Events(2, "after-delete"));
    ASSERT_TRUE((*a)->Delete({"order-4", ExpectedRevision::Any(), true, NoDeadline()}));
    streams.insert("$$order-3");
    ASSERT_TRUE((*a)->Close().has_value());
  }
  // The partitions these streams live in, taken over by a store that never saw them.
  std::set<uint32_t> partitions;
  for (const auto& s : streams) partitions.insert(PartitionOf(s, 64));
  auto os = objstore::Open(url);
  ASSERT_TRUE(os.has_value());
  auto b = LocalStore::Open(SmallOptions(dir.path() + "/b"));
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  const std::vector<uint32_t> taken(partitions.begin(), partitions.end());
  auto adopted = storage::AdoptPartitions(**b, **os, taken, 64);
  ASSERT_TRUE(adopted.has_value()) << adopted.error().ToString();
  EXPECT_EQ(adopted->written, adopted->events);
  EXPECT_EQ(adopted->deduplicated, 0u);
  EXPECT_EQ(adopted->streams, 17u);  // order-0..16 (with their metadata streams)
  EXPECT_GT(adopted->segments, 0u) << "nothing came from the segments";
  EXPECT_GT(adopted->wal_objects, 0u) << "nothing came from the WAL";
  // Every stream reads the same, from a reopened original and from the new store.
  auto a = LocalStore::Open(WriterOptions(dir.path() + "/a", url));
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  for (const auto& s : streams) {
    const StreamState want = ReadState(**a, s), got = ReadState(**b, s);
    EXPECT_TRUE(want == got) << s << ": " << want.events.size() << " events (code "
                             << (want.code ? static_cast<int>(*want.code) : 0) << ") there, "
                             << got.events.size() << " (code "
                             << (got.code ? static_cast<int>(*got.code) : 0) << ") here";
  }
  EXPECT_EQ(ReadState(**b, "order-4").code, ErrorCode::kStreamDeleted);
  EXPECT_EQ(ReadState(**b, "order-3").events.size(), 2u);  // truncated before the delete
  // A client's retry of an acknowledged append, against the new owner: the original result.
  const auto& [stream, second] = acked[18];  // order-5's second append: revisions 2..4
  auto retry = (*b)->Append(Req(stream, ExpectedRevision::Any(), second));
  ASSERT_TRUE(retry.has_value()) << retry.error().ToString();
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_revision.value(), 2u);
  EXPECT_EQ(retry->count, 3u);
  // A second takeover (one cut short, or repeated) writes nothing.
  auto again = storage::AdoptPartitions(**b, **os, taken, 64);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->events, adopted->events);
  EXPECT_EQ(again->written, 0u);
  EXPECT_EQ(again->deduplicated, again->events);
  // A history that contradicts this store: the new store wrote order-7's next revision, and
  // then so did the original. Refused, naming the stream.
  ASSERT_TRUE((*b)->Append(Req("order-7", ExpectedRevision::Any(), Events(1, "b"))));
  ASSERT_TRUE((*a)->Append(Req("order-7", ExpectedRevision::Any(), Events(1, "a"))));
  ASSERT_TRUE((*a)->Close().has_value());
  auto conflict = storage::AdoptPartitions(**b, **os, {PartitionOf("order-7", 64)}, 64);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_NE(conflict.error().message().find("'order-7'"), std::string::npos)
      << conflict.error().ToString();
}

TEST(Adopt, RefusesAStoreOfAnotherLayoutAndAnEmptyObjectStore) {
  TempDir dir;
  auto b = LocalStore::Open(SmallOptions(dir.path() + "/b"));
  ASSERT_TRUE(b.has_value());
  auto empty = objstore::Open("file://" + dir.path() + "/nothing");
  ASSERT_TRUE(empty.has_value());
  auto r = storage::AdoptPartitions(**b, **empty, {3}, 64);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kObjectNotFound) << r.error().ToString();
  const std::string url = "file://" + dir.path() + "/cold";
  {
    auto o = WriterOptions(dir.path() + "/a", url);
    o.partitions = 16;
    auto a = LocalStore::Open(o);
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    ASSERT_TRUE((*a)->Append(Req("s", ExpectedRevision::Any(), Events(1, "x"))));
  }
  auto os = objstore::Open(url);
  ASSERT_TRUE(os.has_value());
  auto other = storage::AdoptPartitions(**b, **os, {3}, 64);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), ErrorCode::kInvalidConfig) << other.error().ToString();
  auto past = storage::AdoptPartitions(**b, **os, {20}, 64);
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code(), ErrorCode::kInvalidArgument) << past.error().ToString();
}

}  // namespace
}  // namespace strata
