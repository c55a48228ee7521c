#include "router/cluster_ownership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace strata::router {

namespace {
using SteadyClock = std::chrono::steady_clock;

// How much earlier than etcd this node gives its lease up: clock-rate error between the two
// machines, and the renewal's flight time is already on the safe side (see the header).
std::chrono::milliseconds Margin(std::chrono::seconds ttl) {
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(1), ttl / 5);
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ClusterOwnership::ClusterOwnership(ClusterOptions options, std::unique_ptr<etcd::EtcdClient> etcd)
    : options_(std::move(options)),
      keys_(options_.cluster),
      etcd_(std::move(etcd)),
      tokens_(options_.partitions, 0),
      recorded_(options_.partitions, false),
      taking_over_(options_.partitions, 0),
      takeover_failed_(options_.partitions),
      unowned_since_(options_.partitions) {}

Result<std::unique_ptr<ClusterOwnership>> ClusterOwnership::Join(
    ClusterOptions options, std::unique_ptr<etcd::EtcdClient> etcd) {
  if (options.node_id.empty() || options.node_id.find('/') != std::string::npos) {
    return Error(ErrorCode::kInvalidConfig,
                 "node id '" + options.node_id + "' is empty or has a '/'; pass --node-id NAME");
  }
  if (options.role != kRoleData && options.role != kRoleRouter) {
    return Error(ErrorCode::kInvalidConfig,
                 "role '" + options.role + "' is neither 'data' nor 'router'");
  }
  if (const size_t colon = options.advertise.rfind(':');
      colon == std::string::npos || colon == 0 || colon + 1 == options.advertise.size() ||
      options.advertise.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    return Error(ErrorCode::kInvalidConfig, "the advertised address '" + options.advertise +
                                                "' is not HOST:PORT; pass --advertise HOST:PORT");
  }
  if (options.lease_ttl < std::chrono::seconds(2)) {
    return Error(ErrorCode::kInvalidConfig, "the lease TTL must be at least 2 seconds");
  }
  std::unique_ptr<ClusterOwnership> self(new ClusterOwnership(std::move(options), std::move(etcd)));
  if (self->options_.role == kRoleData) {
    // Not on the lease: survivors need it once this member is gone. A member that no longer
    // puts every acknowledged event in an object store withdraws it, so that nobody takes over
    // from an object store that may lack some.
    const auto& o = self->options_;
    const std::string key = self->keys_.store(o.node_id);
    auto put = self->etcd_->Txn(
        {},
        {o.cold_url.empty() ? etcd::Op::Delete(key) : etcd::Op::Put(key, EncodeStore(o.cold_url))});
    if (!put) return put.error();
  }
  // A previous process with this id (killed, so it could not leave) keeps its member key until
  // its lease expires: wait for that rather than take its place while it might still run.
  const auto give_up = SteadyClock::now() + self->options_.lease_ttl + std::chrono::seconds(2);
  bool said = false;
  while (true) {
    Status st = self->JoinOnce();
    if (st) break;
    if (st.error().code() != ErrorCode::kConflict || SteadyClock::now() > give_up) {
      return st.error();
    }
    if (!said) {
      spdlog::info(
          "cluster: member '{}' is still registered (a previous process?); waiting up to "
          "{} s for its lease to expire",
          self->self(), self->options_.lease_ttl.count());
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  self->thread_ = std::thread([p = self.get()] { p->Run(); });
  self->takeover_thread_ = std::thread([p = self.get()] { p->RunTakeOvers(); });
  return self;
}

Status ClusterOwnership::JoinOnce() {
  const auto sent = SteadyClock::now();
  auto grant = etcd_->GrantLease(options_.lease_ttl.count());
  if (!grant) return grant.error();
  MemberInfo me{options_.node_id, options_.advertise, options_.role, NowMicros(), grant->id};
  auto txn =
      etcd_->Txn({etcd::Compare::Absent(keys_.member(options_.node_id))},
                 {etcd::Op::Put(keys_.member(options_.node_id), EncodeMember(me), grant->id)});
  if (!txn || !txn->succeeded) {
    (void)etcd_->RevokeLease(grant->id);  // best effort: it would expire anyway
    if (!txn) return txn.error();
    return Error(ErrorCode::kConflict, "a live member of cluster '" + options_.cluster +
                                           "' already has the id '" + options_.node_id +
                                           "'; give this node another --node-id");
  }
  std::lock_guard lock(mu_);
  lease_ = grant->id;
  valid_until_ = sent + std::chrono::seconds(grant->ttl_seconds) - Margin(options_.lease_ttl);
  last_renew_ = sent;
  std::fill(tokens_.begin(), tokens_.end(), 0);
  spdlog::info("cluster '{}': joined as '{}' ({}, {}), lease {:x}, TTL {} s", options_.cluster,
               options_.node_id, options_.role, options_.advertise, grant->id, grant->ttl_seconds);
  return OkStatus();
}

ClusterOwnership::~ClusterOwnership() { Leave(); }

void ClusterOwnership::Leave() {
  {
    std::lock_guard lock(stop_mu_);
    if (left_) return;
    left_ = stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (takeover_thread_.joinable()) takeover_thread_.join();
  int64_t lease;
  {
    std::lock_guard lock(mu_);
    std::fill(tokens_.begin(), tokens_.end(), 0);  // stop serving before anyone can take over
    lease = lease_;
    lease_ = 0;
  }
  // Revoking the lease deletes every key attached to it: the member, its owner keys, balancer.
  if (lease != 0) {
    if (auto st = etcd_->RevokeLease(lease); !st) {
      spdlog::warn(
          "cluster: leaving without revoking the lease ({}); the others take over once "
          "it expires",
          st.error().ToString());
    } else {
      spdlog::info("cluster '{}': '{}' left", options_.cluster, options_.node_id);
    }
  }
}

void ClusterOwnership::CrashForTest() {
  {
    std::lock_guard lock(stop_mu_);
    left_ = stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (takeover_thread_.joinable()) takeover_thread_.join();
  std::lock_guard lock(mu_);
  lease_ = 0;  // a dead process answers nothing: it owns nothing, and it never revokes
}

bool ClusterOwnership::LeaseValid(SteadyClock::time_point now) const {
  return lease_ != 0 && now < valid_until_;
}

Result<Lease> ClusterOwnership::OwnerOf(uint32_t partition) {
  std::lock_guard lock(mu_);
  const auto now = SteadyClock::now();
  if (partition < tokens_.size() && tokens_[partition] != 0 && LeaseValid(now)) {
    const auto token = static_cast<uint64_t>(tokens_[partition]);
    return Lease{options_.node_id, token, token};
  }
  const auto& owner = partition < view_.owners.size() ? view_.owners[partition] : std::nullopt;
  if (owner && owner->node != options_.node_id) {
    const auto token = static_cast<uint64_t>(owner->token);
    return Lease{owner->node, token, token};
  }
  const std::string& written =
      partition < view_.written.size() ? view_.written[partition] : std::string();
  if (partition < taking_over_.size() && taking_over_[partition] != 0) {
    return Error(ErrorCode::kUnavailable,
                 "partition " + std::to_string(partition) + " is being taken over by '" +
                     options_.node_id + "' from '" + written +
                     "', which is down (its events are being copied from that member's object "
                     "store); retry in a moment");
  }
  if (owner) {
    return Error(ErrorCode::kUnavailable, "this node ('" + options_.node_id +
                                              "') cannot renew its etcd lease, so it no "
                                              "longer serves partition " +
                                              std::to_string(partition) +
                                              "; retry on another node, or in a moment");
  }
  if (view_.CanTakeOver(partition)) {
    return Error(ErrorCode::kUnavailable,
                 "partition " + std::to_string(partition) + " holds data on member '" + written +
                     "', which is down; another member takes it over from that member's object "
                     "store: retry in a few seconds");
  }
  if (!written.empty() && !view_.IsLive(written)) {
    return Error(ErrorCode::kUnavailable,
                 "partition " + std::to_string(partition) + " holds data on member '" + written +
                     "', which is down; it is served again once '" + written + "' is back");
  }
  return Error(ErrorCode::kUnavailable, "partition " + std::to_string(partition) +
                                            " has no owner right now (it is moving, or its owner "
                                            "stopped); retry in a moment");
}

bool ClusterOwnership::Holds(uint32_t partition, uint64_t token) const {
  std::lock_guard lock(mu_);
  return partition < tokens_.size() && tokens_[partition] != 0 &&
         static_cast<uint64_t>(tokens_[partition]) == token && LeaseValid(SteadyClock::now());
}

Status ClusterOwnership::BeforeFirstWrite(uint32_t partition) {
  {
    std::lock_guard lock(mu_);
    if (partition < recorded_.size() && recorded_[partition]) return OkStatus();
  }
  const std::string key = keys_.written(partition);
  auto txn = etcd_->Txn({etcd::Compare::Absent(key)}, {etcd::Op::Put(key, options_.node_id)},
                        {etcd::Op::GetPrefix(key)});
  if (!txn) return txn.error();
  if (!txn->succeeded) {
    const auto& found = txn->gets.empty() ? std::vector<etcd::KeyValue>{} : txn->gets[0];
    if (found.empty() || found[0].value != options_.node_id) {
      return Error(ErrorCode::kConflict,
                   "partition " + std::to_string(partition) + " already holds data written by '" +
                       (found.empty() ? std::string("?") : found[0].value) +
                       "', which cannot follow it here yet; retry once that node serves it");
    }
  }
  std::lock_guard lock(mu_);
  recorded_[partition] = true;
  return OkStatus();
}

bool ClusterOwnership::RecordedHere(uint32_t partition) const {
  std::lock_guard lock(mu_);
  return recorded_[partition];
}

std::vector<MemberAddress> ClusterOwnership::Members() const {
  std::lock_guard lock(mu_);
  std::vector<MemberAddress> out;
  for (const auto& [id, m] : view_.members) {
    out.push_back({id, m.advertise, id == options_.node_id, m.role == kRoleData});
  }
  return out;
}

ClusterView ClusterOwnership::View() const {
  std::lock_guard lock(mu_);
  return view_;
}

OwnershipStats ClusterOwnership::Stats() const {
  std::lock_guard lock(mu_);
  OwnershipStats s = stats_;
  s.lease_valid = LeaseValid(SteadyClock::now());
  s.owned = s.lease_valid ? static_cast<uint32_t>(std::count_if(tokens_.begin(), tokens_.end(),
                                                                [](int64_t t) { return t != 0; }))
                          : 0;
  s.balancer = view_.balancer == options_.node_id;
  s.taking_over = static_cast<uint32_t>(
      std::count_if(taking_over_.begin(), taking_over_.end(), [](int64_t t) { return t != 0; }));
  return s;
}

void ClusterOwnership::Run() {
  while (true) {
    Tick();
    std::unique_lock lock(stop_mu_);
    if (stop_cv_.wait_for(lock, options_.tick, [this] { return stopping_; })) return;
  }
}

void ClusterOwnership::Renew(SteadyClock::time_point now) {
  int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = lease_;
  }
  auto ttl = etcd_->KeepAlive(lease);
  std::lock_guard lock(mu_);
  if (!ttl) {
    ++stats_.renew_failures;
    if (now - last_renew_warning_ >= std::chrono::seconds(10)) {
      last_renew_warning_ = now;
      spdlog::warn(
          "cluster: cannot renew the lease ({}); this node stops serving its partitions "
          "in {} ms unless a renewal succeeds",
          ttl.error().ToString(),
          std::max<int64_t>(
              0,
              std::chrono::duration_cast<std::chrono::milliseconds>(valid_until_ - now).count()));
    }
    return;
  }
  if (*ttl == 0) {
    // etcd let the lease go (we were cut off for longer than the TTL): every key on it is gone.
    const auto owned = std::count_if(tokens_.begin(), tokens_.end(), [](int64_t t) { return t; });
    stats_.lost += static_cast<uint64_t>(owned);  // those the last view still showed as ours
    std::fill(tokens_.begin(), tokens_.end(), 0);
    lease_ = 0;
    spdlog::warn("cluster: the lease expired in etcd; {} partitions lost, rejoining", owned);
    return;
  }
  valid_until_ = now + std::chrono::seconds(*ttl) - Margin(options_.lease_ttl);
  last_renew_ = now;
}

void ClusterOwnership::Tick() {
  if (cut_off_.load()) return;
  const auto now = SteadyClock::now();
  bool rejoin;
  {
    std::lock_guard lock(mu_);
    rejoin = lease_ == 0;
  }
  if (rejoin) {
    if (!JoinOnce()) return;
  } else if (now - last_renew_ >= options_.lease_ttl / 3) {
    Renew(now);
  }
  auto view = ReadClusterView(*etcd_, keys_, options_.partitions);
  bool valid;
  {
    std::lock_guard lock(mu_);
    valid = LeaseValid(SteadyClock::now());
    if (view) {
      view_ = *view;
      for (uint32_t p = 0; p < options_.partitions; ++p) {
        const auto& o = view_.owners[p];
        const bool mine = o && o->node == options_.node_id && o->lease == lease_;
        // A release clears its token before deleting the key: a token that goes here was lost.
        if (tokens_[p] != 0 && !mine) ++stats_.lost;
        // A partition being taken over is served only once its events are here.
        tokens_[p] = mine && taking_over_[p] == 0 ? o->token : 0;
      }
    }
  }
  if (!view || !valid) return;
  Balance(*view);
  AcquireAndRelease(*view);
}

void ClusterOwnership::Balance(const ClusterView& view) {
  if (view.balancer.empty()) {
    int64_t lease;
    {
      std::lock_guard lock(mu_);
      lease = lease_;
    }
    auto txn = etcd_->Txn({etcd::Compare::Absent(keys_.balancer())},
                          {etcd::Op::Put(keys_.balancer(), options_.node_id, lease)});
    if (txn && txn->succeeded) spdlog::info("cluster: '{}' is the balancer", options_.node_id);
    return;
  }
  if (view.balancer != options_.node_id) return;
  const auto now = SteadyClock::now();
  std::vector<bool> stuck(options_.partitions, false);
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    if (view.owners[p]) {
      unowned_since_[p] = {};
      continue;
    }
    if (unowned_since_[p] == SteadyClock::time_point{}) unowned_since_[p] = now;
    stuck[p] = now - unowned_since_[p] > options_.lease_ttl;
  }
  if (now - last_balance_ < options_.balance_every) return;
  last_balance_ = now;
  auto changes = PlanBalance(view, options_.balance, stuck);
  if (changes.empty()) return;
  std::vector<etcd::Op> puts;
  std::string said;
  for (const auto& [p, node] : changes) {
    puts.push_back(etcd::Op::Put(keys_.desired(p), node));
    said += (said.empty() ? "" : ", ") + std::to_string(p) + "->" + node;
    if (stuck[p]) unowned_since_[p] = now;
  }
  auto txn = etcd_->Txn({etcd::Compare::ModRevisionIs(keys_.balancer(), view.balancer_rev)}, puts);
  if (txn && txn->succeeded) spdlog::info("cluster balancer: {}", said);
}

void ClusterOwnership::AcquireAndRelease(const ClusterView& view) {
  if (options_.role != kRoleData) return;
  int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = lease_;
  }
  std::map<std::string, TakeOverJob> jobs;  // by the member taken over from
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    const auto& owner = view.owners[p];
    const std::string& desired = view.desired[p];
    // A partition that holds data elsewhere is taken here only to take it over from a member
    // that is down; else this node's store lacks it.
    const std::string& written = view.written[p];
    const bool free = written.empty() || written == options_.node_id;
    const bool takeover = !free && options_.take_over && view.CanTakeOver(p) && MayTakeOver(p);
    if (!owner && desired == options_.node_id && (free || takeover)) {
      PartitionOwner me{options_.node_id, 0, NowMicros(), lease};
      std::vector<etcd::Compare> ifs{etcd::Compare::Absent(keys_.owner(p))};
      if (takeover) {
        // Only once the writer's lease is gone in etcd (it acknowledges nothing after), and
        // only if nobody has taken it over meanwhile.
        ifs.push_back(etcd::Compare::Absent(keys_.member(written)));
        ifs.push_back(etcd::Compare::ModRevisionIs(keys_.written(p), view.written_rev[p]));
      }
      auto txn = etcd_->Txn(ifs, {etcd::Op::Put(keys_.owner(p), EncodeOwner(me), lease)});
      if (!txn || !txn->succeeded) continue;
      std::lock_guard lock(mu_);
      if (lease_ != lease) continue;  // the lease went meanwhile: so did the key
      ++stats_.acquired;
      if (takeover) {
        taking_over_[p] = txn->revision;
        TakeOverJob& job = jobs[written];
        job.from = written;
        job.url = view.stores.at(written);
        job.partitions.emplace_back(p, txn->revision);
        spdlog::info(
            "cluster: '{}' takes partition {} over from '{}', which is down (fencing "
            "token {})",
            options_.node_id, p, written, txn->revision);
        continue;
      }
      tokens_[p] = txn->revision;
      spdlog::info("cluster: '{}' owns partition {} (fencing token {})", options_.node_id, p,
                   txn->revision);
    } else if (owner && owner->node == options_.node_id && owner->lease == lease &&
               !desired.empty() && desired != options_.node_id && view.IsEligible(desired) &&
               written.empty() && !RecordedHere(p)) {
      // Stop serving first, then let go: no append is acknowledged here once another node can
      // take the partition.
      {
        std::lock_guard lock(mu_);
        tokens_[p] = 0;
        ++stats_.released;
      }
      auto txn = etcd_->Txn({etcd::Compare::ModRevisionIs(keys_.owner(p), owner->token)},
                            {etcd::Op::Delete(keys_.owner(p))});
      if (txn && txn->succeeded) {
        spdlog::info("cluster: '{}' released partition {} to '{}'", options_.node_id, p, desired);
      }
    }
  }
  if (jobs.empty()) return;
  {
    std::lock_guard lock(stop_mu_);
    for (auto& [_, job] : jobs) takeovers_.push_back(std::move(job));
  }
  stop_cv_.notify_all();
}

bool ClusterOwnership::MayTakeOver(uint32_t partition) const {
  std::lock_guard lock(mu_);
  const auto failed = takeover_failed_[partition];
  return failed == SteadyClock::time_point{} ||
         SteadyClock::now() - failed > 2 * options_.lease_ttl;
}

void ClusterOwnership::RunTakeOvers() {
  while (true) {
    TakeOverJob job;
    {
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait(lock, [this] { return stopping_ || !takeovers_.empty(); });
      if (stopping_) return;
      job = std::move(takeovers_.front());
      takeovers_.pop_front();
    }
    TakeOverOnce(job);
  }
}

void ClusterOwnership::TakeOverOnce(const TakeOverJob& job) {
  std::vector<uint32_t> partitions;
  for (const auto& [p, _] : job.partitions) partitions.push_back(p);
  const auto started = SteadyClock::now();
  Status copied = options_.take_over(partitions, job.from, job.url);
  if (!copied) return AbandonTakeOver(job, copied.error());
  // The events are here: the partitions are written by this member from now on, provided it
  // still holds every owner key it took (else another member may be taking them over).
  std::vector<etcd::Compare> ifs;
  std::vector<etcd::Op> puts;
  for (const auto& [p, token] : job.partitions) {
    ifs.push_back(etcd::Compare::ModRevisionIs(keys_.owner(p), token));
    puts.push_back(etcd::Op::Put(keys_.written(p), options_.node_id));
  }
  auto txn = etcd_->Txn(ifs, puts);
  if (!txn || !txn->succeeded) {
    return AbandonTakeOver(
        job, txn ? Error(ErrorCode::kConflict, "this member no longer holds every owner key")
                 : txn.error());
  }
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  std::lock_guard lock(mu_);
  for (const auto& [p, token] : job.partitions) {
    if (taking_over_[p] != token) continue;
    taking_over_[p] = 0;
    recorded_[p] = true;
    tokens_[p] = token;  // the next tick clears it if the key went meanwhile
    ++stats_.taken_over;
  }
  stats_.last_takeover_seconds = seconds;
  spdlog::info("cluster: '{}' took {} partitions over from '{}' in {:.2f} s and serves them",
               options_.node_id, job.partitions.size(), job.from, seconds);
}

void ClusterOwnership::AbandonTakeOver(const TakeOverJob& job, const Error& why) {
  spdlog::warn(
      "cluster: '{}' could not take {} partitions over from '{}' ({}); it gives them up so "
      "another member can try",
      options_.node_id, job.partitions.size(), job.from, why.ToString());
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, token] : job.partitions) {
      if (taking_over_[p] == token) taking_over_[p] = 0;
      takeover_failed_[p] = SteadyClock::now();
      ++stats_.takeover_failures;
    }
  }
  for (const auto& [p, token] : job.partitions) {
    IgnoreError(etcd_->Txn({etcd::Compare::ModRevisionIs(keys_.owner(p), token)},
                           {etcd::Op::Delete(keys_.owner(p))}));
  }
}

}  // namespace strata::router
