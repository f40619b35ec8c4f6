#include "models/diffusion/denoiser_network.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "models/diffusion/iterative_options.h"

namespace genailab {
namespace {

// Times enter the sinusoidal embedding scaled to [0, 1000], the range DDPM's embedding was designed for.
constexpr double kTimeScale = 1000.0;

torch::Tensor SinusoidalEmbedding(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  torch::Tensor frequencies =
      torch::exp(-std::log(10000.0) * torch::arange(half, t.options()) / static_cast<double>(half));
  torch::Tensor angles = (t * kTimeScale).unsqueeze(1) * frequencies.unsqueeze(0);
  return torch::cat({torch::sin(angles), torch::cos(angles)}, 1);
}

}  // namespace

absl::StatusOr<DenoiserNetworkOptions> DenoiserNetworkOptionsFromManifest(const ModelManifest& manifest) {
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions model,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  DenoiserNetworkOptions options;
  if (manifest.gene_names.empty()) return absl::InvalidArgumentError("manifest: gene_names is empty");
  // "vae_latent": the network's input is the VAE latent (latent_dim wide), rotated but not reduced.
  options.genes = model.representation == kVaeLatentRepresentation ? manifest.latent_dim
                                                                    : static_cast<int64_t>(manifest.gene_names.size());
  options.data_dim = manifest.latent_dim;
  if (options.data_dim <= 0 || options.data_dim > options.genes) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: latent_dim (PCA components) must be in [1, ",
                                                   options.genes, "], got ", options.data_dim));
  }
  options.architecture = model.network;
  options.hidden_dims = manifest.hidden_dims;
  if (options.hidden_dims.empty()) return absl::InvalidArgumentError("manifest: hidden_dims is empty");
  for (int64_t width : options.hidden_dims) {
    if (width <= 0) return absl::InvalidArgumentError("manifest: hidden_dims must be positive");
  }
  options.time_embedding_dim = model.time_embedding_dim;
  for (const CovariateSpec& spec : manifest.covariates) {
    if (spec.values.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: covariate ", spec.name, " has no values"));
    }
    options.covariate_cardinalities.push_back(static_cast<int64_t>(spec.values.size()));
  }
  options.covariate_embedding_dim = manifest.covariate_embedding_dim > 0 ? manifest.covariate_embedding_dim : 8;
  options.context = !manifest.condition_key.empty() && manifest.CovariateIndex(manifest.condition_key) >= 0;
  options.attention_tokens = model.attention_tokens;
  options.attention_dim = model.attention_dim;
  options.attention_heads = model.attention_heads;
  options.attention_layers = model.attention_layers;
  return options;
}

DenoiserNetworkImpl::DenoiserNetworkImpl(const DenoiserNetworkOptions& options) : options_(options) { reset(); }

void DenoiserNetworkImpl::reset() {
  const int64_t d = options_.data_dim;
  const int64_t hidden0 = options_.hidden_dims.front();
  time_projection_ = register_module("time_projection", torch::nn::Linear(options_.time_embedding_dim, hidden0));
  covariate_embeddings_ = register_module("covariate_embeddings", torch::nn::ModuleList());
  for (int64_t cardinality : options_.covariate_cardinalities) {
    // One extra row: the null token.
    covariate_embeddings_->push_back(torch::nn::Embedding(cardinality + 1, options_.covariate_embedding_dim));
  }
  const int64_t conditioning_dim =
      hidden0 + options_.covariate_embedding_dim * static_cast<int64_t>(options_.covariate_cardinalities.size()) +
      (options_.context ? d + 1 : 0);
  if (options_.architecture == "attention") {
    group_size_ = (d + options_.attention_tokens - 1) / options_.attention_tokens;
    const int64_t width = options_.attention_dim;
    token_input_ = register_module("token_input",
                                   torch::nn::Linear((options_.context ? 2 * group_size_ + 1 : group_size_), width));
    condition_token_ = register_module("condition_token", torch::nn::Linear(conditioning_dim, width));
    position_embedding_ =
        register_parameter("position_embedding", torch::randn({options_.attention_tokens + 1, width}) * 0.02);
    encoder_layers_ = register_module("encoder_layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < options_.attention_layers; ++i) {
      encoder_layers_->push_back(torch::nn::TransformerEncoderLayer(
          torch::nn::TransformerEncoderLayerOptions(width, options_.attention_heads)
              .dim_feedforward(2 * width)
              .dropout(0.0)
              .activation(torch::kGELU)));
    }
    output_ = register_module("output", torch::nn::Linear(width, group_size_));
  } else {
    layers_ = register_module("layers", torch::nn::ModuleList());
    int64_t in = d;
    for (int64_t width : options_.hidden_dims) {
      layers_->push_back(torch::nn::Linear(in + conditioning_dim, width));
      in = width;
    }
    output_ = register_module("output", torch::nn::Linear(in, d));
  }
  pca_mean_ = register_buffer("pca_mean", torch::zeros({options_.genes}));
  pca_components_ = register_buffer("pca_components", torch::zeros({d, options_.genes}));
  pca_scale_ = register_buffer("pca_scale", torch::ones({1}));
}

void DenoiserNetworkImpl::SetProjection(const torch::Tensor& mean, const torch::Tensor& components, double scale) {
  torch::NoGradGuard no_grad;
  pca_mean_.copy_(mean);
  pca_components_.copy_(components);
  pca_scale_.fill_(scale);
}

torch::Tensor DenoiserNetworkImpl::Project(const torch::Tensor& expression) const {
  return torch::matmul(expression - pca_mean_, pca_components_.t()) / pca_scale_;
}

torch::Tensor DenoiserNetworkImpl::Reconstruct(const torch::Tensor& coordinates) const {
  return torch::matmul(coordinates * pca_scale_, pca_components_) + pca_mean_;
}

torch::Tensor DenoiserNetworkImpl::Conditioning(const torch::Tensor& t, const torch::Tensor& covariates,
                                                const torch::Tensor& context, const torch::Tensor& context_mask) {
  std::vector<torch::Tensor> parts;
  parts.push_back(torch::silu(time_projection_(SinusoidalEmbedding(t, options_.time_embedding_dim))));
  for (size_t k = 0; k < covariate_embeddings_->size(); ++k) {
    parts.push_back(covariate_embeddings_[k]->as<torch::nn::Embedding>()->forward(
        covariates.select(1, static_cast<int64_t>(k))));
  }
  if (options_.context) {
    parts.push_back(context * context_mask);
    parts.push_back(context_mask);
  }
  return torch::cat(parts, 1);
}

torch::Tensor DenoiserNetworkImpl::ForwardMlp(const torch::Tensor& x, const torch::Tensor& conditioning) {
  torch::Tensor h = x;
  for (size_t i = 0; i < layers_->size(); ++i) {
    torch::Tensor next = torch::silu(layers_[i]->as<torch::nn::Linear>()->forward(torch::cat({h, conditioning}, 1)));
    h = (i > 0 && next.sizes() == h.sizes()) ? h + next : next;
  }
  return output_(h);
}

torch::Tensor DenoiserNetworkImpl::ForwardAttention(const torch::Tensor& x, const torch::Tensor& conditioning,
                                                    const torch::Tensor& context,
                                                    const torch::Tensor& context_mask) {
  const int64_t batch = x.size(0);
  const int64_t d = options_.data_dim;
  const int64_t tokens = options_.attention_tokens;
  const int64_t padding = tokens * group_size_ - d;
  auto groups = [&](const torch::Tensor& v) {
    return torch::constant_pad_nd(v, {0, padding}).reshape({batch, tokens, group_size_});
  };
  torch::Tensor input = groups(x);
  if (options_.context) {
    input = torch::cat({input, groups(context * context_mask), context_mask.unsqueeze(1).expand({batch, tokens, 1})},
                       2);
  }
  torch::Tensor sequence = torch::cat({condition_token_(conditioning).unsqueeze(1), token_input_(input)}, 1);
  sequence = (sequence + position_embedding_.unsqueeze(0)).transpose(0, 1);  // (S, B, E)
  for (size_t i = 0; i < encoder_layers_->size(); ++i) {
    sequence = encoder_layers_[i]->as<torch::nn::TransformerEncoderLayer>()->forward(sequence);
  }
  torch::Tensor readout = output_(sequence.transpose(0, 1).slice(1, 1));  // B x tokens x group
  return readout.reshape({batch, tokens * group_size_}).slice(1, 0, d);
}

torch::Tensor DenoiserNetworkImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                           const torch::Tensor& covariates, const torch::Tensor& context,
                                           const torch::Tensor& context_mask) {
  const torch::Tensor conditioning = Conditioning(t, covariates, context, context_mask);
  if (options_.architecture == "attention") return ForwardAttention(x, conditioning, context, context_mask);
  return ForwardMlp(x, conditioning);
}

}  // namespace genailab
