#include "server/grpc/generative_service.h"

#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc/call_outcome.h"
#include "server/grpc/generate_stream_call.h"

namespace genailab {
namespace {

template <typename Response>
int64_t NoCells(const Response&) {
  return 0;
}
int64_t EncodedCells(const v1::EncodeResponse& r) { return r.latent_mean().rows(); }
int64_t DecodedCells(const v1::DecodeResponse& r) { return r.expression().rows(); }
int64_t GeneratedCells(const v1::GenerateResponse& r) { return r.cells().rows(); }
int64_t PerturbedCells(const v1::PredictPerturbationResponse& r) { return r.cells().rows(); }

// Lends a call's ServerContext to the schedulers for as long as the handler runs. Tasks may outlive the
// handler (a handler gives up at its deadline while its task is still queued): after Detach(), their
// is_cancelled() answers true, so they are dropped and never touch the finished call's context.
class CallGuard {
 public:
  explicit CallGuard(grpc::ServerContext* context) : state_(std::make_shared<State>()) {
    state_->context = context;
    call_ = CallContextFor(*context, [state = state_] {
      absl::MutexLock lock(&state->mu);
      return state->context == nullptr || state->context->IsCancelled();
    });
  }
  ~CallGuard() {
    absl::MutexLock lock(&state_->mu);
    state_->context = nullptr;
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  const CallContext& call() const { return call_; }

 private:
  struct State {
    absl::Mutex mu;
    grpc::ServerContext* context ABSL_GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<State> state_;
  CallContext call_;
};

}  // namespace

grpc::Status GenerativeService::Finish(const char* rpc, const std::string& model, grpc::ServerContextBase* context,
                                       const absl::Status& status, absl::Time start, int64_t cells) {
  return FinishCall(metrics_, rpc, model, context, status, start, cells);
}

template <typename Request, typename Response>
grpc::Status GenerativeService::Handle(
    const char* rpc, const std::string& model, grpc::ServerContext* context, const Request& request,
    Response* response, absl::StatusOr<Response> (GenerativeCore::*method)(const Request&, const CallContext&) const,
    int64_t (*cells_of)(const Response&)) {
  const absl::Time start = absl::Now();
  CallAdmission::Scope admitted(&admission_);
  if (!admitted.admitted()) return Finish(rpc, model, context, ShuttingDownError(), start, 0);
  absl::StatusOr<Response> result = absl::UnknownError("not run");
  {
    CallGuard guard(context);
    result = (core_->*method)(request, guard.call());
  }
  int64_t cells = 0;
  if (result.ok()) {
    cells = cells_of(*result);
    *response = std::move(result).value();
  }
  return Finish(rpc, model, context, result.status(), start, cells);
}

grpc::Status GenerativeService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                                           v1::ListModelsResponse* response) {
  return Handle("ListModels", "", context, *request, response, &GenerativeCore::ListModels,
                &NoCells<v1::ListModelsResponse>);
}

grpc::Status GenerativeService::GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                                         v1::GetModelResponse* response) {
  return Handle("GetModel", request->model().name(), context, *request, response, &GenerativeCore::GetModel,
                &NoCells<v1::GetModelResponse>);
}

GenerativeService::GenerativeService(const GenerativeCore* core, ServerMetrics* metrics,
                                     const LatentExplorer* explorer)
    : core_(core), metrics_(metrics), explorer_(explorer) {
  SetMessageAllocatorFor_Encode(&encode_allocator_);
  SetMessageAllocatorFor_Decode(&decode_allocator_);
  SetMessageAllocatorFor_Generate(&generate_allocator_);
  SetMessageAllocatorFor_PredictPerturbation(&perturbation_allocator_);
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* GenerativeService::HandleAsync(
    const char* rpc, grpc::CallbackServerContext* context, const Request* request, Response* response,
    void (GenerativeCore::*method)(const Request&, const CallContext&, Response*, StatusCallback) const,
    int64_t (*cells_of)(const Response&)) {
  // The request (and so the model name) lives until the reactor is done, which is after Finish.
  return RunUnaryCall(
      &admission_, metrics_, rpc, request->model().name(), context,
      [this, request, response, method](const CallContext& call, StatusCallback done) {
        (core_->*method)(*request, call, response, std::move(done));
      },
      [response, cells_of] { return cells_of(*response); });
}

grpc::ServerUnaryReactor* GenerativeService::Encode(grpc::CallbackServerContext* context,
                                                    const v1::EncodeRequest* request, v1::EncodeResponse* response) {
  return HandleAsync("Encode", context, request, response, &GenerativeCore::EncodeAsync, &EncodedCells);
}

grpc::ServerUnaryReactor* GenerativeService::Decode(grpc::CallbackServerContext* context,
                                                    const v1::DecodeRequest* request, v1::DecodeResponse* response) {
  return HandleAsync("Decode", context, request, response, &GenerativeCore::DecodeAsync, &DecodedCells);
}

grpc::ServerUnaryReactor* GenerativeService::Generate(grpc::CallbackServerContext* context,
                                                      const v1::GenerateRequest* request,
                                                      v1::GenerateResponse* response) {
  return HandleAsync("Generate", context, request, response, &GenerativeCore::GenerateAsync, &GeneratedCells);
}

grpc::ServerUnaryReactor* GenerativeService::PredictPerturbation(grpc::CallbackServerContext* context,
                                                                 const v1::PredictPerturbationRequest* request,
                                                                 v1::PredictPerturbationResponse* response) {
  return HandleAsync("PredictPerturbation", context, request, response, &GenerativeCore::PredictPerturbationAsync,
                     &PerturbedCells);
}

grpc::Status GenerativeService::LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                                          v1::LoadModelResponse* response) {
  return Handle("LoadModel", request->model().name(), context, *request, response, &GenerativeCore::LoadModel,
                &NoCells<v1::LoadModelResponse>);
}

grpc::Status GenerativeService::UnloadModel(grpc::ServerContext* context, const v1::UnloadModelRequest* request,
                                            v1::UnloadModelResponse* response) {
  return Handle("UnloadModel", request->model().name(), context, *request, response, &GenerativeCore::UnloadModel,
                &NoCells<v1::UnloadModelResponse>);
}

template <typename Request, typename Response>
grpc::Status GenerativeService::Explore(const char* rpc, grpc::ServerContext* context, const Request& request,
                                        Response* response,
                                        absl::StatusOr<Response> (LatentExplorer::*method)(const Request&) const) {
  const absl::Time start = absl::Now();
  const std::string& model = request.model().name();
  CallAdmission::Scope admitted(&admission_);
  if (!admitted.admitted()) return Finish(rpc, model, context, ShuttingDownError(), start, 0);
  absl::StatusOr<Response> result =
      explorer_ == nullptr ? absl::StatusOr<Response>(absl::UnimplementedError(absl::StrCat(rpc, " is not served")))
                           : (explorer_->*method)(request);
  int64_t cells = 0;
  if (result.ok()) {
    cells = result->expression().rows();
    *response = std::move(result).value();
  }
  return Finish(rpc, model, context, result.status(), start, cells);
}

grpc::Status GenerativeService::Interpolate(grpc::ServerContext* context, const v1::InterpolateRequest* request,
                                            v1::InterpolateResponse* response) {
  return Explore("Interpolate", context, *request, response, &LatentExplorer::Interpolate);
}

grpc::Status GenerativeService::TraverseLatent(grpc::ServerContext* context, const v1::TraverseLatentRequest* request,
                                               v1::TraverseLatentResponse* response) {
  return Explore("TraverseLatent", context, *request, response, &LatentExplorer::TraverseLatent);
}

grpc::ServerWriteReactor<v1::GenerateResponse>* GenerativeService::GenerateStream(
    grpc::CallbackServerContext* context, const v1::GenerateStreamRequest* request) {
  return GenerateStreamCall::Start(core_, &admission_, metrics_, context, request);
}

}  // namespace genailab
