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

// INVALID_ARGUMENT for a model_type other than "diffusion" / "flow_matching" or malformed options.
absl::StatusOr<std::unique_ptr<IterativeModel>> CreateIterativeModel(ModelManifest manifest, DenoiserNetwork network,
                                                                     torch::Device device);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_FACTORY_H_
