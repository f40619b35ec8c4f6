#include "models/diffusion/iterative_loader.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "models/diffusion/denoiser_network.h"
#include "models/diffusion/diffusion_model.h"
#include "models/diffusion/iterative_factory.h"
#include "models/flow/flow_model.h"
#include "models/vae_model.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<IterativeModel>> CreateIterativeModel(ModelManifest manifest, DenoiserNetwork network,
                                                                     torch::Device device) {
  if (manifest.model_type == kDiffusionModelType) {
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<DiffusionModel> model,
                              DiffusionModel::Create(std::move(manifest), std::move(network), device));
    return std::unique_ptr<IterativeModel>(std::move(model));
  }
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<FlowModel> model,
                            FlowModel::Create(std::move(manifest), std::move(network), device));
  return std::unique_ptr<IterativeModel>(std::move(model));
}

absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadIterativeModel(const ModelManifest& manifest,
                                                                    const std::string& weights_path,
                                                                    const std::string& device) {
  GENAILAB_ASSIGN_OR_RETURN(DenoiserNetworkOptions options, DenoiserNetworkOptionsFromManifest(manifest));
  GENAILAB_ASSIGN_OR_RETURN(torch::Device torch_device, ResolveDevice(device));
  try {
    DenoiserNetwork network(options);
    torch::load(network, weights_path);
    network->to(torch_device);
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<IterativeModel> model,
                              CreateIterativeModel(manifest, std::move(network), torch_device));
    return std::unique_ptr<GenerativeModel>(std::move(model));
  } catch (const std::exception& exception) {
    return absl::InternalError(
        absl::StrCat("loading weights ", weights_path, ": torch failed: ", exception.what()));
  }
}

}  // namespace genailab
