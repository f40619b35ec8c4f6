// GenerateStreamCall: the callback-API reactor of one GenerateStream call. It asks the core's
// GenerationStream for one message at a time and writes it; when gRPC has taken the write it asks for
// the next. No thread is parked per stream, however slowly its client reads: a slow reader holds a
// write (gRPC's flow control), and the stream stops making blocks once its window is full.
//
// The call ends through FinishCall with the stream's outcome: OK after the last message; the error
// of the first block that failed (DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED with its retry hint, ...);
// CANCELLED when a write fails because the client went away. Ending the call, or its cancellation,
// marks it cancelled for the schedulers, so blocks still queued are dropped rather than computed.
// Admission works as for the unary calls: UNAVAILABLE while draining, and the call leaves the
// admission only after its answer is handed to gRPC.
//
// Ownership: deletes itself when gRPC is done with it; the core, admission and metrics are borrowed and
// must outlive the call.
#ifndef GENAILAB_SERVER_GRPC_GENERATE_STREAM_CALL_H_
#define GENAILAB_SERVER_GRPC_GENERATE_STREAM_CALL_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "genailab/v1/generative_service.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/core/generation_stream.h"
#include "server/core/generative_core.h"
#include "server/core/server_metrics.h"
#include "server/grpc/call_admission.h"

namespace genailab {

class GenerateStreamCall final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // Admits the call, starts its stream and its first write (or finishes it with the refusal). `metrics`
  // may be null. `request` lives until the call is done (gRPC owns it).
  static grpc::ServerWriteReactor<v1::GenerateResponse>* Start(const GenerativeCore* core, CallAdmission* admission,
                                                               ServerMetrics* metrics,
                                                               grpc::CallbackServerContext* context,
                                                               const v1::GenerateStreamRequest* request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override { cancelled_->store(true, std::memory_order_relaxed); }
  void OnDone() override { delete this; }

 private:
  GenerateStreamCall(CallAdmission* admission, ServerMetrics* metrics, grpc::CallbackServerContext* context,
                     const v1::GenerateStreamRequest* request)
      : admission_(admission), metrics_(metrics), context_(context), request_(request) {}

  // Asks the stream for the next message; writes it, or ends the call.
  void WriteNext();
  // Finishes the call with `status` and leaves the admission. Nothing of `this` may be touched after.
  void End(const absl::Status& status);

  CallAdmission* const admission_;
  ServerMetrics* const metrics_;
  grpc::CallbackServerContext* const context_;
  const v1::GenerateStreamRequest* const request_;
  const absl::Time started_ = absl::Now();
  // Read by the schedulers through CallContext::is_cancelled, also after the call is gone.
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<GenerationStream> stream_;
  // The message being written. Only one Next or write is outstanding at a time, and each starts the
  // other, so these need no lock.
  v1::GenerateResponse message_;
  int64_t cells_ = 0;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_GENERATE_STREAM_CALL_H_
