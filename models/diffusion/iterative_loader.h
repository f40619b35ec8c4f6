// Loading diffusion / flow-matching checkpoints (torch-free header): what LoadCheckpoint calls for
// model_type "diffusion" and "flow_matching".
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"

namespace genailab {

// Loads a whole checkpoint folder onto a device (LoadCheckpoint, passed in by models/checkpoint so that
// this library does not depend on it).
using CheckpointFolderLoader = std::function<absl::StatusOr<std::unique_ptr<GenerativeModel>>(
    const std::string& directory, const std::string& device)>;

// Builds the DenoiserNetwork the manifest describes, loads `weights_path` (already checked against the
// manifest's sha256 by the caller) onto `device` and wraps it in a DiffusionModel or FlowModel. A
// "vae_latent" model also loads its VAE from <weights folder>/vae (kLatentVaeFolder) with `load_folder`.
// INVALID_ARGUMENT for a malformed manifest or a VAE that does not fit; UNAVAILABLE for an unavailable
// device; INTERNAL if torch fails; the VAE folder's errors prefixed with "vae: " (NOT_FOUND if missing).
absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadIterativeModel(const ModelManifest& manifest,
                                                                    const std::string& weights_path,
                                                                    const std::string& device,
                                                                    const CheckpointFolderLoader& load_folder);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_LOADER_H_
