#include "server/grpc/call_admission.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace genailab {
namespace {

constexpr int64_t kDraining = 1;
constexpr int64_t kOneCall = 2;

}  // namespace

bool CallAdmission::Enter() {
  // Count the call first, then look at the flag: a WaitIdle() that saw zero calls after setting the flag
  // can no longer be joined by a call that goes on to run.
  const int64_t state = state_.fetch_add(kOneCall, std::memory_order_acq_rel) + kOneCall;
  if ((state & kDraining) == 0) return true;
  Leave();
  return false;
}

void CallAdmission::Leave() {
  const int64_t state = state_.fetch_sub(kOneCall, std::memory_order_acq_rel) - kOneCall;
  if (state == kDraining) {
    // The last call left while draining: let WaitIdle re-evaluate its condition.
    absl::MutexLock lock(&mu_);
  }
}

void CallAdmission::StopAccepting() { state_.fetch_or(kDraining, std::memory_order_acq_rel); }

bool CallAdmission::accepting() const { return (state_.load(std::memory_order_acquire) & kDraining) == 0; }

bool CallAdmission::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const auto idle = [this] { return state_.load(std::memory_order_acquire) < kOneCall; };
  // The condition reads an atomic that changes without the mutex: wait in short slices so that a wake-up
  // lost between a check and the wait costs at most one slice.
  while (!idle()) {
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    mu_.AwaitWithDeadline(absl::Condition(&idle), std::min(deadline, now + absl::Milliseconds(10)));
  }
  return true;
}

}  // namespace genailab
