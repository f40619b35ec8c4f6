// CallAdmission: admits calls to a service until draining starts, and counts those in flight so that a
// graceful shutdown can wait for them. After StopAccepting(), Enter() refuses (the service answers
// UNAVAILABLE) while calls already admitted run to the end.
//
// Enter() and Leave() are lock-free (one atomic each), since every call passes them; only draining
// (StopAccepting, WaitIdle) takes the mutex.
//
// Thread-safety: thread-safe; every method may be called from any thread.
#ifndef GENAILAB_SERVER_GRPC_CALL_ADMISSION_H_
#define GENAILAB_SERVER_GRPC_CALL_ADMISSION_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace genailab {

class CallAdmission {
 public:
  // True (and the call counts as in flight until Leave()) unless draining has started.
  bool Enter();
  void Leave();
  // Every later Enter() is refused. Idempotent.
  void StopAccepting();
  bool accepting() const;
  // Waits until no admitted call is in flight, or `deadline`. True when idle.
  bool WaitIdle(absl::Time deadline);

  // Enter() / Leave() for one scope; admitted() says whether Enter() succeeded.
  class Scope {
   public:
    explicit Scope(CallAdmission* admission) : admission_(admission), admitted_(admission->Enter()) {}
    ~Scope() {
      if (admitted_) admission_->Leave();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    bool admitted() const { return admitted_; }

   private:
    CallAdmission* const admission_;
    const bool admitted_;
  };

 private:
  // Bit 0: draining; the rest: twice the calls in flight.
  std::atomic<int64_t> state_{0};
  // Wakes WaitIdle; Leave() takes it only while draining.
  absl::Mutex mu_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_CALL_ADMISSION_H_
