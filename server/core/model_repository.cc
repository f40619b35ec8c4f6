#include "server/core/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/model_name.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;

constexpr char kManifestFile[] = "manifest.json";

bool IsDirectory(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

// A positive integer written with digits only ("007" is accepted as 7, "+7" and "-7" are not).
bool ParseVersion(const std::string& name, int64_t* version) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return false;
  }
  return absl::SimpleAtoi(name, version) && *version > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("repository_root is required");
  if (!IsDirectory(root)) {
    return absl::NotFoundError(absl::StrCat("repository_root '", root, "' is not a directory"));
  }
  return std::unique_ptr<ModelRepository>(new ModelRepository(root));
}

absl::StatusOr<std::vector<std::string>> ModelRepository::ListModels() const {
  std::error_code error;
  fs::directory_iterator it(root_, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list repository_root '", root_, "': ", error.message()));
  }
  std::vector<std::string> models;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!ValidateModelName(name, "model name").ok()) continue;  // also skips ".tmp" publishes
    if (!IsDirectory(entry.path())) continue;
    models.push_back(name);
  }
  std::sort(models.begin(), models.end());
  return models;
}

absl::StatusOr<std::vector<int64_t>> ModelRepository::ListVersions(const std::string& model) const {
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(model, "model name"));
  const fs::path model_dir = fs::path(root_) / model;
  std::error_code error;
  fs::directory_iterator it(model_dir, error);
  if (error) return absl::NotFoundError(absl::StrCat("model '", model, "' not found in the repository"));
  std::vector<int64_t> versions;
  for (const fs::directory_entry& entry : it) {
    int64_t version = 0;
    if (!ParseVersion(entry.path().filename().string(), &version)) continue;
    std::error_code file_error;
    if (!fs::is_regular_file(entry.path() / kManifestFile, file_error)) continue;
    versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end());
  versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
  return versions;
}

absl::StatusOr<std::string> ModelRepository::VersionDirectory(const std::string& model,
                                                              int64_t version) const {
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(model, "model name"));
  if (version <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("version must be positive, got ", version));
  }
  // Folders such as "007" name version 7: find the folder rather than assume its spelling.
  const fs::path model_dir = fs::path(root_) / model;
  const fs::path canonical = model_dir / std::to_string(version);
  if (IsDirectory(canonical)) return canonical.string();
  std::error_code error;
  fs::directory_iterator it(model_dir, error);
  if (!error) {
    for (const fs::directory_entry& entry : it) {
      int64_t parsed = 0;
      if (ParseVersion(entry.path().filename().string(), &parsed) && parsed == version) {
        return entry.path().string();
      }
    }
  }
  return canonical.string();
}

}  // namespace genailab
