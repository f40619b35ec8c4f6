// GenerativeCore: the transport-free implementation of genailab.v1.GenerativeService. Each method takes
// a request message and returns the response or an absl::Status with the proto's error conventions:
// NOT_FOUND for an unknown model or version; INVALID_ARGUMENT, naming the offending field, for malformed
// or inconsistent input (shapes, NaN/Inf, genes, covariates, cell counts over max_cells_per_request);
// UNIMPLEMENTED when the model does not support the RPC; and whatever the model itself returns.
//
// Per request it resolves the model through the ModelManager (holding a shared_ptr for the request's
// duration), decodes matrices, matches genes to the model's order, applies the model's preprocessing to
// request cells, maps covariates to codes, calls the model and builds the response (expression named
// with the model's genes, latent columns named z0..z{d-1}).
//
// Ownership: does not own the manager, which must outlive the core. Thread-safe (stateless besides the
// thread-safe manager).
#ifndef GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_
#define GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "genailab/v1/generative_service.pb.h"
#include "server/core/model_manager.h"

namespace genailab {

class GenerativeCore {
 public:
  struct Options {
    // Most cells one request may carry or ask for (Encode/Decode/PredictPerturbation rows, Generate's
    // sum of n_cells).
    int64_t max_cells_per_request = 100000;
  };

  // INVALID_ARGUMENT for a null manager or max_cells_per_request <= 0.
  static absl::StatusOr<std::unique_ptr<GenerativeCore>> Create(ModelManager* manager,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<GenerativeCore>> Create(ModelManager* manager) {
    return Create(manager, Options());
  }

  absl::StatusOr<v1::ListModelsResponse> ListModels(const v1::ListModelsRequest& request) const;
  absl::StatusOr<v1::GetModelResponse> GetModel(const v1::GetModelRequest& request) const;
  absl::StatusOr<v1::EncodeResponse> Encode(const v1::EncodeRequest& request) const;
  absl::StatusOr<v1::DecodeResponse> Decode(const v1::DecodeRequest& request) const;
  absl::StatusOr<v1::GenerateResponse> Generate(const v1::GenerateRequest& request) const;
  absl::StatusOr<v1::PredictPerturbationResponse> PredictPerturbation(
      const v1::PredictPerturbationRequest& request) const;

  // Fills every ModelInfo field of a served model.
  static void FillModelInfo(const ServableModel& servable, v1::ModelInfo* info);

  const Options& options() const { return options_; }

 private:
  GenerativeCore(ModelManager* manager, Options options) : manager_(manager), options_(options) {}

  absl::StatusOr<std::shared_ptr<const ServableModel>> ResolveModel(const v1::ModelSpec& spec) const;
  // INVALID_ARGUMENT naming `field` unless 0 < cells <= max_cells_per_request.
  absl::Status CheckCellCount(int64_t cells, const std::string& field) const;

  ModelManager* const manager_;
  const Options options_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_
