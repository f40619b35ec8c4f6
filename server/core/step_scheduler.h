// StepScheduler: step-level batching for iterative samplers (diffusion, flow matching). It keeps the
// active SamplingSessions of one model instance and, on its worker thread, repeats:
//   1. admit queued SessionTasks (Begin() on the model) while the active rows stay within
//      max_active_cells, so a request that arrives mid-sampling joins at the next step;
//   2. drop active sessions whose deadline passed (DEADLINE_EXCEEDED) or whose request was cancelled
//      (CANCELLED): they stop using compute between two steps;
//   3. advance every active session by one step with ONE GenerativeModel::StepSessions call;
//   4. finish the sessions that are done (FinishSession) and hand them their cells.
// Each session carries its own random stream, so a request's cells do not depend on its companions.
//
// Back-pressure and lifecycle as DynamicBatcher: at most max_queue_tasks wait (RESOURCE_EXHAUSTED with a
// retry hint beyond); Stop() (also the destructor) refuses new tasks with UNAVAILABLE, runs the accepted
// ones to completion and joins the worker. Ownership as BatchScheduler. Thread-safe.
// Metrics (nullptr = off): queue time, rows per step (batch size) and step time, pending tasks.
#ifndef GENAILAB_SERVER_CORE_STEP_SCHEDULER_H_
#define GENAILAB_SERVER_CORE_STEP_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "data/matrix.h"
#include "models/generative_model.h"
#include "server/core/batch_scheduler.h"
#include "server/core/server_metrics.h"

namespace genailab {

// A request for iterative sampling. Begin() and Finish() run on the scheduler's worker thread.
class SessionTask : public BatchTask {
 public:
  // Starts the request's session (BeginGeneration / BeginPerturbation).
  virtual absl::StatusOr<std::unique_ptr<SamplingSession>> Begin(const GenerativeModel& model) = 0;
  // Completes the task with the finished session's cells (or FinishSession's error).
  virtual void Finish(absl::StatusOr<DenseMatrix> cells) = 0;
  std::string batch_key() const override { return "session"; }
};

class StepScheduler final : public BatchScheduler {
 public:
  struct Options {
    // Most rows across the active sessions (a single larger session still runs, alone). Positive.
    int64_t max_active_cells = 4096;
    // Most tasks waiting for admission. Positive.
    int64_t max_queue_tasks = 1024;
    // Names the scheduler in messages and metric labels (the model name).
    std::string name;
    // Not owned; may be null. Must outlive the scheduler.
    ServerMetrics* metrics = nullptr;
    // The clock deadlines are checked against; empty = absl::Now. Tests inject a fake one.
    std::function<absl::Time()> now;
  };

  // INVALID_ARGUMENT naming the option for non-positive limits or a null model. `model` must outlive
  // the scheduler. Starts the worker thread.
  static absl::StatusOr<std::unique_ptr<StepScheduler>> Create(Options options, const GenerativeModel* model);

  ~StepScheduler() override;
  StepScheduler(const StepScheduler&) = delete;
  StepScheduler& operator=(const StepScheduler&) = delete;

  // INVALID_ARGUMENT unless `task` is a SessionTask; otherwise as BatchScheduler::Enqueue.
  absl::Status Enqueue(std::unique_ptr<BatchTask>& task) override;
  int64_t pending() const override;
  // Refuses new tasks, runs the accepted ones to completion and joins the worker. Idempotent.
  void Stop();
  // True on the worker thread itself (where completions run; Stop() must not be called there).
  bool OnWorkerThread() const { return std::this_thread::get_id() == worker_.get_id(); }

 private:
  struct Active {
    std::unique_ptr<SessionTask> task;
    std::unique_ptr<SamplingSession> session;
  };

  StepScheduler(Options options, const GenerativeModel* model);

  void Loop();
  // Moves admissible queued tasks out (blocking while there is nothing to do). False: stop now.
  bool Admit(std::vector<std::unique_ptr<SessionTask>>* admitted,
             std::vector<std::pair<std::unique_ptr<SessionTask>, absl::Status>>* dropped);
  // Removes expired or cancelled sessions from active_, failing them.
  void DropDeadSessions();
  void Complete(Active& active, absl::StatusOr<DenseMatrix> cells);
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  const Options options_;
  const GenerativeModel* const model_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<SessionTask>> queue_ ABSL_GUARDED_BY(mu_);
  // Rows of the active sessions and their count, published for Admit() and pending().
  int64_t active_cells_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t active_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration step_time_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();

  // Worker thread only.
  std::vector<Active> active_;

  std::thread worker_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_STEP_SCHEDULER_H_
