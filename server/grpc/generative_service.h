// GenerativeService: the gRPC face of GenerativeCore. Each RPC hands the core the call's deadline and
// cancellation (CallContext), converts the core's absl::Status with ToGrpcStatus, records
// genailab_requests_total / _duration / _cells_processed and logs failures (client errors at debug,
// server errors at info). RESOURCE_EXHAUSTED answers carry the core's retry hint as the trailing
// metadata "retry-after-ms" (milliseconds, decimal) besides "retry after N ms" in the message.
//
// Draining: StopAccepting() makes every later call answer UNAVAILABLE at once; WaitIdle() waits for the
// calls already accepted to finish. GenailabServer uses both for a graceful shutdown.
//
// Ownership: borrows the core and the metrics (nullptr = metrics off); both must outlive the service.
// Thread-safety: gRPC calls it from many threads; StopAccepting/WaitIdle are thread-safe.
#ifndef GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_
#define GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "server/core/generative_core.h"
#include "server/core/latent_exploration.h"
#include "server/core/server_metrics.h"
#include "server/grpc/call_admission.h"

namespace genailab {

class GenerativeService final : public v1::GenerativeService::Service {
 public:
  // `explorer` (borrowed; nullptr = Interpolate and TraverseLatent answer UNIMPLEMENTED) serves the
  // latent-exploration RPCs.
  GenerativeService(const GenerativeCore* core, ServerMetrics* metrics, const LatentExplorer* explorer = nullptr)
      : core_(core), metrics_(metrics), explorer_(explorer) {}

  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                        v1::GetModelResponse* response) override;
  grpc::Status Encode(grpc::ServerContext* context, const v1::EncodeRequest* request,
                      v1::EncodeResponse* response) override;
  grpc::Status Decode(grpc::ServerContext* context, const v1::DecodeRequest* request,
                      v1::DecodeResponse* response) override;
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        v1::GenerateResponse* response) override;
  grpc::Status PredictPerturbation(grpc::ServerContext* context, const v1::PredictPerturbationRequest* request,
                                   v1::PredictPerturbationResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const v1::GenerateStreamRequest* request,
                              grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                         v1::LoadModelResponse* response) override;
  grpc::Status UnloadModel(grpc::ServerContext* context, const v1::UnloadModelRequest* request,
                           v1::UnloadModelResponse* response) override;
  grpc::Status Interpolate(grpc::ServerContext* context, const v1::InterpolateRequest* request,
                           v1::InterpolateResponse* response) override;
  grpc::Status TraverseLatent(grpc::ServerContext* context, const v1::TraverseLatentRequest* request,
                              v1::TraverseLatentResponse* response) override;

  // Every later call answers UNAVAILABLE. Idempotent.
  void StopAccepting() { admission_.StopAccepting(); }
  // Waits until no accepted call is running, or `deadline`. True when idle.
  bool WaitIdle(absl::Time deadline) { return admission_.WaitIdle(deadline); }

 private:
  // Runs `(core_->*method)(request, call)`, moves the result into `response` and records the request.
  template <typename Request, typename Response>
  grpc::Status Handle(const char* rpc, const std::string& model, grpc::ServerContext* context, const Request& request,
                      Response* response,
                      absl::StatusOr<Response> (GenerativeCore::*method)(const Request&, const CallContext&) const,
                      int64_t (*cells_of)(const Response&));
  // Handle for the LatentExplorer's RPCs (no CallContext: they run on the calling thread).
  template <typename Request, typename Response>
  grpc::Status Explore(const char* rpc, grpc::ServerContext* context, const Request& request, Response* response,
                       absl::StatusOr<Response> (LatentExplorer::*method)(const Request&) const);
  // Logs, records metrics and converts `status` (adding the retry hint to `context`).
  grpc::Status Finish(const char* rpc, const std::string& model, grpc::ServerContext* context,
                      const absl::Status& status, absl::Time start, int64_t cells);

  const GenerativeCore* const core_;
  ServerMetrics* const metrics_;
  const LatentExplorer* const explorer_;

  CallAdmission admission_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_
