// The projections' control and query API as JSON documents: one entry point that the HTTP server
// (/projections…) and the admin gRPC service (strata.v1.Admin/Projection) both call, so the CLI,
// curl and operators' tools see the same documents (docs/projections.md lists them).
// Thread-safety: as ProjectionRuntime.
#pragma once

#include <string>

#include "base/error.h"
#include "projection/runtime.h"

namespace strata::projection {

// action: list | status | start | stop | reset | replay | get | verify.
// args: a JSON object (may be empty): replay {"sink"}, get {"keys": [...], "top": N},
// verify {"sink", "sample", "max_lag", "seed"}.
Result<std::string> CallJson(ProjectionRuntime& runtime, const std::string& action,
                             const std::string& name, const std::string& args);

std::string InfoJson(const ProjectionInfo& info);

}  // namespace strata::projection
