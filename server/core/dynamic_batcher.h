// DynamicBatcher: a BatchScheduler that merges queued tasks of the same batch_key into batches of at
// most max_batch_cells rows and hands each batch to a runner callback on its own worker thread (one
// batcher per model instance, so one batch at a time per instance).
//
// Batching: the oldest queued task opens a batch; the batcher waits until max_queue_delay has passed
// since that task was enqueued or enough cells are queued to fill max_batch_cells, then takes, in
// queue order, every task with the head's key that still fits (the head always fits, even when it is
// larger than max_batch_cells on its own). Tasks whose deadline has passed never run (DEADLINE_EXCEEDED)
// and cancelled ones are dropped (CANCELLED) when a batch is formed (deadlines are checked for the whole
// queue under the lock; the cancellation probe, which may take the call's own lock, runs outside it on
// the tasks of the batch being formed).
//
// Back-pressure: at most max_queue_tasks wait; Enqueue() then answers RESOURCE_EXHAUSTED at once, with
// a retry hint (WithRetryAfter in batch_scheduler.h) estimated from recent batch times and the queue's
// length, instead of letting latency grow without bound.
//
// Runner contract: the runner receives a non-empty batch (moved out of the queue) and must complete
// every task in it (through the task's own result path, or Fail()). It runs on the worker thread.
//
// Lifecycle: Stop() (also run by the destructor) refuses new tasks with UNAVAILABLE, runs every task
// already accepted, and joins the worker. Thread-safety: Enqueue/pending/Stop are thread-safe.
// Metrics (nullptr = off): queue time, batch size, compute time and pending tasks, labelled by
// Options.name.
#ifndef GENAILAB_SERVER_CORE_DYNAMIC_BATCHER_H_
#define GENAILAB_SERVER_CORE_DYNAMIC_BATCHER_H_

#include <atomic>
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
#include "server/core/batch_scheduler.h"
#include "server/core/server_metrics.h"

namespace genailab {

class DynamicBatcher final : public BatchScheduler {
 public:
  struct Options {
    // Most rows in one batch (a single larger task still runs, alone). Must be positive.
    int64_t max_batch_cells = 1024;
    // How long the oldest queued task may wait for companions. Zero (default) = natural batching: run
    // at once what queued up while the previous batch ran.
    absl::Duration max_queue_delay = absl::ZeroDuration();
    // Most tasks waiting (not counting the running batch). Must be positive.
    int64_t max_queue_tasks = 1024;
    // Names the batcher in messages and metric labels (the model name).
    std::string name;
    // Not owned; may be null. Must outlive the batcher.
    ServerMetrics* metrics = nullptr;
  };
  using Runner = std::function<void(std::vector<std::unique_ptr<BatchTask>>& batch)>;

  // INVALID_ARGUMENT naming the option for a non-positive max_batch_cells or max_queue_tasks, a
  // negative max_queue_delay or an empty runner. Starts the worker thread.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(Options options, Runner runner);

  ~DynamicBatcher() override;
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  absl::Status Enqueue(std::unique_ptr<BatchTask>& task) override;
  int64_t pending() const override;
  // Refuses new tasks, finishes the accepted ones and joins the worker. Idempotent.
  void Stop();
  // True on the worker thread itself (where completions run; Stop() must not be called there).
  bool OnWorkerThread() const { return std::this_thread::get_id() == worker_.get_id(); }

 private:
  DynamicBatcher(Options options, Runner runner);

  void Loop();
  // Blocks until a batch is ready (empty when stopping with nothing queued). Moves tasks that must not
  // run into `dropped` with the status to fail them with.
  std::vector<std::unique_ptr<BatchTask>> NextBatch(
      std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>>* dropped);
  // Moves expired queued tasks into `dropped`.
  void DropDeadTasks(absl::Time now, std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why `task` must not run at `now` (expired, or cancelled when `check_cancelled`); OK if it may.
  absl::Status WhyNotRun(const BatchTask& task, absl::Time now, bool check_cancelled) const;
  void AddPending(int64_t delta);

  const Options options_;
  const Runner runner_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<BatchTask>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_cells_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Exponential moving average of batch run times, for the retry hint.
  absl::Duration batch_time_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  int64_t tasks_per_batch_x16_ ABSL_GUARDED_BY(mu_) = 16;
  // Queued + running tasks, readable without mu_ (pending() is asked on every request to pick the least
  // busy instance).
  std::atomic<int64_t> pending_{0};

  std::thread worker_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_DYNAMIC_BATCHER_H_
