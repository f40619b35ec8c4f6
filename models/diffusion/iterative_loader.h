// Loading diffusion / flow-matching checkpoints (torch-free header): what LoadCheckpoint calls for
// model_type "diffusion" and "flow_matching".
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"

namespace genailab {

// Builds the DenoiserNetwork the manifest describes, loads `weights_path` (already checked against the
// manifest's sha256 by the caller) onto `device` and wraps it in a DiffusionModel or FlowModel.
// INVALID_ARGUMENT for a malformed manifest; UNAVAILABLE for an unavailable device; INTERNAL if torch fails.
absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadIterativeModel(const ModelManifest& manifest,
                                                                    const std::string& weights_path,
                                                                    const std::string& device);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_
