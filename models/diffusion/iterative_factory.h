// Models-internal (includes torch): the one place that turns a manifest + trained DenoiserNetwork into the
// model of its family (DiffusionModel or FlowModel). Used by training and by checkpoint loading.
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_FACTORY_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_FACTORY_H_

#include <memory>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/diffusion/denoiser_network.h"
#include "models/diffusion/iterative_model.h"

namespace genailab {

// `vae`: the VAE / cVAE whose latent space a "vae_latent" model samples in (required then, null for
// "pca"). INVALID_ARGUMENT for a model_type other than "diffusion" / "flow_matching", malformed options,
// a missing or superfluous vae, or one that does not fit (VaeLatentSpace::Create).
absl::StatusOr<std::unique_ptr<IterativeModel>> CreateIterativeModel(ModelManifest manifest, DenoiserNetwork network,
                                                                     torch::Device device,
                                                                     std::shared_ptr<const GenerativeModel> vae = nullptr);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_FACTORY_H_
