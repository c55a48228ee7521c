// The object-store WAL (docs/wal.md): its object format, that an append is acknowledged only
// once its records are in a WAL object, that a failing object store holds acknowledgements back
// (and readers of $all with them), that a restore brings back every acknowledged event from the
// WAL when nothing was archived, and that a restart writes to the WAL what a failure left only
// in the local log.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "model/record.h"
#include "objstore/object_store.h"
#include "storage/cold/wal_format.h"
#include "storage/local_store.h"
#include "storage/snapshot.h"
#include "storage/tests/cold_test_util.h"
#include "storage/tests/faulty_store.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {

using namespace coldtest;  // NOLINT: the helpers of the cold-tier suites
using testing::TempDir;

struct Logged {
  std::string stream;
  uint64_t revision;
  Uuid id;
};

// Every record of every WAL object, by position; a position twice is a failure.
std::map<uint64_t, Logged> ReadWal(objstore::ObjectStore& os) {
  std::map<uint64_t, Logged> out;
  auto objects = objstore::ListAll(os, cold::kWalPrefix);
  EXPECT_TRUE(objects.has_value());
  if (!objects) return out;
  for (const auto& info : *objects) {
    auto bytes = objstore::GetString(os, info.key);
    EXPECT_TRUE(bytes.has_value());
    if (!bytes) continue;
    auto o = cold::DecodeWalObject(*bytes, info.key);
    EXPECT_TRUE(o.has_value()) << o.error().ToString();
    if (!o) continue;
    for (const auto& g : o->groups) {
      EXPECT_TRUE(
          cold::ForEachRecord(g.records, [&](uint64_t p, std::string_view rec) {
            auto r = DecodeRecord(rec);
            EXPECT_TRUE(r.has_value());
            Logged l{std::string(r->stream), r->header.revision.value(), r->header.event_id};
            EXPECT_TRUE(out.emplace(p, l).second) << "position " << p << " logged twice";
            return true;
          }).has_value());
    }
  }
  return out;
}

std::shared_ptr<FaultyStore> FaultyDir(const std::string& dir) {
  auto base = objstore::Open("file://" + dir + "/cold");
  EXPECT_TRUE(base.has_value());
  return std::make_shared<FaultyStore>(std::shared_ptr<objstore::ObjectStore>(std::move(*base)));
}

StoreOptions WalOptions(const std::string& dir, std::shared_ptr<objstore::ObjectStore> os) {
  StoreOptions o = ColdStoreOptions(dir, "");
  o.cold.store = std::move(os);
  o.cold.wal = true;
  o.cold.wal_interval = std::chrono::milliseconds(5);
  o.cold.archive = false;  // the WAL alone must hold what is acknowledged
  o.cold.wal_close_grace = std::chrono::milliseconds(300);
  return o;
}

// Dense positions (consecutive in a group) and clock positions (a tick, 64, apart).
TEST(WalFormat, RoundTripsAndRejectsDamage) {
  for (uint64_t step : {uint64_t{1}, uint64_t{64}}) {
    SCOPED_TRACE("positions " + std::to_string(step) + " apart");
    std::string records;
    char buf[4096];
    const uint64_t last = 7 + 2 * step;
    for (uint64_t i = 0; i < 3; ++i) {
      RecordHeader h;
      h.position = Position(7 + i * step);
      h.revision = Revision(i);
      h.event_id = Uuid::Random();
      EventData e = testing::Event("T", "{\"i\":" + std::to_string(i) + "}");
      char* end = EncodeRecord(h, "s-1", e, buf);
      records.append(buf, end - buf);
    }
    cold::WalObject o;
    o.epoch = 42;
    o.seq = 3;
    o.next_position = last + 1;
    o.groups.push_back({1, 3, 7, last, records});
    const std::string bytes = cold::EncodeWalObject(o);
    const std::string key = cold::WalKey(42, 3);
    EXPECT_EQ(key, "wal/00000000000000000042/00000000000000000003");
    EXPECT_EQ(cold::ParseWalKey(key), std::make_pair(uint64_t{42}, uint64_t{3}));
    EXPECT_FALSE(cold::ParseWalKey("wal/42/3").has_value());
    auto back = cold::DecodeWalObject(bytes, key);
    ASSERT_TRUE(back.has_value()) << back.error().ToString();
    EXPECT_EQ(back->epoch, 42u);
    EXPECT_EQ(back->next_position, last + 1);
    ASSERT_EQ(back->groups.size(), 1u);
    EXPECT_EQ(back->groups[0].records, records);
    auto head = cold::DecodeWalHead(std::string_view(bytes).substr(0, 80), key);
    ASSERT_TRUE(head.has_value()) << head.error().ToString();
    EXPECT_EQ(head->groups[0].last_position, last);
    // Any flipped byte is found, in the table or the records; so is a cut.
    for (size_t i : {size_t{20}, size_t{50}, bytes.size() - 5}) {
      std::string bad = bytes;
      bad[i] ^= 0x10;
      auto r = cold::DecodeWalObject(bad, key);
      ASSERT_FALSE(r.has_value()) << "byte " << i;
      EXPECT_EQ(r.error().code(), ErrorCode::kCorruption) << r.error().ToString();
    }
    EXPECT_FALSE(cold::DecodeWalObject(bytes.substr(0, bytes.size() - 1), key).has_value());
    // A table whose range cannot hold its records is damage too.
    cold::WalObject lying = o;
    lying.groups[0].last_position = 8;
    lying.groups[0].events = 3;
    EXPECT_FALSE(cold::DecodeWalObject(cold::EncodeWalObject(lying), key).has_value());
  }
}

// Each acknowledged append is in the WAL when its acknowledgement arrives: checked by reading
// the object store from the completion callback itself.
TEST(Wal, EveryAcknowledgedAppendIsInAWalObjectWhenAcknowledged) {
  TempDir dir;
  auto os = FaultyDir(dir.path());
  auto store = LocalStore::Open(WalOptions(dir.path(), os));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  std::atomic<int> pending{0}, missing{0}, checked{0};
  std::mutex mu;
  for (int i = 0; i < 60; ++i) {
    ++pending;
    std::vector<EventData> events{Event("A"), Event("B")};
    (*store)->AppendAsync(Req("order-" + std::to_string(i % 7), ExpectedRevision::Any(), events),
                          [&, events](Result<AppendResult> r) {
                            EXPECT_TRUE(r.has_value()) << r.error().ToString();
                            if (r) {
                              std::lock_guard lock(mu);
                              const auto wal = ReadWal(*os);
                              for (uint64_t p = r->first_position.value();
                                   p <= r->last_position.value(); ++p) {
                                auto it = wal.find(p);
                                if (it == wal.end() ||
                                    it->second.id != events[p - r->first_position.value()].event_id)
                                  ++missing;
                                ++checked;
                              }
                            }
                            --pending;
                          });
  }
  while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(checked.load(), 120);
  EXPECT_EQ(missing.load(), 0);
  const auto stats = (*store)->Stats();
  EXPECT_TRUE(stats.wal);
  EXPECT_GT(stats.wal_objects, 0u);
  EXPECT_EQ(stats.wal_events, 120u);
}

// While the object store refuses WAL objects, nothing is acknowledged and $all does not move;
// once it answers, every append completes, in order, with nothing lost.
TEST(Wal, AFailingObjectStoreHoldsAcknowledgementsBackUntilItRecovers) {
  TempDir dir;
  auto os = FaultyDir(dir.path());
  auto store = LocalStore::Open(WalOptions(dir.path(), os));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_TRUE((*store)->Append(Req("s-0", ExpectedRevision::Any(), {Event()})).has_value());
  const Position before = (*store)->Watermark();
  std::atomic<bool> refuse{true};
  os->SetFaults([&](std::string_view op, std::string_view key) {
    return refuse.load() && op == "put" && key.starts_with("wal/");
  });
  std::promise<Result<AppendResult>> done;
  (*store)->AppendAsync(Req("s-1", ExpectedRevision::Any(), {Event(), Event()}),
                        [&](Result<AppendResult> r) { done.set_value(std::move(r)); });
  auto f = done.get_future();
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(800)), std::future_status::timeout)
      << "acknowledged while the object store refused its WAL object";
  EXPECT_EQ((*store)->Watermark(), before) << "$all moved past records not in the object store";
  EXPECT_GT(os->injected(), 1u);  // retried
  refuse = false;
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto r = f.get();
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_GT((*store)->Watermark(), before);
  EXPECT_EQ(ReadWal(*os).count(r->last_position.value()), 1u);
}

// The node and its disk are lost: a restore from the object store alone (nothing was archived)
// brings back every acknowledged event, at its revision and position, and the restored store
// goes on without reusing a position.
TEST(Wal, RestoreBringsBackEveryAcknowledgedEventFromTheWal) {
  TempDir dir;
  const std::string url = "file://" + dir.path() + "/cold";
  auto os = objstore::Open(url);
  ASSERT_TRUE(os.has_value());
  std::vector<RecordedEvent> before;
  {
    auto o = WalOptions(dir.path(), nullptr);
    o.cold.url = url;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    Fill(**store, 5, 40, 3);
    before = ReadAllEvents(**store);
    ASSERT_EQ(before.size(), 120u);
  }
  std::filesystem::remove_all(dir.path() + "/data");  // the disk is gone
  RestoreOptions ro;
  ro.from = url;
  ro.data_dir = dir.path() + "/data";
  auto restored = RestoreStore(ro);
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(restored->segments, 0u);  // nothing was archived: all of it came from the WAL
  EXPECT_EQ(restored->wal_events, 120u);
  auto o = WalOptions(dir.path(), nullptr);
  o.cold.url = url;
  o.shards = 0;
  auto store = LocalStore::Open(o);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ExpectSameEvents(before, ReadAllEvents(**store), "restored from the WAL");
  for (int s = 0; s < 5; ++s)
    EXPECT_EQ(ReadStreamAll(**store, "s-" + std::to_string(s)).size(), 24u);
  // The idempotency window came back too: the same ids again are deduplicated.
  const RecordedEvent& last = before.back();
  EventData again = Event();
  again.event_id = last.event_id;
  auto dup = (*store)->Append(Req(last.stream, ExpectedRevision::Any(), {again}));
  ASSERT_TRUE(dup.has_value()) << dup.error().ToString();
  EXPECT_EQ(dup->first_position, last.position);
  auto next = (*store)->Append(Req("s-new", ExpectedRevision::Any(), {Event()}));
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(next->first_position, before.back().position);
}

// A group written locally whose WAL object never got written (the object store refused it until
// the store closed) is not acknowledged; the next open writes it to the WAL before serving, so a
// later loss of the disk does not take it away either.
TEST(Wal, ARestartWritesToTheWalWhatOnlyTheLocalLogHeld) {
  TempDir dir;
  auto os = FaultyDir(dir.path());
  uint64_t stranded = 0;
  {
    auto store = LocalStore::Open(WalOptions(dir.path(), os));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->Append(Req("s-0", ExpectedRevision::Any(), {Event()})).has_value());
    os->SetFaults([&](std::string_view op, std::string_view key) {
      return op == "put" && key.starts_with("wal/");
    });
    // Not acknowledged while the object store refuses (the WAL retries as long as the store
    // runs); the close gives up after its grace and answers "outcome unknown".
    std::promise<Result<AppendResult>> done;
    (*store)->AppendAsync(Req("s-1", ExpectedRevision::Any(), {Event(), Event(), Event()}),
                          [&](Result<AppendResult> r) { done.set_value(std::move(r)); });
    auto f = done.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
    ASSERT_TRUE((*store)->Close().has_value());
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    auto r = f.get();
    ASSERT_FALSE(r.has_value()) << "acknowledged without its WAL object";
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
    EXPECT_NE(r.error().message().find("outcome is unknown"), std::string::npos)
        << r.error().ToString();
    stranded = ReadWal(*os).size();
    EXPECT_EQ(stranded, 1u);
  }
  os->SetFaults(nullptr);
  {
    auto o = WalOptions(dir.path(), os);
    o.shards = 0;
    auto store = LocalStore::Open(o);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    EXPECT_EQ(ReadStreamAll(**store, "s-1").size(), 3u);  // it was written after all
  }
  EXPECT_EQ(ReadWal(*os).size(), 4u) << "the restart did not write the local tail to the WAL";
}

}  // namespace
}  // namespace strata
