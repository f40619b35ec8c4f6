// JobManager: the trainer daemon's core. It validates and queues training jobs, runs them on a fixed number
// of worker threads (one job at a time per worker; one worker per device by default), tracks their
// progress, and persists every job in a JobStore so that a restarted daemon knows what was queued,
// running and done: jobs found RUNNING at start (the daemon died under them) are queued again and their
// runner resumes them from the job's folder.
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
    // Jobs that run at once (worker threads); >= 1.
    int concurrent_jobs = 1;
    JobSpecValidator validate;  // required
    JobRunner run;              // required
    TrainerMetrics* metrics = nullptr;  // optional
  };

  // Loads the store, re-queues interrupted jobs and starts the workers. INVALID_ARGUMENT naming the
  // missing option; errors of JobStore::Create / LoadAll.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(Options options);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Validates and queues `spec`; returns the queued job. `source` is "grpc" or "spool:<file>". The
  // validator's error (INVALID_ARGUMENT naming the field); UNAVAILABLE while shutting down; INTERNAL if
  // the job cannot be persisted.
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

  void WorkerLoop();
  // Runs job `id`, which the caller has just marked RUNNING.
  void RunJob(const std::string& id);
  void PersistLocked(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ChangedLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasQueuedJobLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
