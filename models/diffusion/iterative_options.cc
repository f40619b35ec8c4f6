#include "models/diffusion/iterative_options.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

using Hyperparameters = std::map<std::string, std::string>;

absl::Status Malformed(const std::string& key, const std::string& value, const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("hyperparameter ", key, "='", value, "' is malformed (expected ", expected, ")"));
}

absl::Status ReadString(const Hyperparameters& h, const std::string& key, std::string* out) {
  auto it = h.find(key);
  if (it != h.end()) *out = it->second;
  return absl::OkStatus();
}

absl::Status ReadInt(const Hyperparameters& h, const std::string& key, int64_t min, int64_t* out) {
  auto it = h.find(key);
  if (it == h.end()) return absl::OkStatus();
  if (!absl::SimpleAtoi(it->second, out) || *out < min) {
    return Malformed(key, it->second, absl::StrCat("an integer >= ", min));
  }
  return absl::OkStatus();
}

absl::Status ReadDouble(const Hyperparameters& h, const std::string& key, double min, double max, double* out) {
  auto it = h.find(key);
  if (it == h.end()) return absl::OkStatus();
  if (!absl::SimpleAtod(it->second, out) || !(*out >= min && *out <= max)) {
    return Malformed(key, it->second, absl::StrCat("a number in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status ReadBool(const Hyperparameters& h, const std::string& key, bool* out) {
  auto it = h.find(key);
  if (it == h.end()) return absl::OkStatus();
  if (!absl::SimpleAtob(it->second, out)) return Malformed(key, it->second, "true or false");
  return absl::OkStatus();
}

}  // namespace

bool IsIterativeModelType(const std::string& model_type) {
  return model_type == kDiffusionModelType || model_type == kFlowMatchingModelType;
}

absl::StatusOr<IterativeModelOptions> IterativeModelOptions::FromHyperparameters(
    const Hyperparameters& h, const std::string& model_type) {
  if (!IsIterativeModelType(model_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_type '", model_type, "' is not one of: diffusion, flow_matching"));
  }
  IterativeModelOptions o;
  int64_t steps = 0;
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "representation", &o.representation));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "vae_checkpoint", &o.vae_checkpoint));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "vae_covariates", &o.vae_covariates));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "pca_components", 1, &o.pca_components));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "network", &o.network));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "time_embedding_dim", 2, &o.time_embedding_dim));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "attention_tokens", 1, &o.attention_tokens));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "attention_dim", 1, &o.attention_dim));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "attention_heads", 1, &o.attention_heads));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "attention_layers", 1, &o.attention_layers));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "sde", &o.process.sde));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "noise_schedule", &o.process.schedule));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "beta_min", 0, 1e6, &o.process.beta_min));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "beta_max", 0, 1e6, &o.process.beta_max));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "sigma_min", 0, 1e6, &o.process.sigma_min));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "sigma_max", 0, 1e6, &o.process.sigma_max));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "prediction", &o.prediction));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "sampler", &o.sampler));
  GENAILAB_RETURN_IF_ERROR(ReadInt(h, "sampling_steps", 0, &steps));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "eta", 0, 1, &o.eta));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "guidance_scale", 0, 100, &o.guidance_scale));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "covariate_dropout", 0, 1, &o.covariate_dropout));
  GENAILAB_RETURN_IF_ERROR(ReadDouble(h, "context_dropout", 0, 1, &o.context_dropout));
  GENAILAB_RETURN_IF_ERROR(ReadString(h, "control_condition", &o.control_condition));
  GENAILAB_RETURN_IF_ERROR(ReadBool(h, "ot_pairing", &o.ot_pairing));
  if (o.representation != kPcaRepresentation && o.representation != kVaeLatentRepresentation) {
    return absl::InvalidArgumentError(
        absl::StrCat("representation '", o.representation, "' is not one of: pca, vae_latent"));
  }
  if (!o.vae_checkpoint.empty() && o.representation != kVaeLatentRepresentation) {
    return absl::InvalidArgumentError("vae_checkpoint: only representation vae_latent uses a VAE checkpoint");
  }
  if (o.vae_covariates.empty()) o.vae_covariates = "none";
  if (o.vae_covariates != "all" && o.representation != kVaeLatentRepresentation) {
    return absl::InvalidArgumentError("vae_covariates: only representation vae_latent trains a VAE");
  }
  if (o.vae_covariates != "all" && !o.vae_checkpoint.empty()) {
    return absl::InvalidArgumentError("vae_covariates: a VAE taken from vae_checkpoint keeps its own covariates");
  }
  if (o.network != "mlp" && o.network != "attention") {
    return absl::InvalidArgumentError(absl::StrCat("network '", o.network, "' is not one of: mlp, attention"));
  }
  if (o.prediction != "noise" && o.prediction != "score" && o.prediction != "denoiser") {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction '", o.prediction, "' is not one of: noise, score, denoiser"));
  }
  if (o.attention_dim % o.attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention_dim ", o.attention_dim,
                                                   " must be divisible by attention_heads ", o.attention_heads));
  }
  GENAILAB_RETURN_IF_ERROR(NoiseProcess::Create(o.process).status());
  const bool diffusion = model_type == kDiffusionModelType;
  if (o.sampler.empty()) o.sampler = diffusion ? "ddim" : "heun";
  o.sampling_steps = steps > 0 ? static_cast<int>(steps) : (diffusion ? 50 : 10);
  return o;
}

void IterativeModelOptions::WriteTo(Hyperparameters* h) const {
  (*h)["representation"] = representation;
  if (!vae_checkpoint.empty()) (*h)["vae_checkpoint"] = vae_checkpoint;
  (*h)["vae_covariates"] = vae_covariates;
  (*h)["pca_components"] = absl::StrCat(pca_components);
  (*h)["network"] = network;
  (*h)["time_embedding_dim"] = absl::StrCat(time_embedding_dim);
  (*h)["attention_tokens"] = absl::StrCat(attention_tokens);
  (*h)["attention_dim"] = absl::StrCat(attention_dim);
  (*h)["attention_heads"] = absl::StrCat(attention_heads);
  (*h)["attention_layers"] = absl::StrCat(attention_layers);
  (*h)["sde"] = process.sde;
  (*h)["noise_schedule"] = process.schedule;
  (*h)["beta_min"] = absl::StrCat(process.beta_min);
  (*h)["beta_max"] = absl::StrCat(process.beta_max);
  (*h)["sigma_min"] = absl::StrCat(process.sigma_min);
  (*h)["sigma_max"] = absl::StrCat(process.sigma_max);
  (*h)["prediction"] = prediction;
  (*h)["sampler"] = sampler;
  (*h)["sampling_steps"] = absl::StrCat(sampling_steps);
  (*h)["eta"] = absl::StrCat(eta);
  (*h)["guidance_scale"] = absl::StrCat(guidance_scale);
  (*h)["covariate_dropout"] = absl::StrCat(covariate_dropout);
  (*h)["context_dropout"] = absl::StrCat(context_dropout);
  (*h)["control_condition"] = control_condition;
  (*h)["ot_pairing"] = ot_pairing ? "true" : "false";
}

}  // namespace genailab
