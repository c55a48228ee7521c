#include "projection/sinks/redis/redis_sink.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace strata::projection {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view Text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

uint64_t ParseU64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

double ParseDouble(std::string_view s) {
  // Redis prints scores with %.17g (or "inf"); strtod needs a terminated string.
  return std::strtod(std::string(s).c_str(), nullptr);
}

std::string Num(double d) { return fmt::format("{}", d); }

}  // namespace

std::string RedisAddress::Describe() const {
  return fmt::format("redis://{}:{}/{}", host, port, db);
}

Result<RedisAddress> ParseRedisUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidConfig, "Redis URL '" + std::string(url) + "': " + why +
                                                " (expected redis://[:password@]host[:port][/db])");
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("it does not start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress a;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) cred = cred.substr(colon + 1);
    a.password = std::string(cred);
    rest = rest.substr(at + 1);
  }
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), a.db);
      if (ec != std::errc() || p != db.data() + db.size() || a.db < 0) {
        return bad("the database must be a number");
      }
    }
  }
  if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = hostport.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc() || p != port.data() + port.size() || a.port <= 0 || a.port > 65535) {
      return bad("the port must be a number from 1 to 65535");
    }
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return bad("no host");
  a.host = std::string(hostport);
  return a;
}

// One hiredis connection: connects (and AUTH, SELECT) on first use and after any error, pipelines
// commands, and turns every failure into an Error that names the server.
class RedisSink::Connection {
 public:
  Connection(const RedisAddress& a, std::chrono::milliseconds timeout)
      : address_(a), timeout_(timeout) {}
  ~Connection() { Reset(); }

  void Append(const std::vector<std::string_view>& args) {
    pending_.push_back(args.size());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (ctx_) {
      redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
    }
  }

  // Sends what Append queued and returns one reply per command, or the first connection error.
  // Error replies are returned as replies (the caller decides).
  Result<std::vector<Reply>> Flush() {
    const size_t n = pending_.size();
    pending_.clear();
    if (!ctx_) return Down("not connected");
    std::vector<Reply> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      void* r = nullptr;
      if (redisGetReply(ctx_, &r) != REDIS_OK || !r) {
        std::string why = ctx_->errstr[0] ? ctx_->errstr : "no reply";
        Reset();
        return Down(why);
      }
      out.emplace_back(static_cast<redisReply*>(r));
    }
    return out;
  }

  // Connects if needed; call before Append.
  Status Ensure() {
    if (ctx_) return OkStatus();
    pending_.clear();
    timeval tv{static_cast<time_t>(timeout_.count() / 1000),
               static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
    ctx_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
    if (!ctx_ || ctx_->err) {
      std::string why = ctx_ ? ctx_->errstr : "out of memory";
      Reset();
      return Down(why);
    }
    redisSetTimeout(ctx_, tv);
    if (!address_.password.empty()) {
      Append({"AUTH", address_.password});
      auto r = Flush();
      if (!r) return r.error();
      if ((*r)[0]->type == REDIS_REPLY_ERROR) {
        Reset();
        return Error(ErrorCode::kPermissionDenied, address_.Describe() + " refused the password: " +
                                                       std::string(Text((*r)[0].get())));
      }
    }
    if (address_.db != 0) {
      const std::string db = std::to_string(address_.db);
      Append({"SELECT", db});
      auto r = Flush();
      if (!r) return r.error();
      if ((*r)[0]->type == REDIS_REPLY_ERROR) {
        Reset();
        return Error(ErrorCode::kInvalidConfig,
                     address_.Describe() + ": SELECT failed: " + std::string(Text((*r)[0].get())));
      }
    }
    return OkStatus();
  }

  void Reset() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
  }

  Error Down(const std::string& why) const {
    return Error(ErrorCode::kUnavailable, "Redis at " + address_.Describe() + " is unavailable (" +
                                              why + "); the projection retries until it answers");
  }

 private:
  const RedisAddress address_;
  const std::chrono::milliseconds timeout_;
  redisContext* ctx_ = nullptr;
  std::vector<size_t> pending_;
};

namespace {
// An error reply as an Error. A Redis that cannot serve yet (loading its AOF after a restart,
// busy in a script, a replica without its master) answers with an error, not with data: that is
// kUnavailable, retried like a Redis that is down, never read as a value.
Status Check(const redisReply* r, const std::string& what) {
  if (r->type != REDIS_REPLY_ERROR) return OkStatus();
  const std::string_view text = Text(r);
  for (std::string_view transient : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"}) {
    if (text.starts_with(transient)) {
      return Error(ErrorCode::kUnavailable, what + ": Redis answered '" + std::string(text) +
                                                "'; the projection retries until it can serve");
    }
  }
  return Error(ErrorCode::kInternal, what + ": Redis answered " + std::string(text));
}

// Checks every reply; the first error.
Status CheckAll(const std::vector<Reply>& replies, const std::string& what) {
  for (const auto& r : replies) STRATA_TRY(Check(r.get(), what));
  return OkStatus();
}

SinkState ParseMeta(uint64_t generation, const redisReply* r) {
  SinkState s;
  s.generation = generation;
  if (r->type != REDIS_REPLY_ARRAY) return s;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    std::string_view k = Text(r->element[i]), v = Text(r->element[i + 1]);
    if (k == "checkpoint") {
      s.checkpoint = Position(ParseU64(v));
    } else if (k == "events") {
      s.events = ParseU64(v);
    } else if (k == "fingerprint") {
      s.fingerprint = std::string(v);
    } else if (k == "updated_us") {
      s.updated_us = static_cast<int64_t>(ParseU64(v));
    } else if (k == "writer") {
      s.writer = std::string(v);
    } else if (k == "epoch") {
      s.epoch = ParseU64(v);
    }
  }
  return s;
}
}  // namespace

RedisSink::RedisSink(RedisAddress address, std::string key_base, Op op,
                     std::chrono::milliseconds timeout)
    : address_(std::move(address)),
      base_(std::move(key_base)),
      op_(op),
      conn_(std::make_unique<Connection>(address_, timeout)) {}

RedisSink::~RedisSink() = default;

std::string RedisSink::ModelKey(uint64_t g) const { return fmt::format("{}:g{}:model", base_, g); }
std::string RedisSink::MetaKey(uint64_t g) const { return fmt::format("{}:g{}:meta", base_, g); }

Result<uint64_t> RedisSink::Current() {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string key = CurrentKey();
  conn_->Append({"GET", key});
  auto r = conn_->Flush();
  if (!r) return r.error();
  STRATA_TRY(Check((*r)[0].get(), "GET " + key));
  return ParseU64(Text((*r)[0].get()));
}

Result<uint64_t> RedisSink::NewGeneration() {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string key = base_ + ":next";
  conn_->Append({"INCR", key});
  auto r = conn_->Flush();
  if (!r) return r.error();
  STRATA_TRY(Check((*r)[0].get(), "INCR " + key));
  return static_cast<uint64_t>((*r)[0]->integer);
}

Result<SinkState> RedisSink::State(uint64_t generation) {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string meta = MetaKey(generation);
  conn_->Append({"HGETALL", meta});
  auto r = conn_->Flush();
  if (!r) return r.error();
  STRATA_TRY(Check((*r)[0].get(), "HGETALL " + meta));
  return ParseMeta(generation, (*r)[0].get());
}

Result<SinkState> RedisSink::Claim(uint64_t generation, const std::string& writer,
                                   uint64_t min_epoch) {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string meta = MetaKey(generation), model = ModelKey(generation);
  const std::string next = base_ + ":next", g = std::to_string(generation);
  // WATCH, read, then write in MULTI/EXEC: a commit or claim by someone else in between makes
  // EXEC fail, and the claim reads again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    conn_->Append({"WATCH", meta, next});
    conn_->Append({"HGETALL", meta});
    conn_->Append({"GET", next});
    auto r = conn_->Flush();
    if (!r) return r.error();
    if (auto st = CheckAll(*r, "claiming " + meta); !st) {
      Unwatch();
      return st.error();
    }
    SinkState s = ParseMeta(generation, (*r)[1].get());
    s.writer = writer;
    s.epoch = std::max(s.epoch, min_epoch) + 1;
    const std::string epoch = std::to_string(s.epoch);
    conn_->Append({"MULTI"});
    size_t queued = 1;
    if (s.checkpoint.value() == 0) {  // holds nothing: no model may be left behind
      conn_->Append({"UNLINK", model});
      ++queued;
    }
    conn_->Append({"HSET", meta, "writer", writer, "epoch", epoch});
    if (ParseU64(Text((*r)[2].get())) < generation) {
      conn_->Append({"SET", next, g});
      ++queued;
    }
    conn_->Append({"EXEC"});
    queued += 2;
    auto x = conn_->Flush();
    if (!x) return x.error();
    for (size_t i = 0; i + 1 < queued; ++i) {
      STRATA_TRY(Check((*x)[i].get(), "queueing the claim of " + meta));
    }
    const redisReply* exec = x->back().get();
    if (exec->type == REDIS_REPLY_NIL) continue;  // changed under the claim: read it again
    STRATA_TRY(Check(exec, "claiming " + meta));
    for (size_t i = 0; i < exec->elements; ++i) {
      STRATA_TRY(Check(exec->element[i], "claiming " + meta));
    }
    return s;
  }
  return Error(ErrorCode::kConflict, address_.Describe() + " " + meta +
                                         " changed under three claims in a row: another writer "
                                         "is committing to it");
}

void RedisSink::Unwatch() {
  conn_->Append({"UNWATCH"});
  IgnoreError(conn_->Flush());  // a broken connection drops the WATCH with it
}

Status RedisSink::Fence(const std::string& meta, Position expected, const SinkState& after) {
  conn_->Append({"WATCH", meta});
  conn_->Append({"HMGET", meta, "checkpoint", "writer", "epoch"});
  auto r = conn_->Flush();
  if (!r) return r.error();
  const redisReply* found = (*r)[1].get();
  auto st = CheckAll(*r, "reading " + meta);
  if (st && (found->type != REDIS_REPLY_ARRAY || found->elements != 3)) {
    st = Error(ErrorCode::kInternal, "reading " + meta + ": HMGET returned no array of 3");
  }
  if (!st) {
    Unwatch();
    return st;
  }
  const uint64_t checkpoint = ParseU64(Text(found->element[0]));
  const std::string_view writer = Text(found->element[1]);
  const uint64_t epoch = ParseU64(Text(found->element[2]));
  if (checkpoint == expected.value() && writer == after.writer && epoch == after.epoch) {
    return OkStatus();
  }
  Unwatch();
  return Error(ErrorCode::kConflict,
               fmt::format("{} {} is at checkpoint {} owned by '{}' epoch {}, not at {} owned by "
                           "'{}' epoch {}",
                           address_.Describe(), meta, checkpoint, writer, epoch, expected.value(),
                           after.writer, after.epoch));
}

size_t RedisSink::QueueModel(const std::string& model, const Model& delta, bool absolute) {
  size_t commands = 0;
  constexpr size_t kPairsPerCommand = 512;
  if ((op_ == Op::kCount || op_ == Op::kSum) && !absolute) {
    for (const auto& [k, v] : delta.numbers()) {
      const std::string n = Num(v);
      conn_->Append({"ZINCRBY", model, n, k});
      ++commands;
    }
    return commands;
  }
  std::vector<std::string_view> args;
  if (op_ == Op::kLastText) {
    for (const auto& [k, v] : delta.texts()) {
      if (args.empty()) args = {"HSET", model};
      args.push_back(k);
      args.push_back(v);
      if (args.size() >= 2 + 2 * kPairsPerCommand) {
        conn_->Append(args);
        ++commands;
        args.clear();
      }
    }
    if (!args.empty()) {
      conn_->Append(args);
      ++commands;
    }
    return commands;
  }
  // Plain ZADD sets whole values (absolute commits, and `last`).
  const char* flag = absolute ? nullptr : op_ == Op::kMin ? "LT" : op_ == Op::kMax ? "GT" : nullptr;
  std::vector<std::string> numbers;  // the formatted scores, alive until queued (no reallocation)
  numbers.reserve(kPairsPerCommand);
  auto start = [&] {
    args = {"ZADD", model};
    if (flag) args.push_back(flag);
    numbers.clear();
  };
  start();
  size_t pairs = 0;
  for (const auto& [k, v] : delta.numbers()) {
    numbers.push_back(Num(v));
    args.push_back(numbers.back());
    args.push_back(k);
    if (++pairs == kPairsPerCommand) {
      conn_->Append(args);
      ++commands;
      start();
      pairs = 0;
    }
  }
  if (pairs) {
    conn_->Append(args);
    ++commands;
  }
  return commands;
}

Status RedisSink::Commit(const Model& delta, Position expected, const SinkState& after,
                         bool absolute) {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string meta = MetaKey(after.generation), model = ModelKey(after.generation);
  STRATA_TRY(Fence(meta, expected, after));
  conn_->Append({"MULTI"});
  size_t commands = 1 + QueueModel(model, delta, absolute);
  const std::string cp = std::to_string(after.checkpoint.value());
  const std::string ev = std::to_string(after.events);
  const std::string ts = std::to_string(after.updated_us);
  const std::string epoch = std::to_string(after.epoch);
  conn_->Append({"HSET", meta, "checkpoint", cp, "events", ev, "fingerprint", after.fingerprint,
                 "updated_us", ts, "writer", after.writer, "epoch", epoch});
  conn_->Append({"EXEC"});
  commands += 2;
  auto replies = conn_->Flush();
  if (!replies) return replies.error();
  for (size_t i = 0; i + 1 < commands; ++i) {
    STRATA_TRY(Check((*replies)[i].get(), "queueing the commit"));
  }
  const redisReply* exec = replies->back().get();
  if (exec->type == REDIS_REPLY_NIL) {
    return Error(ErrorCode::kConflict,
                 address_.Describe() + " " + meta + " changed during the commit");
  }
  STRATA_TRY(Check(exec, "EXEC"));
  for (size_t i = 0; i < exec->elements; ++i) STRATA_TRY(Check(exec->element[i], "the commit"));
  return OkStatus();
}

Status RedisSink::Publish(uint64_t generation) {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string g = std::to_string(generation), key = CurrentKey();
  conn_->Append({"SET", key, g});
  auto r = conn_->Flush();
  if (!r) return r.error();
  return Check((*r)[0].get(), "SET " + key);
}

Status RedisSink::Drop(uint64_t generation) {
  auto current = Current();
  if (!current) return current.error();
  if (*current == generation) {
    return Error(ErrorCode::kInvalidArgument, "generation " + std::to_string(generation) +
                                                  " is the current one and cannot be dropped");
  }
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string model = ModelKey(generation), meta = MetaKey(generation);
  conn_->Append({"UNLINK", model, meta});
  auto r = conn_->Flush();
  if (!r) return r.error();
  return Check((*r)[0].get(), "UNLINK");
}

Result<ReadResult> RedisSink::Read(uint64_t generation, const ReadRequest& request) {
  std::lock_guard lock(mu_);
  STRATA_TRY(conn_->Ensure());
  const std::string meta = MetaKey(generation), model = ModelKey(generation);
  const bool numeric = IsNumeric(op_);
  const std::string top = std::to_string(static_cast<int64_t>(request.top) - 1);
  conn_->Append({"MULTI"});
  conn_->Append({"HGETALL", meta});
  conn_->Append({numeric ? "ZCARD" : "HLEN", model});
  if (!request.keys.empty()) {
    std::vector<std::string_view> args = {numeric ? "ZMSCORE" : "HMGET", model};
    for (const auto& k : request.keys) args.push_back(k);
    conn_->Append(args);
  }
  if (request.top && numeric) conn_->Append({"ZREVRANGE", model, "0", top, "WITHSCORES"});
  if (request.all) {
    if (numeric) {
      conn_->Append({"ZRANGE", model, "0", "-1", "WITHSCORES"});
    } else {
      conn_->Append({"HGETALL", model});
    }
  }
  conn_->Append({"EXEC"});
  auto replies = conn_->Flush();
  if (!replies) return replies.error();
  const redisReply* exec = replies->back().get();
  STRATA_TRY(Check(exec, "reading " + model));
  if (exec->type != REDIS_REPLY_ARRAY) {
    return Error(ErrorCode::kInternal, "reading " + model + ": EXEC returned no array");
  }
  for (size_t i = 0; i < exec->elements; ++i)
    STRATA_TRY(Check(exec->element[i], "reading " + model));
  size_t i = 0;
  ReadResult out;
  out.state = ParseMeta(generation, exec->element[i++]);
  out.cardinality = static_cast<uint64_t>(exec->element[i++]->integer);
  if (!request.keys.empty()) {
    const redisReply* v = exec->element[i++];
    for (size_t k = 0; k < v->elements; ++k) {
      const redisReply* e = v->element[k];
      if (e->type == REDIS_REPLY_NIL) {
        out.values.emplace_back();
      } else if (numeric) {
        out.values.push_back(Value{ParseDouble(Text(e)), {}});
      } else {
        out.values.push_back(Value{0, std::string(Text(e))});
      }
    }
  }
  if (request.top && numeric) {
    const redisReply* v = exec->element[i++];
    for (size_t k = 0; k + 1 < v->elements; k += 2) {
      out.top.emplace_back(std::string(Text(v->element[k])), ParseDouble(Text(v->element[k + 1])));
    }
  }
  if (request.all) {
    const redisReply* v = exec->element[i++];
    Model m(op_);
    for (size_t k = 0; k + 1 < v->elements; k += 2) {
      if (numeric) {
        m.mutable_numbers().emplace(std::string(Text(v->element[k])),
                                    ParseDouble(Text(v->element[k + 1])));
      } else {
        m.mutable_texts().emplace(std::string(Text(v->element[k])),
                                  std::string(Text(v->element[k + 1])));
      }
    }
    out.all = std::move(m);
  }
  return out;
}

}  // namespace strata::projection
