#include "models/checkpoint.h"

#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "models/diffusion/iterative_loader.h"
#include "models/diffusion/iterative_options.h"
#include "models/vae_model.h"
#include "models/vae_module.h"

namespace genailab {
namespace {

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream contents;
  contents << stream.rdbuf();
  if (stream.bad()) return absl::InternalError(absl::StrCat("error reading ", path));
  return contents.str();
}

// A plain file name: the weights must live inside the checkpoint folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) { return Sha256::OfFile(path); }

absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadCheckpoint(const std::string& directory,
                                                                 const std::string& device) {
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory ", directory, " not found"));
  }
  const std::filesystem::path folder(directory);
  GENAILAB_ASSIGN_OR_RETURN(std::string json, ReadTextFile((folder / "manifest.json").string()));
  GENAILAB_ASSIGN_OR_RETURN(ModelManifest manifest, ModelManifest::FromJson(json));
  if (!IsPlainFileName(manifest.weights_file)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: weights_file must be a file name inside the checkpoint, got \"",
                     manifest.weights_file, "\""));
  }
  if (manifest.weights_sha256.empty()) {
    return absl::InvalidArgumentError("manifest: weights_sha256 is empty");
  }
  // Diffusion / flow-matching checkpoints are built by their own loader after the same integrity check.
  const bool iterative = IsIterativeModelType(manifest.model_type);
  VaeModuleOptions options;
  torch::Device torch_device(torch::kCPU);
  if (!iterative) {
    GENAILAB_ASSIGN_OR_RETURN(options, VaeModuleOptionsFromManifest(manifest));
    GENAILAB_ASSIGN_OR_RETURN(torch_device, ResolveDevice(device));
  }

  const std::string weights_path = (folder / manifest.weights_file).string();
  GENAILAB_ASSIGN_OR_RETURN(std::string sha256, Sha256OfFile(weights_path));
  if (sha256 != absl::AsciiStrToLower(manifest.weights_sha256)) {
    return absl::DataLossError(absl::StrCat("weights ", weights_path, " have sha256 ", sha256,
                                            " but the manifest's weights_sha256 is ", manifest.weights_sha256));
  }
  // A "vae_latent" model loads the VAE checkpoint folder inside it through this same function.
  if (iterative) return LoadIterativeModel(manifest, weights_path, device, &LoadCheckpoint);
  try {
    VaeModule module(options);
    torch::load(module, weights_path);
    module->to(torch_device);
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<VaeModel> model,
                              VaeModel::Create(std::move(manifest), std::move(module), torch_device));
    return std::unique_ptr<GenerativeModel>(std::move(model));
  } catch (const std::exception& exception) {
    return absl::InternalError(absl::StrCat("loading weights ", weights_path, ": torch failed: ", exception.what()));
  }
}

}  // namespace genailab
