// RequestCompletion<T>: the result slot shared by a request handler and the task it handed to a
// scheduler. The task Set()s the result once (later calls are ignored); the handler Wait()s for it,
// giving up at the request's deadline (DEADLINE_EXCEEDED) or when the request is cancelled (CANCELLED,
// polled every kCancelPollInterval). Giving up does not retract the task: the scheduler drops it before it runs
// (it sees the same deadline and cancellation), and a late Set() lands in the shared slot harmlessly.
//
// Thread-safety: Set and Wait may be called from different threads. Held by std::shared_ptr.
#ifndef GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_
#define GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace genailab {

// A request's deadline and cancellation, as the schedulers see them.
struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  // Empty = never cancelled. Must be cheap and thread-safe (e.g. grpc::ServerContext::IsCancelled).
  std::function<bool()> is_cancelled;
};

// How often a waiting handler looks at its call's cancellation. The schedulers drop a cancelled task when
// its batch is formed (and Set() its completion at once), so this poll only matters for a task stuck
// behind long-running work; each poll wakes a sleeping handler thread, which under load (many waiting
// calls, short batches) costs a context switch per call.
inline constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(100);

template <typename T>
class RequestCompletion {
 public:
  void Set(absl::StatusOr<T> result) {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    result_ = std::move(result);
    done_ = true;
  }

  absl::StatusOr<T> Wait(const CallContext& call) {
    absl::MutexLock lock(&mu_);
    const auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; };
    while (!done_) {
      const absl::Time now = absl::Now();
      if (now >= call.deadline) {
        return absl::DeadlineExceededError("deadline expired while the request waited for the model");
      }
      if (call.is_cancelled && call.is_cancelled()) return absl::CancelledError("request cancelled");
      mu_.AwaitWithDeadline(absl::Condition(&done), std::min(call.deadline, now + kCancelPollInterval));
    }
    return std::move(result_);
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<T> result_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("no result");
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_
