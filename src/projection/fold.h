// The fold: which events a projection takes, the key and value it reads from each (Extractor),
// and the read model they build (Model). The same code folds for every sink, for `verify`'s
// recount and for replay, so a sink and a recount can only differ if the sink lost or doubled
// something. Thread-safety: an Extractor is used by one thread; a Model is a plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/record.h"
#include "projection/spec.h"

namespace strata::projection {

// One key's value: a number (every Op but kLastText) or JSON text (kLastText).
struct Value {
  double number = 0;
  std::string text;
  bool operator==(const Value&) const = default;
};

// What one event contributes.
struct Update {
  std::string_view key;
  double number = 0;      // the field's value (kCount: 1)
  std::string_view text;  // kLastText: the field's JSON, or the event data
};

class Extractor {
 public:
  explicit Extractor(const ProjectionSpec& spec);
  ~Extractor();
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  // Whether the record belongs to the projection (its stream and type match). Cheap: no JSON.
  bool Matches(const RecordView& record) const;
  // The key and value of a matching record; false when the event lacks them (no key field, or a
  // value field that is missing or, for numeric kinds, not a number): such events are skipped,
  // and counted. The update's strings live until the next call.
  bool Extract(const RecordView& record, Update* update);
  uint64_t skipped() const { return skipped_; }

 private:
  struct Json;
  const ProjectionSpec& spec_;
  std::unique_ptr<Json> json_;
  std::string key_;
  uint64_t skipped_ = 0;
};

// A read model: key -> value, combined by the projection's Op. Also the per-flush aggregate of
// what a sink must add (a Model of the deltas, combined the same way).
class Model {
 public:
  explicit Model(Op op) : op_(op) {}
  Op op() const { return op_; }

  void Apply(const Update& u);
  // Folds `delta` (a Model of the same Op built from later events) into this one.
  void Merge(const Model& delta);
  void Clear() {
    numbers_.clear();
    texts_.clear();
  }
  size_t size() const { return IsNumeric(op_) ? numbers_.size() : texts_.size(); }
  bool empty() const { return size() == 0; }
  std::optional<Value> Get(std::string_view key) const;
  // The `n` keys with the highest numbers (numeric models), highest first; ties by key.
  std::vector<std::pair<std::string, double>> Top(size_t n) const;

  const std::unordered_map<std::string, double>& numbers() const { return numbers_; }
  const std::unordered_map<std::string, std::string>& texts() const { return texts_; }
  // Direct access for sinks that read a model back (Redis) and for tests.
  std::unordered_map<std::string, double>& mutable_numbers() { return numbers_; }
  std::unordered_map<std::string, std::string>& mutable_texts() { return texts_; }

 private:
  Op op_;
  std::unordered_map<std::string, double> numbers_;
  std::unordered_map<std::string, std::string> texts_;
};

// Whether two values of a model agree. Sums of floating-point fields may be grouped differently
// by a sink's per-flush aggregation than by a straight recount: they agree within 1e-9 relative.
bool SameValue(Op op, const Value& a, const Value& b);
std::string FormatValue(Op op, const Value& v);

}  // namespace strata::projection
