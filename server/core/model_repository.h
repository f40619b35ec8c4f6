// ModelRepository: read-only view of a model repository on disk, laid out as
// <root>/<model>/<version>/manifest.json (+ weights). A version is a folder named by a positive integer
// that holds manifest.json; folders starting with "." are temporary publishes and are ignored.
//
// Model names are validated ([A-Za-z0-9][A-Za-z0-9._-]*, no "..") before they touch the filesystem, so
// nothing outside the root is ever read. The class holds only the root path: it is immutable and safe
// to use from many threads (the directory itself may change between calls; each call lists afresh).
#ifndef GENAILAB_SERVER_CORE_MODEL_REPOSITORY_H_
#define GENAILAB_SERVER_CORE_MODEL_REPOSITORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genailab {

class ModelRepository {
 public:
  // NOT_FOUND if `root` is not an existing directory; INVALID_ARGUMENT if it is empty.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(const std::string& root);

  // Names of the valid model folders under the root, sorted. NOT_FOUND if the root disappeared.
  absl::StatusOr<std::vector<std::string>> ListModels() const;

  // Versions of `model` that have a manifest.json, ascending. INVALID_ARGUMENT for an invalid name;
  // NOT_FOUND if the model folder does not exist.
  absl::StatusOr<std::vector<int64_t>> ListVersions(const std::string& model) const;

  // <root>/<model>/<version>. INVALID_ARGUMENT for an invalid name or a version <= 0.
  absl::StatusOr<std::string> VersionDirectory(const std::string& model, int64_t version) const;

  const std::string& root() const { return root_; }

 private:
  explicit ModelRepository(std::string root) : root_(std::move(root)) {}

  const std::string root_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_MODEL_REPOSITORY_H_
