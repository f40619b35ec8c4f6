#include "trainer/version_publisher.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/model_name.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;

absl::Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(saved)));
  return absl::OkStatus();
}

// rename(2) that never replaces an existing version. Filesystems without RENAME_NOREPLACE fall back to
// rename(2), which still refuses to replace a non-empty directory (and a published version never is).
int RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL) return -1;
  return ::rename(from.c_str(), to.c_str());
}

}  // namespace

absl::Status SyncDirectory(const std::string& directory) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    if (entry.is_regular_file()) GENAILAB_RETURN_IF_ERROR(SyncPath(entry.path().string(), O_RDONLY));
  }
  if (error) return absl::InternalError(absl::StrCat("list ", directory, ": ", error.message()));
  return SyncPath(directory, O_RDONLY | O_DIRECTORY);
}

absl::StatusOr<std::unique_ptr<VersionPublisher>> VersionPublisher::Create(const Options& options) {
  if (options.repository_root.empty()) {
    return absl::InvalidArgumentError("repository_root is required");
  }
  std::error_code error;
  fs::create_directories(options.repository_root, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create repository ", options.repository_root, ": ", error.message()));
  }
  return std::unique_ptr<VersionPublisher>(new VersionPublisher(options));
}

absl::StatusOr<int64_t> VersionPublisher::LatestVersion(const std::string& model_name) const {
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(model_name));
  const fs::path model_dir = fs::path(options_.repository_root) / model_name;
  int64_t latest = 0;
  std::error_code error;
  if (!fs::exists(model_dir, error)) return 0;
  for (const auto& entry : fs::directory_iterator(model_dir, error)) {
    int64_t version = 0;
    if (entry.is_directory() && absl::SimpleAtoi(entry.path().filename().string(), &version) &&
        version > latest) {
      latest = version;
    }
  }
  if (error) return absl::InternalError(absl::StrCat("list ", model_dir.string(), ": ", error.message()));
  return latest;
}

absl::StatusOr<PublishedVersion> VersionPublisher::Publish(
    const std::string& model_name,
    const std::function<absl::Status(const std::string& directory, int64_t version)>& write) const {
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(model_name));
  const fs::path model_dir = fs::path(options_.repository_root) / model_name;
  std::error_code error;
  fs::create_directories(model_dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", model_dir.string(), ": ", error.message()));
  }
  std::random_device entropy;
  const fs::path staging =
      model_dir / absl::StrCat(".staging-", ::getpid(), "-", std::to_string(entropy()));
  fs::create_directory(staging, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", staging.string(), ": ", error.message()));
  }
  auto discard_staging = [&staging] {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
  };

  // The version written into the manifest is a guess until the rename succeeds; a concurrent publisher
  // that takes the number first makes us rewrite under the next one.
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto latest = LatestVersion(model_name);
    if (!latest.ok()) {
      discard_staging();
      return latest.status();
    }
    const int64_t version = *latest + 1;
    for (const auto& entry : fs::directory_iterator(staging, error)) fs::remove_all(entry.path(), error);
    absl::Status written = write(staging.string(), version);
    if (written.ok()) written = SyncDirectory(staging.string());
    if (!written.ok()) {
      discard_staging();
      return written;
    }
    const fs::path target = model_dir / std::to_string(version);
    if (RenameNoReplace(staging.string(), target.string()) == 0) {
      GENAILAB_RETURN_IF_ERROR(SyncPath(model_dir.string(), O_RDONLY | O_DIRECTORY));
      return PublishedVersion{version, target.string()};
    }
    if (errno != EEXIST && errno != ENOTEMPTY) {
      const std::string reason = std::strerror(errno);
      discard_staging();
      return absl::InternalError(
          absl::StrCat("rename ", staging.string(), " -> ", target.string(), ": ", reason));
    }
  }
  discard_staging();
  return absl::AbortedError(absl::StrCat("could not claim a version of ", model_name,
                                         " after 16 attempts (too many concurrent publishers)"));
}

}  // namespace genailab
