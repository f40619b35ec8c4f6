// RequestCompletion<T>: the result slot shared by a request and the task it handed to a scheduler. The
// task Set()s the result once (later calls are ignored). Two ways to receive it:
//   - waiting (default constructor): a handler thread Wait()s, giving up at the request's deadline
//     (DEADLINE_EXCEEDED) or when the request is cancelled (CANCELLED, polled every
//     kCancelPollInterval). Giving up does not retract the task: the scheduler drops it before it runs
//     (it sees the same deadline and cancellation), and a late Set() lands in the shared slot harmlessly.
//   - callback (constructed with a Callback): Set() calls the callback once, on the setting thread (a
//     scheduler's worker), outside any lock; nothing waits. The asynchronous request path uses this, so
//     that no thread is parked per request.
// CompletionJoin<T> gathers the parts of a request that was split into several tasks.
//
// Thread-safety: Set and Wait may be called from different threads. Held by std::shared_ptr.
#ifndef GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_
#define GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

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

// Receives a request's result (or error) exactly once.
template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;

// Receives the outcome of a request whose response was written in place: OK once the response is
// complete, or the error.
using StatusCallback = std::function<void(absl::Status)>;

// How often a waiting handler looks at its call's cancellation. The schedulers drop a cancelled task when
// its batch is formed (and Set() its completion at once), so this poll only matters for a task stuck
// behind long-running work; each poll wakes a sleeping handler thread, which under load (many waiting
// calls, short batches) costs a context switch per call.
inline constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(100);

template <typename T>
class RequestCompletion {
 public:
  // Waiting mode: the result is collected with Wait().
  RequestCompletion() = default;
  // Callback mode: Set() hands the result to `on_done` (non-empty); Wait() must not be called.
  explicit RequestCompletion(Callback<T> on_done) : on_done_(std::move(on_done)) {}

  void Set(absl::StatusOr<T> result) {
    Callback<T> on_done;
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      done_ = true;
      if (!on_done_) {
        result_ = std::move(result);
        return;
      }
      on_done = std::move(on_done_);
      on_done_ = nullptr;
    }
    on_done(std::move(result));
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
  Callback<T> on_done_ ABSL_GUARDED_BY(mu_);
};

// Runs `start(done)`, which must arrange for `done` to be called once with the result, and waits for
// it as RequestCompletion::Wait does (deadline and cancellation of `call`). The synchronous face of an
// asynchronous call.
template <typename T, typename Start>
absl::StatusOr<T> Await(const CallContext& call, Start&& start) {
  auto completion = std::make_shared<RequestCompletion<T>>();
  start(Callback<T>([completion](absl::StatusOr<T> result) { completion->Set(std::move(result)); }));
  return completion->Wait(call);
}

// Gathers the results of `parts` tasks into one callback: `on_done` receives every part's result, in
// part order, once all have arrived, or the first error as soon as it arrives (later results are then
// dropped). Fail() completes it early (e.g. when a later part could not be submitted).
template <typename T>
class CompletionJoin : public std::enable_shared_from_this<CompletionJoin<T>> {
 public:
  CompletionJoin(size_t parts, Callback<std::vector<T>> on_done)
      : results_(parts), remaining_(parts), on_done_(std::move(on_done)) {}

  // The completion of part `index` (< parts).
  std::shared_ptr<RequestCompletion<T>> Part(size_t index) {
    return std::make_shared<RequestCompletion<T>>(
        Callback<T>([join = this->shared_from_this(), index](absl::StatusOr<T> result) {
          join->SetPart(index, std::move(result));
        }));
  }

  void Fail(absl::Status status) { Complete(std::move(status)); }

 private:
  void SetPart(size_t index, absl::StatusOr<T> result) {
    if (!result.ok()) {
      Complete(result.status());
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      results_[index] = std::move(result).value();
      if (--remaining_ > 0) return;
    }
    Complete(std::move(results_));
  }

  void Complete(absl::StatusOr<std::vector<T>> result) {
    Callback<std::vector<T>> on_done;
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      done_ = true;
      on_done = std::move(on_done_);
      on_done_ = nullptr;
    }
    on_done(std::move(result));
  }

  absl::Mutex mu_;
  std::vector<T> results_;  // written under mu_; moved out once every part has arrived
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  Callback<std::vector<T>> on_done_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_REQUEST_COMPLETION_H_
