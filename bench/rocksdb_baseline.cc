// Baseline for `strata bench ingest`: RocksDB used the obvious way for an event log. One writer
// appends 200-byte events over 10,000 streams, keyed "<stream>/<revision>", in WriteBatches of
// 100 events, each batch written with sync=true (one WAL fdatasync per batch). Default RocksDB
// options, plus zstd. Prints events/s per run and the median of the runs.
//
//   build/release/bench/rocksdb_baseline [--seconds 5] [--runs 3] [--dir /tmp/x]
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  double seconds = 5;
  int runs = 3;
  std::string dir = "/tmp/strata-rocksdb-baseline";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  constexpr int kStreams = 10000, kBatch = 100, kEventBytes = 200;
  std::vector<double> rates;
  for (int run = 0; run < runs; ++run) {
    std::filesystem::remove_all(dir);
    rocksdb::Options options;
    options.create_if_missing = true;
    options.compression = rocksdb::kZSTD;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(options, dir, &raw);
    if (!s.ok()) {
      std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
      return 1;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    std::vector<uint64_t> revision(kStreams, 0);
    std::string value(kEventBytes, 'x');
    std::mt19937 rng(run);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    uint64_t events = 0;
    auto start = std::chrono::steady_clock::now();
    auto until = start + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    char key[64];
    while (std::chrono::steady_clock::now() < until) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < kBatch; ++i) {
        int stream = static_cast<int>(rng() % kStreams);
        int n = std::snprintf(key, sizeof(key), "bench-%d/%020llu", stream,
                              static_cast<unsigned long long>(revision[stream]++));
        batch.Put(rocksdb::Slice(key, n), value);
      }
      s = db->Write(wo, &batch);
      if (!s.ok()) {
        std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
        return 1;
      }
      events += kBatch;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(events / secs);
    std::printf("run %d: %.0f events/s\n", run + 1, events / secs);
    db.reset();
    std::filesystem::remove_all(dir);
  }
  std::sort(rates.begin(), rates.end());
  std::printf(
      "rocksdb baseline (WriteBatch of %d, fsync per batch, 1 writer): median %.0f events/s\n",
      kBatch, rates[rates.size() / 2]);
  std::printf("{\"bench\":\"rocksdb_baseline\",\"events_per_sec\":%.0f}\n",
              rates[rates.size() / 2]);
  return 0;
}
