// JobManager: the trainer daemon's core. It validates and queues training jobs, runs them on the daemon's
// devices (jobs_per_device slots per device, one worker thread per slot, so by default one job at a time
// per device), tracks their progress, and persists every job in a JobStore so that a restarted daemon
// knows what was queued, running and done: jobs found RUNNING at start (the daemon died under them) are
// queued again and their runner resumes them from the job's folder.
//
// Scheduling: a free slot takes the oldest queued job whose spec's training.device matches the slot's
// device (DeviceMatches: unset/"auto" = any device, "cuda" = any CUDA device, "cpu"/"cuda:N" = that
// device; a job with training.mixed_precision and no device named may run on CUDA devices only), so the
// queue is FIFO among the jobs that can run there. The job's device is recorded in
// Job.device and JobProgress.device and handed to the runner in the job it gets.
//
// The work itself is a JobRunner callback (the daemon's runs RunTrainingJob; tests use fakes, no torch).
// Ownership rule: the runner gets a copy of the job and a context whose callbacks stay valid until it
// returns; the manager keeps the job.
//
// Thread-safety: every public method is safe from any thread. Lifecycle: Create() starts the workers;
// Shutdown() (or the destructor) asks running jobs to stop, leaves them QUEUED in the store to resume on
// the next start, and joins the workers.
#ifndef GENAILAB_TRAINER_JOB_MANAGER_H_
#define GENAILAB_TRAINER_JOB_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "genailab/v1/trainer_service.pb.h"
#include "trainer/job_store.h"
#include "trainer/trainer_metrics.h"

namespace genailab {

// What a successful run produced.
struct JobOutcome {
  // JOB_STATE_SUCCEEDED (published) or JOB_STATE_GATED (kept back by the quality gate).
  v1::JobState state = v1::JOB_STATE_SUCCEEDED;
  int64_t published_version = 0;
  std::string published_directory;
  std::map<std::string, double> metrics;
  // GATED: why.
  std::string message;
};

// What a runner may use while it runs. The callbacks are thread-safe.
struct JobRunContext {
  // <state_directory>/work/<job id>: exists, survives restarts (resumable checkpoints go here).
  std::string job_directory;
  // Publishes progress (job_id and state are filled in by the manager).
  std::function<void(const v1::JobProgress&)> report_progress;
  // True once the job was cancelled or the manager is shutting down: the runner should return CANCELLED.
  std::function<bool()> cancelled;
};

// Runs one job to completion. A non-OK status fails the job with its message (CANCELLED cancels it).
using JobRunner = std::function<absl::StatusOr<JobOutcome>(const v1::Job& job, const JobRunContext& context)>;
// Checks a spec at submission: INVALID_ARGUMENT naming the field (or another specific code).
using JobSpecValidator = std::function<absl::Status(const v1::TrainingJobSpec& spec)>;

class JobManager {
 public:
  struct Options {
    // Holds jobs/ (the JobStore) and work/<job id>/. Required.
    std::string state_directory;
    // The devices jobs run on: distinct canonical names ("cpu", "cuda:N"; see ParseDeviceList). Non-empty.
    std::vector<std::string> devices = {"cpu"};
    // Jobs that run at once on each device; >= 1.
    int jobs_per_device = 1;
    JobSpecValidator validate;  // required
    JobRunner run;              // required
    TrainerMetrics* metrics = nullptr;  // optional
  };

  // Loads the store, re-queues interrupted jobs (jobs whose training.device is none of `devices` fail,
  // saying so) and starts the workers. INVALID_ARGUMENT naming the missing or invalid option; errors of
  // JobStore::Create / LoadAll.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(Options options);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Validates and queues `spec`; returns the queued job. `source` is "grpc" or "spool:<file>".
  // INVALID_ARGUMENT naming training.device when it matches none of the devices; the validator's error
  // (INVALID_ARGUMENT naming the field); UNAVAILABLE while shutting down; INTERNAL if the job cannot be
  // persisted.
  absl::StatusOr<v1::Job> Submit(const v1::TrainingJobSpec& spec, const std::string& source);

  // NOT_FOUND for an unknown id.
  absl::StatusOr<v1::Job> Get(const std::string& job_id) const;
  // Oldest submission first.
  std::vector<v1::Job> List() const;

  // Cancels a queued job at once, a running one before its next step (the returned job may still read
  // RUNNING). NOT_FOUND for an unknown id; FAILED_PRECONDITION if the job already finished.
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id);

  // Calls `send` with the job's progress now and after every change until the job finishes (the last call
  // carries the final state), then returns OK. Blocks. NOT_FOUND for an unknown id; CANCELLED when `send`
  // returns false or `stop` (polled about once a second; may be empty) returns true; UNAVAILABLE when the
  // manager shuts down first.
  absl::Status Watch(const std::string& job_id, const std::function<bool(const v1::JobProgress&)>& send,
                     const std::function<bool()>& stop) const;

  // Idempotent; see the class comment.
  void Shutdown();

 private:
  JobManager(Options options, std::unique_ptr<JobStore> store);

  // One slot's loop: runs the jobs it takes on `device` until shutdown.
  void WorkerLoop(const std::string& device);
  // Runs job `id`, which the caller has just marked RUNNING.
  void RunJob(const std::string& id);
  void PersistLocked(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ChangedLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The oldest queued job that may run on `device`; nullptr if none.
  v1::Job* NextJobForLocked(const std::string& device) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if some device of the options matches training.device; INVALID_ARGUMENT naming it otherwise.
  absl::Status CheckDevice(const v1::TrainingJobSpec& spec) const;
  std::string JobDirectory(const std::string& id) const;

  const Options options_;
  const std::unique_ptr<JobStore> store_;
  mutable absl::Mutex mu_;
  // By id; ids ("job-000001", ...) sort in submission order.
  std::map<std::string, v1::Job> jobs_ ABSL_GUARDED_BY(mu_);
  // Bumped on every change of a job (Watch waits on it).
  std::map<std::string, int64_t> changes_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> cancel_requested_ ABSL_GUARDED_BY(mu_);
  int64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

// "queued", "running", "succeeded", "gated", "failed", "cancelled" (the metrics' and CLI's names).
std::string JobStateName(v1::JobState state);
bool IsTerminal(v1::JobState state);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_JOB_MANAGER_H_
