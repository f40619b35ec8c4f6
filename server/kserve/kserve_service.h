// KServeService: the gRPC face of KServeAdapter, serving the Open Inference Protocol (KServe v2,
// inference.GRPCInferenceService) next to genailab.v1.GenerativeService on the same port, over the same
// core. Hands the core the call's deadline and cancellation; each call's outcome goes through FinishCall
// (server/grpc/call_outcome.h: logs, the retry hint, genailab_requests_total and the latency histogram
// with rpc="ModelInfer" or "ModelMetadata", and the one status conversion). ModelInfer runs on gRPC's
// callback API, as GenerativeService's model RPCs do: no thread is parked per call; the model's
// scheduler finishes it. The health RPCs (ServerLive, ServerReady, ModelReady, ServerMetadata) are not
// counted: probes would drown the request counters.
//
// Draining: after StopAccepting(), ServerReady and ModelReady answer false and ModelMetadata / ModelInfer
// UNAVAILABLE at once (ServerLive stays true); WaitIdle() waits for the calls already accepted.
//
// Ownership: borrows the core and the metrics (nullptr = metrics off), which must outlive the service. Thread-safety: thread-safe.
#ifndef GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_
#define GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_

#include "absl/time/time.h"
#include "kserve/grpc_predict_v2.grpc.pb.h"
#include "server/core/generative_core.h"
#include "server/core/server_metrics.h"
#include "server/grpc/arena_message_allocator.h"
#include "server/grpc/call_admission.h"
#include "server/kserve/kserve_adapter.h"

namespace genailab {

using KServeServiceBase =
    inference::GRPCInferenceService::WithCallbackMethod_ModelInfer<inference::GRPCInferenceService::Service>;

class KServeService final : public KServeServiceBase {
 public:
  KServeService(const GenerativeCore* core, ServerMetrics* metrics);

  // Always live while the process serves gRPC.
  grpc::Status ServerLive(grpc::ServerContext* context, const inference::ServerLiveRequest* request,
                          inference::ServerLiveResponse* response) override;
  grpc::Status ServerReady(grpc::ServerContext* context, const inference::ServerReadyRequest* request,
                           inference::ServerReadyResponse* response) override;
  grpc::Status ModelReady(grpc::ServerContext* context, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override;
  grpc::Status ServerMetadata(grpc::ServerContext* context, const inference::ServerMetadataRequest* request,
                              inference::ServerMetadataResponse* response) override;
  grpc::Status ModelMetadata(grpc::ServerContext* context, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

  // Every later call is refused (see above). Idempotent.
  void StopAccepting() { admission_.StopAccepting(); }
  // Waits until no accepted call is running, or `deadline`. True when idle.
  bool WaitIdle(absl::Time deadline) { return admission_.WaitIdle(deadline); }

 private:
  const KServeAdapter adapter_;
  ServerMetrics* const metrics_;
  CallAdmission admission_;
  // ModelInfer's request and response on one arena per call (gRPC needs it for the server's lifetime).
  ArenaMessageAllocator<inference::ModelInferRequest, inference::ModelInferResponse> infer_allocator_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_
