#include "server/kserve/kserve_service.h"

#include <utility>

#include "absl/time/time.h"
#include "common/grpc/status_conversion.h"

namespace genailab {
namespace {

// The call's deadline and cancellation, for the core.
CallContext CallContextOf(const grpc::ServerContext* context) {
  CallContext call;
  call.deadline = absl::FromChrono(context->deadline());
  call.is_cancelled = [context] { return context->IsCancelled(); };
  return call;
}

absl::Status ShuttingDown() { return absl::UnavailableError("the server is shutting down; retry elsewhere"); }

// Moves a successful result into `response`; the one conversion of its status.
template <typename Response>
grpc::Status Reply(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

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
  CallAdmission::Scope scope(&admission_);
  if (!scope.admitted()) return ToGrpcStatus(ShuttingDown());
  return Reply(adapter_.ModelMetadata(*request, CallContextOf(context)), response);
}

grpc::Status KServeService::ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) {
  CallAdmission::Scope scope(&admission_);
  if (!scope.admitted()) return ToGrpcStatus(ShuttingDown());
  return Reply(adapter_.ModelInfer(*request, CallContextOf(context)), response);
}

}  // namespace genailab
