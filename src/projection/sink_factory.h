// The one place that makes a projection's sinks from its spec: "memory" (the in-memory model a
// server serves) and "redis" (the spec's redis URL, keys under <redis_prefix>:<name>). The
// runtime and the one-shot tools (verify, replay, the benches) all get their sinks here.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "base/error.h"
#include "projection/sink.h"
#include "projection/spec.h"

namespace strata::projection {

struct SinkOptions {
  std::chrono::milliseconds redis_timeout{5000};
};

// kInvalidArgument for an unknown kind, or "redis" for a spec without a redis URL; a bad URL
// is the spec's error, naming the projection.
Result<std::unique_ptr<Sink>> MakeSink(const ProjectionSpec& spec, std::string_view kind,
                                       const SinkOptions& options = {});

}  // namespace strata::projection
