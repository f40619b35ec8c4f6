// JobStore: the trainer daemon's durable record of its jobs, one JSON file per job
// (<directory>/<job id>.json, the proto3 JSON form of genailab.v1.Job). Every write replaces the file
// atomically (temporary file, fsync, rename, fsync of the folder), so a daemon killed at any moment
// restarts with each job either in its previous or in its new state, never a torn one.
//
// Thread-compatible: the JobManager serializes calls under its mutex.
#ifndef GENAILAB_TRAINER_JOB_STORE_H_
#define GENAILAB_TRAINER_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genailab/v1/trainer_service.pb.h"

namespace genailab {

class JobStore {
 public:
  // Creates `directory` if missing. INVALID_ARGUMENT if it is empty; INTERNAL if it cannot be created.
  static absl::StatusOr<std::unique_ptr<JobStore>> Create(const std::string& directory);

  // Every stored job, ordered by id. DATA_LOSS naming the file that does not parse; INTERNAL on I/O errors.
  // Leftover temporary files of an interrupted write are ignored.
  absl::StatusOr<std::vector<v1::Job>> LoadAll() const;

  // Writes `job` atomically. INVALID_ARGUMENT for an id that is not a plain file name; INTERNAL on I/O errors.
  absl::Status Save(const v1::Job& job) const;

  const std::string& directory() const { return directory_; }

 private:
  explicit JobStore(std::string directory) : directory_(std::move(directory)) {}
  const std::string directory_;
};

// Writes `contents` to `path` atomically: `path`.tmp, fsync, rename, fsync of the folder. INTERNAL naming
// the path on failure.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_JOB_STORE_H_
