#pragma once

#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace strata::objstore {

// The `s3` store: S3's REST API over libcurl, signed with libcurl's built-in SigV4
// (CURLOPT_AWS_SIGV4) and the payload declared UNSIGNED-PAYLOAD so bodies stream from their
// source through curl's 64 KiB buffer without being hashed or held in memory first. `prefix` is
// "" or ends with '/'. Transient failures (connection errors, stalls, 5xx, throttling) are retried
// with exponential backoff and jitter until `config.retry_deadline`; the rest map to Strata error
// codes with a message that says what to check.
Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket,
                                                 const std::string& prefix, S3Config config,
                                                 std::string url);

}  // namespace strata::objstore
