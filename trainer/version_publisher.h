// VersionPublisher: writes checkpoint versions into a model repository atomically. A version is written
// into a temporary folder inside <root>/<model>/ (same filesystem, name starting with '.', which readers
// skip), every file and the folder are fsynced, and the folder is renamed to <root>/<model>/<N+1>, so a
// reader sees either no version N+1 or all of it. Concurrent publishers of the same model each get their
// own version number (the rename refuses to replace an existing version and the publisher retries).
//
// Thread-safe: holds only its options. Owns nothing on disk beyond the temporary folder of a publish in
// progress, which it removes if the write fails.
#ifndef GENAILAB_TRAINER_VERSION_PUBLISHER_H_
#define GENAILAB_TRAINER_VERSION_PUBLISHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace genailab {

struct PublishedVersion {
  int64_t version = 0;
  std::string directory;
};

class VersionPublisher {
 public:
  struct Options {
    // The model repository; created if missing.
    std::string repository_root;
  };

  // INVALID_ARGUMENT if repository_root is empty; INTERNAL if it cannot be created.
  static absl::StatusOr<std::unique_ptr<VersionPublisher>> Create(const Options& options);

  // Calls `write(directory)` on an empty temporary folder, then publishes it as the next version of
  // `model_name`. The write may set the version it is told (second argument) into its manifest.
  // INVALID_ARGUMENT for a bad model name; the write's own error (after cleaning up); INTERNAL on I/O
  // failure.
  absl::StatusOr<PublishedVersion> Publish(
      const std::string& model_name,
      const std::function<absl::Status(const std::string& directory, int64_t version)>& write) const;

  // The highest published version of `model_name`, 0 if none.
  absl::StatusOr<int64_t> LatestVersion(const std::string& model_name) const;

 private:
  explicit VersionPublisher(Options options) : options_(std::move(options)) {}
  Options options_;
};

// fsyncs every regular file in `directory` and the directory itself. INTERNAL naming the path on failure.
absl::Status SyncDirectory(const std::string& directory);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_VERSION_PUBLISHER_H_
