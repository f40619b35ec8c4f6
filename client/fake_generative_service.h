// FakeGenerativeService: a test double of genailab.v1.GenerativeService that records every request and
// answers from what it received (echoes), so client tests can check the wire format end to end.
// FakeServer runs one on 127.0.0.1 on a free port.
//
// Responses:
// - ListModels: the models in models(); GetModel: the one named, NOT_FOUND "model '<name>' not found".
// - Encode: latent_mean = the received cells (decoded, so dense and CSR compare alike), latent_variance
//   = ones of the same shape.
// - Decode: expression = the latent, genes named "g0".."g{k-1}".
// - Generate: group g's cells are all value g, genes "gene_a", "gene_b", "gene_c" (no names when the
//   request sets omit_column_names; "pbmc"'s ModelInfo has those genes), covariates per group.
// - GenerateStream: the same cells, in messages of chunk_cells cells (2 when the request says 0).
// - PredictPerturbation: cells = the received cells + 1, with the received gene names.
// - Interpolate / TraverseLatent: steps points; point i has latent (i, 0), expression 10 * i (one gene
//   "g0") and position i / (steps - 1) (Interpolate) or i (TraverseLatent).
// Every RPC returns set_error()'s status instead, when one is set.
//
// Thread-safe: recorded requests and the injected error are guarded by a mutex.
#ifndef GENAILAB_CLIENT_FAKE_GENERATIVE_SERVICE_H_
#define GENAILAB_CLIENT_FAKE_GENERATIVE_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace genailab {

class FakeGenerativeService final : public v1::GenerativeService::Service {
 public:
  FakeGenerativeService();

  // Makes every later RPC fail with `status` (OK restores normal answers).
  void set_error(const grpc::Status& status);
  int call_count() const;
  v1::EncodeRequest last_encode() const;
  v1::DecodeRequest last_decode() const;
  v1::GenerateRequest last_generate() const;
  v1::GenerateStreamRequest last_generate_stream() const;
  v1::PredictPerturbationRequest last_predict() const;
  v1::InterpolateRequest last_interpolate() const;
  v1::TraverseLatentRequest last_traverse() const;

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
  grpc::Status GenerateStream(grpc::ServerContext* context, const v1::GenerateStreamRequest* request,
                              grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status PredictPerturbation(grpc::ServerContext* context,
                                   const v1::PredictPerturbationRequest* request,
                                   v1::PredictPerturbationResponse* response) override;
  grpc::Status Interpolate(grpc::ServerContext* context, const v1::InterpolateRequest* request,
                           v1::InterpolateResponse* response) override;
  grpc::Status TraverseLatent(grpc::ServerContext* context, const v1::TraverseLatentRequest* request,
                              v1::TraverseLatentResponse* response) override;

  // The models ListModels returns: "pbmc" (cvae, covariate cell_type) and "plain" (vae).
  static std::vector<v1::ModelInfo> Models();

 private:
  // Counts the call and returns the injected error (OK if none).
  grpc::Status BeginCall();

  mutable absl::Mutex mutex_;
  grpc::Status error_ ABSL_GUARDED_BY(mutex_);
  int call_count_ ABSL_GUARDED_BY(mutex_) = 0;
  v1::EncodeRequest last_encode_ ABSL_GUARDED_BY(mutex_);
  v1::DecodeRequest last_decode_ ABSL_GUARDED_BY(mutex_);
  v1::GenerateRequest last_generate_ ABSL_GUARDED_BY(mutex_);
  v1::GenerateStreamRequest last_generate_stream_ ABSL_GUARDED_BY(mutex_);
  v1::PredictPerturbationRequest last_predict_ ABSL_GUARDED_BY(mutex_);
  v1::InterpolateRequest last_interpolate_ ABSL_GUARDED_BY(mutex_);
  v1::TraverseLatentRequest last_traverse_ ABSL_GUARDED_BY(mutex_);
};

// Owns a FakeGenerativeService and the grpc::Server serving it on 127.0.0.1:<free port>.
class FakeServer {
 public:
  // Starts the server; aborts the test binary if it cannot listen.
  FakeServer();
  ~FakeServer();

  FakeGenerativeService& service() { return service_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  FakeGenerativeService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace genailab

#endif  // GENAILAB_CLIENT_FAKE_GENERATIVE_SERVICE_H_
