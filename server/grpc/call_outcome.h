// FinishCall: what every gRPC service of the server does with a call's outcome, in one place. It logs a
// failure (client errors at debug, server errors at info), adds the core's retry hint to a
// RESOURCE_EXHAUSTED answer as the trailing metadata "retry-after-ms" (milliseconds, decimal), records
// genailab_requests_total / _duration / _cells_processed (metrics may be null), and converts the
// absl::Status with ToGrpcStatus (the one conversion).
//
// RunUnaryCall: one callback-API unary call from admission to Finish, shared by the services' model RPCs.
//
// UnaryCall: the reactor of one callback-API unary call. Its cancellation (the client went away, or the
// deadline passed) sets a flag that the schedulers poll through CallContext::is_cancelled; the flag is
// shared, so tasks that outlive the call can still read it. Deletes itself when gRPC is done with it.
#ifndef GENAILAB_SERVER_GRPC_CALL_OUTCOME_H_
#define GENAILAB_SERVER_GRPC_CALL_OUTCOME_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/core/request_completion.h"
#include "server/core/server_metrics.h"
#include "server/grpc/call_admission.h"

namespace genailab {

// `model` is dropped from the metric labels for NOT_FOUND, so that clients cannot grow the label set
// with unknown names. `start` is when the call arrived; `cells` counts only for OK.
grpc::Status FinishCall(ServerMetrics* metrics, const char* rpc, const std::string& model,
                        grpc::ServerContextBase* context, const absl::Status& status, absl::Time start,
                        int64_t cells);

// UNAVAILABLE for calls that arrive while the server drains.
absl::Status ShuttingDownError();

// The call's deadline (InfiniteFuture when it has none) and the given cancellation probe.
CallContext CallContextFor(const grpc::ServerContextBase& context, std::function<bool()> is_cancelled);

class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall() : cancelled_(std::make_shared<std::atomic<bool>>(false)) {}

  std::function<bool()> IsCancelled() const {
    return [cancelled = cancelled_] { return cancelled->load(std::memory_order_relaxed); };
  }
  void OnCancel() override { cancelled_->store(true, std::memory_order_relaxed); }
  void OnDone() override { delete this; }
  // Both reactions are trivial (an atomic store, a delete), so gRPC may run them on the thread that
  // completes the call instead of handing OnDone to its executor threads, a wake-up and a thread switch
  // per call (as gRPC's own default unary reactor does). gRPC marks this hook as internal; if a gRPC
  // release drops it, `override` stops the build here and this line goes.
  bool InternalInlineable() override { return true; }

 private:
  const std::shared_ptr<std::atomic<bool>> cancelled_;
};

// Admits the call (UNAVAILABLE while draining), hands `start(call, done)` the call's CallContext
// (deadline, and the reactor's cancellation) and a `done` that finishes the call through FinishCall
// (with `cells_of()` cells when OK) and then leaves the admission, so that a drain that sees no call in
// flight has seen every answer handed to gRPC. `model` must live until the call is done (e.g. a field
// of the request).
template <typename Start, typename CellsOf>
grpc::ServerUnaryReactor* RunUnaryCall(CallAdmission* admission, ServerMetrics* metrics, const char* rpc,
                                       const std::string& model, grpc::CallbackServerContext* context,
                                       Start start, CellsOf cells_of) {
  const absl::Time started = absl::Now();
  auto* reactor = new UnaryCall();
  if (!admission->Enter()) {
    reactor->Finish(FinishCall(metrics, rpc, model, context, ShuttingDownError(), started, 0));
    return reactor;
  }
  start(CallContextFor(*context, reactor->IsCancelled()),
        StatusCallback([admission, metrics, rpc, &model, context, reactor, started,
                        cells_of = std::move(cells_of)](const absl::Status& status) {
          const int64_t cells = status.ok() ? cells_of() : 0;
          reactor->Finish(FinishCall(metrics, rpc, model, context, status, started, cells));
          admission->Leave();
        }));
  return reactor;
}

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_CALL_OUTCOME_H_
