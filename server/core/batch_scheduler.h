// BatchTask and BatchScheduler: the torch-free contract between request handlers and the schedulers
// that run model work (DynamicBatcher for one-shot forward passes, StepScheduler for iterative
// samplers).
//
// Ownership rule (as Triton's Scheduler::Enqueue): Enqueue() takes a std::unique_ptr by reference. On
// OK the scheduler owns the task (the pointer is null afterwards) and will call exactly one of the
// task's completion paths (the runner finishes it, or Fail()); on any error the caller keeps the task
// untouched and no completion path is ever called.
//
// Thread-safety: BatchScheduler implementations are thread-safe. A task is touched by one thread at a
// time (the caller until Enqueue succeeds, then the scheduler's worker).
#ifndef GENAILAB_SERVER_CORE_BATCH_SCHEDULER_H_
#define GENAILAB_SERVER_CORE_BATCH_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace genailab {

// A unit of model work of `cells()` rows. Subclasses carry the inputs and receive the outputs.
class BatchTask {
 public:
  virtual ~BatchTask() = default;

  // Rows this task adds to a batch (counted against max_batch_cells).
  virtual int64_t cells() const = 0;
  // Tasks with equal keys may run in one batch (e.g. "encode", or a perturbation's source/target).
  virtual std::string batch_key() const = 0;
  // Completes the task without running it (DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE at shutdown).
  virtual void Fail(const absl::Status& status) = 0;

  // The task never runs after this instant; InfiniteFuture = no deadline.
  absl::Time deadline = absl::InfiniteFuture();
  // Polled before the task runs; true drops it with CANCELLED. Empty = never cancelled.
  std::function<bool()> is_cancelled;
  // Set by the scheduler when it accepts the task.
  absl::Time enqueued_at = absl::InfinitePast();
};

class BatchScheduler {
 public:
  virtual ~BatchScheduler() = default;
  // See the ownership rule above. RESOURCE_EXHAUSTED (with a retry hint, see RetryAfter()) when the
  // queue is full; UNAVAILABLE once the scheduler is stopping; INVALID_ARGUMENT for a null task.
  virtual absl::Status Enqueue(std::unique_ptr<BatchTask>& task) = 0;
  // Tasks accepted and not yet finished (queued or running).
  virtual int64_t pending() const = 0;
};

// The payload key under which RESOURCE_EXHAUSTED statuses carry their retry hint: the decimal number
// of milliseconds after which a retry is likely to be accepted. The gRPC layer copies it into the
// "retry-after-ms" trailing metadata.
inline constexpr char kRetryAfterPayload[] = "genailab.dev/retry-after-ms";

inline absl::Status WithRetryAfter(absl::Status status, absl::Duration retry_after) {
  status.SetPayload(kRetryAfterPayload,
                    absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(retry_after))));
  return status;
}

// The retry hint of `status`, or a negative duration when it carries none.
inline absl::Duration RetryAfter(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms)) return absl::Milliseconds(-1);
  return absl::Milliseconds(ms);
}

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_BATCH_SCHEDULER_H_
