#include "models/diffusion/iterative_loader.h"

#include <exception>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "models/diffusion/denoiser_network.h"
#include "models/diffusion/diffusion_model.h"
#include "models/diffusion/iterative_factory.h"
#include "models/diffusion/iterative_options.h"
#include "models/diffusion/vae_latent_space.h"
#include "models/flow/flow_model.h"
#include "models/vae_model.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<IterativeModel>> CreateIterativeModel(ModelManifest manifest, DenoiserNetwork network,
                                                                     torch::Device device,
                                                                     std::shared_ptr<const GenerativeModel> vae) {
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions options,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  const bool latent = options.representation == kVaeLatentRepresentation;
  if (!latent && vae != nullptr) {
    return absl::InvalidArgumentError("vae: representation \"pca\" takes no VAE");
  }
  std::unique_ptr<VaeLatentSpace> latent_space;
  if (latent) {
    GENAILAB_ASSIGN_OR_RETURN(latent_space, VaeLatentSpace::Create(manifest, std::move(vae)));
  }
  std::unique_ptr<IterativeModel> model;
  if (manifest.model_type == kDiffusionModelType) {
    GENAILAB_ASSIGN_OR_RETURN(model, DiffusionModel::Create(std::move(manifest), std::move(network), device));
  } else {
    GENAILAB_ASSIGN_OR_RETURN(model, FlowModel::Create(std::move(manifest), std::move(network), device));
  }
  if (latent_space != nullptr) GENAILAB_RETURN_IF_ERROR(model->AttachLatentSpace(std::move(latent_space)));
  return model;
}

absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadIterativeModel(const ModelManifest& manifest,
                                                                    const std::string& weights_path,
                                                                    const std::string& device,
                                                                    const CheckpointFolderLoader& load_folder) {
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions model_options,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  GENAILAB_ASSIGN_OR_RETURN(DenoiserNetworkOptions options, DenoiserNetworkOptionsFromManifest(manifest));
  GENAILAB_ASSIGN_OR_RETURN(torch::Device torch_device, ResolveDevice(device));
  std::shared_ptr<const GenerativeModel> vae;
  if (model_options.representation == kVaeLatentRepresentation) {
    if (!load_folder) return absl::InternalError("vae: no checkpoint loader given for a vae_latent model");
    const std::string folder =
        (std::filesystem::path(weights_path).parent_path() / kLatentVaeFolder).string();
    absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = load_folder(folder, device);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(), absl::StrCat("vae: ", loaded.status().message()));
    }
    vae = std::move(*loaded);
  }
  try {
    DenoiserNetwork network(options);
    torch::load(network, weights_path);
    network->to(torch_device);
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<IterativeModel> model,
                              CreateIterativeModel(manifest, std::move(network), torch_device, std::move(vae)));
    return std::unique_ptr<GenerativeModel>(std::move(model));
  } catch (const std::exception& exception) {
    return absl::InternalError(
        absl::StrCat("loading weights ", weights_path, ": torch failed: ", exception.what()));
  }
}

}  // namespace genailab
