// KServeService: the gRPC face of KServeAdapter, serving the Open Inference Protocol (KServe v2,
// inference.GRPCInferenceService) next to genailab.v1.GenerativeService on the same port, over the same
// core. Hands the core the call's deadline and cancellation and converts absl::Status with ToGrpcStatus.
//
// Draining: after StopAccepting(), ServerReady and ModelReady answer false and ModelMetadata / ModelInfer
// UNAVAILABLE at once (ServerLive stays true); WaitIdle() waits for the calls already accepted.
//
// Ownership: borrows the core, which must outlive the service. Thread-safety: thread-safe.
#ifndef GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_
#define GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_

#include "absl/time/time.h"
#include "kserve/grpc_predict_v2.grpc.pb.h"
#include "server/core/generative_core.h"
#include "server/grpc/call_admission.h"
#include "server/kserve/kserve_adapter.h"

namespace genailab {

class KServeService final : public inference::GRPCInferenceService::Service {
 public:
  explicit KServeService(const GenerativeCore* core) : adapter_(core) {}

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
  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override;

  // Every later call is refused (see above). Idempotent.
  void StopAccepting() { admission_.StopAccepting(); }
  // Waits until no accepted call is running, or `deadline`. True when idle.
  bool WaitIdle(absl::Time deadline) { return admission_.WaitIdle(deadline); }

 private:
  const KServeAdapter adapter_;
  CallAdmission admission_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_KSERVE_KSERVE_SERVICE_H_
