// Helpers for storage tests: a temporary directory and small-footprint store options.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "storage/local_store.h"

namespace strata::testing {

class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path() /
                ("strata-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(base);
    std::filesystem::create_directories(base);
    path_ = base.string();
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

inline StoreOptions SmallOptions(const std::string& dir) {
  StoreOptions o;
  o.data_dir = dir;
  o.shards = 2;
  o.warm.write_buffer_size = 4u << 20;
  o.warm.index_write_buffer_size = 2u << 20;
  o.warm.memtable_budget = 64u << 20;
  o.warm.block_cache_bytes = 16u << 20;
  o.hot.ring_bytes = 4u << 20;
  o.hot.ring_slots = 1u << 17;
  // Flush index runs often so that tests exercise runs and merges, not only the memory tail.
  o.index_flush_events = 64;
  o.index_flush_interval = std::chrono::milliseconds(50);
  return o;
}

inline EventData Event(std::string type = "Happened", std::string data = "{}") {
  EventData e;
  e.event_id = Uuid::Random();
  e.type = std::move(type);
  e.data = std::move(data);
  return e;
}

inline AppendRequest Req(std::string stream, ExpectedRevision expected,
                         std::vector<EventData> events) {
  AppendRequest r;
  r.stream = std::move(stream);
  r.expected = expected;
  r.events = std::move(events);
  return r;
}

}  // namespace strata::testing
