#pragma once

#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace strata::objstore {

// The `fs` store: objects are files under `root` (created if missing), keys are paths below it.
// Puts write a temporary file, fdatasync it and rename it into place (link for create-if-absent),
// then fsync the directory, so an object is either absent or whole, also after a crash.
// Multipart uploads keep their parts under root/.strata-multipart/<upload id>/.
Result<std::unique_ptr<ObjectStore>> OpenFsStore(const std::string& root, std::string url);

}  // namespace strata::objstore
