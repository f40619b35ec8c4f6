// Models-internal (includes torch): the VAE / conditional-VAE network, its likelihoods and its loss.
// Only models/*.cc include this header; everything outside models/ uses GenerativeModel.
//
// Architecture (parameter names in brackets are stable: Python reads them from weights.pt):
//   covariate embeddings   one Embedding per conditioned covariate    [covariate_embeddings.<k>.weight]
//   encoder                MLP over [x, embeddings]: per hidden dim
//                          Linear, LayerNorm, ReLU (, Dropout)        [encoder.<i>.weight/.bias]
//                          -> Linear heads for mean and log-variance  [encoder_mean.*, encoder_log_variance.*]
//   decoder                MLP over [z, embeddings], hidden dims reversed [decoder.<i>.*]
//                          -> Linear to n_genes                       [decoder_output.*]
//   gaussian:              decoder_output is the mean of log-normalized expression; a learned per-gene
//                          log-variance                               [gene_log_variance]
//   negative_binomial:     softmax(decoder_output) * library size is the NB mean; a learned per-gene
//                          log inverse-dispersion theta               [log_theta]
// Loss per cell = -log p(x | z) summed over genes + kl_weight * KL(q(z|x) || N(0, I)), averaged over cells.
//
// Thread-safety: a module in eval() mode may run forward passes (Encode/Decode*) from many threads at once;
// training mutates it and must run alone. Cloneable, so a copy can be moved to another device.
#ifndef GENAILAB_MODELS_VAE_MODULE_H_
#define GENAILAB_MODELS_VAE_MODULE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/model_manifest.h"

namespace genailab {

inline constexpr char kGaussianLikelihood[] = "gaussian";
inline constexpr char kNegativeBinomialLikelihood[] = "negative_binomial";

struct VaeModuleOptions {
  int64_t n_genes = 0;
  int64_t latent_dim = 10;
  // Encoder hidden widths, input side first; the decoder uses them reversed. May be empty.
  std::vector<int64_t> hidden_dims = {128};
  // Vocabulary size of each conditioned covariate (used only when `conditioned`).
  std::vector<int64_t> covariate_cardinalities;
  int64_t covariate_embedding_dim = 8;
  // kGaussianLikelihood or kNegativeBinomialLikelihood.
  std::string likelihood = kGaussianLikelihood;
  // Dropout after each hidden activation; 0 = none.
  double dropout = 0.0;
  // true for a "cvae": encoder and decoder see the covariate embeddings.
  bool conditioned = false;
};

// The module options a manifest describes. INVALID_ARGUMENT naming the manifest field that is missing or
// out of range (model_type, likelihood, gene_names, latent_dim, hidden_dims, dropout, covariates,
// covariate_embedding_dim).
absl::StatusOr<VaeModuleOptions> VaeModuleOptionsFromManifest(const ModelManifest& manifest);

// The range log-variances are clamped to (the encoder's, and the Gaussian likelihood's per gene).
inline constexpr double kMinLogVariance = -10.0;
inline constexpr double kMaxLogVariance = 10.0;

// q(z | x): mean and (clamped) log-variance, both cells x latent_dim.
struct VaePosterior {
  torch::Tensor mean;
  torch::Tensor log_variance;
};

// Scalars, each averaged over the cells of the batch.
struct VaeLossTerms {
  torch::Tensor loss;            // reconstruction + kl_weight * kl
  torch::Tensor reconstruction;  // negative log-likelihood, summed over genes
  torch::Tensor kl;
};

class VaeModuleImpl : public torch::nn::Cloneable<VaeModuleImpl> {
 public:
  explicit VaeModuleImpl(VaeModuleOptions options);

  // (Re)creates and registers every submodule and parameter from options(); called by the constructor
  // and by clone().
  void reset() override;

  const VaeModuleOptions& options() const { return options_; }

  // x: cells x n_genes (float); covariates: cells x n_covariates (int64) when conditioned, otherwise
  // ignored (may be undefined).
  VaePosterior Encode(const torch::Tensor& x, const torch::Tensor& covariates);
  // Gaussian: the expression mean; negative binomial: per-gene proportions (rows sum to 1).
  torch::Tensor DecodeNormalized(const torch::Tensor& z, const torch::Tensor& covariates);
  // The likelihood's mean. library_size (cells, float) scales NB proportions; ignored for Gaussian.
  torch::Tensor DecodeMean(const torch::Tensor& z, const torch::Tensor& covariates,
                           const torch::Tensor& library_size);
  // log p(target | mean) per cell (summed over genes) under this module's likelihood.
  torch::Tensor LogLikelihood(const torch::Tensor& target, const torch::Tensor& mean);
  // The training objective. target is x (Gaussian) or the raw counts (NB). sample_latent draws z with the
  // reparameterization trick from torch's default generator; false decodes the posterior mean.
  VaeLossTerms Loss(const torch::Tensor& x, const torch::Tensor& covariates, const torch::Tensor& target,
                    const torch::Tensor& library_size, double kl_weight, bool sample_latent);

  // log importance weights log w_k = log p(target | z_k) + log N(z_k; 0, I) - log q(z_k | x) of `samples`
  // draws z_k ~ q(z | x, covariates), from `generator` (torch's default generator when nullopt), decoded
  // in one batch of samples * cells rows: shape samples x cells. See ImportanceWeightedBound.
  torch::Tensor LogImportanceWeights(const torch::Tensor& x, const torch::Tensor& covariates,
                                     const torch::Tensor& target, const torch::Tensor& library_size,
                                     int64_t samples, c10::optional<at::Generator> generator);

  // Decoder output for z under a weighted mixture of covariate values: covariate_weights[k] is
  // cells x cardinality_k (float; each row is usually a convex combination) and the decoder sees
  // covariate_weights[k] @ embedding_k.weight in place of the embedding of one code. One-hot rows give
  // exactly DecodeMean. Ignored (may be empty) when the module is not conditioned.
  torch::Tensor DecodeMeanMixed(const torch::Tensor& z, const std::vector<torch::Tensor>& covariate_weights,
                                const torch::Tensor& library_size);

  // Per-gene inverse dispersion theta (negative binomial only): shape n_genes.
  torch::Tensor Theta() const;

  // The likelihood's mean from DecodeNormalized's output: NB proportions times library_size (per row);
  // Gaussian means unchanged.
  torch::Tensor ScaleToLibrary(const torch::Tensor& normalized, const torch::Tensor& library_size) const;

 private:
  // [input, embeddings of each covariate column] when conditioned, else input.
  torch::Tensor WithCovariates(const torch::Tensor& input, const torch::Tensor& covariates);
  // [input, mixed embeddings] when conditioned, else input.
  torch::Tensor WithMixedCovariates(const torch::Tensor& input, const std::vector<torch::Tensor>& weights);
  // DecodeNormalized from the decoder's input rows ([z, embeddings]).
  torch::Tensor DecodeNormalizedFromInput(const torch::Tensor& decoder_input);
  VaeModuleOptions options_;
  torch::nn::ModuleList covariate_embeddings_{nullptr};
  torch::nn::Sequential encoder_{nullptr};
  torch::nn::Linear encoder_mean_{nullptr};
  torch::nn::Linear encoder_log_variance_{nullptr};
  torch::nn::Sequential decoder_{nullptr};
  torch::nn::Linear decoder_output_{nullptr};
  torch::Tensor gene_log_variance_;  // Gaussian
  torch::Tensor log_theta_;          // negative binomial
};

TORCH_MODULE(VaeModule);

// log N(x; mean, exp(log_variance)) summed over the last dimension. log_variance broadcasts (per gene).
torch::Tensor GaussianLogLikelihood(const torch::Tensor& x, const torch::Tensor& mean,
                                    const torch::Tensor& log_variance);

// Exact negative-binomial log-likelihood (mean mu, inverse dispersion theta = exp(log_theta)), with lgamma,
// summed over the last dimension: lgamma(x+theta) - lgamma(theta) - lgamma(x+1)
//   + theta * log(theta / (theta + mu)) + x * log(mu / (theta + mu)).
torch::Tensor NegativeBinomialLogLikelihood(const torch::Tensor& x, const torch::Tensor& mu,
                                            const torch::Tensor& log_theta);

// The importance-weighted bound (Burda et al., 2016) per cell from log weights (samples x cells):
// log (1/K) sum_k w_k. With K = 1 it is that sample's ELBO; for K > 1 it is >= MonteCarloElbo of the same
// weights (Jensen), and it rises towards log p(x) as K grows.
torch::Tensor ImportanceWeightedBound(const torch::Tensor& log_weights);
// The Monte-Carlo ELBO per cell from the same log weights: (1/K) sum_k log w_k.
torch::Tensor MonteCarloElbo(const torch::Tensor& log_weights);

// KL(N(mean, exp(log_variance)) || N(0, I)) summed over the last dimension.
torch::Tensor KlToStandardNormal(const torch::Tensor& mean, const torch::Tensor& log_variance);

}  // namespace genailab

#endif  // GENAILAB_MODELS_VAE_MODULE_H_
