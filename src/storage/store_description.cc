#include "storage/store_description.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "env/file.h"

namespace strata::storage {
namespace {
constexpr uint32_t kStoreFormat = 1;
constexpr const char* kRemedy =
    "it describes the store (format, shards, partitions, cold tier); restore it from a snapshot "
    "with 'strata restore', or rewrite it by hand as {\"format\": 1, \"shards\": N, "
    "\"partitions\": P} with the values the store was created with";
}  // namespace

const char* const kColdUrlRemedy =
    "it names the store's cold tier; pass --cold URL (or --cold none) once to set it again";

std::string LegacyColdUrlPath(const std::string& data_dir) { return data_dir + "/cold-url"; }

Status WriteStoreDescription(const std::string& data_dir, const StoreDescription& d) {
  nlohmann::json j = {{"format", kStoreFormat}, {"shards", d.shards}, {"partitions", d.partitions}};
  if (d.cold_url) j["cold"] = d.cold_url->empty() ? std::string("none") : *d.cold_url;
  return env::WriteMetaFile(data_dir + "/STRATA", j.dump(2) + "\n");
}

Result<StoreDescription> ReadStoreDescription(const std::string& data_dir) {
  const std::string path = data_dir + "/STRATA";
  auto text = env::ReadMetaFile(path, kRemedy, /*accept_legacy=*/true);
  if (!text) return text.error();
  auto corrupt = [&](const std::string& why) {
    return Error(ErrorCode::kCorruption, path + " is damaged: " + why + "; " + kRemedy);
  };
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupt("it is not a JSON object");
  auto number = [&](const char* key, uint64_t lo, uint64_t hi) -> std::optional<uint32_t> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    const uint64_t v = it->get<uint64_t>();
    if (v < lo || v > hi) return std::nullopt;
    return static_cast<uint32_t>(v);
  };
  auto format = number("format", 0, UINT32_MAX);
  if (!format) return corrupt("\"format\" is missing or not a number");
  if (*format != kStoreFormat) {
    return Error(ErrorCode::kInvalidConfig,
                 "the store at '" + data_dir + "' has format " + std::to_string(*format) +
                     "; this build reads format " + std::to_string(kStoreFormat));
  }
  StoreDescription d;
  auto shards = number("shards", 1, 256);
  auto partitions = number("partitions", 1, 65536);
  if (!shards) return corrupt("\"shards\" is missing or not between 1 and 256");
  if (!partitions || *partitions < *shards) {
    return corrupt("\"partitions\" is missing or not between shards and 65536");
  }
  d.shards = *shards;
  d.partitions = *partitions;
  if (auto it = j.find("cold"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      return corrupt("\"cold\" is not a URL or \"none\"");
    }
    const std::string url = it->get<std::string>();
    d.cold_url = url == "none" ? "" : url;
  }
  return d;
}

Result<std::optional<StoreDescription>> ReadStoreDescriptionIfExists(const std::string& data_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(data_dir) / "STRATA", ec)) {
    return std::optional<StoreDescription>();
  }
  auto d = ReadStoreDescription(data_dir);
  if (!d) return d.error();
  return std::optional<StoreDescription>(std::move(*d));
}

Result<std::optional<std::string>> RecordedColdUrl(const std::string& data_dir) {
  auto d = ReadStoreDescriptionIfExists(data_dir);
  if (!d) return d.error();
  if (*d && (*d)->cold_url) return (*d)->cold_url;
  auto legacy = env::ReadMetaFileIfExists(LegacyColdUrlPath(data_dir), kColdUrlRemedy,
                                          /*accept_legacy=*/true);
  if (!legacy) return legacy.error();
  if (!*legacy) return std::optional<std::string>();
  std::string url = (*legacy)->substr(0, (*legacy)->find('\n'));
  return std::optional<std::string>(url == "none" ? "" : url);
}

}  // namespace strata::storage
