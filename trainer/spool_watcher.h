// SpoolWatcher: turns job files dropped into a folder into submitted jobs. Every poll it takes the
// folder's *.json, *.yaml and *.yml files (genailab.v1.TrainingJobSpec as proto3 JSON, or the same tree as
// YAML; see job_spec.h) in name order, submits each, and moves it to <spool>/accepted/<name> (with the job id in <name>.job) or, when
// parsing or submission fails, to <spool>/rejected/<name> with the error in <name>.error. Files whose
// name starts with '.' are skipped, so a writer can write ".job.json" and rename it into place. A file
// is taken only once it has gone unmodified for Options::settle_time, so that one still being copied in
// (cp, scp, an editor's save) is left for a later poll instead of being rejected half-written.
//
// Ownership: owns its polling thread; borrows nothing (the submit callback must stay valid until Stop()).
// Thread-safety: Stop() is safe from any thread; the destructor stops.
#ifndef GENAILAB_TRAINER_SPOOL_WATCHER_H_
#define GENAILAB_TRAINER_SPOOL_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genailab/v1/trainer_service.pb.h"

namespace genailab {

class SpoolWatcher {
 public:
  // Submits a spec; returns the job id. `source` is "spool:<file name>".
  using Submit = std::function<absl::StatusOr<std::string>(const v1::TrainingJobSpec& spec, const std::string& source)>;

  struct Options {
    std::string directory;  // created if missing
    absl::Duration poll_interval = absl::Seconds(2);
    // A file modified less than this long ago is left for a later poll. Zero = take files at once.
    absl::Duration settle_time = absl::Seconds(1);
    Submit submit;  // required
    // false: no polling thread; the owner calls PollOnce (tests, or an owner with its own loop).
    bool poll_in_background = true;
  };

  // INVALID_ARGUMENT for a missing directory or submit, or a negative settle_time; INTERNAL if the folders cannot be created.
  static absl::StatusOr<std::unique_ptr<SpoolWatcher>> Start(Options options);
  ~SpoolWatcher();
  SpoolWatcher(const SpoolWatcher&) = delete;
  SpoolWatcher& operator=(const SpoolWatcher&) = delete;

  // Processes the files present now that have settled (the polling thread, if any, calls it too).
  // Returns how many were taken.
  int PollOnce();
  void Stop();

 private:
  explicit SpoolWatcher(Options options) : options_(std::move(options)) {}
  void Loop();

  const Options options_;
  absl::Mutex poll_mu_;  // one poll at a time
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace genailab

#endif  // GENAILAB_TRAINER_SPOOL_WATCHER_H_
