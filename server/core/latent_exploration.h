// LatentExplorer: the transport-free implementation of the Interpolate and TraverseLatent RPCs of
// genailab.v1.GenerativeService (see the proto for their meaning). It builds the path's latents (and,
// for a covariate path, the covariate blend weights) with models/interpolation.h and decodes them with
// GenerativeModel::Decode / DecodeMixed.
//
// Errors follow the service's conventions: NOT_FOUND for an unknown model or version; INVALID_ARGUMENT
// naming the field (steps, axis, latent shapes, unknown covariates or values, a covariate the model is
// not conditioned on, a missing path); UNIMPLEMENTED from models that do not decode mixed covariates;
// whatever the model returns otherwise.
//
// Paths are short (at most Options.max_steps points), so the decoding runs on the caller's thread
// rather than through the batcher. Ownership: does not own the manager, which must outlive it.
// Thread-safe (stateless besides the thread-safe manager and models).
#ifndef GENAILAB_SERVER_CORE_LATENT_EXPLORATION_H_
#define GENAILAB_SERVER_CORE_LATENT_EXPLORATION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "genailab/v1/generative_service.pb.h"
#include "server/core/model_manager.h"

namespace genailab {

class LatentExplorer {
 public:
  struct Options {
    // Most points one request may ask for.
    int max_steps = 1000;
  };

  // INVALID_ARGUMENT for a null manager or max_steps < 2.
  static absl::StatusOr<std::unique_ptr<LatentExplorer>> Create(ModelManager* manager, Options options);
  static absl::StatusOr<std::unique_ptr<LatentExplorer>> Create(ModelManager* manager) {
    return Create(manager, Options());
  }

  absl::StatusOr<v1::InterpolateResponse> Interpolate(const v1::InterpolateRequest& request) const;
  absl::StatusOr<v1::TraverseLatentResponse> TraverseLatent(const v1::TraverseLatentRequest& request) const;

 private:
  LatentExplorer(ModelManager* manager, Options options) : manager_(manager), options_(options) {}

  absl::StatusOr<std::shared_ptr<const ServableModel>> Resolve(const v1::ModelSpec& spec) const;
  // INVALID_ARGUMENT unless 2 <= steps <= max_steps.
  absl::Status CheckSteps(int steps) const;

  ModelManager* const manager_;
  const Options options_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_LATENT_EXPLORATION_H_
