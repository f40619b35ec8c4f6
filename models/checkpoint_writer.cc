#include "models/checkpoint_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace genailab {

absl::Status WriteFileSynced(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t result = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(saved)));
    }
    written += static_cast<size_t>(result);
  }
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot fsync ", path, ": ", std::strerror(saved)));
  }
  if (::close(fd) != 0) return absl::InternalError(absl::StrCat("cannot close ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::Status WriteCheckpointFiles(const std::string& directory, int64_t version, ModelManifest manifest,
                                  const std::string& weights) {
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return absl::NotFoundError(absl::StrCat("Save: directory ", directory, " does not exist"));
  }
  manifest.version = version;
  if (manifest.weights_file.empty()) manifest.weights_file = "weights.pt";
  const std::filesystem::path folder(directory);
  GENAILAB_RETURN_IF_ERROR(WriteFileSynced((folder / manifest.weights_file).string(), weights));
  Sha256 hasher;
  hasher.Update(weights);
  manifest.weights_sha256 = hasher.HexDigest();
  return WriteFileSynced((folder / "manifest.json").string(), manifest.ToJson());
}

}  // namespace genailab
