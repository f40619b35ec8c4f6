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
#include "server/grpc/arena_message_allocator.h"
#include "server/grpc/call_admission.h"

namespace genailab {

// Encode, Decode, Generate and PredictPerturbation use gRPC's callback API: the handler hands the request
// to the core and returns; the model's scheduler finishes the call when the result is there, so no
// thread is parked per call. GenerateStream too (GenerateStreamCall): each message is written from the
// thread that made its cells. The other RPCs are synchronous.
using GenerativeServiceBase = v1::GenerativeService::WithCallbackMethod_Encode<
    v1::GenerativeService::WithCallbackMethod_Decode<v1::GenerativeService::WithCallbackMethod_Generate<
        v1::GenerativeService::WithCallbackMethod_PredictPerturbation<
            v1::GenerativeService::WithCallbackMethod_GenerateStream<v1::GenerativeService::Service>>>>>;

class GenerativeService final : public GenerativeServiceBase {
 public:
  // `explorer` (borrowed; nullptr = Interpolate and TraverseLatent answer UNIMPLEMENTED) serves the
  // latent-exploration RPCs.
  GenerativeService(const GenerativeCore* core, ServerMetrics* metrics, const LatentExplorer* explorer = nullptr);

  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                        v1::GetModelResponse* response) override;
  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* context, const v1::EncodeRequest* request,
                                   v1::EncodeResponse* response) override;
  grpc::ServerUnaryReactor* Decode(grpc::CallbackServerContext* context, const v1::DecodeRequest* request,
                                   v1::DecodeResponse* response) override;
  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context, const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerUnaryReactor* PredictPerturbation(grpc::CallbackServerContext* context,
                                                const v1::PredictPerturbationRequest* request,
                                                v1::PredictPerturbationResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* GenerateStream(grpc::CallbackServerContext* context,
                                                                 const v1::GenerateStreamRequest* request) override;
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
  // The callback-API form of Handle: `(core_->*method)(request, call, response, done)`, where `done`
  // records the request and finishes the call.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* HandleAsync(
      const char* rpc, grpc::CallbackServerContext* context, const Request* request, Response* response,
      void (GenerativeCore::*method)(const Request&, const CallContext&, Response*, StatusCallback) const,
      int64_t (*cells_of)(const Response&));
  // Handle for the LatentExplorer's RPCs (no CallContext: they run on the calling thread).
  template <typename Request, typename Response>
  grpc::Status Explore(const char* rpc, grpc::ServerContext* context, const Request& request, Response* response,
                       absl::StatusOr<Response> (LatentExplorer::*method)(const Request&) const);
  // Logs, records metrics and converts `status` (adding the retry hint to `context`).
  grpc::Status Finish(const char* rpc, const std::string& model, grpc::ServerContextBase* context,
                      const absl::Status& status, absl::Time start, int64_t cells);

  const GenerativeCore* const core_;
  ServerMetrics* const metrics_;
  const LatentExplorer* const explorer_;

  CallAdmission admission_;
  // Arenas for the callback RPCs' messages (gRPC needs the allocators for the server's lifetime).
  ArenaMessageAllocator<v1::EncodeRequest, v1::EncodeResponse> encode_allocator_;
  ArenaMessageAllocator<v1::DecodeRequest, v1::DecodeResponse> decode_allocator_;
  ArenaMessageAllocator<v1::GenerateRequest, v1::GenerateResponse> generate_allocator_;
  ArenaMessageAllocator<v1::PredictPerturbationRequest, v1::PredictPerturbationResponse> perturbation_allocator_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_
