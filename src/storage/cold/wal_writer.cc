#include "storage/cold/wal_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/retry.h"

namespace strata::cold {

namespace {
int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::unique_ptr<WalWriter>> WalWriter::Open(objstore::ObjectStore* store,
                                                   const WalWriterOptions& options, Clock* clock) {
  std::unique_ptr<WalWriter> w(new WalWriter(store, options, clock));
  STRATA_TRY(w->LoadExisting());
  return w;
}

WalWriter::~WalWriter() { Stop(); }

Status WalWriter::LoadExisting() {
  auto objects = objstore::ListAll(*store_, kWalPrefix);
  if (!objects) return objects.error();
  uint64_t max_epoch = 0;
  for (const auto& info : *objects) {
    auto id = ParseWalKey(info.key);
    if (!id) continue;  // not ours: left alone
    max_epoch = std::max(max_epoch, id->first);
    auto head = objstore::GetString(*store_, info.key, {0, std::min(info.size, kWalHeadBytes)});
    if (!head) return head.error();
    auto o = DecodeWalHead(*head, info.key);
    if (!o && o.error().code() == ErrorCode::kInvalidArgument) {  // a table past 4 KiB
      head = objstore::GetString(*store_, info.key);
      if (!head) return head.error();
      o = DecodeWalHead(*head, info.key);
    }
    if (!o) return o.error();
    Written w{info.key, {}};
    for (const auto& g : o->groups) {
      w.shard_last.emplace_back(g.shard, g.last_position);
      uint64_t& last = last_logged_[g.shard];
      last = std::max(last, g.last_position);
    }
    written_.push_back(std::move(w));
  }
  epoch_ = std::max<uint64_t>(static_cast<uint64_t>(clock_->NowMicros()), max_epoch + 1);
  live_.store(written_.size(), std::memory_order_relaxed);
  if (!written_.empty()) {
    spdlog::info("object-store WAL: {} objects from earlier runs in {}; this run is epoch {}",
                 written_.size(), store_->url(), epoch_);
  }
  return OkStatus();
}

uint64_t WalWriter::LastLogged(uint32_t shard) const {
  std::lock_guard lock(mu_);
  auto it = last_logged_.find(shard);
  return it == last_logged_.end() ? 0 : it->second;
}

void WalWriter::Start(std::function<uint64_t()> next_position,
                      std::function<uint64_t(uint32_t)> archived_upto) {
  next_position_ = std::move(next_position);
  archived_upto_ = std::move(archived_upto);
  thread_ = std::thread([this] { Loop(); });
  gc_thread_ = std::thread([this] { GcLoop(); });
}

void WalWriter::GcLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    CollectGarbage();  // at once: what earlier runs left may be archived already
    lock.lock();
    gc_cv_.wait_for(lock, options_.gc_every, [&] { return stopping_; });
  }
}

Status WalWriter::Write(uint32_t shard, uint64_t first, uint64_t last, uint32_t events,
                        std::string_view records) {
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (stopping_ || !thread_.joinable()) {
    return Error(ErrorCode::kStoreClosed,
                 "the store is closing; the append was not written to the object store");
  }
  const uint64_t ticket = next_ticket_++;
  WalGroup g;
  g.shard = shard;
  g.events = events;
  g.first_position = first;
  g.last_position = last;
  g.records = records;
  pending_.push_back({g, ticket});
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return done_ticket_ >= ticket || failed_; });
  if (done_ticket_ >= ticket) return OkStatus();
  return *failed_;
}

void WalWriter::BeginClose() {
  std::lock_guard lock(mu_);
  if (!closing_) close_started_ = std::chrono::steady_clock::now();
  closing_ = true;
}

void WalWriter::Stop() {
  BeginClose();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  gc_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (gc_thread_.joinable()) gc_thread_.join();
  std::lock_guard lock(mu_);
  if (!failed_) {
    failed_ = Error(ErrorCode::kStoreClosed,
                    "the store is closed; the append was not written to the object store");
  }
  done_cv_.notify_all();
}

void WalWriter::Loop() {
  std::vector<Pending> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait_for(lock, std::chrono::seconds(1),
                        [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        if (stopping_) return;
        continue;
      }
      // Gather for the rest of the interval since the last PUT began: later groups join.
      const auto due = last_put_ + options_.interval;
      if (!stopping_) work_cv_.wait_until(lock, due, [&] { return stopping_; });
      batch.swap(pending_);
    }
    if (!PutBatch(batch)) return;
    {
      std::lock_guard lock(mu_);
      done_ticket_ = batch.back().ticket;
    }
    done_cv_.notify_all();
    batch.clear();
  }
}

bool WalWriter::PutBatch(const std::vector<Pending>& batch) {
  WalObject o;
  o.epoch = epoch_;
  o.seq = seq_;
  o.next_position = next_position_ ? next_position_() : 0;
  Written w{WalKey(epoch_, seq_), {}};
  for (const auto& p : batch) {
    o.groups.push_back(p.group);
    w.shard_last.emplace_back(p.group.shard, p.group.last_position);
  }
  const std::string bytes = EncodeWalObject(o);
  Backoff backoff({options_.retry_min, options_.retry_max, /*jitter=*/true});
  last_put_ = std::chrono::steady_clock::now();
  while (true) {
    const int64_t start = NowNanos();
    auto st = PutOnce(w.key, bytes);
    if (st) {
      put_latency_.Record(std::chrono::nanoseconds(NowNanos() - start));
      if (backoff.failures() > 0) {
        spdlog::info("object-store WAL: {} written after {} failed attempts", w.key,
                     backoff.failures());
      }
      break;
    }
    put_failures_.fetch_add(1, std::memory_order_relaxed);
    const auto pause = backoff.Next();
    std::unique_lock lock(mu_);
    const bool give_up =
        closing_ && std::chrono::steady_clock::now() - close_started_ > options_.close_grace;
    if (give_up || st.error().code() == ErrorCode::kCorruption) {
      failed_ = Error(ErrorCode::kUnavailable,
                      "the append was written locally but not to the object store (" +
                          st.error().message() +
                          "); its outcome is unknown: retry with the same event ids");
      spdlog::error("object-store WAL: giving up on {}: {}", w.key, st.error().ToString());
      lock.unlock();
      done_cv_.notify_all();
      return false;
    }
    if (backoff.failures() == 1 || backoff.failures() % 20 == 0) {
      spdlog::warn("object-store WAL: writing {} failed ({} attempts; appends wait): {}", w.key,
                   backoff.failures(), st.error().ToString());
    }
    work_cv_.wait_for(lock, pause);
  }
  ++seq_;
  objects_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(bytes.size(), std::memory_order_relaxed);
  groups_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (const auto& p : batch) events_.fetch_add(p.group.events, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    for (const auto& [shard, last] : w.shard_last) {
      uint64_t& l = last_logged_[shard];
      l = std::max(l, last);
    }
  }
  std::lock_guard gc_lock(gc_mu_);
  written_.push_back(std::move(w));
  live_.store(written_.size(), std::memory_order_relaxed);
  return true;
}

Status WalWriter::PutOnce(const std::string& key, const std::string& bytes) {
  objstore::StringSource body(bytes);
  auto st = store_->Put(key, body, {.if_absent = true});
  if (st || st.error().code() != ErrorCode::kAlreadyExists) return st;
  // An earlier attempt may have succeeded with its answer lost: the object is then ours.
  auto existing = objstore::GetString(*store_, key);
  if (!existing) return existing.error();
  if (*existing == bytes) return OkStatus();
  return Error(ErrorCode::kCorruption,
               "WAL object " + key +
                   " already exists with other contents: another process "
                   "writes this store's WAL (two servers on one --cold URL?)");
}

void WalWriter::CollectGarbage() {
  if (!archived_upto_) return;
  std::map<uint32_t, uint64_t> archived;
  auto covered = [&](const Written& w) {
    for (const auto& [shard, last] : w.shard_last) {
      auto it = archived.find(shard);
      if (it == archived.end()) it = archived.emplace(shard, archived_upto_(shard)).first;
      if (last > it->second) return false;
    }
    return true;
  };
  size_t deleted = 0;
  std::lock_guard gc_lock(gc_mu_);  // the writer thread waits for it only to add an entry
  for (auto it = written_.begin(); it != written_.end() && deleted < 1000;) {
    if (!covered(*it)) {
      ++it;
      continue;
    }
    if (auto st = store_->Delete(it->key); !st) {
      spdlog::warn("object-store WAL: cannot delete {} (retried later): {}", it->key,
                   st.error().ToString());
      break;
    }
    it = written_.erase(it);
    ++deleted;
  }
  deleted_.fetch_add(deleted, std::memory_order_relaxed);
  live_.store(written_.size(), std::memory_order_relaxed);
}

WalStats WalWriter::Stats() const {
  WalStats s;
  s.epoch = epoch_;
  s.objects = objects_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.groups = groups_.load(std::memory_order_relaxed);
  s.events = events_.load(std::memory_order_relaxed);
  s.put_failures = put_failures_.load(std::memory_order_relaxed);
  s.deleted = deleted_.load(std::memory_order_relaxed);
  s.live_objects = live_.load(std::memory_order_relaxed);
  s.put_latency = put_latency_.Read();
  return s;
}

}  // namespace strata::cold
