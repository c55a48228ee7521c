#include "projection/sink_factory.h"

#include "projection/memory_sink.h"
#include "projection/sinks/redis/redis_sink.h"

namespace strata::projection {

Result<std::unique_ptr<Sink>> MakeSink(const ProjectionSpec& spec, std::string_view kind,
                                       const SinkOptions& options) {
  if (kind == "memory") return std::unique_ptr<Sink>(std::make_unique<MemorySink>(spec.op));
  if (kind != "redis") {
    return Error(ErrorCode::kInvalidArgument,
                 "unknown sink '" + std::string(kind) + "'; the sinks are memory and redis");
  }
  if (spec.redis.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "projection '" + spec.name + "' has no redis sink; add \"redis\": \"redis://…\"");
  }
  auto address = ParseRedisUrl(spec.redis);
  if (!address) {
    return Error(address.error().code(),
                 "projection '" + spec.name + "': " + address.error().message());
  }
  return std::unique_ptr<Sink>(std::make_unique<RedisSink>(
      *address, spec.redis_prefix + ":" + spec.name, spec.op, options.redis_timeout));
}

}  // namespace strata::projection
