#include "server/grpc/call_admission.h"

namespace genailab {

bool CallAdmission::Enter() {
  absl::MutexLock lock(&mu_);
  if (!accepting_) return false;
  ++in_flight_;
  return true;
}

void CallAdmission::Leave() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

void CallAdmission::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool CallAdmission::accepting() const {
  absl::MutexLock lock(&mu_);
  return accepting_;
}

bool CallAdmission::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

}  // namespace genailab
