#include "models/vae_module.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genailab {
namespace {

// Keeps exp(log_theta) finite and away from zero (kMinLogVariance / kMaxLogVariance, vae_module.h, do
// the same for exp(log-variance)).
constexpr double kMinLogTheta = -10.0;
constexpr double kMaxLogTheta = 12.0;
// Keeps log(mu) finite where the NB mean is zero.
constexpr double kEpsilon = 1e-8;

// Linear, LayerNorm, ReLU and (optionally) Dropout per hidden width.
torch::nn::Sequential MakeMlp(int64_t input_dim, const std::vector<int64_t>& widths, double dropout) {
  torch::nn::Sequential mlp;
  int64_t in = input_dim;
  for (int64_t width : widths) {
    mlp->push_back(torch::nn::Linear(in, width));
    mlp->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
    mlp->push_back(torch::nn::ReLU());
    if (dropout > 0) mlp->push_back(torch::nn::Dropout(dropout));
    in = width;
  }
  return mlp;
}

torch::Tensor RunMlp(torch::nn::Sequential& mlp, const torch::Tensor& input) {
  // An empty Sequential refuses forward(): no hidden layers means the identity.
  if (mlp->is_empty()) return input;
  return mlp->forward(input);
}

}  // namespace

absl::StatusOr<VaeModuleOptions> VaeModuleOptionsFromManifest(const ModelManifest& manifest) {
  VaeModuleOptions options;
  if (manifest.model_type != "vae" && manifest.model_type != "cvae") {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: model_type must be \"vae\" or \"cvae\", got \"", manifest.model_type, "\""));
  }
  if (manifest.likelihood != kGaussianLikelihood && manifest.likelihood != kNegativeBinomialLikelihood) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest: likelihood must be \"gaussian\" or \"negative_binomial\", got \"", manifest.likelihood, "\""));
  }
  if (manifest.gene_names.empty()) return absl::InvalidArgumentError("manifest: gene_names is empty");
  if (manifest.latent_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: latent_dim must be > 0, got ", manifest.latent_dim));
  }
  for (size_t i = 0; i < manifest.hidden_dims.size(); ++i) {
    if (manifest.hidden_dims[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: hidden_dims[", i, "] must be > 0, got ", manifest.hidden_dims[i]));
    }
  }
  if (!(manifest.dropout >= 0.0 && manifest.dropout < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: dropout must be in [0, 1), got ", manifest.dropout));
  }
  options.conditioned = manifest.model_type == "cvae";
  if (options.conditioned) {
    if (manifest.covariates.empty()) {
      return absl::InvalidArgumentError("manifest: covariates is empty but model_type is \"cvae\"");
    }
    if (manifest.covariate_embedding_dim <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: covariate_embedding_dim must be > 0 for a cvae, got ",
                                                     manifest.covariate_embedding_dim));
    }
    for (size_t i = 0; i < manifest.covariates.size(); ++i) {
      if (manifest.covariates[i].values.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("manifest: covariates[", i, "] (\"",
                                                       manifest.covariates[i].name, "\") has no values"));
      }
      options.covariate_cardinalities.push_back(static_cast<int64_t>(manifest.covariates[i].values.size()));
    }
  }
  options.n_genes = static_cast<int64_t>(manifest.gene_names.size());
  options.latent_dim = manifest.latent_dim;
  options.hidden_dims = manifest.hidden_dims;
  options.covariate_embedding_dim = manifest.covariate_embedding_dim;
  options.likelihood = manifest.likelihood;
  options.dropout = manifest.dropout;
  return options;
}

VaeModuleImpl::VaeModuleImpl(VaeModuleOptions options) : options_(std::move(options)) { reset(); }

void VaeModuleImpl::reset() {
  const int64_t covariate_width =
      options_.conditioned
          ? static_cast<int64_t>(options_.covariate_cardinalities.size()) * options_.covariate_embedding_dim
          : 0;
  if (options_.conditioned) {
    covariate_embeddings_ = register_module("covariate_embeddings", torch::nn::ModuleList());
    for (int64_t cardinality : options_.covariate_cardinalities) {
      covariate_embeddings_->push_back(torch::nn::Embedding(cardinality, options_.covariate_embedding_dim));
    }
  }

  encoder_ = register_module("encoder",
                             MakeMlp(options_.n_genes + covariate_width, options_.hidden_dims, options_.dropout));
  const int64_t encoder_width = options_.hidden_dims.empty() ? options_.n_genes + covariate_width
                                                             : options_.hidden_dims.back();
  encoder_mean_ = register_module("encoder_mean", torch::nn::Linear(encoder_width, options_.latent_dim));
  encoder_log_variance_ =
      register_module("encoder_log_variance", torch::nn::Linear(encoder_width, options_.latent_dim));

  const std::vector<int64_t> decoder_widths(options_.hidden_dims.rbegin(), options_.hidden_dims.rend());
  decoder_ = register_module("decoder",
                             MakeMlp(options_.latent_dim + covariate_width, decoder_widths, options_.dropout));
  const int64_t decoder_width =
      decoder_widths.empty() ? options_.latent_dim + covariate_width : decoder_widths.back();
  decoder_output_ = register_module("decoder_output", torch::nn::Linear(decoder_width, options_.n_genes));

  if (options_.likelihood == kNegativeBinomialLikelihood) {
    log_theta_ = register_parameter("log_theta", torch::zeros({options_.n_genes}));
  } else {
    gene_log_variance_ = register_parameter("gene_log_variance", torch::zeros({options_.n_genes}));
  }
}

torch::Tensor VaeModuleImpl::WithCovariates(const torch::Tensor& input, const torch::Tensor& covariates) {
  if (!options_.conditioned) return input;
  std::vector<torch::Tensor> parts = {input};
  for (size_t k = 0; k < covariate_embeddings_->size(); ++k) {
    auto* embedding = covariate_embeddings_[k]->as<torch::nn::Embedding>();
    parts.push_back(embedding->forward(covariates.select(1, static_cast<int64_t>(k))));
  }
  return torch::cat(parts, 1);
}

VaePosterior VaeModuleImpl::Encode(const torch::Tensor& x, const torch::Tensor& covariates) {
  torch::Tensor hidden = RunMlp(encoder_, WithCovariates(x, covariates));
  return VaePosterior{encoder_mean_->forward(hidden),
                      encoder_log_variance_->forward(hidden).clamp(kMinLogVariance, kMaxLogVariance)};
}

torch::Tensor VaeModuleImpl::WithMixedCovariates(const torch::Tensor& input,
                                                 const std::vector<torch::Tensor>& weights) {
  if (!options_.conditioned) return input;
  std::vector<torch::Tensor> parts = {input};
  for (size_t k = 0; k < covariate_embeddings_->size(); ++k) {
    auto* embedding = covariate_embeddings_[k]->as<torch::nn::Embedding>();
    parts.push_back(torch::matmul(weights.at(k).to(input.dtype()), embedding->weight));
  }
  return torch::cat(parts, 1);
}

torch::Tensor VaeModuleImpl::DecodeNormalized(const torch::Tensor& z, const torch::Tensor& covariates) {
  return DecodeNormalizedFromInput(WithCovariates(z, covariates));
}

torch::Tensor VaeModuleImpl::DecodeNormalizedFromInput(const torch::Tensor& decoder_input) {
  torch::Tensor output = decoder_output_->forward(RunMlp(decoder_, decoder_input));
  if (options_.likelihood == kNegativeBinomialLikelihood) return torch::softmax(output, 1);
  return output;
}

torch::Tensor VaeModuleImpl::DecodeMeanMixed(const torch::Tensor& z, const std::vector<torch::Tensor>& covariate_weights,
                                             const torch::Tensor& library_size) {
  return ScaleToLibrary(DecodeNormalizedFromInput(WithMixedCovariates(z, covariate_weights)), library_size);
}

torch::Tensor VaeModuleImpl::DecodeMean(const torch::Tensor& z, const torch::Tensor& covariates,
                                        const torch::Tensor& library_size) {
  return ScaleToLibrary(DecodeNormalized(z, covariates), library_size);
}

torch::Tensor VaeModuleImpl::ScaleToLibrary(const torch::Tensor& normalized, const torch::Tensor& library_size) const {
  if (options_.likelihood != kNegativeBinomialLikelihood) return normalized;
  return normalized * library_size.reshape({-1, 1});
}

torch::Tensor VaeModuleImpl::LogLikelihood(const torch::Tensor& target, const torch::Tensor& mean) {
  if (options_.likelihood == kNegativeBinomialLikelihood) {
    return NegativeBinomialLogLikelihood(target, mean, log_theta_.clamp(kMinLogTheta, kMaxLogTheta));
  }
  return GaussianLogLikelihood(target, mean, gene_log_variance_.clamp(kMinLogVariance, kMaxLogVariance));
}

VaeLossTerms VaeModuleImpl::Loss(const torch::Tensor& x, const torch::Tensor& covariates,
                                 const torch::Tensor& target, const torch::Tensor& library_size,
                                 double kl_weight, bool sample_latent) {
  VaePosterior posterior = Encode(x, covariates);
  torch::Tensor z = posterior.mean;
  if (sample_latent) {
    torch::Tensor standard_deviation = torch::exp(0.5 * posterior.log_variance);
    z = posterior.mean + standard_deviation * torch::randn_like(standard_deviation);
  }
  torch::Tensor mean = DecodeMean(z, covariates, library_size);
  VaeLossTerms terms;
  terms.reconstruction = -LogLikelihood(target, mean).mean();
  terms.kl = KlToStandardNormal(posterior.mean, posterior.log_variance).mean();
  terms.loss = terms.reconstruction + kl_weight * terms.kl;
  return terms;
}

torch::Tensor VaeModuleImpl::LogImportanceWeights(const torch::Tensor& x, const torch::Tensor& covariates,
                                                  const torch::Tensor& target, const torch::Tensor& library_size,
                                                  int64_t samples, c10::optional<at::Generator> generator) {
  VaePosterior posterior = Encode(x, covariates);
  const int64_t cells = x.size(0);
  torch::Tensor noise = torch::randn({samples, cells, options_.latent_dim}, generator,
                                     torch::TensorOptions().dtype(posterior.mean.dtype()))
                            .to(posterior.mean.device());
  torch::Tensor z = posterior.mean.unsqueeze(0) + torch::exp(0.5 * posterior.log_variance).unsqueeze(0) * noise;
  torch::Tensor flat_z = z.reshape({samples * cells, options_.latent_dim});
  auto repeat_rows = [samples](const torch::Tensor& tensor) {
    if (!tensor.defined()) return tensor;
    return tensor.dim() == 1 ? tensor.repeat({samples}) : tensor.repeat({samples, 1});
  };
  torch::Tensor mean = DecodeMean(flat_z, repeat_rows(covariates), repeat_rows(library_size));
  torch::Tensor log_likelihood = LogLikelihood(repeat_rows(target), mean).reshape({samples, cells});
  torch::Tensor log_prior = GaussianLogLikelihood(z, torch::zeros_like(z), torch::zeros_like(z));
  torch::Tensor log_posterior =
      GaussianLogLikelihood(z, posterior.mean.unsqueeze(0), posterior.log_variance.unsqueeze(0));
  return log_likelihood + log_prior - log_posterior;
}

torch::Tensor ImportanceWeightedBound(const torch::Tensor& log_weights) {
  return torch::logsumexp(log_weights, 0) - std::log(static_cast<double>(log_weights.size(0)));
}

torch::Tensor MonteCarloElbo(const torch::Tensor& log_weights) { return log_weights.mean(0); }

torch::Tensor VaeModuleImpl::Theta() const {
  if (!log_theta_.defined()) return torch::Tensor();
  return torch::exp(log_theta_.clamp(kMinLogTheta, kMaxLogTheta));
}

torch::Tensor GaussianLogLikelihood(const torch::Tensor& x, const torch::Tensor& mean,
                                    const torch::Tensor& log_variance) {
  const double log_two_pi = std::log(2.0 * M_PI);
  torch::Tensor squared_error = (x - mean).pow(2);
  torch::Tensor per_gene = -0.5 * (log_two_pi + log_variance + squared_error * torch::exp(-log_variance));
  return per_gene.sum(-1);
}

torch::Tensor NegativeBinomialLogLikelihood(const torch::Tensor& x, const torch::Tensor& mu,
                                            const torch::Tensor& log_theta) {
  torch::Tensor theta = torch::exp(log_theta);
  torch::Tensor log_theta_mu = torch::log(theta + mu + kEpsilon);
  torch::Tensor per_gene = torch::lgamma(x + theta) - torch::lgamma(theta) - torch::lgamma(x + 1.0) +
                           theta * (log_theta - log_theta_mu) + x * (torch::log(mu + kEpsilon) - log_theta_mu);
  return per_gene.sum(-1);
}

torch::Tensor KlToStandardNormal(const torch::Tensor& mean, const torch::Tensor& log_variance) {
  return (-0.5 * (1.0 + log_variance - mean.pow(2) - torch::exp(log_variance))).sum(-1);
}

}  // namespace genailab
