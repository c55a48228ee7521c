#include "projection/fold.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>

namespace strata::projection {

// simdjson's on-demand parser wants SIMDJSON_PADDING readable bytes after the document: the
// event data is copied into a reused padded buffer.
struct Extractor::Json {
  simdjson::ondemand::parser parser;
  std::string buffer;
  std::string key_pointer, value_pointer;  // JSON pointers ("/a/b") of key_field and field
};

namespace {
std::string ToPointer(const std::string& path) {
  if (path.empty()) return {};
  std::string p = "/";
  for (char c : path) {
    if (c == '.') {
      p += '/';
    } else if (c == '~') {
      p += "~0";
    } else if (c == '/') {
      p += "~1";
    } else {
      p += c;
    }
  }
  return p;
}

// The helpers of Extractor::Extract, once per event: internal and called once each, so they are
// inlined; they allocate nothing (the key goes into the Extractor's reused buffer).

// A JSON token without the whitespace simdjson may leave after it.
inline std::string_view TrimTrailingSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The key field: a non-empty string, or a number's token. False when it is missing or else.
inline bool KeyFromField(simdjson::ondemand::document& doc, const std::string& pointer,
                         std::string& key) {
  simdjson::ondemand::value v;
  if (doc.at_pointer(pointer).get(v)) return false;
  simdjson::ondemand::json_type t;
  if (v.type().get(t)) return false;
  if (t == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s) || s.empty()) return false;
    key.assign(s);
    return true;
  }
  if (t == simdjson::ondemand::json_type::number) {
    key.assign(TrimTrailingSpace(v.raw_json_token()));
    return true;
  }
  return false;
}

// The value field as JSON text: an object's or array's whole text, a scalar's token. False
// when it is missing or unreadable.
inline bool TextFromField(simdjson::ondemand::document& doc, const std::string& pointer,
                          std::string_view& text) {
  simdjson::ondemand::value v;
  simdjson::ondemand::json_type t;
  std::string_view raw;
  if (doc.at_pointer(pointer).get(v) || v.type().get(t)) return false;
  bool bad = false;
  if (t == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object o;
    bad = v.get_object().get(o) || o.raw_json().get(raw);
  } else if (t == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array a;
    bad = v.get_array().get(a) || a.raw_json().get(raw);
  } else {
    raw = v.raw_json_token();
  }
  if (bad) return false;
  text = TrimTrailingSpace(raw);
  return true;
}

// The value field as a finite number. False when it is missing, not a number, or not finite.
inline bool NumberFromField(simdjson::ondemand::document& doc, const std::string& pointer,
                            double& number) {
  double d = 0;
  if (doc.at_pointer(pointer).get_double().get(d) || !std::isfinite(d)) return false;
  number = d;
  return true;
}

}  // namespace

Extractor::Extractor(const ProjectionSpec& spec) : spec_(spec), json_(std::make_unique<Json>()) {
  json_->key_pointer = ToPointer(spec.key_field);
  json_->value_pointer = ToPointer(spec.field);
}

Extractor::~Extractor() = default;

bool Extractor::Matches(const RecordView& r) const {
  if (r.header.kind != RecordKind::kEvent) return false;
  if (!spec_.stream.empty()) {
    if (r.stream != spec_.stream) return false;
  } else if (!spec_.stream_prefixes.empty()) {
    bool any = false;
    for (const auto& p : spec_.stream_prefixes) {
      if (r.stream.substr(0, p.size()) == p) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  } else if (!r.stream.empty() && r.stream[0] == '$') {
    return false;  // $all without a stream condition: system streams are not user data
  }
  if (!spec_.event_types.empty() && std::find(spec_.event_types.begin(), spec_.event_types.end(),
                                              r.type) == spec_.event_types.end()) {
    return false;
  }
  if (spec_.key_pattern && !spec_.key_pattern->Match(r.stream)) return false;
  return true;
}

bool Extractor::Extract(const RecordView& r, Update* u) {
  *u = Update{};
  const bool need_json =
      !json_->key_pointer.empty() || (!json_->value_pointer.empty() && spec_.op != Op::kCount);
  simdjson::ondemand::document doc;
  if (need_json) {
    json_->buffer.assign(r.data);
    json_->buffer.resize(r.data.size() + simdjson::SIMDJSON_PADDING);
    auto parsed = json_->parser.iterate(json_->buffer.data(), r.data.size(), json_->buffer.size());
    if (std::move(parsed).get(doc)) {
      ++skipped_;
      return false;
    }
  }
  // The key.
  if (spec_.key_pattern) {
    u->key = *spec_.key_pattern->Match(r.stream);
  } else if (!json_->key_pointer.empty()) {
    if (!KeyFromField(doc, json_->key_pointer, key_)) {
      ++skipped_;
      return false;
    }
    u->key = key_;
  } else {
    u->key = r.stream;
  }
  // The value.
  bool found = true;
  switch (spec_.op) {
    case Op::kCount:
      u->number = 1;
      break;
    case Op::kLastText:
      if (json_->value_pointer.empty()) {
        u->text = r.data;
      } else {
        found = TextFromField(doc, json_->value_pointer, u->text);
      }
      break;
    default:
      found = NumberFromField(doc, json_->value_pointer, u->number);
      break;
  }
  if (!found) ++skipped_;
  return found;
}

void Model::Apply(const Update& u) {
  if (op_ == Op::kLastText) {
    texts_[std::string(u.key)].assign(u.text);
    return;
  }
  auto [it, inserted] = numbers_.try_emplace(std::string(u.key), u.number);
  if (inserted) return;
  double& v = it->second;
  switch (op_) {
    case Op::kCount:
    case Op::kSum:
      v += u.number;
      break;
    case Op::kMin:
      v = std::min(v, u.number);
      break;
    case Op::kMax:
      v = std::max(v, u.number);
      break;
    case Op::kLastNumber:
      v = u.number;
      break;
    case Op::kLastText:
      break;
  }
}

void Model::Merge(const Model& delta) {
  if (op_ == Op::kLastText) {
    for (const auto& [k, t] : delta.texts_) texts_[k] = t;
    return;
  }
  for (const auto& [k, n] : delta.numbers_) Apply(Update{k, n, {}});
}

std::optional<Value> Model::Get(std::string_view key) const {
  const std::string k(key);
  if (op_ == Op::kLastText) {
    auto it = texts_.find(k);
    if (it == texts_.end()) return std::nullopt;
    return Value{0, it->second};
  }
  auto it = numbers_.find(k);
  if (it == numbers_.end()) return std::nullopt;
  return Value{it->second, {}};
}

std::vector<std::pair<std::string, double>> Model::Top(size_t n) const {
  std::vector<std::pair<std::string, double>> all(numbers_.begin(), numbers_.end());
  auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), better);
  all.resize(n);
  return all;
}

bool SameValue(Op op, const Value& a, const Value& b) {
  if (op == Op::kLastText) return a.text == b.text;
  if (op == Op::kSum) {
    const double scale = std::max({1.0, std::fabs(a.number), std::fabs(b.number)});
    return std::fabs(a.number - b.number) <= 1e-9 * scale;
  }
  return a.number == b.number;
}

std::string FormatValue(Op op, const Value& v) {
  if (op == Op::kLastText) return v.text;
  return fmt::format("{}", v.number);
}

}  // namespace strata::projection
