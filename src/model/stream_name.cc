#include "model/stream_name.h"

#include <string>

namespace strata {

Status ValidateStreamName(std::string_view name) {
  if (name.empty()) {
    return Error(ErrorCode::kInvalidStreamName,
                 "the stream name is empty; give a name such as 'order-42'");
  }
  if (name.size() > kMaxStreamNameBytes) {
    return Error(ErrorCode::kInvalidStreamName,
                 "the stream name is " + std::to_string(name.size()) + " bytes; the limit is " +
                     std::to_string(kMaxStreamNameBytes) + " bytes");
  }
  if (name.find('\0') != std::string_view::npos) {
    return Error(ErrorCode::kInvalidStreamName, "the stream name contains a NUL byte; remove it");
  }
  if (name == kAllStreamName) {
    return Error(ErrorCode::kInvalidStreamName,
                 "'$all' is the global log and cannot be written to; append to a stream instead");
  }
  if (name.starts_with("$$$$") || name == "$$") {
    return Error(ErrorCode::kInvalidStreamName,
                 "'" + std::string(name.substr(0, 64)) +
                     "' is not valid: '$$' names the metadata of a stream, as in '$$orders-1'");
  }
  return OkStatus();
}

}  // namespace strata
