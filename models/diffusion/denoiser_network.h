// Models-internal (includes torch): DenoiserNetwork, the time- and condition-dependent network shared by the
// diffusion models (where it predicts the noise or the score) and the flow-matching models (where it
// predicts the velocity), plus the PCA projection the models work in.
//
// Inputs per row: the state x_t (data_dim, in PCA coordinates), the time t in [0, 1], one code per covariate
// (code == that covariate's cardinality is the learned "null" token classifier-free guidance and
// unconditional sampling use), and optionally a context vector (a control cell in PCA coordinates, for
// scPPDM-style perturbation prediction) with a 0/1 mask saying whether it is present.
// Architectures: "mlp" (the conditioning vector, a sinusoidal time embedding + covariate embeddings +
// masked context, is concatenated to the input of every hidden layer) and "attention" (tokens = groups of
// consecutive coordinates, each with its slice of the context, plus one conditioning token, through a small
// transformer encoder; each group token is read out back to its coordinates).
// Every row is computed independently of the other rows of its batch (no batch statistics), which the
// batched sampling sessions rely on. Thread-compatible like any torch module; inference is thread-safe.
#ifndef GENAILAB_MODELS_DIFFUSION_DENOISER_NETWORK_H_
#define GENAILAB_MODELS_DIFFUSION_DENOISER_NETWORK_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/model_manifest.h"

namespace genailab {

struct DenoiserNetworkOptions {
  int64_t genes = 0;     // width of the input space: genes, or the VAE latent_dim for "vae_latent"
  int64_t data_dim = 0;  // PCA components
  std::string architecture = "mlp";  // "mlp" | "attention"
  std::vector<int64_t> hidden_dims = {256, 256};  // mlp
  int64_t time_embedding_dim = 64;
  std::vector<int64_t> covariate_cardinalities;
  int64_t covariate_embedding_dim = 8;
  bool context = false;  // accepts a context (control cell) vector of data_dim
  int64_t attention_tokens = 8;
  int64_t attention_dim = 64;
  int64_t attention_heads = 4;
  int64_t attention_layers = 2;
};

// Reads the options from the manifest (gene_names, covariates, hidden_dims, covariate_embedding_dim,
// latent_dim = PCA components, hyperparameters "network", "time_embedding_dim", "context",
// "attention_*"). INVALID_ARGUMENT naming the field.
absl::StatusOr<DenoiserNetworkOptions> DenoiserNetworkOptionsFromManifest(const ModelManifest& manifest);

class DenoiserNetworkImpl : public torch::nn::Cloneable<DenoiserNetworkImpl> {
 public:
  explicit DenoiserNetworkImpl(const DenoiserNetworkOptions& options);
  // Builds (or rebuilds, for clone()) every submodule, parameter and buffer from the options.
  void reset() override;

  // x: B x data_dim; t: B; covariates: B x K int64 (undefined when K = 0); context: B x data_dim and
  // context_mask: B x 1 (both undefined when the network takes no context). Returns B x data_dim.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& covariates,
                        const torch::Tensor& context, const torch::Tensor& context_mask);

  // Expression (B x genes) -> PCA coordinates (B x data_dim): (x - mean) V^T / scale.
  torch::Tensor Project(const torch::Tensor& expression) const;
  // PCA coordinates -> expression: y scale V + mean.
  torch::Tensor Reconstruct(const torch::Tensor& coordinates) const;
  // Sets the PCA basis: mean (genes), components (data_dim x genes, orthonormal rows), scale (> 0).
  void SetProjection(const torch::Tensor& mean, const torch::Tensor& components, double scale);

  const DenoiserNetworkOptions& options() const { return options_; }

 private:
  torch::Tensor Conditioning(const torch::Tensor& t, const torch::Tensor& covariates, const torch::Tensor& context,
                             const torch::Tensor& context_mask);
  torch::Tensor ForwardMlp(const torch::Tensor& x, const torch::Tensor& conditioning);
  torch::Tensor ForwardAttention(const torch::Tensor& x, const torch::Tensor& conditioning,
                                 const torch::Tensor& context, const torch::Tensor& context_mask);

  DenoiserNetworkOptions options_;
  int64_t group_size_ = 0;  // attention: coordinates per token
  torch::nn::Linear time_projection_{nullptr};
  torch::nn::ModuleList covariate_embeddings_{nullptr};
  torch::nn::ModuleList layers_{nullptr};     // mlp hidden layers
  torch::nn::Linear output_{nullptr};         // mlp output / attention per-token read-out
  torch::nn::Linear token_input_{nullptr};    // attention
  torch::nn::Linear condition_token_{nullptr};
  torch::Tensor position_embedding_;
  torch::nn::ModuleList encoder_layers_{nullptr};
  torch::Tensor pca_mean_;
  torch::Tensor pca_components_;
  torch::Tensor pca_scale_;
};
TORCH_MODULE(DenoiserNetwork);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_DENOISER_NETWORK_H_
