// GenerativeService: the gRPC face of GenerativeCore. Each RPC converts the core's absl::Status with
// ToGrpcStatus, records genailab_requests_total / _duration / _cells_processed and logs failures
// (client errors at debug, server errors at info). No logic of its own.
//
// Ownership: borrows the core and the metrics (nullptr = metrics off); both must outlive the service.
// Thread-safety: stateless; gRPC may call it from many threads.
#ifndef GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_
#define GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_

#include <cstdint>
#include <string>

#include "genailab/v1/generative_service.grpc.pb.h"
#include "server/core/generative_core.h"
#include "server/core/server_metrics.h"

namespace genailab {

class GenerativeService final : public v1::GenerativeService::Service {
 public:
  GenerativeService(const GenerativeCore* core, ServerMetrics* metrics) : core_(core), metrics_(metrics) {}

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

 private:
  // Runs `(core_->*method)(request)`, moves the result into `response` and records the request.
  template <typename Request, typename Response>
  grpc::Status Handle(const char* rpc, const std::string& model, const Request& request, Response* response,
                      absl::StatusOr<Response> (GenerativeCore::*method)(const Request&) const,
                      int64_t (*cells_of)(const Response&));

  const GenerativeCore* const core_;
  ServerMetrics* const metrics_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_GENERATIVE_SERVICE_H_
