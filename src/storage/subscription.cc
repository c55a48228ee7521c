// Catch-up and live subscriptions.
//
// Each subscription has its own thread that pulls: history from the tiers (a stream's own
// index, or $all through ScanAll), then live events from the ring as the watermark moves. The
// switch is seamless because both phases read by position/revision from one cursor: there is
// no hand-over queue in which an event could be lost or doubled. A slow handler only slows its
// own thread; when the ring has moved on, ScanAll reads the warm tier. Memory per subscription
// is one page of events.
#include <spdlog/spdlog.h>

#include "model/stream_name.h"
#include "storage/store_impl.h"

namespace strata::storage {

class SubscriptionImpl : public Subscription {
 public:
  SubscriptionImpl(StoreImpl* store, SubscribeRequest req, FilterMatcher matcher,
                   std::shared_ptr<SubscriptionHandler> handler)
      : store_(store),
        req_(std::move(req)),
        matcher_(std::move(matcher)),
        handler_(std::move(handler)) {}

  ~SubscriptionImpl() override {
    cancelled_.store(true, std::memory_order_release);
    if (thread_.joinable()) {
      store_->ring().WakeAll();
      thread_.join();
    }
  }

  bool Start() {
    if (!store_->Register(this)) return false;
    thread_ = std::thread([this] { Run(); });
    return true;
  }
  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    if (!finished_.load(std::memory_order_acquire)) store_->ring().WakeAll();
  }
  uint64_t delivered() const override { return delivered_.load(std::memory_order_relaxed); }
  Position position() const override { return Position(position_.load(std::memory_order_relaxed)); }

 private:
  bool Stopped() const { return cancelled_.load(std::memory_order_acquire) || store_->closing(); }

  void Run() {
    Error* error = nullptr;
    std::optional<Error> err;
    auto st = req_.all ? RunAll() : IsIndexStream(req_.stream) ? RunIndexStream() : RunStream();
    if (!st) {
      err = st.error();
      error = &*err;
    } else if (store_->closing() && !cancelled_.load()) {
      err = Error(ErrorCode::kStoreClosed, "the store is shutting down");
      error = &*err;
    }
    handler_->OnStop(error);
    finished_.store(true, std::memory_order_release);
    store_->Unregister(this);
  }

  // Tails $all from position p (inclusive): history, caught-up, then live. `accept` filters.
  // `link`, when set, is called for each accepted event before delivery.
  Status Tail(uint64_t p, bool send_caught_up, const std::function<bool(const RecordView&)>& accept,
              bool checkpoints, const std::function<void(RecordedEvent&)>& link = nullptr) {
    bool caught_up = !send_caught_up;
    uint64_t since_checkpoint = 0;
    // Everything before p is behind us (for lag metrics), even where nothing matched.
    if (p > 0) position_.store(p - 1, std::memory_order_relaxed);
    while (!Stopped()) {
      const uint64_t w = store_->Watermark().value();
      if (p < w) {
        // A page of at most 4096 records (positions need not be dense: hot/hot_options.h).
        const uint64_t to = w;
        bool stop = false, paged = false;
        uint64_t scanned = 0;
        STRATA_TRY(store_->ScanAll(Position(p), Position(to), [&](const RecordView& v) {
          p = v.header.position.value() + 1;
          position_.store(v.header.position.value(), std::memory_order_relaxed);
          if (accept(v)) {
            delivered_.fetch_add(1, std::memory_order_relaxed);
            RecordedEvent e = v.ToEvent();
            if (link) link(e);
            if (!handler_->OnEvent(e)) {
              stop = true;
              return false;
            }
          }
          if (checkpoints && ++since_checkpoint >= req_.checkpoint_interval) {
            since_checkpoint = 0;
            handler_->OnCheckpoint(Position(p));
          }
          if (++scanned >= 4096) {
            paged = true;
            return false;
          }
          return !Stopped();
        }));
        if (stop) {
          cancelled_.store(true);
          return OkStatus();
        }
        if (!paged && p < to) p = to;  // the rest up to the watermark holds no record
        if (!Stopped()) position_.store(p - 1, std::memory_order_relaxed);
        continue;
      }
      if (!caught_up) {
        caught_up = true;
        handler_->OnCaughtUp();
        if (checkpoints) handler_->OnCheckpoint(Position(p));
      }
      store_->ring().WaitForWatermarkAbove(Position(p), std::chrono::milliseconds(100));
    }
    return OkStatus();
  }

  Status RunAll() {
    uint64_t p = req_.after_position ? req_.after_position->value() + 1 : 1;
    if (req_.from_end) p = store_->Watermark().value();
    return Tail(
        p, true, [&](const RecordView& v) { return matcher_.Matches(v.stream, v.type); },
        !matcher_.empty());
  }

  Status RunStream() {
    uint64_t next = req_.after_revision ? req_.after_revision->value() + 1 : 0;
    uint64_t tail_from = store_->Watermark().value();
    if (!req_.from_end) {
      // History from the stream's own index; the watermark read before each page bounds the
      // $all position from which live tailing must start so that nothing is missed.
      while (!Stopped()) {
        tail_from = store_->Watermark().value();
        ReadStreamRequest rr;
        rr.stream = req_.stream;
        rr.from = Revision(next);
        rr.max_count = 512;
        auto page = store_->ReadStream(rr);
        if (!page) {
          if (page.error().code() == ErrorCode::kStreamNotFound) break;  // wait for it
          return page.error();
        }
        for (const auto& e : page->events) {
          if (Stopped()) return OkStatus();
          next = e.revision.value() + 1;
          position_.store(e.position.value(), std::memory_order_relaxed);
          delivered_.fetch_add(1, std::memory_order_relaxed);
          if (!handler_->OnEvent(e)) {
            cancelled_.store(true);
            return OkStatus();
          }
        }
        if (page->end_of_stream) break;
        if (page->next) next = std::max(next, page->next->value());
      }
    } else {
      auto head = store_->GetHead(req_.stream);
      if (!head) return head.error();
      if (*head && (*head)->HasEvents()) next = static_cast<uint64_t>((*head)->last_revision) + 1;
    }
    if (Stopped()) return OkStatus();
    handler_->OnCaughtUp();
    const std::string& name = req_.stream;
    STRATA_TRY(Tail(
        tail_from, false,
        [&](const RecordView& v) {
          if (v.stream != name) return false;
          if (v.header.kind == RecordKind::kTombstone) {
            cancelled_.store(true);
            tombstoned_ = true;
            return false;
          }
          if (v.header.revision.value() < next) return false;  // already delivered
          next = v.header.revision.value() + 1;
          return true;
        },
        false));
    if (tombstoned_)
      return Error(ErrorCode::kStreamDeleted, "stream '" + name + "' was tombstoned");
    return OkStatus();
  }

  // An index stream ($ce-…, $et-…): history from the index, then $all from the index's checkpoint,
  // counting revisions with the indexer's own rule (InIndexStream), so they match what a later
  // read returns.
  Status RunIndexStream() {
    uint64_t next = req_.after_revision ? req_.after_revision->value() + 1 : 0;
    uint64_t counter = 0, tail_from = 1;
    while (!Stopped()) {
      ReadStreamRequest rr;
      rr.stream = req_.stream;
      rr.from = Revision(next);
      rr.max_count = 512;
      IndexStreams::Head head;
      auto page = store_->ReadIndexStream(rr, &head);
      counter = head.count;
      tail_from = head.checkpoint + 1;
      if (!page) {
        if (page.error().code() == ErrorCode::kStreamNotFound) break;
        return page.error();
      }
      for (const auto& e : page->events) {
        if (Stopped()) return OkStatus();
        next = e.link->revision.value() + 1;
        position_.store(e.position.value(), std::memory_order_relaxed);
        delivered_.fetch_add(1, std::memory_order_relaxed);
        if (!handler_->OnEvent(e)) {
          cancelled_.store(true);
          return OkStatus();
        }
      }
      if (page->end_of_stream) break;
      if (page->next) next = std::max(next, page->next->value());
    }
    if (Stopped()) return OkStatus();
    handler_->OnCaughtUp();
    const std::string& name = req_.stream;
    uint64_t revision = 0;
    return Tail(
        tail_from, false,
        [&](const RecordView& v) {
          if (!InIndexStream(name, v)) return false;
          revision = counter++;
          return revision >= next;  // earlier ones were delivered from the index
        },
        false,
        [&](RecordedEvent& e) {
          next = revision + 1;
          e.link = LinkRef{name, Revision(revision)};
        });
  }

  StoreImpl* store_;
  SubscribeRequest req_;
  FilterMatcher matcher_;
  std::shared_ptr<SubscriptionHandler> handler_;
  std::thread thread_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> position_{0};
  bool tombstoned_ = false;
};

uint64_t SubscriptionPosition(const SubscriptionImpl* s) { return s->position().value(); }

Result<std::unique_ptr<Subscription>> StoreImpl::Subscribe(
    SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) {
  if (closing()) return Error(ErrorCode::kStoreClosed, "the store is closed");
  if (!request.all) STRATA_TRY(ValidateStreamName(request.stream));
  if (!request.all && IsIndexStream(request.stream) && !options().index_streams) {
    return Error(ErrorCode::kInvalidArgument,
                 "index streams are off in this store (--no-index-streams); restart without it "
                 "to subscribe to '" +
                     request.stream + "'");
  }
  if (request.checkpoint_interval == 0) request.checkpoint_interval = 1;
  // "From the end" is the end now, when Subscribe returns (a caller may append right after and
  // must see that event), not when the subscription's thread gets to run.
  if (request.from_end) {
    request.from_end = false;
    if (request.all) {
      request.after_position = Position(Watermark().value() - 1);
    } else if (IsIndexStream(request.stream)) {
      // The index may be a little behind: count what it has not reached yet up to now.
      const uint64_t w = Watermark().value();
      const IndexStreams::Head head = index_streams_->GetHead(request.stream);
      uint64_t count = head.count;
      STRATA_TRY(ScanAll(Position(head.checkpoint + 1), Position(w), [&](const RecordView& v) {
        if (InIndexStream(request.stream, v)) ++count;
        return true;
      }));
      request.after_revision.reset();
      if (count > 0) request.after_revision = Revision(count - 1);
    } else {
      auto head = GetHead(request.stream);
      if (!head) return head.error();
      request.after_revision.reset();  // no events yet: all of them will be new
      if (*head && (*head)->HasEvents()) {
        request.after_revision = Revision(static_cast<uint64_t>((*head)->last_revision));
      }
    }
  }
  auto matcher = FilterMatcher::Compile(request.filter);
  if (!matcher) return matcher.error();
  auto sub = std::make_unique<SubscriptionImpl>(this, std::move(request), std::move(*matcher),
                                                std::move(handler));
  if (!sub->Start()) return Error(ErrorCode::kStoreClosed, "the store is closed");
  return std::unique_ptr<Subscription>(std::move(sub));
}

}  // namespace strata::storage
