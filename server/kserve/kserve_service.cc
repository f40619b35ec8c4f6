#include "server/kserve/kserve_service.h"

#include <utility>

#include "absl/time/time.h"
#include "common/grpc/status_conversion.h"
#include "server/grpc/call_outcome.h"

namespace genailab {
namespace {

// The call's deadline and cancellation, for the core (synchronous RPCs: the context outlives the call
// into the core, which queues nothing for them).
CallContext CallContextOf(const grpc::ServerContext* context) {
  return CallContextFor(*context, [context] { return context->IsCancelled(); });
}

// Rows of the first output (the cells a call encoded, decoded, generated or predicted).
int64_t OutputCells(const inference::ModelInferResponse& response) {
  return response.outputs_size() > 0 && response.outputs(0).shape_size() > 0 ? response.outputs(0).shape(0) : 0;
}

}  // namespace

KServeService::KServeService(const GenerativeCore* core, ServerMetrics* metrics) : adapter_(core), metrics_(metrics) {
  SetMessageAllocatorFor_ModelInfer(&infer_allocator_);
}

grpc::Status KServeService::ServerLive(grpc::ServerContext* /*context*/,
                                       const inference::ServerLiveRequest* /*request*/,
                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return grpc::Status::OK;
}

grpc::Status KServeService::ServerReady(grpc::ServerContext* context,
                                        const inference::ServerReadyRequest* /*request*/,
                                        inference::ServerReadyResponse* response) {
  CallAdmission::Scope scope(&admission_);
  response->set_ready(scope.admitted() && adapter_.ServerReady(CallContextOf(context)));
  return grpc::Status::OK;
}

grpc::Status KServeService::ModelReady(grpc::ServerContext* context, const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) {
  CallAdmission::Scope scope(&admission_);
  if (!scope.admitted()) {
    response->set_ready(false);
    return grpc::Status::OK;
  }
  absl::StatusOr<bool> ready = adapter_.ModelReady(request->name(), request->version(), CallContextOf(context));
  if (!ready.ok()) return ToGrpcStatus(ready.status());
  response->set_ready(*ready);
  return grpc::Status::OK;
}

grpc::Status KServeService::ServerMetadata(grpc::ServerContext* /*context*/,
                                           const inference::ServerMetadataRequest* /*request*/,
                                           inference::ServerMetadataResponse* response) {
  response->set_name("genailab");
  response->set_version("1");
  return grpc::Status::OK;
}

grpc::Status KServeService::ModelMetadata(grpc::ServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) {
  const absl::Time start = absl::Now();
  CallAdmission::Scope scope(&admission_);
  if (!scope.admitted()) {
    return FinishCall(metrics_, "ModelMetadata", request->name(), context, ShuttingDownError(), start, 0);
  }
  absl::StatusOr<inference::ModelMetadataResponse> result = adapter_.ModelMetadata(*request, CallContextOf(context));
  if (result.ok()) *response = std::move(result).value();
  return FinishCall(metrics_, "ModelMetadata", request->name(), context, result.status(), start, 0);
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(grpc::CallbackServerContext* context,
                                                    const inference::ModelInferRequest* request,
                                                    inference::ModelInferResponse* response) {
  // The request (and so the model name) lives until the reactor is done, which is after Finish.
  return RunUnaryCall(
      &admission_, metrics_, "ModelInfer", request->model_name(), context,
      [this, request, response](const CallContext& call, StatusCallback done) {
        adapter_.ModelInferAsync(*request, call, response, std::move(done));
      },
      [response] { return OutputCells(*response); });
}

}  // namespace genailab
