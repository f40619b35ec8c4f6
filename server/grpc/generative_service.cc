#include "server/grpc/generative_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/grpc/status_conversion.h"
#include "spdlog/spdlog.h"

namespace genailab {
namespace {

bool IsClientError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

template <typename Response>
int64_t NoCells(const Response&) {
  return 0;
}
int64_t EncodedCells(const v1::EncodeResponse& r) { return r.latent_mean().rows(); }
int64_t DecodedCells(const v1::DecodeResponse& r) { return r.expression().rows(); }
int64_t GeneratedCells(const v1::GenerateResponse& r) { return r.cells().rows(); }
int64_t PerturbedCells(const v1::PredictPerturbationResponse& r) { return r.cells().rows(); }

}  // namespace

template <typename Request, typename Response>
grpc::Status GenerativeService::Handle(const char* rpc, const std::string& model, const Request& request,
                                       Response* response,
                                       absl::StatusOr<Response> (GenerativeCore::*method)(const Request&) const,
                                       int64_t (*cells_of)(const Response&)) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Response> result = (core_->*method)(request);
  const absl::StatusCode code = result.status().code();
  int64_t cells = 0;
  if (result.ok()) {
    cells = cells_of(*result);
    *response = std::move(result).value();
  } else if (IsClientError(code)) {
    spdlog::debug("{} model='{}' failed: {}", rpc, model, result.status().ToString());
  } else {
    spdlog::info("{} model='{}' failed: {}", rpc, model, result.status().ToString());
  }
  if (metrics_ != nullptr) {
    // Unknown names stay out of the labels so that clients cannot grow the label set.
    metrics_->RecordRequest(rpc, code == absl::StatusCode::kNotFound ? std::string() : model, code,
                            absl::Now() - start, cells);
  }
  return ToGrpcStatus(result.status());
}

grpc::Status GenerativeService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest* request,
                                           v1::ListModelsResponse* response) {
  return Handle("ListModels", "", *request, response, &GenerativeCore::ListModels, &NoCells<v1::ListModelsResponse>);
}

grpc::Status GenerativeService::GetModel(grpc::ServerContext*, const v1::GetModelRequest* request,
                                         v1::GetModelResponse* response) {
  return Handle("GetModel", request->model().name(), *request, response, &GenerativeCore::GetModel,
                &NoCells<v1::GetModelResponse>);
}

grpc::Status GenerativeService::Encode(grpc::ServerContext*, const v1::EncodeRequest* request,
                                       v1::EncodeResponse* response) {
  return Handle("Encode", request->model().name(), *request, response, &GenerativeCore::Encode, &EncodedCells);
}

grpc::Status GenerativeService::Decode(grpc::ServerContext*, const v1::DecodeRequest* request,
                                       v1::DecodeResponse* response) {
  return Handle("Decode", request->model().name(), *request, response, &GenerativeCore::Decode, &DecodedCells);
}

grpc::Status GenerativeService::Generate(grpc::ServerContext*, const v1::GenerateRequest* request,
                                         v1::GenerateResponse* response) {
  return Handle("Generate", request->model().name(), *request, response, &GenerativeCore::Generate,
                &GeneratedCells);
}

grpc::Status GenerativeService::PredictPerturbation(grpc::ServerContext*,
                                                    const v1::PredictPerturbationRequest* request,
                                                    v1::PredictPerturbationResponse* response) {
  return Handle("PredictPerturbation", request->model().name(), *request, response,
                &GenerativeCore::PredictPerturbation, &PerturbedCells);
}

}  // namespace genailab
